"""The evaluation engine: settings and plans, the resumable run store, executors and the runner."""

from .config import (
    DEFAULT_BENCHMARK,
    EvalSettings,
    Plan,
    make_plan,
)
from .executors import (
    DaskExecutor,
    Executor,
    InProcessExecutor,
    Job,
    ProcessPoolExecutor,
    Task,
    make_executor,
    score_unit,
    score_with_oom_split,
)
from .runner import RunResult, format_correlations, format_kd_vs_vanilla, run_eval
from .store import ConfigMismatchError, RunStore, StoreBusyError, UnitResult

__all__ = [
    "DEFAULT_BENCHMARK", "DEFAULT_PROXIES", "PROXY_GROUPS", "STANDARD_PROXIES", "ConfigMismatchError",
    "DaskExecutor", "EvalSettings", "Executor", "InProcessExecutor", "Job", "Plan", "ProcessPoolExecutor",
    "RunResult", "RunStore", "StoreBusyError", "Task", "UnitResult", "format_correlations", "format_kd_vs_vanilla",
    "make_executor",
    "make_plan", "run_eval", "score_unit", "score_with_oom_split",
]


def __getattr__(name: str):
    """The proxy groups (``DEFAULT_PROXIES``, ``STANDARD_PROXIES``, ``PROXY_GROUPS``), read from the proxy
    registry on first use."""
    if name in ("DEFAULT_PROXIES", "STANDARD_PROXIES", "PROXY_GROUPS"):
        from . import config

        return getattr(config, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
