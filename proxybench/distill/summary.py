"""Figures of a KD build (``kd-bench status``), its export as a ground-truth table (``kd-bench export``) and the
table of a protocol sweep. Reads the run store and the protocol only; no torch."""

from __future__ import annotations

import json
import math
import platform
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .._version import __version__
from .protocol import MODES, Protocol
from .runstore import RunStore

RECIPE_FIELDS = ("dataset", "resolution", "channels", "train_subset", "epochs", "batch_size", "lr", "schedule",
                 "augmentation", "alpha", "temperature", "distiller", "distiller_options", "C", "N")


def _mean_ci(values: np.ndarray, *, n_resamples: int, confidence_level: float, seed: int) -> list[float]:
    """Percentile bootstrap CI of the mean (:func:`scipy.stats.bootstrap`, deterministic for ``seed``)."""
    from scipy.stats import bootstrap

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = bootstrap((np.asarray(values, dtype=float),), np.mean, n_resamples=n_resamples, method="percentile",
                        confidence_level=confidence_level, rng=np.random.default_rng(seed))
    return [float(res.confidence_interval.low), float(res.confidence_interval.high)]


def _noise_tau_ci(full: pd.DataFrame, *, n_resamples: int, confidence_level: float, seed: int) -> list[float]:
    """Bootstrap CI over cells of the mean seed-to-seed Kendall tau (cells x seeds table, every cell complete)."""
    from ..analysis.correlation import NOISE_HEADLINE, noise_ceiling

    gt = full.rename_axis(index="arch_index", columns="seed").stack().rename("value").reset_index()
    gt["arch"] = gt["arch_index"].astype(str)
    gt["metric"] = "acc"
    nc = noise_ceiling(gt, "acc", statistics=("kendall",), n_resamples=n_resamples, ci_method="percentile",
                       confidence_level=confidence_level, seed=seed)
    head = nc[(nc["aggregate"] == NOISE_HEADLINE) & (nc["statistic"] == "kendall")]
    if head.empty:
        return [math.nan, math.nan]
    return [float(head["ci_low"].iloc[0]), float(head["ci_high"].iloc[0])]


def _round_pair(pair, digits: int) -> list:
    return [None if not math.isfinite(v) else round(float(v), digits) for v in pair]


def compute_hours(runs: pd.DataFrame) -> dict:
    """Training time of the finished runs: wall hours, CPU hours (seconds x torch threads of the runs on a CPU) and,
    when some ran on a GPU, GPU hours (evaluation excluded, as in the run store)."""
    if runs.empty or "seconds" not in runs:
        return {}
    sec = runs["seconds"].astype(float)
    device = runs["device"].astype(str) if "device" in runs else pd.Series("cpu", index=runs.index)
    threads = runs["threads"].astype(float) if "threads" in runs else pd.Series(1.0, index=runs.index)
    on_gpu = device.str.startswith("cuda")
    out = {"train_hours": round(float(sec.sum()) / 3600, 3),
           "cpu_hours": round(float((sec * threads.fillna(1.0))[~on_gpu].sum()) / 3600, 3)}
    if on_gpu.any():
        out["gpu_hours"] = round(float(sec[on_gpu].sum()) / 3600, 3)
    return out


def summarize(runs: pd.DataFrame, *, n_resamples: int = 2000, confidence_level: float = 0.95,
              seed: int = 0) -> dict:
    """Figures of a (partial) build, from its run table.

    Per mode: accuracy range and mean. On the cells with both modes (accuracies averaged over seeds; at least 3
    cells): ``kd_gain_mean`` (KD minus vanilla, points) with ``kd_gain_ci`` (percentile bootstrap over cells,
    :func:`scipy.stats.bootstrap`), ``kd_better_fraction``, ``kd_loses_3pt_fraction`` (cells where KD loses more
    than 3 points), ``kd_gain_min``, ``kendall_tau_kd_vs_vanilla`` with ``kendall_tau_kd_vs_vanilla_ci``, the best
    vanilla and best KD cell (``best_vanilla_arch``/``best_kd_arch``, and ``best_vanilla_cell``/``best_kd_cell``
    with both accuracies of each). Per mode with >= 2 seeds on >= 3 cells: the seed-to-seed Kendall tau
    ``noise_tau_<mode>`` (mean over seed pairs, on the cells with every seed) with ``noise_tau_<mode>_ci``
    (bootstrap over cells), ``noise_archs_<mode>``, ``noise_std_<mode>``. Compute: :func:`compute_hours`.
    CIs are ``confidence_level`` percentile intervals from ``n_resamples`` resamples, deterministic for ``seed``
    (``None`` where undefined)."""
    from scipy.stats import kendalltau

    from ..analysis.correlation import bootstrap_ci

    boot = dict(n_resamples=n_resamples, confidence_level=confidence_level, seed=seed)
    out: dict = {"runs": int(len(runs))}
    if runs.empty:
        return out
    for mode in MODES:
        acc = runs.loc[runs["mode"] == mode, "test_acc"]
        if len(acc):
            out[f"{mode}_acc_range"] = [round(float(acc.min()), 2), round(float(acc.max()), 2)]
            out[f"{mode}_acc_mean"] = round(float(acc.mean()), 2)
    mean = runs.groupby(["arch_index", "mode"])["test_acc"].mean().unstack("mode")
    if set(MODES) <= set(mean.columns):
        both = mean.dropna()
        out["archs_with_both"] = int(len(both))
        if len(both) >= 3:
            gain = both["kd"] - both["vanilla"]
            out["kd_gain_mean"] = round(float(gain.mean()), 3)
            out["kd_gain_ci"] = _round_pair(_mean_ci(gain.to_numpy(), **boot), 3)
            out["kd_better_fraction"] = round(float((gain > 0).mean()), 3)
            out["kd_loses_3pt_fraction"] = round(float((gain < -3).mean()), 3)
            out["kd_gain_min"] = round(float(gain.min()), 2)
            out["kendall_tau_kd_vs_vanilla"] = round(float(kendalltau(both["kd"], both["vanilla"]).statistic), 4)
            ci = bootstrap_ci(both["kd"].to_numpy(), both["vanilla"].to_numpy(), ("kendall",), method="percentile",
                              **boot)["kendall"]
            out["kendall_tau_kd_vs_vanilla_ci"] = _round_pair(ci, 4)
            best_v, best_k = both["vanilla"].idxmax(), both["kd"].idxmax()
            out["best_vanilla_arch"] = int(best_v)
            out["best_kd_arch"] = int(best_k)
            for key, cell in (("best_vanilla_cell", best_v), ("best_kd_cell", best_k)):
                out[key] = {"arch_index": int(cell), "vanilla_acc": round(float(both.at[cell, "vanilla"]), 2),
                            "kd_acc": round(float(both.at[cell, "kd"]), 2)}
    for mode in MODES:
        sub = runs[runs["mode"] == mode].pivot_table(index="arch_index", columns="seed", values="test_acc")
        seeds = [s for s in sub.columns]
        full = sub.dropna()
        if len(seeds) >= 2 and len(full) >= 3:
            taus = [kendalltau(full[a], full[b]).statistic for k, a in enumerate(seeds) for b in seeds[k + 1:]]
            out[f"noise_tau_{mode}"] = round(float(np.mean(taus)), 4)
            out[f"noise_tau_{mode}_ci"] = _round_pair(_noise_tau_ci(full, **boot), 4)
            out[f"noise_archs_{mode}"] = int(len(full))
            out[f"noise_std_{mode}"] = round(float(full.std(axis=1, ddof=1).mean()), 3)
    out.update(compute_hours(runs))
    return out


def build_description(build_dir: str | Path) -> dict:
    """What a build directory records besides its runs: the teacher(s) and their test accuracy (``teacher.json``,
    written by ``kd-bench teacher`` or by the build) and the recipe (from ``protocol.json``)."""
    build_dir = Path(build_dir)
    out: dict = {}
    tjson = build_dir / "teacher.json"
    if tjson.exists():
        info = json.loads(tjson.read_text())
        teacher = {k: info[k] for k in ("teacher", "spec", "checkpoint", "test_acc", "ensemble_test_acc",
                                         "oracle_test_acc", "member_test_acc", "epochs") if k in info}
        if "members" in info:
            teacher["members"] = [{k: m[k] for k in ("spec", "teacher", "test_acc", "seed") if k in m}
                                  for m in info["members"]]
        out["teacher"] = teacher
    pjson = build_dir / "protocol.json"
    if pjson.exists():
        p = Protocol.from_file(pjson)
        out["recipe"] = {k: getattr(p, k) for k in RECIPE_FIELDS}
    return out


def export_ground_truth(build_dir: str | Path, out: str | Path, *, name: str, dataset_label: str,
                        description: str = "", extra_metadata: dict | None = None):
    """Write the (possibly partial) build as a ground-truth table: metrics ``vanilla_acc`` and ``kd_acc``
    (one row per training seed), with protocol, teacher and summary figures in its metadata."""
    from ..benchmarks.groundtruth import GroundTruth

    build_dir = Path(build_dir)
    runs = _read_runs(build_dir)
    if runs.empty:
        raise ValueError(f"{build_dir} has no finished runs to export")
    protocol = Protocol.from_file(build_dir / "protocol.json")
    gt = pd.DataFrame({
        "arch_index": runs["arch_index"].astype(int), "arch": runs["arch"], "dataset": dataset_label,
        "metric": runs["mode"].map({"vanilla": "vanilla_acc", "kd": "kd_acc"}),
        "value": runs["test_acc"].astype(float), "seed": runs["seed"].astype(int),
    })
    teacher_info = {}
    tjson = build_dir / "teacher.json"
    if tjson.exists():
        teacher_info = json.loads(tjson.read_text())
    metadata = {
        "name": name, "description": description, "source": "proxybench kd-bench build",
        "dataset": dataset_label, "protocol": protocol.to_dict(), "protocol_key": protocol.training_key(),
        "teacher": teacher_info, "summary": summarize(runs),
        "data": {"dataset": protocol.dataset, "resolution": protocol.resolution, "channels": protocol.channels,
                 "num_classes": 10},
        "network": {"C": protocol.C, "N": protocol.N, "init": protocol.init},
        "seeds": sorted(int(s) for s in runs["seed"].unique()),
        "compute": {"total_train_seconds": round(float(runs["seconds"].sum()), 1),
                    "median_images_per_s": round(float(runs["images_per_s"].median()), 1),
                    "devices": sorted(runs["device"].unique().tolist()),
                    "machine": f"{platform.machine()} {platform.processor()}".strip(),
                    "python": sys.version.split()[0]},
        "proxybench_version": __version__,
    }
    if extra_metadata:
        metadata.update(extra_metadata)
    GroundTruth(ground_truth=gt, metadata=metadata).save(out)
    return metadata


def _read_runs(build_dir: Path) -> pd.DataFrame:
    store = RunStore(build_dir / "runs.sqlite")
    try:
        return store.frame()
    finally:
        store.close()


def sweep_table(build_dirs: Sequence[str | Path], *, vanilla_from: Sequence[str | Path] = ()) -> pd.DataFrame:
    """One row per (sweep candidate, arch, KD seed) with vanilla and KD accuracy and the KD gain, from the build
    directories of a protocol sweep (each built with its own candidate protocol).

    A candidate that changes only KD-only fields (:meth:`Protocol.vanilla_key`) may train KD runs only: its vanilla
    accuracy is then taken from the first build of ``vanilla_from`` with the same vanilla protocol that has the
    (arch, seed); column ``vanilla_from`` says where each row's vanilla accuracy came from (``own`` or the build's
    folder name; empty when none was found)."""
    sources = []
    for d in map(Path, vanilla_from):
        if not (d / "runs.sqlite").exists():
            raise FileNotFoundError(f"{d} is not a kd-bench build directory (no runs.sqlite)")
        runs = _read_runs(d)
        van = runs[runs["mode"] == "vanilla"].groupby(["arch_index", "seed"])["test_acc"].first()
        sources.append((d.name, Protocol.from_file(d / "protocol.json").vanilla_key(), van))
    rows = []
    for d in map(Path, build_dirs):
        if not (d / "runs.sqlite").exists():
            raise FileNotFoundError(f"{d} is not a kd-bench build directory (no runs.sqlite)")
        p = Protocol.from_file(d / "protocol.json")
        runs = _read_runs(d)
        own = runs[runs["mode"] == "vanilla"].groupby(["arch_index", "seed"])["test_acc"].first()
        kd = runs[runs["mode"] == "kd"].groupby(["arch_index", "seed"])["test_acc"].first()
        keys = sorted(set(kd.index) | set(own.index))
        for arch, seed in keys:
            van, origin = own.get((arch, seed), np.nan), "own"
            if math.isnan(van):
                origin = ""
                for name, key, table in sources:
                    if key == p.vanilla_key() and (arch, seed) in table.index:
                        van, origin = float(table[(arch, seed)]), name
                        break
            k = kd.get((arch, seed), np.nan)
            rows.append({"candidate": d.name, "lr": p.lr, "train_subset": p.train_subset, "epochs": p.epochs,
                         "alpha": p.alpha, "temperature": p.temperature, "distiller": p.distiller,
                         "augmentation": p.augmentation, "arch_index": int(arch),
                         "seed": int(seed), "vanilla_acc": float(van), "kd_acc": float(k), "kd_gain": k - van,
                         "vanilla_from": origin})
    return pd.DataFrame(rows)


def sweep_summary(sweep: pd.DataFrame | Sequence[dict]) -> list[dict]:
    """One entry per sweep candidate (best mean KD gain first): its recipe, the cells with both accuracies, the mean
    and worst KD gain (points) and the share of cells where KD beats vanilla. Takes :func:`sweep_table`'s rows
    (also as the list of dicts a bundled table's metadata stores)."""
    df = pd.DataFrame(list(sweep) if not isinstance(sweep, pd.DataFrame) else sweep)
    if df.empty:
        return []
    recipe = [c for c in ("lr", "train_subset", "epochs", "alpha", "temperature", "distiller", "augmentation")
              if c in df.columns]
    out = []
    for name, g in df.groupby("candidate", sort=False):
        gain = pd.to_numeric(g["kd_gain"], errors="coerce").dropna()
        entry = {"candidate": str(name)}
        for c in recipe:
            v = g[c].dropna()
            entry[c] = (v.iloc[0].item() if isinstance(v.iloc[0], np.generic) else v.iloc[0]) if len(v) else None
        entry["cells"] = int(len(gain))
        if len(gain):
            entry.update(mean_gain=round(float(gain.mean()), 3), worst_gain=round(float(gain.min()), 2),
                         kd_better_fraction=round(float((gain > 0).mean()), 3))
        out.append(entry)
    return sorted(out, key=lambda e: -e.get("mean_gain", -math.inf))


STATUS_METADATA = ("name", "description", "dataset", "network", "build", "protocol_key")


def benchmark_status(metadata: dict) -> dict:
    """What ``kd-bench status`` prints for a bundled or exported KD benchmark, from its metadata only: the build's
    figures (:func:`summarize`, as stored at export), the teacher and its accuracy, the recipe, the sweep (the
    choice and :func:`sweep_summary` of its runs) and the build's completeness. Raises ``ValueError`` when the
    metadata is not a KD benchmark's (no protocol or no summary)."""
    if not isinstance(metadata.get("protocol"), dict) or not isinstance(metadata.get("summary"), dict):
        raise ValueError(f"benchmark {metadata.get('name')!r} is not a KD benchmark (its metadata has no protocol "
                         "and build summary)")
    out = dict(metadata["summary"])
    out.update({k: metadata[k] for k in STATUS_METADATA if k in metadata})
    teacher = metadata.get("teacher")
    if isinstance(teacher, dict):
        out["teacher"] = {k: teacher[k] for k in ("spec", "checkpoint", "test_acc", "ensemble_test_acc",
                                                  "oracle_test_acc", "member_test_acc", "epochs") if k in teacher}
    protocol = Protocol.from_dict(metadata["protocol"])
    out["recipe"] = {k: getattr(protocol, k) for k in RECIPE_FIELDS}
    sweep = metadata.get("sweep")
    if isinstance(sweep, dict):
        out["sweep"] = {"choice": sweep.get("choice"), "candidates": sweep_summary(sweep.get("runs") or [])}
    return out
