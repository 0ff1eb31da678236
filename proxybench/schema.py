"""The columns of every table proxybench writes as CSV or Parquet, in one place.

A run directory of ``proxybench eval`` holds ``scores``, ``ground_truth``, ``correlations``, ``noise_ceiling``,
``noise_ground_truth`` (the benchmark's architectures with two or more seeds, in the ``ground_truth`` layout) and
(for a benchmark with KD and vanilla accuracies) ``kd_vs_vanilla``; :func:`proxybench.analysis.compare_correlations`
returns the ``comparisons`` layout, of which ``kd_vs_vanilla`` is one use. Every table is tidy: one row per
observation, one column per variable, and a column holds one kind of value (``seed`` holds seed ids or is
missing, never a label).

The writers build their tables from these definitions and the tests check each writer against them;
:func:`markdown` renders the summary printed in the README.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str
    description: str


@dataclass(frozen=True)
class Table:
    name: str
    description: str
    columns: tuple[Column, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


# ---- vocabularies ------------------------------------------------------------------------------------------------
# ``aggregate`` of a correlation row: how the scores of several seeds were combined
SCORE_MEAN = "score_mean"
"""The correlation of the per-architecture mean of the finite scores over seeds (with one seed: that seed's scores).
The headline: exactly one row per (proxy, ground truth, statistic)."""
PER_SEED = "per_seed"
"""The correlation of one seed's scores (``seed`` says which); written when a proxy has two or more seeds."""
MEAN_OVER_SEEDS = "mean_over_seeds"
"""The mean of the per-seed correlations."""
STD_OVER_SEEDS = "std_over_seeds"
"""The sample standard deviation (ddof 1) of the per-seed correlations."""
CORRELATION_AGGREGATES: tuple[str, ...] = (SCORE_MEAN, PER_SEED, MEAN_OVER_SEEDS, STD_OVER_SEEDS)

# ``aggregate`` of a noise-ceiling row: how the pairs of ground-truth seeds were combined
MEAN_OVER_PAIRS = "mean_over_pairs"
"""The mean over pairs of ground-truth seeds of their agreement, with a bootstrap CI over architectures (the
headline)."""
PER_PAIR = "per_pair"
"""The agreement of one pair of ground-truth seeds (``seed_a``, ``seed_b``)."""
STD_OVER_PAIRS = "std_over_pairs"
"""The sample standard deviation (ddof 1) of the per-pair agreements."""
ALL_SEEDS = "all_seeds"
"""ICC(1) of the ground truth from every seed of every architecture with two or more (``statistic == "icc1"``)."""
ATTENUATION_CEILING = "attenuation_ceiling"
"""The highest Kendall tau / Spearman rho any proxy can reach with one run, given the ICC(1)."""
NOISE_CEILING_AGGREGATES: tuple[str, ...] = (MEAN_OVER_PAIRS, PER_PAIR, STD_OVER_PAIRS, ALL_SEEDS,
                                             ATTENUATION_CEILING)

CORRELATION_STATISTICS: tuple[str, ...] = ("kendall", "spearman", "pearson")

_COUNTS = (
    Column("n", "int", "architectures the statistic was computed on"),
    Column("n_dropped", "int", "architectures with a ground truth whose score is non-finite (NaN, +-inf, or a "
                               "failed proxy), left out"),
    Column("n_missing", "int", "architectures scored but absent from the ground truth (or with a non-finite "
                               "ground truth), left out"),
)

SCORES = Table("scores", "one row per (architecture, proxy, seed): the output of proxybench eval", (
    Column("arch_index", "int", "official NAS-Bench-201 index, 0..15624"),
    Column("arch", "str", "NB201 arch string |op~0|+|op~0|op~1|+|op~0|op~1|op~2|"),
    Column("proxy", "str", "proxy name (see 'proxybench list proxies'), or ens:A+B for a rank ensemble of proxies "
                           "A and B (eval/report --ensemble)"),
    Column("seed", "int", "network-initialisation seed; the input batches of seed s are drawn with s"),
    Column("score", "float", "the proxy's score, higher = predicted better; NaN when not finite or failed"),
    Column("seconds", "float", "time the proxy took on this network (shared passes count for the first proxy "
                               "that asked for them)"),
    Column("status", "str", "ok | nan | error"),
    Column("error", "str", "the error message of a failed proxy, else empty"),
))

GROUND_TRUTH = Table("ground_truth", "one row per (architecture, dataset, metric, training seed)", (
    Column("arch_index", "int", "official NAS-Bench-201 index"),
    Column("arch", "str", "NB201 arch string"),
    Column("dataset", "str", "data set the accuracy was measured on, e.g. cifar10-valid, fashion-mnist-16"),
    Column("metric", "str", "e.g. test_acc, val_acc, kd_acc, vanilla_acc"),
    Column("value", "float", "accuracy in %"),
    Column("seed", "Int64 (nullable)", "training seed of the value; missing (NA) when the source gives one number "
                                       "per architecture (e.g. its own mean over seeds)"),
))

CORRELATIONS = Table("correlations", "one row per (proxy, ground truth, statistic, aggregate, seed)", (
    Column("proxy", "str", "proxy name, or ens:A+B for a rank ensemble"),
    Column("ground_truth", "str", "'<metric>', or '<dataset>/<metric>' when the ground truth has several data sets"),
    Column("statistic", "str", "kendall (tau-b) | spearman | pearson | precision@<k>% (fraction of the true top k% "
                               "in the proxy's top k%) | ndcg@<k>% (VKDNW's nDCG over the proxy's top k%, gain "
                               "2^acc - 1 of accuracies in percent; NaN for values above 1000) | best_percentile"),
    Column("aggregate", "str", "score_mean (the headline) | per_seed | mean_over_seeds | std_over_seeds"),
    Column("seed", "Int64 (nullable)", "the score seed of a per_seed row; missing (NA) otherwise"),
    Column("value", "float", "the statistic; never made absolute"),
    Column("ci_low", "float", "lower end of the bootstrap CI (NaN when none)"),
    Column("ci_high", "float", "upper end of the bootstrap CI (NaN when none)"),
    Column("p_value", "float", "scipy's p-value of the correlation (NaN for precision, nDCG and best_percentile)"),
    *_COUNTS,
))

NOISE_CEILING = Table("noise_ceiling", "seed-to-seed agreement of the benchmark's ground truth, from all its "
                                       "architectures with two or more seeds: the best correlation a proxy can hope "
                                       "for; one row per (ground truth, statistic, aggregate, seed pair); values "
                                       "NaN below 10 architectures", (
    Column("ground_truth", "str", "as in the correlations table"),
    Column("statistic", "str", "kendall | spearman | icc1 (the ground truth's intraclass correlation ICC(1))"),
    Column("aggregate", "str", "mean_over_pairs (the headline) | per_pair | std_over_pairs | all_seeds (the "
                               "icc1 row) | attenuation_ceiling (sqrt(ICC) as tau / rho: the most a proxy can reach "
                               "with one run)"),
    Column("seed_a", "Int64 (nullable)", "first ground-truth seed of a per_pair row; missing otherwise"),
    Column("seed_b", "Int64 (nullable)", "second ground-truth seed of a per_pair row; missing otherwise"),
    Column("value", "float", "the correlation between the two seeds' values (or its mean / std over pairs)"),
    Column("ci_low", "float", "bootstrap CI of the headline over architectures (NaN otherwise)"),
    Column("ci_high", "float", "bootstrap CI of the headline over architectures (NaN otherwise)"),
    Column("p_value", "float", "scipy's p-value of a per_pair row; the F test's of the icc1 row (NaN otherwise)"),
    Column("n", "int", "architectures with a value for both seeds (the headline, icc1 and ceiling rows: with at "
                       "least two seeds)"),
))

COMPARISONS = Table("comparisons", "paired-bootstrap differences of two correlations on the same architectures "
                                   "(compare_correlations; written as kd_vs_vanilla.csv by proxybench eval)", (
    Column("proxy_a", "str", "proxy of side A"),
    Column("ground_truth_a", "str", "ground truth of side A"),
    Column("proxy_b", "str", "proxy of side B"),
    Column("ground_truth_b", "str", "ground truth of side B"),
    Column("statistic", "str", "kendall | spearman | pearson"),
    Column("value_a", "float", "correlation of side A"),
    Column("value_b", "float", "correlation of side B"),
    Column("difference", "float", "value_a - value_b"),
    Column("ci_low", "float", "lower end of the paired-bootstrap CI of the difference"),
    Column("ci_high", "float", "upper end of the paired-bootstrap CI of the difference"),
    Column("p_value", "float", "two-sided bootstrap p-value of a zero difference"),
    Column("n", "int", "architectures where all four series are finite"),
))

PREDICTOR = Table("predictor", "a trained accuracy predictor on proxy scores (proxybench.analysis.predictor; "
                               "written as predictor.csv by proxybench report --predictor): rank agreement of its "
                               "k-fold out-of-fold predictions, beside each proxy alone on the same architectures; "
                               "one row per (ground truth, method, statistic)", (
    Column("ground_truth", "str", "as in the correlations table"),
    Column("method", "str", "gbr | rf (the regressor) for the predictor row, else the proxy name"),
    Column("kind", "str", "trained_predictor | single_proxy"),
    Column("features", "str", "comma-separated proxies the predictor was fitted on (single_proxy: the proxy)"),
    Column("statistic", "str", "kendall (tau-b) | spearman"),
    Column("value", "float", "the statistic of the out-of-fold predictions (single_proxy: of the mean score over "
                             "seeds) against the ground truth"),
    Column("n", "int", "architectures with a finite ground truth and a finite score of every proxy"),
    Column("n_dropped", "int", "architectures with a ground truth but a non-finite score of some proxy, left out"),
    Column("folds", "int", "k of the k-fold cross-validation"),
    Column("seed", "int", "random_state of the folds and of the regressor"),
))

TABLES: dict[str, Table] = {t.name: t for t in (SCORES, GROUND_TRUTH, CORRELATIONS, NOISE_CEILING, COMPARISONS,
                                                 PREDICTOR)}
"""Every table by name; the run directory's files are ``<name>.csv`` / ``<name>.parquet`` (``comparisons`` is
written as ``kd_vs_vanilla``)."""


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown() -> str:
    """The tables and their columns as Markdown (the README's schema section)."""
    out = []
    for t in TABLES.values():
        out.append(f"**`{t.name}`**: {t.description}.\n")
        out.append("| column | type | meaning |\n|---|---|---|")
        out += [f"| `{c.name}` | {c.dtype} | {_cell(c.description)} |" for c in t.columns]
        out.append("")
    return "\n".join(out)


__all__ = [
    "COMPARISONS", "CORRELATIONS", "CORRELATION_AGGREGATES", "CORRELATION_STATISTICS", "GROUND_TRUTH",
    "ALL_SEEDS", "ATTENUATION_CEILING", "MEAN_OVER_PAIRS", "MEAN_OVER_SEEDS", "NOISE_CEILING",
    "NOISE_CEILING_AGGREGATES", "PER_PAIR", "PER_SEED",
    "PREDICTOR", "SCORES", "SCORE_MEAN", "STD_OVER_PAIRS", "STD_OVER_SEEDS", "TABLES", "Column", "Table", "markdown",
]
