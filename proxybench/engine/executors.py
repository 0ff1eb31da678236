"""Executors: where architectures are scored.

A :class:`Job` carries what every worker needs (proxy names, network config, the input batches of each seed,
the teacher, the device, proxy options); a :class:`Task` is one (architecture, seed) and the proxies it still
needs. :func:`score_unit` builds the network once and scores every proxy on it, sharing passes; it returns a
:class:`~proxybench.engine.store.UnitResult`. Workers never write the store: results flow back to the process
that owns the run.

* :class:`InProcessExecutor` scores in the calling process.
* :class:`ProcessPoolExecutor` uses a local pool of ``spawn``-ed processes; the job is sent once per worker.
* :class:`DaskExecutor` submits tasks to a ``dask.distributed`` scheduler (imported lazily); the job is
  scattered to every worker once.

Each worker keeps one copy of the job's batches and teacher on its device, so the teacher's forward pass on a
batch runs once and is reused across architectures (the KD-aware proxies cache it by teacher and tensor).

On CUDA, a proxy that runs out of memory is retried on the first half of each batch, halving again until it
fits (:func:`score_with_oom_split`); the batch size used is stored with every score.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import pickle
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import torch

from ..worker_cache import KeyedCache
from .store import UnitResult


@dataclass
class Job:
    """What every worker needs for one run (picklable)."""

    key: str
    proxies: list[str]
    network: dict
    num_classes: int
    in_channels: int
    batches: Any  # seed -> [(x, y), ...] (a SeedBatches: drawn per seed when needed)
    teacher: Any = None
    device: str = "cpu"
    options: dict = field(default_factory=dict)
    threads: int | None = None


@dataclass(frozen=True)
class Task:
    """One unit of work: every missing proxy of one architecture under one seed."""

    arch_index: int
    arch: str
    seed: int
    proxies: tuple[str, ...]


# ---- out-of-memory splitting ------------------------------------------------------------------------------------
_OOM_MARKERS = ("out of memory", "outofmemoryerror", "cuda error: out of memory", "cublas_status_alloc_failed")


def is_oom(error: BaseException | str) -> bool:
    """True for a (CUDA) out-of-memory error, given as an exception or as a stored message."""
    if isinstance(error, BaseException):
        if isinstance(error, torch.OutOfMemoryError):
            return True
        error = f"{type(error).__name__}: {error}"
    text = str(error).lower()
    return any(m in text for m in _OOM_MARKERS)


def halve_batches(batches: Sequence[tuple]) -> list[tuple]:
    """The first half of every (inputs, targets) batch."""
    out = []
    for x, y in batches:
        n = max(1, x.shape[0] // 2)
        out.append((x[:n], y[:n] if y is not None else None))
    return out


def _free_device_memory() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def score_with_oom_split(names: Sequence[str], make_ctx: Callable[[list], Any], batches: Sequence[tuple], *,
                         scorer: Callable | None = None, min_batch: int = 2) -> list[tuple[Any, int]]:
    """Score ``names`` with ``scorer(names, make_ctx(batches))``; proxies that fail with out-of-memory are
    scored again on halved batches (down to ``min_batch`` images). Returns ``[(ProxyResult, batch_size)]`` in
    the order of ``names``."""
    if scorer is None:
        from ..proxies import score_many as scorer
    from ..proxies import ProxyResult

    pending = list(names)
    batches = list(batches)
    done: dict[str, tuple[Any, int]] = {}
    while pending:
        size = int(batches[0][0].shape[0])
        try:
            results = scorer(pending, make_ctx(batches))
        except Exception as exc:  # out of memory while building the context (moving data, a shared pass...)
            if not is_oom(exc):
                raise
            results = [ProxyResult(p, math.nan, 0.0, "error", f"{type(exc).__name__}: {exc}") for p in pending]
        retry = [r.proxy for r in results if r.status == "error" and is_oom(r.error)]
        for r in results:
            if r.proxy not in retry or size // 2 < min_batch:
                done[r.proxy] = (r, size)
        if not retry or size // 2 < min_batch:
            break
        _free_device_memory()
        batches = halve_batches(batches)
        pending = retry
    return [done[n] for n in names]


# ---- the worker side -------------------------------------------------------------------------------------------
class _WorkerState:
    def __init__(self, job: Job):
        device = torch.device(job.device)
        self.device = device
        self.source = job.batches
        self.batches = _DeviceBatches(self)
        self.teacher = job.teacher.to(device) if job.teacher is not None else None


class _DeviceBatches:
    """``seed -> batches on the worker's device``, moved when first asked for; at most two seeds held."""

    def __init__(self, state: _WorkerState, max_cached: int = 2):
        self.state = state
        self.max_cached = max_cached
        self._cache: OrderedDict[int, list] = OrderedDict()
        self._lock = threading.Lock()

    def __getitem__(self, seed: int) -> list:
        with self._lock:
            if seed in self._cache:
                self._cache.move_to_end(seed)
                return self._cache[seed]
            device = self.state.device
            out = [(x.to(device), None if y is None else y.to(device)) for x, y in self.state.source[seed]]
            self._cache[seed] = out
            while len(self._cache) > self.max_cached:
                self._cache.popitem(last=False)
            return out


_STATES: KeyedCache[_WorkerState] = KeyedCache()
# seeded network construction draws from torch's global RNG (under fork_rng): one thread at a time, so that
# threaded workers (dask threads) build exactly the network an in-process run builds
_BUILD_LOCK = threading.Lock()
_WORKER_JOB: list[Job] = []  # the job of a pool worker (set by its initializer)


def _state(job: Job) -> _WorkerState:
    return _STATES.get(job.key, lambda: _WorkerState(job))


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def score_unit(job: Job, task: Task) -> UnitResult:
    """Build the network of ``task`` once (in the search space the job's network config names) and score its
    proxies on it (passes shared). A proxy that cannot run on the space's networks is not run: its result is an
    error saying why (:func:`proxybench.engine.plan.inapplicable`)."""
    from ..proxies import make_context
    from .models import build_student, network_space
    from .plan import inapplicable

    if job.threads:
        torch.set_num_threads(int(job.threads))
    st = _state(job)
    t0 = time.perf_counter()
    net = job.network
    skipped = inapplicable(task.proxies, network_space(net), job.options)
    with _BUILD_LOCK:
        model = build_student(net, task.arch, job.num_classes, job.in_channels, task.seed)
    model = model.to(st.device)
    build = time.perf_counter() - t0

    def make_ctx(batches):
        x, y = batches[0]
        return make_context(model, x, y, batches=batches, teacher=st.teacher, seed=task.seed,
                            num_classes=job.num_classes, arch=task.arch, **job.options)

    run = [p for p in task.proxies if p not in skipped]
    batches = st.batches[task.seed]
    scored = {r.proxy: (r, size) for r, size in (score_with_oom_split(run, make_ctx, batches) if run else [])}
    results = []
    for p in task.proxies:
        if p in skipped:
            results.append((p, math.nan, 0.0, "error", skipped[p], int(batches[0][0].shape[0])))
        else:
            r, size = scored[p]
            results.append((r.proxy, float(r.score), float(r.seconds), r.status, r.error or "", int(size)))
    return UnitResult(arch_index=task.arch_index, arch=task.arch, seed=task.seed, results=results,
                      seconds=time.perf_counter() - t0, build_seconds=build,
                      batch_size=min(size for *_, size in results), worker=worker_name())


def exit_with_parent(parent_pid: int, poll: float = 1.0) -> None:
    """Make this (worker) process end when ``parent_pid`` dies, however it dies (SIGKILL included).

    On Linux the kernel delivers SIGKILL when the parent exits (``prctl(PR_SET_PDEATHSIG)``); everywhere a daemon
    thread also checks every ``poll`` seconds that the parent is still this process's parent."""
    if os.getppid() != parent_pid:  # the parent is already gone
        os._exit(1)
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass

    def watch() -> None:
        while True:
            time.sleep(poll)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="proxybench-parent-watch", daemon=True).start()


def _pool_init(job_bytes: bytes, parent_pid: int | None = None) -> None:
    if parent_pid is not None:
        exit_with_parent(parent_pid)
    job = pickle.loads(job_bytes)
    _WORKER_JOB[:] = [job]
    if job.threads:
        torch.set_num_threads(int(job.threads))


def _pool_score(task: Task) -> UnitResult:
    return score_unit(_WORKER_JOB[0], task)


# ---- executors --------------------------------------------------------------------------------------------------
class Executor:
    """Runs tasks and yields their results as they finish."""

    name = "executor"
    workers = 1

    def run(self, job: Job, tasks: Iterable[Task]) -> Iterator[UnitResult]:
        raise NotImplementedError

    def close(self) -> None:
        """Release workers and connections."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def describe(self) -> dict:
        return {"executor": self.name, "workers": self.workers}


class InProcessExecutor(Executor):
    name = "in-process"

    def run(self, job: Job, tasks: Iterable[Task]) -> Iterator[UnitResult]:
        before = torch.get_num_threads()
        try:
            for task in tasks:
                yield score_unit(job, task)
        finally:
            torch.set_num_threads(before)


class ProcessPoolExecutor(Executor):
    """A local pool of ``workers`` spawn-started processes."""

    name = "process-pool"

    def __init__(self, workers: int):
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"--workers must be a positive integer, got {workers!r}")
        self.workers = workers
        self._pool: futures.ProcessPoolExecutor | None = None

    def run(self, job: Job, tasks: Iterable[Task]) -> Iterator[UnitResult]:
        ctx = multiprocessing.get_context("spawn")
        self._pool = futures.ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx, initializer=_pool_init,
                                                 initargs=(pickle.dumps(job), os.getpid()))
        todo = iter(tasks)
        running: set[futures.Future] = set()
        limit = 2 * self.workers

        def refill():
            while len(running) < limit:
                task = next(todo, None)
                if task is None:
                    return
                running.add(self._pool.submit(_pool_score, task))

        refill()
        while running:
            finished, _ = futures.wait(running, return_when=futures.FIRST_COMPLETED)
            for fut in finished:
                running.discard(fut)
                yield fut.result()
            refill()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class DaskExecutor(Executor):
    """Tasks on a ``dask.distributed`` cluster: ``scheduler`` is an address (``tcp://HOST:PORT``) or a
    ``distributed.Client``."""

    name = "dask"

    def __init__(self, scheduler: Any, timeout: float = 30.0):
        try:
            import distributed
        except ImportError:
            raise ValueError("--scheduler needs dask.distributed: pip install 'dask[distributed]' "
                             "(or proxybench[cluster])") from None
        self._own = not isinstance(scheduler, distributed.Client)
        if self._own:
            try:
                self.client = distributed.Client(scheduler, timeout=timeout, set_as_default=False)
            except OSError as exc:
                raise ValueError(f"cannot reach the dask scheduler at {scheduler!r}: {exc}") from None
        else:
            self.client = scheduler
        self.address = self.client.scheduler.address
        self.workers = max(1, sum(self.client.nthreads().values()))

    def run(self, job: Job, tasks: Iterable[Task]) -> Iterator[UnitResult]:
        import distributed

        shared = self.client.scatter(job, broadcast=True, hash=False)
        todo = iter(tasks)
        ac = distributed.as_completed(loop=self.client.loop)
        limit = 2 * self.workers
        n_running = 0

        def refill():
            nonlocal n_running
            while n_running < limit:
                task = next(todo, None)
                if task is None:
                    return
                ac.add(self.client.submit(score_unit, shared, task, pure=False,
                                          key=f"proxybench-{job.key[:8]}-{task.arch_index}-{task.seed}-"
                                              f"{os.urandom(4).hex()}"))
                n_running += 1

        refill()
        for fut in ac:
            n_running -= 1
            result = fut.result()
            fut.release()
            yield result
            refill()

    def describe(self) -> dict:
        return {"executor": self.name, "workers": self.workers, "scheduler": str(self.address)}

    def close(self) -> None:
        if self._own and self.client is not None:
            self.client.close()
        self.client = None


def make_executor(workers: int = 0, scheduler: Any = None) -> Executor:
    """In-process (``workers=0``, no scheduler), a local process pool, or dask."""
    if scheduler is not None:
        return DaskExecutor(scheduler)
    if workers:
        return ProcessPoolExecutor(int(workers))
    return InProcessExecutor()
