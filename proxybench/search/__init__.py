"""Training-free student search (DisWOT's use case): regularized evolution and random search over the architectures
of a search space (NB201 cells, DisWOT's S1, any registered plugin) with any proxy, an online rank ensemble of
proxies, the ground truth (oracle) or a callable as fitness, under an optional parameter / FLOP budget.
Entry point: :func:`run_search` (``proxybench search`` on the command line)."""

from .api import ALGORITHMS, SPACES, SearchResult, format_summary, run_search
from .evolution import regularized_evolution
from .fitness import (
    CallableFitness,
    EnsembleFitness,
    Evaluation,
    Fitness,
    OracleFitness,
    ProxyFitness,
    ScoreBook,
    parse_fitness,
)
from .random_search import random_search
from .report import judge, plot_trajectory, resolve_metric, seconds_per_training_run, training_cost
from .space import BUDGET_FORM, Budget, SearchDomain, mutants, parse_budget

__all__ = [
    "ALGORITHMS", "BUDGET_FORM", "SPACES", "Budget", "CallableFitness", "EnsembleFitness", "Evaluation", "Fitness",
    "OracleFitness", "ProxyFitness", "ScoreBook", "SearchDomain", "SearchResult", "format_summary", "judge",
    "mutants", "parse_budget", "parse_fitness", "plot_trajectory", "random_search", "regularized_evolution",
    "resolve_metric", "run_search", "seconds_per_training_run", "training_cost",
]
