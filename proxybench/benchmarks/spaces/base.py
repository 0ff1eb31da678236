"""The :class:`SearchSpace` contract and the registry of search spaces (no torch at import).

A search space is a finite, indexed set of architectures and the network each one is: what ``proxybench eval``
scores, what a benchmark's ``arch_index`` column counts, and what ``proxybench search`` walks. A plugin is one
module under :mod:`proxybench.benchmarks.spaces` with one class decorated by :func:`register_space`; the registry
imports every module of the package on first use, so a new space needs no other change. :func:`check_space`
(:mod:`proxybench.testing`) checks a plugin against this contract.

What a plugin provides (``SearchSpace`` implements the rest from it):

* ``title``, ``description``, ``arch_form`` (how an architecture is written, quoted in error messages), ``paper``;
* :meth:`SearchSpace.all_archs` -- the canonical arch strings in index order (index ``i`` is the ``i``-th);
* :meth:`SearchSpace.parse_arch` -- the canonical string of any accepted spelling (string, index, encoding), or
  ``ValueError`` naming the value and :attr:`SearchSpace.arch_form`;
* :meth:`SearchSpace.construct` -- the torch network of an architecture for a number of classes and input
  channels (the default :meth:`SearchSpace.build_network` seeds and initializes it);
* :meth:`SearchSpace.counts` -- exact parameters and FLOPs (millions) without building the network;
* :meth:`SearchSpace.neighbours` -- the single-step mutants of an architecture, in a fixed order (evolution);
* :attr:`SearchSpace.features` -- the structure its networks offer to proxies that need more than
  ``forward``/``forward_features`` (``"blocks"``: ``block_features``; ``"nb201-cell"``: an NB201 cell); a proxy
  declares what it requires and is not run where a space lacks it (:mod:`proxybench.proxies.registry`);
* optionally :meth:`SearchSpace.excluded` (architectures a search never proposes by default, with the reason),
  :meth:`SearchSpace.count_key` (archs sharing a key share their counts), :attr:`SearchSpace.network_keys` and
  :attr:`SearchSpace.network_defaults` (settings of its networks besides ``init``).

Every network a space builds has the interface the proxies and the KD-aware proxies read: ``forward(x)`` ->
logits; ``forward_features(x)`` -> a dict with ``stem``, ``stage1``, ``stage2``, ``stage3`` (4-D maps),
``pre_pool``, ``pooled`` (``(B, feature_dim)``) and ``logits``; ``classifier`` (the final ``nn.Linear``) and
``feature_dim``; with the ``blocks`` feature also ``block_features(x)`` (the stem output and every block's output).
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from ...checks import check_int

if TYPE_CHECKING:
    import numpy as np
    from torch import nn

DEFAULT_SPACE = "nb201"
"""The space of a benchmark whose metadata names none (every benchmark before spaces were plugins)."""
FEATURES: dict[str, str] = {
    "stages": "forward_features(x) with stem, stage1..3, pre_pool, pooled and logits (the KD-aware proxies)",
    "blocks": "block_features(x): the stem output and every block's output (AZ-NAS)",
    "nb201-cell": "an NB201 cell: the network is an NB201Network whose cell ops are known",
}
"""Structural features a space's networks may offer, and what each means."""
FLOP_CONVENTIONS: tuple[str, ...] = ("naslib", "xautodl")
"""FLOP counting conventions (see :mod:`proxybench.benchmarks.nb201.counts`): NAS-Bench-Suite-Zero's and NB201's."""
_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{0,39}$")


class SearchSpace:
    """A search space plugin (see the module docstring). One instance per registered space."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""
    arch_form: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    features: ClassVar[frozenset[str]] = frozenset({"stages"})
    network_keys: ClassVar[tuple[str, ...]] = ()
    network_defaults: ClassVar[Mapping[str, Any]] = {}

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._index: dict[str, int] | None = None

    # ---- what a plugin implements --------------------------------------------------------------------------
    def all_archs(self) -> Sequence[str]:
        """Every architecture's canonical string, in index order."""
        raise NotImplementedError

    def parse_arch(self, arch: Any) -> str:
        """The canonical string of ``arch`` (any accepted spelling); ``ValueError`` naming it otherwise."""
        raise NotImplementedError

    def construct(self, arch: str, num_classes: int, in_channels: int, **network: Any) -> nn.Module:
        """The network of canonical arch string ``arch`` (its own default init, from the global RNG)."""
        raise NotImplementedError

    def counts(self, arch: Any, *, num_classes: int = 10, in_channels: int = 3, resolution: int = 32,
               convention: str = "naslib", **network: Any) -> tuple[float, float]:
        """(parameters in M, FLOPs of one image in M, ``convention``) of the network of ``arch``, exactly."""
        raise NotImplementedError

    def neighbours(self, index: int) -> list[int]:
        """Indices of the single-step mutants of architecture ``index``, in a fixed order."""
        raise NotImplementedError

    # ---- optional --------------------------------------------------------------------------------------------
    def excluded(self) -> tuple[np.ndarray | None, str]:
        """(boolean array over indices, reason): architectures a search does not propose unless asked to (e.g.
        NB201's zero cells); ``(None, "")`` when there are none."""
        return None, ""

    def count_key(self, index: int) -> Any:
        """Architectures with equal keys have equal counts (a search computes counts once per key)."""
        return int(index)

    # ---- derived ---------------------------------------------------------------------------------------------
    @property
    def num_archs(self) -> int:
        return len(self.all_archs())

    def __len__(self) -> int:
        return self.num_archs

    def __repr__(self) -> str:
        return f"<search space {self.name!r}: {self.num_archs:,} architectures>"

    def _lookup(self) -> dict[str, int]:
        if self._index is None:
            with self._lock:
                if self._index is None:
                    self._index = {a: i for i, a in enumerate(self.all_archs())}
        return self._index

    def check_index(self, index: Any) -> int:
        """``index`` as an int in ``0..num_archs-1``; ``ValueError`` naming the valid range otherwise."""
        if isinstance(index, bool) or not hasattr(index, "__index__"):
            raise ValueError(f"{self.name} arch index must be an integer in 0..{self.num_archs - 1}, got {index!r}")
        i = int(index)
        if not 0 <= i < self.num_archs:
            raise ValueError(f"{self.name} arch index {i} out of range; valid: 0..{self.num_archs - 1}")
        return i

    def index_to_arch(self, index: Any) -> str:
        return self.all_archs()[self.check_index(index)]

    def arch_to_index(self, arch: Any) -> int:
        """The index of ``arch`` (any spelling :meth:`parse_arch` accepts)."""
        hit = self._lookup().get(arch) if isinstance(arch, str) else None
        return hit if hit is not None else self._lookup()[self.parse_arch(arch)]

    def canonical(self, arch: Any) -> tuple[int, str]:
        """(index, canonical string) of ``arch``."""
        text = self.parse_arch(arch)
        return self._lookup()[text], text

    def check_network(self, network: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The space's network settings: :attr:`network_defaults` updated with ``network`` (an unknown key is a
        ``ValueError`` naming the valid ones; values must be integers >= 1)."""
        out = dict(self.network_defaults)
        for key, value in dict(network or {}).items():
            if key not in self.network_keys:
                valid = ", ".join(self.network_keys) or "none (its networks have no settings besides init)"
                raise ValueError(f"unknown network setting {key!r} for search space {self.name!r}; valid: {valid}")
            out[key] = check_int(value, f"network {key}", 1, parse=True)
        return out

    def build_network(self, arch: Any, num_classes: int = 10, in_channels: int = 3, *, seed: int | None = None,
                      init: str = "default", **network: Any) -> nn.Module:
        """The network of ``arch``. With ``seed`` its weights are initialized by ``init`` from that seed (the same
        seed gives bitwise-identical weights; the caller's RNG is untouched); without it the space's own init
        draws from the global RNG."""
        import torch

        from ...initialization import INIT_SCHEMES, initialize

        if init not in INIT_SCHEMES:
            raise ValueError(f"unknown init scheme {init!r}; valid: {', '.join(INIT_SCHEMES)}")
        for what, value in (("num_classes", num_classes), ("in_channels", in_channels)):
            check_int(value, what, 1)
        text = self.parse_arch(arch)
        config = self.check_network(network)
        if seed is None:
            model = self.construct(text, num_classes, in_channels, **config)
            return initialize(model, init, 0) if init != "default" else model
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = self.construct(text, num_classes, in_channels, **config)
        return initialize(model, init, seed)

    def describe(self) -> dict[str, Any]:
        """What ``proxybench list spaces`` and a run's metadata say about the space."""
        return {"name": self.name, "title": self.title, "description": self.description,
                "archs": self.num_archs, "arch_form": self.arch_form, "features": sorted(self.features),
                "network_keys": list(self.network_keys), "network_defaults": dict(self.network_defaults),
                "paper": self.paper}


# ---- the registry ------------------------------------------------------------------------------------------------
_REGISTRY: dict[str, SearchSpace] = {}
_DISCOVERY_LOCK = threading.RLock()
_discovered = False


def register_space(name: str):
    """Class decorator: register a :class:`SearchSpace` subclass under ``name`` (lower case, digits, ``-``, ``.``).

    Example::

        @register_space("my-space")
        class MySpace(SearchSpace):
            title = "My space"
            ...
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"bad search space name {name!r}: lower-case letters, digits, '-' or '.', at most 40")

    def decorator(cls: type[SearchSpace]) -> type[SearchSpace]:
        if not (isinstance(cls, type) and issubclass(cls, SearchSpace)):
            raise ValueError(f"register_space({name!r}) decorates a SearchSpace subclass, got {cls!r}")
        old = _REGISTRY.get(name)
        if old is not None and type(old).__qualname__ != cls.__qualname__:
            raise ValueError(f"search space {name!r} is registered twice ({type(old).__module__} and "
                             f"{cls.__module__})")
        unknown = sorted(set(cls.features) - set(FEATURES))
        if unknown:
            raise ValueError(f"search space {name!r} declares unknown feature(s) {unknown}; known: "
                             f"{', '.join(FEATURES)}")
        cls.name = name
        _REGISTRY[name] = cls()
        return cls

    return decorator


def unregister_space(name: str) -> None:
    """Remove space ``name`` (for tests that register a throwaway space)."""
    _REGISTRY.pop(name, None)


def _discover() -> None:
    """Import every module of :mod:`proxybench.benchmarks.spaces` once, so that their decorators run."""
    global _discovered
    if _discovered:
        return
    with _DISCOVERY_LOCK:
        if _discovered:
            return
        package = importlib.import_module(__package__)
        for info in pkgutil.iter_modules(package.__path__, __package__ + "."):
            short = info.name.rsplit(".", 1)[-1]
            if short != "base" and not short.startswith("_"):
                importlib.import_module(info.name)
        _discovered = True


def list_spaces() -> list[str]:
    """Names of the registered search spaces, sorted."""
    _discover()
    return sorted(_REGISTRY)


def all_spaces() -> dict[str, SearchSpace]:
    _discover()
    return dict(sorted(_REGISTRY.items()))


def get_space(space: str | SearchSpace | None = None) -> SearchSpace:
    """The registered space called ``space`` (``None``: :data:`DEFAULT_SPACE`); ``ValueError`` listing the valid
    names for an unknown one."""
    if isinstance(space, SearchSpace):
        return space
    _discover()
    name = DEFAULT_SPACE if space is None else str(space).strip().lower()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown search space {space!r}; valid: {', '.join(sorted(_REGISTRY))} (see 'proxybench "
                         "list spaces')") from None


def space_of(metadata: Mapping | None) -> SearchSpace:
    """The space a benchmark's architectures belong to: ``metadata["space"]``, :data:`DEFAULT_SPACE` when absent."""
    name = metadata.get("space") if isinstance(metadata, Mapping) else None
    return get_space(name or DEFAULT_SPACE)


def check_convention(convention: str) -> str:
    if convention not in FLOP_CONVENTIONS:
        raise ValueError(f"unknown FLOP convention {convention!r}; valid: {', '.join(FLOP_CONVENTIONS)}")
    return convention
