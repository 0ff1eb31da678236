"""Cost and value of each proxy of a newcomer's first ``proxybench eval`` (the embedded default benchmark), and the
wall time of that run.

    python perf/default_run.py                          # every stage; text to perf/results/default_run.txt
    python perf/default_run.py --stages default         # re-time only the full default run
    python perf/default_run.py --archs-alone 10         # fewer archs for the one-proxy-alone timings

Stages (each stage's figures are kept in ``perf/results/default_run.json``, and the text report is rebuilt from
everything measured so far, so a stage can be re-run alone):

``alone``       each candidate (the default group before this measurement and a few cheap strong ones) scored
                alone, in this process with one torch thread, on ``--archs-alone`` archs of the default benchmark:
                its full cost per arch (network build, its own passes, the teacher's features when it needs them);
``group``       all candidates scored together on the same archs: the time charged to each (shared passes count
                for the first proxy using them) and the cost of the whole unit;
``serial``      the CPU time of the parts of that run that only the main process does, on made-up scores of the
                default group: the plan (torch import, data, teacher, batches), the correlations with 1000-resample
                bootstrap CIs, the KD-minus-vanilla comparisons, the noise ceiling, the report and its figures;
``default``     ``proxybench eval`` with no proxy argument, as a newcomer runs it (a subprocess, wall time from
                start to exit: start-up, plan, scoring, correlations, report and figures).

The value of a proxy is its Kendall tau against kd_acc and vanilla_acc on the same benchmark and teacher (v2: 200
archs, 3 seeds), read from ``perf/results/validate_kd_proxies_v2.txt``; value per second is the larger of the
two |tau| divided by the cost alone (s/arch). The machine load (``/proc/loadavg``) is printed with every stage:
background jobs inflate absolute timings.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "perf" / "results"
OLD_DEFAULT = ("diswot,diswot_relation,diswot_semantic,flops,grad_norm,jacov,kd,meco,nwot,params,pkt,rkd,snip,"
               "synflow,zico")
"""The default group before this measurement (proxybench 0.1.0)."""
CANDIDATES = OLD_DEFAULT + ",linear_regions,aznas_trainability"
VALIDATION = RESULTS / "validate_kd_proxies_v2.txt"


def load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def taus() -> dict[str, tuple[float, float]]:
    """proxy -> (tau kd_acc, tau vanilla_acc) from the validation of the KD-aware proxies."""
    import re

    row = re.compile(r"^\s*(\w+)\s+(?:True|False)\s+([-+]?\d+\.\d+) \[[^]]*\]\s+([-+]?\d+\.\d+) \[")
    out = {}
    for line in VALIDATION.read_text().splitlines():
        m = row.match(line)
        if m:
            out[m.group(1)] = (float(m.group(2)), float(m.group(3)))
    return out


def _units(proxies: str, archs: int):
    """The job and (arch, seed 0) tasks of the default benchmark with ``proxies``, scored in this process."""
    from proxybench.engine import EvalSettings, make_plan
    from proxybench.engine.runner import make_job

    plan = make_plan(EvalSettings(proxies=proxies, archs=archs, workers=0, out=None, report=False, quiet=True))
    return make_job(plan, threads=1), plan.archs


def _time_units(job, archs, proxies: tuple[str, ...]) -> tuple[float, float, dict[str, float]]:
    """(CPU s, wall s, wall s charged per proxy) per arch of scoring ``proxies`` together on each arch."""
    from proxybench.engine import Task, score_unit

    cpu = wall = 0.0
    charged = dict.fromkeys(proxies, 0.0)
    for idx, arch in archs:
        c0, w0 = time.process_time(), time.perf_counter()
        unit = score_unit(job, Task(idx, arch, 0, proxies))
        cpu += time.process_time() - c0
        wall += time.perf_counter() - w0
        for p, _, secs, *_ in unit.results:
            charged[p] += secs
    n = len(archs)
    return cpu / n, wall / n, {p: v / n for p, v in charged.items()}


def stage_alone(proxies: str, archs: int) -> dict:
    """Each proxy alone, in this process with one thread: CPU and wall time per arch (network build, the proxy
    and the passes it needs). One untimed arch first warms the teacher's cached features, as in a real run."""
    import torch

    torch.set_num_threads(1)
    job, chosen = _units(proxies, archs + 1)
    warm, timed = chosen[:1], chosen[1:]
    out = {"archs": len(timed), "load_before": load(), "cpu_ms": {}, "wall_ms": {}}
    for p in proxies.split(","):
        _time_units(job, warm, (p,))
        cpu, wall, _ = _time_units(job, timed, (p,))
        out["cpu_ms"][p], out["wall_ms"][p] = cpu * 1000, wall * 1000
        print(f"  alone {p:<19} CPU {cpu * 1000:8.1f} ms/arch, wall {wall * 1000:8.1f}", flush=True)
    out["load_after"] = load()
    return out


def stage_group(proxies: str, archs: int) -> dict:
    """Every candidate together on the same archs, in this process: CPU per arch and wall charged per proxy."""
    import torch

    torch.set_num_threads(1)
    job, chosen = _units(proxies, archs + 1)
    names = tuple(proxies.split(","))
    load_before = load()
    _time_units(job, chosen[:1], names)
    cpu, wall, charged = _time_units(job, chosen[1:], names)
    return {"archs": archs, "load_before": load_before, "load_after": load(), "cpu_ms": cpu * 1000,
            "wall_ms": wall * 1000, "charged_ms": {p: v * 1000 for p, v in charged.items()}}


def stage_serial(tmp: Path) -> dict:
    """CPU seconds of the one-process parts of the default run (see the module docstring)."""
    import numpy as np
    import pandas as pd

    from proxybench.analysis import write_report
    from proxybench.analysis.correlation import correlate, kd_vanilla_differences, noise_ceiling
    from proxybench.engine import EvalSettings, make_plan
    from proxybench.io import write_tables

    out: dict[str, float] = {}
    t0 = time.process_time()
    plan = make_plan(EvalSettings(out=None, workers=0))
    out["plan"] = time.process_time() - t0
    gt = plan.benchmark.ground_truth
    rng = np.random.default_rng(0)
    scores = pd.DataFrame([{"arch_index": i, "arch": a, "proxy": p, "seed": 0, "score": float(rng.normal()),
                            "seconds": 0.1, "status": "ok", "error": ""} for i, a in plan.archs for p in plan.proxies])
    t0 = time.process_time()
    corr = correlate(scores, gt, ci=True, n_resamples=1000)
    out["correlations"] = time.process_time() - t0
    t0 = time.process_time()
    kd = kd_vanilla_differences(scores, gt, corr, n_resamples=1000)
    out["kd_vs_vanilla"] = time.process_time() - t0
    t0 = time.process_time()
    nc = noise_ceiling(gt, ci=True, n_resamples=1000)
    out["noise_ceiling"] = time.process_time() - t0
    run = tmp / "serial"
    for df, name in ((scores, "scores"), (gt, "ground_truth"), (corr, "correlations"), (nc, "noise_ceiling"),
                     (kd, "kd_vs_vanilla")):
        write_tables(df, run, name, ["csv"])
    t0 = time.process_time()
    write_report(run)
    out["report"] = time.process_time() - t0
    return {"cpu_s": out, "load": load()}


def stage_default(tmp: Path) -> dict:
    """``proxybench eval`` with no proxy argument, as a subprocess: wall time, and the proxies it scored."""
    out = tmp / "default"
    cmd = [sys.executable, "-m", "proxybench.cli", "eval", "--quiet", "--out", str(out)]
    import resource

    load_before = load()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"proxybench eval failed ({proc.returncode}): {proc.stderr[-2000:]}")
    info = json.loads((out / "run.json").read_text())
    t = info["timing"]
    return {"wall_s": wall, "cpu_s": cpu, "scoring_s": t["scoring_s_this_session"], "proxies": info["proxies"],
            "archs": t["units_total"], "workers": info["config"]["execution"]["workers"],
            "load_before": load_before, "load_after": load(),
            "charged_ms": {p: v["mean_s"] * 1000 for p, v in t["per_proxy"].items()}}


def report(m: dict) -> str:
    import proxybench
    from proxybench.engine.settings import DEFAULT_BENCHMARK

    n_archs = proxybench.load_benchmark(DEFAULT_BENCHMARK).n_archs()
    lines = [f"proxybench {proxybench.__version__}, {cores()} cores; embedded default benchmark {DEFAULT_BENCHMARK} "
             f"({n_archs} archs, one seed, batch 64 of 16x16 Fashion-MNIST in 3 channels, trained ResNet-20 teacher)"]
    a, g, tau = m.get("alone"), m.get("group"), taus()
    if a:
        lines.append(f"\n== per proxy alone, {a['archs']} archs, one process, one thread (load {a['load_before']} "
                     f"-> {a['load_after']}); CPU ms/arch is robust to the load, wall ms/arch is not; network "
                     f"build included (params, flops alone are about the build); tau from {VALIDATION.name} ==")
        lines.append(f"{'proxy':<19} {'tau kd_acc':>10} {'tau vanilla':>11} {'CPU ms/arch':>12} "
                     f"{'wall ms/arch':>13} {'max|tau| per CPU s':>19}")
        rows = []
        for p, cost in a["cpu_ms"].items():
            tk, tv = tau.get(p, (float("nan"), float("nan")))
            rows.append((max(abs(tk), abs(tv)) / (cost / 1000), p, tk, tv, cost, a["wall_ms"][p]))
        for vps, p, tk, tv, cost, wall in sorted(rows, reverse=True):
            lines.append(f"{p:<19} {tk:>+10.3f} {tv:>+11.3f} {cost:>12.1f} {wall:>13.1f} {vps:>19.2f}")
    if g:
        per = sorted(g["charged_ms"].items(), key=lambda kv: -kv[1])
        lines.append(f"\nall {len(g['charged_ms'])} together on {g['archs']} archs (load {g['load_before']} -> "
                     f"{g['load_after']}): {g['cpu_ms']:.0f} CPU ms per arch ({g['wall_ms']:.0f} wall); wall ms "
                     "charged per proxy (shared passes to the first user): "
                     + ", ".join(f"{p} {v:.0f}" for p, v in per))
    sr = m.get("serial")
    if sr:
        parts = sr["cpu_s"]
        lines.append(f"\none-process parts of the default run (load {sr['load']}): {sum(parts.values()):.1f} CPU s = "
                     + ", ".join(f"{k} {v:.1f}" for k, v in parts.items()))
    d = m.get("default")
    if d:
        lines.append(f"\n== 'proxybench eval' (no arguments), {d['archs']} archs x {len(d['proxies'])} proxies, "
                     f"{d['workers']} workers; load {d['load_before']} -> {d['load_after']} ==")
        lines.append(f"proxies: {', '.join(d['proxies'])}")
        lines.append(f"wall {d['wall_s']:.1f} s (process start to exit), scoring {d['scoring_s']:.1f} s; CPU "
                     f"{d['cpu_s']:.1f} s in all processes (on an idle machine with {cores()} cores, wall is about "
                     f"CPU / {cores()} plus the one-process parts)")
        per = sorted(d["charged_ms"].items(), key=lambda kv: -kv[1])
        lines.append("wall ms/arch charged per proxy (in a worker): " + ", ".join(f"{p} {v:.0f}" for p, v in per)
                     + f"; total {sum(d['charged_ms'].values()):.0f}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stages", default="alone,group,serial,default",
                    help="comma-separated: alone, group, serial, default")
    ap.add_argument("--archs-alone", type=int, default=10,
                    help="archs of the 'alone' and 'group' stages (default 10)")
    ap.add_argument("--json", type=Path, default=RESULTS / "default_run.json")
    ap.add_argument("--out", type=Path, default=RESULTS / "default_run.txt")
    args = ap.parse_args(argv)
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    bad = [s for s in stages if s not in ("alone", "group", "serial", "default")]
    if bad:
        ap.error(f"unknown stage(s) {bad}; valid: alone, group, serial, default")
    measured = json.loads(args.json.read_text()) if args.json.is_file() else {}
    with tempfile.TemporaryDirectory(prefix="proxybench-default-run-") as tmp:
        for stage in stages:
            print(f"stage {stage} (load {load()})", flush=True)
            if stage == "group":
                measured["group"] = stage_group(CANDIDATES, args.archs_alone)
            elif stage == "alone":
                measured["alone"] = stage_alone(CANDIDATES, args.archs_alone)
            elif stage == "serial":
                measured["serial"] = stage_serial(Path(tmp))
            else:
                measured["default"] = stage_default(Path(tmp))
            measured.setdefault("measured_at", {})[stage] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
            args.json.write_text(json.dumps(measured, indent=1))
    text = report(measured)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
