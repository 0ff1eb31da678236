"""Ranking metrics that weight the top of the ranking: precision@k and nDCG@k, with bootstrap CIs.

Both cut at k percent of the n scored architectures, m = ceil(k n / 100) (at least 1), so that a value means the
same in a run of 20 and of 15,625 architectures.

* ``precision@<k>%`` -- the fraction of the true top-m architectures that are also among the proxy's top m (the
  "top-k%/top-k%" of Abdelfattah et al., ICLR 2021). Ties at a cut are shared out: the value is the expected
  overlap / m under random tie-breaking, sum_i P(i in proxy top m) P(i in true top m) / m.
* ``ndcg@<k>%`` -- normalised discounted cumulative gain as the VKDNW paper defines it (Tybl & Neumann, CVPR 2025,
  "Training-free NAS through Variance of Knowledge of Deep Network Weights", Sec. 4):
  nDCG = (1/Z) sum_{j=1..m} (2^{acc_(j)} - 1) / log2(1 + j), where acc_(j) is the ground-truth accuracy (in
  percent) of the architecture the proxy ranks j-th and Z is the same sum over the true order (so a perfect
  ranking gives 1). Gain: the exponential 2^acc - 1 on accuracies in percent, the paper's choice; it is the gain
  that reproduces the paper's worked example (a top-10 whose best two networks are ranked 3rd and 4th: nDCG 0.50,
  the perfect top: 1.00), and it makes one point of accuracy double an architecture's weight, which is what
  "finding the best networks" asks for. Ties in the score are broken at random in expectation (each position of a
  tied group gets the group's mean gain). The paper cuts at the top P networks; proxybench cuts at k%.

The bootstrap (:class:`RankingStatistic`) resamples architectures with replacement, as the correlations do
(:func:`proxybench.analysis.bootstrap.bootstrap`, i.e. :func:`scipy.stats.bootstrap`); one batch of resamples is
one (B, n) array.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

MAX_GAIN_EXPONENT = 1000.0  # 2^acc overflows float64 above ~1024; accuracies are percentages


def precision_name(k: float) -> str:
    """Statistic name of precision at k%, e.g. ``precision@10%``."""
    return f"precision@{k:g}%"


def ndcg_name(k: float) -> str:
    """Statistic name of nDCG at k%, e.g. ``ndcg@10%``."""
    return f"ndcg@{k:g}%"


def cut(k: float, n: int) -> int:
    """Architectures in the top k% of n: ceil(k n / 100), at least 1."""
    if not (isinstance(k, (int, float)) and 0 < k <= 100):
        raise ValueError(f"top-k percentage must be in (0, 100], got {k!r}")
    return max(1, math.ceil(round(k * n / 100.0, 9)))


def _inclusion(v: np.ndarray, m: int) -> np.ndarray:
    """(B, n) -> probability that each element is among the m largest of its row, ties at the cut shared out."""
    t = -np.partition(-v, m - 1, axis=1)[:, m - 1:m]
    above = v > t
    tied = v == t
    return above + tied * ((m - above.sum(axis=1, keepdims=True)) / tied.sum(axis=1, keepdims=True))


def precision_batch(x: np.ndarray, y: np.ndarray, k: float) -> np.ndarray:
    """precision@k% of each row of (B, n) scores ``x`` against (B, n) ground truth ``y``."""
    m = cut(k, x.shape[1])
    return (_inclusion(x, m) * _inclusion(y, m)).sum(axis=1) / m


def gain(y: np.ndarray) -> np.ndarray:
    """The VKDNW paper's gain 2^acc - 1 of accuracies in percent."""
    y = np.asarray(y, dtype=float)
    if y.size and np.nanmax(y) > MAX_GAIN_EXPONENT:
        raise ValueError(f"nDCG's gain 2^acc - 1 expects accuracies in percent; got a value of {np.nanmax(y):g} "
                         f"(above {MAX_GAIN_EXPONENT:g}, 2^value overflows)")
    return np.exp2(y) - 1.0


def _discounts(m: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(m) + 2.0)


def ndcg_batch(x: np.ndarray, g: np.ndarray, k: float) -> np.ndarray:
    """nDCG@k% of each row of (B, n) scores ``x`` against (B, n) gains ``g`` (:func:`gain`); NaN where the ideal
    DCG is not positive."""
    b, n = x.shape
    m = cut(k, n)
    order = np.argsort(-x, axis=1, kind="stable")
    xs = np.take_along_axis(x, order, axis=1)
    gs = np.take_along_axis(g, order, axis=1)
    start = np.ones((b, n), dtype=bool)
    start[:, 1:] = xs[:, 1:] != xs[:, :-1]
    group = np.cumsum(start, axis=1) - 1 + (np.arange(b) * n)[:, None]
    sums = np.bincount(group.ravel(), weights=gs.ravel(), minlength=b * n)
    counts = np.bincount(group.ravel(), minlength=b * n)
    mean = (sums[group] / counts[group])[:, :m]
    disc = _discounts(m)
    dcg = mean @ disc
    ideal = -np.partition(-g, m - 1, axis=1)[:, :m] if m < n else g
    idcg = np.sort(ideal, axis=1)[:, ::-1][:, :m] @ disc
    with np.errstate(invalid="ignore", divide="ignore"):
        out = dcg / idcg
    out[~(idcg > 0)] = np.nan
    return out


def precision_at_k(score: np.ndarray, truth: np.ndarray, k: float) -> float:
    """precision@k% of one proxy (see the module docstring); NaN without architectures."""
    score = np.asarray(score, dtype=float)
    if len(score) == 0:
        cut(k, 1)
        return math.nan
    return float(precision_batch(score[None], np.asarray(truth, dtype=float)[None], k)[0])


def ndcg_at_k(score: np.ndarray, truth: np.ndarray, k: float) -> float:
    """nDCG@k% of one proxy against accuracies ``truth`` in percent (see the module docstring)."""
    score = np.asarray(score, dtype=float)
    if len(score) == 0:
        cut(k, 1)
        return math.nan
    return float(ndcg_batch(score[None], gain(truth)[None], k)[0])


def ranking_names(ks: Sequence[float]) -> list[str]:
    """Statistic names for the cuts ``ks``: every precision, then every nDCG."""
    return [precision_name(k) for k in ks] + [ndcg_name(k) for k in ks]


def ranking_values(score: np.ndarray, truth: np.ndarray, ks: Sequence[float]) -> dict[str, float]:
    """{statistic name: value} of precision@k% and nDCG@k% for every k in ``ks``."""
    x = np.asarray(score, dtype=float)[None]
    y = np.asarray(truth, dtype=float)[None]
    stat = RankingStatistic(x[0], y[0], ks)
    return dict(zip(stat.names, stat(np.arange(x.shape[1]))))


def ranking_curves(score: np.ndarray, truth: np.ndarray, ks: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """(precision, nDCG) at each k% of ``ks``: the curves of the report's figure."""
    x = np.asarray(score, dtype=float)[None]
    y = np.asarray(truth, dtype=float)[None]
    g = gain(y)
    prec = np.array([precision_batch(x, y, k)[0] for k in ks])
    nd = np.array([ndcg_batch(x, g, k)[0] for k in ks])
    return prec, nd


class RankingStatistic:
    """Bootstrap statistic over resampled architecture indices: precision@k% and nDCG@k% of one (score, ground
    truth) pair for every k (rows in :attr:`names` order)."""

    def __init__(self, x: np.ndarray, y: np.ndarray, ks: Sequence[float]):
        self.x = np.asarray(x, dtype=float)
        self.y = np.asarray(y, dtype=float)
        try:
            self.g = gain(self.y)
        except ValueError:  # not accuracies in percent: nDCG is undefined (NaN), precision still holds
            self.g = np.full_like(self.y, np.nan)
        self.ks = tuple(ks)
        for k in self.ks:
            cut(k, 1)
        self.names = ranking_names(self.ks)

    def __call__(self, idx: np.ndarray, axis: int = -1) -> np.ndarray:
        idx = np.asarray(idx)
        single = idx.ndim == 1
        idx = np.atleast_2d(idx)
        x, y, g = self.x[idx], self.y[idx], self.g[idx]
        out = [precision_batch(x, y, k) for k in self.ks] + [ndcg_batch(x, g, k) for k in self.ks]
        out = np.vstack(out)
        return out[:, 0] if single else out


__all__ = ["RankingStatistic", "cut", "gain", "ndcg_at_k", "ndcg_batch", "ndcg_name", "precision_at_k",
           "precision_batch", "precision_name", "ranking_curves", "ranking_names", "ranking_values"]
