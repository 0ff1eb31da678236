"""Analysis of a run: correlations, rank ensembles, figures, reports and exports.

``correlate(scores, ground_truth)`` -> tidy correlations (Kendall / Spearman / Pearson, precision@k% and nDCG@k%
with bootstrap CIs); ``noise_ceiling(ground_truth)`` -> the seed-to-seed
agreement of the ground truth (its own table); ``compare_correlations(scores, ground_truth,
[(A, B), ...])`` -> paired-bootstrap differences of two correlations; ``add_ensembles(scores, {name: [proxies]})`` ->
scores with ensemble proxies; ``write_report(run_dir)`` -> (report.md, report.html);
``export_tables(run_dir or {name: DataFrame}, formats)`` -> CSV / Parquet files; ``load_run(run_dir)`` -> the
tables of a run directory; ``predict_accuracy(scores, ground_truth, model="gbr")`` -> a trained predictor's
out-of-fold tau / rho beside each proxy (needs scikit-learn); ``from_naslib(file)`` / ``to_naslib(scores, gt,
dataset)`` -> NAS-Bench-Suite-Zero's score files. The figure and report functions import matplotlib on first use
only.
"""

from importlib import import_module

from .correlation import (
    COLUMNS,
    COMPARE_COLUMNS,
    CORRELATIONS,
    HEADLINE,
    NOISE_CEILING,
    NOISE_COLUMNS,
    NOISE_HEADLINE,
    best_percentile,
    bootstrap_ci,
    compare_correlations,
    correlate,
    ground_truth_names,
    ground_truth_values,
    headline,
    kd_vanilla_differences,
    kd_vanilla_pairs,
    noise_ceiling,
    noise_headline,
    noise_subset,
    proxy_rank_correlation,
    topk_overlap,
)
from .ensembles import METHODS as ENSEMBLE_METHODS
from .ensembles import add_ensembles, majority_vote, rank_sum
from .export import export_tables
from .ranking import ndcg_at_k, precision_at_k
from .rundir import RunData, load_run, read_table, write_table

_LAZY = {
    "make_figures": "figures", "plot_correlation_bars": "plots", "plot_heatmap": "plots",
    "plot_kd_vs_vanilla": "figures_kd", "plot_proxy_matrix": "plots", "plot_ranking_curves": "figures_ranking",
    "plot_scatter_grid": "plots", "plot_score_vs_kd_gain": "figures_kd", "plot_seed_spread": "figures_ranking",
    "proxy_colors": "plots", "write_report": "report", "predict_accuracy": "predictor",
    "from_naslib": "naslib", "to_naslib": "naslib",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "COLUMNS", "COMPARE_COLUMNS", "CORRELATIONS", "ENSEMBLE_METHODS", "HEADLINE", "NOISE_CEILING", "NOISE_COLUMNS",
    "NOISE_HEADLINE", "RunData",
    "add_ensembles", "best_percentile", "bootstrap_ci", "compare_correlations", "correlate", "export_tables",
    "from_naslib", "predict_accuracy", "to_naslib",
    "ground_truth_names", "ground_truth_values", "headline", "kd_vanilla_differences", "kd_vanilla_pairs", "load_run",
    "majority_vote",
    "make_figures", "ndcg_at_k", "noise_ceiling", "noise_headline", "noise_subset", "plot_correlation_bars",
    "plot_heatmap", "plot_kd_vs_vanilla", "plot_proxy_matrix", "plot_ranking_curves", "plot_scatter_grid",
    "plot_score_vs_kd_gain", "plot_seed_spread", "precision_at_k", "proxy_colors", "proxy_rank_correlation",
    "rank_sum", "read_table", "topk_overlap", "write_report", "write_table",
]
