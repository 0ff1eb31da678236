"""Reliability of a ground truth with repeated training seeds, and the ceiling it puts on any proxy.

* ICC(1), the one-way random-effects intraclass correlation (Shrout & Fleiss 1979, case 1; McGraw & Wong 1996),
  on an architectures x seeds table: the share of a single run's variance that belongs to the architecture,
  ``ICC(1) = (MSB - MSW) / (MSB + (k0 - 1) MSW)`` with the between- and within-architecture mean squares of a one-way
  ANOVA and, for unequal seed counts, ``k0 = (N - sum k_i^2 / N) / (n - 1)`` (n architectures, N values). Its
  F test: ``F = MSB / MSW`` on (n - 1, N - n) degrees of freedom. The CI is a bootstrap over architectures.
* The attenuation ceiling (Spearman 1904): a proxy correlates with one noisy run at most ``sqrt(ICC)`` (Pearson),
  whatever it computes, since the run's noise is independent of the proxy. On Kendall's and Spearman's scale, for a
  bivariate normal: ``tau = (2 / pi) asin(r)`` and ``rho_s = (6 / pi) asin(r / 2)`` with ``r = sqrt(ICC)``. The
  seed-to-seed tau (the noise ceiling) is the agreement of two noisy runs, ``(2 / pi) asin(ICC)``, a lower figure.

No torch here.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .. import schema

ICC = "icc1"
"""The ``statistic`` of an ICC(1) row in the noise-ceiling table."""
ALL_SEEDS = schema.ALL_SEEDS
CEILING = schema.ATTENUATION_CEILING
MIN_RANKABLE_ICC = 0.5
"""Below this ICC(1), a single run's ranking of architectures is mostly noise: reports call it low."""


def _parts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per architecture (rows with >= 2 finite values): seed count k_i, mean m_i, within sum of squares."""
    values = np.asarray(values, dtype=float)
    finite = np.isfinite(values)
    k = finite.sum(axis=1).astype(float)
    filled = np.where(finite, values, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = filled.sum(axis=1) / k
    ssw = np.where(finite, (filled - mean[:, None]) ** 2, 0.0).sum(axis=1)
    return k, mean, ssw


def _icc_from_weights(w: np.ndarray, k: np.ndarray, mean: np.ndarray, ssw: np.ndarray) -> tuple[np.ndarray, ...]:
    """ICC(1), F and k0 for architecture multiplicities ``w`` ((B, n) or (n,)): a bootstrap resample counts
    architecture i ``w_i`` times."""
    w = np.atleast_2d(w).astype(float)
    n = w.sum(axis=1)
    big_n = w @ k
    grand = (w @ (k * mean)) / big_n
    ssb = (w * k * (mean[None, :] - grand[:, None]) ** 2).sum(axis=1)
    ss_within = w @ ssw
    with np.errstate(invalid="ignore", divide="ignore"):
        msb = ssb / (n - 1)
        msw = ss_within / (big_n - n)
        k0 = (big_n - (w @ (k * k)) / big_n) / (n - 1)
        icc = (msb - msw) / (msb + (k0 - 1) * msw)
        f = msb / msw
    return icc, f, k0


def icc1(values: np.ndarray) -> dict:
    """ICC(1) of an architectures x seeds table (NaN = no run); architectures with fewer than two finite values
    are left out. Returns ``icc``, ``f``, ``p_value`` (of the F test that the architectures differ), ``n``
    (architectures used), ``runs`` and ``k0`` (the effective seeds per architecture)."""
    from scipy.stats import f as f_dist

    k, mean, ssw = _parts(values)
    keep = k >= 2
    k, mean, ssw = k[keep], mean[keep], ssw[keep]
    n = int(keep.sum())
    out = {"icc": math.nan, "f": math.nan, "p_value": math.nan, "n": n, "runs": int(k.sum()), "k0": math.nan}
    if n < 2:
        return out
    icc, f, k0 = (float(v[0]) for v in _icc_from_weights(np.ones(n), k, mean, ssw))
    out.update(icc=icc, f=f, k0=k0)
    if math.isfinite(f):
        out["p_value"] = float(f_dist.sf(f, n - 1, int(k.sum()) - n))
    return out


class ICCStatistic:
    """Bootstrap statistic (resampled architecture indices -> ICC(1)), vectorised over resamples."""

    def __init__(self, values: np.ndarray):
        k, mean, ssw = _parts(values)
        keep = k >= 2
        self.k, self.mean, self.ssw = k[keep], mean[keep], ssw[keep]
        self.n = int(keep.sum())

    def __call__(self, idx: np.ndarray, axis: int = -1) -> np.ndarray:
        from .bootstrap import _counts

        return _icc_from_weights(_counts(np.atleast_2d(np.asarray(idx)), self.n), self.k, self.mean, self.ssw)[0]


def icc1_ci(values: np.ndarray, *, n_resamples: int = 1000, method: str = "percentile",
            confidence_level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Bootstrap CI of ICC(1) over architectures (:func:`scipy.stats.bootstrap`, deterministic for ``seed``)."""
    from .bootstrap import bootstrap

    stat = ICCStatistic(values)
    if stat.n < 3:
        return math.nan, math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = bootstrap(stat, stat.n, 1, n_resamples=n_resamples, method=method,
                              confidence_level=confidence_level, seed=seed)
    return float(low[0]), float(high[0])


def attenuation_ceiling(icc: float, statistic: str = "kendall") -> float:
    """The highest correlation any proxy can reach with one run of a ground truth whose ICC(1) is ``icc``:
    ``sqrt(ICC)`` as Pearson r, mapped to Kendall's tau (``2/pi asin r``) or Spearman's rho (``6/pi asin(r/2)``)
    for a bivariate normal. 0 for ICC <= 0, NaN for NaN."""
    if not math.isfinite(icc):
        return math.nan
    r = math.sqrt(min(1.0, max(0.0, icc)))
    if statistic == "kendall":
        return 2 / math.pi * math.asin(r)
    if statistic == "spearman":
        return 6 / math.pi * math.asin(r / 2)
    if statistic == "pearson":
        return r
    raise ValueError(f"attenuation_ceiling: statistic must be kendall, spearman or pearson, got {statistic!r}")


def verdict(icc: float, ci_low: float) -> str:
    """``unreliable`` (the CI of ICC(1) reaches 0: a run's values may be pure seed noise; rank nothing on it),
    ``low`` (ICC(1) < :data:`MIN_RANKABLE_ICC`), ``reliable``, or ``unknown`` (no value)."""
    if not math.isfinite(icc):
        return "unknown"
    if not math.isfinite(ci_low) or ci_low <= 0:
        return "unreliable"
    return "low" if icc < MIN_RANKABLE_ICC else "reliable"


VERDICT_TEXT = {
    "unreliable": "too low to rank on: the CI of its ICC(1) reaches 0, so a run's values may be seed noise alone; "
                  "no conclusion is drawn from correlations with it",
    "low": f"low (ICC(1) < {MIN_RANKABLE_ICC}): most of a run's variation between architectures is seed noise",
    "reliable": "reliable",
    "unknown": "unknown (too few architectures with two or more seeds)",
}


def reliability_text(icc: float, lo: float, hi: float, n: int, digits: int = 2) -> str:
    """``ICC(1) 0.62 [0.41, 0.78] from 30 architectures: reliable; ceiling on any proxy's tau 0.53``."""
    if not math.isfinite(icc):
        return f"ICC(1) undefined (n={n})"
    ci = f" [{lo:.{digits}f}, {hi:.{digits}f}]" if math.isfinite(lo) and math.isfinite(hi) else ""
    v = verdict(icc, lo)
    return (f"ICC(1) {icc:.{digits}f}{ci} from {n} architectures: {VERDICT_TEXT[v]}; ceiling on any proxy's "
            f"Kendall τ with one run {attenuation_ceiling(icc):.{digits}f}")


__all__ = ["ALL_SEEDS", "CEILING", "ICC", "ICCStatistic", "MIN_RANKABLE_ICC", "VERDICT_TEXT", "attenuation_ceiling",
           "icc1", "icc1_ci", "reliability_text", "verdict"]
