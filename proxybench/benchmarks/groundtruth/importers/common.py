"""Helpers shared by the importers: paths, option checks, fractions read as %, rows dropped for non-finite values."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ...nb201.space import NUM_ARCHS, arch_to_index


def existing(path: str | os.PathLike, how_to_get: str, *, allow_dir: bool = False) -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"file not found: {p}; {how_to_get}")
    if p.is_dir() and not allow_dir:
        raise ValueError(f"{p} is a directory, expected a file; {how_to_get}")
    return p


def check_names(values: Sequence[str] | None, valid: Sequence[str], what: str) -> list[str] | None:
    if values is None:
        return None
    if isinstance(values, str):
        values = [values]
    bad = [v for v in values if v not in valid]
    if bad:
        raise ValueError(f"unknown {what} {', '.join(map(repr, bad))}; valid: {', '.join(valid)}")
    return list(dict.fromkeys(values))


def to_percent(values: np.ndarray, what: str, notes: list[str]) -> np.ndarray:
    if len(values) and np.nanmax(values) <= 1.0:
        notes.append(f"{what}: all values were <= 1, read as fractions and multiplied by 100")
        return values * 100.0
    return values


def key_to_index(key: str, where: str) -> int:
    k = key.strip()
    if k.lstrip("-").isdigit():
        return int(k)
    try:
        return arch_to_index(k)
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"{where}: key {key!r} is neither an official NB201 index (0..{NUM_ARCHS - 1}) nor an "
                         "arch string") from None




POSITIONS = {"lines": "line(s)", "keys": "key(s)"}
"""How an importer names the rows of its file in a dropped-rows record: CSV lines or JSON keys."""


def dropped_rows(values: np.ndarray, labels: Sequence, *, position: str = "lines",
                 reasons: Mapping[str, np.ndarray] | None = None, first: int = 10) -> dict:
    """The record of the non-finite ``values`` that an import leaves out: ``{reason: count, ..., position: the
    first labels}``, ``{}`` when every value is finite. Reasons: ``reasons`` (name -> mask, checked first, e.g.
    JSON ``null``), then ``empty or NaN`` and ``inf`` (CSV) or what ``reasons`` leaves unexplained."""
    values = np.asarray(values, dtype=np.float64)
    bad = ~np.isfinite(values)
    if not bad.any():
        return {}
    counts: dict[str, int] = {}
    explained = np.zeros(len(values), dtype=bool)
    for name, mask in (reasons or {}).items():
        mask = np.asarray(mask, dtype=bool) & bad & ~explained
        if mask.any():
            counts[name] = int(mask.sum())
        explained |= mask
    nan_name = "NaN" if reasons else "empty or NaN"
    for name, mask in ((nan_name, np.isnan(values)), ("inf", np.isinf(values))):
        mask = mask & ~explained
        if mask.any():
            counts[name] = int(mask.sum())
    shown = [labels[i] for i in np.flatnonzero(bad)[:first]]
    return {**counts, position: [x.item() if isinstance(x, np.generic) else x for x in shown]}


def format_dropped(record: Mapping) -> str:
    """``"2 empty or NaN, 1 inf (line(s) 3, 4, 5)"`` for a :func:`dropped_rows` record."""
    why = ", ".join(f"{n} {k}" for k, n in record.items() if k not in POSITIONS)
    where = next(((POSITIONS[k], v) for k, v in record.items() if k in POSITIONS), None)
    if where is None:
        return why
    shown = ", ".join(str(x) if where[0] == "line(s)" else repr(x) for x in where[1])
    return f"{why} ({where[0]} {shown})"


def refuse_dropped(path: Path, dropped: Mapping[str, Mapping], fix: str = "fix those cells") -> None:
    """``--strict``: raise ``ValueError`` naming every ground truth with dropped rows, why, and where."""
    if dropped:
        raise ValueError(f"{path}: non-finite accuracies (--strict): "
                         + "; ".join(f"{pair}: {format_dropped(d)}" for pair, d in dropped.items())
                         + f"; {fix}, or import without --strict to drop those rows")
