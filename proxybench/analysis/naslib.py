"""NAS-Bench-Suite-Zero score files <-> proxybench's tidy scores.

NAS-Bench-Suite-Zero (Krishnakumar et al., NeurIPS 2022 Datasets and Benchmarks; code in automl/NASLib) ships the
precomputed scores of zero-cost proxies as ``zc_nasbench201.json``::

    {dataset: {arch_key: {"idx": "534", "arch": arch_key, "val_accuracy": a,
                          proxy: {"score": s, "time": t}, ...}}}

``dataset`` is ``cifar10`` (whose ``val_accuracy`` is NB201's ``cifar10-valid`` validation accuracy), ``cifar100``
or ``ImageNet16-120``; ``arch_key`` is ``str`` of NASLib's op tuple, e.g. ``"(0, 2, 3, 2, 3, 1)"`` (ops
``skip_connect, none, nor_conv_3x3, nor_conv_1x1, avg_pool_3x3``, edges (1,2),(1,3),(1,4),(2,3),(2,4),(3,4));
``val_accuracy`` is in %. The published NB201 file holds 725 / 725 / 724 architectures and 12 proxies (no ``zen``).
``idx`` (NASLib's own index, a string; not NB201's index), ``arch`` (the key again) and any other field whose value
is not an object are per-architecture fields: kept as they are (:func:`from_naslib`'s ``info["fields"]``, the run's
``run.json`` under ``source.arch_fields``) and written back by the export. An ``arch`` field naming another cell
than its key, a known proxy name holding a bare value, and an object without ``score`` are malformed.
NASLib's scores are raw measures whose larger values predict better networks, which is proxybench's sign for all
13 (each has direction +1), so scores are taken as they are.

:func:`from_naslib` turns one dataset of such a file into a tidy scores table (one row per arch and proxy, seed 0,
``seconds`` = the file's time) and a tidy ground truth (``val_accuracy`` as ``<dataset>/val_acc``);
:func:`to_naslib` goes back; :func:`import_run` writes a run directory that ``proxybench report`` reads. No torch.
"""

from __future__ import annotations

import math
import os
import platform
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import schema
from .._version import __version__
from ..benchmarks.nb201 import arch_to_index, arch_to_naslib, index_to_arch, naslib_to_arch
from ..io import read_json, write_json, write_table
from .joining import (
    ground_truth_names,
    ground_truth_values,
    join_key,
    normalise_ground_truth,
    normalise_scores,
    resolve_names,
)

NASLIB_PROXIES: tuple[str, ...] = ("epe_nas", "fisher", "flops", "grad_norm", "grasp", "jacov", "l2_norm", "nwot",
                                   "params", "plain", "snip", "synflow", "zen")
"""The proxies of NAS-Bench-Suite-Zero's NB201 file; proxybench registers each under the same name."""

PROXY_ALIASES: dict[str, str] = {"jacob_cov": "jacov"}
"""Other spellings of proxy names -> proxybench's: ``jacob_cov`` is the name in Abdelfattah et al.'s zero-cost-nas
code (ICLR 2021) and older NASLib files."""

NASLIB_DATASETS: dict[str, tuple[str, str]] = {
    "cifar10": ("cifar10-valid", "nb201-cifar10"),
    "cifar100": ("cifar100", "nb201-cifar100"),
    "ImageNet16-120": ("ImageNet16-120", "nb201-imagenet16"),
}
"""NASLib dataset key -> (proxybench dataset name of its ``val_accuracy``, bundled benchmark of that data set)."""

ACCURACY_KEY = "val_accuracy"
GROUND_TRUTH_SOURCES: tuple[str, ...] = ("file", "bundled", "none")
_KEY_RE = re.compile(r"^\s*[(\[]\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,?\s*[)\]]\s*$")


def proxy_name(name: str) -> str:
    """proxybench's name of a proxy spelled ``name`` in a NASLib file or on the command line."""
    return PROXY_ALIASES.get(name, name)


def arch_key(arch: str) -> str:
    """NB201 arch string -> NASLib's key, ``str`` of its op tuple: ``"(0, 2, 3, 2, 3, 1)"``."""
    return str(arch_to_naslib(arch))


def parse_arch_key(key: str) -> str:
    """NASLib key ``"(a, b, c, d, e, f)"`` -> NB201 arch string; ``ValueError`` naming the key otherwise."""
    m = _KEY_RE.match(str(key))
    if m is None:
        raise ValueError(f"bad architecture key {key!r}: expected NASLib's tuple of 6 op indices, e.g. "
                         "'(0, 2, 3, 2, 3, 1)'")
    try:
        return naslib_to_arch([int(g) for g in m.groups()])
    except ValueError as exc:
        raise ValueError(f"bad architecture key {key!r}: {exc}") from None


def _number(value: Any, where: str) -> float:
    """A JSON number (``null`` -> NaN); ``ValueError`` naming ``where`` for anything else."""
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{where} must be a number or null, got {value!r}")
    return float(value)


def _is_field(name: str, value: Any) -> bool:
    """Whether ``name: value`` of an arch's entry is a per-architecture field: any value but an object, under a
    name that is not one of NASLib's proxies (a bare number under ``nwot`` is a malformed score, not a field)."""
    return not isinstance(value, Mapping) and name not in NASLIB_PROXIES and name not in PROXY_ALIASES


def _check_field(name: str, value: Any, arch: str, where: str) -> None:
    """The fields proxybench knows the meaning of must agree with the entry: ``arch`` names the key's cell and
    ``idx`` is a whole number (string or integer)."""
    if name == "arch":
        try:
            same = parse_arch_key(value) == arch if isinstance(value, (str, list)) else False
        except ValueError:
            same = False
        if not same:
            raise ValueError(f"{where}: expected the architecture of its key, got {value!r}")
    elif name == "idx":
        ok = (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, str) and value.strip().isdigit())
        if not ok:
            raise ValueError(f"{where}: expected NASLib's index, a whole number, got {value!r}")


def read_naslib(source: str | os.PathLike | Mapping) -> dict:
    """The content of a NASLib score file (or the dict itself), checked to be ``{dataset: {arch_key: {...}}}``."""
    data = read_json(source) if not isinstance(source, Mapping) else source
    where = f"NASLib score file {source}" if not isinstance(source, Mapping) else "NASLib scores"
    if not isinstance(data, Mapping) or not data:
        raise ValueError(f"{where} must hold a non-empty JSON object {{dataset: {{arch: {{proxy: {{score, "
                         f"time}}}}}}}}, got {type(data).__name__}")
    for ds, archs in data.items():
        if not isinstance(archs, Mapping):
            raise ValueError(f"{where}: dataset {ds!r} must map architecture keys to objects, got "
                             f"{type(archs).__name__}")
    return dict(data)


def choose_dataset(data: Mapping, dataset: str | None) -> str:
    """The dataset key to read: ``dataset``, or the file's only key; ``ValueError`` naming the valid keys."""
    keys = list(data)
    if dataset is None:
        if len(keys) > 1:
            raise ValueError(f"the file holds several datasets ({', '.join(keys)}); choose one with --dataset")
        dataset = keys[0]
    if dataset not in data:
        raise ValueError(f"dataset {dataset!r} is not in the file; it holds: {', '.join(keys)}")
    if dataset not in NASLIB_DATASETS:
        raise ValueError(f"unknown NASLib dataset key {dataset!r}; valid NB201 keys: {', '.join(NASLIB_DATASETS)}")
    return dataset


def from_naslib(source: str | os.PathLike | Mapping, dataset: str | None = None
                ) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """One dataset of a NASLib score file -> (tidy scores, tidy ground truth, info).

    Scores follow :data:`proxybench.schema.SCORES` (seed 0; NASLib names mapped by :func:`proxy_name`);
    the ground truth holds ``val_accuracy`` as ``<dataset>/val_acc`` (:data:`NASLIB_DATASETS`) with no seed.
    ``info``: ``dataset``, ``proxies`` (NASLib name -> proxybench name), ``archs``, ``fields`` (arch key ->
    {field: value} of the per-architecture fields, e.g. ``idx`` and ``arch``; archs without any are left out).
    """
    data = read_naslib(source)
    dataset = choose_dataset(data, dataset)
    gt_dataset = NASLIB_DATASETS[dataset][0]
    rows, gt_rows, names, seen, fields = [], [], {}, {}, {}
    for key, entry in data[dataset].items():
        arch = parse_arch_key(key)
        if arch in seen:
            raise ValueError(f"dataset {dataset!r}: keys {seen[arch]!r} and {key!r} are the same architecture")
        seen[arch] = key
        if not isinstance(entry, Mapping):
            raise ValueError(f"dataset {dataset!r}, arch {key!r}: expected an object of proxies, got {entry!r}")
        idx = arch_to_index(arch)
        for name, value in entry.items():
            where = f"dataset {dataset!r}, arch {key!r}, {name!r}"
            if name == ACCURACY_KEY:
                gt_rows.append((idx, arch, gt_dataset, "val_acc", _number(value, where), pd.NA))
                continue
            if _is_field(name, value):
                _check_field(name, value, arch, where)
                fields.setdefault(str(key), {})[name] = value
                continue
            if not isinstance(value, Mapping) or "score" not in value:
                raise ValueError(f"{where}: expected {{'score': x, 'time': t}} (or the number "
                                 f"{ACCURACY_KEY!r}, or a per-architecture field that is not a proxy), got "
                                 f"{value!r}")
            if proxy_name(name) != name and proxy_name(name) in entry:
                raise ValueError(f"{where}: {name!r} and {proxy_name(name)!r} are both {proxy_name(name)!r}; "
                                 "keep one of them")
            score = _number(value["score"], f"{where} score")
            seconds = _number(value.get("time"), f"{where} time")
            names[name] = proxy_name(name)
            ok = math.isfinite(score)
            rows.append((idx, arch, names[name], 0, score if ok else math.nan, seconds, "ok" if ok else "nan", ""))
    if not rows:
        raise ValueError(f"dataset {dataset!r} of the file holds no proxy scores")
    scores = pd.DataFrame(rows, columns=list(schema.SCORES.names)).sort_values(["proxy", "arch_index"],
                                                                              kind="stable")
    gt = pd.DataFrame(gt_rows, columns=list(schema.GROUND_TRUTH.names))
    gt["seed"] = gt["seed"].astype("Int64")
    info = {"dataset": dataset, "proxies": names, "archs": len(seen), "fields": fields}
    return scores.reset_index(drop=True), gt.sort_values("arch_index").reset_index(drop=True), info


def _default_accuracy(ground_truth: pd.DataFrame, dataset: str) -> str:
    names = ground_truth_names(ground_truth)
    for candidate in (f"{NASLIB_DATASETS[dataset][0]}/val_acc", "val_acc"):
        try:
            return resolve_names(normalise_ground_truth(ground_truth), candidate)[0]
        except ValueError:
            continue
    raise ValueError(f"the ground truth has no {NASLIB_DATASETS[dataset][0]}/val_acc series for "
                     f"{ACCURACY_KEY!r}; choose one with --accuracy NAME ({', '.join(names)}) or --accuracy none")


def to_naslib(scores: pd.DataFrame, ground_truth: pd.DataFrame | None, dataset: str, *,
              accuracy: str | None = None, fields: Mapping[str, Mapping] | None = None) -> tuple[dict, list[str]]:
    """Tidy scores (and ground truth) -> (NASLib's layout for ``dataset``, notes).

    ``score``: the mean of an arch's finite scores over seeds (``null`` when none is finite); ``time``: the mean of
    its ``seconds``. ``val_accuracy``: ground truth ``accuracy`` (default: ``<dataset>/val_acc`` of
    :data:`NASLIB_DATASETS`; ``"none"``: left out), written for the archs that have it; the notes count those
    that do not. ``fields``: per-architecture fields (arch key -> {field: value}, as :func:`from_naslib` keeps
    them), written first in the entries of the archs that have scores.
    """
    if dataset not in NASLIB_DATASETS:
        raise ValueError(f"unknown NASLib dataset key {dataset!r}; valid: {', '.join(NASLIB_DATASETS)}")
    sc = normalise_scores(scores)
    key = "arch_index" if "arch_index" in sc.columns and sc["arch_index"].notna().all() else "arch"
    if key == "arch" and "arch" not in sc.columns:
        raise ValueError("the scores table has neither an 'arch_index' nor an 'arch' column")
    sc["seconds"] = pd.to_numeric(sc["seconds"], errors="coerce") if "seconds" in sc.columns else math.nan
    sc["score"] = sc["score"].where(np.isfinite(sc["score"]))
    agg = sc.groupby([key, "proxy"], sort=True).agg(score=("score", "mean"), time=("seconds", "mean"))
    notes: list[str] = []
    acc = None
    if ground_truth is not None and (accuracy or "") != "none":
        name = accuracy if accuracy else _default_accuracy(ground_truth, dataset)
        acc = ground_truth_values(ground_truth, name, key=join_key(scores, ground_truth, key))
    elif ground_truth is None and accuracy not in (None, "none"):
        raise ValueError(f"--accuracy {accuracy!r}: the run has no ground truth")
    kept = {parse_arch_key(k): dict(v) for k, v in (fields or {}).items()}
    entries: dict[Any, dict] = {}
    for (arch_id, proxy), score, seconds in zip(agg.index, agg["score"], agg["time"]):
        if arch_id not in entries:
            arch = index_to_arch(int(arch_id)) if key == "arch_index" else str(arch_id)
            entries[arch_id] = dict(kept.get(arch, {}))
        entries[arch_id][str(proxy)] = {"score": _json_float(score), "time": _json_float(seconds)}
    out: dict[str, dict] = {}
    lacking = 0
    for arch_id, entry in entries.items():
        arch = index_to_arch(int(arch_id)) if key == "arch_index" else str(arch_id)
        if acc is not None:
            if arch_id in acc.index:
                entry[ACCURACY_KEY] = float(acc.loc[arch_id])
            else:
                lacking += 1
        out[arch_key(arch)] = entry
    if acc is None:
        notes.append(f"no {ACCURACY_KEY!r} written: " + ("the run has no ground truth" if ground_truth is None
                                                          else "--accuracy none"))
    elif lacking:
        notes.append(f"{lacking} of {len(out)} architectures have no {acc.name!r} value: written without "
                     f"{ACCURACY_KEY!r}")
    return {dataset: out}, notes


def _json_float(v: float) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def write_naslib(obj: Mapping, path: str | os.PathLike) -> Path:
    """Write NASLib's layout as JSON (non-finite numbers as ``null``), atomically."""
    return write_json(path, obj, indent=None)


def fields_of_run(metadata: Mapping, dataset: str) -> dict:
    """The per-architecture fields (``idx``, ``arch``, ...) a run imported from ``dataset`` of a NASLib file
    keeps in ``run.json``; empty for any other run."""
    src = metadata.get("source") or {}
    if not isinstance(src, Mapping) or src.get("format") != "naslib" or src.get("dataset") != dataset:
        return {}
    fields = src.get("arch_fields") or {}
    return dict(fields) if isinstance(fields, Mapping) else {}


def dataset_of_run(metadata: Mapping) -> str | None:
    """The NASLib dataset key of a run: the one it was imported from, else its benchmark's data set."""
    src = metadata.get("source") or {}
    if isinstance(src, Mapping) and src.get("format") == "naslib" and src.get("dataset") in NASLIB_DATASETS:
        return str(src["dataset"])
    bench = metadata.get("benchmark") or {}
    name = bench.get("name") if isinstance(bench, Mapping) else bench
    return next((k for k, (_, b) in NASLIB_DATASETS.items() if b == name), None)


def _bundled_ground_truth(dataset: str, indices: Sequence[int]) -> tuple[pd.DataFrame, Any]:
    from ..benchmarks.groundtruth import load_benchmark

    bench = load_benchmark(NASLIB_DATASETS[dataset][1])
    gt = bench.ground_truth
    return gt[gt["arch_index"].isin(set(indices))].reset_index(drop=True), bench


def import_run(source: str | os.PathLike, out: str | os.PathLike, *, dataset: str | None = None,
               ground_truth: str = "file", command: Sequence[str] | None = None) -> tuple[Path, dict]:
    """Write a run directory (scores.csv, ground_truth.csv, run.json) from a NASLib score file.

    ``ground_truth``: ``file`` (the file's ``val_accuracy``), ``bundled`` (every series of the bundled NB201
    benchmark of the file's data set, for the imported archs: test and validation accuracy) or ``none``.
    ``out`` must not exist or be an empty directory. Returns (run directory, info of :func:`from_naslib`).
    """
    if ground_truth not in GROUND_TRUTH_SOURCES:
        raise ValueError(f"unknown ground truth {ground_truth!r}; valid: {', '.join(GROUND_TRUTH_SOURCES)}")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"--out {out} exists and is not an empty directory; give a new run directory")
    scores, gt, info = from_naslib(source, dataset)
    meta: dict[str, Any] = {
        "name": f"NAS-Bench-Suite-Zero {info['dataset']} ({info['archs']} archs, {len(info['proxies'])} proxies)",
        "proxybench_version": __version__,
        "versions": {"proxybench": __version__, "python": platform.python_version(), "numpy": np.__version__,
                     "pandas": pd.__version__},
        "command": list(command) if command else None,
        "source": {"format": "naslib", "file": str(Path(source).resolve()), "dataset": info["dataset"],
                   "proxies": info["proxies"], "archs": info["archs"], "seeds": [0],
                   "arch_fields": info["fields"]},
        "ground_truth": ground_truth,
    }
    if ground_truth == "bundled":
        gt, bench = _bundled_ground_truth(info["dataset"], scores["arch_index"].unique())
        meta["benchmark"] = {"name": bench.name, "path": str(bench.path) if bench.path else None,
                             "metadata": bench.metadata}
    elif ground_truth == "file":
        if gt.empty:
            raise ValueError(f"dataset {info['dataset']!r} of the file has no {ACCURACY_KEY!r}; use "
                             "--ground-truth bundled or none")
        meta["benchmark"] = {"name": f"naslib:{info['dataset']}/{ACCURACY_KEY}"}
    out.mkdir(parents=True, exist_ok=True)
    write_table(scores, out / "scores.csv")
    if ground_truth != "none":
        write_table(gt[list(schema.GROUND_TRUTH.names)], out / "ground_truth.csv")
    write_json(out / "run.json", meta)
    return out, info


__all__ = ["ACCURACY_KEY", "GROUND_TRUTH_SOURCES", "NASLIB_DATASETS", "NASLIB_PROXIES", "PROXY_ALIASES", "arch_key",
           "choose_dataset", "dataset_of_run", "fields_of_run", "from_naslib", "import_run", "parse_arch_key",
           "proxy_name", "read_naslib", "to_naslib", "write_naslib"]
