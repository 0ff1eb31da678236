"""proxybench: how well do training-free proxies predict (distilled) accuracy on NAS-Bench-201?"""

from ._version import __version__
from .analysis import correlate
from .api import evaluate
from .benchmarks import nb201 as nb201  # noqa: F401  (also importable as proxybench.nb201)
from .benchmarks.groundtruth import list_benchmarks, load_benchmark
from .proxies import list_proxies, score

__all__ = ["__version__", "correlate", "evaluate", "list_benchmarks", "list_proxies", "load_benchmark", "nb201",
           "score"]
