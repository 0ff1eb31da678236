"""Figures of the top of the ranking and of seed-to-seed spread.

* :func:`plot_ranking_curves` -- precision@k% and nDCG@k% (:mod:`.ranking`) against k, one line per proxy;
* :func:`plot_seed_spread` -- per proxy, the Kendall tau of each score seed, their mean +- std and the tau of the
  seed-averaged scores.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .. import schema
from .correlation import HEADLINE
from .joining import score_matrix, seed_averaged
from .plots import FONT, _new_figure, _order_by_tau, _style, panel_inputs, proxy_colors, save_figure
from .ranking import ranking_curves

PERCENT_TICKS = (1, 2, 5, 10, 20, 50, 100)


def curve_cuts(n: int, points: int = 40) -> np.ndarray:
    """Cuts k (percent) from one architecture (at least 0.5%) to all, log-spaced, each a distinct top-m."""
    lo = max(100.0 / max(n, 1), 0.5)
    ks = np.geomspace(lo, 100.0, points)
    m = np.unique(np.maximum(1, np.ceil(np.round(ks * n / 100.0, 9)))) if n else np.array([1.0])
    return 100.0 * m / max(n, 1)


def plot_ranking_curves(scores: pd.DataFrame, ground_truth: pd.DataFrame, ground_truth_name: str | None = None,
                        correlations: pd.DataFrame | None = None, *, proxies: Sequence[str] | None = None,
                        colors: Mapping[str, str] | None = None, path: str | Path | None = None) -> Figure:
    """Left: precision@k% (fraction of the true top k% in the proxy's top k%) against k, with the expectation of
    a random ranking (k/100); right: nDCG@k% (VKDNW's, gain 2^acc - 1). One line per proxy (seed-averaged scores,
    architectures with a finite score and a ground truth), legend in the bar chart's order."""
    sc, key, truth, proxies, colors = panel_inputs(scores, ground_truth, ground_truth_name, correlations, proxies,
                                                   colors)
    name = truth.name
    fig = _new_figure(11.0, 4.6)
    ax1, ax2 = fig.subplots(1, 2)
    n_max = 0
    for proxy in proxies:
        s = seed_averaged(score_matrix(sc, proxy, key=key))
        s = s[s.index.isin(truth.index) & np.isfinite(s.to_numpy())]
        if len(s) < 3:
            continue
        ks = curve_cuts(len(s))
        prec, nd = ranking_curves(s.to_numpy(float), truth.loc[s.index].to_numpy(float), ks)
        ax1.plot(ks, prec, color=colors.get(proxy, "C0"), linewidth=1.4, marker="o", markersize=2.5, label=proxy)
        ax2.plot(ks, nd, color=colors.get(proxy, "C0"), linewidth=1.4, marker="o", markersize=2.5, label=proxy)
        n_max = max(n_max, len(s))
    ks = curve_cuts(n_max or 100)
    ax1.plot(ks, ks / 100.0, color="#555555", linestyle=":", linewidth=1.1, label="random ranking")
    for ax, label in ((ax1, "precision@k%"), (ax2, "nDCG@k% (gain 2^acc − 1)")):
        ax.set_xscale("log")
        ticks = [t for t in PERCENT_TICKS if t >= 0.99 * ks[0]]
        ax.set_xticks(ticks, [f"{t:g}%" for t in ticks])
        ax.set_xlim(0.85 * ks[0], 108)
        ax.set_xlabel("k: top k% of the architectures", fontsize=FONT["label"])
        ax.set_ylabel(label, fontsize=FONT["label"])
        ax.set_ylim(-0.03, 1.03)
        _style(ax)
    ax1.set_title("How many of the true top k% does the proxy's top k% hold?", fontsize=FONT["title"])
    ax2.set_title("Accuracy-weighted quality of the proxy's top k%", fontsize=FONT["title"])
    fig.legend(*ax1.get_legend_handles_labels(), loc="outside right center", fontsize=FONT["annot"], frameon=False)
    fig.suptitle(f"Top of the ranking vs {name} ({n_max} architectures)", fontsize=FONT["title"] + 1)
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_seed_spread(correlations: pd.DataFrame, ground_truth_name: str | None = None, *,
                     colors: Mapping[str, str] | None = None, path: str | Path | None = None) -> Figure:
    """Per proxy (bar chart order): the Kendall tau of each score seed (dots), their mean +- one sample std (bar)
    and the tau of the seed-averaged scores (diamond). Needs ``per_seed`` rows (two or more score seeds)."""
    corr = correlations[correlations["statistic"] == "kendall"]
    name = ground_truth_name or corr["ground_truth"].iloc[0]
    corr = corr[corr["ground_truth"] == name]
    per_seed = corr[corr["aggregate"] == schema.PER_SEED]
    if per_seed.empty:
        raise ValueError(f"no per-seed rows for {name!r}: the run has one score seed")
    proxies = _order_by_tau(correlations, name, list(dict.fromkeys(per_seed["proxy"])))
    colors = dict(colors or proxy_colors(proxies))
    fig = _new_figure(max(6.5, 0.62 * len(proxies) + 2.5), 4.6)
    ax = fig.subplots()
    rng = np.random.default_rng(0)
    for i, proxy in enumerate(proxies):
        vals = per_seed.loc[per_seed["proxy"] == proxy, "value"].to_numpy(float)
        vals = vals[np.isfinite(vals)]
        c = colors.get(proxy, "C0")
        ax.scatter(i + rng.uniform(-0.06, 0.06, len(vals)), vals, s=16, color=c, alpha=0.8, edgecolors="none",
                   label="τ of one score seed" if i == 0 else None)
        if len(vals) > 1:
            m, sd = vals.mean(), vals.std(ddof=1)
            ax.errorbar(i + 0.2, m, yerr=sd, fmt="_", color="#333333", capsize=3, markersize=9,
                        label="mean ± std over seeds" if i == 0 else None)
        head = corr[(corr["proxy"] == proxy) & (corr["aggregate"] == HEADLINE)]["value"]
        if len(head) and np.isfinite(head.iloc[0]):
            ax.scatter(i - 0.2, head.iloc[0], marker="D", s=28, color=c, edgecolors="black", linewidths=0.6,
                       label="τ of the seed-averaged scores" if i == 0 else None)
    ax.axhline(0, color="#555555", linewidth=0.8)
    for i in range(1, len(proxies)):
        ax.axvline(i - 0.5, color="#dddddd", linewidth=0.8)
    ax.set_xticks(range(len(proxies)), proxies, rotation=40 if len(proxies) > 5 else 0,
                  ha="right" if len(proxies) > 5 else "center", fontsize=FONT["tick"])
    ax.set_ylabel(f"Kendall τ with {name}", fontsize=FONT["label"])
    ax.set_title(f"Spread of Kendall τ over score seeds (initialisation and batch), {name}", fontsize=FONT["title"])
    ax.legend(fontsize=FONT["annot"], loc="best")
    _style(ax)
    ax.grid(False, axis="x")
    if path is not None:
        save_figure(fig, path)
    return fig


__all__ = ["curve_cuts", "plot_ranking_curves", "plot_seed_spread"]
