"""The evaluation runner: plan -> run store -> executor -> tidy scores -> correlations -> run directory.

:func:`run_eval` is the one code path behind ``proxybench eval`` and :func:`proxybench.evaluate`.

A run directory holds ``store.sqlite`` (the resumable store), ``scores.csv`` (and ``.parquet``),
``ground_truth.csv``, ``correlations.csv`` and ``noise_ceiling.csv`` (and ``.parquet``), ``run.json`` (versions,
configuration, seeds, machine, per-proxy timing, benchmark metadata, data spec, warnings) and the report with its
figures. The columns of the tables are in :mod:`proxybench.schema`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..io import write_json, write_tables
from .executors import Job, Task, make_executor
from .plan import make_plan
from .settings import EvalSettings, Plan, choose_workers, parse_workers
from .store import SCORE_COLUMNS, RunStore

log = logging.getLogger("proxybench.eval")


@dataclass
class RunResult:
    scores: pd.DataFrame
    correlations: pd.DataFrame | None
    run_dir: Path | None
    info: dict
    plan: Plan
    warnings: list[str] = field(default_factory=list)
    kd_vs_vanilla: pd.DataFrame | None = None  # compare_correlations rows: tau on KD minus tau on vanilla accuracy
    noise_ceiling: pd.DataFrame | None = None  # seed-to-seed agreement of the ground truth (when it has seeds)


# ---- environment facts -----------------------------------------------------------------------------------------
def versions() -> dict[str, str]:
    import scipy
    import torch

    from .._version import __version__

    return {"proxybench": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "pandas": pd.__version__, "scipy": scipy.__version__}


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(device: str) -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {"platform": platform.platform(), "machine": platform.machine(), "cpu": _cpu_model(),
                            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads()}
    with contextlib.suppress(AttributeError, OSError):
        info["cpus_available"] = len(os.sched_getaffinity(0))
    with contextlib.suppress(ValueError, OSError, AttributeError):
        info["memory_gb"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    if device.startswith("cuda") and torch.cuda.is_available():
        idx = torch.device(device).index or 0
        info["gpu"] = torch.cuda.get_device_name(idx)
        info["cuda"] = torch.version.cuda
    return info


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


# ---- tasks -----------------------------------------------------------------------------------------------------------
def pending_tasks(plan: Plan, done: dict[tuple[int, int], set[str]]) -> list[Task]:
    """Every (arch, seed) with proxies not yet stored, seed-major (so each worker reuses one batch and its
    teacher outputs for a run of architectures)."""
    tasks = []
    for seed in plan.seeds:
        for idx, arch in plan.archs:
            have = done.get((idx, seed), set())
            missing = tuple(p for p in plan.proxies if p not in have)
            if missing:
                tasks.append(Task(idx, arch, seed, missing))
    return tasks


def _job_key(plan: Plan) -> str:
    """Unique per run: a worker (a long-lived dask worker too) prepares each run's batches and teacher once."""
    ident = json.dumps(plan.identity, sort_keys=True).encode()
    return hashlib.sha256(ident).hexdigest()[:12] + "-" + os.urandom(6).hex()


def make_job(plan: Plan, threads: int | None) -> Job:
    return Job(key=_job_key(plan), proxies=list(plan.proxies), network=dict(plan.network),
               num_classes=int(plan.data["num_classes"]), in_channels=int(plan.data["channels"]),
               batches=plan.batches, teacher=plan.teacher, device=plan.device, options=dict(plan.options),
               threads=threads)


# ---- summaries ---------------------------------------------------------------------------------------------------
def timing_summary(scores: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per proxy: archs scored, mean / median / total seconds (shared passes count for the first proxy that
    asked for them)."""
    out = {}
    for proxy, g in scores.groupby("proxy", sort=True):
        s = g["seconds"].astype(float)
        out[str(proxy)] = {"n": int(len(s)), "mean_s": float(s.mean()), "median_s": float(s.median()),
                           "total_s": float(s.sum())}
    return out


def status_counts(scores: pd.DataFrame) -> dict[str, dict[str, int]]:
    out = {}
    for proxy, g in scores.groupby("proxy", sort=True):
        counts = g["status"].value_counts()
        out[str(proxy)] = {k: int(counts.get(k, 0)) for k in ("ok", "nan", "error")}
    return out


def first_errors(scores: pd.DataFrame) -> dict[str, str]:
    errs = scores[scores["status"] == "error"]
    return {str(p): str(g["error"].iloc[0]) for p, g in errs.groupby("proxy", sort=True)}


# ---- the correlation table for the terminal -------------------------------------------------------------------------
def format_kd_vs_vanilla(diffs: pd.DataFrame | None) -> str:
    """The KD-minus-vanilla differences as text (empty when there are none)."""
    if diffs is None or diffs.empty:
        return ""
    blocks = []
    for (kd, vanilla), g in diffs.groupby(["ground_truth_a", "ground_truth_b"], sort=False):
        table = pd.DataFrame({
            "proxy": g["proxy_a"], f"tau {kd}": g["value_a"], f"tau {vanilla}": g["value_b"],
            "difference": g["difference"],
            "95% CI": [f"[{lo:+.3f}, {hi:+.3f}]" if np.isfinite(lo) and np.isfinite(hi) else ""
                       for lo, hi in zip(g["ci_low"], g["ci_high"])],
            "p": g["p_value"], "n": g["n"]})
        text = table.to_string(index=False, float_format=lambda v: f"{v:+.3f}", na_rep="nan")
        blocks.append(f"tau on {kd} minus tau on {vanilla} (> 0: the proxy fits KD accuracy better; paired "
                      f"bootstrap over architectures)\n{text}")
    return "\n\n".join(blocks)


def format_correlations(corr: pd.DataFrame | None, scores: pd.DataFrame, noise: pd.DataFrame | None = None) -> str:
    """Headline correlations as text: one block per ground truth, proxies sorted by Kendall tau, with nDCG@10%
    (VKDNW's ranking metric over the top 10%), the counts of failed (``errors``) and non-finite (``dropped``)
    scores; the noise ceiling (from the ``noise`` table) is the last row, or a note when too few architectures
    have two ground-truth seeds."""
    from ..analysis.correlation import (
        HEADLINE,
        HEADLINE_RANKING,
        NOISE_CEILING,
        NOISE_MIN_ARCHS,
        RELIABILITY_CEILING,
        noise_headline,
        reliability_headline,
    )

    if corr is None or corr.empty:
        return "no correlations: none of the scored architectures has a ground truth in the benchmark"
    head = corr[corr["aggregate"] == HEADLINE]
    counts = status_counts(scores)
    blocks = []
    for gt_name, g in head.groupby("ground_truth", sort=False):
        val = g.set_index(["proxy", "statistic"])
        rows = []
        for proxy in dict.fromkeys(g["proxy"]):
            def get(stat, col="value", proxy=proxy, val=val):
                return float(val.loc[(proxy, stat), col]) if (proxy, stat) in val.index else math.nan

            lo, hi = get("kendall", "ci_low"), get("kendall", "ci_high")
            n = int(val.loc[(proxy, "kendall"), "n"]) if (proxy, "kendall") in val.index else 0
            rows.append({"proxy": proxy, "kendall": get("kendall"), "95% CI (tau)": _ci_text(lo, hi),
                         "spearman": get("spearman"), "pearson": get("pearson"),
                         HEADLINE_RANKING: get(HEADLINE_RANKING), "n": n,
                         "errors": int(counts.get(proxy, {}).get("error", 0)),
                         "dropped": int(counts.get(proxy, {}).get("nan", 0))})
        table = pd.DataFrame(rows).sort_values("kendall", ascending=False, na_position="last")
        nc = noise_headline(noise, gt_name)
        notes = []
        if len(nc):
            def nc_get(stat, col="value", nc=nc):
                return float(nc.loc[stat, col]) if stat in nc.index else math.nan

            n_nc = int(nc["n"].iloc[0])
            if n_nc >= NOISE_MIN_ARCHS:
                row = {"proxy": NOISE_CEILING, "kendall": nc_get("kendall"),
                       "95% CI (tau)": _ci_text(nc_get("kendall", "ci_low"), nc_get("kendall", "ci_high")),
                       "spearman": nc_get("spearman"), "pearson": math.nan, HEADLINE_RANKING: math.nan,
                       "n": n_nc, "errors": "", "dropped": ""}
                table = pd.concat([table, pd.DataFrame([row])], ignore_index=True)
                notes.append(f"noise ceiling: seed-to-seed agreement of the benchmark's {n_nc} architectures with "
                             ">= 2 ground-truth seeds (n), whichever architectures were scored")
            else:
                notes.append(f"noise ceiling: n too small ({n_nc} < {NOISE_MIN_ARCHS} architectures with >= 2 "
                             "ground-truth seeds in the benchmark); not shown")
        rel = reliability_headline(noise, gt_name)
        if rel is not None and math.isfinite(rel["icc"]):
            row = {"proxy": RELIABILITY_CEILING, "kendall": rel["kendall"], "95% CI (tau)": "",
                   "spearman": rel["spearman"], "pearson": math.nan, HEADLINE_RANKING: math.nan, "n": rel["n"],
                   "errors": "", "dropped": ""}
            table = pd.concat([table, pd.DataFrame([row])], ignore_index=True)
            notes.append(f"reliability of {gt_name}: {rel['text']} ({RELIABILITY_CEILING})")
            if rel["verdict"] == "unreliable":
                notes.insert(0, f"WARNING: {gt_name} does not repeat from seed to seed; the correlations above "
                                "cannot rank proxies on it")
        text = table.to_string(index=False, float_format=lambda v: f"{v:+.3f}", na_rep="nan")
        if table["n"].max() < 3:
            notes.append("fewer than 3 architectures with a ground truth: correlations are undefined")
        notes.append(f"{HEADLINE_RANKING}: nDCG over the proxy's top 10% (VKDNW, gain 2^acc - 1); errors / dropped: "
                     "failed / non-finite scores")
        blocks.append(f"ground truth: {gt_name}\n{text}" + "".join(f"\n({n})" for n in notes))
    return "\n\n".join(blocks)


def _ci_text(lo: float, hi: float) -> str:
    return f"[{lo:+.3f}, {hi:+.3f}]" if np.isfinite(lo) and np.isfinite(hi) else ""


def _write_report(run_dir: Path) -> str | None:
    """Write the report; returns a warning when it could not be written."""
    try:
        from ..analysis import write_report
    except ImportError as exc:
        return f"report not written: proxybench.analysis.write_report is not available ({exc})"
    write_report(run_dir)
    return None


# ---- the run ------------------------------------------------------------------------------------------------------
def run_eval(settings: EvalSettings, *, argv: list[str] | None = None) -> RunResult:
    """Score, store, correlate and write one run (see the module docstring). Raises ``ValueError`` /
    ``FileNotFoundError`` for bad settings before anything is scored."""
    from tqdm.auto import tqdm

    started = time.time()
    plan = make_plan(settings)
    for note in plan.warnings:
        log.warning(note)
    tmp = None
    if plan.out is None:
        tmp = tempfile.TemporaryDirectory(prefix="proxybench-run-")
        run_dir = Path(tmp.name)
    else:
        run_dir = plan.out
    vers = versions()
    try:
        with RunStore(run_dir, plan.identity, versions=vers, restart=settings.restart, command=argv) as store:
            for moved in store.moved_aside:
                note = f"--restart: the old store was moved aside to {moved}"
                plan.warnings.append(note)
                log.warning(note)
            for note in store.version_notes:
                plan.warnings.append(note)
                log.warning(note)
            resumed = store.resumed
            done = store.done()
            sel_archs, sel_seeds = {i for i, _ in plan.archs}, set(plan.seeds)
            outside = {k for k in done if k[0] not in sel_archs or k[1] not in sel_seeds}
            if outside:
                note = (f"the store holds {len(done)} (arch, seed) units, {len(outside)} of them outside this "
                        f"selection; scores.csv, the correlations and the report cover only the selected "
                        f"{len(plan.archs)} archs x {len(plan.seeds)} seed(s) (nothing stored is removed; give the "
                        "larger --archs/--seeds again to report everything)")
                plan.warnings.append(note)
                log.warning(note)
            tasks = pending_tasks(plan, done)
            n_units = len(plan.archs) * len(plan.seeds)
            if store.resumed:
                log.info("resuming %s: %d of %d (arch, seed) units already stored", run_dir,
                         n_units - len(tasks), n_units)
            log.info("%s: %d archs x %d seed(s) x %d proxies (%s), data %s at %dpx x %d ch, batch %d, %s",
                     plan.benchmark_name, len(plan.archs), len(plan.seeds), len(plan.proxies),
                     ", ".join(plan.proxies), plan.data["dataset"], plan.data["resolution"], plan.data["channels"],
                     plan.data["batch_size"], f"teacher {plan.teacher_info.get('description')}"
                     if plan.teacher is not None else "no teacher")
            workers = choose_workers(parse_workers(settings.workers), settings.scheduler, len(tasks), _cpus())
            if workers > _cpus():
                note = (f"--workers {workers} is more than the {_cpus()} CPU(s) available: capped at {_cpus()} "
                        "(more processes than cores only add memory and contention)")
                plan.warnings.append(note)
                log.warning(note)
                workers = _cpus()
            threads = settings.threads
            if threads is None and workers:
                threads = max(1, _cpus() // workers)
            t_score = time.perf_counter()
            n_new = 0
            oom_notes: list[str] = []
            exec_info = {"executor": "none (all stored)", "workers": 0}
            if tasks:
                job = make_job(plan, threads)
                executor = make_executor(workers, settings.scheduler)
                exec_info = executor.describe()
                bar = tqdm(total=len(tasks), desc=f"scoring {plan.benchmark_name}", unit="arch", file=sys.stderr,
                           disable=True if settings.quiet else None, dynamic_ncols=True, smoothing=0.05)
                try:
                    with executor:
                        for unit in executor.run(job, tasks):
                            store.add_unit(unit)
                            n_new += 1
                            bar.update(1)
                            per = ", ".join(f"{p} {s:.3f}s" + ("" if st == "ok" else f" [{st}]")
                                            for p, _, s, st, _, _ in unit.results)
                            log.debug("arch %d seed %d (%.2fs, build %.3fs): %s", unit.arch_index, unit.seed,
                                      unit.seconds, unit.build_seconds, per)
                            small = [(p, b) for p, *_, b in unit.results if b < plan.data["batch_size"]]
                            if small:
                                oom_notes.append(f"arch {unit.arch_index} seed {unit.seed}: out of memory at batch "
                                                 f"{plan.data['batch_size']}; scored "
                                                 + ", ".join(f"{p} on {b}" for p, b in small))
                except KeyboardInterrupt:
                    bar.close()
                    log.warning("interrupted: %d (arch, seed) units are stored in %s; run the same command again "
                                "to resume", store.n_units(), run_dir)
                    raise
                bar.close()
            score_seconds = time.perf_counter() - t_score
            scores = store.scores([i for i, _ in plan.archs], plan.proxies, plan.seeds)
            units = store.units()
    except BaseException:
        if tmp is not None:
            tmp.cleanup()
        raise
    scores = scores[SCORE_COLUMNS].reset_index(drop=True)
    if plan.ensembles:  # rank ensembles: proxies of their own, computed from the stored member scores
        from ..analysis.ensembles import add_ensembles

        scores = add_ensembles(scores, plan.ensembles, plan.ensemble_method)
    for note in oom_notes:
        plan.warnings.append(note)
        log.warning(note)

    # correlations with the benchmark's ground truth, on the selected architectures
    from ..analysis.correlation import benchmark_noise_ceiling, correlate, kd_vanilla_differences, noise_subset

    gt = plan.benchmark.ground_truth
    sel = {i for i, _ in plan.archs}
    keep = pd.Series(True, index=gt.index)
    if plan.ground_truths:  # --metric, by default the ground truths on the data of the batches
        pairs = pd.MultiIndex.from_tuples(plan.ground_truths)
        keep &= pd.MultiIndex.from_arrays([gt["dataset"].astype(str), gt["metric"].astype(str)]).isin(pairs)
    gt_sel = gt[keep & gt["arch_index"].isin(sel)].reset_index(drop=True)
    # the noise ceiling is the benchmark's: every architecture it trained with >= 2 seeds, scored here or not
    noise_gt = noise_subset(gt[keep].reset_index(drop=True))
    corr = kd_vs_vanilla = noise = None
    if len(gt_sel):
        ci = {"ci": settings.ci_resamples > 0, "n_resamples": max(settings.ci_resamples, 1)}
        corr = correlate(scores, gt_sel, **ci)
        kd_vs_vanilla = kd_vanilla_differences(scores, gt_sel, corr, n_resamples=ci["n_resamples"])
        if len(noise_gt):
            noise = benchmark_noise_ceiling(noise_gt, list(dict.fromkeys(corr["ground_truth"])), **ci)
    counts = status_counts(scores)
    n_err = sum(c["error"] for c in counts.values())
    if n_err:
        errs = first_errors(scores)
        for proxy, msg in errs.items():
            note = f"proxy {proxy} failed on {counts[proxy]['error']} of {sum(counts[proxy].values())} (arch, seed); " \
                   f"first error: {msg}"
            plan.warnings.append(note)
            log.warning(note)
    timing = timing_summary(scores)
    unit_sel = units[units["arch_index"].isin(sel) & units["seed"].isin(plan.seeds)]
    info = {
        "name": f"{plan.benchmark_name} ({len(plan.archs)} archs, {len(plan.proxies)} proxies)",
        "proxybench_version": vers["proxybench"],
        "versions": vers,
        "command": argv,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "benchmark": {"name": plan.benchmark_name, "path": str(plan.benchmark.path) if plan.benchmark.path else None,
                      "metadata": plan.benchmark.metadata, "archs": int(plan.benchmark.n_archs()),
                      "ground_truths": [f"{d}/{m}" for d, m in plan.benchmark.pairs()]},
        "config": {
            "identity": plan.identity,
            "selection": plan.selection,
            "execution": {**exec_info, "device": plan.device, "threads_per_worker": threads,
                          "formats": plan.formats, "out": str(plan.out) if plan.out else None,
                          "ci_resamples": settings.ci_resamples},
        },
        "seeds": plan.seeds,
        "archs": [{"arch_index": i, "arch": a} for i, a in plan.archs],
        "data": {k: v for k, v in plan.data.items()},
        "network": plan.network,
        "teacher": plan.teacher_info,
        "proxies": plan.proxies,
        "machine": machine_info(plan.device),
        "timing": {
            "wall_s": time.time() - started,
            "scoring_s_this_session": score_seconds,
            "units_total": len(plan.archs) * len(plan.seeds),
            "units_scored_this_session": n_new,
            "units_resumed": len(plan.archs) * len(plan.seeds) - len(tasks),
            "unit_mean_s": float(unit_sel["seconds"].mean()) if len(unit_sel) else None,
            "build_mean_s": float(unit_sel["build_seconds"].mean()) if len(unit_sel) else None,
            "per_proxy": timing,
        },
        "status_counts": counts,
        "errors": first_errors(scores),
        "warnings": plan.warnings,
        "resumed": bool(resumed),
    }
    if settings.quiet is False:
        lines = [f"  {p:<22} {t['mean_s'] * 1000:9.1f} ms/arch  total {t['total_s']:8.2f} s" for p, t in timing.items()]
        log.info("time per proxy (shared passes are charged to the first proxy using them):\n%s", "\n".join(lines))

    result_dir: Path | None = None
    if tmp is None:
        result_dir = run_dir
        write_tables(scores, run_dir, "scores", plan.formats)
        gt_fmt = list(dict.fromkeys(["csv", *plan.formats]))
        write_tables(gt_sel, run_dir, "ground_truth", gt_fmt)
        if corr is not None:
            write_tables(corr, run_dir, "correlations", gt_fmt)
        if noise is not None:
            write_tables(noise, run_dir, "noise_ceiling", gt_fmt)
        if len(noise_gt):
            write_tables(noise_gt, run_dir, "noise_ground_truth", gt_fmt)
        if kd_vs_vanilla is not None:
            write_tables(kd_vs_vanilla, run_dir, "kd_vs_vanilla", gt_fmt)
        info["timing"]["wall_s"] = time.time() - started
        write_json(run_dir / "run.json", info)
        if settings.report:
            note = _write_report(run_dir)
            if note:
                plan.warnings.append(note)
                log.warning(note)
                info["warnings"] = plan.warnings
                write_json(run_dir / "run.json", info)
    else:
        tmp.cleanup()
    return RunResult(scores=scores, correlations=corr, run_dir=result_dir, info=info, plan=plan,
                     warnings=list(plan.warnings), kd_vs_vanilla=kd_vs_vanilla, noise_ceiling=noise)
