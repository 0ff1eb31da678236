"""Building a KD benchmark: vanilla and distilled accuracies of NB201 students under one protocol.

A build directory holds:

``protocol.json``  the protocol (a resumed build must use the same one: its training key is checked)
``plan.json``      the runs to do, in order: (arch_index, arch, seed, mode)
``teacher.pt``     the trained teacher (spec, weights, accuracy) whose logits drive the KD runs (default; any
                   checkpoint, ``ensemble:`` spec or ``@FILE`` holding one can be given instead); an ensemble
                   written by :func:`train_teacher_ensemble` is one checkpoint too, next to its members
                   ``teacher.m0.pt``, ... and its spec file ``teacher.ensemble.txt``
``teacher.json``   the teacher's record: spec, test accuracy (for an ensemble also each member's, the ensemble's and
                   the oracle accuracy); written by ``kd-bench teacher``, or by the build from the checkpoints
``runs.sqlite``    the run store: one row per finished (arch_index, seed, mode), each committed in its own
                   transaction, so a crash or kill loses at most the run in progress
``runs.csv``       the same rows as text, rewritten atomically after every run (always a valid table)

Resuming skips every finished run. Runs train in this process, or on ``dask.distributed`` workers
(``build(..., scheduler=...)``), where only the process that owns the store writes it. :func:`summarize` gives the
status figures and :func:`export_ground_truth` turns a (partial) build into a ground-truth table with metrics
``vanilla_acc`` and ``kd_acc``.
"""

from __future__ import annotations

import json
import math
import os
import platform
import socket
import sys
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from .._version import __version__
from .protocol import MODES, Protocol
from .runstore import RUN_COLUMNS, RunStore, write_runs_csv  # noqa: F401  (public here too)
from .trainer import TrainData, auto_device, build_student, load_train_data, teacher_logits, train


# ---------------------------------------------------------------------------------------------------------
# plan
# ---------------------------------------------------------------------------------------------------------
def make_plan(archs: Sequence[int], seeds: int = 1, noise_archs: int = 0, noise_seeds: int = 3,
              modes: Sequence[str] = MODES) -> list[dict]:
    """Runs in build order: every arch at seeds ``0..seeds-1`` (all modes), in the given order; the first
    ``noise_archs`` archs also get seeds up to ``noise_seeds - 1``, and those extra runs are spread evenly
    through the build (noise arch ``j``'s extra seeds come right after arch ``(j + 1) * len(archs) //
    noise_archs``), so a partial build already has both many archs and a growing noise-floor subset."""
    from ..benchmarks import nb201

    for m in modes:
        if m not in MODES:
            raise ValueError(f"unknown mode {m!r}; valid: {', '.join(MODES)}")
    if seeds < 1 or noise_seeds < 1 or noise_archs < 0:
        raise ValueError(f"seeds ({seeds}) and noise_seeds ({noise_seeds}) must be >= 1, noise_archs >= 0")
    if noise_archs > len(archs):
        raise ValueError(f"noise_archs ({noise_archs}) exceeds the number of archs ({len(archs)})")

    def runs(i: int, seed_range) -> list[dict]:
        arch = nb201.index_to_arch(int(i))
        return [{"arch_index": int(i), "arch": arch, "seed": s, "mode": m} for s in seed_range for m in modes]

    after: dict[int, list[int]] = {}
    for j in range(noise_archs):
        after.setdefault((j + 1) * len(archs) // noise_archs - 1, []).append(j)
    plan = []
    for k, i in enumerate(archs):
        plan += runs(i, range(seeds))
        for j in after.get(k, []):
            plan += runs(archs[j], range(seeds, max(seeds, noise_seeds)))
    return plan


def read_arch_file(path: str | Path) -> list[int]:
    """Indices or arch strings, one per line ('#' comments allowed)."""
    from ..benchmarks import nb201

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"architecture file {p} does not exist")
    out = []
    for n, line in enumerate(p.read_text().splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            out.append(nb201.arch_to_index(nb201.parse_arch(text)))
        except ValueError as exc:
            raise ValueError(f"{p}:{n}: {exc}") from None
    if not out:
        raise ValueError(f"architecture file {p} lists no architectures")
    return out


def _atomic_write_text(path: Path, text: str) -> None:
    from ..io import write_text

    write_text(path, text)


# ---------------------------------------------------------------------------------------------------------
# teacher
# ---------------------------------------------------------------------------------------------------------
def train_teacher(spec: str, protocol: Protocol, data: TrainData, *, epochs: float, lr: float | None = None,
                  augmentation: str = "crop_flip", seed: int = 0, device: str | None = None,
                  out: str | Path | None = None, progress: Callable[[int, int], None] | None = None):
    """Train a teacher on ``data`` (the full training set), save it (with its test accuracy) to ``out``."""
    from .teachers import build_teacher, save_teacher

    model = build_teacher(spec, num_classes=data.num_classes, in_channels=protocol.channels, seed=seed)
    result = train(model, data, protocol, mode="vanilla", seed=seed, epochs=epochs, lr=lr,
                   augmentation=augmentation, device=device, progress=progress)
    info = {"spec": spec, "test_acc": result.test_acc, "epochs": epochs, "lr": lr or protocol.lr,
            "augmentation": augmentation, "seed": seed, "train": asdict(result),
            "dataset": data.dataset, "resolution": protocol.resolution, "channels": protocol.channels,
            "train_images": int(len(data.y_train))}
    if out is not None:
        info["checkpoint"] = Path(out).name
        save_teacher(model.cpu(), spec, out, extra=info)
    return model, info


def member_checkpoint_path(out: str | Path, i: int) -> Path:
    """Where ensemble member ``i`` of a teacher written to ``out`` is saved: ``teacher.pt`` -> ``teacher.m0.pt``."""
    out = Path(out)
    return out.with_name(f"{out.stem}.m{i}{out.suffix or '.pt'}")


def ensemble_spec_path(out: str | Path) -> Path:
    """The ensemble spec file written next to ``out``: ``teacher.pt`` -> ``teacher.ensemble.txt``."""
    out = Path(out)
    return out.with_name(f"{out.stem}.ensemble.txt")


def ensemble_accuracies(member_logits: torch.Tensor, labels: torch.Tensor) -> dict:
    """From ``(M, N, K)`` member logits: each member's accuracy, the ensemble's (arg-max of the mean logits, as
    :class:`~proxybench.distill.teachers.TeacherEnsemble` predicts) and the oracle accuracy (some member right),
    all in %."""
    labels = labels.to(member_logits.device)
    right = member_logits.argmax(2) == labels.unsqueeze(0)  # (M, N)
    return {"member_test_acc": [round(100.0 * float(r.float().mean()), 4) for r in right],
            "ensemble_test_acc": round(100.0 * float((member_logits.mean(0).argmax(1) == labels).float().mean()), 4),
            "oracle_test_acc": round(100.0 * float(right.any(0).float().mean()), 4)}


def train_teacher_ensemble(specs: Sequence[str], protocol: Protocol, data: TrainData, *, epochs: float,
                           lr: float | None = None, augmentation: str = "crop_flip", seed: int = 0,
                           device: str | None = None, out: str | Path,
                           progress: Callable[[int, int], None] | None = None,
                           log: Callable[[str], None] | None = None):
    """Train one teacher per spec (member ``i`` with seed ``seed + i``) and write, next to ``out``:

    * each member's checkpoint (:func:`member_checkpoint_path`: ``OUT.m0.pt``, ``OUT.m1.pt``, ...);
    * the ensemble as one checkpoint at ``out`` (``build_teacher("checkpoint:OUT")`` is the ensemble);
    * the ensemble spec file (:func:`ensemble_spec_path`: ``OUT.ensemble.txt``) holding
      ``ensemble:checkpoint:OUT.m0.pt,checkpoint:OUT.m1.pt,...``, with paths relative to the file's folder (read it
      with :func:`read_teacher_spec`, or ``kd-bench build --teacher @OUT.ensemble.txt``).

    Returns ``(ensemble, info)``; ``info`` holds every member's record, the ensemble's test accuracy (mean logits)
    as ``test_acc``/``ensemble_test_acc`` and its oracle accuracy (some member right) as ``oracle_test_acc``."""
    from .teachers import TeacherEnsemble, save_teacher

    specs = list(specs)
    if len(specs) < 2:
        raise ValueError(f"an ensemble teacher needs at least 2 members, got {len(specs)}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    members, records = [], []
    for i, spec in enumerate(specs):
        path = member_checkpoint_path(out, i)
        model, info = train_teacher(spec, protocol, data, epochs=epochs, lr=lr, augmentation=augmentation,
                                    seed=seed + i, device=device, out=path, progress=progress)
        if log is not None:
            log(f"member {i}: {spec} seed {seed + i}: {info['test_acc']:.2f}% -> {path}")
        members.append(model.cpu().eval())
        records.append(info)
    ensemble = TeacherEnsemble(members).eval()
    arch_spec = "ensemble:" + ",".join(m.teacher_spec for m in members)
    dev = auto_device(device)
    ensemble.to(dev)
    logits = teacher_logits(ensemble, data.x_test.to(dev), protocol.eval_batch_size, members=True)
    accs = ensemble_accuracies(logits, data.y_test)
    ensemble.cpu()
    spec_file = ensemble_spec_path(out)
    member_spec = "ensemble:" + ",".join(f"checkpoint:{member_checkpoint_path(out, i).name}"
                                         for i in range(len(specs)))
    info = {"spec": arch_spec, "members": records, "test_acc": accs["ensemble_test_acc"], **accs,
            "checkpoint": out.name, "ensemble_spec_file": spec_file.name, "ensemble_spec": member_spec,
            "epochs": epochs, "lr": lr or protocol.lr, "augmentation": augmentation, "seed": seed,
            "dataset": data.dataset, "resolution": protocol.resolution, "channels": protocol.channels,
            "train_images": int(len(data.y_train))}
    save_teacher(ensemble, arch_spec, out, extra=info)
    _atomic_write_text(spec_file, "# proxybench ensemble teacher; checkpoint paths are relative to this file's "
                                  "folder\n" + member_spec + "\n")
    return ensemble, info


def read_teacher_spec(text: str | Path) -> str:
    """A teacher given on the command line: ``@FILE`` reads the spec from FILE (the first line that is neither
    empty nor a ``#`` comment; e.g. the ``OUT.ensemble.txt`` that ``kd-bench teacher --members K`` writes), with
    relative ``checkpoint:`` paths taken relative to FILE's folder; anything else is returned unchanged."""
    text = str(text).strip()
    if not text.startswith("@"):
        return text
    path = Path(text[1:])
    if not path.is_file():
        raise FileNotFoundError(f"teacher spec file {str(path)!r} (from {text!r}) does not exist")
    lines = [ln.split("#", 1)[0].strip() for ln in path.read_text().splitlines()]
    lines = [ln for ln in lines if ln]
    if not lines:
        raise ValueError(f"teacher spec file {str(path)} holds no spec")
    if len(lines) > 1:
        raise ValueError(f"teacher spec file {str(path)} holds {len(lines)} specs; put one spec on one line "
                         "(an ensemble: ensemble:<spec>,<spec>,...)")
    return _rebase_checkpoints(lines[0], path.parent)


def _rebase_checkpoints(spec: str, folder: Path) -> str:
    from .teachers import split_ensemble

    if spec.startswith("ensemble:"):
        return "ensemble:" + ",".join(_rebase_checkpoints(m, folder) for m in split_ensemble(spec))
    if spec.startswith("checkpoint:"):
        path, at, arch = spec[len("checkpoint:"):].partition("@arch=")
        p = Path(path.strip())
        if not p.is_absolute():
            p = folder / p
        return f"checkpoint:{p}{at}{arch}"
    return spec


def _checkpoint_extra(path: str | Path) -> dict:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - a record is best effort; loading the teacher reports real errors
        return {}
    return dict(obj.get("extra") or {}) if isinstance(obj, dict) else {}


def teacher_record(text: str) -> dict:
    """What a build can say about its teacher: the spec it was given, and for checkpoints the architecture and
    test accuracy recorded in them (per member for an ensemble, with the ensemble's own accuracies when saved as
    one checkpoint by :func:`train_teacher_ensemble`)."""
    from .teachers import split_ensemble

    def one(spec: str) -> dict:
        rec: dict = {"teacher": spec}
        if spec.startswith("checkpoint:") or Path(spec).is_file():
            path = spec[len("checkpoint:"):].partition("@arch=")[0] if spec.startswith("checkpoint:") else spec
            extra = _checkpoint_extra(path)
            for key in ("spec", "test_acc", "ensemble_test_acc", "oracle_test_acc", "member_test_acc"):
                if key in extra:
                    rec[key] = extra[key]
            if "members" in extra:
                rec["members"] = [{k: m[k] for k in ("spec", "test_acc", "seed") if k in m} for m in extra["members"]]
        return rec

    if text.startswith("ensemble:"):
        members = [one(m) for m in split_ensemble(text)]
        return {"teacher": text, "members": members,
                "member_test_acc": [m.get("test_acc") for m in members]}
    return one(text)


# ---------------------------------------------------------------------------------------------------------
# build
# ---------------------------------------------------------------------------------------------------------
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


def _check_protocol(build_dir: Path, protocol: Protocol) -> None:
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


@dataclass
class BuildJob:
    """What a process that trains runs needs (picklable): the protocol, the teacher (loaded by the client), the data
    (or where to load it from) and the device. ``key`` names the worker-side state built from it."""

    key: str
    protocol: dict
    teacher: Any = None
    data: TrainData | None = None
    data_root: str | None = None
    device: str | None = None
    threads: int | None = None


def _check_teacher_for_distiller(protocol: Protocol, teacher):
    """The protocol's distiller, after checking that ``teacher`` suits it (an ensemble for ``oracle``)."""
    from .distillers import make_distiller
    from .teachers import ensemble_members

    distiller = make_distiller(protocol)
    if distiller.needs_ensemble and len(ensemble_members(teacher)) < 2:
        raise ValueError(f"distiller {protocol.distiller!r} needs an ensemble teacher (ensemble:<spec>,<spec>,...; "
                         "e.g. kd-bench teacher --members 3); got one network")
    return distiller


class _RunTrainer:
    """Trains runs of one :class:`BuildJob`: loads the data once, checks the teacher against it, and caches the
    teacher's logits on the training set when the protocol allows (no augmentation, logit distiller)."""

    def __init__(self, job: BuildJob):
        self.protocol = Protocol.from_dict(job.protocol)
        self.device = auto_device(job.device)
        self.data = job.data if job.data is not None else load_train_data(self.protocol, root=job.data_root)
        self.teacher = self.soft = None
        if job.teacher is not None:
            teacher = job.teacher.to(self.device).eval()
            with torch.no_grad():
                probe = teacher(self.data.x_train[:2].to(self.device).contiguous(memory_format=torch.channels_last))
            if probe.shape[1] != self.data.num_classes:
                raise ValueError(f"teacher {getattr(teacher, 'teacher_spec', '')} has {probe.shape[1]} outputs but "
                                 f"the data set has {self.data.num_classes} classes")
            distiller = _check_teacher_for_distiller(self.protocol, teacher)
            if self.protocol.augmentation == "none" and not distiller.needs_features:
                self.soft = teacher_logits(teacher, self.data.x_train.to(self.device), members=True).cpu()
            else:
                self.teacher = teacher  # run on every (augmented) batch

    def run(self, run: dict) -> dict:
        """Train one planned run; the store row without ``finished_at``."""
        p = self.protocol
        model = build_student(run["arch"], p, self.data.num_classes, run["seed"])
        kd = run["mode"] == "kd"
        if kd and self.soft is None and self.teacher is None:
            raise ValueError("a kd run needs a teacher")
        res = train(model, self.data, p, mode=run["mode"], seed=run["seed"], soft_targets=self.soft if kd else None,
                    teacher=self.teacher if kd else None, device=self.device)
        row = {k: run[k] for k in ("arch_index", "arch", "seed", "mode")}
        row.update({k: getattr(res, k) for k in ("test_acc", "best_test_acc", "train_loss", "train_acc", "seconds",
                                                 "images_per_s", "steps", "images")})
        row.update(diverged=int(res.diverged), device=str(self.device), threads=torch.get_num_threads(),
                   torch=torch.__version__, protocol_key=p.training_key())
        return row


_WORKER_TRAINERS: OrderedDict[str, _RunTrainer] = OrderedDict()
_WORKER_LOCK = threading.Lock()


def train_run(job: BuildJob, run: dict) -> dict:
    """Train one run in a worker process (dask); the data, teacher and cached teacher logits of ``job`` are
    prepared once per worker and reused by every later run of the same job."""
    if job.threads:
        torch.set_num_threads(int(job.threads))
    with _WORKER_LOCK:
        trainer = _WORKER_TRAINERS.get(job.key)
        if trainer is None:
            trainer = _WORKER_TRAINERS[job.key] = _RunTrainer(job)
            while len(_WORKER_TRAINERS) > 2:
                _WORKER_TRAINERS.popitem(last=False)
    row = trainer.run(run)
    row["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    return row


def _commit(store: RunStore, build_dir: Path, row: dict) -> dict:
    row = dict(row, finished_at=time.strftime("%Y-%m-%dT%H:%M:%S"))
    store.add(row)
    write_runs_csv(store, build_dir / "runs.csv")
    return row


def _record_teacher(build_dir: Path, teacher: str | Path | None) -> None:
    """Write ``BUILD/teacher.json`` from the teacher's checkpoint(s) when the build directory has none (``kd-bench
    teacher --out BUILD/teacher.pt`` writes a fuller one)."""
    path = build_dir / "teacher.json"
    if path.exists():
        return
    text = read_teacher_spec(teacher) if teacher else str(build_dir / "teacher.pt")
    if not teacher and not Path(text).exists():
        return
    _atomic_write_text(path, json.dumps(teacher_record(text), indent=2) + "\n")


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
    _check_protocol(build_dir, protocol)
    plan_path = build_dir / "plan.json"
    if plan_path.exists():
        old_plan = json.loads(plan_path.read_text())
        known = {(r["arch_index"], r["seed"], r["mode"]) for r in old_plan}
        plan = old_plan + [r for r in plan if (r["arch_index"], r["seed"], r["mode"]) not in known]
    _atomic_write_text(plan_path, json.dumps(plan, indent=0))
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
            _check_teacher_for_distiller(protocol, teacher)
            _record_teacher(build_dir, teacher_path)
        if scheduler is not None:
            _build_dask(build_dir, store, protocol, todo, n_done=len(done), n_plan=len(plan), scheduler=scheduler,
                        teacher=teacher, data=data, data_root=data_root, device=device, threads=threads,
                        time_budget=time_budget, max_attempts=max_attempts, log=log)
            return store.frame()

        trainer = _RunTrainer(BuildJob(key="local", protocol=protocol.to_dict(), teacher=teacher, data=data,
                                       device=device))
        started = time.perf_counter()
        for n, run in enumerate(todo):
            if time_budget is not None and time.perf_counter() - started > time_budget:
                log(f"time budget of {time_budget:.0f} s reached")
                break
            if (run["arch_index"], run["seed"], run["mode"]) in store.done():
                continue  # finished meanwhile by another process
            row = _commit(store, build_dir, trainer.run(run))
            log(f"[{len(done) + n + 1}/{len(plan)}] {run['mode']:7s} seed {run['seed']} arch {run['arch_index']:5d}: "
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


def parse_scheduler(scheduler: Any) -> tuple[str, Any]:
    """``("local", N)`` for ``local:N``, ``("client", client)`` for a ``distributed.Client``, else
    ``("address", text)``."""
    if isinstance(scheduler, str):
        text = scheduler.strip()
        if text.startswith("local:") or text == "local":
            n = text.partition(":")[2] or "1"
            if not n.isdigit() or int(n) < 1:
                raise ValueError(f"--scheduler local:N needs a positive number of workers, got {scheduler!r}")
            return "local", int(n)
        if not text:
            raise ValueError("--scheduler needs an address (tcp://HOST:PORT) or local:N")
        return "address", text
    return "client", scheduler


def _connect(scheduler: Any, timeout: float = 30.0):
    """(client, cluster or None, whether this call created the client)."""
    try:
        import distributed
    except ImportError:
        raise ValueError("--scheduler needs dask.distributed: pip install 'dask[distributed]' "
                         "(or proxybench[cluster])") from None
    kind, value = parse_scheduler(scheduler)
    if kind == "client":
        if not isinstance(value, distributed.Client):
            raise ValueError(f"scheduler must be an address, local:N or a distributed.Client, got {value!r}")
        return value, None, False
    if kind == "local":
        cluster = distributed.LocalCluster(n_workers=value, threads_per_worker=1, processes=True,
                                           dashboard_address=None)
        try:
            return distributed.Client(cluster, set_as_default=False), cluster, True
        except BaseException:
            cluster.close()
            raise
    try:
        return distributed.Client(value, timeout=timeout, set_as_default=False), None, True
    except OSError as exc:
        raise ValueError(f"cannot reach the dask scheduler at {value!r}: {exc}") from None


def _build_dask(build_dir: Path, store: RunStore, protocol: Protocol, todo: list[dict], *, n_done: int, n_plan: int,
                scheduler: Any, teacher, data: TrainData | None, data_root: str | None, device: str | None,
                threads: int | None, time_budget: float | None, max_attempts: int,
                log: Callable[[str], None]) -> None:
    import distributed

    client, cluster, own = _connect(scheduler)
    futures: dict = {}
    shared = None
    try:
        if threads is None and parse_scheduler(scheduler)[0] == "local":
            threads = 1
        job = BuildJob(key=f"{protocol.training_key()}-{os.urandom(6).hex()}", protocol=protocol.to_dict(),
                       teacher=None if teacher is None else teacher.cpu(), data=data, data_root=data_root,
                       device=device, threads=threads)
        shared = client.scatter(job, broadcast=True, hash=False)
        ac = distributed.as_completed(loop=client.loop)
        queue = list(todo)
        attempts: dict[tuple, int] = {}
        started = time.perf_counter()
        stopped = False
        n_committed = 0

        def submit(run: dict) -> None:
            k = (run["arch_index"], run["seed"], run["mode"])
            attempts[k] = attempts.get(k, 0) + 1
            fut = client.submit(train_run, shared, run, pure=False,
                                key=f"kdbench-{job.key[:8]}-{k[0]}-{k[1]}-{k[2]}-{os.urandom(4).hex()}")
            futures[fut.key] = (fut, run)
            ac.add(fut)

        def refill() -> None:
            nonlocal stopped
            limit = 2 * max(1, sum(client.nthreads().values()))
            while queue and len(futures) < limit and not stopped:
                if time_budget is not None and time.perf_counter() - started > time_budget:
                    log(f"time budget of {time_budget:.0f} s reached; waiting for the runs in progress")
                    stopped = True
                    return
                run = queue.pop(0)
                if (run["arch_index"], run["seed"], run["mode"]) not in store.done():  # else done by another process
                    submit(run)

        refill()
        for fut in ac:
            _, run = futures.pop(fut.key)
            k = (run["arch_index"], run["seed"], run["mode"])
            try:
                row = fut.result()
            except distributed.KilledWorker:
                if attempts[k] >= max_attempts:
                    raise
                log(f"run {k} lost with its worker(s); submitting it again (attempt {attempts[k] + 1})")
                submit(run)
                continue
            finally:
                fut.release()
            worker = row.pop("worker", "?")
            row = _commit(store, build_dir, row)
            n_committed += 1
            log(f"[{n_done + n_committed}/{n_plan}] {run['mode']:7s} seed {run['seed']} arch "
                f"{run['arch_index']:5d}: {row['test_acc']:.2f}% ({row['seconds']:.0f} s, "
                f"{row['images_per_s']:.0f} img/s) on {worker}")
            refill()
    finally:
        pending = [f for f, _ in futures.values()]
        if pending:
            client.cancel(pending)
        if shared is not None and not own:
            shared.release()
        if own:
            client.close()
            if cluster is not None:
                cluster.close()


# ---------------------------------------------------------------------------------------------------------
# summaries and export
# ---------------------------------------------------------------------------------------------------------
RECIPE_FIELDS = ("dataset", "resolution", "channels", "train_subset", "epochs", "batch_size", "lr", "schedule",
                 "augmentation", "alpha", "temperature", "distiller", "distiller_options", "C", "N")


def _mean_ci(values: np.ndarray, *, n_resamples: int, confidence_level: float, seed: int) -> list[float]:
    """Percentile bootstrap CI of the mean (:func:`scipy.stats.bootstrap`, deterministic for ``seed``)."""
    from scipy.stats import bootstrap

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = bootstrap((np.asarray(values, dtype=float),), np.mean, n_resamples=n_resamples, method="percentile",
                        confidence_level=confidence_level, rng=np.random.default_rng(seed))
    return [float(res.confidence_interval.low), float(res.confidence_interval.high)]


def _noise_tau_ci(full: pd.DataFrame, *, n_resamples: int, confidence_level: float, seed: int) -> list[float]:
    """Bootstrap CI over cells of the mean seed-to-seed Kendall tau (cells x seeds table, every cell complete)."""
    from ..analysis.correlation import NOISE_HEADLINE, noise_ceiling

    gt = full.rename_axis(index="arch_index", columns="seed").stack().rename("value").reset_index()
    gt["arch"] = gt["arch_index"].astype(str)
    gt["metric"] = "acc"
    nc = noise_ceiling(gt, "acc", statistics=("kendall",), n_resamples=n_resamples, ci_method="percentile",
                       confidence_level=confidence_level, seed=seed)
    head = nc[(nc["aggregate"] == NOISE_HEADLINE) & (nc["statistic"] == "kendall")]
    if head.empty:
        return [math.nan, math.nan]
    return [float(head["ci_low"].iloc[0]), float(head["ci_high"].iloc[0])]


def _round_pair(pair, digits: int) -> list:
    return [None if not math.isfinite(v) else round(float(v), digits) for v in pair]


def compute_hours(runs: pd.DataFrame) -> dict:
    """Training time of the finished runs: wall hours, CPU hours (seconds x torch threads of the runs on a CPU) and,
    when some ran on a GPU, GPU hours (evaluation excluded, as in the run store)."""
    if runs.empty or "seconds" not in runs:
        return {}
    sec = runs["seconds"].astype(float)
    device = runs["device"].astype(str) if "device" in runs else pd.Series("cpu", index=runs.index)
    threads = runs["threads"].astype(float) if "threads" in runs else pd.Series(1.0, index=runs.index)
    on_gpu = device.str.startswith("cuda")
    out = {"train_hours": round(float(sec.sum()) / 3600, 3),
           "cpu_hours": round(float((sec * threads.fillna(1.0))[~on_gpu].sum()) / 3600, 3)}
    if on_gpu.any():
        out["gpu_hours"] = round(float(sec[on_gpu].sum()) / 3600, 3)
    return out


def summarize(runs: pd.DataFrame, *, n_resamples: int = 2000, confidence_level: float = 0.95,
              seed: int = 0) -> dict:
    """Figures of a (partial) build, from its run table.

    Per mode: accuracy range and mean. On the cells with both modes (accuracies averaged over seeds; at least 3
    cells): ``kd_gain_mean`` (KD minus vanilla, points) with ``kd_gain_ci`` (percentile bootstrap over cells,
    :func:`scipy.stats.bootstrap`), ``kd_better_fraction``, ``kd_loses_3pt_fraction`` (cells where KD loses more
    than 3 points), ``kd_gain_min``, ``kendall_tau_kd_vs_vanilla`` with ``kendall_tau_kd_vs_vanilla_ci``, the best
    vanilla and best KD cell (``best_vanilla_arch``/``best_kd_arch``, and ``best_vanilla_cell``/``best_kd_cell``
    with both accuracies of each). Per mode with >= 2 seeds on >= 3 cells: the seed-to-seed Kendall tau
    ``noise_tau_<mode>`` (mean over seed pairs, on the cells with every seed) with ``noise_tau_<mode>_ci``
    (bootstrap over cells), ``noise_archs_<mode>``, ``noise_std_<mode>``. Compute: :func:`compute_hours`.
    CIs are ``confidence_level`` percentile intervals from ``n_resamples`` resamples, deterministic for ``seed``
    (``None`` where undefined)."""
    from scipy.stats import kendalltau

    from ..analysis.correlation import bootstrap_ci

    boot = dict(n_resamples=n_resamples, confidence_level=confidence_level, seed=seed)
    out: dict = {"runs": int(len(runs))}
    if runs.empty:
        return out
    for mode in MODES:
        acc = runs.loc[runs["mode"] == mode, "test_acc"]
        if len(acc):
            out[f"{mode}_acc_range"] = [round(float(acc.min()), 2), round(float(acc.max()), 2)]
            out[f"{mode}_acc_mean"] = round(float(acc.mean()), 2)
    mean = runs.groupby(["arch_index", "mode"])["test_acc"].mean().unstack("mode")
    if set(MODES) <= set(mean.columns):
        both = mean.dropna()
        out["archs_with_both"] = int(len(both))
        if len(both) >= 3:
            gain = both["kd"] - both["vanilla"]
            out["kd_gain_mean"] = round(float(gain.mean()), 3)
            out["kd_gain_ci"] = _round_pair(_mean_ci(gain.to_numpy(), **boot), 3)
            out["kd_better_fraction"] = round(float((gain > 0).mean()), 3)
            out["kd_loses_3pt_fraction"] = round(float((gain < -3).mean()), 3)
            out["kd_gain_min"] = round(float(gain.min()), 2)
            out["kendall_tau_kd_vs_vanilla"] = round(float(kendalltau(both["kd"], both["vanilla"]).statistic), 4)
            ci = bootstrap_ci(both["kd"].to_numpy(), both["vanilla"].to_numpy(), ("kendall",), method="percentile",
                              **boot)["kendall"]
            out["kendall_tau_kd_vs_vanilla_ci"] = _round_pair(ci, 4)
            best_v, best_k = both["vanilla"].idxmax(), both["kd"].idxmax()
            out["best_vanilla_arch"] = int(best_v)
            out["best_kd_arch"] = int(best_k)
            for key, cell in (("best_vanilla_cell", best_v), ("best_kd_cell", best_k)):
                out[key] = {"arch_index": int(cell), "vanilla_acc": round(float(both.at[cell, "vanilla"]), 2),
                            "kd_acc": round(float(both.at[cell, "kd"]), 2)}
    for mode in MODES:
        sub = runs[runs["mode"] == mode].pivot_table(index="arch_index", columns="seed", values="test_acc")
        seeds = [s for s in sub.columns]
        full = sub.dropna()
        if len(seeds) >= 2 and len(full) >= 3:
            taus = [kendalltau(full[a], full[b]).statistic for k, a in enumerate(seeds) for b in seeds[k + 1:]]
            out[f"noise_tau_{mode}"] = round(float(np.mean(taus)), 4)
            out[f"noise_tau_{mode}_ci"] = _round_pair(_noise_tau_ci(full, **boot), 4)
            out[f"noise_archs_{mode}"] = int(len(full))
            out[f"noise_std_{mode}"] = round(float(full.std(axis=1, ddof=1).mean()), 3)
    out.update(compute_hours(runs))
    return out


def build_description(build_dir: str | Path) -> dict:
    """What a build directory records besides its runs: the teacher(s) and their test accuracy (``teacher.json``,
    written by ``kd-bench teacher`` or by the build) and the recipe (from ``protocol.json``)."""
    build_dir = Path(build_dir)
    out: dict = {}
    tjson = build_dir / "teacher.json"
    if tjson.exists():
        info = json.loads(tjson.read_text())
        teacher = {k: info[k] for k in ("teacher", "spec", "checkpoint", "test_acc", "ensemble_test_acc",
                                         "oracle_test_acc", "member_test_acc", "epochs") if k in info}
        if "members" in info:
            teacher["members"] = [{k: m[k] for k in ("spec", "teacher", "test_acc", "seed") if k in m}
                                  for m in info["members"]]
        out["teacher"] = teacher
    pjson = build_dir / "protocol.json"
    if pjson.exists():
        p = Protocol.from_file(pjson)
        out["recipe"] = {k: getattr(p, k) for k in RECIPE_FIELDS}
    return out


def export_ground_truth(build_dir: str | Path, out: str | Path, *, name: str, dataset_label: str,
                        description: str = "", extra_metadata: dict | None = None):
    """Write the (possibly partial) build as a ground-truth table: metrics ``vanilla_acc`` and ``kd_acc``
    (one row per training seed), with protocol, teacher and summary figures in its metadata."""
    from ..benchmarks.groundtruth import GroundTruth

    build_dir = Path(build_dir)
    store = RunStore(build_dir / "runs.sqlite")
    try:
        runs = store.frame()
    finally:
        store.close()
    if runs.empty:
        raise ValueError(f"{build_dir} has no finished runs to export")
    protocol = Protocol.from_file(build_dir / "protocol.json")
    gt = pd.DataFrame({
        "arch_index": runs["arch_index"].astype(int), "arch": runs["arch"], "dataset": dataset_label,
        "metric": runs["mode"].map({"vanilla": "vanilla_acc", "kd": "kd_acc"}),
        "value": runs["test_acc"].astype(float), "seed": runs["seed"].astype(int),
    })
    teacher_info = {}
    tjson = build_dir / "teacher.json"
    if tjson.exists():
        teacher_info = json.loads(tjson.read_text())
    metadata = {
        "name": name, "description": description, "source": "proxybench kd-bench build",
        "dataset": dataset_label, "protocol": protocol.to_dict(), "protocol_key": protocol.training_key(),
        "teacher": teacher_info, "summary": summarize(runs),
        "data": {"dataset": protocol.dataset, "resolution": protocol.resolution, "channels": protocol.channels,
                 "num_classes": 10},
        "network": {"C": protocol.C, "N": protocol.N, "init": protocol.init},
        "seeds": sorted(int(s) for s in runs["seed"].unique()),
        "compute": {"total_train_seconds": round(float(runs["seconds"].sum()), 1),
                    "median_images_per_s": round(float(runs["images_per_s"].median()), 1),
                    "devices": sorted(runs["device"].unique().tolist()),
                    "machine": f"{platform.machine()} {platform.processor()}".strip(),
                    "python": sys.version.split()[0]},
        "proxybench_version": __version__,
    }
    if extra_metadata:
        metadata.update(extra_metadata)
    GroundTruth(ground_truth=gt, metadata=metadata).save(out)
    return metadata


def sweep_table(build_dirs: Sequence[str | Path]) -> pd.DataFrame:
    """One row per (sweep candidate, arch, seed) with vanilla and KD accuracy and the KD gain, from the build
    directories of a protocol sweep (each built with its own candidate protocol)."""
    rows = []
    for d in map(Path, build_dirs):
        if not (d / "runs.sqlite").exists():
            raise FileNotFoundError(f"{d} is not a kd-bench build directory (no runs.sqlite)")
        p = Protocol.from_file(d / "protocol.json")
        store = RunStore(d / "runs.sqlite")
        try:
            runs = store.frame()
        finally:
            store.close()
        wide = runs.pivot_table(index=["arch_index", "seed"], columns="mode", values="test_acc")
        for (arch, seed), r in wide.iterrows():
            rows.append({"candidate": d.name, "lr": p.lr, "train_subset": p.train_subset, "epochs": p.epochs,
                         "alpha": p.alpha, "temperature": p.temperature, "arch_index": int(arch), "seed": int(seed),
                         "vanilla_acc": r.get("vanilla", np.nan), "kd_acc": r.get("kd", np.nan),
                         "kd_gain": r.get("kd", np.nan) - r.get("vanilla", np.nan)})
    return pd.DataFrame(rows)
