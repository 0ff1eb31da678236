"""Bootstrap confidence intervals of correlations, vectorised over resamples.

Resampling architectures with replacement (one index vector shared by score and ground truth: paired resampling,
as :func:`scipy.stats.bootstrap` does for ``paired=True``), deterministic for a given seed. Up to
:data:`COUNT_PATH_MAX` architectures, a resample's correlations are computed exactly from its multiplicity vector
with one matrix product per batch of resamples (:class:`CountStats`); above it, directly on the resampled values.

Statistics over resamples: :class:`PairStatistic` (the correlations of one pair of series),
:class:`SeedPairsStatistic` (the noise ceiling: mean over ground-truth seed pairs) and :class:`DifferenceStatistic`
(correlation A minus correlation B on the same resample).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import scipy.stats

from .statistics import CORRELATIONS, MIN_ARCHS, point_estimate

CI_METHODS = ("percentile", "basic", "bca")
COUNT_PATH_MAX = 1000


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


class CountStats:
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


class PairStatistic:
    """Bootstrap statistic over resampled architecture indices: the correlations of one (x, y) pair."""

    def __init__(self, x: np.ndarray, y: np.ndarray, stats: Sequence[str], count_path_max: int):
        self.x, self.y, self.stats = x, y, tuple(stats)
        self.n = len(x)
        self.count = CountStats(x, y) if self.n <= count_path_max else None

    def __call__(self, idx: np.ndarray, axis: int = -1) -> np.ndarray:
        idx = np.asarray(idx)
        single = idx.ndim == 1
        idx = np.atleast_2d(idx)
        if self.count is not None:
            out = self.count(_counts(idx, self.n), self.stats)
        else:
            out = _direct_stats(self.x[idx], self.y[idx], self.stats)
        return out[:, 0] if single else out


class SeedPairsStatistic:
    """Bootstrap statistic of the noise ceiling: mean over ground-truth seed pairs of the correlation
    between the two seeds, over the resampled architectures that have both seeds."""

    def __init__(self, values: np.ndarray, pairs: list[tuple[int, int]], stats: Sequence[str],
                 count_path_max: int):
        self.values, self.pairs, self.stats = values, pairs, tuple(stats)
        self.n = values.shape[0]
        self.masks = [np.isfinite(values[:, a]) & np.isfinite(values[:, b]) for a, b in pairs]
        filled = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
        self.count = ([CountStats(filled[:, a], filled[:, b]) for a, b in pairs]
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


def bootstrap(statistic, n: int, k: int, *, n_resamples: int, method: str, confidence_level: float,
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
    stat = PairStatistic(x, y, statistics, COUNT_PATH_MAX if count_path_max is None else count_path_max)
    low, high = bootstrap(stat, n, len(statistics), n_resamples=n_resamples, method=method,
                           confidence_level=confidence_level, seed=seed)
    return {s: (float(lo), float(hi)) for s, lo, hi in zip(statistics, low, high)}


class DifferenceStatistic:
    """Bootstrap statistic: correlation of pair A minus correlation of pair B on the same resampled
    architectures."""

    def __init__(self, a: PairStatistic, b: PairStatistic):
        self.a, self.b = a, b

    def __call__(self, idx: np.ndarray, axis: int = -1) -> np.ndarray:
        return self.a(idx) - self.b(idx)


__all__ = ["CI_METHODS", "COUNT_PATH_MAX", "CountStats", "DifferenceStatistic", "PairStatistic", "SeedPairsStatistic",
           "bootstrap", "bootstrap_ci"]
