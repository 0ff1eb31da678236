"""A run directory and its tables.

Layout (every file optional except the scores)::

    RUN_DIR/
      scores.csv | scores.parquet              tidy scores (one row per arch, proxy, seed)
      ground_truth.csv | ground_truth.parquet  tidy ground truth of the benchmark
      correlations.csv | correlations.parquet  output of proxybench.analysis.correlate
      run.json                                 metadata: versions, config, seeds, machine, timings, benchmark
      figures/*.png, report.md, report.html    written by proxybench.analysis.write_report

When both a CSV and a Parquet file exist, the CSV is read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..io import TABLE_FORMATS as FORMATS
from ..io import parquet_engine, prepare_for_parquet, write_table  # noqa: F401  (public here)

TABLES = ("scores", "ground_truth", "correlations")


def _fix_dtypes(name: str, df: pd.DataFrame) -> pd.DataFrame:
    if name == "scores":
        if "error" in df.columns:
            df["error"] = df["error"].astype(object).where(df["error"].notna(), "").astype(str)
        if "status" in df.columns:
            df["status"] = df["status"].fillna("").astype(str)
    if name == "correlations" and "seed" in df.columns:
        df["seed"] = df["seed"].astype(str)
    if name == "ground_truth" and "dataset" in df.columns:
        df["dataset"] = df["dataset"].fillna("").astype(str)
    return df


def read_table(path: str | Path, name: str | None = None) -> pd.DataFrame:
    """Read a CSV or Parquet table (by suffix); ``name`` (scores, ground_truth, correlations) fixes dtypes."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such table: {path}")
    if path.suffix == ".parquet":
        df = pd.read_parquet(path, engine=parquet_engine())
    elif path.suffix == ".csv":
        dtype = {"seed": str} if name == "correlations" else None
        try:
            df = pd.read_csv(path, dtype=dtype, keep_default_na=True)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read table {path}: {exc}") from None
    else:
        raise ValueError(f"unknown table format {path.suffix!r} of {path}; valid: .csv, .parquet")
    return _fix_dtypes(name or path.stem, df)


def find_table(run_dir: Path, name: str) -> Path | None:
    for fmt in FORMATS:
        p = run_dir / f"{name}.{fmt}"
        if p.is_file():
            return p
    return None


@dataclass
class RunData:
    """The tables and metadata of a run directory (``None`` where a file is absent)."""

    path: Path
    scores: pd.DataFrame
    ground_truth: pd.DataFrame | None = None
    correlations: pd.DataFrame | None = None
    metadata: dict = field(default_factory=dict)


def load_run(run_dir: str | Path) -> RunData:
    """Read a run directory (see the module docstring). A missing directory or scores table, or an unreadable
    run.json, raises an error naming the path."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise FileNotFoundError(f"run directory {str(run_dir)!r} does not exist")
    if not run_dir.is_dir():
        raise ValueError(f"{str(run_dir)!r} is not a directory; expected a run directory holding scores.csv")
    p = find_table(run_dir, "scores")
    if p is None:
        raise FileNotFoundError(f"{str(run_dir)!r} is not a run directory: it has no scores.csv or scores.parquet "
                                f"(write one with 'proxybench eval --out DIR')")
    scores = read_table(p, "scores")
    if "proxy" not in scores.columns or "score" not in scores.columns:
        raise ValueError(f"{p} is not a scores table: it lacks the 'proxy'/'score' columns; it has "
                         f"{list(scores.columns)}")
    tables = {}
    for name in ("ground_truth", "correlations"):
        q = find_table(run_dir, name)
        tables[name] = read_table(q, name) if q is not None else None
    meta: dict = {}
    mp = run_dir / "run.json"
    if mp.is_file():
        try:
            meta = json.loads(mp.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read {mp}: invalid JSON ({exc})") from None
        if not isinstance(meta, dict):
            raise ValueError(f"{mp} must hold a JSON object, got {type(meta).__name__}")
    return RunData(run_dir, scores, tables["ground_truth"], tables["correlations"], meta)
