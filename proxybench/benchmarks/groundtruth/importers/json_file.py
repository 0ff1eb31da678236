"""Import a DisWOT-style KD table: a JSON object ``{"<arch index>": accuracy}``."""

from __future__ import annotations

import json
import math
import os
from typing import Any

import numpy as np
import pandas as pd

from ..table import GroundTruth
from .common import existing, key_to_index, to_percent

HOW_TO_GET = ("give a DisWOT-style KD table: a JSON object mapping official NB201 indices to accuracy in %, "
              "e.g. {\"0\": 71.3, \"17\": 69.8}")


def from_json(path: str | os.PathLike, dataset: str, metric: str = "kd_acc", *, teacher: Any = None,
              seed: int | None = None, name: str | None = None, description: str | None = None,
              protocol: str | None = None) -> GroundTruth:
    """Import a DisWOT-style KD table: a JSON object ``{"<arch index>": accuracy}`` (keys may also be arch
    strings; ``null`` values mark archs without a number and are left out, counted in the metadata).

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
    idx, vals, n_null = [], [], 0
    for key, v in data.items():
        if v is None:
            n_null += 1
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"{p}: value for key {key!r} must be a finite number (accuracy), got {v!r}")
        idx.append(key_to_index(key, str(p)))
        vals.append(float(v))
    if not vals:
        raise ValueError(f"{p}: every value is null; no accuracy to import")
    notes: list[str] = []
    values = to_percent(np.asarray(vals, dtype=np.float64), f"{dataset}/{metric}", notes)
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
        "n_missing": {f"{dataset}/{metric}": n_null} if n_null else {},
        "notes": notes,
    }
    return GroundTruth(df, meta)


