"""NAS-Bench-201 as a search space plugin: the 15,625 cells in NB201's official index order, the "infer.tiny"
network (C=16, N=5 by default), its closed-form counts, its zero cells and single-edge mutation.

Everything is delegated to :mod:`proxybench.benchmarks.nb201`; this module only fits it to the
:class:`~proxybench.benchmarks.spaces.base.SearchSpace` contract, so NB201 behaves as it always did.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from .. import nb201
from ..nb201.counts import nb201_counts
from .base import SearchSpace, check_convention, register_space


@functools.lru_cache(maxsize=1)
def _arrays() -> tuple[tuple[tuple[int, ...], ...], dict[tuple[int, ...], int], np.ndarray]:
    """(op tuple of every official index, op tuple -> index, zero-cell flags)."""
    ops = tuple(nb201.arch_to_ops(a) for a in nb201.all_archs())
    index = {o: i for i, o in enumerate(ops)}
    arr = np.asarray(ops, dtype=np.int8)  # (15625, 6), edges (1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2)
    live = arr != nb201.OPS.index("none")
    n1 = live[:, 0]
    n2 = live[:, 1] | (n1 & live[:, 2])
    n3 = live[:, 3] | (n1 & live[:, 4]) | (n2 & live[:, 5])
    return ops, index, ~n3


def index_to_ops(index: int) -> tuple[int, ...]:
    return _arrays()[0][index]


def ops_to_index(ops) -> int:
    return _arrays()[1][tuple(ops)]


def zero_cell_flags() -> np.ndarray:
    """Boolean array over official indices: True for cells whose output never depends on the input."""
    return _arrays()[2]


def mutants(ops) -> list[tuple[int, ...]]:
    """The 24 single-edge mutants of ``ops``, in a fixed order (edge, then op)."""
    out = []
    for pos in range(nb201.NUM_EDGES):
        for op in range(len(nb201.OPS)):
            if op != ops[pos]:
                child = list(ops)
                child[pos] = op
                out.append(tuple(child))
    return out


@register_space("nb201")
class NB201Space(SearchSpace):
    title = "NAS-Bench-201"
    description = ("NB201's 15,625 cells (4 nodes, 6 edges, 5 ops) in the infer.tiny network (C=16, N=5), official "
                   "index order")
    arch_form = ("an official NB201 index 0..15624 or an arch string |op~0|+|op~0|op~1|+|op~0|op~1|op~2| (ops: "
                 + ", ".join(nb201.OPS) + ")")
    paper = "Dong & Yang, NAS-Bench-201: Extending the Scope of Reproducible Neural Architecture Search, ICLR 2020"
    features = frozenset({"stages", "blocks", "nb201-cell"})
    network_keys = ("C", "N")
    network_defaults = {"C": 16, "N": 5}

    def all_archs(self):
        return nb201.all_archs()

    def parse_arch(self, arch: Any) -> str:
        try:
            return nb201.parse_arch(arch.strip() if isinstance(arch, str) else arch)
        except (ValueError, IndexError, KeyError, TypeError) as exc:
            raise ValueError(f"bad NB201 architecture {arch!r}: {exc}; give {self.arch_form}") from None

    def arch_to_index(self, arch: Any) -> int:
        return nb201.arch_to_index(self.parse_arch(arch))

    def index_to_arch(self, index: Any) -> str:
        return nb201.index_to_arch(self.check_index(index))

    def construct(self, arch: str, num_classes: int, in_channels: int, **network: Any):
        from ..nb201.network import NB201Network

        return NB201Network(arch, C=network["C"], N=network["N"], num_classes=num_classes, in_channels=in_channels)

    def build_network(self, arch: Any, num_classes: int = 10, in_channels: int = 3, *, seed: int | None = None,
                      init: str = "default", **network: Any):
        """:func:`proxybench.nb201.build_network` itself (C and N from ``network``)."""
        config = self.check_network(network)
        return nb201.build_network(self.parse_arch(arch), C=config["C"], N=config["N"], num_classes=num_classes,
                                   in_channels=in_channels, seed=seed, init=init)

    def counts(self, arch: Any, *, num_classes: int = 10, in_channels: int = 3, resolution: int = 32,
               convention: str = "naslib", **network: Any) -> tuple[float, float]:
        config = self.check_network(network)
        return nb201_counts(self.parse_arch(arch), C=config["C"], N=config["N"], num_classes=num_classes,
                            in_channels=in_channels, resolution=resolution, convention=check_convention(convention))

    def count_key(self, index: int) -> tuple[int, ...]:
        """Counts depend only on the multiset of ops: 126 keys over the 15,625 cells."""
        return tuple(sorted(index_to_ops(int(index))))

    def excluded(self) -> tuple[np.ndarray, str]:
        return zero_cell_flags(), "zero cell (no path from the cell's input to its output)"

    def neighbours(self, index: int) -> list[int]:
        """The 24 single-edge mutants (Real et al.'s mutation for NB201), in :func:`mutants` order."""
        return [ops_to_index(m) for m in mutants(index_to_ops(self.check_index(index)))]
