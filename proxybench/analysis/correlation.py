"""Correlation engine: how well each proxy's ranking of architectures matches a ground-truth ranking.

The API of the analysis: :func:`correlate`, :func:`noise_ceiling`, :func:`compare_correlations` and the helpers
that read their tables. The parts: :mod:`.joining` (checking and joining the input tables), :mod:`.statistics`
(point estimates, top-k, best percentile) and :mod:`.bootstrap` (confidence intervals). The column names of every
table are in :mod:`proxybench.schema`.

Correlations (:func:`correlate`): one row per (proxy, ground_truth, statistic, aggregate, seed). ``aggregate``
says how a proxy's seeds were combined:

* ``score_mean`` -- the headline, exactly one per (proxy, ground_truth, statistic): the statistic of the
  per-architecture mean of the finite scores over seeds (with one seed: that seed's scores); ``seed`` is missing;
* ``per_seed`` -- the statistic of one seed's scores, ``seed`` saying which (only when a proxy has >= 2 seeds);
* ``mean_over_seeds``, ``std_over_seeds`` -- mean and sample standard deviation (ddof=1) of the per-seed values;
  their ``n``/``n_dropped``/``n_missing`` repeat those of the headline row.

The ground truth of an architecture is its value not tied to a seed where it has one, else the mean of its
per-seed values (the mean over training seeds). Confidence intervals of the three correlations come from
:func:`scipy.stats.bootstrap` over architectures (see :mod:`.bootstrap`).

Statistics: ``kendall``, ``spearman``, ``pearson``; ``precision@<k>%`` and ``ndcg@<k>%`` for each cut k in
``topk`` (:mod:`.ranking`; ``ndcg@10%`` is the ranking column of the CLI table); ``best_percentile``.

Counts: ``n`` architectures used; ``n_missing`` architectures scored but absent from the ground truth (or with a
non-finite ground-truth value); ``n_dropped`` architectures with a ground truth whose score is non-finite (NaN,
+-inf, or a failed proxy).

The noise ceiling (:func:`noise_ceiling`) is its own table: the seed-to-seed agreement of the ground truth, the
best correlation any proxy can hope for.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pandas as pd

from .. import schema
from .bootstrap import (
    CI_METHODS,
    COUNT_PATH_MAX,
    DifferenceStatistic,
    PairStatistic,
    SeedPairsStatistic,
    bootstrap,
    bootstrap_ci,
)
from .joining import (
    NO_SEED,
    alias_map,
    check_arch_agreement,
    ground_truth_names,
    ground_truth_seed_matrix,
    ground_truth_values,
    join_key,
    normalise_ground_truth,
    normalise_scores,
    resolve_names,
    score_matrix,
    seed_averaged,
)
from .ranking import RankingStatistic, ndcg_name, precision_name
from .statistics import CORRELATIONS, MIN_ARCHS, best_percentile, point_estimate, topk_name, topk_overlap

DEFAULT_TOPK = (1, 5, 10)
"""The cuts k (percent of the architectures) of the precision@k% and nDCG@k% rows."""
HEADLINE_K = 10
"""The cut of the ranking metrics shown as one column in the CLI table and the report's main table."""
HEADLINE_RANKING = ndcg_name(HEADLINE_K)
"""``ndcg@10%``: the ranking metric of the CLI table (VKDNW's nDCG, cut at the top 10% of the architectures)."""
HEADLINE_PRECISION = precision_name(HEADLINE_K)
HEADLINE = schema.SCORE_MEAN
"""The ``aggregate`` of the headline correlation rows."""
NOISE_CEILING = "noise_ceiling"
"""The label of the noise ceiling beside the proxies in reports and figures (no proxy may take it)."""
RELIABILITY_CEILING = "reliability_ceiling"
"""The label of the attenuation ceiling (from the ground truth's ICC(1)) beside the proxies in tables."""
NOISE_HEADLINE = schema.MEAN_OVER_PAIRS
"""The ``aggregate`` of the headline noise-ceiling rows."""
NOISE_MIN_ARCHS = 10
"""Fewer architectures with two ground-truth seeds than this: no noise ceiling is printed or drawn, only
"n too small" (a seed-to-seed tau from 3 architectures is 1.00 or -1.00 by chance)."""
COLUMNS = list(schema.CORRELATIONS.names)
NOISE_COLUMNS = list(schema.NOISE_CEILING.names)
COMPARE_COLUMNS = list(schema.COMPARISONS.names)


# ----------------------------------------------------------------------------------------------------------
# tables
# ----------------------------------------------------------------------------------------------------------

def _frame(rows: list[dict], columns: list[str], seeds: Sequence[str]) -> pd.DataFrame:
    """Rows as a table with its schema's dtypes: seed columns nullable integers, counts int, values float."""
    df = pd.DataFrame(rows, columns=columns)
    for c in seeds:
        df[c] = pd.array(df[c].tolist(), dtype="Int64")
    for c in ("n", "n_dropped", "n_missing"):
        if c in df.columns:
            df[c] = df[c].astype(int)
    for c in ("value", "ci_low", "ci_high", "p_value"):
        df[c] = df[c].astype(float)
    for c in ("proxy", "ground_truth", "statistic", "aggregate"):
        if c in df.columns:
            df[c] = df[c].astype(object)
    return df


def headline(correlations: pd.DataFrame, statistic: str | None = None) -> pd.DataFrame:
    """The headline rows (``aggregate == "score_mean"``) of a correlations table, optionally of one statistic."""
    df = correlations[correlations["aggregate"] == HEADLINE]
    if statistic is not None:
        df = df[df["statistic"] == statistic]
    return df.reset_index(drop=True)


def noise_headline(noise: pd.DataFrame | None, ground_truth: str | None = None) -> pd.DataFrame:
    """The headline rows (``aggregate == "mean_over_pairs"``) of a noise-ceiling table, optionally of one ground
    truth, indexed by statistic when a ground truth is given. Empty for ``None``."""
    if noise is None or noise.empty:
        return pd.DataFrame(columns=NOISE_COLUMNS)
    df = noise[noise["aggregate"] == NOISE_HEADLINE]
    if ground_truth is not None:
        return df[df["ground_truth"] == ground_truth].set_index("statistic")
    return df.reset_index(drop=True)


# ----------------------------------------------------------------------------------------------------------
# correlate
# ----------------------------------------------------------------------------------------------------------

def _validate_options(statistics, topk, ci_method, n_resamples, confidence_level):
    bad = [s for s in statistics if s not in CORRELATIONS]
    if bad:
        raise ValueError(f"unknown statistic(s) {bad}; valid: {', '.join(CORRELATIONS)}")
    for k in topk:
        if not (isinstance(k, (int, float)) and 0 < k <= 100):
            raise ValueError(f"top-k percentage must be in (0, 100], got {k!r}")
    method = str(ci_method).lower()
    if method not in CI_METHODS:
        raise ValueError(f"unknown CI method {ci_method!r}; valid: percentile, basic, BCa")
    if int(n_resamples) < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples!r}")
    if not 0 < confidence_level < 1:
        raise ValueError(f"confidence_level must be in (0, 1), got {confidence_level!r}")
    return method


def _row(proxy, gt, statistic, aggregate, seed, value, lo=math.nan, hi=math.nan, p=math.nan, n=0, dropped=0,
         missing=0) -> dict:
    return {"proxy": proxy, "ground_truth": gt, "statistic": statistic, "aggregate": aggregate, "seed": seed,
            "value": value, "ci_low": lo, "ci_high": hi, "p_value": p, "n": n, "n_dropped": dropped,
            "n_missing": missing}


def _series_rows(proxy: str, gt_name: str, aggregate: str, seed: int | None, score: pd.Series, truth: pd.Series, *,
                 statistics, topk, ci: bool, opts: dict) -> list[dict]:
    present = score.index.isin(truth.index)
    missing = int((~present).sum())
    score = score[present]
    finite = np.isfinite(score.to_numpy())
    dropped = int((~finite).sum())
    score = score[finite]
    x = score.to_numpy(dtype=float)
    y = truth.loc[score.index].to_numpy(dtype=float)
    n = len(x)
    counts = {"n": n, "dropped": dropped, "missing": missing}
    cis = {}
    if ci and n >= MIN_ARCHS and np.ptp(x) > 0 and np.ptp(y) > 0:
        cis = bootstrap_ci(x, y, statistics, **opts)
    rows = []
    for s in statistics:
        value, p = point_estimate(s, x, y)
        lo, hi = cis.get(s, (math.nan, math.nan))
        rows.append(_row(proxy, gt_name, s, aggregate, seed, value, lo, hi, p, **counts))
    enough = n >= MIN_ARCHS
    if topk:
        rank = RankingStatistic(x, y, topk)
        values = rank(np.arange(n)) if enough else np.full(len(rank.names), math.nan)
        low = high = np.full(len(rank.names), math.nan)
        if ci and enough:
            low, high = bootstrap(rank, n, len(rank.names), **_ranking_opts(opts))
        for name, v, lo, hi in zip(rank.names, values, low, high):
            rows.append(_row(proxy, gt_name, name, aggregate, seed, float(v), float(lo), float(hi), **counts))
    rows.append(_row(proxy, gt_name, "best_percentile", aggregate, seed,
                     best_percentile(x, y) if enough else math.nan, **counts))
    return rows


def _ranking_opts(opts: dict) -> dict:
    """The options of :func:`bootstrap` from those of :func:`bootstrap_ci`."""
    return {"n_resamples": opts["n_resamples"], "method": opts["method"],
            "confidence_level": opts["confidence_level"], "seed": opts["seed"]}


def _over_seeds(per_seed: list[dict], heads: list[dict]) -> list[dict]:
    """``mean_over_seeds`` / ``std_over_seeds`` rows over per-seed rows, one per statistic; counts copied from the
    headline rows."""
    out = []
    df = pd.DataFrame(per_seed)
    for h in heads:
        vals = df.loc[df["statistic"] == h["statistic"], "value"].to_numpy(dtype=float)
        vals = vals[np.isfinite(vals)]
        mean = float(vals.mean()) if len(vals) else math.nan
        std = float(vals.std(ddof=1)) if len(vals) > 1 else math.nan
        for aggregate, v in ((schema.MEAN_OVER_SEEDS, mean), (schema.STD_OVER_SEEDS, std)):
            out.append(_row(h["proxy"], h["ground_truth"], h["statistic"], aggregate, None, v, n=h["n"],
                            dropped=h["n_dropped"], missing=h["n_missing"]))
    return out


def correlate(scores: pd.DataFrame, ground_truth: pd.DataFrame, *, proxies: Sequence[str] | None = None,
              ground_truths: Sequence[str] | str | None = None, statistics: Sequence[str] = CORRELATIONS,
              topk: Sequence[float] = DEFAULT_TOPK, ci: bool = True, n_resamples: int = 1000,
              ci_method: str = "percentile", confidence_level: float = 0.95, seed: int = 0,
              key: str = "auto") -> pd.DataFrame:
    """Correlate every proxy of ``scores`` with every ground truth of ``ground_truth``.

    Returns the tidy correlations table described in the module docstring (columns :data:`COLUMNS`):
    Kendall tau-b, Spearman rho and Pearson r with p-values and ``confidence_level`` bootstrap CIs
    (``n_resamples`` resamples of architectures, ``ci_method`` "percentile", "basic" or "BCa", seeded by
    ``seed``; ``ci=False`` skips them), precision@k% (the top-k% overlap) and nDCG@k% (the VKDNW paper's, gain
    2^acc - 1) for each k in ``topk`` with bootstrap CIs from the same resampling (:mod:`.ranking`), and the
    ground-truth percentile of the best-scored architecture; per-seed rows with their mean and std when a proxy has
    several seeds. Non-finite scores are dropped per proxy (``n_dropped``); architectures absent from the ground
    truth are excluded (``n_missing``). Scores and ground truth are joined on ``key`` (see :func:`join_key`).
    The noise ceiling of the ground truth is a separate table: :func:`noise_ceiling`.
    """
    method = _validate_options(statistics, topk, ci_method, n_resamples, confidence_level)
    sc = normalise_scores(scores)
    gt = normalise_ground_truth(ground_truth)
    key = join_key(sc, gt, key)
    names = resolve_names(gt, ground_truths)
    all_proxies = list(dict.fromkeys(sc["proxy"]))
    if proxies is None:
        proxies = all_proxies
    if NOISE_CEILING in all_proxies:
        raise ValueError(f"{NOISE_CEILING!r} labels the noise ceiling in reports and figures; rename that proxy in "
                         "the scores")
    unknown = [p for p in proxies if p not in all_proxies]
    if unknown:
        raise ValueError(f"unknown proxy(ies) {unknown} in the scores; valid: {', '.join(map(str, all_proxies))}")
    check_arch_agreement(sc, gt, key)
    truths = {name: ground_truth_values(gt, name, key=key) for name in names}
    opts = {"n_resamples": int(n_resamples), "method": method, "confidence_level": confidence_level, "seed": seed}
    rows: list[dict] = []
    for proxy in proxies:
        mat = score_matrix(sc, proxy, key=key)
        seeds = list(mat.columns)
        avg = seed_averaged(mat)
        sub = sc[sc["proxy"] == proxy]
        by_seed = {s: sub.loc[sub["seed"] == s].set_index(key)["score"] for s in seeds}
        for name, truth in truths.items():
            heads = _series_rows(proxy, name, HEADLINE, None, avg, truth, statistics=statistics, topk=topk, ci=ci,
                                 opts=opts)
            rows += heads
            if len(seeds) > 1:
                per_seed = []
                for s in seeds:
                    per_seed += _series_rows(proxy, name, schema.PER_SEED, int(s), by_seed[s], truth,
                                             statistics=statistics, topk=topk, ci=ci, opts=opts)
                rows += per_seed + _over_seeds(per_seed, heads)
    return _frame(rows, COLUMNS, ("seed",))


# ----------------------------------------------------------------------------------------------------------
# noise ceiling
# ----------------------------------------------------------------------------------------------------------

def _noise_row(gt, statistic, aggregate, value, *, seeds=(None, None), lo=math.nan, hi=math.nan, p=math.nan, n=0):
    return {"ground_truth": gt, "statistic": statistic, "aggregate": aggregate, "seed_a": seeds[0],
            "seed_b": seeds[1], "value": value, "ci_low": lo, "ci_high": hi, "p_value": p, "n": n}


def noise_ceiling(ground_truth: pd.DataFrame, name: str | Sequence[str] | None = None, *, key: str = "arch_index",
                  statistics: Sequence[str] = ("kendall", "spearman"), ci: bool = True, n_resamples: int = 1000,
                  ci_method: str = "percentile", confidence_level: float = 0.95, seed: int = 0,
                  min_archs: int = MIN_ARCHS) -> pd.DataFrame:
    """Seed-to-seed agreement of the ground truth, the best correlation any proxy can hope for.

    Computed from every architecture of ``ground_truth`` that has at least two seeds (pass the benchmark's whole
    ground truth: the ceiling is a property of the benchmark, not of the architectures a run happened to score).
    For every pair of ground-truth seeds (a, b), the Kendall tau-b / Spearman rho between the values of the
    architectures trained with both (``aggregate == "per_pair"``, ``seed_a``, ``seed_b``); the headline
    (``mean_over_pairs``) is the mean over pairs, with a bootstrap CI over the architectures that have at least two
    seeds (``n``); ``std_over_pairs`` is the sample standard deviation over pairs. Columns :data:`NOISE_COLUMNS`.
    With fewer than ``min_archs`` such architectures (reports use :data:`NOISE_MIN_ARCHS`) the rows are kept with
    their ``n`` but every value is NaN; without any architecture with two seeds the table is empty.
    """
    method = _validate_options(statistics, (), ci_method, n_resamples, confidence_level)
    if int(min_archs) < MIN_ARCHS:
        raise ValueError(f"min_archs must be >= {MIN_ARCHS}, got {min_archs!r}")
    gt = normalise_ground_truth(ground_truth)
    names = resolve_names(gt, name)
    rows: list[dict] = []
    for gname in names:
        mat = ground_truth_seed_matrix(gt, gname, key=key)
        mat = mat[np.isfinite(mat).sum(axis=1) >= 2]
        values = mat.to_numpy(dtype=float)
        n = values.shape[0]
        if n == 0:
            continue
        enough = n >= min_archs
        pairs, per_pair = [], []
        for a, b in combinations(range(values.shape[1]), 2):
            both = np.isfinite(values[:, a]) & np.isfinite(values[:, b])
            if not both.any() or (enough and both.sum() < MIN_ARCHS):
                continue
            pairs.append((a, b))
            for s in statistics:
                v, p = point_estimate(s, values[both, a], values[both, b]) if enough else (math.nan, math.nan)
                per_pair.append(_noise_row(gname, s, schema.PER_PAIR, v, p=p, n=int(both.sum()),
                                           seeds=(int(mat.columns[a]), int(mat.columns[b]))))
        if not pairs:
            continue
        cis = {}
        if ci and enough:
            stat = SeedPairsStatistic(values, pairs, statistics, COUNT_PATH_MAX)
            low, high = bootstrap(stat, n, len(statistics), n_resamples=int(n_resamples), method=method,
                                  confidence_level=confidence_level, seed=seed)
            cis = {s: (float(lo), float(hi)) for s, lo, hi in zip(statistics, low, high)}
        heads, spread = [], []
        for s in statistics:
            vals = np.array([r["value"] for r in per_pair if r["statistic"] == s], dtype=float)
            vals = vals[np.isfinite(vals)]
            lo, hi = cis.get(s, (math.nan, math.nan))
            heads.append(_noise_row(gname, s, NOISE_HEADLINE, float(vals.mean()) if len(vals) else math.nan,
                                    lo=lo, hi=hi, n=n))
            spread.append(_noise_row(gname, s, schema.STD_OVER_PAIRS,
                                     float(vals.std(ddof=1)) if len(vals) > 1 else math.nan, n=n))
        rows += heads + per_pair + spread + _reliability_rows(gname, values, statistics, enough, ci, n_resamples,
                                                              method, confidence_level, seed)
    return _frame(rows, NOISE_COLUMNS, ("seed_a", "seed_b"))


def _reliability_rows(gname, values, statistics, enough, ci, n_resamples, method, confidence_level, seed):
    """ICC(1) of the seeds (``statistic == "icc1"``, ``aggregate == "all_seeds"``) and the attenuation ceiling it
    puts on any proxy's correlation with one run (``aggregate == "attenuation_ceiling"``), per statistic
    (:mod:`proxybench.analysis.reliability`)."""
    from .reliability import ALL_SEEDS, CEILING, ICC, attenuation_ceiling, icc1, icc1_ci

    n = values.shape[0]
    res = icc1(values) if enough else {"icc": math.nan, "p_value": math.nan}
    lo, hi = (icc1_ci(values, n_resamples=int(n_resamples), method=method, confidence_level=confidence_level,
                      seed=seed) if ci and enough else (math.nan, math.nan))
    rows = [_noise_row(gname, ICC, ALL_SEEDS, res["icc"], lo=lo, hi=hi, p=res["p_value"], n=n)]
    for s in statistics:
        if s in ("kendall", "spearman", "pearson"):
            rows.append(_noise_row(gname, s, CEILING, attenuation_ceiling(res["icc"], s),
                                   lo=attenuation_ceiling(lo, s), hi=attenuation_ceiling(hi, s), n=n))
    return rows


def reliability_headline(noise: pd.DataFrame | None, ground_truth: str) -> dict | None:
    """ICC(1) of one ground truth from a noise-ceiling table, with its CI, n, verdict and the Kendall / Spearman
    ceilings: ``{"icc", "ci_low", "ci_high", "n", "verdict", "kendall", "spearman", "text"}``; ``None`` without
    ICC rows (tables written before they existed, or no architecture with two seeds)."""
    from .reliability import ALL_SEEDS, CEILING, ICC, reliability_text, verdict

    if noise is None or noise.empty:
        return None
    g = noise[noise["ground_truth"] == ground_truth]
    row = g[(g["statistic"] == ICC) & (g["aggregate"] == ALL_SEEDS)]
    if row.empty:
        return None
    r = row.iloc[0]
    ceil = g[g["aggregate"] == CEILING].set_index("statistic")["value"]
    icc, lo, hi, n = float(r["value"]), float(r["ci_low"]), float(r["ci_high"]), int(r["n"])
    if n < NOISE_MIN_ARCHS:
        return {"icc": math.nan, "ci_low": math.nan, "ci_high": math.nan, "n": n, "verdict": "unknown",
                "kendall": math.nan, "spearman": math.nan, "text": f"ICC(1): n too small (n={n} < {NOISE_MIN_ARCHS})"}
    return {"icc": icc, "ci_low": lo, "ci_high": hi, "n": n, "verdict": verdict(icc, lo),
            "kendall": float(ceil.get("kendall", math.nan)), "spearman": float(ceil.get("spearman", math.nan)),
            "text": reliability_text(icc, lo, hi, n)}


def noise_subset(ground_truth: pd.DataFrame, *, key: str = "arch_index") -> pd.DataFrame:
    """The rows of ``ground_truth`` whose architecture has at least two seeded, finite values of the same ground
    truth: all :func:`noise_ceiling` needs (a run directory keeps it as ``noise_ground_truth.csv``)."""
    gt = normalise_ground_truth(ground_truth)
    if key not in gt.columns or gt[key].isna().any():
        key = "arch"
    seeded = gt[(gt["seed"] != NO_SEED) & np.isfinite(gt["value"].to_numpy(dtype=float))]
    counts = seeded.groupby(["_name", key])["seed"].nunique()
    keep = set(counts[counts >= 2].index)
    mask = [(n, k) in keep for n, k in zip(gt["_name"], gt[key])]
    return ground_truth.loc[np.asarray(mask, dtype=bool)].reset_index(drop=True)


def benchmark_noise_ceiling(ground_truth: pd.DataFrame, names: Sequence[str], **options) -> pd.DataFrame | None:
    """:func:`noise_ceiling` of each ground truth in ``names`` (spelled as in a correlations table) from a
    benchmark's ground truth or its :func:`noise_subset`, at least :data:`NOISE_MIN_ARCHS` architectures for a
    value; rows carry the names as given. ``None`` when no name has an architecture with two seeds."""
    gt = normalise_ground_truth(ground_truth)
    aliases = alias_map(gt)
    options = {"min_archs": NOISE_MIN_ARCHS, **options}
    parts = []
    for name in names:
        if name not in aliases:
            continue
        nc = noise_ceiling(ground_truth, aliases[name], **options)
        if len(nc):
            parts.append(nc.assign(ground_truth=name))
    return pd.concat(parts, ignore_index=True) if parts else None


def noise_text(row: pd.Series | None, digits: int = 2) -> str | None:
    """The headline noise-ceiling value as text (``0.79 [0.70, 0.86]``), ``"n too small (n=3 < 10)"`` below
    :data:`NOISE_MIN_ARCHS` architectures, ``None`` without a row."""
    if row is None:
        return None
    n = int(row["n"])
    if n < NOISE_MIN_ARCHS or not math.isfinite(row["value"]):
        return f"n too small (n={n} < {NOISE_MIN_ARCHS})" if n < NOISE_MIN_ARCHS else f"undefined (n={n})"
    text = f"{row['value']:.{digits}f}"
    if math.isfinite(row["ci_low"]) and math.isfinite(row["ci_high"]):
        text += f" [{row['ci_low']:.{digits}f}, {row['ci_high']:.{digits}f}]"
    return text


def noise_value(row: pd.Series | None) -> float:
    """The headline noise-ceiling value to draw or print: NaN without a row or below :data:`NOISE_MIN_ARCHS`."""
    if row is None or int(row["n"]) < NOISE_MIN_ARCHS:
        return math.nan
    return float(row["value"])


# ----------------------------------------------------------------------------------------------------------
# paired comparisons of two correlations
# ----------------------------------------------------------------------------------------------------------

def _comparison_side(item, what: str) -> tuple[str, str | None]:
    if isinstance(item, str):
        return item, None
    if isinstance(item, (tuple, list)) and len(item) == 2 and all(isinstance(v, str) for v in item):
        return item[0], item[1]
    raise ValueError(f"comparison side {what} must be a proxy name or a (proxy, ground truth) pair of strings, "
                     f"got {item!r}")


def compare_correlations(scores: pd.DataFrame, ground_truth: pd.DataFrame, comparisons, *,
                         statistics: Sequence[str] = ("kendall", "spearman"), n_resamples: int = 2000,
                         ci_method: str = "percentile", confidence_level: float = 0.95, seed: int = 0,
                         key: str = "auto") -> pd.DataFrame:
    """Is one correlation larger than another on the same architectures? Paired bootstrap of the difference.

    ``comparisons``: an iterable of (A, B), each side a ``(proxy, ground_truth)`` pair or a bare proxy name
    (then the table's first ground truth). Two proxies on one ground truth answer "does proxy A rank better
    than proxy B?"; one proxy on two ground truths (``kd_acc`` vs ``vanilla_acc``) answers "does this proxy
    fit KD accuracy better than vanilla accuracy?" (DisWOT's claim). Both correlations use the architectures
    where all four series are finite, with seed-averaged scores and ground truth as in :func:`correlate`.

    The difference d = corr(A) - corr(B) is bootstrapped by resampling architectures with replacement, one
    index vector for all four series (:func:`scipy.stats.bootstrap`; ``ci_method`` percentile, basic or
    BCa), which keeps the dependence between the two correlations. ``p_value`` is the two-sided bootstrap
    p-value of d = 0: 2 (min(#{d* <= 0}, #{d* >= 0}) + 1) / (B + 1) over the B finite resamples d*, capped
    at 1 (so never below 2 / (``n_resamples`` + 1)). Returns one row per (comparison, statistic) with
    columns :data:`COMPARE_COLUMNS`.
    """
    method = _validate_options(statistics, (), ci_method, n_resamples, confidence_level)
    sc = normalise_scores(scores)
    gt = normalise_ground_truth(ground_truth)
    key = join_key(sc, gt, key)
    names = list(dict.fromkeys(gt["_name"]))
    proxies = list(dict.fromkeys(sc["proxy"]))
    series: dict[tuple[str, str], tuple[pd.Series, pd.Series]] = {}

    def resolve(item, what):
        proxy, name = _comparison_side(item, what)
        if proxy not in proxies:
            raise ValueError(f"unknown proxy {proxy!r} in comparison side {what}; valid: "
                             f"{', '.join(map(str, proxies))}")
        (name,) = resolve_names(gt, name if name is not None else names[0])
        if (proxy, name) not in series:
            score = seed_averaged(score_matrix(sc, proxy, key=key))
            series[(proxy, name)] = (score[np.isfinite(score)], ground_truth_values(gt, name, key=key))
        return proxy, name

    rows = []
    for i, pair in enumerate(comparisons):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
            raise ValueError(f"comparison {i} must be a pair (A, B), got {pair!r}")
        a, b = resolve(pair[0], "A"), resolve(pair[1], "B")
        (xa, ya), (xb, yb) = series[a], series[b]
        common = xa.index.intersection(ya.index).intersection(xb.index).intersection(yb.index).sort_values()
        arrays = [s.loc[common].to_numpy(dtype=float) for s in (xa, ya, xb, yb)]
        n = len(common)
        values = {s: (point_estimate(s, arrays[0], arrays[1])[0], point_estimate(s, arrays[2], arrays[3])[0])
                  for s in statistics}
        low = high = pvals = None
        if n >= MIN_ARCHS and all(np.ptp(v) > 0 for v in arrays):
            stat = DifferenceStatistic(PairStatistic(arrays[0], arrays[1], statistics, COUNT_PATH_MAX),
                                       PairStatistic(arrays[2], arrays[3], statistics, COUNT_PATH_MAX))
            low, high, dist = bootstrap(stat, n, len(statistics), n_resamples=int(n_resamples), method=method,
                                        confidence_level=confidence_level, seed=seed, distribution=True)
            pvals = []
            for j in range(len(statistics)):
                d = dist[j][np.isfinite(dist[j])]
                tail = min(int(np.sum(d <= 0)), int(np.sum(d >= 0)))
                pvals.append(min(1.0, 2 * (tail + 1) / (len(d) + 1)) if len(d) else math.nan)
        for j, s in enumerate(statistics):
            va, vb = values[s]
            rows.append({"proxy_a": a[0], "ground_truth_a": a[1], "proxy_b": b[0], "ground_truth_b": b[1],
                         "statistic": s, "value_a": va, "value_b": vb, "difference": va - vb,
                         "ci_low": float(low[j]) if low is not None else math.nan,
                         "ci_high": float(high[j]) if high is not None else math.nan,
                         "p_value": float(pvals[j]) if pvals is not None else math.nan, "n": n})
    return pd.DataFrame(rows, columns=COMPARE_COLUMNS)


def kd_vanilla_pairs(names: Sequence[str]) -> list[tuple[str, str]]:
    """(kd, vanilla) pairs among ground-truth names whose metrics differ only by ``kd`` <-> ``vanilla``
    (e.g. ``kd_acc`` / ``vanilla_acc``, same data set)."""
    names = list(names)
    out = []
    for n in names:
        ds, _, metric = n.rpartition("/")
        if "kd" in metric:
            v = metric.replace("kd", "vanilla", 1)
            partner = f"{ds}/{v}" if ds else v
            if partner in names:
                out.append((n, partner))
    return out


def kd_vanilla_differences(scores: pd.DataFrame, ground_truth: pd.DataFrame, corr: pd.DataFrame, *,
                           n_resamples: int = 1000) -> pd.DataFrame | None:
    """For a ground truth with KD and vanilla accuracies: every proxy's Kendall tau on KD accuracy minus its tau
    on vanilla accuracy, with a paired-bootstrap CI (:func:`compare_correlations`);
    sorted by the difference. ``None`` when the ground truth has no KD / vanilla pair."""
    names = [n for n in dict.fromkeys(corr["ground_truth"])]
    pairs = kd_vanilla_pairs(names)
    if not pairs:
        return None
    proxies = list(dict.fromkeys(corr["proxy"]))
    comparisons = [((p, kd), (p, vanilla)) for kd, vanilla in pairs for p in proxies]
    out = compare_correlations(scores, ground_truth, comparisons, statistics=("kendall",), n_resamples=n_resamples)
    return out.sort_values(["ground_truth_a", "difference"], ascending=[True, False], na_position="last",
                           kind="stable").reset_index(drop=True)


def proxy_rank_correlation(scores: pd.DataFrame, proxies: Sequence[str] | None = None, *,
                           key: str = "arch_index") -> pd.DataFrame:
    """Proxy x proxy Kendall tau-b matrix of the seed-averaged scores over the architectures where both
    are finite (:meth:`pandas.DataFrame.corr`, which calls :func:`scipy.stats.kendalltau`)."""
    sc = normalise_scores(scores)
    if key not in sc.columns:
        key = "arch"
    proxies = list(dict.fromkeys(sc["proxy"])) if proxies is None else list(proxies)
    wide = pd.DataFrame({p: seed_averaged(score_matrix(sc, p, key=key)) for p in proxies})
    wide = wide.where(np.isfinite(wide))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return wide.corr(method="kendall", min_periods=MIN_ARCHS)


__all__ = [
    "CI_METHODS", "COLUMNS", "COMPARE_COLUMNS", "CORRELATIONS", "COUNT_PATH_MAX", "DEFAULT_TOPK", "HEADLINE",
    "MIN_ARCHS", "NOISE_CEILING", "NOISE_COLUMNS", "NOISE_HEADLINE", "NOISE_MIN_ARCHS", "PairStatistic",
    "benchmark_noise_ceiling", "best_percentile", "bootstrap_ci", "compare_correlations", "correlate",
    "ground_truth_names", "ground_truth_values", "headline", "join_key", "kd_vanilla_differences", "kd_vanilla_pairs",
    "noise_ceiling", "noise_headline", "noise_subset", "noise_text", "noise_value", "point_estimate",
    "proxy_rank_correlation", "RELIABILITY_CEILING", "reliability_headline", "score_matrix", "seed_averaged",
    "topk_name", "topk_overlap",
]
