"""A KD build on ``dask.distributed``: workers train the runs (:func:`~.build_runs.train_run`), this process commits
each finished run to the store as it arrives; a run lost with its worker is submitted again."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .build_runs import BuildJob, commit, train_run
from .protocol import Protocol
from .runstore import RunStore
from .trainer import TrainData


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


def connect(scheduler: Any, timeout: float = 30.0):
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


def build_dask(build_dir: Path, store: RunStore, protocol: Protocol, todo: list[dict], *, n_done: int, n_plan: int,
                scheduler: Any, teacher, data: TrainData | None, data_root: str | None, device: str | None,
                threads: int | None, time_budget: float | None, max_attempts: int,
                log: Callable[[str], None]) -> None:
    import distributed

    client, cluster, own = connect(scheduler)
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
            row = commit(store, build_dir, row)
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
