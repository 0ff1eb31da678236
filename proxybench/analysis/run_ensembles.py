"""Rank ensembles added to a finished run directory (``proxybench report --ensemble``).

An ensemble of the run's scored proxies (see :mod:`proxybench.analysis.ensembles`) becomes proxy rows
``ens:A+B`` of the run's scores table and, when the run has a ground truth and a correlations table, rows of
that table too, so the report shows it like any proxy. Adding the same ensemble again replaces its rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from ..io import write_table
from .correlation import correlate
from .ensembles import ENSEMBLE_PREFIX, add_ensembles, check_ensembles
from .rundir import find_table, load_run

_CORRELATE_OPTIONS = ("ci", "n_resamples", "ci_method", "confidence_level", "seed")


def add_run_ensembles(run_dir: str | Path, ensembles: Mapping[str, Sequence[str]], method: str = "rank_sum",
                      correlate_options: Mapping | None = None) -> list[Path]:
    """Add ``ensembles`` (``{"ens:a+b": ["a", "b"]}``, from :func:`~.ensembles.parse_ensembles`) to the scores
    and correlations of ``run_dir``, in every format the run keeps them; returns the files written. A member
    the run did not score raises ``ValueError`` naming the scored proxies."""
    run = load_run(run_dir)
    scored = [str(p) for p in dict.fromkeys(run.scores["proxy"]) if not str(p).startswith(ENSEMBLE_PREFIX)]
    check_ensembles(ensembles, scored, method)
    base = run.scores[~run.scores["proxy"].isin(list(ensembles))]
    scores = add_ensembles(base, {k: list(v) for k, v in ensembles.items()}, method)
    written = _write_all(scores, run.path, "scores")
    if run.ground_truth is not None and run.correlations is not None:
        opts = {k: v for k, v in dict(correlate_options or {}).items() if k in _CORRELATE_OPTIONS}
        new = correlate(scores, run.ground_truth, proxies=list(ensembles), **opts)
        kept = run.correlations[~run.correlations["proxy"].isin(list(ensembles))]
        corr = pd.concat([kept, new[[c for c in kept.columns if c in new.columns]]], ignore_index=True)
        written += _write_all(corr, run.path, "correlations")
    return written


def _write_all(df: pd.DataFrame, run_dir: Path, name: str) -> list[Path]:
    """``df`` as every existing ``name.<format>`` of the run (CSV when there is none)."""
    paths = [p for p in (run_dir / f"{name}.csv", run_dir / f"{name}.parquet") if p.is_file()]
    if not paths:
        found = find_table(run_dir, name)
        paths = [found if found is not None else run_dir / f"{name}.csv"]
    return [write_table(df, p) for p in paths]
