"""Building a KD benchmark: vanilla and distilled accuracies of NB201 students under one protocol.

A build directory holds:

``protocol.json``  the protocol (a resumed build must use the same one: its training key is checked)
``plan.json``      the runs to do, in order: (arch_index, arch, seed, mode)
``teacher.pt``     the trained teacher (spec, weights, accuracy) whose logits drive the KD runs
``runs.sqlite``    the run store: one row per finished (arch_index, seed, mode), each committed in its own
                   transaction, so a crash or kill loses at most the run in progress
``runs.csv``       the same rows as text, rewritten atomically after every run (always a valid table)

Resuming skips every finished run. :func:`export_ground_truth` turns a (partial) build into a ground-truth table
with metrics ``vanilla_acc`` and ``kd_acc``.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .._version import __version__
from ..sqlstore import SQLiteStore
from .protocol import MODES, Protocol
from .trainer import TrainData, auto_device, build_student, load_train_data, teacher_logits, train

RUN_COLUMNS = ("arch_index", "arch", "seed", "mode", "test_acc", "best_test_acc", "train_loss", "train_acc",
               "seconds", "images_per_s", "steps", "images", "diverged", "device", "threads", "torch",
               "protocol_key", "finished_at")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    arch_index INTEGER NOT NULL, arch TEXT NOT NULL, seed INTEGER NOT NULL, mode TEXT NOT NULL,
    test_acc REAL, best_test_acc REAL, train_loss REAL, train_acc REAL, seconds REAL, images_per_s REAL,
    steps INTEGER, images INTEGER, diverged INTEGER, device TEXT, threads INTEGER, torch TEXT,
    protocol_key TEXT, finished_at TEXT,
    PRIMARY KEY (arch_index, seed, mode)
)"""


# ---------------------------------------------------------------------------------------------------------
# plan
# ---------------------------------------------------------------------------------------------------------
def make_plan(archs: Sequence[int], seeds: int = 1, noise_archs: int = 0, noise_seeds: int = 3,
              modes: Sequence[str] = MODES) -> list[dict]:
    """Runs in build order: every arch at seeds ``0..seeds-1`` (all modes), in the given order; the first
    ``noise_archs`` archs also get seeds up to ``noise_seeds - 1``, and those extra runs are spread evenly
    through the build (noise arch ``j``'s extra seeds come right after arch ``(j + 1) * len(archs) //
    noise_archs``), so a partial build already has both many archs and a growing noise-floor subset."""
    from ..benchmarks import nb201

    for m in modes:
        if m not in MODES:
            raise ValueError(f"unknown mode {m!r}; valid: {', '.join(MODES)}")
    if seeds < 1 or noise_seeds < 1 or noise_archs < 0:
        raise ValueError(f"seeds ({seeds}) and noise_seeds ({noise_seeds}) must be >= 1, noise_archs >= 0")
    if noise_archs > len(archs):
        raise ValueError(f"noise_archs ({noise_archs}) exceeds the number of archs ({len(archs)})")

    def runs(i: int, seed_range) -> list[dict]:
        arch = nb201.index_to_arch(int(i))
        return [{"arch_index": int(i), "arch": arch, "seed": s, "mode": m} for s in seed_range for m in modes]

    after: dict[int, list[int]] = {}
    for j in range(noise_archs):
        after.setdefault((j + 1) * len(archs) // noise_archs - 1, []).append(j)
    plan = []
    for k, i in enumerate(archs):
        plan += runs(i, range(seeds))
        for j in after.get(k, []):
            plan += runs(archs[j], range(seeds, max(seeds, noise_seeds)))
    return plan


def read_arch_file(path: str | Path) -> list[int]:
    """Indices or arch strings, one per line ('#' comments allowed)."""
    from ..benchmarks import nb201

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"architecture file {p} does not exist")
    out = []
    for n, line in enumerate(p.read_text().splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            out.append(nb201.arch_to_index(nb201.parse_arch(text)))
        except ValueError as exc:
            raise ValueError(f"{p}:{n}: {exc}") from None
    if not out:
        raise ValueError(f"architecture file {p} lists no architectures")
    return out


# ---------------------------------------------------------------------------------------------------------
# store
# ---------------------------------------------------------------------------------------------------------
class RunStore(SQLiteStore):
    """SQLite store of finished runs (WAL; one transaction per run)."""

    SCHEMA = _SCHEMA

    def __init__(self, path: str | Path):
        super().__init__(path, timeout=60)
        self.open()

    def done(self) -> set[tuple[int, int, str]]:
        return {(a, s, m) for a, s, m in self.query("SELECT arch_index, seed, mode FROM runs")}

    def add(self, row: dict) -> None:
        self.insert("runs", RUN_COLUMNS, [[row[c] for c in RUN_COLUMNS]], replace=True)  # one transaction

    def frame(self) -> pd.DataFrame:
        return self.read_frame("SELECT * FROM runs ORDER BY finished_at, arch_index, seed, mode", columns=RUN_COLUMNS)


def _atomic_write_text(path: Path, text: str) -> None:
    from ..io import write_text

    write_text(path, text)


def write_runs_csv(store: RunStore, path: Path) -> None:
    _atomic_write_text(path, store.frame().to_csv(index=False, float_format="%.4f"))


# ---------------------------------------------------------------------------------------------------------
# teacher
# ---------------------------------------------------------------------------------------------------------
def train_teacher(spec: str, protocol: Protocol, data: TrainData, *, epochs: float, lr: float | None = None,
                  augmentation: str = "crop_flip", seed: int = 0, device: str | None = None,
                  out: str | Path | None = None, progress: Callable[[int, int], None] | None = None):
    """Train a teacher on ``data`` (the full training set), save it (with its test accuracy) to ``out``."""
    from .teachers import build_teacher, save_teacher

    model = build_teacher(spec, num_classes=data.num_classes, in_channels=protocol.channels, seed=seed)
    result = train(model, data, protocol, mode="vanilla", seed=seed, epochs=epochs, lr=lr,
                   augmentation=augmentation, device=device, progress=progress)
    info = {"spec": spec, "test_acc": result.test_acc, "epochs": epochs, "lr": lr or protocol.lr,
            "augmentation": augmentation, "seed": seed, "train": asdict(result),
            "dataset": data.dataset, "resolution": protocol.resolution, "channels": protocol.channels,
            "train_images": int(len(data.y_train))}
    if out is not None:
        save_teacher(model.cpu(), spec, out, extra=info)
    return model, info


# ---------------------------------------------------------------------------------------------------------
# build
# ---------------------------------------------------------------------------------------------------------
def _check_protocol(build_dir: Path, protocol: Protocol) -> None:
    path = build_dir / "protocol.json"
    if path.exists():
        old = Protocol.from_file(path)
        if old.training_key() != protocol.training_key():
            diff = {k: (v, protocol.to_dict()[k]) for k, v in old.to_dict().items()
                    if protocol.to_dict()[k] != v and k not in ("name", "notes")}
            raise ValueError(f"{build_dir} was built with a different protocol; differing fields "
                             f"(old, new): {diff}. Use another --out or the same protocol.")
    else:
        protocol.save(path)


def build(build_dir: str | Path, protocol: Protocol, plan: list[dict], *, teacher_path: str | Path | None = None,
          data: TrainData | None = None, data_root: str | None = None, device: str | None = None,
          max_runs: int | None = None, time_budget: float | None = None, shard: tuple[int, int] = (0, 1),
          log: Callable[[str], None] = print) -> pd.DataFrame:
    """Run every planned run not yet in the store; returns the store's table. Resumable at any point.

    ``shard=(i, n)`` takes only the runs at plan positions ``p % n == i``, so ``n`` processes (e.g. one per
    core, one thread each) can build the same directory together; the store is shared (SQLite WAL)."""
    i_shard, n_shard = shard
    if not (isinstance(n_shard, int) and n_shard >= 1 and 0 <= i_shard < n_shard):
        raise ValueError(f"shard must be (i, n) with 0 <= i < n, got {shard!r}")
    from .teachers import load_teacher

    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    _check_protocol(build_dir, protocol)
    plan_path = build_dir / "plan.json"
    if plan_path.exists():
        old_plan = json.loads(plan_path.read_text())
        known = {(r["arch_index"], r["seed"], r["mode"]) for r in old_plan}
        plan = old_plan + [r for r in plan if (r["arch_index"], r["seed"], r["mode"]) not in known]
    _atomic_write_text(plan_path, json.dumps(plan, indent=0))
    store = RunStore(build_dir / "runs.sqlite")
    try:
        done = store.done()
        todo = [r for p, r in enumerate(plan)
                if p % n_shard == i_shard and (r["arch_index"], r["seed"], r["mode"]) not in done]
        log(f"{len(done)} runs finished, {len(todo)} to do")
        if not todo:
            write_runs_csv(store, build_dir / "runs.csv")
            return store.frame()
        dev = auto_device(device)
        if data is None:
            data = load_train_data(protocol, root=data_root)
        soft = None
        if any(r["mode"] == "kd" for r in todo):
            tpath = Path(teacher_path) if teacher_path else build_dir / "teacher.pt"
            if not tpath.exists():
                raise FileNotFoundError(f"teacher checkpoint {tpath} does not exist; train one with "
                                        "'proxybench kd-bench teacher' or pass --teacher")
            teacher = load_teacher(tpath, num_classes=data.num_classes, in_channels=protocol.channels)
            soft = teacher_logits(teacher.to(dev), data.x_train.to(dev)).cpu()
            if soft.shape[1] != data.num_classes:
                raise ValueError(f"teacher {tpath} has {soft.shape[1]} outputs but the data set has "
                                 f"{data.num_classes} classes")
        started = time.perf_counter()
        for n, run in enumerate(todo):
            if max_runs is not None and n >= max_runs:
                break
            if time_budget is not None and time.perf_counter() - started > time_budget:
                log(f"time budget of {time_budget:.0f} s reached")
                break
            if (run["arch_index"], run["seed"], run["mode"]) in store.done():
                continue  # finished meanwhile by another process
            model = build_student(run["arch"], protocol, data.num_classes, run["seed"])
            res = train(model, data, protocol, mode=run["mode"], seed=run["seed"],
                        soft_targets=soft if run["mode"] == "kd" else None, device=dev)
            row = dict(run, **{k: getattr(res, k) for k in ("test_acc", "best_test_acc", "train_loss", "train_acc",
                                                          "seconds", "images_per_s", "steps", "images")})
            row.update(diverged=int(res.diverged), device=str(dev), threads=torch.get_num_threads(),
                       torch=torch.__version__, protocol_key=protocol.training_key(),
                       finished_at=time.strftime("%Y-%m-%dT%H:%M:%S"))
            store.add(row)
            write_runs_csv(store, build_dir / "runs.csv")
            log(f"[{len(done) + n + 1}/{len(plan)}] {run['mode']:7s} seed {run['seed']} arch {run['arch_index']:5d}: "
                f"{res.test_acc:.2f}% ({res.seconds:.0f} s, {res.images_per_s:.0f} img/s)")
        return store.frame()
    finally:
        store.close()


# ---------------------------------------------------------------------------------------------------------
# summaries and export
# ---------------------------------------------------------------------------------------------------------
def summarize(runs: pd.DataFrame) -> dict:
    """Accuracy ranges, KD gain, seed-to-seed Kendall tau (noise floor) and KD-vs-vanilla Kendall tau."""
    from scipy.stats import kendalltau

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
            out["kd_better_fraction"] = round(float((gain > 0).mean()), 3)
            out["kd_gain_min"] = round(float(gain.min()), 2)
            out["kendall_tau_kd_vs_vanilla"] = round(float(kendalltau(both["kd"], both["vanilla"]).statistic), 4)
            out["best_vanilla_arch"] = int(both["vanilla"].idxmax())
            out["best_kd_arch"] = int(both["kd"].idxmax())
    for mode in MODES:
        sub = runs[runs["mode"] == mode].pivot_table(index="arch_index", columns="seed", values="test_acc")
        seeds = [s for s in sub.columns]
        full = sub.dropna()
        if len(seeds) >= 2 and len(full) >= 3:
            taus = [kendalltau(full[a], full[b]).statistic for k, a in enumerate(seeds) for b in seeds[k + 1:]]
            out[f"noise_tau_{mode}"] = round(float(np.mean(taus)), 4)
            out[f"noise_archs_{mode}"] = int(len(full))
            out[f"noise_std_{mode}"] = round(float(full.std(axis=1, ddof=1).mean()), 3)
    return out


def export_ground_truth(build_dir: str | Path, out: str | Path, *, name: str, dataset_label: str,
                        description: str = "", extra_metadata: dict | None = None):
    """Write the (possibly partial) build as a ground-truth table: metrics ``vanilla_acc`` and ``kd_acc``
    (one row per training seed), with protocol, teacher and summary figures in its metadata."""
    from ..benchmarks.groundtruth import GroundTruth

    build_dir = Path(build_dir)
    store = RunStore(build_dir / "runs.sqlite")
    try:
        runs = store.frame()
    finally:
        store.close()
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


def sweep_table(build_dirs: Sequence[str | Path]) -> pd.DataFrame:
    """One row per (sweep candidate, arch, seed) with vanilla and KD accuracy and the KD gain, from the build
    directories of a protocol sweep (each built with its own candidate protocol)."""
    rows = []
    for d in map(Path, build_dirs):
        if not (d / "runs.sqlite").exists():
            raise FileNotFoundError(f"{d} is not a kd-bench build directory (no runs.sqlite)")
        p = Protocol.from_file(d / "protocol.json")
        store = RunStore(d / "runs.sqlite")
        try:
            runs = store.frame()
        finally:
            store.close()
        wide = runs.pivot_table(index=["arch_index", "seed"], columns="mode", values="test_acc")
        for (arch, seed), r in wide.iterrows():
            rows.append({"candidate": d.name, "lr": p.lr, "train_subset": p.train_subset, "epochs": p.epochs,
                         "alpha": p.alpha, "temperature": p.temperature, "arch_index": int(arch), "seed": int(seed),
                         "vanilla_acc": r.get("vanilla", np.nan), "kd_acc": r.get("kd", np.nan),
                         "kd_gain": r.get("kd", np.nan) - r.get("vanilla", np.nan)})
    return pd.DataFrame(rows)
