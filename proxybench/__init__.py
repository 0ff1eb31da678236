"""proxybench: how well do training-free proxies predict (distilled) accuracy on NAS-Bench-201?"""

from ._version import __version__
from .benchmarks import nb201 as nb201  # noqa: F401  (also importable as proxybench.nb201)
from .proxies import list_proxies, score

__all__ = ["__version__", "list_proxies", "nb201", "score"]
