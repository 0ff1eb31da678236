"""NAS-Bench-201: the cell space, its encodings and canonical forms, the network and its counts.

The space (:mod:`.space`: strings, indices, encodings, canonical forms) and the closed-form counts
(:mod:`.counts`) need no torch, and importing this package does not load it. The network (:mod:`.network`,
:func:`build_network`) and the measured counts (:func:`count_flops`) load torch when first used.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import import_module
from typing import TYPE_CHECKING

from .counts import FLOP_CONVENTIONS, count_flops, count_params, nb201_counts, nb201_flops, nb201_params
from .space import (
    CANONICAL_RULES,
    EDGES,
    NASLIB_OPS,
    NUM_ARCHS,
    NUM_EDGES,
    OPS,
    all_archs,
    arch_to_index,
    arch_to_naslib,
    arch_to_ops,
    canonical_key,
    index_to_arch,
    is_zero_cell,
    naslib_to_arch,
    naslib_to_ops,
    num_unique,
    ops_to_arch,
    ops_to_naslib,
    parse_arch,
    representative_index,
    sample_indices,
    unique_indices,
)

if TYPE_CHECKING:
    from .network import NB201Network

_LAZY = {"Cell": ".network", "NB201Network": ".network", "INIT_SCHEMES": "...initialization",
         "initialize": "...initialization"}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def build_network(arch: str | int | Sequence[int], C: int = 16, N: int = 5, num_classes: int = 10,
                  in_channels: int = 3, *, seed: int | None = None, init: str = "default") -> NB201Network:
    """The NB201 "infer.tiny" network for ``arch`` (string, official index or op-index tuple).

    With ``seed`` the weights are initialized by ``init`` (one of :data:`INIT_SCHEMES`) from that seed, so the
    same seed gives bitwise-identical weights; without it PyTorch's default init draws from the global RNG.
    """
    import torch

    from ...initialization import INIT_SCHEMES, initialize
    from .network import NB201Network

    if init not in INIT_SCHEMES:
        raise ValueError(f"unknown init scheme {init!r}; valid: {', '.join(INIT_SCHEMES)}")
    arch = parse_arch(arch)
    if seed is None:
        model = NB201Network(arch, C=C, N=N, num_classes=num_classes, in_channels=in_channels)
        return initialize(model, init, 0) if init != "default" else model
    # construction draws from the global RNG: do it inside a forked, seeded state so the caller's RNG is untouched
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = NB201Network(arch, C=C, N=N, num_classes=num_classes, in_channels=in_channels)
    return initialize(model, init, seed)


__all__ = [
    "CANONICAL_RULES", "EDGES", "FLOP_CONVENTIONS", "INIT_SCHEMES", "NASLIB_OPS", "NUM_ARCHS", "NUM_EDGES", "OPS",
    "Cell",
    "NB201Network", "all_archs", "arch_to_index", "arch_to_naslib", "arch_to_ops", "build_network",
    "canonical_key", "count_flops", "count_params", "index_to_arch", "initialize", "is_zero_cell",
    "naslib_to_arch", "naslib_to_ops", "nb201_counts", "nb201_flops", "nb201_params", "num_unique",
    "ops_to_arch", "ops_to_naslib", "parse_arch", "representative_index", "sample_indices", "unique_indices",
]
