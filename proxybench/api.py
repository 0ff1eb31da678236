"""The Python API of the evaluation runner: :func:`evaluate` (the code path of ``proxybench eval``)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from .engine.runner import run_eval
from .engine.settings import DEFAULT_BATCH_SIZE, EvalSettings


def evaluate(benchmark: Any = None, proxies: str | Sequence[str] | None = None,
             archs: int | str | Sequence[int | str] | os.PathLike = "all", seeds: int = 1,
             batch_size: int = DEFAULT_BATCH_SIZE, data: str | None = None, data_root: str | os.PathLike | None = None,
             teacher: str | None = None, device: str = "cpu", workers: int = 0, scheduler: Any = None,
             out: str | os.PathLike | None = None, formats: str | Sequence[str] = ("csv",), *,
             network: Mapping[str, Any] | None = None, options: Mapping[str, Any] | None = None,
             arch_seed: int = 0, teacher_seed: int = 0, balanced: bool = False, threads: int | None = None,
             report: bool = True, quiet: bool = True, ci_resamples: int = 1000,
             metrics: str | Sequence[str] | None = None, ensembles: str | Sequence[str] | None = None,
             ensemble_method: str | None = None, space: str | None = None) -> pd.DataFrame:
    """Score proxies on a benchmark's architectures and return the tidy scores.

    One row per (arch_index, arch, proxy, seed) with ``score`` (higher = predicted better), ``seconds``,
    ``status`` (``ok`` | ``nan`` | ``error``) and ``error``. ``df.attrs`` holds ``run_dir`` (when ``out`` is
    given: it also holds ``correlations.csv``, ``run.json`` and the report), ``benchmark`` and ``warnings``.
    :func:`proxybench.engine.run_eval` returns the correlations and run metadata as well.

    benchmark   registered name or ground-truth file (default: the shipped KD benchmark ``nb201-kd-fmnist16-v2``),
                or a :class:`~proxybench.benchmarks.groundtruth.GroundTruth`; its metadata names its search space
                (``diswot-s1-cifar100``: DisWOT's S1 ResNets)
    space       search space of the benchmark's archs when its metadata names none (default: NB201); one that
                contradicts the metadata is an error
    proxies     names and groups (``default``, ``standard``, ``teacher``, ``all``), a list or a comma-separated string
    archs       N (sampled with ``arch_seed`` from the benchmark's archs), ``"all"``, a list of official indices
                or arch strings, or a file of them (one per line)
    seeds       K: network-initialization seeds 0..K-1; the input batches of seed s are drawn with seed s
    data        image set of the batches (default: the benchmark's bundled sample); ``"synthetic"`` is noise
    teacher     teacher spec (see ``proxybench list teachers``; default: the benchmark's teacher; ``"none"``)
    device      ``cpu`` or ``cuda`` (``cuda:N``)
    workers     0: in-process; N: a local pool of N processes
    scheduler   a dask.distributed scheduler address (``tcp://HOST:PORT``) or ``distributed.Client``
    out         run directory (resumable; ``"auto"``: ``runs/<benchmark>-<time>``); ``None``: nothing is kept
    network     overrides of the benchmark's network config: ``{"C": 8, "N": 1, "init": "default"}``
    options     per-proxy options passed to every proxy (e.g. ``{"temperature": 4}``)
    metrics     ground truths to correlate with (``DATASET/METRIC``, ``METRIC`` or ``"all"``); default: those on
                the data of the batches
    ensembles   rank ensembles of scored proxies, e.g. ``["nwot+synflow"]``: extra proxy rows ``ens:nwot+synflow``
                (``ensemble_method``: ``rank_sum``, the default, or ``vote``; see
                :mod:`proxybench.analysis.ensembles`)

    Example::

        import proxybench
        df = proxybench.evaluate(proxies=["synflow", "diswot"], archs=50, seeds=2)
        gt = proxybench.load_benchmark(df.attrs["benchmark"]).ground_truth
        print(proxybench.correlate(df, gt))
    """
    settings = EvalSettings(benchmark=benchmark, proxies=proxies, archs=archs, arch_seed=arch_seed, seeds=seeds,
                            batch_size=batch_size, balanced=balanced, data=data, data_root=data_root,
                            teacher=teacher, teacher_seed=teacher_seed, network=network, options=options,
                            device=device, workers=workers, threads=threads, scheduler=scheduler, out=out,
                            formats=formats, report=report and out is not None, quiet=quiet,
                            ci_resamples=ci_resamples, metrics=metrics, ensembles=ensembles,
                            ensemble_method=ensemble_method, space=space)
    result = run_eval(settings)
    df = result.scores.copy()
    bench = result.plan.benchmark
    df.attrs["benchmark"] = str(bench.path) if bench.path is not None else result.plan.benchmark_name
    df.attrs["run_dir"] = str(result.run_dir) if result.run_dir is not None else None
    df.attrs["warnings"] = list(result.warnings)
    return df
