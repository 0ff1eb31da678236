"""The evaluation engine: settings and plans, the resumable run store, executors and the runner.

The settings, the plan and the run store load eagerly (no torch); the executors and the runner, which score
networks, load on first use, so ``import proxybench.engine.store`` stays torch-free.
"""

from importlib import import_module
from typing import TYPE_CHECKING

from .plan import make_plan
from .settings import DEFAULT_BENCHMARK, EvalSettings, Plan
from .store import ConfigMismatchError, RunStore, StoreBusyError, StoreUnusableError, UnitResult

if TYPE_CHECKING:
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

_LAZY = {
    **dict.fromkeys(("DaskExecutor", "Executor", "InProcessExecutor", "Job", "ProcessPoolExecutor", "Task",
                     "make_executor", "score_unit", "score_with_oom_split"), ".executors"),
    **dict.fromkeys(("RunResult", "format_correlations", "format_kd_vs_vanilla", "run_eval"), ".runner"),
}


def __getattr__(name: str):
    """Executors and the runner load on first use; the proxy groups (``DEFAULT_PROXIES``, ``STANDARD_PROXIES``,
    ``PROXY_GROUPS``) are read from the proxy registry on first use."""
    if name in ("DEFAULT_PROXIES", "STANDARD_PROXIES", "PROXY_GROUPS"):
        from . import config

        return getattr(config, name)
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | {"DEFAULT_PROXIES", "STANDARD_PROXIES", "PROXY_GROUPS"})


__all__ = [
    "DEFAULT_BENCHMARK", "DEFAULT_PROXIES", "PROXY_GROUPS", "STANDARD_PROXIES", "ConfigMismatchError",
    "DaskExecutor", "EvalSettings", "Executor", "InProcessExecutor", "Job", "Plan", "ProcessPoolExecutor",
    "RunResult", "RunStore", "StoreBusyError", "StoreUnusableError", "Task", "UnitResult", "format_correlations",
    "format_kd_vs_vanilla",
    "make_executor", "make_plan", "run_eval", "score_unit", "score_with_oom_split",
]
