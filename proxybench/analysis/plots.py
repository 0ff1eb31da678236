"""Figures of a run (matplotlib, drawn off-screen with the Agg canvas; pyplot is never used, so no display is
needed and no global state is touched).

* :func:`plot_scatter_grid` -- one panel per proxy: score rank (or raw score) vs ground truth, tau/rho in titles;
* :func:`plot_correlation_bars` -- tau and rho per proxy, sorted, with CI error bars and the noise ceiling;
* :func:`plot_heatmap` -- proxies x ground truths, annotated, diverging colours centred at 0;
* :func:`plot_proxy_matrix` -- proxy-proxy Kendall tau of the scores;
* KD figures in :mod:`.figures_kd`, ranking curves and seed spread in :mod:`.figures_ranking`, all of a run:
  :func:`proxybench.analysis.figures.make_figures`.

:func:`save_figure` writes a PNG (at :data:`DPI`) and an SVG beside it. Every figure takes an optional ``colors``
mapping from :func:`proxy_colors` so a proxy keeps one colour throughout a report.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.stats
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import TwoSlopeNorm, to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .correlation import (
    HEADLINE,
    NOISE_CEILING,
    NOISE_MIN_ARCHS,
    headline,
    noise_headline,
    noise_value,
    proxy_rank_correlation,
)
from .joining import (
    ground_truth_values as _gt_values,
)
from .joining import (
    join_key,
    normalise_ground_truth,
    normalise_scores,
    score_matrix,
    seed_averaged,
)
from .statistics import point_estimate

DPI = 170
FONT = {"title": 11, "label": 10, "tick": 9, "annot": 8}
NOISE_COLOR = "#222222"


def proxy_colors(proxies: Sequence[str]) -> dict[str, str]:
    """One fixed colour per proxy: the sorted names take strong qualitative colours in turn (``tab10``, then the
    dark and medium shades of ``tab20b``, then ``Dark2``; no pale tints); the noise ceiling is near-black."""
    names = sorted(dict.fromkeys(p for p in proxies if p != NOISE_CEILING))
    t20b = colormaps["tab20b"].colors
    colours = list(colormaps["tab10"].colors) + list(t20b[0::4]) + list(t20b[2::4]) + list(colormaps["Dark2"].colors)
    palette = list(dict.fromkeys(to_hex(c) for c in colours))
    out = {p: palette[i % len(palette)] for i, p in enumerate(names)}
    out[NOISE_CEILING] = NOISE_COLOR
    return out


def _new_figure(width: float, height: float, layout: str | None = "constrained") -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: str | Path, *, svg: bool = True) -> Path:
    """Write ``fig`` as PNG to ``path`` (parents created) and, with ``svg``, as SVG beside it (same stem); returns
    the PNG's path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=DPI)
    if svg:
        fig.savefig(path.with_suffix(".svg"), format="svg")
    return path


def _style(ax) -> None:
    ax.tick_params(labelsize=FONT["tick"])
    ax.grid(True, alpha=0.25, linewidth=0.6)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _score_scale(ax, xs: np.ndarray) -> None:
    """Log x for positive scores spanning > 3 decades; symlog for mixed signs spanning > 3 decades of |score|."""
    mag = np.abs(xs[xs != 0])
    if len(mag) == 0 or mag.max() / mag.min() <= 1e3:
        return
    if np.all(xs > 0):
        ax.set_xscale("log")
    elif np.all(xs < 0):
        ax.set_xscale("symlog", linthresh=float(mag.min()))
    else:
        ax.set_xscale("symlog", linthresh=float(np.percentile(mag, 10)))


def _fmt(v: float, digits: int = 2) -> str:
    return "–" if v is None or not np.isfinite(v) else f"{v:.{digits}f}"


def _value(corr: pd.DataFrame | None, proxy: str, gt: str, statistic: str) -> float:
    if corr is None:
        return math.nan
    m = corr[(corr["proxy"] == proxy) & (corr["ground_truth"] == gt) & (corr["statistic"] == statistic)
             & (corr["aggregate"] == HEADLINE)]
    return float(m["value"].iloc[0]) if len(m) else math.nan


def _order_by_tau(corr: pd.DataFrame | None, gt: str | None, proxies: Sequence[str]) -> list[str]:
    if corr is None or gt is None:
        return list(proxies)
    tau = {p: _value(corr, p, gt, "kendall") for p in proxies}
    return sorted(proxies, key=lambda p: (-(tau[p]) if np.isfinite(tau[p]) else math.inf, p))


# ----------------------------------------------------------------------------------------------------------
# (a) scatter grid
# ----------------------------------------------------------------------------------------------------------

def panel_inputs(scores: pd.DataFrame, ground_truth: pd.DataFrame, ground_truth_name: str | None,
                 correlations: pd.DataFrame | None, proxies: Sequence[str] | None,
                 colors: Mapping[str, str] | None) -> tuple:
    """What a per-proxy figure needs: (normalised scores, join key, the ground-truth values of ``ground_truth_name``
    (default: the first), the proxies in the bar chart's order, their colours)."""
    sc = normalise_scores(scores)
    gt = normalise_ground_truth(ground_truth)
    key = join_key(sc, gt)
    truth = _gt_values(gt, ground_truth_name or gt["_name"].iloc[0], key=key)
    proxies = list(dict.fromkeys(sc["proxy"])) if proxies is None else list(proxies)
    proxies = _order_by_tau(correlations, truth.name, proxies)
    return sc, key, truth, proxies, dict(colors or proxy_colors(proxies))


def plot_scatter_grid(scores: pd.DataFrame, ground_truth: pd.DataFrame, ground_truth_name: str | None = None,
                      correlations: pd.DataFrame | None = None, *, x: str = "rank",
                      proxies: Sequence[str] | None = None, colors: Mapping[str, str] | None = None,
                      ncols: int = 4, path: str | Path | None = None) -> Figure:
    """Grid of panels, one per proxy: seed-averaged score (``x="score"``) or its percentile rank among the
    plotted architectures (``x="rank"``, default; robust to proxies spanning many orders of magnitude)
    against the ground truth. Each title gives tau and rho (from ``correlations`` when given, else computed)."""
    if x not in ("rank", "score"):
        raise ValueError(f"x must be 'rank' or 'score', got {x!r}")
    sc, key, truth, proxies, colors = panel_inputs(scores, ground_truth, ground_truth_name, correlations, proxies,
                                                   colors)
    name = truth.name
    ncols = max(1, min(ncols, len(proxies)))
    nrows = math.ceil(len(proxies) / ncols)
    # fixed margins in inches (a constrained layout of many panels is slow to draw)
    panel_w, panel_h, left, right, top, bottom, wgap, hgap = 2.6, 2.0, 0.75, 0.15, 0.75, 0.6, 0.55, 0.85
    width = left + right + ncols * panel_w + (ncols - 1) * wgap
    height = top + bottom + nrows * panel_h + (nrows - 1) * hgap
    fig = _new_figure(width, height, layout=None)
    fig.subplots_adjust(left=left / width, right=1 - right / width, top=1 - top / height, bottom=bottom / height,
                        wspace=wgap / panel_w, hspace=hgap / panel_h)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.ravel()[len(proxies):]:
        ax.set_visible(False)
    for ax, proxy in zip(axes.ravel(), proxies):
        s = seed_averaged(score_matrix(sc, proxy, key=key))
        s = s[s.index.isin(truth.index)]
        s = s[np.isfinite(s.to_numpy())]
        y = truth.loc[s.index].to_numpy(float)
        xs = s.to_numpy(float)
        tau = _value(correlations, proxy, name, "kendall")
        rho = _value(correlations, proxy, name, "spearman")
        if correlations is None:
            tau = point_estimate("kendall", xs, y)[0]
            rho = point_estimate("spearman", xs, y)[0]
        xv = 100.0 * (scipy.stats.rankdata(xs) - 0.5) / max(len(xs), 1) if x == "rank" else xs
        ax.scatter(xv, y, s=9, alpha=0.65, color=colors.get(proxy, "C0"), edgecolors="none")
        ax.set_title(f"{proxy} (n={len(xs)})\nτ = {_fmt(tau)}   ρ = {_fmt(rho)}", fontsize=FONT["title"])
        if x == "score" and len(xs):
            _score_scale(ax, xs)
        _style(ax)
    for ax in axes[-1]:
        ax.set_xlabel("score rank (percentile)" if x == "rank" else "score", fontsize=FONT["label"])
    for r in range(nrows):
        axes[r, 0].set_ylabel(name, fontsize=FONT["label"])
    # the last row may be partly hidden: label the visible panels above the gaps too
    for i, ax in enumerate(axes.ravel()[:len(proxies)]):
        if i + ncols >= len(proxies):
            ax.set_xlabel("score rank (percentile)" if x == "rank" else "score", fontsize=FONT["label"])
    fig.suptitle(f"Proxy {'rank' if x == 'rank' else 'score'} vs {name}", fontsize=FONT["title"] + 2,
                 y=1 - 0.12 / height, va="top")
    if path is not None:
        save_figure(fig, path)
    return fig


# ----------------------------------------------------------------------------------------------------------
# (b) bars
# ----------------------------------------------------------------------------------------------------------

def plot_correlation_bars(correlations: pd.DataFrame, ground_truth_name: str | None = None, *,
                          noise_ceiling: pd.DataFrame | None = None, colors: Mapping[str, str] | None = None,
                          path: str | Path | None = None) -> Figure:
    """Kendall tau (solid) and Spearman rho (hatched) per proxy, sorted by tau, with their bootstrap CIs as
    error bars and, given the ``noise_ceiling`` table, the seed-to-seed tau and rho of the ground truth as
    horizontal lines."""
    head = headline(correlations)
    name = ground_truth_name or head["ground_truth"].iloc[0]
    if name not in set(head["ground_truth"]):
        raise ValueError(f"unknown ground truth {name!r}; valid: {', '.join(head['ground_truth'].unique())}")
    head = head[head["ground_truth"] == name]
    proxies = _order_by_tau(correlations, name, list(dict.fromkeys(head["proxy"])))
    colors = dict(colors or proxy_colors(proxies))
    fig_w = max(6.5, 0.62 * len(proxies) + 2.5)
    fig = _new_figure(fig_w, 4.8)
    ax = fig.subplots()
    xpos = np.arange(len(proxies))
    width = 0.38
    lows, highs = [0.0], [0.0]
    for j, (stat, label, hatch, alpha) in enumerate((("kendall", "Kendall τ", None, 0.95),
                                                      ("spearman", "Spearman ρ", "///", 0.55))):
        rows = head[head["statistic"] == stat].set_index("proxy")
        vals = np.array([rows["value"].get(p, np.nan) for p in proxies], dtype=float)
        lo = np.array([rows["ci_low"].get(p, np.nan) for p in proxies], dtype=float)
        hi = np.array([rows["ci_high"].get(p, np.nan) for p in proxies], dtype=float)
        err = np.vstack([np.where(np.isfinite(lo), vals - lo, 0), np.where(np.isfinite(hi), hi - vals, 0)])
        err = np.clip(np.nan_to_num(err), 0, None)
        ax.bar(xpos + (j - 0.5) * width, np.nan_to_num(vals), width, color=[colors.get(p, "C0") for p in proxies],
               alpha=alpha, hatch=hatch, edgecolor="#333333", linewidth=0.5, label=label,
               yerr=err, error_kw={"elinewidth": 0.9, "capsize": 2.5, "ecolor": "#333333"})
        lows += list(lo[np.isfinite(lo)]) + list(vals[np.isfinite(vals)])
        highs += list(hi[np.isfinite(hi)]) + list(vals[np.isfinite(vals)])
    nc = noise_headline(noise_ceiling, name)
    small = None
    for stat, style, label in (("kendall", "--", "noise ceiling τ"), ("spearman", ":", "noise ceiling ρ")):
        v = noise_value(nc.loc[stat]) if stat in nc.index else math.nan
        if np.isfinite(v):
            ax.axhline(v, color=NOISE_COLOR, linestyle=style, linewidth=1.3,
                       label=f"{label} = {v:.2f} (n={int(nc.loc[stat, 'n'])} archs)")
            highs.append(v)
        elif stat in nc.index:
            small = int(nc.loc[stat, "n"])
    ax.axhline(0, color="#555555", linewidth=0.8)
    handles = [Patch(facecolor="#777777", edgecolor="#333333", label="Kendall τ (bar colour = proxy)"),
               Patch(facecolor="#bbbbbb", edgecolor="#333333", hatch="///", label="Spearman ρ")]
    handles += [h for h in ax.get_legend_handles_labels()[0] if isinstance(h, Line2D)]
    if small is not None:
        handles.append(Line2D([], [], color="none", label=f"noise ceiling: n too small ({small} < {NOISE_MIN_ARCHS})"))
    ax.set_xticks(xpos, proxies, rotation=40 if len(proxies) > 5 else 0, ha="right" if len(proxies) > 5 else "center",
                  fontsize=FONT["tick"])
    ax.set_ylabel(f"correlation with {name}", fontsize=FONT["label"])
    ax.set_xlabel("proxy (sorted by Kendall τ)", fontsize=FONT["label"])
    ax.set_ylim(max(-1.05, min(lows) - 0.08), min(1.05, max(highs) + 0.12))
    ax.set_xlim(-0.7, len(proxies) - 0.3)
    fig.legend(handles=handles, fontsize=FONT["annot"], loc="outside lower center",
               ncols=len(handles) if fig_w >= 11 else 2, frameon=False)
    fig.suptitle(f"Rank correlation of each proxy with {name} (error bars: 95% bootstrap CI)",
                 fontsize=FONT["title"])
    _style(ax)
    ax.grid(False, axis="x")
    if path is not None:
        save_figure(fig, path)
    return fig


# ----------------------------------------------------------------------------------------------------------
# (c) heatmap, (d) proxy matrix
# ----------------------------------------------------------------------------------------------------------

def _annotated_matrix(ax, values: np.ndarray, rows: Sequence[str], cols: Sequence[str], *, rotate: bool):
    norm = TwoSlopeNorm(vmin=-1.0, vcenter=0.0, vmax=1.0)
    cmap = colormaps["RdBu_r"].with_extremes(bad="#dddddd")
    im = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, norm=norm, aspect="auto")
    ax.set_xticks(range(len(cols)), cols, rotation=35 if rotate else 0, ha="right" if rotate else "center",
                  fontsize=FONT["tick"])
    ax.set_yticks(range(len(rows)), rows, fontsize=FONT["tick"])
    if values.size <= 900:
        for i in range(values.shape[0]):
            for j in range(values.shape[1]):
                v = values[i, j]
                ax.text(j, i, _fmt(v), ha="center", va="center", fontsize=FONT["annot"],
                        color="white" if np.isfinite(v) and abs(v) > 0.6 else "black")
    ax.tick_params(length=0)
    for s in ax.spines.values():
        s.set_visible(False)
    return im


def plot_heatmap(correlations: pd.DataFrame, *, statistic: str = "kendall", noise_ceiling: pd.DataFrame | None = None,
                 order: Sequence[str] | None = None, path: str | Path | None = None) -> Figure:
    """Proxies (rows) x ground truths (columns) of one headline statistic, annotated. Rows in the bar chart's order
    (Kendall tau on the first ground truth, highest first) unless ``order`` is given; given the ``noise_ceiling``
    table (and its statistic), the noise ceiling is the bottom row where it has at least
    :data:`~proxybench.analysis.correlation.NOISE_MIN_ARCHS` architectures."""
    head = headline(correlations, statistic)
    if head.empty:
        raise ValueError(f"no headline rows of statistic {statistic!r} in the correlations")
    wide = head.pivot(index="proxy", columns="ground_truth", values="value")
    wide = wide[list(dict.fromkeys(head["ground_truth"]))]
    nc_head = noise_headline(noise_ceiling)
    nc_head = nc_head[nc_head["statistic"] == statistic]
    nc = None
    if len(nc_head):
        vals = {r["ground_truth"]: noise_value(r) for _, r in nc_head.iterrows()}
        row = pd.Series(vals, dtype=float).reindex(wide.columns)
        nc = row.to_frame(NOISE_CEILING).T if row.notna().any() else None
    if order is None:
        order = _order_by_tau(correlations, str(wide.columns[0]), list(wide.index))
    order = [p for p in order if p in wide.index] + [p for p in wide.index if p not in order]
    wide = wide.loc[order]
    if nc is not None:
        wide = pd.concat([wide, nc])
    label = {"kendall": "Kendall τ", "spearman": "Spearman ρ", "pearson": "Pearson r"}.get(statistic, statistic)
    fig = _new_figure(max(4.8, 1.25 * wide.shape[1] + 3.2), max(3.0, 0.36 * wide.shape[0] + 1.6))
    ax = fig.subplots()
    im = _annotated_matrix(ax, wide.to_numpy(float), list(wide.index), list(wide.columns),
                           rotate=wide.shape[1] > 3)
    if nc is not None:
        ax.axhline(len(wide) - 1.5, color="black", linewidth=1.2)
    fig.colorbar(im, ax=ax, label=label, shrink=0.9)
    ax.set_xlabel("ground truth", fontsize=FONT["label"])
    ax.set_ylabel("proxy", fontsize=FONT["label"])
    ax.set_title(f"{label} of each proxy with each ground truth\n(rows in the bar chart's order)",
                 fontsize=FONT["title"])
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_proxy_matrix(scores: pd.DataFrame, *, proxies: Sequence[str] | None = None,
                      order: Sequence[str] | None = None, path: str | Path | None = None) -> Figure:
    """Kendall tau-b between the rankings of every pair of proxies (seed-averaged scores, architectures where
    both are finite): which proxies carry the same information."""
    mat = proxy_rank_correlation(scores, proxies)
    if order is not None:
        order = [p for p in order if p in mat.index] + [p for p in mat.index if p not in order]
        mat = mat.loc[order, order]
    n = len(mat)
    fig = _new_figure(max(5.6, 0.5 * n + 2.4), max(4.2, 0.45 * n + 1.6))
    ax = fig.subplots()
    im = _annotated_matrix(ax, mat.to_numpy(float), list(mat.index), list(mat.columns), rotate=True)
    fig.colorbar(im, ax=ax, label="Kendall τ", shrink=0.9)
    ax.set_title("Agreement between proxy rankings (Kendall τ)", fontsize=FONT["title"])
    if path is not None:
        save_figure(fig, path)
    return fig


