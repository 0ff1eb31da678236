"""Fitness of an architecture during a search, and the book that scores each architecture once.

Fitness kinds (:func:`parse_fitness` reads them from ``--proxy``):

* a registered proxy ``NAME``: its score on the network (the engine's sign convention: higher = predicted
  better), computed by :func:`proxybench.engine.score_unit` exactly as ``proxybench eval`` computes it;
* a rank ensemble ``ens:NAME1+NAME2+...``: the rank-sum ensemble of TE-NAS (Chen et al., ICLR 2021) and AZ-NAS
  (Lee & Ham, CVPR 2024) made *online*. A rank needs a reference set, and during a search the only set there is
  is the architectures scored so far, H. The fitness of an architecture a in H is its mean percentile rank::

      f(a) = 1/|P| * sum_{p in P} rank_p(a; H) / |H|

  with ``rank_p`` the ascending average rank of a's score for proxy p among the archs of H (ties averaged), i.e.
  :func:`proxybench.analysis.ensembles.rank_sum` over H divided by |P| |H|, in (0, 1]. On a fixed H it orders
  archs exactly as the offline rank-sum ensemble does. It is recomputed over the current H whenever archs are
  compared (each tournament, each best-so-far), so an arch scored early is re-ranked as H grows and the
  best-so-far arch may change to an earlier one. The trajectory's ``score`` is f at the cycle it was proposed.
  The member proxies of each arch are still computed once (shared passes) and cached;
* ``oracle``: the ground-truth value of the arch (a table lookup; an upper bound on what a proxy can do);
* any callable ``fitness(arch_index) -> float`` (Python API).

An arch whose fitness is not finite (a proxy error or NaN, an arch missing from the oracle's table) has fitness
-inf: it is never picked as a parent unless the whole tournament is, and never reported as the best.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..analysis.ensembles import rank_sum
from ..benchmarks.nb201 import index_to_arch

ENSEMBLE_PREFIX = "ens:"
ORACLE = "oracle"
FITNESS_FORMS = "a proxy NAME, a rank ensemble ens:NAME1+NAME2[+...], or 'oracle' (the ground truth itself)"


@dataclass
class Evaluation:
    """What scoring one architecture gave: member scores (higher = better), statuses and errors."""

    arch_index: int
    arch: str
    scores: dict[str, float]
    statuses: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    member_seconds: dict[str, float] = field(default_factory=dict)  # per member (shared passes: the first user)

    @property
    def status(self) -> str:
        states = set(self.statuses.values())
        for s in ("error", "missing", "nan"):
            if s in states:
                return s
        return "ok"

    @property
    def error(self) -> str:
        return "; ".join(f"{k}: {v}" for k, v in self.errors.items() if v)

    @property
    def finite(self) -> bool:
        return all(math.isfinite(v) for v in self.scores.values())


class Fitness:
    """Base class: ``evaluate`` scores one arch (once per search); ``values`` gives the current fitness of archs
    already evaluated, given every evaluation so far (``records``, in evaluation order)."""

    name = "fitness"
    kind = "callable"
    members: tuple[str, ...] = ()
    online = False  # True when an arch's fitness depends on the other archs scored (rank ensembles)

    def evaluate(self, arch_index: int, arch: str) -> Evaluation:
        raise NotImplementedError

    def values(self, records: Mapping[int, Evaluation], indices: Sequence[int]) -> np.ndarray:
        out = np.empty(len(indices))
        for k, i in enumerate(indices):
            v = records[i].scores[self.members[0]]
            out[k] = v if math.isfinite(v) else -np.inf
        return out

    def describe(self) -> dict:
        return {"name": self.name, "kind": self.kind, "members": list(self.members), "online": self.online}


class CallableFitness(Fitness):
    """``fn(arch_index) -> float``; an exception or a non-finite value makes the arch's fitness -inf."""

    kind = "callable"

    def __init__(self, fn: Callable[[int], float], name: str | None = None):
        if not callable(fn):
            raise ValueError(f"fitness must be callable as fitness(arch_index) -> float, got {type(fn).__name__}")
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "callable")
        self.members = (self.name,)

    def evaluate(self, arch_index: int, arch: str) -> Evaluation:
        t0 = time.perf_counter()
        try:
            value = float(self.fn(arch_index))
            status, err = ("ok" if math.isfinite(value) else "nan"), ""
        except Exception as exc:  # noqa: BLE001  (a failing fitness marks the arch, the search goes on)
            value, status, err = math.nan, "error", f"{type(exc).__name__}: {exc}"
        return Evaluation(arch_index, arch, {self.name: value}, {self.name: status}, {self.name: err},
                          time.perf_counter() - t0)


class OracleFitness(CallableFitness):
    """The ground-truth value of the arch (``table``: float Series indexed by arch_index). An arch absent from the
    table has status ``missing`` and fitness -inf."""

    kind = "oracle"

    def __init__(self, table: pd.Series, name: str | None = None):
        if not isinstance(table, pd.Series) or table.empty:
            raise ValueError("the oracle fitness needs a non-empty ground-truth table (a Series by arch_index)")
        self.table = table
        lookup = {int(i): float(v) for i, v in table.items()}
        self.name = name or (f"oracle:{table.name}" if table.name else "oracle")
        self.members = (self.name,)
        self.fn = lookup.__getitem__
        self._lookup = lookup

    def evaluate(self, arch_index: int, arch: str) -> Evaluation:
        t0 = time.perf_counter()
        if arch_index not in self._lookup:
            return Evaluation(arch_index, arch, {self.name: math.nan}, {self.name: "missing"},
                              {self.name: "not in the ground-truth table"}, time.perf_counter() - t0)
        return super().evaluate(arch_index, arch)


class ProxyFitness(Fitness):
    """Registered proxies scored on the network of each arch (in the search space the job's network config names),
    with the engine's :func:`score_unit` (network built once with ``seed``, passes shared between members). One
    member: its score is the fitness."""

    kind = "proxy"

    def __init__(self, proxies: Sequence[str], job: Any, seed: int = 0, name: str | None = None):
        self.members = tuple(proxies)
        self.job = job
        self.seed = int(seed)
        self.name = name or self.members[0]

    def evaluate(self, arch_index: int, arch: str) -> Evaluation:
        from ..engine.executors import Task, score_unit

        t0 = time.perf_counter()
        unit = score_unit(self.job, Task(int(arch_index), arch, self.seed, self.members))
        scores, statuses, errors, secs = {}, {}, {}, {}
        for proxy, score, seconds, status, error, _batch in unit.results:
            scores[proxy], statuses[proxy], errors[proxy], secs[proxy] = float(score), status, error, float(seconds)
        return Evaluation(arch_index, arch, scores, statuses, errors, time.perf_counter() - t0, secs)


class EnsembleFitness(ProxyFitness):
    """Online rank-sum ensemble of its member proxies (see the module docstring)."""

    kind = "ensemble"
    online = True

    def __init__(self, proxies: Sequence[str], job: Any, seed: int = 0, name: str | None = None):
        super().__init__(proxies, job, seed, name or ENSEMBLE_PREFIX + "+".join(proxies))
        self._memo: tuple[int, dict[int, float]] | None = None

    def ranks(self, records: Mapping[int, Evaluation]) -> dict[int, float]:
        """Mean percentile rank of every arch in ``records`` with all members finite (memoized per size)."""
        if self._memo is not None and self._memo[0] == len(records):
            return self._memo[1]
        keys = [i for i, ev in records.items() if ev.finite]
        lookup: dict[int, float] = {}
        if keys:
            matrix = np.array([[records[i].scores[m] for i in keys] for m in self.members], dtype=float)
            fit = rank_sum(matrix) / (len(self.members) * len(keys))
            lookup = dict(zip(keys, fit.tolist()))
        self._memo = (len(records), lookup)
        return lookup

    def values(self, records: Mapping[int, Evaluation], indices: Sequence[int]) -> np.ndarray:
        lookup = self.ranks(records)
        return np.array([lookup.get(i, -np.inf) for i in indices], dtype=float)


def parse_fitness(spec: str) -> tuple[str, list[str]]:
    """``"NAME"`` -> ("proxy", [NAME]); ``"ens:A+B"`` -> ("ensemble", [A, B]); ``"oracle"`` -> ("oracle", []).
    Proxy names (aliases such as ``jacob_cov`` accepted) are checked against the registry (``ValueError`` listing
    the valid ones)."""
    from ..analysis.naslib import proxy_name
    from ..proxies import get_spec

    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"bad fitness {spec!r}: expected {FITNESS_FORMS}")
    text = spec.strip()
    if text == ORACLE:
        return "oracle", []
    if text.startswith(ENSEMBLE_PREFIX):
        members = [proxy_name(m.strip()) for m in text[len(ENSEMBLE_PREFIX):].split("+")]
        if not members or any(not m for m in members):
            raise ValueError(f"bad ensemble {spec!r}: expected ens:NAME1+NAME2[+...] with registered proxy names")
        dup = sorted({m for m in members if members.count(m) > 1})
        if dup:
            raise ValueError(f"bad ensemble {spec!r}: proxy {dup[0]!r} is listed twice")
        for m in members:
            get_spec(m)
        return "ensemble", members
    text = proxy_name(text)
    get_spec(text)
    return "proxy", [text]


class ScoreBook:
    """The state of one search: each arch's evaluation (cached by index, so an arch is scored once per search) and
    one trajectory row per proposal.

    Every proposal is checked against the search space first: proposing an invalid cell is a bug and raises
    ``RuntimeError``. If the first ``fail_fast`` archs scored all have a non-finite fitness, the search stops
    with ``RuntimeError`` quoting the first error (a proxy that cannot run here would otherwise burn the budget).
    """

    def __init__(self, fitness: Fitness, space: Any, *, on_row: Callable[[dict], None] | None = None,
                 fail_fast: int = 5):
        self.fitness = fitness
        self.space = space
        self.records: dict[int, Evaluation] = {}
        self.rows: list[dict] = []
        self.on_row = on_row
        self.fail_fast = int(fail_fast)
        self.scoring_seconds = 0.0
        self._best: tuple[int | None, float] = (None, -math.inf)
        self._t0 = self._last = time.perf_counter()
        self.id = uuid.uuid4().hex[:8]

    @property
    def n_proposed(self) -> int:
        return len(self.rows)

    def values(self, indices: Sequence[int]) -> np.ndarray:
        return self.fitness.values(self.records, list(indices))

    def best(self) -> tuple[int | None, float]:
        """(index, fitness) of the best arch scored so far; the first scored wins ties. (None, nan) if none has a
        finite fitness."""
        if self.fitness.online:
            keys = list(self.records)
            vals = self.values(keys) if keys else np.empty(0)
            if not len(vals) or not np.isfinite(vals).any():
                return None, math.nan
            k = int(np.argmax(vals))
            return keys[k], float(vals[k])
        idx, val = self._best
        return (idx, val) if idx is not None else (None, math.nan)

    def propose(self, index: int, phase: str, parent: int | None = None) -> float:
        """Score ``index`` unless already scored, record the trajectory row, return its current fitness."""
        reason = self.space.why_invalid(index)
        if reason is not None:
            raise RuntimeError(f"the search proposed an invalid architecture {index!r}: {reason}")
        index = int(index)
        cached = index in self.records
        if not cached:
            space = getattr(self.space, "space", None)
            ev = self.fitness.evaluate(index, space.index_to_arch(index) if space is not None else index_to_arch(index))
            self.records[index] = ev
            self.scoring_seconds += ev.seconds
            self._check_failures()
        value = float(self.values([index])[0])
        if not self.fitness.online and value > self._best[1]:
            self._best = (index, value)
        best_idx, best_val = self.best()
        ev = self.records[index]
        now = time.perf_counter()
        row = {
            "cycle": len(self.rows) + 1, "phase": phase, "arch_index": index, "arch": ev.arch,
            "parent_index": -1 if parent is None else int(parent),
            "score": value if math.isfinite(value) else math.nan, "cached": cached, "status": ev.status,
            "best_so_far_score": best_val, "best_so_far_index": -1 if best_idx is None else best_idx,
            "best_so_far_arch": "" if best_idx is None else self.records[best_idx].arch,
            "seconds": now - self._last, "elapsed": now - self._t0,
        }
        self._last = now
        self.rows.append(row)
        if self.on_row is not None:
            self.on_row(row)
        return value

    def _check_failures(self) -> None:
        n = len(self.records)
        if n != self.fail_fast:
            return
        if any(np.isfinite(self.values(list(self.records)))) or any(ev.finite for ev in self.records.values()):
            return
        first = next(iter(self.records.values()))
        why = first.error or f"status {first.status}"
        hint = ""
        if all(ev.status == "missing" for ev in self.records.values()):
            hint = " (the table covers few archs: search only the table's archs with --space table)"
        raise RuntimeError(f"fitness {self.fitness.name!r} gave no finite value on the first {n} architectures "
                           f"scored; first: arch {first.arch_index}: {why}{hint}")

    # ---- tables ------------------------------------------------------------------------------------------------
    def trajectory(self) -> pd.DataFrame:
        cols = ["cycle", "phase", "arch_index", "arch", "parent_index", "score", "cached", "status",
                "best_so_far_score", "best_so_far_index", "best_so_far_arch", "seconds", "elapsed"]
        return pd.DataFrame(self.rows, columns=cols)

    def scores(self, seed: int = 0) -> pd.DataFrame:
        """Tidy scores of every arch scored: one row per (arch, member proxy), like ``proxybench eval``'s."""
        rows = []
        for ev in self.records.values():
            for m in self.fitness.members:
                rows.append({"arch_index": ev.arch_index, "arch": ev.arch, "proxy": m, "seed": seed,
                             "score": ev.scores.get(m, math.nan),
                             "seconds": ev.member_seconds.get(m, ev.seconds),
                             "status": ev.statuses.get(m, "error"), "error": ev.errors.get(m, "")})
        return pd.DataFrame(rows, columns=["arch_index", "arch", "proxy", "seed", "score", "seconds", "status",
                                           "error"])
