"""The proxy registry: one decorator per proxy, declaring what it needs and its direction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

BN_MODES = ("train", "eval", "identity", "any")


@dataclass(frozen=True)
class ProxySpec:
    """What a registered proxy is and needs.

    ``fn(ctx) -> float`` returns the *raw* value of the proxy's formula; the engine reports
    ``direction * raw`` so that, for every proxy, a higher score predicts a better network.
    """

    name: str
    fn: Callable
    direction: int = 1
    labels: bool = False  # needs the targets
    gradients: bool = False  # runs a backward pass
    bn: str = "train"  # BN mode during the pass ("identity": BN replaced by identity; "any": no forward pass)
    teacher: bool = False  # needs a teacher network (KD-aware proxies)
    batches: int = 1  # minimum number of input batches
    data_free: bool = False  # ignores the data (all-ones input, analytic counts, weights only)
    paper: str = ""
    description: str = ""

    @property
    def summary(self) -> str:
        return self.description or (self.fn.__doc__ or "").strip().splitlines()[0]


_REGISTRY: dict[str, ProxySpec] = {}


def register_proxy(name: str, *, direction: int = 1, labels: bool = False, gradients: bool = False,
                   bn: str = "train", teacher: bool = False, batches: int = 1, data_free: bool = False,
                   paper: str = "", description: str = "") -> Callable:
    """Register ``fn(ctx) -> float`` as proxy ``name``.

    Example::

        @register_proxy("params", bn="any", data_free=True, paper="...")
        def params(ctx):
            "Number of trainable parameters (millions)."
            return ...
    """
    if direction not in (1, -1):
        raise ValueError(f"direction of proxy {name!r} must be +1 or -1, got {direction!r}")
    if bn not in BN_MODES:
        raise ValueError(f"bn mode of proxy {name!r} must be one of {BN_MODES}, got {bn!r}")
    if batches < 1:
        raise ValueError(f"batches of proxy {name!r} must be >= 1, got {batches!r}")

    def decorator(fn: Callable) -> Callable:
        if name in _REGISTRY and _REGISTRY[name].fn is not fn:
            raise ValueError(f"proxy {name!r} is registered twice ({_REGISTRY[name].fn.__module__} and "
                             f"{fn.__module__})")
        _REGISTRY[name] = ProxySpec(name=name, fn=fn, direction=direction, labels=labels,
                                    gradients=gradients, bn=bn, teacher=teacher, batches=batches,
                                    data_free=data_free, paper=paper, description=description)
        return fn

    return decorator


def _load_all() -> None:
    from . import _discover  # noqa: F401  (imports every proxy module once)


def get_spec(name: str) -> ProxySpec:
    _load_all()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown proxy {name!r}; valid proxies: {', '.join(sorted(_REGISTRY))}") from None


def list_proxies(teacher: bool | None = None) -> list[str]:
    """Names of all registered proxies, sorted (``teacher=True/False`` filters KD-aware ones)."""
    _load_all()
    return sorted(n for n, s in _REGISTRY.items() if teacher is None or s.teacher == teacher)


def all_specs() -> dict[str, ProxySpec]:
    _load_all()
    return dict(sorted(_REGISTRY.items()))
