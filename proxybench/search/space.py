"""The search space of a student search: NB201 cells, optionally under a parameter / FLOP budget.

A cell is *valid* for a search when

* it satisfies the budget, with exact counts from :func:`proxybench.nb201.nb201_counts` for the network being
  searched (C, N, classes, input channels, resolution), checked before anything is scored;
* it is not a *zero cell* (no path of non-``none`` edges from the cell's input to its output, so the network's
  output does not depend on its input; 341 of the 15,625 cells), unless zero cells are allowed;
* it is in the restriction set when one is given (e.g. the architectures of a ground-truth table).

Mutation is Real et al.'s (AAAI 2019) for NB201: change the op of one edge to a different op. A mutant that is
not valid is drawn again; drawing uniformly among the 24 single-edge mutants and re-drawing until one is valid is
the same as drawing uniformly among the valid ones, which is what :meth:`SearchSpace.mutate` does (so it never
loops). When a parent has no valid single-edge mutant (possible under a tight budget or a restriction set), the
child is a uniformly drawn valid cell instead and is marked ``restart``.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ..benchmarks.nb201 import FLOP_CONVENTIONS, NUM_ARCHS, NUM_EDGES, OPS, all_archs, arch_to_ops, nb201_counts

BUDGET_FORM = ("params<=X or flops<=Y (millions; a K, M or G suffix is allowed, e.g. params<=500K), several "
               "joined by ',' (e.g. 'params<=0.5,flops<=80')")
_BUDGET_ITEM = re.compile(r"^\s*(params|flops)\s*<=\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([kKmMgG]?)\s*$")
_SCALE = {"": 1.0, "k": 1e-3, "m": 1.0, "g": 1e3}


@dataclass(frozen=True)
class Budget:
    """Upper bounds on parameters and FLOPs, in millions (``None``: no bound)."""

    max_params: float | None = None
    max_flops: float | None = None

    @property
    def active(self) -> bool:
        return self.max_params is not None or self.max_flops is not None

    def allows(self, params: float, flops: float) -> bool:
        return ((self.max_params is None or params <= self.max_params)
                and (self.max_flops is None or flops <= self.max_flops))

    def __str__(self) -> str:
        parts = []
        if self.max_params is not None:
            parts.append(f"params<={self.max_params:g}")
        if self.max_flops is not None:
            parts.append(f"flops<={self.max_flops:g}")
        return ",".join(parts) or "none"


def parse_budget(text: str | Budget | None) -> Budget:
    """``"params<=0.5"``, ``"flops<=80M"``, ``"params<=500K,flops<=40"`` -> :class:`Budget` (millions).
    ``None``, ``""`` or ``"none"``: no budget. Raises ``ValueError`` naming the bad value and the valid form."""
    if isinstance(text, Budget):
        return text
    if text is None or (isinstance(text, str) and text.strip().lower() in ("", "none")):
        return Budget()
    if not isinstance(text, str):
        raise ValueError(f"bad budget {text!r}: expected a string of the form {BUDGET_FORM}")
    bounds: dict[str, float] = {}
    for item in text.split(","):
        m = _BUDGET_ITEM.match(item)
        if not m:
            raise ValueError(f"bad budget {text!r} (at {item.strip()!r}): expected {BUDGET_FORM}")
        key, number, suffix = m.group(1), float(m.group(2)), m.group(3).lower()
        if key in bounds:
            raise ValueError(f"bad budget {text!r}: {key} is bounded twice; expected {BUDGET_FORM}")
        value = number * _SCALE[suffix]
        if not value > 0:
            raise ValueError(f"bad budget {text!r}: the bound on {key} must be > 0; expected {BUDGET_FORM}")
        bounds[key] = value
    return Budget(max_params=bounds.get("params"), max_flops=bounds.get("flops"))


# ---- the 15,625 cells as op tuples, once per process ------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _space_arrays() -> tuple[tuple[tuple[int, ...], ...], dict[tuple[int, ...], int], np.ndarray]:
    """(op tuple of every official index, op tuple -> index, zero-cell flags)."""
    ops = tuple(arch_to_ops(a) for a in all_archs())
    index = {o: i for i, o in enumerate(ops)}
    arr = np.asarray(ops, dtype=np.int8)  # (15625, 6), edges (1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2)
    live = arr != OPS.index("none")
    n1 = live[:, 0]
    n2 = live[:, 1] | (n1 & live[:, 2])
    n3 = live[:, 3] | (n1 & live[:, 4]) | (n2 & live[:, 5])
    return ops, index, ~n3


def index_to_ops(index: int) -> tuple[int, ...]:
    return _space_arrays()[0][index]


def ops_to_index(ops: Sequence[int]) -> int:
    return _space_arrays()[1][tuple(ops)]


def zero_cell_flags() -> np.ndarray:
    """Boolean array over official indices: True for cells whose output never depends on the input."""
    return _space_arrays()[2]


def mutants(ops: Sequence[int]) -> list[tuple[int, ...]]:
    """The 24 single-edge mutants of ``ops``, in a fixed order (edge, then op)."""
    out = []
    for pos in range(NUM_EDGES):
        for op in range(len(OPS)):
            if op != ops[pos]:
                child = list(ops)
                child[pos] = op
                out.append(tuple(child))
    return out


class SearchSpace:
    """Valid NB201 cells for one search (see the module docstring)."""

    def __init__(self, budget: Budget | str | None = None, *, C: int = 16, N: int = 5, num_classes: int = 10,
                 in_channels: int = 3, resolution: int = 32, flop_convention: str = "naslib",
                 allow_zero_cells: bool = False, restrict_to: Iterable[int] | None = None):
        if flop_convention not in FLOP_CONVENTIONS:
            raise ValueError(f"unknown FLOP convention {flop_convention!r}; valid: {', '.join(FLOP_CONVENTIONS)}")
        self.budget = parse_budget(budget)
        self.network = {"C": C, "N": N, "num_classes": num_classes, "in_channels": in_channels,
                        "resolution": resolution}
        self.flop_convention = flop_convention
        self.allow_zero_cells = bool(allow_zero_cells)
        self._counts: dict[tuple[int, ...], tuple[float, float]] = {}
        nb201_counts(tuple([3] * NUM_EDGES), **self.network, convention=flop_convention)  # validates the config
        self.restricted = restrict_to is not None
        self._restrict: frozenset[int] | None = None
        if restrict_to is not None:
            idx = sorted({int(i) for i in restrict_to})
            bad = [i for i in idx if not 0 <= i < NUM_ARCHS]
            if bad:
                raise ValueError(f"restriction set has arch index {bad[0]} out of range; valid: 0..{NUM_ARCHS - 1}")
            if not idx:
                raise ValueError("the restriction set of the search space is empty")
            self._restrict = frozenset(idx)
        self._valid = self._compute_valid()
        self.feasible: list[int] = [int(i) for i in np.flatnonzero(self._valid)]
        if not self.feasible:
            raise ValueError(self._empty_message())

    # ---- counts and validity ---------------------------------------------------------------------------------
    def _counts_of_multiset(self, multiset: tuple[int, ...]) -> tuple[float, float]:
        hit = self._counts.get(multiset)
        if hit is None:
            hit = self._counts[multiset] = nb201_counts(multiset, **self.network, convention=self.flop_convention)
        return hit

    def counts(self, arch: int | Sequence[int]) -> tuple[float, float]:
        """(params M, FLOPs M) of the network for ``arch`` (an official index or an op tuple). Counts depend only
        on the multiset of ops, so they are computed once per multiset (126 of them)."""
        ops = index_to_ops(int(arch)) if not isinstance(arch, (tuple, list)) else tuple(arch)
        return self._counts_of_multiset(tuple(sorted(ops)))

    def _compute_valid(self) -> np.ndarray:
        ops_all = _space_arrays()[0]
        valid = np.ones(NUM_ARCHS, dtype=bool)
        if not self.allow_zero_cells:
            valid &= ~zero_cell_flags()
        if self._restrict is not None:
            mask = np.zeros(NUM_ARCHS, dtype=bool)
            mask[list(self._restrict)] = True
            valid &= mask
        if self.budget.active:
            ok = {}
            for i in np.flatnonzero(valid):
                key = tuple(sorted(ops_all[i]))
                if key not in ok:
                    ok[key] = self.budget.allows(*self._counts_of_multiset(key))
                valid[i] = ok[key]
        return valid

    def why_invalid(self, index: int) -> str | None:
        """``None`` for a valid cell, else the reason."""
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= int(index) < NUM_ARCHS:
            return f"{index!r} is not an official NB201 index (0..{NUM_ARCHS - 1})"
        i = int(index)
        if self._valid[i]:
            return None
        if not self.allow_zero_cells and zero_cell_flags()[i]:
            return "zero cell (no path from the cell's input to its output)"
        if self._restrict is not None and i not in self._restrict:
            return "not in the restriction set"
        params, flops = self.counts(i)
        return f"over budget {self.budget} ({params:.6f} M params, {flops:.6f} M FLOPs)"

    def is_valid(self, index: int) -> bool:
        return self.why_invalid(index) is None

    def _empty_message(self) -> str:
        if self.budget.active:
            ops_all = _space_arrays()[0]
            candidates = [i for i in range(NUM_ARCHS)
                          if (self.allow_zero_cells or not zero_cell_flags()[i])
                          and (self._restrict is None or i in self._restrict)]
            if candidates:
                counts = [self.counts(ops_all[i]) for i in candidates]
                return (f"no cell satisfies the budget {self.budget} (network C={self.network['C']}, "
                        f"N={self.network['N']}, {self.network['num_classes']} classes, "
                        f"{self.network['resolution']}x{self.network['resolution']} input, FLOPs in the "
                        f"{self.flop_convention} convention): the smallest cell has "
                        f"{min(c[0] for c in counts):.6f} M params and {min(c[1] for c in counts):.6f} M FLOPs")
        return "no valid cell: the restriction set holds only zero cells (pass allow_zero_cells=True to keep them)"

    # ---- proposals --------------------------------------------------------------------------------------------------
    def random_index(self, rng: random.Random) -> int:
        """A valid cell drawn uniformly."""
        return self.feasible[rng.randrange(len(self.feasible))]

    def valid_mutants(self, index: int) -> list[int]:
        """Official indices of the valid single-edge mutants of ``index``, in :func:`mutants` order."""
        return [j for j in (ops_to_index(m) for m in mutants(index_to_ops(int(index)))) if self._valid[j]]

    def mutate(self, index: int, rng: random.Random) -> tuple[int, str]:
        """A valid single-edge mutant of ``index`` drawn uniformly, and ``"mutation"``; or, when there is none, a
        uniformly drawn valid cell and ``"restart"``."""
        children = self.valid_mutants(index)
        if not children:
            return self.random_index(rng), "restart"
        return children[rng.randrange(len(children))], "mutation"

    def describe(self) -> dict:
        return {"budget": str(self.budget), "max_params_M": self.budget.max_params,
                "max_flops_M": self.budget.max_flops, "flop_convention": self.flop_convention,
                "network": dict(self.network), "allow_zero_cells": self.allow_zero_cells,
                "restricted": self.restricted, "valid_cells": len(self.feasible)}
