"""``proxybench.nb201``: the NAS-Bench-201 space and network (see :mod:`proxybench.benchmarks.nb201`)."""

from .benchmarks.nb201 import *  # noqa: F401,F403
from .benchmarks.nb201 import __all__  # noqa: F401
