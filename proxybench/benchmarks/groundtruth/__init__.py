"""Ground-truth accuracy tables, their importers, and the registry of benchmarks.

The package's parts:

* :mod:`.table` -- :class:`GroundTruth`: a tidy table, one row per (architecture, dataset, metric, training seed),
  plus a metadata dict describing where the numbers come from (source file, training protocol, teacher, seeds,
  network);
* :mod:`.pbgt` -- its compact file (``*.pbgt``): written atomically, read back in a few tens of milliseconds;
* :mod:`.importers` -- one module per source: the official NAS-Bench-201 ``.pth``, NATS-Bench, DisWOT-style KD
  JSON, DisWOT's S1 text tables and generic CSV;
* this module -- the registry of benchmarks: the bundled ``proxybench/benchmarks/data/<name>.pbgt`` files and the
  ones imported into ``$PROXYBENCH_HOME/benchmarks`` (default ``~/.cache/proxybench/benchmarks``), found by name.

Nothing here imports torch: loading a benchmark needs numpy and pandas only.
"""

from __future__ import annotations

import os
import re
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING

from . import pbgt
from .pbgt import FORMAT_NAME, FORMAT_VERSION, SUFFIX, read_metadata
from .table import AGGREGATES, COLUMNS, MEAN_SEED, GroundTruth

if TYPE_CHECKING:
    from .importers import (
        IMPORTERS,
        NB201_DATASETS,
        NB201_HPS,
        NB201_METRICS,
        NB201_SPLITS,
        from_csv,
        from_diswot_txt,
        from_json,
        from_nats,
        from_nb201,
        import_ground_truth,
        parse_column_name,
        to_diswot_txt,
    )

_IMPORTER_NAMES = ("IMPORTERS", "NB201_DATASETS", "NB201_HPS", "NB201_METRICS", "NB201_SPLITS", "from_csv",
                   "from_diswot_txt", "from_json", "from_nats", "from_nb201", "import_ground_truth",
                   "parse_column_name", "to_diswot_txt")


def __getattr__(name: str):
    # the importers load on first use: reading a benchmark does not need them
    if name in _IMPORTER_NAMES:
        value = getattr(import_module(".importers", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_IMPORTER_NAMES))


# ---- the registry of benchmarks ------------------------------------------------------------------------------------
BUNDLED_DIR = Path(__file__).resolve().parent.parent / "data"
"""The bundled benchmarks (package data). The registry reads this attribute of this module on every call."""
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
        raise FileNotFoundError(f"ground-truth file not found: {p}; {pbgt.HOW_TO_CREATE}")
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
    "AGGREGATES", "BUNDLED_DIR", "COLUMNS", "FORMAT_NAME", "FORMAT_VERSION", "IMPORTERS", "MEAN_SEED",
    "NB201_DATASETS", "NB201_HPS", "NB201_METRICS", "NB201_SPLITS", "SUFFIX", "GroundTruth", "describe_benchmarks",
    "from_csv", "from_diswot_txt", "from_json", "from_nats", "from_nb201", "import_ground_truth", "list_benchmarks",
    "load_benchmark",
    "parse_column_name", "read_metadata", "register_benchmark", "to_diswot_txt", "user_benchmark_dir",
]
