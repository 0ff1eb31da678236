"""The architectures a student search may propose: one search space (NB201 by default, or any registered plugin,
e.g. DisWOT's S1), optionally under a parameter / FLOP budget.

An architecture is *valid* for a search when

* it satisfies the budget, with exact counts from the space (:meth:`SearchSpace.counts
  <proxybench.benchmarks.spaces.SearchSpace.counts>`; NB201: :func:`proxybench.nb201.nb201_counts`) for the network
  being searched (the space's settings such as NB201's C and N, classes, input channels, resolution), checked before
  anything is scored;
* the space does not exclude it by default (NB201: a *zero cell*, no path of non-``none`` edges from the cell's input
  to its output, so the network's output does not depend on its input; 341 of the 15,625 cells), unless such
  architectures are allowed;
* it is in the restriction set when one is given (e.g. the architectures of a ground-truth table).

Mutation is the space's single step (:meth:`SearchSpace.neighbours`): for NB201 Real et al.'s (AAAI 2019), change
the op of one edge to a different op (24 mutants); for S1, change one stage's depth (9 mutants). A mutant that is
not valid is drawn again; drawing uniformly among the mutants and re-drawing until one is valid is the same as
drawing uniformly among the valid ones, which is what :meth:`SearchDomain.mutate` does (so it never loops). When a
parent has no valid mutant (possible under a tight budget or a restriction set), the child is a uniformly drawn
valid architecture instead and is marked ``restart``.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..benchmarks.spaces import FLOP_CONVENTIONS, SearchSpace, get_space
from ..benchmarks.spaces.nb201 import index_to_ops, mutants, ops_to_index, zero_cell_flags

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


# ---- the valid architectures of one search ---------------------------------------------------------------------
__all__ = ["BUDGET_FORM", "Budget", "SearchDomain", "index_to_ops", "mutants", "ops_to_index", "parse_budget",
           "zero_cell_flags"]


class SearchDomain:
    """The valid architectures of one search in ``space`` (see the module docstring).

    ``network``: the space's network settings (NB201: ``C``, ``N``); the counts use them with ``num_classes``,
    ``in_channels`` and ``resolution``. NB201's ``C=`` and ``N=`` keywords are still accepted."""

    def __init__(self, budget: Budget | str | None = None, *, space: str | SearchSpace | None = None,
                 network: Mapping[str, Any] | None = None, num_classes: int = 10, in_channels: int = 3,
                 resolution: int = 32, flop_convention: str = "naslib", allow_zero_cells: bool = False,
                 restrict_to: Iterable[int] | None = None, C: int | None = None, N: int | None = None):
        if flop_convention not in FLOP_CONVENTIONS:
            raise ValueError(f"unknown FLOP convention {flop_convention!r}; valid: {', '.join(FLOP_CONVENTIONS)}")
        self.space = get_space(space)
        settings = dict(network or {})
        for key, value in (("C", C), ("N", N)):
            if value is not None:
                settings[key] = value
        self.settings = self.space.check_network(settings)
        self.budget = parse_budget(budget)
        self.network = {**self.settings, "num_classes": num_classes, "in_channels": in_channels,
                        "resolution": resolution}
        self.flop_convention = flop_convention
        self.allow_zero_cells = bool(allow_zero_cells)
        self._counts: dict[Any, tuple[float, float]] = {}
        n = self.space.num_archs
        self.space.counts(0, **self.network, convention=flop_convention)  # validates the config
        self.restricted = restrict_to is not None
        self._restrict: frozenset[int] | None = None
        if restrict_to is not None:
            idx = sorted({int(i) for i in restrict_to})
            bad = [i for i in idx if not 0 <= i < n]
            if bad:
                raise ValueError(f"restriction set has arch index {bad[0]} out of range; valid: 0..{n - 1}")
            if not idx:
                raise ValueError("the restriction set of the search space is empty")
            self._restrict = frozenset(idx)
        self._excluded, self._excluded_reason = self.space.excluded()
        self._valid = self._compute_valid()
        self.feasible: list[int] = [int(i) for i in np.flatnonzero(self._valid)]
        if not self.feasible:
            raise ValueError(self._empty_message())

    # ---- counts and validity ---------------------------------------------------------------------------------
    def _counts_of_key(self, key: Any) -> tuple[float, float]:
        hit = self._counts.get(key)
        if hit is None:
            hit = self._counts[key] = self.space.counts(key, **self.network, convention=self.flop_convention)
        return hit

    def counts(self, arch: int | Sequence[int]) -> tuple[float, float]:
        """(params M, FLOPs M) of the network for ``arch`` (an index, or for NB201 an op tuple). Counts are
        computed once per :meth:`SearchSpace.count_key` (NB201: the multiset of ops, 126 of them)."""
        if isinstance(arch, (tuple, list)):
            arch = self.space.arch_to_index(tuple(arch))
        return self._counts_of_key(self.space.count_key(int(arch)))

    def _drop_excluded(self) -> bool:
        return self._excluded is not None and not self.allow_zero_cells

    def _compute_valid(self) -> np.ndarray:
        n = self.space.num_archs
        valid = np.ones(n, dtype=bool)
        if self._drop_excluded():
            valid &= ~self._excluded
        if self._restrict is not None:
            mask = np.zeros(n, dtype=bool)
            mask[list(self._restrict)] = True
            valid &= mask
        if self.budget.active:
            ok: dict[Any, bool] = {}
            for i in np.flatnonzero(valid):
                key = self.space.count_key(int(i))
                if key not in ok:
                    ok[key] = self.budget.allows(*self._counts_of_key(key))
                valid[i] = ok[key]
        return valid

    def why_invalid(self, index: int) -> str | None:
        """``None`` for a valid architecture, else the reason."""
        n = self.space.num_archs
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= int(index) < n:
            kind = "an official NB201 index" if self.space.name == "nb201" else f"an index of {self.space.name}"
            return f"{index!r} is not {kind} (0..{n - 1})"
        i = int(index)
        if self._valid[i]:
            return None
        if self._drop_excluded() and self._excluded[i]:
            return self._excluded_reason
        if self._restrict is not None and i not in self._restrict:
            return "not in the restriction set"
        params, flops = self.counts(i)
        return f"over budget {self.budget} ({params:.6f} M params, {flops:.6f} M FLOPs)"

    def is_valid(self, index: int) -> bool:
        return self.why_invalid(index) is None

    def _empty_message(self) -> str:
        if self.budget.active:
            candidates = [i for i in range(self.space.num_archs)
                          if (not self._drop_excluded() or not self._excluded[i])
                          and (self._restrict is None or i in self._restrict)]
            if candidates:
                counts = [self.counts(i) for i in candidates]
                net = ", ".join(f"{k}={v}" for k, v in self.settings.items())
                return (f"no cell satisfies the budget {self.budget} (network {self.space.name}"
                        f"{', ' + net if net else ''}, {self.network['num_classes']} classes, "
                        f"{self.network['resolution']}x{self.network['resolution']} input, FLOPs in the "
                        f"{self.flop_convention} convention): the smallest cell has "
                        f"{min(c[0] for c in counts):.6f} M params and {min(c[1] for c in counts):.6f} M FLOPs")
        return ("no valid cell: the restriction set holds only architectures the space excludes by default "
                f"({self._excluded_reason}; pass allow_zero_cells=True to keep them)")

    # ---- proposals --------------------------------------------------------------------------------------------------
    def random_index(self, rng: random.Random) -> int:
        """A valid architecture drawn uniformly."""
        return self.feasible[rng.randrange(len(self.feasible))]

    def valid_mutants(self, index: int) -> list[int]:
        """Indices of the valid single-step mutants of ``index``, in the space's order."""
        return [j for j in self.space.neighbours(int(index)) if self._valid[j]]

    def mutate(self, index: int, rng: random.Random) -> tuple[int, str]:
        """A valid single-step mutant of ``index`` drawn uniformly, and ``"mutation"``; or, when there is none, a
        uniformly drawn valid architecture and ``"restart"``."""
        children = self.valid_mutants(index)
        if not children:
            return self.random_index(rng), "restart"
        return children[rng.randrange(len(children))], "mutation"

    def describe(self) -> dict:
        return {"space": self.space.name, "budget": str(self.budget), "max_params_M": self.budget.max_params,
                "max_flops_M": self.budget.max_flops, "flop_convention": self.flop_convention,
                "network": dict(self.network), "allow_zero_cells": self.allow_zero_cells,
                "restricted": self.restricted, "valid_cells": len(self.feasible)}
