"""Figures of a benchmark with KD and vanilla accuracy.

* :func:`plot_kd_vs_vanilla` -- KD vs vanilla accuracy with each architecture's rank shift, on robust axis limits
  (outliers drawn at the edge and marked);
* :func:`plot_score_vs_kd_gain` -- one panel per proxy: score rank vs the KD gain (KD minus vanilla accuracy).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.stats
from matplotlib import colormaps
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .joining import ground_truth_values as _gt_values
from .joining import join_key, normalise_ground_truth, normalise_scores, score_matrix, seed_averaged
from .plots import FONT, _fmt, _new_figure, _order_by_tau, _style, proxy_colors, save_figure
from .statistics import point_estimate

FENCE = 3.0  # robust limits: [Q1 - FENCE * IQR, Q3 + FENCE * IQR], within the data's range, padded 4%


def robust_limits(values: np.ndarray, fence: float = FENCE, pad: float = 0.04) -> tuple[float, float]:
    """Axis limits that leave out outliers: the quartile fences Q1 - fence IQR and Q3 + fence IQR (Tukey's far
    fences for 3), cut to the data's range, padded by ``pad`` of the span."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    q1, q3 = np.percentile(v, [25, 75])
    iqr = q3 - q1
    lo, hi = max(v.min(), q1 - fence * iqr), min(v.max(), q3 + fence * iqr)
    if hi <= lo:
        lo, hi = v.min(), v.max()
    span = (hi - lo) or 1.0
    return lo - pad * span, hi + pad * span


def _kd_vanilla(ground_truth: pd.DataFrame, kd_name: str, vanilla_name: str) -> tuple[pd.Series, pd.Series]:
    gt = normalise_ground_truth(ground_truth)
    key = "arch_index" if "arch_index" in gt.columns and gt["arch_index"].notna().all() else "arch"
    kd = _gt_values(gt, kd_name, key=key)
    va = _gt_values(gt, vanilla_name, key=key)
    common = kd.index.intersection(va.index)
    if len(common) < 3:
        raise ValueError(f"{kd_name!r} and {vanilla_name!r} share only {len(common)} architecture(s); need >= 3")
    return kd.loc[common], va.loc[common]


def plot_kd_vs_vanilla(ground_truth: pd.DataFrame, kd_name: str, vanilla_name: str, *, n_labels: int = 6,
                       path: str | Path | None = None) -> Figure:
    """Left: vanilla (x) vs KD (y) accuracy, each architecture coloured by its rank shift (vanilla rank - KD
    rank; positive = ranks higher under KD), on :func:`robust_limits`: an architecture outside them is drawn at the
    edge as a cross, labelled with its index and accuracies, and counted in the legend. Right: the two ranks with
    the y = x line (no shift). The ``n_labels`` biggest movers are labelled with their arch index; the title gives
    Kendall tau."""
    kd, va = _kd_vanilla(ground_truth, kd_name, vanilla_name)
    common = kd.index
    x, y = va.to_numpy(float), kd.to_numpy(float)
    r_kd = scipy.stats.rankdata(-y)  # rank 1 = best
    r_va = scipy.stats.rankdata(-x)
    shift = r_va - r_kd
    tau, _ = point_estimate("kendall", y, x)
    lim = max(1.0, np.abs(shift).max())
    norm = TwoSlopeNorm(vmin=-lim, vcenter=0.0, vmax=lim)
    cmap = colormaps["coolwarm"]
    fig = _new_figure(11.0, 4.8)
    ax1, ax2 = fig.subplots(1, 2)
    lo, hi = robust_limits(np.concatenate([x, y]))
    clipped = (x < lo) | (x > hi) | (y < lo) | (y > hi)
    xc, yc = np.clip(x, lo, hi), np.clip(y, lo, hi)
    order = np.argsort(np.abs(shift))  # draw big movers last (on top)
    inside = order[~clipped[order]]
    ax1.scatter(xc[inside], yc[inside], c=shift[inside], cmap=cmap, norm=norm, s=22, edgecolors="#333333",
                linewidths=0.3)
    ax1.plot([lo, hi], [lo, hi], color="#888888", linewidth=0.9, linestyle="--", label="KD = vanilla")
    handles = [Line2D([], [], color="#888888", linewidth=0.9, linestyle="--", label="KD = vanilla")]
    out = np.flatnonzero(clipped)
    if len(out):
        ax1.scatter(xc[out], yc[out], c=shift[out], cmap=cmap, norm=norm, s=46, marker="X", edgecolors="black",
                    linewidths=0.6, clip_on=False, zorder=5)
        handles.append(Line2D([], [], marker="X", color="none", markeredgecolor="black", markerfacecolor="#bbbbbb",
                              markersize=7, label=f"{len(out)} outside the axes, drawn at the edge"))
        for j, i in enumerate(out[:4]):
            ax1.annotate(f"#{common[i]} ({x[i]:.1f}, {y[i]:.1f})", (xc[i], yc[i]), xytext=(6, 6 + 11 * j),
                         textcoords="offset points", fontsize=FONT["annot"], color="#333333")
    ax1.set_xlim(lo, hi)
    ax1.set_ylim(lo, hi)
    ax1.set_xlabel(f"vanilla accuracy ({vanilla_name})", fontsize=FONT["label"])
    ax1.set_ylabel(f"KD accuracy ({kd_name})", fontsize=FONT["label"])
    ax1.legend(handles=handles, fontsize=FONT["annot"], loc="upper left")
    sc2 = ax2.scatter(r_va[order], r_kd[order], c=shift[order], cmap=cmap, norm=norm, s=22, edgecolors="#333333",
                      linewidths=0.3)
    n = len(common)
    ax2.plot([1, n], [1, n], color="#888888", linewidth=0.9, linestyle="--", label="same rank")
    ax2.set_xlabel("vanilla rank (1 = best)", fontsize=FONT["label"])
    ax2.set_ylabel("KD rank (1 = best)", fontsize=FONT["label"])
    ax2.invert_xaxis()
    ax2.invert_yaxis()
    ax2.legend(fontsize=FONT["annot"], loc="upper left")
    movers = np.argsort(-np.abs(shift), kind="stable")[:n_labels]
    offsets = [(8, 6), (8, -13), (-10, 8), (-10, -15)]  # alternate so neighbouring labels do not collide
    arrow = {"arrowstyle": "-", "color": "#555555", "linewidth": 0.5, "shrinkA": 0, "shrinkB": 2}
    for j, i in enumerate(movers):
        dx, dy = offsets[j % len(offsets)]
        ha = "left" if dx > 0 else "right"
        if not clipped[i]:
            ax1.annotate(f"#{common[i]}", (xc[i], yc[i]), xytext=(dx, dy), textcoords="offset points", ha=ha,
                         fontsize=FONT["annot"], arrowprops=arrow)
        ax2.annotate(f"#{common[i]}", (r_va[i], r_kd[i]), xytext=(-dx, dy), textcoords="offset points",
                     ha="right" if ha == "left" else "left", fontsize=FONT["annot"], arrowprops=arrow)
    for ax in (ax1, ax2):
        _style(ax)
    fig.colorbar(sc2, ax=[ax1, ax2], label="rank shift = vanilla rank − KD rank\n(> 0: ranks higher under KD)",
                 shrink=0.9)
    best_va, best_kd = int(np.argmin(r_va)), int(np.argmin(r_kd))
    fig.suptitle(f"KD vs vanilla accuracy, {n} architectures: Kendall τ = {_fmt(tau)}; best vanilla #{common[best_va]}"
                 f" is KD rank {r_kd[best_va]:g}, best KD #{common[best_kd]} is vanilla rank {r_va[best_kd]:g}",
                 fontsize=FONT["title"])
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_score_vs_kd_gain(scores: pd.DataFrame, ground_truth: pd.DataFrame, kd_name: str, vanilla_name: str,
                          correlations: pd.DataFrame | None = None, *, proxies: Sequence[str] | None = None,
                          colors: Mapping[str, str] | None = None, ncols: int = 4,
                          path: str | Path | None = None) -> Figure:
    """One panel per proxy: the percentile rank of its (seed-averaged) score against the KD gain of each scored
    architecture, KD minus vanilla accuracy in points; the title gives Kendall tau of score vs gain. Does a proxy
    see which architectures profit from distillation? Proxies in the bar chart's order (tau on ``kd_name``)."""
    sc = normalise_scores(scores)
    kd, va = _kd_vanilla(ground_truth, kd_name, vanilla_name)
    key = join_key(sc, normalise_ground_truth(ground_truth))
    gain = (kd - va).rename("gain")
    proxies = list(dict.fromkeys(sc["proxy"])) if proxies is None else list(proxies)
    proxies = _order_by_tau(correlations, kd_name, proxies)
    colors = dict(colors or proxy_colors(proxies))
    ncols = max(1, min(ncols, len(proxies)))
    nrows = math.ceil(len(proxies) / ncols)
    fig = _new_figure(0.4 + 2.9 * ncols, 0.9 + 2.5 * nrows)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax in axes[len(proxies):]:
        ax.set_visible(False)
    ylo, yhi = robust_limits(gain.to_numpy(float))
    for ax, proxy in zip(axes, proxies):
        s = seed_averaged(score_matrix(sc, proxy, key=key))
        s = s[s.index.isin(gain.index) & np.isfinite(s.to_numpy())]
        g = gain.loc[s.index].to_numpy(float)
        xv = 100.0 * (scipy.stats.rankdata(s.to_numpy(float)) - 0.5) / max(len(s), 1)
        ax.scatter(xv, np.clip(g, ylo, yhi), s=10, alpha=0.7, color=colors.get(proxy, "C0"), edgecolors="none")
        ax.axhline(0, color="#777777", linewidth=0.8, linestyle="--")
        tau = point_estimate("kendall", s.to_numpy(float), g)[0]
        ax.set_title(f"{proxy} (n={len(s)})\nτ(score, KD gain) = {_fmt(tau)}", fontsize=FONT["title"] - 1)
        ax.set_ylim(ylo, yhi)
        ax.set_xlabel("score rank (percentile)", fontsize=FONT["label"] - 1)
        ax.set_ylabel("KD − vanilla (points)", fontsize=FONT["label"] - 1)
        _style(ax)
    fig.suptitle(f"Proxy score vs KD gain ({kd_name} − {vanilla_name}); > 0: distillation helps",
                 fontsize=FONT["title"] + 1)
    if path is not None:
        save_figure(fig, path)
    return fig


__all__ = ["plot_kd_vs_vanilla", "plot_score_vs_kd_gain", "robust_limits"]
