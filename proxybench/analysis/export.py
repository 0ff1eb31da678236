"""Exports of the tidy tables (scores, correlations, noise ceiling) as CSV and/or Parquet."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from .rundir import FORMATS, RunData, load_run, parquet_engine, write_table


def parse_formats(formats: str | Iterable[str]) -> tuple[str, ...]:
    """``"csv,parquet"`` or an iterable of names -> validated tuple (order kept, duplicates dropped)."""
    if isinstance(formats, str):
        formats = [f for f in formats.replace(" ", "").split(",") if f]
    out = tuple(dict.fromkeys(str(f).lower().lstrip(".") for f in formats))
    if not out:
        raise ValueError(f"no export format given; valid: {', '.join(FORMATS)}")
    bad = [f for f in out if f not in FORMATS]
    if bad:
        raise ValueError(f"unknown export format(s) {bad}; valid: {', '.join(FORMATS)}")
    return out


def run_tables(run: RunData, *, correlate_options: Mapping | None = None) -> dict[str, pd.DataFrame]:
    """The exportable tables of a run: scores, correlations (computed when absent and a ground truth exists) and
    the noise ceiling when the run has one."""
    tables = {"scores": run.scores}
    corr = run.correlations
    if corr is None and run.ground_truth is not None:
        from .correlation import correlate

        corr = correlate(run.scores, run.ground_truth, **dict(correlate_options or {}))
    if corr is not None:
        tables["correlations"] = corr
    if run.noise_ceiling is not None and len(run.noise_ceiling):
        tables["noise_ceiling"] = run.noise_ceiling
    return tables


def export_tables(source: str | Path | RunData | Mapping[str, pd.DataFrame],
                  formats: str | Iterable[str] = ("csv", "parquet"), out_dir: str | Path | None = None
                  ) -> dict[str, list[Path]]:
    """Write tables as ``<out_dir>/<name>.<format>``; returns ``{name: [paths]}``.

    ``source`` is a run directory (its scores and correlations are written, by default back into it), a
    :class:`~proxybench.analysis.rundir.RunData`, or a mapping ``{name: DataFrame}`` (then ``out_dir`` is
    required). Parquet needs pyarrow: without it an ImportError is raised before anything is written.
    """
    fmts = parse_formats(formats)
    if "parquet" in fmts:
        parquet_engine()
    if isinstance(source, (str, Path)):
        source = load_run(source)
    if isinstance(source, RunData):
        tables = run_tables(source)
        out = Path(out_dir) if out_dir is not None else source.path
    elif isinstance(source, Mapping):
        if out_dir is None:
            raise ValueError("export_tables needs out_dir when given DataFrames")
        tables = dict(source)
        bad = [k for k, v in tables.items() if not isinstance(v, pd.DataFrame)]
        if bad:
            raise TypeError(f"export_tables: table(s) {bad} are not pandas DataFrames")
        out = Path(out_dir)
    else:
        raise TypeError(f"export_tables: source must be a run directory, RunData or a mapping of DataFrames, got "
                        f"{type(source).__name__}")
    written: dict[str, list[Path]] = {}
    for name, df in tables.items():
        written[name] = [write_table(df, out / f"{name}.{fmt}") for fmt in fmts]
    return written
