"""The ``.pbgt`` file: a ground-truth table in one compact, quickly read file.

A zip archive (deflate, fixed timestamps) holding

``proxybench-groundtruth.json``  the manifest: format name and version, row count, the sorted dataset and metric
                                 names, the column list and the dtype of each array;
``metadata.json``                the table's metadata (provenance: source, protocol, teacher, seeds, network, ...);
``arch_index.npy``               int16, indices in the table's search space (``metadata["space"]``; official NB201
                                 indices when the metadata names none);
``dataset.npy``, ``metric.npy``  uint8 codes into the manifest's name lists;
``seed.npy``                     int64 training seeds, ``-1`` where a value is not tied to one seed (NumPy integer
                                 arrays have no missing value; tables show ``<NA>``);
``value.npy``                    float64 accuracies in %.

The arch strings are not stored: they follow from the indices. A file is written atomically and read back in a
few tens of milliseconds even for all 15,625 NB201 cells times several datasets and metrics. This module knows the
bytes; :class:`~proxybench.benchmarks.groundtruth.GroundTruth` builds the table from them.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from ..._version import __version__
from ...io import atomic_open
from ..spaces import space_of

SUFFIX = ".pbgt"
FORMAT_NAME = "proxybench-groundtruth"
FORMAT_VERSION = 1
MANIFEST = "proxybench-groundtruth.json"
METADATA = "metadata.json"
ARRAYS = ("arch_index", "dataset", "metric", "seed", "value")
HOW_TO_CREATE = ("create one with 'proxybench groundtruth import --from nb201|nats|json|csv PATH --out FILE', "
                 "or name a registered benchmark (see 'proxybench groundtruth list')")


def json_default(obj: Any) -> Any:
    """JSON for the numpy values, sets and paths that metadata may hold; ``TypeError`` for anything else."""
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


def _zip_write(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data, compresslevel=9)


def write(path: str | os.PathLike, columns: dict[str, np.ndarray], metadata: dict) -> Path:
    """Write a table given as arrays (``arch_index``, ``dataset`` and ``metric`` names, ``seed`` with -1 for a
    missing seed, ``value``) and its metadata to ``path``, atomically."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a directory; give a file name such as {path / ('groundtruth' + SUFFIX)}")
    try:
        meta_bytes = json.dumps(metadata, default=json_default, indent=1, sort_keys=True).encode()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"metadata cannot be written as JSON: {exc}") from None
    codes, names = {}, {}
    for c in ("dataset", "metric"):
        names[c], inverse = np.unique(np.asarray(columns[c], dtype=str), return_inverse=True)
        if len(names[c]) > 255:
            raise ValueError("at most 255 datasets and 255 metrics fit in one ground-truth file")
        codes[c] = inverse.astype(np.uint8)
    arrays = {
        "arch_index": np.asarray(columns["arch_index"]).astype(np.int16),
        "dataset": codes["dataset"],
        "metric": codes["metric"],
        "seed": np.asarray(columns["seed"], dtype=np.int64),
        "value": np.asarray(columns["value"], dtype=np.float64),
    }
    manifest = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "rows": int(len(arrays["value"])),
                "datasets": names["dataset"].tolist(), "metrics": names["metric"].tolist(),
                "columns": ["arch_index", "arch", "dataset", "metric", "value", "seed"],
                "arrays": {k: str(v.dtype) for k, v in arrays.items()}, "proxybench_version": __version__}
    with atomic_open(path, "wb") as fh:
        with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
            _zip_write(zf, MANIFEST, json.dumps(manifest, indent=1).encode())
            _zip_write(zf, METADATA, meta_bytes)
            for name, arr in arrays.items():
                buf = io.BytesIO()
                np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
                _zip_write(zf, f"{name}.npy", buf.getvalue())
    return path


def read(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """The columns (as :func:`write` takes them, names decoded) and the metadata of a ``.pbgt`` file, checked
    for structure; ``ValueError`` naming the file for anything truncated, corrupted or foreign."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ground-truth file not found: {path}; {HOW_TO_CREATE}")
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if MANIFEST not in names:
                raise ValueError(f"{path} is not a proxybench ground-truth file (no {MANIFEST} member)")
            manifest = json.loads(zf.read(MANIFEST))
            if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
                raise ValueError(f"{path} is not a proxybench ground-truth file (format "
                                 f"{manifest.get('format') if isinstance(manifest, dict) else None!r})")
            version = manifest.get("format_version")
            if not isinstance(version, int) or version > FORMAT_VERSION:
                raise ValueError(f"{path} has ground-truth format version {version!r}; this proxybench "
                                 f"({__version__}) reads versions up to {FORMAT_VERSION}")
            missing = [c for c in ARRAYS if f"{c}.npy" not in names]
            if METADATA not in names:
                missing.append("metadata")
            if missing:
                raise ValueError(f"{path} lacks column(s) {', '.join(missing)}")
            arrays = {c: np.lib.format.read_array(io.BytesIO(zf.read(f"{c}.npy")), allow_pickle=False)
                      for c in ARRAYS}
            metadata = json.loads(zf.read(METADATA))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error, json.JSONDecodeError,
            UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is unreadable (truncated or corrupted?): {exc}") from None
    except OSError as exc:
        raise ValueError(f"{path} could not be read: {exc}") from None
    if not isinstance(metadata, dict):
        raise ValueError(f"{path}: metadata must be a JSON object")
    try:
        space = space_of(metadata)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    return _columns(path, manifest, arrays, space.num_archs, space.name), metadata


def _columns(path: Path, manifest: dict, arrays: dict[str, np.ndarray], num_archs: int,
             space: str) -> dict[str, np.ndarray]:
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
    bad = (idx < 0) | (idx >= num_archs)
    if bad.any():
        shown = ", ".join(str(v) for v in np.unique(idx[bad])[:5])
        kind = "official NB201 indices" if space == "nb201" else f"indices of search space {space}"
        raise ValueError(f"{path}: arch_index out of range: {shown}; valid: 0..{num_archs - 1} ({kind})")
    out = {"arch_index": idx}
    for c in ("dataset", "metric"):
        names = manifest.get(f"{c}s")
        if not isinstance(names, list) or not all(isinstance(x, str) for x in names):
            raise ValueError(f"{path}: manifest lacks the list of {c} names")
        codes = arrays[c].astype(np.int64)
        if len(codes) and (codes.min() < 0 or codes.max() >= len(names)):
            raise ValueError(f"{path}: column {c!r} has codes outside 0..{len(names) - 1}")
        out[c] = np.asarray(names, dtype=object)[codes]
    value = arrays["value"].astype(np.float64)
    if not np.isfinite(value).all():
        raise ValueError(f"{path}: column 'value' has non-finite values")
    seed = arrays["seed"].astype(np.int64)
    if (seed < -1).any():
        raise ValueError(f"{path}: column 'seed' has values below -1")
    out["value"], out["seed"] = value, seed
    return out


def read_metadata(path: str | os.PathLike) -> dict:
    """The metadata of a ground-truth file, without reading its table."""
    p = Path(path)
    try:
        with zipfile.ZipFile(p) as zf:
            return json.loads(zf.read(METADATA))
    except (zipfile.BadZipFile, KeyError, EOFError, zlib.error, json.JSONDecodeError, UnicodeDecodeError,
            OSError) as exc:
        raise ValueError(f"{p}: metadata unreadable: {exc}") from None


__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "HOW_TO_CREATE", "SUFFIX", "read", "read_metadata", "write"]
