"""Ground-truth accuracy tables, their loaders, and the registry of benchmarks.

A :class:`GroundTruth` is a tidy table, one row per (architecture, dataset, metric, seed), plus a metadata
dict describing where the numbers come from (source file, training protocol, teacher, seeds, network).
It is stored in one compact file (``*.pbgt``, a zip archive holding one ``.npy`` array per column and two
JSON members), written atomically and read back in a few tens of milliseconds even for all 15,625
NAS-Bench-201 cells times several metrics and datasets.

Loaders:

* :func:`from_nb201` -- the official NAS-Bench-201 ``.pth`` (v1_0 and v1_1), read through the
  ``nas-bench-201`` package (``nas_201_api.NASBench201API``) with ``get_more_info`` semantics;
* :func:`from_nats` -- NATS-Bench topology files, through the optional ``nats_bench`` package;
* :func:`from_json` -- DisWOT-style KD tables ``{"<arch index>": accuracy}``;
* :func:`from_csv` -- a generic CSV with an index or arch column and accuracy columns.

Metric names produced from the official files (``get_more_info(index, dataset, hp=hp, is_random=seed)``,
the last epoch of each trial; values are top-1 accuracy in %):

================  ===============================================================================
dataset           metrics (and the split each one is measured on)
================  ===============================================================================
cifar10-valid     ``train_acc`` (the 25k CIFAR-10 train half the net was trained on),
                  ``val_acc`` (``x-valid``: the other 25k of the CIFAR-10 training set),
                  ``test_acc`` (``ori-test``: the official 10k CIFAR-10 test set)
cifar10           ``train_acc`` (all 50k training images: train + valid halves),
                  ``test_acc`` (``ori-test``: the official 10k test set). There is **no**
                  ``val_acc``: the validation half was trained on. A "CIFAR-10 validation accuracy"
                  always comes from the separate ``cifar10-valid`` runs (the API's own
                  ``remap_dataset_set_names`` maps ``('cifar10', 'valid')`` there).
cifar100          ``train_acc``, ``val_acc`` (``x-valid``: 5k half of the official test set),
                  ``test_acc`` (``x-test``: the other 5k), ``valtest_acc`` (``ori-test``: all 10k)
ImageNet16-120    ``train_acc``, ``val_acc`` (``x-valid``: 3k half of the official validation set),
                  ``test_acc`` (``x-test``: the other 3k), ``valtest_acc`` (``ori-test``: all 6k)
================  ===============================================================================

The API defaults to ``hp='12'`` (12-epoch training) in several places; every loader here takes ``hp``
explicitly (default ``'200'``, the full 200-epoch schedule) and records it in the metadata.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import io
import json
import math
import os
import re
import tempfile
import warnings
import zipfile
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._version import __version__
from .nb201 import NUM_ARCHS, all_archs, arch_to_index

COLUMNS: tuple[str, ...] = ("arch_index", "arch", "dataset", "metric", "value", "seed")
MEAN_SEED = -1  # the seed of a row that holds a mean over seeds
SUFFIX = ".pbgt"
FORMAT_NAME = "proxybench-groundtruth"
FORMAT_VERSION = 1
_MANIFEST = "proxybench-groundtruth.json"
_METADATA = "metadata.json"
_ARRAY_COLUMNS = ("arch_index", "dataset", "metric", "seed", "value")
AGGREGATES = ("mean", "median", "min", "max")

NB201_DATASETS: tuple[str, ...] = ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120")
NB201_HPS: tuple[str, ...] = ("12", "200")
# get_more_info key -> metric name
_INFO_KEYS: tuple[tuple[str, str], ...] = (
    ("train-accuracy", "train_acc"),
    ("valid-accuracy", "val_acc"),
    ("test-accuracy", "test_acc"),
    ("valtest-accuracy", "valtest_acc"),
)
NB201_METRICS: tuple[str, ...] = tuple(m for _, m in _INFO_KEYS)
NB201_SPLITS: dict[str, dict[str, str]] = {
    "cifar10-valid": {
        "train_acc": "CIFAR-10 train half (25k images), the images the network was trained on",
        "val_acc": "x-valid: the other 25k images of the CIFAR-10 training set",
        "test_acc": "ori-test: the official CIFAR-10 test set (10k)",
    },
    "cifar10": {
        "train_acc": "all 50k CIFAR-10 training images (train + valid halves), the training data",
        "test_acc": "ori-test: the official CIFAR-10 test set (10k)",
    },
    "cifar100": {
        "train_acc": "CIFAR-100 training set (50k), the training data",
        "val_acc": "x-valid: a 5k half of the official CIFAR-100 test set",
        "test_acc": "x-test: the other 5k half of the official CIFAR-100 test set",
        "valtest_acc": "ori-test: the whole official CIFAR-100 test set (10k)",
    },
    "ImageNet16-120": {
        "train_acc": "ImageNet16-120 training set (151.7k), the training data",
        "val_acc": "x-valid: a 3k half of the ImageNet16-120 validation set",
        "test_acc": "x-test: the other 3k half of the ImageNet16-120 validation set",
        "valtest_acc": "ori-test: the whole ImageNet16-120 validation set (6k)",
    },
}

_HOW_TO_GET = {
    "nb201": "download NAS-Bench-201-v1_1-096897.pth (4.7 GB) or NAS-Bench-201-v1_0-e61699.pth (2.1 GB) from the "
             "links in the NAS-Bench-201 repository (github.com/D-X-Y/NAS-Bench-201); reading it needs tens of GB "
             "of RAM, so import it once with 'proxybench groundtruth import --from nb201 FILE --out OUT.pbgt'",
    "nats": "download NATS-tss-v1_0-3ffb9-simple.tar from the links in the NATS-Bench repository "
            "(github.com/D-X-Y/NATS-Bench) and unpack it (pass the directory), or pass the single-file "
            "NATS-tss-v1_0-3ffb9-full.pickle.pbz2",
    "json": "give a DisWOT-style KD table: a JSON object mapping official NB201 indices to accuracy in %, "
            "e.g. {\"0\": 71.3, \"17\": 69.8}",
    "csv": "give a CSV file with an 'arch_index' (or 'index') or 'arch' column and one column per accuracy, "
           "e.g. ../shared/data/nb201/nb201_accuracies.csv",
    "groundtruth": "create one with 'proxybench groundtruth import --from nb201|nats|json|csv PATH --out FILE', "
                   "or name a registered benchmark (see 'proxybench groundtruth list')",
}


# --------------------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------------------

_ARCHS_CACHE: list[np.ndarray] = []


def _arch_array() -> np.ndarray:
    if not _ARCHS_CACHE:
        _ARCHS_CACHE.append(np.asarray(all_archs(), dtype=object))
    return _ARCHS_CACHE[0]


def _preview(values: Iterable[Any], k: int = 5) -> str:
    vals = [v.item() if isinstance(v, np.generic) else v for v in values]
    shown = ", ".join(repr(v) for v in vals[:k])
    return shown + (f", ... ({len(vals)} in all)" if len(vals) > k else "")


def _int_column(series: pd.Series, name: str) -> np.ndarray:
    try:
        vals = pd.to_numeric(series, errors="raise")
    except (ValueError, TypeError):
        bad = [v for v in series.unique() if not _is_intlike(v)]
        raise ValueError(f"column {name!r} must hold integers; bad values: {_preview(bad)}") from None
    arr = np.asarray(vals, dtype=float)
    bad = ~np.isfinite(arr) | (arr != np.round(arr))
    if bad.any():
        raise ValueError(f"column {name!r} must hold integers; bad values: {_preview(np.unique(arr[bad]))}")
    return arr.astype(np.int64)


def _is_intlike(v: Any) -> bool:
    try:
        return float(v) == int(float(v))
    except (TypeError, ValueError, OverflowError):
        return False


def _check_indices(idx: np.ndarray, what: str = "arch_index") -> None:
    bad = (idx < 0) | (idx >= NUM_ARCHS)
    if bad.any():
        raise ValueError(f"{what} out of range: {_preview(np.unique(idx[bad]).tolist())}; "
                         f"valid: 0..{NUM_ARCHS - 1} (official NB201 indices)")


def _indices_from_archs(archs: np.ndarray) -> np.ndarray:
    order = {a: i for i, a in enumerate(all_archs())}
    out = np.empty(len(archs), dtype=np.int64)
    cache: dict[str, int] = {}
    for row, a in enumerate(archs):
        i = order.get(a)
        if i is None:
            i = cache.get(a)
            if i is None:
                try:
                    i = arch_to_index(str(a))
                except (ValueError, KeyError, TypeError) as exc:
                    raise ValueError(f"row {row}: {a!r} is not a NAS-Bench-201 arch string ({exc})") from None
                cache[a] = i
        out[row] = i
    return out


def _normalize_table(df: Any) -> pd.DataFrame:
    """Validate a ground-truth table and return it with exactly :data:`COLUMNS`, sorted."""
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
                         "('arch' is derived from 'arch_index' and 'seed' defaults to -1 when absent)")
    if len(df) == 0:
        raise ValueError("ground-truth table is empty")
    if "arch_index" in cols:
        idx = _int_column(df["arch_index"], "arch_index")
        _check_indices(idx)
        if "arch" in cols:
            given = df["arch"].to_numpy(dtype=object)
            canon = _arch_array()[idx]
            mism = np.flatnonzero(given != canon)
            checked: dict[str, int] = {}
            for r in mism:
                a = str(given[r])
                if a not in checked:
                    try:
                        checked[a] = arch_to_index(a)
                    except (ValueError, KeyError, TypeError):
                        checked[a] = -1
                if checked[a] != idx[r]:
                    raise ValueError(f"row {int(r)}: arch_index {int(idx[r])} is {canon[r]!r} in NB201's official "
                                     f"order, but the arch column says {a!r}")
    else:
        idx = _indices_from_archs(df["arch"].astype(str).to_numpy(dtype=object))
    codes, names = {}, {}
    for name in ("dataset", "metric"):
        codes[name], names[name] = _text_codes(df[name], name)
    try:
        value = pd.to_numeric(df["value"], errors="raise").to_numpy(dtype=np.float64)
    except (ValueError, TypeError):
        raise ValueError("column 'value' must hold numbers (accuracy in %)") from None
    bad = ~np.isfinite(value)
    if bad.any():
        raise ValueError(f"column 'value' has missing or non-finite values at rows {_preview(np.flatnonzero(bad))}; "
                         "leave archs without a number out of the table instead")
    bad = (value < 0) | (value > 100)
    if bad.any():
        raise ValueError(f"column 'value' must be an accuracy in % (0..100); out of range: "
                         f"{_preview(np.unique(value[bad]).tolist())}")
    seed = _int_column(df["seed"], "seed") if "seed" in cols else np.full(len(df), MEAN_SEED, dtype=np.int64)
    if (seed < MEAN_SEED).any():
        raise ValueError(f"column 'seed' must be >= 0, or {MEAN_SEED} for a mean over seeds; got "
                         f"{_preview(np.unique(seed[seed < MEAN_SEED]).tolist())}")
    # canonical order: dataset, metric, seed, arch_index (names in sorted order)
    dcode, mcode = codes["dataset"], codes["metric"]
    order = np.lexsort((idx, seed, mcode, dcode))
    dcode, mcode, seed, idx, value = dcode[order], mcode[order], seed[order], idx[order], value[order]

    def example(rows: np.ndarray) -> list[dict]:
        return [{"dataset": names["dataset"][dcode[r]], "metric": names["metric"][mcode[r]],
                 "arch_index": int(idx[r]), "seed": int(seed[r])} for r in rows[:3]]

    same = (dcode[1:] == dcode[:-1]) & (mcode[1:] == mcode[:-1]) & (seed[1:] == seed[:-1]) & (idx[1:] == idx[:-1])
    if same.any():
        raise ValueError(f"duplicate rows for the same (dataset, metric, arch_index, seed): "
                         f"{example(np.flatnonzero(same))}")
    is_mean = seed == MEAN_SEED
    if is_mean.any() and not is_mean.all():
        cell = (dcode.astype(np.int64) * len(names["metric"]) + mcode) * NUM_ARCHS + idx
        clash = np.isin(cell, cell[is_mean]) & ~is_mean
        if clash.any():
            raise ValueError(f"rows with seed {MEAN_SEED} (a mean over seeds) and per-seed rows for the same "
                             f"(dataset, metric, arch_index): {example(np.flatnonzero(clash))}")
    return _frame({"arch_index": idx, "arch": _arch_array()[idx], "dataset": names["dataset"][dcode],
                   "metric": names["metric"][mcode], "value": value, "seed": seed})


def _text_codes(col: pd.Series, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Codes into the sorted, stripped distinct names of a text column."""
    raw_codes, uniques = pd.factorize(col.to_numpy(dtype=object), use_na_sentinel=True)
    if (raw_codes < 0).any():
        raise ValueError(f"column {name!r} has missing values (rows {_preview(np.flatnonzero(raw_codes < 0))})")
    stripped = [str(u).strip() for u in uniques]
    if "" in stripped:
        empty = np.flatnonzero(raw_codes == stripped.index(""))
        raise ValueError(f"column {name!r} has empty names (rows {_preview(empty)})")
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
    """The table with its canonical dtypes. The three text columns hold Python ``str`` values in ``object``
    columns: converting 10^5-10^6 strings to pandas' string dtype would take most of the load time."""
    data = {c: pd.Series(cols[c], dtype=object if c in ("arch", "dataset", "metric") else None, copy=False)
            for c in COLUMNS}
    return pd.DataFrame(data, columns=list(COLUMNS), copy=False)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"metadata value of type {type(obj).__name__} is not JSON-serializable: {obj!r}")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


@dataclass(eq=False)
class GroundTruth:
    """A ground-truth table with its provenance.

    ``ground_truth`` is a tidy DataFrame with exactly the columns ``arch_index`` (int, official NB201 index),
    ``arch`` (str), ``dataset`` (str), ``metric`` (str, e.g. ``test_acc``, ``val_acc``, ``kd_acc``,
    ``vanilla_acc``), ``value`` (float, accuracy in %) and ``seed`` (int; -1 for a mean over seeds).
    ``arch`` may be left out (it is derived from ``arch_index``), or ``arch_index`` may be left out (derived
    from ``arch``); when both are given they must agree. ``metadata`` is a JSON-serializable dict; the keys
    name, description, source, protocol, teacher, seeds, network, created and proxybench_version are filled
    in when absent. The table is validated and sorted on construction; treat it as read-only afterwards.
    """

    ground_truth: pd.DataFrame
    metadata: dict = field(default_factory=dict)
    path: Path | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.ground_truth = _normalize_table(self.ground_truth)
        if not isinstance(self.metadata, Mapping):
            raise ValueError(f"metadata must be a dict, got {type(self.metadata).__name__}")
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

    def resolve(self, metric: str, dataset: str | None = None) -> tuple[str, str]:
        """Check ``metric`` (and ``dataset``) and return ``(dataset, metric)``; ``dataset`` may be omitted when
        the metric exists on one dataset only."""
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

    def table(self, metric: str, dataset: str | None = None, aggregate: str = "mean") -> pd.Series:
        """One value per architecture: ``aggregate`` (mean, median, min or max) over seeds.

        Returns a float Series indexed by ``arch_index`` (sorted), named ``"<dataset>/<metric>"``.
        """
        if aggregate not in AGGREGATES:
            raise ValueError(f"unknown aggregate {aggregate!r}; valid: {', '.join(AGGREGATES)}")
        dataset, metric = self.resolve(metric, dataset)
        rows = self.ground_truth.iloc[self._groups()[(dataset, metric)]]
        s = rows.groupby("arch_index", sort=True)["value"].agg(aggregate).astype(np.float64)
        s.name = f"{dataset}/{metric}"
        return s

    def align(self, indices: Iterable[int], metric: str, dataset: str | None = None,
              aggregate: str = "mean") -> tuple[pd.Series, list[int]]:
        """Values for the given arch indices, in their order, and the indices absent from the table.

        Archs absent from the ground truth are to be excluded from correlations and counted; this returns
        both the values of the present ones and the list of absent ones.
        """
        idx = [int(i) for i in indices]
        _check_indices(np.asarray(idx, dtype=np.int64), "arch index")
        full = self.table(metric, dataset, aggregate)
        present = [i for i in idx if i in full.index]
        missing = [i for i in idx if i not in full.index]
        return full.loc[present], missing

    def summary(self) -> pd.DataFrame:
        """One row per (dataset, metric): archs, rows, seeds, min, mean, max of the values."""
        gt = self.ground_truth
        g = gt.groupby(["dataset", "metric"], sort=True)
        out = g.agg(archs=("arch_index", "nunique"), rows=("value", "size"),
                    min=("value", "min"), mean=("value", "mean"), max=("value", "max"))
        out.insert(2, "seeds", g["seed"].agg(lambda s: ",".join(str(x) for x in sorted(set(s)))))
        return out.reset_index()

    # ---- storage ---------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the compact file atomically (temp file in the same folder, then ``os.replace``)."""
        path = Path(path)
        if path.is_dir():
            raise ValueError(f"{path} is a directory; give a file name such as {path / ('groundtruth' + SUFFIX)}")
        try:
            meta_bytes = json.dumps(self.metadata, default=_json_default, indent=1, sort_keys=True).encode()
        except (TypeError, ValueError) as exc:
            raise ValueError(f"metadata cannot be written as JSON: {exc}") from None
        gt = self.ground_truth
        datasets = sorted(gt["dataset"].unique().tolist())
        metrics = sorted(gt["metric"].unique().tolist())
        if len(datasets) > 255 or len(metrics) > 255:
            raise ValueError("at most 255 datasets and 255 metrics fit in one ground-truth file")
        arrays = {
            "arch_index": gt["arch_index"].to_numpy(np.int16),
            "dataset": pd.Categorical(gt["dataset"], categories=datasets).codes.astype(np.uint8),
            "metric": pd.Categorical(gt["metric"], categories=metrics).codes.astype(np.uint8),
            "seed": gt["seed"].to_numpy(np.int64),
            "value": gt["value"].to_numpy(np.float64),
        }
        manifest = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "rows": int(len(gt)),
                    "datasets": datasets, "metrics": metrics, "columns": list(COLUMNS),
                    "arrays": {k: str(v.dtype) for k, v in arrays.items()}, "proxybench_version": __version__}
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
                    _zip_write(zf, _MANIFEST, json.dumps(manifest, indent=1).encode())
                    _zip_write(zf, _METADATA, meta_bytes)
                    for name, arr in arrays.items():
                        buf = io.BytesIO()
                        np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
                        _zip_write(zf, f"{name}.npy", buf.getvalue())
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644)  # mkstemp makes 0600; a table is meant to be shared
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self.path = path
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> GroundTruth:
        """Read a file written by :meth:`save`, validating its structure."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"ground-truth file not found: {path}; {_HOW_TO_GET['groundtruth']}")
        try:
            with zipfile.ZipFile(path) as zf:
                names = set(zf.namelist())
                if _MANIFEST not in names:
                    raise ValueError(f"{path} is not a proxybench ground-truth file (no {_MANIFEST} member)")
                manifest = json.loads(zf.read(_MANIFEST))
                if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
                    raise ValueError(f"{path} is not a proxybench ground-truth file (format "
                                     f"{manifest.get('format') if isinstance(manifest, dict) else None!r})")
                version = manifest.get("format_version")
                if not isinstance(version, int) or version > FORMAT_VERSION:
                    raise ValueError(f"{path} has ground-truth format version {version!r}; this proxybench "
                                     f"({__version__}) reads versions up to {FORMAT_VERSION}")
                missing = [c for c in _ARRAY_COLUMNS if f"{c}.npy" not in names]
                if _METADATA not in names:
                    missing.append("metadata")
                if missing:
                    raise ValueError(f"{path} lacks column(s) {', '.join(missing)}")
                arrays = {c: np.lib.format.read_array(io.BytesIO(zf.read(f"{c}.npy")), allow_pickle=False)
                          for c in _ARRAY_COLUMNS}
                metadata = json.loads(zf.read(_METADATA))
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error, json.JSONDecodeError,
                UnicodeDecodeError) as exc:
            raise ValueError(f"{path} is unreadable (truncated or corrupted?): {exc}") from None
        except OSError as exc:
            raise ValueError(f"{path} could not be read: {exc}") from None
        table = _table_from_arrays(path, manifest, arrays)
        if not isinstance(metadata, dict):
            raise ValueError(f"{path}: metadata must be a JSON object")
        return cls._trusted(table, metadata, path)


def _zip_write(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data, compresslevel=9)


def _table_from_arrays(path: Path, manifest: dict, arrays: dict[str, np.ndarray]) -> pd.DataFrame:
    n = manifest.get("rows")
    lengths = {c: (a.shape, a.dtype) for c, a in arrays.items()}
    for c, a in arrays.items():
        if a.ndim != 1 or (isinstance(n, int) and len(a) != n):
            raise ValueError(f"{path}: column {c!r} has shape {a.shape}, expected ({n},); columns: {lengths}")
        if c != "value" and a.dtype.kind not in "iu":
            raise ValueError(f"{path}: column {c!r} must be integer, found {a.dtype}")
    if arrays["value"].dtype.kind != "f":
        raise ValueError(f"{path}: column 'value' must be float, found {arrays['value'].dtype}")
    idx = arrays["arch_index"].astype(np.int64)
    try:
        _check_indices(idx)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    cats = {}
    for c in ("dataset", "metric"):
        names = manifest.get(f"{c}s")
        if not isinstance(names, list) or not all(isinstance(x, str) for x in names):
            raise ValueError(f"{path}: manifest lacks the list of {c} names")
        codes = arrays[c].astype(np.int64)
        if len(codes) and (codes.min() < 0 or codes.max() >= len(names)):
            raise ValueError(f"{path}: column {c!r} has codes outside 0..{len(names) - 1}")
        cats[c] = np.asarray(names, dtype=object)[codes]
    value = arrays["value"].astype(np.float64)
    if not np.isfinite(value).all():
        raise ValueError(f"{path}: column 'value' has non-finite values")
    return _frame({"arch_index": idx, "arch": _arch_array()[idx], "dataset": cats["dataset"],
                   "metric": cats["metric"], "value": value, "seed": arrays["seed"].astype(np.int64)})


def _complete_metadata(meta: dict, table: pd.DataFrame) -> dict:
    meta.setdefault("name", "")
    meta.setdefault("description", "")
    meta.setdefault("source", "")
    meta.setdefault("protocol", "")
    meta.setdefault("teacher", None)
    if "seeds" not in meta:
        meta["seeds"] = sorted(int(s) for s in table["seed"].unique())
    meta.setdefault("network", {})
    meta.setdefault("created", _now())
    meta.setdefault("proxybench_version", __version__)
    return meta


# --------------------------------------------------------------------------------------------------------
# Loaders
# --------------------------------------------------------------------------------------------------------

def _existing(path: str | os.PathLike, kind: str, *, allow_dir: bool = False) -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"file not found: {p}; {_HOW_TO_GET[kind]}")
    if p.is_dir() and not allow_dir:
        raise ValueError(f"{p} is a directory, expected a file; {_HOW_TO_GET[kind]}")
    return p


def _check_hp(hp: str | int) -> str:
    h = str(hp).strip()
    if h not in NB201_HPS:
        raise ValueError(f"unknown hp {hp!r}; valid: {', '.join(NB201_HPS)} (training epochs: 12 or 200)")
    return h


def _check_choice(values: Sequence[str] | None, valid: Sequence[str], what: str) -> list[str] | None:
    if values is None:
        return None
    if isinstance(values, str):
        values = [values]
    bad = [v for v in values if v not in valid]
    if bad:
        raise ValueError(f"unknown {what} {', '.join(map(repr, bad))}; valid: {', '.join(valid)}")
    return list(dict.fromkeys(values))


def _numpy_safe_globals() -> list:
    """numpy scalars and arrays as they appear in the official pickles, for ``torch.load(weights_only=True)``."""
    core = getattr(np, "_core", None) or np.core
    scalar, reconstruct = core.multiarray.scalar, core.multiarray._reconstruct
    out: list = [np.dtype, np.ndarray]
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        out += [(scalar, f"{mod}.scalar"), (reconstruct, f"{mod}._reconstruct")]
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        out += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith("DType")]
    return out


@contextlib.contextmanager
def _torch_load_mode(trust_pickle: bool):
    import torch

    if trust_pickle:
        old = os.environ.get("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")
        os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD.*")
                yield
        finally:
            if old is None:
                os.environ.pop("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", None)
            else:
                os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = old
        return
    safe = getattr(torch.serialization, "safe_globals", None)
    with safe(_numpy_safe_globals()) if safe is not None else contextlib.nullcontext():
        yield


def _exc_text(exc: BaseException) -> str:
    """A short description of a loading error (torch's weights-only errors carry a page of advice)."""
    msg = str(exc)
    if "WeightsUnpickler error:" in msg:
        after = msg.split("WeightsUnpickler error:", 1)[1]
        msg = next((ln.strip() for ln in after.splitlines() if ln.strip()), "")
    else:
        msg = next((ln.strip() for ln in msg.splitlines() if ln.strip()), "")
    return f"{type(exc).__name__}: {msg[:300]}" if msg else f"{type(exc).__name__} (the data ends early)"


def _open_nb201(path: Path, trust_pickle: bool):
    from nas_201_api import NASBench201API

    try:
        with _torch_load_mode(trust_pickle):
            return NASBench201API(str(path), verbose=False)
    except Exception as exc:  # noqa: BLE001 -- torch/pickle/assertion errors of a bad file
        if "Unsupported global" in str(exc) or "not an allowed global" in str(exc):
            raise ValueError(f"{path} holds Python objects outside the safe set torch loads by default "
                             f"({_exc_text(exc)}); if the file is the official one, re-run with --trust-pickle "
                             "(trust_pickle=True), which runs the file's pickle code") from None
        raise ValueError(f"cannot read NAS-Bench-201 file {path} (truncated or corrupted, or not a NAS-Bench-201 "
                         f"file?): {_exc_text(exc)}; to get the file: {_HOW_TO_GET['nb201']}") from None


def _open_nats(path: Path):
    try:
        import nats_bench
    except ImportError as exc:
        raise ImportError("reading NATS-Bench files needs the optional package nats_bench: "
                          "pip install nats_bench  (or: pip install 'proxybench[nats]')", name="nats_bench") from exc
    try:
        return nats_bench.create(str(path), "tss", fast_mode=path.is_dir(), verbose=False)
    except Exception as exc:  # noqa: BLE001
        raise ValueError(f"cannot read NATS-Bench topology data {path} (truncated or corrupted, or not a NATS-Bench "
                         f"topology file?): {_exc_text(exc)}; to get the data: {_HOW_TO_GET['nats']}") from None


def _nats_arch_file_missing(api, i: int) -> bool:
    """In NATS-Bench's fast mode each arch is one file in the archive folder; an absent file = no results."""
    folder = getattr(api, "archive_dir", None)
    if not getattr(api, "fast_mode", False) or folder is None or i in api.arch2infos_dict:
        return False
    return not any(os.path.isfile(os.path.join(folder, f"{stem}.pickle.pbz2")) for stem in (f"{i:06d}", f"{i:d}"))


def _collect_from_api(api, path: Path, kind: str, hp: str, datasets: list[str] | None, metrics: list[str] | None,
                      progress: bool) -> tuple[pd.DataFrame, dict]:
    """Rows from a NAS-Bench-201-style API object via ``get_more_info(i, ds, hp=hp, is_random=seed)``."""
    meta_archs = list(api.meta_archs)
    if kind == "nats":
        candidates = list(range(len(meta_archs)))
    else:
        candidates = sorted(int(i) for i in api.evaluated_indexes)
    wanted_ds = datasets or list(NB201_DATASETS)
    wanted_metrics = set(metrics or NB201_METRICS)
    rows_i: list[int] = []
    rows_ds: list[str] = []
    rows_m: list[str] = []
    rows_v: list[float] = []
    rows_s: list[int] = []
    n_missing = dict.fromkeys(wanted_ds, 0)
    seeds: dict[str, set] = {d: set() for d in wanted_ds}
    epochs: dict[str, int] = {}
    network: dict[str, Any] = {}
    hps_seen: set[str] = set()
    ds_seen: set[str] = set()  # datasets the file has at this hp
    n_without_hp = 0
    it: Iterable[int] = candidates
    if progress:
        with contextlib.suppress(ImportError):
            from tqdm import tqdm

            it = tqdm(candidates, desc=f"importing {path.name}", unit="arch")
    for i in it:
        if not 0 <= i < len(meta_archs):
            raise ValueError(f"{path}: evaluated index {i} outside the {len(meta_archs)} archs of the file")
        arch = meta_archs[i]
        try:
            ok = arch_to_index(arch) == i
        except (ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            raise ValueError(f"{path}: arch {i} is {arch!r}, which is not NB201's arch {i} in the official order; "
                             "not a NAS-Bench-201 topology file")
        try:
            if kind == "nats":
                if _nats_arch_file_missing(api, i):
                    for d in wanted_ds:
                        n_missing[d] += 1
                    continue
                api._prepare_info(i)  # fast mode: read this arch's file
            hp2res = api.arch2infos_dict.get(i)
            if hp2res is None:
                for d in wanted_ds:
                    n_missing[d] += 1
                continue
            hps_seen.update(str(k) for k in hp2res)
            res = hp2res.get(hp)
            if res is None:
                n_without_hp += 1
                continue
            ds_seen.update(res.dataset_seed)
            for d in wanted_ds:
                dseeds = res.dataset_seed.get(d)
                if not dseeds:
                    n_missing[d] += 1
                    continue
                for seed in dseeds:
                    info = api.get_more_info(i, d, iepoch=None, hp=hp, is_random=int(seed))
                    for key, metric in _INFO_KEYS:
                        if metric in wanted_metrics and info.get(key) is not None:
                            rows_i.append(i)
                            rows_ds.append(d)
                            rows_m.append(metric)
                            rows_v.append(float(info[key]))
                            rows_s.append(int(seed))
                    seeds[d].add(int(seed))
                if d not in network:
                    result = res.query(d, dseeds[0])
                    epochs[d] = int(result.get_total_epoch())
                    network[d] = result.get_config(None)
        except Exception as exc:  # noqa: BLE001 -- malformed per-arch records
            raise ValueError(f"{path}: malformed record for arch {i} (truncated or corrupted?): "
                             f"{_exc_text(exc)}") from None
    if not rows_v and n_without_hp and hp not in hps_seen:
        raise ValueError(f"{path} has no results for hp {hp!r}; available: {', '.join(sorted(hps_seen))}")
    empty = [d for d in wanted_ds if not seeds[d]]
    if not rows_v or (datasets and empty):
        have = [d for d in NB201_DATASETS if d in ds_seen] + sorted(ds_seen - set(NB201_DATASETS))
        raise ValueError(f"{path} has no results for dataset(s) {', '.join(empty)} at hp {hp!r}; datasets with "
                         f"results at this hp: {', '.join(have) or 'none'}"
                         + (" (the v1_0 file trained hp 12 on cifar10-valid only)" if hp == "12" else ""))
    found = [d for d in wanted_ds if seeds[d]]
    df = pd.DataFrame({"arch_index": rows_i, "dataset": rows_ds, "metric": rows_m, "value": rows_v,
                       "seed": rows_s})
    cfg0 = next(iter(network.values()))
    net = {"name": cfg0.get("name"), "C": cfg0.get("C"), "N": cfg0.get("N"),
           "num_classes": {d: network[d].get("num_classes") for d in found}}
    info = {
        "hp": hp,
        "epochs": {d: epochs[d] for d in found},
        "datasets": found,
        "metrics": sorted(set(rows_m)),
        "seeds": {d: sorted(seeds[d]) for d in found},
        "network": net,
        "n_archs_in_file": len(meta_archs),
        "n_missing": {d: n_missing[d] for d in found if n_missing[d]},
        "n_without_hp": n_without_hp,
        "splits": {d: {m: NB201_SPLITS[d][m] for m in sorted(set(NB201_SPLITS[d]) & wanted_metrics)}
                   for d in found if d in NB201_SPLITS},
    }
    return df, info


def _file_version(name: str) -> str | None:
    m = re.search(r"v\d+_\d+", name)
    return m.group(0) if m else None


def from_nb201(path: str | os.PathLike, hp: str | int = "200", datasets: Sequence[str] | None = None, *,
               metrics: Sequence[str] | None = None, name: str | None = None, description: str | None = None,
               trust_pickle: bool = False, progress: bool = False) -> GroundTruth:
    """Import an official NAS-Bench-201 ``.pth`` (v1_0 or v1_1) through ``nas_201_api.NASBench201API``.

    One row per (arch, dataset, metric, trial seed) from ``get_more_info(i, dataset, hp=hp, is_random=seed)``
    at the last epoch; see the module docstring for the metric names per dataset and their splits. ``hp``
    ('12' or '200') is always passed explicitly. ``datasets`` defaults to every official dataset the file has
    at that hp (the v1_0 file has hp 12 results for ``cifar10-valid`` only). The file is read with
    ``torch.load(weights_only=True)`` plus numpy scalars; ``trust_pickle=True`` allows the full unpickler
    (faster on the multi-GB official file, but it runs the file's pickle code: use it for official files only).
    """
    hp = _check_hp(hp)
    datasets = _check_choice(datasets, NB201_DATASETS, "dataset")
    metrics = _check_choice(metrics, NB201_METRICS, "metric")
    p = _existing(path, "nb201")
    api = _open_nb201(p, trust_pickle)
    df, info = _collect_from_api(api, p, "nb201", hp, datasets, metrics, progress)
    import nas_201_api

    version = _file_version(p.name)
    epochs = max(info["epochs"].values())
    meta = {
        "name": name or f"nb201-{version or p.stem}-hp{hp}",
        "description": description or f"NAS-Bench-201 {version or p.name} trained accuracies, hp {hp} ({epochs} "
                                      f"epochs): {', '.join(info['datasets'])}",
        "source": {"kind": "nas-bench-201", "file": p.name, "bytes": p.stat().st_size, "version": version,
                   "reader": f"nas-bench-201 API {getattr(nas_201_api, 'NAS_BENCH_201_API_VERSION', '?')}",
                   "query": f"get_more_info(index, dataset, iepoch=None, hp='{hp}', is_random=seed)"},
        "protocol": f"NAS-Bench-201 training, hp {hp}: SGD nesterov, lr 0.1 cosine to 0, wd 5e-4, batch 256, "
                    f"{epochs} epochs; last-epoch top-1 accuracy per trial",
        "teacher": None,
        **info,
    }
    return GroundTruth(df, meta)


def from_nats(path: str | os.PathLike, hp: str | int = "200", datasets: Sequence[str] | None = None, *,
              metrics: Sequence[str] | None = None, name: str | None = None,
              description: str | None = None, progress: bool = False) -> GroundTruth:
    """Import NATS-Bench topology results (the NB201 cell space) through the optional ``nats_bench`` package.

    ``path`` is the unpacked ``NATS-tss-v1_0-3ffb9-simple`` directory (read lazily, one arch at a time) or a
    single ``.pickle.pbz2`` file. Same metric names and semantics as :func:`from_nb201`. NATS-Bench files are
    plain pickles read by ``nats_bench`` itself: only import files from the official source.
    """
    hp = _check_hp(hp)
    datasets = _check_choice(datasets, NB201_DATASETS, "dataset")
    metrics = _check_choice(metrics, NB201_METRICS, "metric")
    p = _existing(path, "nats", allow_dir=True)
    api = _open_nats(p)
    df, info = _collect_from_api(api, p, "nats", hp, datasets, metrics, progress)
    import nats_bench

    version = _file_version(p.name)
    meta = {
        "name": name or f"nats-tss-{version or p.stem}-hp{hp}",
        "description": description or f"NATS-Bench topology trained accuracies, hp {hp}, {', '.join(info['datasets'])}",
        "source": {"kind": "nats-bench-tss", "file": p.name, "version": version,
                   "reader": f"nats_bench {nats_bench.version()}",
                   "query": f"get_more_info(index, dataset, iepoch=None, hp='{hp}', is_random=seed)"},
        "protocol": f"NATS-Bench topology training, hp {hp}: SGD nesterov, lr 0.1 cosine to 0, wd 5e-4, "
                    f"batch 256, {max(info['epochs'].values())} epochs; last-epoch top-1 accuracy per trial",
        "teacher": None,
        **info,
    }
    return GroundTruth(df, meta)


def _to_percent(values: np.ndarray, what: str, notes: list[str]) -> np.ndarray:
    if len(values) and np.nanmax(values) <= 1.0:
        notes.append(f"{what}: all values were <= 1, read as fractions and multiplied by 100")
        return values * 100.0
    return values


def _key_to_index(key: str, where: str) -> int:
    k = key.strip()
    if k.lstrip("-").isdigit():
        return int(k)
    try:
        return arch_to_index(k)
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"{where}: key {key!r} is neither an official NB201 index (0..{NUM_ARCHS - 1}) nor an "
                         "arch string") from None


def from_json(path: str | os.PathLike, dataset: str, metric: str = "kd_acc", *, teacher: Any = None,
              seed: int = MEAN_SEED, name: str | None = None, description: str | None = None,
              protocol: str | None = None) -> GroundTruth:
    """Import a DisWOT-style KD table: a JSON object ``{"<arch index>": accuracy}`` (keys may also be arch
    strings; ``null`` values mark archs without a number and are left out, counted in the metadata).

    All rows get ``dataset``, ``metric`` (default ``kd_acc``) and ``seed`` (default -1: a mean or a single
    number per arch). Values all <= 1 are read as fractions and converted to %.
    """
    if not dataset or not str(dataset).strip():
        raise ValueError("from_json needs the dataset the accuracies were measured on (e.g. --dataset cifar100)")
    if not metric or not str(metric).strip():
        raise ValueError("from_json needs a metric name (e.g. kd_acc)")
    p = _existing(path, "json")
    try:
        with open(p, encoding="utf-8") as fh:
            data = json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{p} is not valid JSON (truncated or corrupted?): {exc}; {_HOW_TO_GET['json']}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{p}: expected a JSON object mapping arch index to accuracy, got {type(data).__name__}; "
                         f"{_HOW_TO_GET['json']}")
    if not data:
        raise ValueError(f"{p}: the JSON object is empty")
    idx, vals, n_null = [], [], 0
    for key, v in data.items():
        if v is None:
            n_null += 1
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"{p}: value for key {key!r} must be a finite number (accuracy), got {v!r}")
        idx.append(_key_to_index(key, str(p)))
        vals.append(float(v))
    if not vals:
        raise ValueError(f"{p}: every value is null; no accuracy to import")
    notes: list[str] = []
    values = _to_percent(np.asarray(vals, dtype=np.float64), f"{dataset}/{metric}", notes)
    df = pd.DataFrame({"arch_index": idx, "dataset": str(dataset), "metric": str(metric), "value": values,
                       "seed": int(seed)})
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


def from_csv(path: str | os.PathLike, columns: Sequence[str] | Mapping[str, Any] | None = None, *,
             dataset: str | None = None, name: str | None = None, description: str | None = None,
             teacher: Any = None, protocol: str | None = None, sep: str = ",") -> GroundTruth:
    """Import a CSV with an ``arch_index`` (or ``index``) or ``arch`` column and accuracy columns.

    ``columns`` is a mapping ``{column: (dataset, metric) or "dataset/metric"}``, a list of column names, or
    ``None`` (every numeric column other than the index/seed ones). Listed or found columns without a mapping
    are named by :func:`parse_column_name` (``cifar100_test`` -> ``cifar100``/``test_acc``); a column that does
    not follow that pattern becomes metric ``<column>`` on ``dataset``, which must then be given. An optional
    ``seed`` column gives the trial seed. Empty cells mean "no number for this arch": those rows are left out
    and counted in the metadata (``n_missing``).
    """
    p = _existing(path, "csv")
    try:
        raw = pd.read_csv(p, sep=sep)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, EOFError, zlib.error,
            OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(f"{p} could not be read as CSV (truncated or corrupted?): {exc}; "
                         f"{_HOW_TO_GET['csv']}") from None
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
                             f"{_preview(np.flatnonzero(raw[index_col].isna()))})")
        keys["arch_index"] = _int_column(raw[index_col], index_col)
    if "arch" in header:
        if raw["arch"].isna().any():
            rows = _preview(np.flatnonzero(raw["arch"].isna()))
            raise ValueError(f"{p}: column 'arch' has empty cells (rows {rows})")
        keys["arch"] = raw["arch"].astype(str)
    if "seed" in header:
        keys["seed"] = _int_column(raw["seed"], "seed")
    parts, notes, n_missing = [], [], {}
    for col, (ds, metric) in targets.items():
        try:
            vals = pd.to_numeric(raw[col], errors="raise").to_numpy(dtype=np.float64)
        except (ValueError, TypeError):
            raise ValueError(f"{p}: column {col!r} is not numeric") from None
        ok = np.isfinite(vals)
        if not ok.all():
            n_missing[f"{ds}/{metric}"] = int((~ok).sum())
        part = keys.loc[ok].copy()
        part["dataset"], part["metric"] = ds, metric
        part["value"] = _to_percent(vals[ok], f"{ds}/{metric} ({col})", notes)
        parts.append(part)
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
        "notes": notes,
    }
    return GroundTruth(df, meta)


IMPORTERS = ("nb201", "nats", "json", "csv")


def import_ground_truth(kind: str, path: str | os.PathLike, **options: Any) -> GroundTruth:
    """Dispatch to :func:`from_nb201`, :func:`from_nats`, :func:`from_json` or :func:`from_csv`."""
    loaders = {"nb201": from_nb201, "nats": from_nats, "json": from_json, "csv": from_csv}
    if kind not in loaders:
        raise ValueError(f"unknown source kind {kind!r}; valid: {', '.join(IMPORTERS)}")
    return loaders[kind](path, **options)


# --------------------------------------------------------------------------------------------------------
# Registry of benchmarks: bundled files in proxybench/benchmarks/data/<name>.pbgt, and user-imported ones
# in $PROXYBENCH_HOME/benchmarks (default ~/.cache/proxybench/benchmarks).
# --------------------------------------------------------------------------------------------------------

BUNDLED_DIR = Path(__file__).resolve().parent / "data"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def user_benchmark_dir() -> Path:
    """Where imported benchmarks are registered: ``$PROXYBENCH_HOME/benchmarks``."""
    home = os.environ.get("PROXYBENCH_HOME") or os.path.join("~", ".cache", "proxybench")
    return Path(home).expanduser() / "benchmarks"


def _registered() -> dict[str, Path]:
    """name -> file; a bundled name wins over a user file of the same name."""
    found: dict[str, Path] = {}
    for folder in (BUNDLED_DIR, user_benchmark_dir()):
        if folder.is_dir():
            for f in sorted(folder.glob(f"*{SUFFIX}")):
                if f.is_file():
                    found.setdefault(f.name[: -len(SUFFIX)], f)
    return found


def list_benchmarks() -> list[str]:
    """Names of the bundled and registered benchmarks."""
    return sorted(_registered())


def read_metadata(path: str | os.PathLike) -> dict:
    """The metadata of a ground-truth file, without reading its table."""
    p = Path(path)
    try:
        with zipfile.ZipFile(p) as zf:
            return json.loads(zf.read(_METADATA))
    except (zipfile.BadZipFile, KeyError, EOFError, zlib.error, json.JSONDecodeError, UnicodeDecodeError,
            OSError) as exc:
        raise ValueError(f"{p}: metadata unreadable: {exc}") from None


def describe_benchmarks() -> list[tuple[str, str]]:
    """``(name, one-line description)`` for every benchmark in :func:`list_benchmarks`."""
    out = []
    for name, f in sorted(_registered().items()):
        try:
            meta = read_metadata(f)
            desc = str(meta.get("description") or "").strip().splitlines()
            text = desc[0] if desc else "(no description)"
            if f.parent != BUNDLED_DIR:
                text += f"  [imported: {f}]"
        except ValueError as exc:
            text = f"(unreadable: {exc})"
        out.append((name, text))
    return out


def _looks_like_path(s: str) -> bool:
    return os.sep in s or (os.altsep is not None and os.altsep in s) or s.endswith(SUFFIX) or s.startswith("~")


def load_benchmark(name_or_path: str | os.PathLike) -> GroundTruth:
    """A registered benchmark by name, or a ground-truth file by path. Returns a :class:`GroundTruth`
    (``.ground_truth``, ``.metadata``)."""
    if isinstance(name_or_path, GroundTruth):
        return name_or_path
    s = os.fspath(name_or_path)
    reg = _registered()
    if not isinstance(name_or_path, os.PathLike) and not _looks_like_path(s) and s in reg:
        return GroundTruth.load(reg[s])
    p = Path(s).expanduser()
    if p.is_file():
        return GroundTruth.load(p)
    if isinstance(name_or_path, os.PathLike) or _looks_like_path(s):
        raise FileNotFoundError(f"ground-truth file not found: {p}; {_HOW_TO_GET['groundtruth']}")
    valid = ", ".join(sorted(reg)) or "(none registered yet)"
    raise ValueError(f"unknown benchmark {s!r}; valid names: {valid}; or give the path of a {SUFFIX} file "
                     "(import one with 'proxybench groundtruth import ... --register')")


def register_benchmark(source: GroundTruth | str | os.PathLike, name: str | None = None, *,
                       overwrite: bool = True) -> Path:
    """Copy a ground truth (object or file) into :func:`user_benchmark_dir` as ``<name>.pbgt``."""
    gt = source if isinstance(source, GroundTruth) else GroundTruth.load(source)
    name = name or gt.name
    if not name or not _NAME_RE.match(name) or name.endswith(SUFFIX):
        raise ValueError(f"bad benchmark name {name!r}: use letters, digits, '.', '_' or '-' (at most 100), "
                         "starting with a letter or digit")
    if (BUNDLED_DIR / f"{name}{SUFFIX}").is_file():
        raise ValueError(f"benchmark name {name!r} is taken by a bundled benchmark; choose another --name")
    dest = user_benchmark_dir() / f"{name}{SUFFIX}"
    if dest.exists() and not overwrite:
        raise ValueError(f"benchmark {name!r} is already registered at {dest}")
    if gt.metadata.get("name") != name:
        gt = GroundTruth._trusted(gt.ground_truth, {**gt.metadata, "name": name}, gt.path)
    gt.save(dest)
    return dest


__all__ = [
    "AGGREGATES", "BUNDLED_DIR", "COLUMNS", "IMPORTERS", "MEAN_SEED", "NB201_DATASETS", "NB201_HPS",
    "NB201_METRICS", "NB201_SPLITS", "SUFFIX", "GroundTruth", "describe_benchmarks", "from_csv", "from_json",
    "from_nats", "from_nb201", "import_ground_truth", "list_benchmarks", "load_benchmark", "parse_column_name",
    "read_metadata", "register_benchmark", "user_benchmark_dir",
]
