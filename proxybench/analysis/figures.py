"""All figures of a run (:func:`make_figures`), each a PNG with an SVG twin, in the order the report shows them:
correlation bars, the heatmap (same proxy order), precision@k / nDCG@k curves, score rank and raw score vs
accuracy, score vs KD gain and KD vs vanilla accuracy (benchmarks with both), per-seed spread (several score
seeds), proxy-proxy agreement."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .correlation import headline, kd_vanilla_pairs
from .figures_kd import plot_kd_vs_vanilla, plot_score_vs_kd_gain
from .figures_ranking import plot_ranking_curves, plot_seed_spread
from .joining import normalise_ground_truth, normalise_scores
from .plots import (
    _order_by_tau,
    plot_correlation_bars,
    plot_heatmap,
    plot_proxy_matrix,
    plot_scatter_grid,
    proxy_colors,
)
from .plots import save_figure as _save


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text).strip("_") or "x"


def make_figures(scores: pd.DataFrame, ground_truth: pd.DataFrame | None, correlations: pd.DataFrame | None,
                 out_dir: str | Path, *, noise_ceiling: pd.DataFrame | None = None,
                 max_ground_truths: int = 4, svg: bool = True) -> dict[str, Path]:
    """Write every figure that the data allows under ``out_dir`` (PNG, and SVG beside it with ``svg``); returns
    {caption: PNG path}. Bars, ranking curves and score-rank scatter are drawn for each of the first
    ``max_ground_truths`` ground truths, the raw-score scatter and the seed spread for the first."""
    out_dir = Path(out_dir)

    def save_figure(fig, path):
        return _save(fig, path, svg=svg)

    out: dict[str, Path] = {}
    sc = normalise_scores(scores)
    proxies = list(dict.fromkeys(sc["proxy"]))
    colors = proxy_colors(proxies)
    has_corr = correlations is not None and len(correlations) > 0
    names: list[str] = []
    if has_corr:
        names = list(dict.fromkeys(headline(correlations)["ground_truth"]))
    elif ground_truth is not None:
        names = list(dict.fromkeys(normalise_ground_truth(ground_truth)["_name"]))
    first = names[0] if names else None
    shown = names[:max_ground_truths]
    if has_corr:
        for name in shown:
            fig = plot_correlation_bars(correlations, name, noise_ceiling=noise_ceiling, colors=colors)
            out[f"Kendall τ and Spearman ρ per proxy vs {name}"] = save_figure(fig, out_dir / f"bars_{_slug(name)}.png")
        fig = plot_heatmap(correlations, statistic="kendall", noise_ceiling=noise_ceiling,
                           order=_order_by_tau(correlations, first, proxies))
        out[f"Kendall τ of each proxy with each ground truth (rows in the order of the bars vs {first})"] = \
            save_figure(fig, out_dir / "heatmap_kendall.png")
    if ground_truth is not None:
        for name in shown:
            fig = plot_ranking_curves(sc, ground_truth, name, correlations, colors=colors)
            out[f"Precision@k and nDCG@k against k, {name}"] = save_figure(fig, out_dir / f"topk_{_slug(name)}.png")
        for name in shown:
            fig = plot_scatter_grid(sc, ground_truth, name, correlations, colors=colors)
            out[f"Proxy rank vs {name}"] = save_figure(fig, out_dir / f"scatter_{_slug(name)}.png")
        if first is not None:
            fig = plot_scatter_grid(sc, ground_truth, first, correlations, colors=colors, x="score")
            out[f"Raw proxy score vs {first}"] = save_figure(fig, out_dir / f"scatter_raw_{_slug(first)}.png")
        for kd, va in kd_vanilla_pairs(names or list(dict.fromkeys(normalise_ground_truth(ground_truth)["_name"]))):
            try:
                fig = plot_score_vs_kd_gain(sc, ground_truth, kd, va, correlations, colors=colors)
                out[f"Proxy score vs KD gain ({kd} − {va})"] = save_figure(fig, out_dir / f"kd_gain_{_slug(kd)}.png")
                fig = plot_kd_vs_vanilla(ground_truth, kd, va)
            except ValueError:
                continue
            out[f"{kd} vs {va}: rank shift under distillation"] = \
                save_figure(fig, out_dir / f"kd_vs_vanilla_{_slug(kd)}.png")
    if has_corr and (correlations["aggregate"] == "per_seed").any():
        fig = plot_seed_spread(correlations, first, colors=colors)
        out[f"Kendall τ of each score seed vs {first}"] = save_figure(fig, out_dir / f"seed_spread_{_slug(first)}.png")
    if len(proxies) >= 2:
        fig = plot_proxy_matrix(sc, order=_order_by_tau(correlations, first, proxies))
        out["Proxy–proxy Kendall τ"] = save_figure(fig, out_dir / "proxy_matrix.png")
    return out


__all__ = ["make_figures"]
