"""Import the official NAS-Bench-201 ``.pth`` (v1_0 and v1_1) through the ``nas-bench-201`` package.

Rows come from ``get_more_info(index, dataset, hp=hp, is_random=seed)``, the last epoch of each trial; values are
top-1 accuracy in %. Metric names per dataset and the split each is measured on:

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

The API defaults to ``hp='12'`` (12-epoch training) in several places; the importers take ``hp`` explicitly
(default ``'200'``, the full 200-epoch schedule) and record it in the metadata. :func:`collect_from_api` is shared
with the NATS-Bench importer (same API, same metrics).
"""

from __future__ import annotations

import contextlib
import os
import re
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...nb201.space import arch_to_index
from ..table import GroundTruth
from .common import check_names, existing

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

HOW_TO_GET = ("download NAS-Bench-201-v1_1-096897.pth (4.7 GB) or NAS-Bench-201-v1_0-e61699.pth (2.1 GB) from the "
              "links in the NAS-Bench-201 repository (github.com/D-X-Y/NAS-Bench-201); reading it needs tens of GB "
              "of RAM, so import it once with 'proxybench groundtruth import --from nb201 FILE --out OUT.pbgt'")


def check_hp(hp: str | int) -> str:
    h = str(hp).strip()
    if h not in NB201_HPS:
        raise ValueError(f"unknown hp {hp!r}; valid: {', '.join(NB201_HPS)} (training epochs: 12 or 200)")
    return h


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


def exc_text(exc: BaseException) -> str:
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
                             f"({exc_text(exc)}); if the file is the official one, re-run with --trust-pickle "
                             "(trust_pickle=True), which runs the file's pickle code") from None
        raise ValueError(f"cannot read NAS-Bench-201 file {path} (truncated or corrupted, or not a NAS-Bench-201 "
                         f"file?): {exc_text(exc)}; to get the file: {HOW_TO_GET}") from None


def _nats_arch_file_missing(api, i: int) -> bool:
    """In NATS-Bench's fast mode each arch is one file in the archive folder; an absent file = no results."""
    folder = getattr(api, "archive_dir", None)
    if not getattr(api, "fast_mode", False) or folder is None or i in api.arch2infos_dict:
        return False
    return not any(os.path.isfile(os.path.join(folder, f"{stem}.pickle.pbz2")) for stem in (f"{i:06d}", f"{i:d}"))


def collect_from_api(api, path: Path, kind: str, hp: str, datasets: list[str] | None, metrics: list[str] | None,
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
                             f"{exc_text(exc)}") from None
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


def file_version(name: str) -> str | None:
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
    hp = check_hp(hp)
    datasets = check_names(datasets, NB201_DATASETS, "dataset")
    metrics = check_names(metrics, NB201_METRICS, "metric")
    p = existing(path, HOW_TO_GET)
    api = _open_nb201(p, trust_pickle)
    df, info = collect_from_api(api, p, "nb201", hp, datasets, metrics, progress)
    import nas_201_api

    version = file_version(p.name)
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


