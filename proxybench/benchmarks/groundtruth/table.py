"""The ground-truth table: :class:`GroundTruth`, a tidy accuracy table with its provenance.

One row per (architecture, dataset, metric, training seed) with the columns of
:data:`proxybench.schema.GROUND_TRUTH`. A value not tied to one training seed (a source that gives one number per
architecture, such as its own mean over seeds) has a missing ``seed`` (``<NA>``); ``-1`` is accepted on input as
the old spelling of that and is never returned. Aggregation over seeds is always asked for by name
(``GroundTruth.table(..., aggregate="mean")``).

A (dataset, metric) pair names one accuracy series. Every method that takes one accepts it in the order
:meth:`GroundTruth.pairs` and :meth:`GroundTruth.resolve` return it, ``(dataset, metric)``, as keywords, as
``"dataset/metric"``, or as the metric alone when it exists on one dataset only. The older order
``(metric, dataset)`` still works where the names leave no doubt.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..._version import __version__
from ...schema import GROUND_TRUTH
from ..spaces import SearchSpace, get_space, space_of
from . import pbgt

COLUMNS: tuple[str, ...] = GROUND_TRUTH.names
MEAN_SEED = -1
"""Accepted on input as the old spelling of a missing seed (a value not tied to one training seed); tables hold
``<NA>`` instead."""
AGGREGATES = ("mean", "median", "min", "max")
"""How :meth:`GroundTruth.table` combines the seeds of an architecture."""
_TEXT = ("arch", "dataset", "metric")

_ARCHS_CACHE: dict[str, np.ndarray] = {}


def _arch_array(space: SearchSpace | str | None = None) -> np.ndarray:
    """Every arch string of ``space`` (default NB201) in index order, as an object array (cached)."""
    sp = get_space(space)
    if sp.name not in _ARCHS_CACHE:
        _ARCHS_CACHE[sp.name] = np.asarray(sp.all_archs(), dtype=object)
    return _ARCHS_CACHE[sp.name]


def preview(values: Iterable[Any], k: int = 5) -> str:
    vals = [v.item() if isinstance(v, np.generic) else v for v in values]
    shown = ", ".join(repr(v) for v in vals[:k])
    return shown + (f", ... ({len(vals)} in all)" if len(vals) > k else "")


def int_column(series: pd.Series, name: str) -> np.ndarray:
    try:
        vals = pd.to_numeric(series, errors="raise")
    except (ValueError, TypeError):
        bad = [v for v in series.unique() if not _is_intlike(v)]
        raise ValueError(f"column {name!r} must hold integers; bad values: {preview(bad)}") from None
    arr = np.asarray(vals, dtype=float)
    bad = ~np.isfinite(arr) | (arr != np.round(arr))
    if bad.any():
        raise ValueError(f"column {name!r} must hold integers; bad values: {preview(np.unique(arr[bad]))}")
    return arr.astype(np.int64)


def _is_intlike(v: Any) -> bool:
    try:
        return float(v) == int(float(v))
    except (TypeError, ValueError, OverflowError):
        return False


def _seed_column(series: pd.Series) -> np.ndarray:
    """Seeds as int64 with -1 where the seed is missing (NA, or the old spelling -1)."""
    missing = series.isna().to_numpy()
    seed = np.full(len(series), -1, dtype=np.int64)
    if (~missing).any():
        seed[~missing] = int_column(series[~missing], "seed")
    if (seed < -1).any():
        raise ValueError(f"column 'seed' must hold seed ids >= 0, or be missing (NA) for a value not tied to one "
                         f"seed; got {preview(np.unique(seed[seed < -1]).tolist())}")
    return seed


def _check_indices(idx: np.ndarray, what: str = "arch_index", space: SearchSpace | str | None = None) -> None:
    sp = get_space(space)
    bad = (idx < 0) | (idx >= sp.num_archs)
    if bad.any():
        kind = "official NB201 indices" if sp.name == "nb201" else f"indices of search space {sp.name}"
        raise ValueError(f"{what} out of range: {preview(np.unique(idx[bad]).tolist())}; "
                         f"valid: 0..{sp.num_archs - 1} ({kind})")


def _indices_from_archs(archs: np.ndarray, space: SearchSpace | str | None = None) -> np.ndarray:
    sp = get_space(space)
    order = {a: i for i, a in enumerate(sp.all_archs())}
    out = np.empty(len(archs), dtype=np.int64)
    cache: dict[str, int] = {}
    for row, a in enumerate(archs):
        i = order.get(a)
        if i is None:
            i = cache.get(a)
            if i is None:
                try:
                    i = sp.arch_to_index(str(a))
                except (ValueError, KeyError, TypeError) as exc:
                    raise ValueError(f"row {row}: {a!r} is not a {sp.title} arch string ({exc})") from None
                cache[a] = i
        out[row] = i
    return out


def _normalize_table(df: Any, space: SearchSpace | str | None = None) -> pd.DataFrame:
    """Validate a ground-truth table of ``space``'s architectures (default NB201) and return it with exactly
    :data:`COLUMNS`, sorted."""
    sp = get_space(space)
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"ground_truth must be a pandas DataFrame, got {type(df).__name__}")
    cols = [str(c) for c in df.columns]
    extra = sorted(set(cols) - set(COLUMNS))
    if extra:
        raise ValueError(f"unknown ground-truth column(s) {extra}; valid: {', '.join(COLUMNS)}")
    missing = [c for c in ("dataset", "metric", "value") if c not in cols]
    if "arch_index" not in cols and "arch" not in cols:
        missing.insert(0, "arch_index (or arch)")
    if missing:
        raise ValueError(f"ground-truth table lacks column(s) {', '.join(missing)}; needs {', '.join(COLUMNS)} "
                         "('arch' is derived from 'arch_index'; without 'seed' no value is tied to a seed)")
    if len(df) == 0:
        raise ValueError("ground-truth table is empty")
    if "arch_index" in cols:
        idx = int_column(df["arch_index"], "arch_index")
        _check_indices(idx, space=sp)
        if "arch" in cols:
            given = df["arch"].to_numpy(dtype=object)
            canon = _arch_array(sp)[idx]
            mism = np.flatnonzero(given != canon)
            checked: dict[str, int] = {}
            for r in mism:
                a = str(given[r])
                if a not in checked:
                    try:
                        checked[a] = sp.arch_to_index(a)
                    except (ValueError, KeyError, TypeError):
                        checked[a] = -1
                if checked[a] != idx[r]:
                    order = "NB201's official order" if sp.name == "nb201" else f"the index order of {sp.name}"
                    raise ValueError(f"row {int(r)}: arch_index {int(idx[r])} is {canon[r]!r} in {order}, but the "
                                     f"arch column says {a!r}")
    else:
        idx = _indices_from_archs(df["arch"].astype(str).to_numpy(dtype=object), sp)
    codes, names = {}, {}
    for name in ("dataset", "metric"):
        codes[name], names[name] = _text_codes(df[name], name)
    try:
        value = pd.to_numeric(df["value"], errors="raise").to_numpy(dtype=np.float64)
    except (ValueError, TypeError):
        raise ValueError("column 'value' must hold numbers (accuracy in %)") from None
    bad = ~np.isfinite(value)
    if bad.any():
        raise ValueError(f"column 'value' has missing or non-finite values at rows {preview(np.flatnonzero(bad))}; "
                         "leave archs without a number out of the table instead")
    bad = (value < 0) | (value > 100)
    if bad.any():
        raise ValueError(f"column 'value' must be an accuracy in % (0..100); out of range: "
                         f"{preview(np.unique(value[bad]).tolist())}")
    seed = _seed_column(df["seed"]) if "seed" in cols else np.full(len(df), -1, dtype=np.int64)
    # canonical order: dataset, metric, seed, arch_index (names in sorted order)
    dcode, mcode = codes["dataset"], codes["metric"]
    order = np.lexsort((idx, seed, mcode, dcode))
    dcode, mcode, seed, idx, value = dcode[order], mcode[order], seed[order], idx[order], value[order]

    def example(rows: np.ndarray) -> list[dict]:
        return [{"dataset": names["dataset"][dcode[r]], "metric": names["metric"][mcode[r]],
                 "arch_index": int(idx[r]), "seed": int(seed[r]) if seed[r] >= 0 else None} for r in rows[:3]]

    same = (dcode[1:] == dcode[:-1]) & (mcode[1:] == mcode[:-1]) & (seed[1:] == seed[:-1]) & (idx[1:] == idx[:-1])
    if same.any():
        raise ValueError(f"duplicate rows for the same (dataset, metric, arch_index, seed): "
                         f"{example(np.flatnonzero(same))}")
    no_seed = seed < 0
    if no_seed.any() and not no_seed.all():
        cell = (dcode.astype(np.int64) * len(names["metric"]) + mcode) * sp.num_archs + idx
        clash = np.isin(cell, cell[no_seed]) & ~no_seed
        if clash.any():
            raise ValueError(f"rows without a seed (NA, or the old spelling seed {MEAN_SEED} for a mean over seeds) "
                             f"and per-seed rows for the same (dataset, metric, arch_index): "
                             f"{example(np.flatnonzero(clash))}")
    return _frame({"arch_index": idx, "arch": _arch_array(sp)[idx], "dataset": names["dataset"][dcode],
                   "metric": names["metric"][mcode], "value": value, "seed": seed})


def _text_codes(col: pd.Series, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Codes into the sorted, stripped distinct names of a text column."""
    raw_codes, uniques = pd.factorize(col.to_numpy(dtype=object), use_na_sentinel=True)
    if (raw_codes < 0).any():
        raise ValueError(f"column {name!r} has missing values (rows {preview(np.flatnonzero(raw_codes < 0))})")
    stripped = [str(u).strip() for u in uniques]
    if "" in stripped:
        empty = np.flatnonzero(raw_codes == stripped.index(""))
        raise ValueError(f"column {name!r} has empty names (rows {preview(empty)})")
    sorted_names = sorted(set(stripped))
    pos = {n: i for i, n in enumerate(sorted_names)}
    remap = np.asarray([pos[n] for n in stripped], dtype=np.int64)
    return remap[raw_codes], np.asarray(sorted_names, dtype=object)


def _group_rows(gt: pd.DataFrame) -> dict[tuple[str, str], np.ndarray]:
    """Row positions per (dataset, metric). Tables are stored sorted, so groups are runs of equal names; a
    table whose groups are not contiguous (edited by hand) falls back to a hashed group-by."""
    d = gt["dataset"].to_numpy(dtype=object)
    m = gt["metric"].to_numpy(dtype=object)
    if len(d) == 0:
        return {}
    starts = np.concatenate(([0], np.flatnonzero((d[1:] != d[:-1]) | (m[1:] != m[:-1])) + 1, [len(d)]))
    groups: dict[tuple[str, str], np.ndarray] = {}
    for a, b in zip(starts[:-1], starts[1:]):
        key = (str(d[a]), str(m[a]))
        if key in groups:  # not contiguous
            return {(str(k[0]), str(k[1])): v for k, v in gt.groupby(["dataset", "metric"], sort=True).indices.items()}
        groups[key] = np.arange(a, b)
    return dict(sorted(groups.items()))


def _frame(cols: dict[str, np.ndarray]) -> pd.DataFrame:
    """The table with its canonical dtypes from arrays in which a missing seed is -1. The three text columns hold
    Python ``str`` values in ``object`` columns: converting 10^5-10^6 strings to pandas' string dtype would take most
    of the load time."""
    seed = np.asarray(cols["seed"], dtype=np.int64)
    data = {c: pd.Series(cols[c], dtype=object if c in _TEXT else None, copy=False) for c in COLUMNS if c != "seed"}
    data["seed"] = pd.Series(pd.arrays.IntegerArray(seed, seed < 0), copy=False)
    return pd.DataFrame(data, columns=list(COLUMNS), copy=False)


def _seed_list(seeds: pd.Series) -> str:
    """``"0,1,2"``; ``none`` stands for values not tied to a seed."""
    text = [str(int(x)) for x in sorted(seeds.dropna().unique())]
    return ",".join(text + (["none"] if seeds.isna().any() else []))


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


@dataclass(eq=False)
class GroundTruth:
    """A ground-truth table with its provenance.

    ``ground_truth`` is a tidy DataFrame with exactly the columns ``arch_index`` (int, the index in the table's
    search space: ``metadata["space"]``, NB201's official index when absent), ``arch`` (str), ``dataset`` (str),
    ``metric`` (str, e.g. ``test_acc``, ``val_acc``, ``kd_acc``, ``vanilla_acc``), ``value`` (float, accuracy
    in %) and ``seed`` (nullable int: the training seed, ``<NA>`` for a value not tied to one seed; ``-1`` is read
    as ``<NA>``).
    ``arch`` may be left out (it is derived from ``arch_index``), or ``arch_index`` may be left out (derived
    from ``arch``); when both are given they must agree. ``metadata`` is a JSON-serializable dict; the keys
    name, description, source, protocol, teacher, seeds, network, created and proxybench_version are filled
    in when absent. The table is validated and sorted on construction; treat it as read-only afterwards.
    """

    ground_truth: pd.DataFrame
    metadata: dict = field(default_factory=dict)
    path: Path | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.metadata, Mapping):
            raise ValueError(f"metadata must be a dict, got {type(self.metadata).__name__}")
        self.ground_truth = _normalize_table(self.ground_truth, space_of(self.metadata))
        self.metadata = _complete_metadata(dict(self.metadata), self.ground_truth)

    @classmethod
    def _trusted(cls, table: pd.DataFrame, metadata: dict, path: Path | None = None) -> GroundTruth:
        obj = cls.__new__(cls)
        obj.ground_truth, obj.metadata, obj.path = table, metadata, path
        return obj

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GroundTruth):
            return NotImplemented
        return self.ground_truth.equals(other.ground_truth) and self.metadata == other.metadata

    __hash__ = None  # mutable

    # ---- queries ---------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return str(self.metadata.get("name") or "")

    @property
    def space(self) -> SearchSpace:
        """The search space of the architectures (``metadata["space"]``; NB201 when the metadata names none)."""
        return space_of(self.metadata)

    def __len__(self) -> int:
        return len(self.ground_truth)

    def __repr__(self) -> str:
        return (f"GroundTruth(name={self.name!r}, rows={len(self)}, archs={self.n_archs()}, "
                f"datasets={self.datasets()}, metrics={self.metrics()})")

    def _groups(self) -> dict[tuple[str, str], np.ndarray]:
        """Row positions per (dataset, metric), computed once per table object."""
        gt = self.ground_truth
        cache = getattr(self, "_group_cache", None)
        if cache is None or cache[0] is not gt or cache[1] != len(gt):
            cache = (gt, len(gt), _group_rows(gt))
            self._group_cache = cache
        return cache[2]

    def metrics(self, dataset: str | None = None) -> list[str]:
        """Metric names present (on ``dataset`` when given)."""
        if dataset is not None:
            self._check_dataset(dataset)
        return sorted({m for d, m in self._groups() if dataset is None or d == dataset})

    def datasets(self, metric: str | None = None) -> list[str]:
        """Dataset names present (those that have ``metric`` when given)."""
        if metric is not None:
            self._check_metric(metric)
        return sorted({d for d, m in self._groups() if metric is None or m == metric})

    def pairs(self) -> list[tuple[str, str]]:
        """Every (dataset, metric) with at least one row."""
        return sorted(self._groups())

    def n_archs(self) -> int:
        return int(self.ground_truth["arch_index"].nunique())

    def _check_dataset(self, dataset: str) -> None:
        valid = sorted({d for d, _ in self._groups()})
        if dataset not in valid:
            raise ValueError(f"unknown dataset {dataset!r} in ground truth {self.name!r}; valid: {', '.join(valid)}")

    def _check_metric(self, metric: str) -> None:
        valid = sorted({m for _, m in self._groups()})
        if metric not in valid:
            raise ValueError(f"unknown metric {metric!r} in ground truth {self.name!r}; valid: {', '.join(valid)}")

    def resolve(self, first: str | None = None, second: str | None = None, *, dataset: str | None = None,
                metric: str | None = None) -> tuple[str, str]:
        """Check a (dataset, metric) pair and return it as ``(dataset, metric)``.

        ``resolve(dataset, metric)``, ``resolve("dataset/metric")``, ``resolve(metric)`` (the metric exists on one
        dataset only), keywords, or the older ``resolve(metric, dataset)`` when the names leave no doubt."""
        dataset, metric = self._pair(first, second, dataset, metric)
        self._check_metric(metric)
        have = self.datasets(metric)
        if dataset is None:
            if len(have) > 1:
                raise ValueError(f"metric {metric!r} exists on several datasets; pass one of: {', '.join(have)}")
            return have[0], metric
        self._check_dataset(dataset)
        if dataset not in have:
            raise ValueError(f"no {metric!r} on dataset {dataset!r}; {metric!r} exists on: {', '.join(have)}; "
                             f"metrics on {dataset!r}: {', '.join(self.metrics(dataset))}")
        return dataset, metric

    def _pair(self, first: str | None, second: str | None, dataset: str | None, metric: str | None
              ) -> tuple[str | None, str]:
        """(dataset or None, metric) from the accepted spellings of a pair (see :meth:`resolve`)."""
        if first is None and second is None:
            if metric is None:
                raise ValueError("name a metric: table(dataset, metric), table(metric) or metric=...")
            return dataset, metric
        if dataset is not None or metric is not None:
            raise ValueError("give the dataset and metric either by position or as keywords, not both")
        if second is None:
            if isinstance(first, str) and "/" in first and first not in self.metrics():
                ds, _, m = first.partition("/")
                return ds, m
            return None, first
        datasets, metrics = set(self.datasets()), set(self.metrics())
        new = first in datasets or second in metrics  # (dataset, metric), the order pairs() returns
        old = first in metrics or second in datasets  # (metric, dataset), the older order
        if new and old and first in datasets and second in metrics and first in metrics and second in datasets:
            raise ValueError(f"{first!r} and {second!r} are both dataset and metric names here; pass "
                             "dataset=... and metric=...")
        if old and not (first in datasets and second in metrics):
            return second, first
        return first, second

    def table(self, first: str | None = None, second: str | None = None, *, dataset: str | None = None,
              metric: str | None = None, aggregate: str = "mean") -> pd.Series:
        """One value per architecture of a (dataset, metric) pair (spelled as in :meth:`resolve`): ``aggregate``
        (mean, median, min or max) over its seeds.

        Returns a float Series indexed by ``arch_index`` (sorted), named ``"<dataset>/<metric>"``.
        """
        if aggregate not in AGGREGATES:
            raise ValueError(f"unknown aggregate {aggregate!r}; valid: {', '.join(AGGREGATES)}")
        dataset, metric = self.resolve(first, second, dataset=dataset, metric=metric)
        rows = self.ground_truth.iloc[self._groups()[(dataset, metric)]]
        s = rows.groupby("arch_index", sort=True)["value"].agg(aggregate).astype(np.float64)
        s.name = f"{dataset}/{metric}"
        return s

    def align(self, indices: Iterable[int], first: str | None = None, second: str | None = None, *,
              dataset: str | None = None, metric: str | None = None, aggregate: str = "mean"
              ) -> tuple[pd.Series, list[int]]:
        """Values (as :meth:`table`) for the given arch indices, in their order, and the indices absent from the
        table.

        Archs absent from the ground truth are to be excluded from correlations and counted; this returns
        both the values of the present ones and the list of absent ones.
        """
        idx = [int(i) for i in indices]
        _check_indices(np.asarray(idx, dtype=np.int64), "arch index", self.space)
        full = self.table(first, second, dataset=dataset, metric=metric, aggregate=aggregate)
        present = [i for i in idx if i in full.index]
        missing = [i for i in idx if i not in full.index]
        return full.loc[present], missing

    def summary(self) -> pd.DataFrame:
        """One row per (dataset, metric): archs, rows, seeds, min, mean, max of the values."""
        gt = self.ground_truth
        g = gt.groupby(["dataset", "metric"], sort=True)
        out = g.agg(archs=("arch_index", "nunique"), rows=("value", "size"),
                    min=("value", "min"), mean=("value", "mean"), max=("value", "max"))
        out.insert(2, "seeds", g["seed"].agg(_seed_list))
        return out.reset_index()

    # ---- storage ---------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the table as a ``.pbgt`` file (:mod:`.pbgt`), atomically."""
        gt = self.ground_truth
        seed = gt["seed"].to_numpy(dtype=np.int64, na_value=-1)
        path = pbgt.write(path, {"arch_index": gt["arch_index"].to_numpy(), "dataset": gt["dataset"].to_numpy(),
                                 "metric": gt["metric"].to_numpy(), "seed": seed,
                                 "value": gt["value"].to_numpy(np.float64)}, self.metadata)
        self.path = path
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> GroundTruth:
        """Read a file written by :meth:`save`, validating its structure."""
        path = Path(path)
        cols, metadata = pbgt.read(path)
        cols["arch"] = _arch_array(space_of(metadata))[cols["arch_index"]]
        from .derived import with_kd_gain

        return cls._trusted(with_kd_gain(_frame(cols)), metadata, path)


def _complete_metadata(meta: dict, table: pd.DataFrame) -> dict:
    meta.setdefault("name", "")
    meta.setdefault("description", "")
    meta.setdefault("source", "")
    meta.setdefault("protocol", "")
    meta.setdefault("teacher", None)
    if "seeds" not in meta:
        meta["seeds"] = sorted(int(s) for s in table["seed"].dropna().unique())
    meta.setdefault("network", {})
    meta.setdefault("created", _now())
    meta.setdefault("proxybench_version", __version__)
    return meta


