"""Import a DisWOT-style KD table: a JSON object ``{"<arch index>": accuracy}``."""

from __future__ import annotations

import json
import math
import os
from typing import Any

import numpy as np
import pandas as pd

from ..table import GroundTruth
from .common import dropped_rows, existing, key_to_index, refuse_dropped, to_percent

HOW_TO_GET = ("give a DisWOT-style KD table: a JSON object mapping official NB201 indices to accuracy in %, "
              "e.g. {\"0\": 71.3, \"17\": 69.8}")


def from_json(path: str | os.PathLike, dataset: str, metric: str = "kd_acc", *, teacher: Any = None,
              seed: int | None = None, name: str | None = None, description: str | None = None,
              protocol: str | None = None, strict: bool = False) -> GroundTruth:
    """Import a DisWOT-style KD table: a JSON object ``{"<arch index>": accuracy}`` (keys may also be arch
    strings).

    ``null``, ``NaN`` and ``Infinity`` values mark archs without a number: they are left out and counted in the
    metadata (``n_missing``; ``dropped`` gives the count of each reason and the first keys, as the CSV importer
    does), or refused with ``strict=True``. A value that is not a number (a string, a list, true/false) is an
    error naming its key and value.

    All rows get ``dataset``, ``metric`` (default ``kd_acc``) and ``seed`` (default ``None``: the value is not tied
    to one training seed, a single number or the source's mean per arch). Values all <= 1 are read as fractions
    and converted to %.
    """
    if not dataset or not str(dataset).strip():
        raise ValueError("from_json needs the dataset the accuracies were measured on (e.g. --dataset cifar100)")
    if not metric or not str(metric).strip():
        raise ValueError("from_json needs a metric name (e.g. kd_acc)")
    p = existing(path, HOW_TO_GET)
    try:
        with open(p, encoding="utf-8") as fh:
            data = json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{p} is not valid JSON (truncated or corrupted?): {exc}; {HOW_TO_GET}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{p}: expected a JSON object mapping arch index to accuracy, got {type(data).__name__}; "
                         f"{HOW_TO_GET}")
    if not data:
        raise ValueError(f"{p}: the JSON object is empty")
    keys, idx, vals, null = [], [], [], []
    for key, v in data.items():
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise ValueError(f"{p}: value for key {key!r} must be a finite number (accuracy), got {v!r}; give a "
                             "number, or null for an arch without one")
        keys.append(key)
        idx.append(key_to_index(key, str(p)))
        vals.append(math.nan if v is None else float(v))
        null.append(v is None)
    values = np.asarray(vals, dtype=np.float64)
    ok = np.isfinite(values)
    pair = f"{dataset}/{metric}"
    dropped = {pair: dropped_rows(values, keys, position="keys", reasons={"null": np.asarray(null)})} \
        if not ok.all() else {}
    if strict:
        refuse_dropped(p, dropped, "give numbers for those keys (or leave the keys out)")
    if not ok.any():
        raise ValueError(f"{p}: no value is a finite number; no accuracy to import")
    idx = [i for i, good in zip(idx, ok) if good]
    notes: list[str] = []
    values = to_percent(values[ok], pair, notes)
    df = pd.DataFrame({"arch_index": idx, "dataset": str(dataset), "metric": str(metric), "value": values,
                       "seed": None if seed is None else int(seed)})
    meta = {
        "name": name or f"{p.stem}",
        "description": description or f"{metric} on {dataset} from {p.name} ({len(df)} archs)",
        "source": {"kind": "json", "file": p.name},
        "protocol": protocol or "",
        "teacher": teacher,
        "datasets": [str(dataset)],
        "metrics": [str(metric)],
        "n_missing": {pair: int((~ok).sum())} if not ok.all() else {},
        "dropped": dropped,
        "notes": notes,
    }
    return GroundTruth(df, meta)


