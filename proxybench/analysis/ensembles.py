"""Rank-aggregation ensembles of proxies, usable like any proxy.

* ``rank_sum`` -- the combination of TE-NAS (Chen et al., ICLR 2021) and AZ-NAS (Lee & Ham, CVPR 2024): rank
  the architectures by each member proxy (ascending, average ranks for ties, so the best architecture has the
  highest rank) and sum the ranks: ``score(a) = sum_p rank_p(a)``; higher = better.
* ``vote`` -- the majority vote of Abdelfattah et al. ("Zero-Cost Proxies for Lightweight NAS", ICLR 2021):
  architecture a beats b when more member proxies score a above b than b above a (a proxy tying a and b
  abstains). To turn the pairwise verdicts into a per-architecture score, each architecture gets its number
  of pairwise wins plus half its draws (a Copeland score): ``score(a) = #{b: a beats b} + 0.5 #{b != a: draw}``.
  With one member proxy this is its rank minus one, so the ranking is unchanged.

Both are relative to the set of architectures scored together: they are computed per seed over the
architectures of the run. An architecture for which a member proxy is missing or non-finite gets a NaN score
(status "nan", the members named in ``error``); the others are ranked among themselves. ``seconds`` is the sum
of the members' seconds (what the ensemble costs to compute).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.stats

METHODS = ("rank_sum", "vote")
ENSEMBLE_PREFIX = "ens:"
"""Proxy name of an ensemble: ``ens:`` and its members joined by ``+`` (as ``proxybench search`` names it)."""


def parse_ensembles(ensembles: str | Sequence[str] | None) -> dict[str, list[str]]:
    """``"a+b,c+d"`` or ``["a+b", "c+d"]`` (an ``ens:`` prefix is allowed) -> ``{"ens:a+b": ["a", "b"], ...}``."""
    if ensembles is None:
        return {}
    items = ensembles.split(",") if isinstance(ensembles, str) else [x for e in ensembles for x in str(e).split(",")]
    out: dict[str, list[str]] = {}
    for item in (i.strip() for i in items):
        if not item:
            continue
        body = item[len(ENSEMBLE_PREFIX):] if item.startswith(ENSEMBLE_PREFIX) else item
        members = [m.strip() for m in body.split("+")]
        if len(members) < 2 or not all(members):
            raise ValueError(f"bad --ensemble {item!r}: give two or more proxy names joined by '+', e.g. "
                             "nwot+synflow")
        dup = [m for i, m in enumerate(members) if m in members[:i]]
        if dup:
            raise ValueError(f"bad --ensemble {item!r}: proxy {dup[0]!r} is listed twice")
        out[ENSEMBLE_PREFIX + "+".join(members)] = members
    return out


def check_ensembles(ensembles: Mapping[str, Sequence[str]], scored: Sequence[str], method: str = "rank_sum") -> None:
    """Raise ``ValueError`` when a member of an ensemble is not among the ``scored`` proxies of the run, or the
    method is unknown."""
    if ensembles and method not in METHODS:
        raise ValueError(f"unknown --ensemble-method {method!r}; valid: {', '.join(METHODS)}")
    for name, members in ensembles.items():
        missing = [m for m in members if m not in scored]
        if missing:
            raise ValueError(f"--ensemble {name[len(ENSEMBLE_PREFIX):]!r}: {', '.join(map(repr, missing))} "
                             f"{'is' if len(missing) == 1 else 'are'} not scored in this run; scored proxies: "
                             f"{', '.join(map(str, scored))} (add the member to --proxies)")


def rank_sum(matrix: np.ndarray) -> np.ndarray:
    """Sum over proxies (rows) of the ascending average ranks of the architectures (columns)."""
    matrix = np.atleast_2d(np.asarray(matrix, dtype=float))
    if not np.isfinite(matrix).all():
        raise ValueError("rank_sum needs finite scores; drop architectures with NaN/inf scores first")
    return scipy.stats.rankdata(matrix, axis=1).sum(axis=0)


def majority_vote(matrix: np.ndarray, *, chunk_elements: int = 20_000_000) -> np.ndarray:
    """Copeland score of the pairwise majority vote of the proxies (rows) over the architectures (columns):
    wins + 0.5 * draws, where a beats b when sum_p sign(s_p(a) - s_p(b)) > 0. Vectorised in row blocks."""
    matrix = np.atleast_2d(np.asarray(matrix, dtype=float))
    if not np.isfinite(matrix).all():
        raise ValueError("majority_vote needs finite scores; drop architectures with NaN/inf scores first")
    p, n = matrix.shape
    out = np.empty(n)
    step = max(1, chunk_elements // max(p * n, 1))
    for start in range(0, n, step):
        block = matrix[:, start:start + step]
        net = np.sign(block[:, :, None] - matrix[:, None, :]).sum(axis=0)  # (block, n) net votes a over b
        out[start:start + step] = (net > 0).sum(axis=1) + 0.5 * ((net == 0).sum(axis=1) - 1)  # minus self
    return out


_FUNCS = {"rank_sum": rank_sum, "vote": majority_vote}


def ensemble_scores(matrix: np.ndarray, method: str = "rank_sum") -> np.ndarray:
    """Aggregate a (proxies x architectures) matrix of finite scores with ``method`` (see :data:`METHODS`)."""
    if method not in _FUNCS:
        raise ValueError(f"unknown ensemble method {method!r}; valid: {', '.join(METHODS)}")
    return _FUNCS[method](matrix)


def add_ensembles(scores: pd.DataFrame, ensembles: Mapping[str, Sequence[str]],
                  method: str | Mapping[str, str] = "rank_sum") -> pd.DataFrame:
    """Return ``scores`` with extra proxy rows, one set per ensemble ``{name: [member proxies]}``.

    ``method`` is one of :data:`METHODS`, or a mapping from ensemble name to method. Rows keep the tidy
    scores columns; rows of the same (architecture, seed) are combined, architectures are matched on
    ``arch_index`` (or ``arch`` when there is no index).
    """
    for col in ("proxy", "score"):
        if col not in scores.columns:
            raise ValueError(f"scores table lacks column {col!r}; it has {list(scores.columns)}")
    if not isinstance(ensembles, Mapping) or not ensembles:
        raise ValueError("ensembles must be a non-empty mapping {name: [member proxies]}")
    available = list(dict.fromkeys(scores["proxy"]))
    key = "arch_index" if "arch_index" in scores.columns and scores["arch_index"].notna().all() else "arch"
    if key not in scores.columns:
        raise ValueError("scores table needs an 'arch_index' or 'arch' column")
    sc = scores.copy()
    if "seed" not in sc.columns:
        sc["seed"] = 0
    if "seconds" not in sc.columns:
        sc["seconds"] = np.nan
    sc["score"] = pd.to_numeric(sc["score"], errors="coerce").astype(float)
    parts = [scores]
    for name, members in ensembles.items():
        meth = method.get(name, "rank_sum") if isinstance(method, Mapping) else method
        if meth not in METHODS:
            raise ValueError(f"unknown ensemble method {meth!r} for ensemble {name!r}; valid: {', '.join(METHODS)}")
        if name in available or name == "noise_ceiling":
            raise ValueError(f"ensemble name {name!r} is already a proxy in the scores (or reserved); choose "
                             "another name")
        if isinstance(members, str) or len(members) == 0:
            raise ValueError(f"ensemble {name!r} needs a non-empty list of member proxies, got {members!r}")
        unknown = [m for m in members if m not in available]
        if unknown:
            raise ValueError(f"ensemble {name!r}: unknown proxy(ies) {unknown}; valid: "
                             f"{', '.join(map(str, available))}")
        members = list(dict.fromkeys(members))
        parts.append(_one_ensemble(sc, name, members, meth, key))
    out = pd.concat(parts, ignore_index=True)
    return out


def _one_ensemble(sc: pd.DataFrame, name: str, members: list[str], method: str, key: str) -> pd.DataFrame:
    sub = sc[sc["proxy"].isin(members)]
    dup = sub.duplicated([key, "seed", "proxy"])
    if dup.any():
        r = sub[dup].iloc[0]
        raise ValueError(f"scores hold several rows for proxy {r['proxy']!r}, {key}={r[key]!r}, seed={r['seed']}")
    rows = []
    for seed, grp in sub.groupby("seed", sort=True):
        wide = grp.pivot(index=key, columns="proxy", values="score").reindex(columns=members)
        secs = grp.pivot(index=key, columns="proxy", values="seconds").reindex(columns=members)
        ok = np.isfinite(wide.to_numpy()).all(axis=1)
        values = np.full(len(wide), np.nan)
        if ok.any():
            values[ok] = ensemble_scores(wide.to_numpy()[ok].T, method)
        bad_members = [", ".join(m for m, v in zip(members, row) if not np.isfinite(v))
                       for row in wide.to_numpy()]
        frame = pd.DataFrame({key: wide.index, "proxy": name, "seed": seed, "score": values,
                              "seconds": secs.sum(axis=1, min_count=1).to_numpy(),
                              "status": np.where(ok, "ok", "nan"),
                              "error": ["" if good else f"member proxy(ies) missing or non-finite: {bad}"
                                        for good, bad in zip(ok, bad_members)]})
        other = "arch" if key == "arch_index" else "arch_index"
        if other in grp.columns:
            frame.insert(1, other, frame[key].map(grp.drop_duplicates(key).set_index(key)[other]).to_numpy())
        rows.append(frame)
    cols = [c for c in sc.columns if c in rows[0].columns] if rows else list(sc.columns)
    return pd.concat(rows, ignore_index=True)[cols] if rows else pd.DataFrame(columns=sc.columns)
