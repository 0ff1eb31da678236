"""``proxybench.nb201``: the NAS-Bench-201 space and network (see :mod:`proxybench.benchmarks.nb201`).

Every name is looked up in :mod:`proxybench.benchmarks.nb201` on first use, so that, like it, this module loads
torch only when the network is asked for.
"""

from .benchmarks import nb201 as _nb201
from .benchmarks.nb201 import __all__  # noqa: F401


def __getattr__(name: str):
    if name in __all__:
        value = getattr(_nb201, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
