"""The registry of shared passes: ``@register_pass`` and :func:`get_pass`.

A pass is ``fn(ctx) -> value``, computed at most once per :class:`~proxybench.proxies.context.ProxyContext` and
shared by every proxy that asks for it (``ctx.pass_(name)``). Like a proxy, it declares what it does:
``gradients`` (it runs a backward pass; a proxy that declares ``gradients=False`` may not ask for it), ``bn``
(the BN mode of the network copies it makes with ``ctx.fresh_model()``) and ``options`` (the options it reads,
parsed from the caller's options whichever proxy asks first, so the result never depends on the asker).

Passes live beside the proxies that use them; looking up a pass not registered yet imports every proxy module
first, so ``ctx.pass_("teacher_features")`` works whatever was imported before.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .options import Option, parse_options

BN_MODES = ("train", "eval", "identity", "any")
"""BN modes of a network copy: batch statistics, running statistics, BN replaced by the identity, or left as
the caller's model has it (proxies that run no forward pass, or whose number does not depend on BN)."""


@dataclass(frozen=True)
class PassSpec:
    """What a registered pass is, does and reads."""

    name: str
    fn: Callable
    gradients: bool = False
    bn: str = "train"
    options: tuple[Option, ...] = ()

    def parse_options(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Typed values of the options this pass reads (others are left to the proxies)."""
        return parse_options(self.options, given, f"pass {self.name!r}", strict=False)


_PASSES: dict[str, PassSpec] = {}


def register_pass(name: str, *, gradients: bool = False, bn: str = "train",
                  options: tuple[Option, ...] = ()) -> Callable:
    """Register ``fn(ctx)`` as the shared pass ``name`` (computed once per context)."""
    if bn not in BN_MODES:
        raise ValueError(f"bn mode of pass {name!r} must be one of {', '.join(BN_MODES)}, got {bn!r}")

    def decorator(fn: Callable) -> Callable:
        old = _PASSES.get(name)
        if old is not None and (old.fn.__module__, old.fn.__qualname__) != (fn.__module__, fn.__qualname__):
            raise ValueError(f"pass {name!r} is registered twice ({old.fn.__module__} and {fn.__module__})")
        _PASSES[name] = PassSpec(name, fn, bool(gradients), bn, tuple(options))
        return fn

    return decorator


def get_pass(name: str) -> PassSpec:
    """The pass ``name``; raises ``KeyError`` listing the known passes."""
    if name not in _PASSES:
        importlib.import_module(f"{__package__}._discover").load_all()
    try:
        return _PASSES[name]
    except KeyError:
        raise KeyError(f"unknown pass {name!r}; known: {', '.join(sorted(_PASSES))}") from None


def all_passes() -> dict[str, PassSpec]:
    importlib.import_module(f"{__package__}._discover").load_all()
    return dict(sorted(_PASSES.items()))
