"""The settings of an evaluation run (:class:`EvalSettings`), the resolved :class:`Plan`, and the small parsers of
command-line values (workers, formats, ``K=V`` lists). Standard library and numpy only."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..checks import check_int

DEFAULT_BENCHMARK = "nb201-kd-fmnist16-v2"
DEFAULT_BATCH_SIZE = 64
FORMATS = ("csv", "parquet")
DEVICES = ("cpu", "cuda")
NETWORK_KEYS = ("C", "N", "init")
_DEFAULT_NETWORK = {"C": 16, "N": 5, "init": "default"}


@dataclass
class EvalSettings:
    """The settings of ``proxybench eval`` / :func:`proxybench.evaluate` (see the module docstring)."""

    benchmark: Any = None
    proxies: str | Sequence[str] | None = None
    archs: int | str | Sequence[int | str] | os.PathLike = "all"
    arch_seed: int = 0
    seeds: int = 1
    batch_size: int = DEFAULT_BATCH_SIZE
    balanced: bool = False
    data: str | None = None
    data_root: str | os.PathLike | None = None
    teacher: str | None = None
    teacher_seed: int = 0
    network: Mapping[str, Any] | None = None
    options: Mapping[str, Any] | None = None
    device: str = "cpu"
    workers: int | str = 0  # "auto": one process per core for runs of at least 4 units per core
    threads: int | None = None
    scheduler: Any = None
    out: str | os.PathLike | None = None  # None: a temporary directory (nothing kept); "auto": runs/<name>-<time>
    formats: str | Sequence[str] = ("csv",)
    report: bool = True
    quiet: bool = False
    ci_resamples: int = 1000
    restart: bool = False  # move an existing (or unreadable) store aside and start the run over
    metrics: str | Sequence[str] | None = None  # ground truths to correlate with; None: those matching the data
    ensembles: str | Sequence[str] | None = None  # rank ensembles "A+B" added as proxies of their own
    ensemble_method: str | None = None  # None: rank_sum
    space: str | None = None  # search space of the benchmark's archs; None: the one its metadata names


@dataclass
class Plan:
    """A checked, resolved run: everything the runner and the workers need."""

    benchmark: Any  # GroundTruth
    benchmark_name: str
    proxies: list[str]
    archs: list[tuple[int, str]]
    seeds: list[int]
    data: dict
    network: dict
    teacher_spec: str | None
    teacher: Any  # nn.Module or None
    teacher_info: dict
    batches: Mapping[int, list]  # a SeedBatches: drawn per seed when needed
    device: str
    options: dict
    formats: list[str]
    out: Path | None
    identity: dict
    selection: dict
    warnings: list[str] = field(default_factory=list)
    ground_truths: list[tuple[str, str]] = field(default_factory=list)  # (dataset, metric) pairs correlated
    ensembles: dict[str, list[str]] = field(default_factory=dict)  # name -> member proxies
    ensemble_method: str = "rank_sum"
    space: str = "nb201"  # the search space of the archs and networks
    not_applicable: dict[str, str] = field(default_factory=dict)  # proxy -> why it cannot run on the space

# ---- small parsers ---------------------------------------------------------------------------------------------
def _positive_int(value: Any, what: str, minimum: int = 1) -> int:
    return check_int(value, what, minimum, parse=True)


def parse_workers(workers: int | str) -> int | str:
    """A worker count >= 0 or ``"auto"``."""
    if isinstance(workers, str) and workers.strip().lower() == "auto":
        return "auto"
    try:
        return _positive_int(workers, "--workers", minimum=0)
    except ValueError:
        raise ValueError(f"bad --workers {workers!r}: give 0 (score in this process), a number of worker "
                         "processes, or 'auto'") from None


def choose_workers(workers: int | str, scheduler: Any, n_tasks: int, cpus: int) -> int:
    """The process-pool size of a run: ``auto`` uses one worker per core (each with one torch thread) when
    there are at least 4 units per core to score, else none (scoring in this process)."""
    if scheduler is not None:
        return 0
    if workers == "auto":
        return cpus if cpus > 1 and n_tasks >= 4 * cpus else 0
    return int(workers)


def parse_formats(formats: str | Sequence[str]) -> list[str]:
    items = [f.strip().lower() for f in (formats.split(",") if isinstance(formats, str) else formats)]
    items = [f for f in items if f]
    bad = [f for f in items if f not in FORMATS]
    if bad or not items:
        raise ValueError(f"bad --format {formats!r}: valid formats are {', '.join(FORMATS)} (comma-separated)")
    if "parquet" in items:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ValueError("--format parquet needs pyarrow: pip install pyarrow (or proxybench[parquet])") from None
    return list(dict.fromkeys(items))


def parse_key_values(text: str | Sequence[str] | Mapping | None, what: str) -> dict[str, Any]:
    """``"a=1,b=x"`` (or a list of ``k=v``) -> ``{"a": 1, "b": "x"}``; numbers and true/false are converted."""
    if text is None:
        return {}
    if isinstance(text, Mapping):
        return dict(text)
    items = text.split(",") if isinstance(text, str) else [t for s in text for t in s.split(",")]
    out: dict[str, Any] = {}
    for item in items:
        if not item.strip():
            continue
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"bad {what} {item!r}: expected KEY=VALUE")
        out[key.strip()] = _convert_value(value.strip())
    return out


def _convert_value(v: str) -> Any:
    low = v.lower()
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return v
