"""Correlation engine: how well each proxy's ranking of architectures matches a ground-truth ranking.

Input tables (tidy)
-------------------
* scores: one row per (arch_index, arch, proxy, seed) with ``score`` (higher = predicted better; NaN/inf
  allowed), ``seconds``, ``status`` ("ok" | "nan" | "error") and ``error``.
* ground truth: ``arch_index``, ``arch``, ``dataset`` (optional), ``metric``, ``value``, ``seed`` (optional;
  ``-1`` = the mean over seeds). A ground-truth *name* is ``"<dataset>/<metric>"``, or ``"<metric>"`` when the
  table holds a single dataset (both spellings are accepted as input).

Output table (:func:`correlate`): one row per (proxy, ground_truth, statistic, seed) with columns
:data:`COLUMNS`. The ``seed`` column is text:

* ``"avg_score"`` -- the headline row, exactly one per (proxy, ground_truth, statistic). For a proxy it is
  computed on the per-architecture mean of the finite scores over seeds (with one seed: that seed's scores);
  for the ``noise_ceiling`` pseudo-proxy it is the mean over ground-truth seed pairs.
* ``"0"``, ``"1"``, ... -- one row per proxy seed (only when the proxy has >= 2 seeds); for the noise
  ceiling ``"0-1"``, ``"0-2"``, ... one row per pair of ground-truth seeds.
* ``"mean"``, ``"std"`` -- mean and sample standard deviation (ddof=1) of those per-seed (per-pair) values;
  their ``n``/``n_dropped``/``n_missing`` repeat those of the headline row.

Statistics: ``kendall`` (tau-b), ``spearman`` (rho), ``pearson`` (r), all from :mod:`scipy.stats` with their
p-values, and never made absolute (a negative correlation stays negative); ``top<k>%`` and
``best_percentile`` (see :func:`topk_overlap` and :func:`best_percentile`). Confidence intervals of the three
correlations come from :func:`scipy.stats.bootstrap` resampling architectures with replacement (one index
vector shared by score and ground truth: paired resampling), deterministic for a given ``seed``.

Counts: ``n`` architectures used; ``n_missing`` architectures scored but absent from the ground truth (or
with a non-finite ground-truth value); ``n_dropped`` architectures with a ground truth whose score is
non-finite (NaN, +-inf, or a failed proxy).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from itertools import combinations

import numpy as np
import pandas as pd
import scipy.stats

CORRELATIONS = ("kendall", "spearman", "pearson")
DEFAULT_TOPK = (1, 5, 10)
HEADLINE = "avg_score"
NOISE_CEILING = "noise_ceiling"
CI_METHODS = ("percentile", "basic", "bca")
MIN_ARCHS = 3  # fewer architectures than this: every statistic is NaN
COLUMNS = ["proxy", "ground_truth", "statistic", "seed", "value", "ci_low", "ci_high", "p_value", "n",
           "n_dropped", "n_missing"]
# Bootstrap statistics are computed from resampling counts with n x n matrices up to this many
# architectures (fast, exact); above it, directly on the resampled values.
COUNT_PATH_MAX = 1000

SCORE_COLUMNS = ("proxy", "score")
GT_COLUMNS = ("metric", "value")


# ----------------------------------------------------------------------------------------------------------
# input normalisation
# ----------------------------------------------------------------------------------------------------------

def _require(df: pd.DataFrame, cols: Iterable[str], what: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{what} must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"{what} table lacks column(s) {missing}; it has {list(df.columns)}")


def topk_name(k: float) -> str:
    """Statistic name of the top-k% overlap, e.g. ``top5%``."""
    return f"top{k:g}%"


def join_key(scores: pd.DataFrame, ground_truth: pd.DataFrame, key: str = "auto") -> str:
    """The column joining scores to ground truth: ``arch_index`` when both tables have it without gaps,
    else ``arch``."""
    if key not in ("auto", "arch_index", "arch"):
        raise ValueError(f"unknown join key {key!r}; valid: 'auto', 'arch_index', 'arch'")
    if key == "auto":
        if all("arch_index" in d.columns and d["arch_index"].notna().all() for d in (scores, ground_truth)):
            return "arch_index"
        key = "arch"
    for d, what in ((scores, "scores"), (ground_truth, "ground-truth")):
        if key not in d.columns:
            raise ValueError(f"cannot join scores and ground truth: the {what} table has no {key!r} column")
    return key


def _gt_names(gt: pd.DataFrame) -> pd.Series:
    metric = gt["metric"].astype(str)
    if "dataset" not in gt.columns:
        return metric
    ds = gt["dataset"].fillna("").astype(str)
    if ds.nunique() <= 1:
        return metric
    return (ds + "/" + metric).where(ds != "", metric)


def _normalise_ground_truth(ground_truth: pd.DataFrame) -> pd.DataFrame:
    _require(ground_truth, GT_COLUMNS, "ground-truth")
    gt = ground_truth.copy()
    gt["_name"] = _gt_names(gt)
    gt["value"] = pd.to_numeric(gt["value"], errors="coerce").astype(float)
    gt["seed"] = pd.to_numeric(gt["seed"], errors="coerce").fillna(-1).astype(int) if "seed" in gt.columns else -1
    if "arch_index" in gt.columns:
        gt["arch_index"] = pd.to_numeric(gt["arch_index"], errors="coerce")
        if gt["arch_index"].notna().all():
            gt["arch_index"] = gt["arch_index"].astype(int)
    return gt


def _alias_map(gt: pd.DataFrame) -> dict[str, str]:
    """Accepted spellings -> canonical ground-truth name (``metric`` or ``dataset/metric``)."""
    out: dict[str, str] = {}
    for name in gt["_name"].unique():
        out[name] = name
    if "dataset" in gt.columns:
        for ds, metric, name in gt[["dataset", "metric", "_name"]].drop_duplicates().itertuples(index=False):
            out.setdefault(f"{ds}/{metric}", name)
    return out


def ground_truth_names(ground_truth: pd.DataFrame) -> list[str]:
    """The ground-truth names of a table, in order of first appearance."""
    gt = _normalise_ground_truth(ground_truth)
    return list(dict.fromkeys(gt["_name"]))


def _resolve_names(gt: pd.DataFrame, wanted: Sequence[str] | str | None) -> list[str]:
    names = list(dict.fromkeys(gt["_name"]))
    if wanted is None:
        return names
    if isinstance(wanted, str):
        wanted = [wanted]
    aliases = _alias_map(gt)
    out = []
    for w in wanted:
        if w not in aliases:
            raise ValueError(f"unknown ground truth {w!r}; valid: {', '.join(names)}")
        out.append(aliases[w])
    return list(dict.fromkeys(out))


def _normalise_scores(scores: pd.DataFrame) -> pd.DataFrame:
    _require(scores, SCORE_COLUMNS, "scores")
    sc = scores.copy()
    sc["score"] = pd.to_numeric(sc["score"], errors="coerce").astype(float)
    sc["seed"] = pd.to_numeric(sc["seed"], errors="coerce").fillna(0).astype(int) if "seed" in sc.columns else 0
    if "arch_index" in sc.columns:
        sc["arch_index"] = pd.to_numeric(sc["arch_index"], errors="coerce")
        if sc["arch_index"].notna().all():
            sc["arch_index"] = sc["arch_index"].astype(int)
    return sc


def ground_truth_values(ground_truth: pd.DataFrame, name: str | None = None, *, key: str = "arch_index"
                        ) -> pd.Series:
    """Per-architecture value of ground truth ``name`` (indexed by ``key``): the ``seed == -1`` row where
    there is one, else the mean of the finite per-seed values. Non-finite values are left out."""
    gt = _normalise_ground_truth(ground_truth)
    (name,) = _resolve_names(gt, name if name is not None else gt["_name"].iloc[0])
    _require(gt, [key], "ground-truth")
    sub = gt[(gt["_name"] == name) & np.isfinite(gt["value"])]
    mean_rows = sub[sub["seed"] == -1]
    if mean_rows[key].duplicated().any():
        dup = mean_rows[key][mean_rows[key].duplicated()].iloc[0]
        raise ValueError(f"ground truth {name!r} has several seed -1 (mean) rows for {key}={dup!r}")
    per_seed = sub[sub["seed"] >= 0].groupby(key)["value"].mean()
    values = mean_rows.set_index(key)["value"].combine_first(per_seed)
    values.name = name
    return values.sort_index()


def ground_truth_seed_matrix(ground_truth: pd.DataFrame, name: str, *, key: str = "arch_index"
                             ) -> pd.DataFrame:
    """Architectures x ground-truth seeds (``seed >= 0`` rows only) of ground truth ``name``."""
    gt = _normalise_ground_truth(ground_truth)
    (name,) = _resolve_names(gt, name)
    sub = gt[(gt["_name"] == name) & (gt["seed"] >= 0)]
    if sub.duplicated([key, "seed"]).any():
        row = sub[sub.duplicated([key, "seed"])].iloc[0]
        raise ValueError(f"ground truth {name!r} has several rows for {key}={row[key]!r}, seed={row['seed']}")
    return sub.pivot(index=key, columns="seed", values="value").sort_index()


def score_matrix(scores: pd.DataFrame, proxy: str, *, key: str = "arch_index") -> pd.DataFrame:
    """Architectures x seeds matrix of one proxy's scores (non-finite values kept)."""
    sc = _normalise_scores(scores)
    sub = sc[sc["proxy"] == proxy]
    if sub.empty:
        raise ValueError(f"unknown proxy {proxy!r}; valid: {', '.join(map(str, sc['proxy'].unique()))}")
    if sub.duplicated([key, "seed"]).any():
        row = sub[sub.duplicated([key, "seed"])].iloc[0]
        raise ValueError(f"scores hold several rows for proxy {proxy!r}, {key}={row[key]!r}, seed={row['seed']}")
    return sub.pivot(index=key, columns="seed", values="score").sort_index()


def seed_averaged(matrix: pd.DataFrame) -> pd.Series:
    """Per-architecture mean of the finite scores over seeds (NaN where no seed is finite)."""
    return matrix.where(np.isfinite(matrix)).mean(axis=1)


# ----------------------------------------------------------------------------------------------------------
# point estimates and ranking statistics
# ----------------------------------------------------------------------------------------------------------

def point_estimate(statistic: str, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(value, p-value) of ``kendall`` (tau-b), ``spearman`` or ``pearson`` from :mod:`scipy.stats`; NaN for
    fewer than :data:`MIN_ARCHS` points or a constant input."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if len(x) < MIN_ARCHS or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan, math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if statistic == "kendall":
            res = scipy.stats.kendalltau(x, y, variant="b")
        elif statistic == "spearman":
            res = scipy.stats.spearmanr(x, y)
        elif statistic == "pearson":
            res = scipy.stats.pearsonr(x, y)
        else:
            raise ValueError(f"unknown statistic {statistic!r}; valid: {', '.join(CORRELATIONS)}")
    return float(res.statistic), float(res.pvalue)


def _top_inclusion(v: np.ndarray, m: int) -> np.ndarray:
    """Probability that each element is among the ``m`` largest when ties at the cut are broken at random."""
    t = np.sort(v)[::-1][m - 1]
    above = v > t
    tied = v == t
    return above.astype(float) + tied * ((m - above.sum()) / tied.sum())


def topk_overlap(score: np.ndarray, truth: np.ndarray, k: float) -> float:
    """Fraction of the true top-k% architectures that are also in the proxy's top-k% (Abdelfattah et al.,
    ICLR 2021, "top-10%/top-10%"). The cut holds m = ceil(k/100 * n) architectures (at least 1); ties at a
    cut are shared out, so the value is the expected overlap / m under random tie-breaking:
    sum_i P(i in proxy top) * P(i in true top) / m."""
    score = np.asarray(score, dtype=float)
    truth = np.asarray(truth, dtype=float)
    n = len(score)
    if not 0 < k <= 100:
        raise ValueError(f"top-k percentage must be in (0, 100], got {k!r}")
    if n == 0:
        return math.nan
    m = max(1, math.ceil(round(k * n / 100.0, 9)))
    return float(np.sum(_top_inclusion(score, m) * _top_inclusion(truth, m)) / m)


def best_percentile(score: np.ndarray, truth: np.ndarray) -> float:
    """Ground-truth percentile (``scipy.stats.percentileofscore``, kind "weak": % of architectures whose
    ground truth is <= it; 100 = the best) of the proxy's best-scored architecture, averaged over
    architectures tied for the best score."""
    score = np.asarray(score, dtype=float)
    truth = np.asarray(truth, dtype=float)
    if len(score) == 0:
        return math.nan
    best = truth[score == score.max()]
    return float(np.mean(scipy.stats.percentileofscore(truth, best, kind="weak")))


# ----------------------------------------------------------------------------------------------------------
# bootstrap statistics (vectorised over resamples)
# ----------------------------------------------------------------------------------------------------------

def _counts(idx: np.ndarray, n: int) -> np.ndarray:
    """(B, m) resampled indices -> (B, n) multiplicities."""
    b = idx.shape[0]
    flat = (idx + (np.arange(b) * n)[:, None]).ravel()
    return np.bincount(flat, minlength=b * n).reshape(b, n).astype(float)


def _weighted_pearson(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Pearson r of (x, y) with multiplicities ``w``; x, y are (n,) or (B, n), w is (B, n)."""
    m = w.sum(axis=1, keepdims=True)
    mx = (w * x).sum(axis=1, keepdims=True) / m
    my = (w * y).sum(axis=1, keepdims=True) / m
    dx = x - mx
    dy = y - my
    cov = (w * dx * dy).sum(axis=1)
    var = (w * dx * dx).sum(axis=1) * (w * dy * dy).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = cov / np.sqrt(var)
    r[~(var > 0)] = np.nan
    return np.clip(r, -1.0, 1.0)


class _CountStats:
    """Correlations of a resample expressed through its multiplicity vector c (length n):
    Kendall S = c^T P c / 2 with P_uv = sign(x_u - x_v) sign(y_u - y_v); tied pairs in x = (c^T T_x c - m) / 2;
    mid-ranks r_u = (L_x c)_u + ((T_x c)_u + 1) / 2 with L_x[u, v] = [x_v < x_u]. Exact; one (B, n) x (n, 5n)
    matrix product per batch of resamples."""

    def __init__(self, x: np.ndarray, y: np.ndarray):
        sx = np.sign(x[:, None] - x[None, :])
        sy = np.sign(y[:, None] - y[None, :])
        tx = (sx == 0).astype(float)
        ty = (sy == 0).astype(float)
        # columns: P | T_x | T_y | (L_x^T + T_x / 2) | (L_y^T + T_y / 2)   (all symmetric but L)
        self.M = np.hstack([sx * sy, tx, ty, (sx.T > 0) + 0.5 * tx, (sy.T > 0) + 0.5 * ty])
        self.n = len(x)
        sd_x = x.std() or 1.0
        sd_y = y.std() or 1.0
        self.xs = (x - x.mean()) / sd_x
        self.ys = (y - y.mean()) / sd_y

    def __call__(self, C: np.ndarray, stats: Sequence[str]) -> np.ndarray:
        n = self.n
        m = C.sum(axis=1)
        Z = C @ self.M if any(s != "pearson" for s in stats) else None
        out = []
        for s in stats:
            if s == "pearson":
                out.append(_weighted_pearson(self.xs, self.ys, C))
            elif s == "spearman":
                rx = Z[:, 3 * n:4 * n] + 0.5
                ry = Z[:, 4 * n:] + 0.5
                out.append(_weighted_pearson(rx, ry, C))
            elif s == "kendall":
                S = (Z[:, :n] * C).sum(axis=1) / 2.0
                n0 = m * (m - 1) / 2.0
                n1 = ((Z[:, n:2 * n] * C).sum(axis=1) - m) / 2.0
                n2 = ((Z[:, 2 * n:3 * n] * C).sum(axis=1) - m) / 2.0
                den = (n0 - n1) * (n0 - n2)
                with np.errstate(invalid="ignore", divide="ignore"):
                    tau = S / np.sqrt(den)
                tau[~(den > 0)] = np.nan
                out.append(np.clip(tau, -1.0, 1.0))
            else:
                raise ValueError(f"unknown statistic {s!r}")
        return np.vstack(out)


def _direct_stats(x: np.ndarray, y: np.ndarray, stats: Sequence[str]) -> np.ndarray:
    """Correlations of each row of (B, m) arrays x, y (scipy for Kendall, row by row)."""
    out = []
    w = np.ones_like(x)
    for s in stats:
        if s == "pearson":
            xs = (x - x.mean(axis=1, keepdims=True)) / (x.std(axis=1, keepdims=True) + 1e-300)
            ys = (y - y.mean(axis=1, keepdims=True)) / (y.std(axis=1, keepdims=True) + 1e-300)
            out.append(_weighted_pearson(xs, ys, w))
        elif s == "spearman":
            out.append(_weighted_pearson(scipy.stats.rankdata(x, axis=1), scipy.stats.rankdata(y, axis=1), w))
        elif s == "kendall":
            out.append(np.array([point_estimate("kendall", a, b)[0] for a, b in zip(x, y)]))
        else:
            raise ValueError(f"unknown statistic {s!r}")
    return np.vstack(out)


class _PairStatistic:
    """Bootstrap statistic over resampled architecture indices: the correlations of one (x, y) pair."""

    def __init__(self, x: np.ndarray, y: np.ndarray, stats: Sequence[str], count_path_max: int):
        self.x, self.y, self.stats = x, y, tuple(stats)
        self.n = len(x)
        self.count = _CountStats(x, y) if self.n <= count_path_max else None

    def __call__(self, idx: np.ndarray, axis: int = -1) -> np.ndarray:
        idx = np.asarray(idx)
        single = idx.ndim == 1
        idx = np.atleast_2d(idx)
        if self.count is not None:
            out = self.count(_counts(idx, self.n), self.stats)
        else:
            out = _direct_stats(self.x[idx], self.y[idx], self.stats)
        return out[:, 0] if single else out


class _SeedPairsStatistic:
    """Bootstrap statistic of the noise ceiling: mean over ground-truth seed pairs of the correlation
    between the two seeds, over the resampled architectures that have both seeds."""

    def __init__(self, values: np.ndarray, pairs: list[tuple[int, int]], stats: Sequence[str],
                 count_path_max: int):
        self.values, self.pairs, self.stats = values, pairs, tuple(stats)
        self.n = values.shape[0]
        self.masks = [np.isfinite(values[:, a]) & np.isfinite(values[:, b]) for a, b in pairs]
        filled = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
        self.count = ([_CountStats(filled[:, a], filled[:, b]) for a, b in pairs]
                      if self.n <= count_path_max else None)

    def __call__(self, idx: np.ndarray, axis: int = -1) -> np.ndarray:
        idx = np.asarray(idx)
        single = idx.ndim == 1
        idx = np.atleast_2d(idx)
        per_pair = []
        if self.count is not None:
            C = _counts(idx, self.n)
            for cs, mask in zip(self.count, self.masks):
                per_pair.append(cs(C * mask, self.stats))
        else:
            for (a, b), mask in zip(self.pairs, self.masks):
                rows = []
                for r in idx:
                    sel = r[mask[r]]
                    rows.append([point_estimate(s, self.values[sel, a], self.values[sel, b])[0]
                                 for s in self.stats])
                per_pair.append(np.array(rows).T)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out = np.nanmean(np.stack(per_pair), axis=0)
        return out[:, 0] if single else out


def _bootstrap(statistic, n: int, k: int, *, n_resamples: int, method: str, confidence_level: float,
               seed: int, distribution: bool = False):
    """CI of the k statistics of ``statistic(idx)`` by :func:`scipy.stats.bootstrap` over architecture indices
    (resampling the indices = paired resampling of scores and ground truth, as scipy does for ``paired=True``).
    Resamples where a correlation is undefined (constant scores or ground truth) are left out of the percentile
    and basic intervals when they are at most 5% of all; otherwise, and for BCa, the CI is NaN.
    Returns (low, high), or (low, high, bootstrap distribution (k, n_resamples)) with ``distribution``."""
    batch = max(1, min(n_resamples, int(2e6 // n)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = scipy.stats.bootstrap((np.arange(n),), statistic, n_resamples=n_resamples, batch=batch,
                                    vectorized=True, method=method, confidence_level=confidence_level,
                                    rng=np.random.default_rng(seed))
    low = np.array(np.broadcast_to(np.asarray(res.confidence_interval.low, dtype=float), (k,)))
    high = np.array(np.broadcast_to(np.asarray(res.confidence_interval.high, dtype=float), (k,)))
    dist = np.asarray(res.bootstrap_distribution, dtype=float).reshape(k, -1)
    for j in range(k):
        finite = np.isfinite(dist[j])
        if method == "bca" or finite.all() or finite.mean() < 0.95:
            continue
        alpha = (1 - confidence_level) / 2
        lo, hi = np.percentile(dist[j, finite], [100 * alpha, 100 * (1 - alpha)])
        if method == "basic":
            theta = float(np.asarray(statistic(np.arange(n)), dtype=float).reshape(k)[j])
            lo, hi = 2 * theta - hi, 2 * theta - lo
        low[j], high[j] = lo, hi
    return (low, high, dist) if distribution else (low, high)


def bootstrap_ci(x: np.ndarray, y: np.ndarray, statistics: Sequence[str] = CORRELATIONS, *,
                 n_resamples: int = 1000, method: str = "percentile", confidence_level: float = 0.95,
                 seed: int = 0, count_path_max: int | None = None) -> dict[str, tuple[float, float]]:
    """Bootstrap confidence intervals ``{statistic: (low, high)}`` of correlations between x and y
    (:func:`scipy.stats.bootstrap` over paired observations; deterministic for a given ``seed``)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n = len(x)
    if n < MIN_ARCHS:
        return {s: (math.nan, math.nan) for s in statistics}
    stat = _PairStatistic(x, y, statistics, COUNT_PATH_MAX if count_path_max is None else count_path_max)
    low, high = _bootstrap(stat, n, len(statistics), n_resamples=n_resamples, method=method,
                           confidence_level=confidence_level, seed=seed)
    return {s: (float(lo), float(hi)) for s, lo, hi in zip(statistics, low, high)}


class _DifferenceStatistic:
    """Bootstrap statistic: correlation of pair A minus correlation of pair B on the same resampled
    architectures."""

    def __init__(self, a: _PairStatistic, b: _PairStatistic):
        self.a, self.b = a, b

    def __call__(self, idx: np.ndarray, axis: int = -1) -> np.ndarray:
        return self.a(idx) - self.b(idx)


COMPARE_COLUMNS = ["proxy_a", "ground_truth_a", "proxy_b", "ground_truth_b", "statistic", "value_a", "value_b",
                   "difference", "ci_low", "ci_high", "p_value", "n"]


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
    sc = _normalise_scores(scores)
    gt = _normalise_ground_truth(ground_truth)
    key = join_key(sc, gt, key)
    names = list(dict.fromkeys(gt["_name"]))
    proxies = list(dict.fromkeys(sc["proxy"]))
    series: dict[tuple[str, str], tuple[pd.Series, pd.Series]] = {}

    def resolve(item, what):
        proxy, name = _comparison_side(item, what)
        if proxy not in proxies:
            raise ValueError(f"unknown proxy {proxy!r} in comparison side {what}; valid: "
                             f"{', '.join(map(str, proxies))}")
        (name,) = _resolve_names(gt, name if name is not None else names[0])
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
            stat = _DifferenceStatistic(_PairStatistic(arrays[0], arrays[1], statistics, COUNT_PATH_MAX),
                                        _PairStatistic(arrays[2], arrays[3], statistics, COUNT_PATH_MAX))
            low, high, dist = _bootstrap(stat, n, len(statistics), n_resamples=int(n_resamples), method=method,
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
    proxies = [p for p in dict.fromkeys(corr["proxy"]) if p != NOISE_CEILING]
    comparisons = [((p, kd), (p, vanilla)) for kd, vanilla in pairs for p in proxies]
    out = compare_correlations(scores, ground_truth, comparisons, statistics=("kendall",), n_resamples=n_resamples)
    return out.sort_values(["ground_truth_a", "difference"], ascending=[True, False], na_position="last",
                           kind="stable").reset_index(drop=True)


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


def _row(proxy, gt, statistic, seed, value, lo=math.nan, hi=math.nan, p=math.nan, n=0, dropped=0, missing=0):
    return {"proxy": proxy, "ground_truth": gt, "statistic": statistic, "seed": seed, "value": value,
            "ci_low": lo, "ci_high": hi, "p_value": p, "n": n, "n_dropped": dropped, "n_missing": missing}


def _series_rows(proxy: str, gt_name: str, label: str, score: pd.Series, truth: pd.Series, *, statistics,
                 topk, ci: bool, opts: dict) -> list[dict]:
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
        rows.append(_row(proxy, gt_name, s, label, value, lo, hi, p, **counts))
    enough = n >= MIN_ARCHS
    for k in topk:
        rows.append(_row(proxy, gt_name, topk_name(k), label, topk_overlap(x, y, k) if enough else math.nan,
                         **counts))
    rows.append(_row(proxy, gt_name, "best_percentile", label, best_percentile(x, y) if enough else math.nan,
                     **counts))
    return rows


def _summary_rows(per_seed: list[dict], heads: list[dict]) -> list[dict]:
    """mean / std rows over per-seed rows, one per statistic; counts copied from the headline rows."""
    out = []
    df = pd.DataFrame(per_seed)
    for h in heads:
        vals = df.loc[df["statistic"] == h["statistic"], "value"].to_numpy(dtype=float)
        vals = vals[np.isfinite(vals)]
        mean = float(vals.mean()) if len(vals) else math.nan
        std = float(vals.std(ddof=1)) if len(vals) > 1 else math.nan
        for label, v in (("mean", mean), ("std", std)):
            out.append(_row(h["proxy"], h["ground_truth"], h["statistic"], label, v, n=h["n"],
                            dropped=h["n_dropped"], missing=h["n_missing"]))
    return out


def noise_ceiling(ground_truth: pd.DataFrame, name: str | None = None, *, key: str = "arch_index",
                  statistics: Sequence[str] = ("kendall", "spearman"), ci: bool = True, n_resamples: int = 1000,
                  ci_method: str = "percentile", confidence_level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Seed-to-seed agreement of the ground truth, the best correlation any proxy can hope for.

    For every pair of ground-truth seeds (a, b), the Kendall tau-b / Spearman rho between the values of
    the architectures trained with both; the headline (``seed == "avg_score"``) is the mean over pairs, with a
    bootstrap CI over architectures. Rows are tagged ``proxy == "noise_ceiling"``; empty when fewer than
    :data:`MIN_ARCHS` architectures have two seeds.
    """
    method = _validate_options(statistics, (), ci_method, n_resamples, confidence_level)
    gt = _normalise_ground_truth(ground_truth)
    names = _resolve_names(gt, name)
    rows: list[dict] = []
    for gname in names:
        mat = ground_truth_seed_matrix(gt, gname, key=key)
        mat = mat[np.isfinite(mat).sum(axis=1) >= 2]
        values = mat.to_numpy(dtype=float)
        pairs, labels, per_pair = [], [], []
        for a, b in combinations(range(values.shape[1]), 2):
            both = np.isfinite(values[:, a]) & np.isfinite(values[:, b])
            if both.sum() < MIN_ARCHS:
                continue
            pairs.append((a, b))
            label = f"{mat.columns[a]}-{mat.columns[b]}"
            labels.append(label)
            for s in statistics:
                v, p = point_estimate(s, values[both, a], values[both, b])
                per_pair.append(_row(NOISE_CEILING, gname, s, label, v, p=p, n=int(both.sum())))
        if not pairs:
            continue
        n = values.shape[0]
        cis = {}
        if ci:
            stat = _SeedPairsStatistic(values, pairs, statistics, COUNT_PATH_MAX)
            low, high = _bootstrap(stat, n, len(statistics), n_resamples=int(n_resamples), method=method,
                                   confidence_level=confidence_level, seed=seed)
            cis = {s: (float(lo), float(hi)) for s, lo, hi in zip(statistics, low, high)}
        df = pd.DataFrame(per_pair)
        heads = []
        for s in statistics:
            vals = df.loc[df["statistic"] == s, "value"].to_numpy(dtype=float)
            value = float(np.nanmean(vals)) if np.isfinite(vals).any() else math.nan
            lo, hi = cis.get(s, (math.nan, math.nan))
            heads.append(_row(NOISE_CEILING, gname, s, HEADLINE, value, lo, hi, n=n))
        rows += heads + per_pair + _summary_rows(per_pair, heads)
    return _finish(rows)


def _finish(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=COLUMNS)
    df["seed"] = df["seed"].astype(str)
    for c in ("n", "n_dropped", "n_missing"):
        df[c] = df[c].astype(int)
    for c in ("value", "ci_low", "ci_high", "p_value"):
        df[c] = df[c].astype(float)
    return df


def correlate(scores: pd.DataFrame, ground_truth: pd.DataFrame, *, proxies: Sequence[str] | None = None,
              ground_truths: Sequence[str] | str | None = None, statistics: Sequence[str] = CORRELATIONS,
              topk: Sequence[float] = DEFAULT_TOPK, ci: bool = True, n_resamples: int = 1000,
              ci_method: str = "percentile", confidence_level: float = 0.95, seed: int = 0,
              noise_ceiling_rows: bool = True, key: str = "auto") -> pd.DataFrame:
    """Correlate every proxy of ``scores`` with every ground truth of ``ground_truth``.

    Returns the tidy correlations table described in the module docstring (columns :data:`COLUMNS`):
    Kendall tau-b, Spearman rho and Pearson r with p-values and ``confidence_level`` bootstrap CIs
    (``n_resamples`` resamples of architectures, ``ci_method`` "percentile", "basic" or "BCa", seeded by
    ``seed``; ``ci=False`` skips them), the top-k% overlaps for each k in ``topk`` and the ground-truth
    percentile of the best-scored architecture; per-seed rows with their mean and std when a proxy has
    several seeds; and, when the ground truth has repeated seeds, the ``noise_ceiling`` rows.
    Non-finite scores are dropped per proxy (``n_dropped``); architectures absent from the ground truth are
    excluded (``n_missing``). Scores and ground truth are joined on ``key`` (see :func:`join_key`).
    """
    method = _validate_options(statistics, topk, ci_method, n_resamples, confidence_level)
    sc = _normalise_scores(scores)
    gt = _normalise_ground_truth(ground_truth)
    key = join_key(sc, gt, key)
    names = _resolve_names(gt, ground_truths)
    all_proxies = list(dict.fromkeys(sc["proxy"]))
    if proxies is None:
        proxies = all_proxies
    if NOISE_CEILING in all_proxies:
        raise ValueError(f"{NOISE_CEILING!r} is reserved for the seed-to-seed row; rename that proxy in the scores")
    unknown = [p for p in proxies if p not in all_proxies]
    if unknown:
        raise ValueError(f"unknown proxy(ies) {unknown} in the scores; valid: {', '.join(map(str, all_proxies))}")
    _check_arch_agreement(sc, gt, key)
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
            heads = _series_rows(proxy, name, HEADLINE, avg, truth, statistics=statistics, topk=topk, ci=ci,
                                 opts=opts)
            rows += heads
            if len(seeds) > 1:
                per_seed = []
                for s in seeds:
                    per_seed += _series_rows(proxy, name, str(s), by_seed[s], truth,
                                             statistics=statistics, topk=topk, ci=ci, opts=opts)
                rows += per_seed + _summary_rows(per_seed, heads)
    out = _finish(rows)
    if noise_ceiling_rows:
        nc_stats = [s for s in statistics if s in ("kendall", "spearman")]
        if nc_stats:
            nc = noise_ceiling(gt, names, key=key, statistics=nc_stats, ci=ci, n_resamples=n_resamples,
                               ci_method=method, confidence_level=confidence_level, seed=seed)
            out = pd.concat([out, nc], ignore_index=True) if len(nc) else out
    return out


def _check_arch_agreement(sc: pd.DataFrame, gt: pd.DataFrame, key: str) -> None:
    if key != "arch_index" or "arch" not in sc.columns or "arch" not in gt.columns:
        return
    a = sc[[key, "arch"]].drop_duplicates(key)
    b = gt[[key, "arch"]].dropna().drop_duplicates(key)
    m = a.merge(b, on=key, suffixes=("_scores", "_gt"))
    bad = m[m["arch_scores"].astype(str) != m["arch_gt"].astype(str)]
    if len(bad):
        r = bad.iloc[0]
        warnings.warn(f"{len(bad)} architecture(s) have different arch strings in scores and ground truth for the "
                      f"same arch_index (e.g. {r[key]}: {r['arch_scores']!r} vs {r['arch_gt']!r}); joined on "
                      f"arch_index", stacklevel=3)


def headline(correlations: pd.DataFrame, statistic: str | None = None) -> pd.DataFrame:
    """The headline rows (``seed == "avg_score"``) of a correlations table, optionally of one statistic."""
    df = correlations[correlations["seed"].astype(str) == HEADLINE]
    if statistic is not None:
        df = df[df["statistic"] == statistic]
    return df.reset_index(drop=True)


def proxy_rank_correlation(scores: pd.DataFrame, proxies: Sequence[str] | None = None, *,
                           key: str = "arch_index") -> pd.DataFrame:
    """Proxy x proxy Kendall tau-b matrix of the seed-averaged scores over the architectures where both
    are finite (:meth:`pandas.DataFrame.corr`, which calls :func:`scipy.stats.kendalltau`)."""
    sc = _normalise_scores(scores)
    if key not in sc.columns:
        key = "arch"
    proxies = list(dict.fromkeys(sc["proxy"])) if proxies is None else list(proxies)
    wide = pd.DataFrame({p: seed_averaged(score_matrix(sc, p, key=key)) for p in proxies})
    wide = wide.where(np.isfinite(wide))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return wide.corr(method="kendall", min_periods=MIN_ARCHS)
