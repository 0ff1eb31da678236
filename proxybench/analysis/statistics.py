"""Point estimates and ranking statistics of one (score, ground truth) pair of series.

``kendall`` (tau-b), ``spearman`` (rho), ``pearson`` (r), all from :mod:`scipy.stats` with their p-values, and never
made absolute (a negative correlation stays negative); ``precision@<k>%`` (:func:`topk_overlap`) and
``best_percentile`` (:func:`best_percentile`); nDCG and the ranking metrics' bootstrap are in :mod:`.ranking`.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import scipy.stats

from ..schema import CORRELATION_STATISTICS as CORRELATIONS
from .ranking import precision_at_k, precision_name

MIN_ARCHS = 3  # fewer architectures than this: every statistic is NaN


def topk_name(k: float) -> str:
    """Statistic name of the top-k% overlap (precision at k%), e.g. ``precision@5%``."""
    return precision_name(k)


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


def topk_overlap(score: np.ndarray, truth: np.ndarray, k: float) -> float:
    """Fraction of the true top-k% architectures that are also in the proxy's top-k% (Abdelfattah et al.,
    ICLR 2021, "top-10%/top-10%"): precision@k%, see :func:`proxybench.analysis.ranking.precision_at_k` (ties at a
    cut shared out: the expected overlap / m under random tie-breaking)."""
    return precision_at_k(score, truth, k)


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
