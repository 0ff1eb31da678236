"""Wall time of ``proxybench eval``: the embedded default run, a 200-architecture run with the 12 standard
proxies, and the scaling from 1 to 2 worker processes.

    python perf/eval_speed.py                       # everything (the 200-arch case can take a while)
    python perf/eval_speed.py --archs 40            # a 40-arch sample, projected to 200
    python perf/eval_speed.py --skip-default --scaling-archs 20

The 200-arch case is NAS-Bench-201's CIFAR-10 setting (C=16, N=5, 32x32 inputs, batch 64) on real CIFAR-10 test
images and the NB201 accuracies of ../shared/data (skipped if absent). Every figure is the wall time of a full
``run_eval`` (plan, data, worker start-up, scoring, store, correlations); per-architecture figures divide the
scoring time by the architectures scored. Threads: each worker process uses ``cores / workers`` torch threads.
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
SHARED = ROOT / ".." / "shared" / "data"
STANDARD = "flops,params,synflow,grasp,fisher,grad_norm,l2_norm,plain,nwot,epe_nas,jacov,snip"


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def standin_benchmark(path: Path, n_archs: int) -> Path:
    """A timing stand-in with the default benchmark's shape (NB201 C=16, N=5; Fashion-MNIST sample at 16x16 in
    3 channels; an NB201 teacher) and MADE-UP accuracies: its correlations mean nothing, only its time does."""
    import numpy as np
    import pandas as pd

    from proxybench.benchmarks.groundtruth import GroundTruth
    from proxybench.benchmarks.nb201 import sample_indices

    rng = np.random.default_rng(0)
    idx = sample_indices(n_archs, seed=0, unique=True, exclude_zero=True)
    rows = [{"arch_index": i, "dataset": "fashion-mnist", "metric": m, "value": float(rng.uniform(60, 90))}
            for i in idx for m in ("kd_acc", "vanilla_acc")]
    teacher = "nb201:|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    meta = {"name": "timing-standin", "description": "timing stand-in with made-up accuracies",
            "data": {"dataset": "fashion-mnist", "resolution": 16, "channels": 3, "num_classes": 10},
            "network": {"C": 16, "N": 5}, "teacher": {"spec": teacher}}
    GroundTruth(pd.DataFrame(rows), meta).save(path)
    return path


def embedded_default(tmp: Path, standin_archs: int) -> None:
    from proxybench.benchmarks.groundtruth import list_benchmarks
    from proxybench.engine.config import DEFAULT_BENCHMARK

    print(f"\n== embedded default: proxybench eval ({DEFAULT_BENCHMARK}) ==")
    extra: list[str] = []
    if DEFAULT_BENCHMARK not in list_benchmarks():
        print(f"not installed in this checkout (registered: {', '.join(list_benchmarks()) or 'none'}); timing a "
              f"stand-in of the same shape instead: {standin_archs} archs, made-up accuracies, random-init teacher")
        extra = ["--benchmark", str(standin_benchmark(tmp / "standin.pbgt", standin_archs))]
    for workers in (0, cores()):
        out = tmp / f"default-w{workers}"
        cmd = [sys.executable, "-m", "proxybench.cli", "eval", *extra, "--quiet", "--out", str(out), "--workers",
               str(workers)]
        shown = " ".join(c if len(c) < 60 else "..." for c in cmd[2:])
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            print(f"{shown}: failed ({proc.returncode}): {proc.stderr[-1500:]}")
            continue
        info = json.loads((out / "run.json").read_text())
        t = info["timing"]
        scoring = t["scoring_s_this_session"]
        print(f"{shown}\n  wall {wall:.1f} s (process start, scoring, correlations, report); "
              f"{t['units_total']} (arch, seed) units, {len(info['proxies'])} proxies, scoring {scoring:.1f} s "
              f"({scoring / max(1, t['units_total']):.2f} s/arch); target < 300 s")
        slow = sorted(t["per_proxy"].items(), key=lambda kv: -kv[1]["mean_s"])[:6]
        print("  slowest proxies (mean s/arch): " + ", ".join(f"{p} {v['mean_s']:.3f}" for p, v in slow))


def nb201_cifar10() -> tuple[object, Path] | None:
    csv = SHARED / "nb201" / "nb201_accuracies.csv"
    npz = SHARED / "images" / "cifar10_test_1017.npz"
    if not csv.is_file() or not npz.is_file():
        print(f"real NB201 data not found under {SHARED}; skipped")
        return None
    from proxybench.benchmarks.groundtruth import from_csv

    gt = from_csv(csv, {"cifar10_val": "cifar10-valid/val_acc", "cifar10_test": "cifar10/test_acc"},
                  name="nb201-cifar10")
    gt.metadata["data"] = {"dataset": "cifar10", "resolution": 32, "channels": 3, "num_classes": 10}
    gt.metadata["network"] = {"C": 16, "N": 5}
    return gt, npz


def timed_run(gt, npz: Path, archs: int, workers: int, threads: int | None, out: Path, proxies: str = STANDARD):
    from proxybench.engine import EvalSettings, run_eval

    s = EvalSettings(benchmark=gt, proxies=proxies, archs=archs, arch_seed=0, batch_size=64, data=str(npz),
                     workers=workers, threads=threads, out=out, report=False, quiet=True, ci_resamples=0)
    t0 = time.perf_counter()
    res = run_eval(s)
    return time.perf_counter() - t0, res


def standard_200(tmp: Path, archs: int) -> None:
    print(f"\n== 12 standard proxies, NB201 CIFAR-10 (C=16, N=5, 32 px, batch 64), {archs} archs, "
          f"{cores()} workers x 1 thread ==")
    found = nb201_cifar10()
    if found is None:
        return
    gt, npz = found
    wall, res = timed_run(gt, npz, archs, cores(), 1, tmp / f"std-{archs}")
    t = res.info["timing"]
    per = t["scoring_s_this_session"] / archs
    print(f"wall {wall:.1f} s for {archs} archs ({per:.2f} s/arch incl. worker start-up)"
          + ("" if archs == 200 else f"; projected 200 archs: {per * 200:.0f} s"))
    slow = sorted(t["per_proxy"].items(), key=lambda kv: -kv[1]["mean_s"])
    print("mean s/arch per proxy (in a worker): " + ", ".join(f"{p} {v['mean_s']:.3f}" for p, v in slow))
    corr = res.correlations
    head = corr[(corr["aggregate"] == "score_mean") & (corr["statistic"] == "spearman")
                & (corr["ground_truth"] == "cifar10-valid/val_acc")]
    print("Spearman rho vs cifar10-valid/val_acc on these archs: "
          + ", ".join(f"{r.proxy} {r.value:+.2f}" for r in head.sort_values("value", ascending=False).itertuples()))


def scaling(tmp: Path, archs: int, proxies: str, with_threads: bool) -> None:
    print(f"\n== scaling: {archs} archs, proxies {proxies}, NB201 CIFAR-10 setting ==")
    found = nb201_cifar10()
    if found is None:
        return
    gt, npz = found
    rows = []
    configs = [("in-process, 1 thread", 0, 1), ("1 worker x 1 thread", 1, 1),
               (f"{cores()} workers x 1 thread", cores(), 1)]
    if with_threads:
        configs.insert(1, (f"in-process, {cores()} threads", 0, cores()))
    for label, workers, threads in configs:
        import torch

        old = torch.get_num_threads()
        if workers == 0:
            torch.set_num_threads(threads)
        try:
            wall, res = timed_run(gt, npz, archs, workers, threads if workers else None,
                                  tmp / f"scale-{workers}-{threads}", proxies=proxies)
        finally:
            torch.set_num_threads(old)
        rows.append((label, wall, res.info["timing"]["scoring_s_this_session"]))
    base = next(r[2] for r in rows if r[0].startswith("1 worker"))
    for label, wall, score_s in rows:
        print(f"{label:<26} wall {wall:7.1f} s  scoring {score_s:7.1f} s  ({score_s / archs:.2f} s/arch)  "
              f"speed-up vs 1 worker {base / score_s:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archs", type=int, default=200, help="archs of the standard-proxy run (default 200)")
    ap.add_argument("--scaling-archs", type=int, default=24, help="archs of the scaling runs (default 24)")
    ap.add_argument("--scaling-proxies", default=STANDARD, help="proxies of the scaling runs (default: the 12)")
    ap.add_argument("--with-threads", action="store_true",
                    help="also time one process with one torch thread per core (slow on a shared machine)")
    ap.add_argument("--skip-default", action="store_true")
    ap.add_argument("--standin-archs", type=int, default=160,
                    help="archs of the stand-in timed when the default benchmark is not installed (default 160)")
    ap.add_argument("--skip-standard", action="store_true")
    ap.add_argument("--skip-scaling", action="store_true")
    args = ap.parse_args()
    import platform

    import torch

    import proxybench

    print(f"proxybench {proxybench.__version__}, torch {torch.__version__}, python {platform.python_version()}, "
          f"{cores()} cores, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="proxybench-perf-") as d:
        tmp = Path(d)
        if not args.skip_default:
            embedded_default(tmp, args.standin_archs)
        if not args.skip_standard:
            standard_200(tmp, args.archs)
        if not args.skip_scaling:
            scaling(tmp, args.scaling_archs, args.scaling_proxies, args.with_threads)


if __name__ == "__main__":
    main()
