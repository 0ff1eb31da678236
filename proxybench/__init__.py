"""proxybench: how well do training-free proxies predict (distilled) accuracy on NAS-Bench-201 and DisWOT's S1?

The public names below are imported on first use (PEP 562), so ``import proxybench`` and the command line's
``--help`` do not pay for torch, scipy and pandas until a command needs them.
"""

from __future__ import annotations

import importlib

from ._version import __version__

_LAZY = {
    "correlate": ("proxybench.analysis", "correlate"),
    "evaluate": ("proxybench.api", "evaluate"),
    "list_benchmarks": ("proxybench.benchmarks.groundtruth", "list_benchmarks"),
    "get_space": ("proxybench.benchmarks.spaces", "get_space"),
    "list_spaces": ("proxybench.benchmarks.spaces", "list_spaces"),
    "load_benchmark": ("proxybench.benchmarks.groundtruth", "load_benchmark"),
    "list_proxies": ("proxybench.proxies", "list_proxies"),
    "score": ("proxybench.proxies", "score"),
    "nb201": ("proxybench.nb201", None),
    "predict_accuracy": ("proxybench.analysis.predictor", "predict_accuracy"),
}

__all__ = ["__version__", *sorted(_LAZY)]


def __getattr__(name: str):
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'proxybench' has no attribute {name!r}") from None
    value = importlib.import_module(module)
    if attr is not None:
        value = getattr(value, attr)
    globals()[name] = value  # cache: later lookups do not come back here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
