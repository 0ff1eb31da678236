"""Point estimates and ranking statistics of one (score, ground truth) pair of series.

``kendall`` (tau-b), ``spearman`` (rho), ``pearson`` (r), all from :mod:`scipy.stats` with their p-values, and never
made absolute (a negative correlation stays negative); ``top<k>%`` (:func:`topk_overlap`) and ``best_percentile``
(:func:`best_percentile`).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import scipy.stats

from ..schema import CORRELATION_STATISTICS as CORRELATIONS

MIN_ARCHS = 3  # fewer architectures than this: every statistic is NaN


def topk_name(k: float) -> str:
    """Statistic name of the top-k% overlap, e.g. ``top5%``."""
    return f"top{k:g}%"


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


__all__ = ["CORRELATIONS", "MIN_ARCHS", "best_percentile", "point_estimate", "topk_name", "topk_overlap"]
