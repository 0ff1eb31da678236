"""File writing shared by every part of proxybench: atomic writes, tables (CSV / Parquet) and JSON.

Every write goes to a temporary file in the destination's folder, is flushed to disk, and is renamed over the
destination only once complete (``os.replace``, atomic on POSIX). A reader never sees a partial file, and a crash or
an exception leaves the previous file intact and no temporary file behind. New files get the usual permissions
(``0o666`` less the umask), not the ``0o600`` of :func:`tempfile.mkstemp`.

This module imports only the standard library at load time; pandas is used by the table functions when called.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import math
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

TABLE_FORMATS: tuple[str, ...] = ("csv", "parquet")


def _create_temp(path: Path, suffix: str) -> Path:
    """A new, empty file beside ``path`` with a random name (mode 0o666 less the umask)."""
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{os.urandom(4).hex()}{suffix}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(f"could not create a temporary file beside {path}")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str = ".tmp") -> Iterator[Path]:
    """``with atomic_path(p) as tmp:`` write ``tmp`` by any means; on success it is synced and renamed to ``p``,
    on an exception it is deleted and ``p`` is left as it was. The folder of ``p`` is created when missing."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory, expected a file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _create_temp(path, suffix)
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", *, encoding: str | None = "utf-8",
                suffix: str = ".tmp") -> Iterator[IO]:
    """``with atomic_open(p, "w"|"wb") as fh:`` a file object whose content replaces ``p`` atomically when the block
    ends without an exception (see :func:`atomic_path`)."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes whole files: mode must be 'w' or 'wb', got {mode!r}")
    with atomic_path(path, suffix=suffix) as tmp:
        with open(tmp, mode, encoding=None if "b" in mode else encoding) as fh:
            yield fh


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    with atomic_open(path, "wb") as fh:
        fh.write(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically; returns the path."""
    with atomic_open(path, "w", encoding=encoding) as fh:
        fh.write(text)
    return Path(path)


# ---- JSON ------------------------------------------------------------------------------------------------------
def jsonable(obj: Any) -> Any:
    """``obj`` with numpy scalars, paths, tuples and sets turned into JSON types; non-finite floats become ``None``
    (JSON has no NaN); anything else unknown becomes its ``str``."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (set, frozenset)):
        return [jsonable(v) for v in sorted(obj, key=str)]
    if obj is None or isinstance(obj, (str, bool)):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    kind = type(obj).__module__.split(".", 1)[0]
    if kind == "numpy":  # numpy scalars and arrays, without importing numpy here
        if hasattr(obj, "tolist"):
            return jsonable(obj.tolist())
    return str(obj)


def dumps(obj: Any, *, indent: int | None = 1) -> str:
    """``obj`` as JSON text (through :func:`jsonable`), ending in a newline."""
    return json.dumps(jsonable(obj), indent=indent) + "\n"


def write_json(path: str | os.PathLike, obj: Any, *, indent: int | None = 1) -> Path:
    """Write ``obj`` as JSON (through :func:`jsonable`) to ``path`` atomically; returns the path."""
    return write_text(path, dumps(obj, indent=indent))


def read_json(path: str | os.PathLike) -> Any:
    """The JSON content of ``path``; ``ValueError`` naming the file when it is not valid JSON."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {path}: invalid JSON ({exc})") from None


# ---- tables ----------------------------------------------------------------------------------------------------
def parquet_engine() -> str:
    """Name of an installed Parquet engine; ``ImportError`` saying how to get one otherwise."""
    for name in ("pyarrow", "fastparquet"):
        if importlib.util.find_spec(name) is not None:
            return name
    raise ImportError("Parquet needs the pyarrow package, which is not installed: pip install pyarrow "
                      "(or install proxybench with its 'parquet' extra), or use --format csv")


def prepare_for_parquet(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose object columns that mix types (e.g. int and str) hold text, as Parquet requires one
    type per column; missing values stay missing."""
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object:
            kinds = {type(v) for v in out[c].dropna()}
            if len(kinds) > 1 or (kinds and kinds != {str}):
                out[c] = out[c].map(lambda v: v if v is None or (isinstance(v, float) and v != v) else str(v))
    return out


def table_format(path: str | os.PathLike) -> str:
    """``csv`` or ``parquet`` from the suffix of ``path``; ``ValueError`` otherwise."""
    fmt = Path(path).suffix.lstrip(".").lower()
    if fmt not in TABLE_FORMATS:
        raise ValueError(f"unknown table format {fmt!r} for {path}; valid: {', '.join(TABLE_FORMATS)}")
    return fmt


def write_table(df: pd.DataFrame, path: str | os.PathLike, **csv_options: Any) -> Path:
    """Write ``df`` without its index as CSV or Parquet (by the suffix of ``path``), atomically; returns the path.

    ``csv_options`` go to :meth:`pandas.DataFrame.to_csv` (e.g. ``float_format``). Parquet needs pyarrow (or
    fastparquet); object columns mixing types are written as text (:func:`prepare_for_parquet`)."""
    path = Path(path)
    fmt = table_format(path)
    engine = parquet_engine() if fmt == "parquet" else None
    with atomic_path(path) as tmp:
        if fmt == "csv":
            df.to_csv(tmp, index=False, **csv_options)
        else:
            prepare_for_parquet(df).to_parquet(tmp, index=False, engine=engine)
    return path


def write_tables(df: pd.DataFrame, folder: str | os.PathLike, stem: str, formats: list[str] | tuple[str, ...]
                 ) -> list[Path]:
    """``df`` as ``folder/stem.<format>`` for each format (see :func:`write_table`); returns the paths."""
    return [write_table(df, Path(folder) / f"{stem}.{fmt}") for fmt in formats]


__all__ = [
    "TABLE_FORMATS", "atomic_open", "atomic_path", "dumps", "jsonable", "parquet_engine", "prepare_for_parquet",
    "read_json", "table_format", "write_bytes", "write_json", "write_table", "write_tables", "write_text",
]
