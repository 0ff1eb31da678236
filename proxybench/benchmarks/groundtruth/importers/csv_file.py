"""Import a generic CSV with an index or arch column and accuracy columns."""

from __future__ import annotations

import csv
import math
import os
import re
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..table import GroundTruth, int_column, preview
from .common import dropped_rows, existing, refuse_dropped, to_percent

HOW_TO_GET = ("give a CSV file with an 'arch_index' (or 'index') or 'arch' column and one column per accuracy, "
              "e.g. ../shared/data/nb201/nb201_accuracies.csv")


_DATASET_ALIASES = {
    "cifar10": "cifar10", "cifar-10": "cifar10", "cifar10-valid": "cifar10-valid", "cifar10valid": "cifar10-valid",
    "cifar100": "cifar100", "cifar-100": "cifar100",
    "imagenet16": "ImageNet16-120", "imagenet16-120": "ImageNet16-120", "imagenet16_120": "ImageNet16-120",
    "imagenet": "ImageNet16-120", "in16": "ImageNet16-120",
}
_SPLIT_METRICS = {"test": "test_acc", "val": "val_acc", "valid": "val_acc", "train": "train_acc",
                  "valtest": "valtest_acc", "kd": "kd_acc", "vanilla": "vanilla_acc"}
_COLUMN_RE = re.compile(r"^(?P<ds>[a-z0-9][\w.-]*?)[_](?P<split>test|val|valid|train|valtest|kd|vanilla)"
                        r"(?:_acc(?:uracy)?)?$", re.IGNORECASE)


def parse_column_name(column: str) -> tuple[str, str] | None:
    """``<dataset>_<test|val|valid|train|valtest|kd|vanilla>[_acc]`` -> ``(dataset, metric)``, else ``None``.

    Known dataset spellings are normalized to NB201's names (``imagenet16`` -> ``ImageNet16-120``). A CIFAR-10
    validation column maps to ``('cifar10-valid', 'val_acc')``: in NB201 only the ``cifar10-valid`` runs have a
    validation split (the API's ``remap_dataset_set_names`` does the same).
    """
    m = _COLUMN_RE.match(column.strip())
    if not m:
        return None
    ds_raw, split = m.group("ds"), m.group("split").lower()
    ds = _DATASET_ALIASES.get(ds_raw.lower(), ds_raw)
    metric = _SPLIT_METRICS[split]
    if ds == "cifar10" and metric == "val_acc":
        ds = "cifar10-valid"
    return ds, metric


def _parse_target(spec: Any, column: str) -> tuple[str, str]:
    if isinstance(spec, str):
        parts = re.split(r"[/:]", spec, maxsplit=1)
        if len(parts) != 2 or not all(x.strip() for x in parts):
            raise ValueError(f"column {column!r}: target {spec!r} must be 'DATASET/METRIC'")
        return parts[0].strip(), parts[1].strip()
    if isinstance(spec, (tuple, list)) and len(spec) == 2 and all(isinstance(x, str) and x for x in spec):
        return spec[0], spec[1]
    raise ValueError(f"column {column!r}: target {spec!r} must be (dataset, metric) or 'DATASET/METRIC'")


def _check_csv_tail(p: Path, header: list[str], sep: str) -> None:
    """A cut-short text CSV: the last line lacks fields, or the file stops without its final newline."""
    if p.suffix.lower() not in (".csv", ".tsv", ".txt"):
        return
    size = p.stat().st_size
    with open(p, "rb") as fh:
        fh.seek(max(0, size - 65536))
        tail = fh.read().decode("utf-8", errors="replace")
    lines = [ln for ln in tail.splitlines() if ln.strip()]
    if len(lines) < 2:
        return
    last = next(csv.reader([lines[-1]], delimiter=sep))
    if len(last) < len(header):
        raise ValueError(f"{p}: the last line has {len(last)} of {len(header)} fields; the file looks truncated")
    if not tail.endswith(("\n", "\r")):
        raise ValueError(f"{p} does not end with a newline, so its last line may be cut short (truncated file?); "
                         "if the file is complete, add a final newline")


def _check_numeric(p: Path, column: pd.Series, name: str) -> None:
    """Raise naming the first cell of ``column`` that is neither empty nor a number, with its line."""
    for i, v in enumerate(column.tolist()):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        try:
            float(v)
        except (TypeError, ValueError):
            raise ValueError(f"{p}: column {name!r}, line {i + 2}: value {str(v)!r} is not a number; give an "
                             "accuracy (a number, or an empty cell for no number)") from None


def from_csv(path: str | os.PathLike, columns: Sequence[str] | Mapping[str, Any] | None = None, *,
             dataset: str | None = None, name: str | None = None, description: str | None = None,
             teacher: Any = None, protocol: str | None = None, sep: str = ",", strict: bool = False) -> GroundTruth:
    """Import a CSV with an ``arch_index`` (or ``index``) or ``arch`` column and accuracy columns.

    ``columns`` is a mapping ``{column: (dataset, metric) or "dataset/metric"}``, a list of column names, or
    ``None`` (every numeric column other than the index/seed ones). Listed or found columns without a mapping
    are named by :func:`parse_column_name` (``cifar100_test`` -> ``cifar100``/``test_acc``); a column that does
    not follow that pattern becomes metric ``<column>`` on ``dataset``, which must then be given. An optional
    ``seed`` column gives the trial seed. Empty cells mean "no number for this arch": those rows are left out
    and counted in the metadata (``n_missing``; ``dropped`` gives per ``dataset/metric`` the count of each reason,
    ``empty or NaN`` and ``inf``, and the first lines). ``strict=True`` refuses such rows instead, naming them.
    A cell that is not a number is an error naming the value and its line.
    """
    p = existing(path, HOW_TO_GET)
    try:
        raw = pd.read_csv(p, sep=sep)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, EOFError, zlib.error,
            OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(f"{p} could not be read as CSV (truncated or corrupted?): {exc}; "
                         f"{HOW_TO_GET}") from None
    header = [str(c) for c in raw.columns]
    raw.columns = header
    _check_csv_tail(p, header, sep)
    if len(raw) == 0:
        raise ValueError(f"{p} has a header but no rows")
    index_col = next((c for c in ("arch_index", "index") if c in header), None)
    key_cols = {c for c in (index_col, "arch", "seed") if c and c in header}
    if index_col is None and "arch" not in header:
        raise ValueError(f"{p}: needs an 'arch_index' (or 'index') or 'arch' column; columns: {', '.join(header)}")
    if columns is None:
        chosen = [c for c in header if c not in key_cols and pd.api.types.is_numeric_dtype(raw[c])]
        if not chosen:
            for c in header:
                if c not in key_cols:
                    _check_numeric(p, raw[c], c)
            raise ValueError(f"{p}: no numeric accuracy column; columns: {', '.join(header)}")
        mapping: dict[str, Any] = dict.fromkeys(chosen)
    elif isinstance(columns, Mapping):
        mapping = dict(columns)
    else:
        mapping = dict.fromkeys([columns] if isinstance(columns, str) else columns)
    unknown = [c for c in mapping if c not in header]
    if unknown:
        raise ValueError(f"{p}: unknown column(s) {', '.join(map(repr, unknown))}; columns: {', '.join(header)}")
    targets: dict[str, tuple[str, str]] = {}
    for col, spec in mapping.items():
        if spec is not None:
            targets[col] = _parse_target(spec, col)
        elif (parsed := parse_column_name(col)) is not None:
            targets[col] = parsed
        elif dataset:
            targets[col] = (str(dataset), col)
        else:
            raise ValueError(f"{p}: cannot tell the dataset of column {col!r}; map it as COLUMN=DATASET/METRIC, "
                             "give a dataset for such columns, or name it <dataset>_<test|val|train|kd|vanilla>")
    dup = pd.Series(list(targets.values())).duplicated()
    if dup.any():
        clash = list(targets.values())[int(dup.argmax())]
        raise ValueError(f"{p}: several columns map to the same (dataset, metric) {clash}")
    keys = pd.DataFrame(index=raw.index)
    if index_col:
        if raw[index_col].isna().any():
            raise ValueError(f"{p}: column {index_col!r} has empty cells (rows "
                             f"{preview(np.flatnonzero(raw[index_col].isna()))})")
        keys["arch_index"] = int_column(raw[index_col], index_col)
    if "arch" in header:
        if raw["arch"].isna().any():
            rows = preview(np.flatnonzero(raw["arch"].isna()))
            raise ValueError(f"{p}: column 'arch' has empty cells (rows {rows})")
        keys["arch"] = raw["arch"].astype(str)
    if "seed" in header:
        keys["seed"] = raw["seed"]  # missing cells: values not tied to a seed
    parts, notes, n_missing, dropped = [], [], {}, {}
    for col, (ds, metric) in targets.items():
        try:
            vals = pd.to_numeric(raw[col], errors="raise").to_numpy(dtype=np.float64)
        except (ValueError, TypeError):
            _check_numeric(p, raw[col], col)
            raise ValueError(f"{p}: column {col!r} is not numeric") from None
        ok = np.isfinite(vals)
        if not ok.all():
            n_missing[f"{ds}/{metric}"] = int((~ok).sum())
            dropped[f"{ds}/{metric}"] = dropped_rows(vals, np.arange(len(vals)) + 2)  # line 1 is the header
        part = keys.loc[ok].copy()
        part["dataset"], part["metric"] = ds, metric
        part["value"] = to_percent(vals[ok], f"{ds}/{metric} ({col})", notes)
        parts.append(part)
    if strict:
        refuse_dropped(p, dropped)
    df = pd.concat(parts, ignore_index=True)
    if len(df) == 0:
        raise ValueError(f"{p}: every accuracy cell is empty")
    meta = {
        "name": name or p.name.split(".")[0],
        "description": description or f"accuracies from {p.name}: " + ", ".join(f"{d}/{m}" for d, m in
                                                                                 targets.values()),
        "source": {"kind": "csv", "file": p.name, "rows": int(len(raw))},
        "protocol": protocol or "",
        "teacher": teacher,
        "columns": {c: list(t) for c, t in targets.items()},
        "datasets": sorted({d for d, _ in targets.values()}),
        "metrics": sorted({m for _, m in targets.values()}),
        "n_missing": n_missing,
        "dropped": dropped,
        "notes": notes,
    }
    return GroundTruth(df, meta)


