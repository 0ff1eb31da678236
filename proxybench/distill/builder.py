"""Building a KD benchmark: train every planned run not yet in the build directory's store (resumable).

See :mod:`proxybench.distill.kdbench` for the build directory's files. Runs train in this process, in shards
(several processes on one directory) or on ``dask.distributed`` workers (:mod:`.dask_build`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..io import write_text
from .build_runs import BuildJob, RunTrainer, check_teacher_for_distiller, commit
from .dask_build import build_dask, parse_scheduler
from .protocol import Protocol
from .runstore import RunStore, write_runs_csv
from .teacher_records import read_teacher_spec, teacher_record
from .trainer import TrainData, load_train_data


def _load_build_teacher(teacher: str | Path | None, build_dir: Path, num_classes: int, channels: int):
    """The build's teacher: a checkpoint path (default ``BUILD/teacher.pt``), any teacher spec
    (``checkpoint:PATH``, ``ensemble:checkpoint:A,checkpoint:B,...``) or ``@FILE`` holding one, in eval mode."""
    from .teachers import build_teacher, load_teacher

    text = read_teacher_spec(teacher) if teacher else str(build_dir / "teacher.pt")
    if Path(text).exists():
        return load_teacher(text, num_classes=num_classes, in_channels=channels).eval()
    if text.startswith(("checkpoint:", "ensemble:")):
        return build_teacher(text, num_classes=num_classes, in_channels=channels).eval()
    raise FileNotFoundError(f"teacher checkpoint {text} does not exist; train one with 'proxybench kd-bench teacher', "
                            "or pass --teacher PATH, a spec (checkpoint:PATH, ensemble:checkpoint:A,checkpoint:B) "
                            "or @FILE holding a spec")


def check_protocol(build_dir: Path, protocol: Protocol) -> None:
    path = build_dir / "protocol.json"
    if path.exists():
        old = Protocol.from_file(path)
        if old.training_key() != protocol.training_key():
            diff = {k: (v, protocol.to_dict()[k]) for k, v in old.to_dict().items()
                    if protocol.to_dict()[k] != v and k not in ("name", "notes")}
            raise ValueError(f"{build_dir} was built with a different protocol; differing fields "
                             f"(old, new): {diff}. Use another --out or the same protocol.")
    else:
        protocol.save(path)


def _record_teacher(build_dir: Path, teacher: str | Path | None) -> None:
    """Write ``BUILD/teacher.json`` from the teacher's checkpoint(s) when the build directory has none (``kd-bench
    teacher --out BUILD/teacher.pt`` writes a fuller one)."""
    path = build_dir / "teacher.json"
    if path.exists():
        return
    text = read_teacher_spec(teacher) if teacher else str(build_dir / "teacher.pt")
    if not teacher and not Path(text).exists():
        return
    write_text(path, json.dumps(teacher_record(text), indent=2) + "\n")


def build(build_dir: str | Path, protocol: Protocol, plan: list[dict], *, teacher_path: str | Path | None = None,
          data: TrainData | None = None, data_root: str | None = None, device: str | None = None,
          max_runs: int | None = None, time_budget: float | None = None, shard: tuple[int, int] = (0, 1),
          scheduler: Any = None, threads: int | None = None, max_attempts: int = 3,
          reuse_vanilla_from: Sequence[str | Path] = (), log: Callable[[str], None] = print) -> pd.DataFrame:
    """Run every planned run not yet in the store; returns the store's table. Resumable at any point.

    ``reuse_vanilla_from`` lists earlier build directories whose vanilla runs this build may copy instead of
    training them (:func:`proxybench.distill.reuse.reuse_vanilla`: only when the vanilla part of the protocols agree).

    ``shard=(i, n)`` takes only the runs at plan positions ``p % n == i``, so ``n`` processes (e.g. one per
    core, one thread each) can build the same directory together; the store is shared (SQLite WAL).

    ``scheduler`` distributes the runs on ``dask.distributed``: a scheduler address (``tcp://HOST:PORT``),
    ``local:N`` (a LocalCluster of N single-threaded worker processes, closed at the end) or a
    ``distributed.Client``. Workers train (each prepares the data, the teacher and its cached logits once, see
    :func:`train_run`) and send back rows; this process commits each finished run to the store at once, as the
    single-process build does. A run lost with its worker is rescheduled by dask, and resubmitted up to
    ``max_attempts`` times when dask gives it up; a killed client resumes like any build. Workers load the data
    themselves (``data_root`` must be valid on them) unless ``data`` is given (then it is sent to every worker).
    ``threads`` sets torch's threads per worker (default 1 for ``local:N``)."""
    i_shard, n_shard = shard
    if not (isinstance(n_shard, int) and n_shard >= 1 and 0 <= i_shard < n_shard):
        raise ValueError(f"shard must be (i, n) with 0 <= i < n, got {shard!r}")
    if not (isinstance(max_attempts, int) and max_attempts >= 1):
        raise ValueError(f"max_attempts must be a positive integer, got {max_attempts!r}")
    if scheduler is not None:
        parse_scheduler(scheduler)  # a bad address form fails before anything is written

    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    check_protocol(build_dir, protocol)
    plan_path = build_dir / "plan.json"
    if plan_path.exists():
        old_plan = json.loads(plan_path.read_text())
        known = {(r["arch_index"], r["seed"], r["mode"]) for r in old_plan}
        plan = old_plan + [r for r in plan if (r["arch_index"], r["seed"], r["mode"]) not in known]
    write_text(plan_path, json.dumps(plan, indent=0))
    store = RunStore(build_dir / "runs.sqlite")
    try:
        if reuse_vanilla_from:
            from .reuse import reuse_vanilla

            for source in reuse_vanilla_from:
                log(f"reused {reuse_vanilla(source, store, protocol, plan)} vanilla runs from {source}")
        done = store.done()
        todo = [r for p, r in enumerate(plan)
                if p % n_shard == i_shard and (r["arch_index"], r["seed"], r["mode"]) not in done]
        log(f"{len(done)} runs finished, {len(todo)} to do")
        if not todo:
            write_runs_csv(store, build_dir / "runs.csv")
            return store.frame()
        if max_runs is not None:
            todo = todo[:max(0, max_runs)]
        needs_teacher = any(r["mode"] == "kd" for r in todo)
        if data is None and scheduler is None:
            data = load_train_data(protocol, root=data_root)
        teacher = None
        if needs_teacher:
            num_classes = data.num_classes if data is not None else _dataset_classes(protocol)
            teacher = _load_build_teacher(teacher_path, build_dir, num_classes, protocol.channels)
            check_teacher_for_distiller(protocol, teacher)
            _record_teacher(build_dir, teacher_path)
        if scheduler is not None:
            build_dask(build_dir, store, protocol, todo, n_done=len(done), n_plan=len(plan), scheduler=scheduler,
                        teacher=teacher, data=data, data_root=data_root, device=device, threads=threads,
                        time_budget=time_budget, max_attempts=max_attempts, log=log)
            return store.frame()

        trainer = RunTrainer(BuildJob(key="local", protocol=protocol.to_dict(), teacher=teacher, data=data,
                                       device=device))
        started = time.perf_counter()
        for run in todo:
            if time_budget is not None and time.perf_counter() - started > time_budget:
                log(f"time budget of {time_budget:.0f} s reached")
                break
            if (run["arch_index"], run["seed"], run["mode"]) in store.done():
                continue  # finished meanwhile by another process
            row = commit(store, build_dir, trainer.run(run))
            log(f"[{len(store.done())}/{len(plan)}] {run['mode']:7s} seed {run['seed']} arch {run['arch_index']:5d}: "
                f"{row['test_acc']:.2f}% ({row['seconds']:.0f} s, {row['images_per_s']:.0f} img/s)")
        return store.frame()
    finally:
        store.close()


def _dataset_classes(protocol: Protocol) -> int:
    from ..benchmarks.datasets import NUM_CLASSES, canonical_name

    try:
        return NUM_CLASSES[canonical_name(protocol.dataset)]
    except (KeyError, ValueError):
        return 10
