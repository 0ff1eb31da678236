"""A run directory and its tables.

Layout (every file optional except the scores)::

    RUN_DIR/
      scores.csv | scores.parquet              tidy scores (one row per arch, proxy, seed)
      ground_truth.csv | ground_truth.parquet  tidy ground truth of the benchmark
      correlations.csv | correlations.parquet  output of proxybench.analysis.correlate
      noise_ceiling.csv | noise_ceiling.parquet  output of proxybench.analysis.noise_ceiling, from the benchmark's
                                               noise subset (not only the scored architectures)
      noise_ground_truth.csv | .parquet        that subset: the benchmark's ground-truth rows of architectures
                                               with >= 2 seeds (ground_truth columns)
      kd_vs_vanilla.csv                        KD-minus-vanilla comparisons (proxybench.analysis.compare_correlations)
      run.json                                 metadata: versions, config, seeds, machine, timings, benchmark
      figures/*.png, report.md, report.html    written by proxybench.analysis.write_report

When both a CSV and a Parquet file exist, the CSV is read. The columns of every table are in
:mod:`proxybench.schema`. A correlations table of an older proxybench (a text ``seed`` column with ``avg_score``,
``mean``, ``std`` and ``noise_ceiling`` rows) is read into the current layout, its noise-ceiling rows into the
noise-ceiling table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..io import TABLE_FORMATS as FORMATS
from ..io import parquet_engine, prepare_for_parquet, write_table  # noqa: F401  (public here)

TABLES = ("scores", "ground_truth", "correlations", "noise_ceiling", "noise_ground_truth")
_NULLABLE_INT = {"ground_truth": ("seed",), "correlations": ("seed",), "noise_ceiling": ("seed_a", "seed_b")}


def _nullable_int(col: pd.Series) -> pd.Series:
    return pd.to_numeric(col, errors="coerce").astype("Int64")


def _fix_dtypes(name: str, df: pd.DataFrame) -> pd.DataFrame:
    if name == "scores":
        if "error" in df.columns:
            df["error"] = df["error"].astype(object).where(df["error"].notna(), "").astype(str)
        if "status" in df.columns:
            df["status"] = df["status"].fillna("").astype(str)
    if name in ("ground_truth", "noise_ground_truth"):
        if "dataset" in df.columns:
            df["dataset"] = df["dataset"].fillna("").astype(str)
        if "seed" in df.columns:  # -1: the old spelling of a value not tied to a seed
            df["seed"] = _nullable_int(df["seed"].where(df["seed"].astype(str) != "-1"))
    if name == "correlations" and "statistic" in df.columns:  # older tables call precision@k% top<k>%
        df["statistic"] = df["statistic"].astype(str).str.replace(r"^top([0-9.]+)%$", r"precision@\1%", regex=True)
    for c in _NULLABLE_INT.get(name, ()):
        if c in df.columns and name != "ground_truth":
            df[c] = _nullable_int(df[c])
    return df


def _legacy_aggregate(label: str) -> tuple[str | None, int | None, int | None]:
    """(aggregate, seed or seed_a, seed_b) of an old text ``seed`` label; aggregate None: a row to drop."""
    if label == "avg_score":
        return "headline", None, None
    if label in ("mean", "std"):
        return label, None, None
    a, dash, b = label.partition("-")
    if dash and a.isdigit() and b.isdigit():
        return "pair", int(a), int(b)
    return ("seed", int(float(label)), None) if label.replace(".", "", 1).isdigit() else (None, None, None)


def split_legacy_correlations(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """An old correlations table (text ``seed``: ``avg_score``, seed ids, ``mean``, ``std``; ``noise_ceiling``
    proxy rows with seed pairs) as (correlations, noise ceiling) in the current layout."""
    from .. import schema

    parts = [_legacy_aggregate(str(v)) for v in df["seed"]]
    is_nc = (df["proxy"] == "noise_ceiling").to_numpy()
    names = {"headline": schema.SCORE_MEAN, "seed": schema.PER_SEED, "mean": schema.MEAN_OVER_SEEDS,
             "std": schema.STD_OVER_SEEDS}
    nc_names = {"headline": schema.MEAN_OVER_PAIRS, "pair": schema.PER_PAIR, "std": schema.STD_OVER_PAIRS}
    corr = df[~is_nc].copy()
    corr["aggregate"] = [names.get(p[0]) for p, nc in zip(parts, is_nc) if not nc]
    corr["seed"] = pd.array([p[1] for p, nc in zip(parts, is_nc) if not nc], dtype="Int64")
    corr = corr[corr["aggregate"].notna()][list(schema.CORRELATIONS.names)].reset_index(drop=True)
    if not is_nc.any():
        return corr, None
    nc = df[is_nc].copy()
    nc_parts = [p for p, flag in zip(parts, is_nc) if flag]
    nc["aggregate"] = [nc_names.get(p[0]) for p in nc_parts]  # the old "mean" rows repeat the headline: dropped
    nc["seed_a"] = pd.array([p[1] for p in nc_parts], dtype="Int64")
    nc["seed_b"] = pd.array([p[2] for p in nc_parts], dtype="Int64")
    nc = nc[nc["aggregate"].notna()][list(schema.NOISE_CEILING.names)].reset_index(drop=True)
    return corr, nc


def _read(path: Path, name: str) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The table at ``path`` with its schema's dtypes, and the noise-ceiling rows of an old correlations table."""
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
    legacy_noise = None
    if name == "correlations" and "aggregate" not in df.columns and "seed" in df.columns:
        df, legacy_noise = split_legacy_correlations(df.astype({"seed": str}))
    return _fix_dtypes(name, df), legacy_noise


def read_table(path: str | Path, name: str | None = None) -> pd.DataFrame:
    """Read a CSV or Parquet table (by suffix); ``name`` (scores, ground_truth, correlations, noise_ceiling)
    gives its columns their schema's dtypes."""
    path = Path(path)
    return _read(path, name or path.stem)[0]


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
    noise_ceiling: pd.DataFrame | None = None
    noise_ground_truth: pd.DataFrame | None = None


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
    tables: dict[str, pd.DataFrame | None] = {}
    legacy_noise = None
    for name in ("ground_truth", "correlations", "noise_ceiling", "noise_ground_truth"):
        q = find_table(run_dir, name)
        tables[name], extra = _read(q, name) if q is not None else (None, None)
        legacy_noise = legacy_noise if extra is None else extra
    if tables["noise_ceiling"] is None:  # an older run keeps it inside correlations.csv
        tables["noise_ceiling"] = legacy_noise
    meta: dict = {}
    mp = run_dir / "run.json"
    if mp.is_file():
        try:
            meta = json.loads(mp.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read {mp}: invalid JSON ({exc})") from None
        if not isinstance(meta, dict):
            raise ValueError(f"{mp} must hold a JSON object, got {type(meta).__name__}")
    return RunData(run_dir, scores, tables["ground_truth"], tables["correlations"], meta, tables["noise_ceiling"],
                   tables["noise_ground_truth"])
