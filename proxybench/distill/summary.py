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
            out.update(_reliability(mode, full, boot))
    gain = _gain_table(runs)
    if gain.shape[1] >= 2 and len(gain.dropna()) >= 3:
        full = gain.dropna()
        taus = [kendalltau(full[a], full[b]).statistic for k, a in enumerate(full.columns)
                for b in full.columns[k + 1:]]
        out["noise_tau_kd_gain"] = round(float(np.mean(taus)), 4)
        out["noise_tau_kd_gain_ci"] = _round_pair(_noise_tau_ci(full, **boot), 4)
        out["noise_archs_kd_gain"] = int(len(full))
        out["noise_std_kd_gain"] = round(float(full.std(axis=1, ddof=1).mean()), 3)
        out.update(_reliability("kd_gain", full, boot))
        both = runs.pivot_table(index=["arch_index", "seed"], columns="mode", values="test_acc").dropna()
        out["kd_vs_vanilla_corrected_r"] = _round_or_none(corrected_correlation(both), 4)
    out.update(compute_hours(runs))
    return out


def _gain_table(runs: pd.DataFrame) -> pd.DataFrame:
    """cells x seeds: KD minus vanilla accuracy of the same cell and seed (NaN where a mode is missing)."""
    if runs.empty or not set(MODES) <= set(runs["mode"]):
        return pd.DataFrame()
    acc = runs.pivot_table(index=["arch_index", "seed"], columns="mode", values="test_acc")
    return (acc["kd"] - acc["vanilla"]).unstack("seed")


def _round_or_none(v: float, digits: int):
    return round(float(v), digits) if math.isfinite(v) else None


def _reliability(name: str, full: pd.DataFrame, boot: dict) -> dict:
    """ICC(1) of a cells x seeds table with its bootstrap CI, and the ceiling it puts on any proxy's Kendall tau."""
    from ..analysis.reliability import attenuation_ceiling, icc1, icc1_ci, verdict

    values = full.to_numpy(dtype=float)
    res = icc1(values)
    lo, hi = icc1_ci(values, n_resamples=boot["n_resamples"], confidence_level=boot["confidence_level"],
                     seed=boot["seed"])
    return {f"icc_{name}": _round_or_none(res["icc"], 4), f"icc_{name}_ci": _round_pair((lo, hi), 4),
            f"icc_{name}_verdict": verdict(res["icc"], lo),
            f"tau_ceiling_{name}": _round_or_none(attenuation_ceiling(res["icc"], "kendall"), 4)}


def corrected_correlation(paired: pd.DataFrame) -> float:
    """Pearson r of KD and vanilla accuracy across cells, corrected for seed noise (Spearman's disattenuation):
    the between-cell covariance component of the two modes (seeds paired within a cell) over the square root of
    the product of their between-cell variance components, each the observed variance of cell means minus the
    mean within-cell variance over the seeds divided by the seed count. Needs a ``(arch_index, seed)`` x
    ``{kd, vanilla}`` table with >= 2 seeds on >= 3 cells; NaN otherwise or when a between-cell component is not
    positive.

    The covariance is reduced likewise by the within-cell covariance of the two modes over seeds (a KD and a
    vanilla run of one seed share the initialisation and the batch order, so their noises may correlate). The
    result estimates the correlation of the modes' noise-free cell accuracies (1.0: KD accuracy is vanilla accuracy
    plus a constant); it can leave [-1, 1] by estimation error, and is reported as computed."""
    df = paired.dropna()
    k = df.groupby(level="arch_index").size()
    cells = k[k >= 2].index
    if len(cells) < 3:
        return math.nan
    df = df.loc[df.index.get_level_values("arch_index").isin(cells)]
    g = df.groupby(level="arch_index")
    means, var_within, n_seeds = g.mean(), g.var(ddof=1), g.size()
    true_var = {m: means[m].var(ddof=1) - (var_within[m] / n_seeds).mean() for m in ("kd", "vanilla")}
    cov_within = g.apply(lambda c: np.cov(c["kd"], c["vanilla"], ddof=1)[0, 1])
    cov = np.cov(means["kd"], means["vanilla"], ddof=1)[0, 1] - (cov_within / n_seeds).mean()
    if min(true_var.values()) <= 0:
        return math.nan
    return float(cov / math.sqrt(true_var["kd"] * true_var["vanilla"]))


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


def regime_summary(sweep: pd.DataFrame, *, n_resamples: int = 2000, confidence_level: float = 0.95,
                   seed: int = 0) -> list[dict]:
    """One entry per candidate of a replicated regime pilot (:func:`sweep_table`'s rows, several seeds per cell),
    in the candidates' order: cells and runs with both accuracies; the mean KD gain over cells (each cell's gain
    averaged over its seeds) with a bootstrap CI over cells; ``kd_better_fraction``; the gain's ICC(1) with its CI
    and verdict, its seed-to-seed Kendall tau with CI and the ceiling it puts on any proxy's tau; the ICC(1) of
    the KD and the vanilla accuracy; the noise-corrected KD-vs-vanilla r (:func:`corrected_correlation`); the
    vanilla and KD accuracy ranges of the cell means. A choice among candidates should rest on
    ``icc_kd_gain_ci[0]``, the lower end of the gain's ICC CI."""
    from scipy.stats import kendalltau

    from ..analysis.reliability import attenuation_ceiling, icc1, icc1_ci, verdict

    boot = dict(n_resamples=n_resamples, confidence_level=confidence_level, seed=seed)
    out = []
    for name, g in sweep.groupby("candidate", sort=False):
        g = g.dropna(subset=["kd_acc", "vanilla_acc"])
        entry: dict = {"candidate": str(name), "cells": int(g["arch_index"].nunique()), "runs": int(len(g))}
        if g["arch_index"].nunique() < 3:
            out.append(entry)
            continue
        cell = g.groupby("arch_index")[["kd_acc", "vanilla_acc", "kd_gain"]].mean()
        entry["kd_gain_mean"] = round(float(cell["kd_gain"].mean()), 3)
        entry["kd_gain_ci"] = _round_pair(_mean_ci(cell["kd_gain"].to_numpy(), **boot), 3)
        entry["kd_better_fraction"] = round(float((cell["kd_gain"] > 0).mean()), 3)
        entry["vanilla_acc_range"] = [round(float(cell["vanilla_acc"].min()), 2),
                                      round(float(cell["vanilla_acc"].max()), 2)]
        entry["kd_acc_range"] = [round(float(cell["kd_acc"].min()), 2), round(float(cell["kd_acc"].max()), 2)]
        for metric in ("kd_gain", "kd_acc", "vanilla_acc"):
            wide = g.pivot_table(index="arch_index", columns="seed", values=metric)
            res = icc1(wide.to_numpy(dtype=float))
            lo, hi = icc1_ci(wide.to_numpy(dtype=float), **boot) if res["n"] >= 3 else (math.nan, math.nan)
            entry[f"icc_{metric}"] = _round_or_none(res["icc"], 3)
            entry[f"icc_{metric}_ci"] = _round_pair((lo, hi), 3)
            if metric == "kd_gain":
                entry["icc_kd_gain_verdict"] = verdict(res["icc"], lo)
                entry["tau_ceiling_kd_gain"] = _round_or_none(attenuation_ceiling(res["icc"]), 3)
                full = wide.dropna()
                if full.shape[1] >= 2 and len(full) >= 3:
                    taus = [kendalltau(full[a], full[b]).statistic for k, a in enumerate(full.columns)
                            for b in full.columns[k + 1:]]
                    entry["noise_tau_kd_gain"] = round(float(np.mean(taus)), 3)
                    entry["noise_tau_kd_gain_ci"] = _round_pair(_noise_tau_ci(full, **boot), 3)
        paired = g.set_index(["arch_index", "seed"])[["kd_acc", "vanilla_acc"]].rename(
            columns={"kd_acc": "kd", "vanilla_acc": "vanilla"})
        entry["kd_vs_vanilla_corrected_r"] = _round_or_none(corrected_correlation(paired), 3)
        out.append(entry)
    return out


STATUS_METADATA = ("name", "description", "dataset", "network", "build", "protocol_key")


RELIABILITY_KEYS = ("icc_", "tau_ceiling_", "noise_tau_kd_gain", "noise_archs_kd_gain", "noise_std_kd_gain",
                    "kd_vs_vanilla_corrected_r")


def runs_from_ground_truth(table: pd.DataFrame) -> pd.DataFrame:
    """A KD benchmark's ground truth (``kd_acc`` / ``vanilla_acc`` rows with seeds) as a run table
    (arch_index, seed, mode, test_acc), for :func:`summarize`."""
    modes = {"kd_acc": "kd", "vanilla_acc": "vanilla"}
    rows = table[table["metric"].isin(list(modes)) & table["seed"].notna()]
    return pd.DataFrame({"arch_index": rows["arch_index"].astype(int).to_numpy(),
                         "seed": rows["seed"].astype(int).to_numpy(),
                         "mode": rows["metric"].map(modes).to_numpy(),
                         "test_acc": rows["value"].astype(float).to_numpy()})


def benchmark_status(metadata: dict, table: pd.DataFrame | None = None, **options) -> dict:
    """What ``kd-bench status`` prints for a bundled or exported KD benchmark: the build's figures
    (:func:`summarize`, as stored at export in its metadata), the teacher and its accuracy, the recipe, the sweep
    (the choice and :func:`sweep_summary` of its runs) and the build's completeness. With the benchmark's
    ``table`` (its tidy ground truth), the reliability figures (ICC(1) of each mode and of the KD gain with CIs,
    their ceilings on any proxy's tau, the gain's seed-to-seed tau, the noise-corrected KD-vs-vanilla r) are
    computed from it (``options``: :func:`summarize`'s). Raises ``ValueError`` when the metadata is not a KD
    benchmark's (no protocol or no summary)."""
    if not isinstance(metadata.get("protocol"), dict) or not isinstance(metadata.get("summary"), dict):
        raise ValueError(f"benchmark {metadata.get('name')!r} is not a KD benchmark (its metadata has no protocol "
                         "and build summary)")
    out = dict(metadata["summary"])
    if table is not None:
        fresh = summarize(runs_from_ground_truth(table), **options)
        out.update({k: v for k, v in fresh.items() if k.startswith(RELIABILITY_KEYS)})
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
