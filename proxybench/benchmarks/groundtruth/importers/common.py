"""Helpers shared by the importers: paths, option checks, fractions read as %."""

from __future__ import annotations

import os
from collections.abc import Sequence
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


