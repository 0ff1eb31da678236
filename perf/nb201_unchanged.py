"""Check that a code change leaves NB201's scores unchanged (not a test).

    OMP_NUM_THREADS=1 PYTHONPATH=CHECKOUT_A python perf/nb201_unchanged.py --write A
    OMP_NUM_THREADS=1 PYTHONPATH=CHECKOUT_B python perf/nb201_unchanged.py --write B
    python perf/nb201_unchanged.py --compare A B

``--write PREFIX`` scores every registered proxy with the code on ``PYTHONPATH`` through ``proxybench.evaluate`` in
two settings: the default KD benchmark (``nb201-kd-fmnist16-v2``, its trained ResNet-20 teacher, the bundled
Fashion-MNIST sample) and ``nb201-cifar10`` with a random-init ``resnet20`` teacher on CIFAR-10 test images
(``../shared/data/images/cifar10_test_1017.npz``), ``--archs`` archs each (sampled with arch seed 0), one seed.
``--compare`` matches the two runs' scores per (setting, proxy, arch, seed) and prints how many are bitwise equal,
the largest difference, and Kendall tau of each proxy against each setting's ground truth in both runs: equal
scores give equal taus, so NB201's figures cannot have moved.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
CIFAR10 = ROOT / ".." / "shared" / "data" / "images" / "cifar10_test_1017.npz"
SETTINGS = {"kd": {"benchmark": None}, "c10": {"benchmark": "nb201-cifar10", "teacher": "resnet20",
                                               "data": str(CIFAR10)}}


def write(prefix: str, archs: int) -> None:
    import torch

    import proxybench

    torch.set_num_threads(1)
    print(f"code: {proxybench.__file__}", file=sys.stderr)
    for tag, kw in SETTINGS.items():
        t0 = time.perf_counter()
        df = proxybench.evaluate(proxies="all", archs=archs, seeds=1, workers=0, quiet=True, **kw)
        df.to_csv(f"{prefix}_{tag}.csv", index=False)
        print(f"{tag}: {len(df)} scores in {time.perf_counter() - t0:.0f} s -> {prefix}_{tag}.csv", file=sys.stderr)


def compare(a: str, b: str) -> None:
    from scipy import stats

    from proxybench.benchmarks.groundtruth import load_benchmark

    for tag, kw in SETTINGS.items():
        x, y = pd.read_csv(f"{a}_{tag}.csv"), pd.read_csv(f"{b}_{tag}.csv")
        for df in (x, y):
            df["status"] = df["status"].fillna("nan")  # the status "nan" (a non-finite score) reads as missing
        keys = ["proxy", "arch_index", "seed"]
        m = x.merge(y, on=keys, suffixes=("_a", "_b"), how="outer", indicator=True)
        both = m[m["_merge"] == "both"]
        sa, sb = both["score_a"].to_numpy(float), both["score_b"].to_numpy(float)
        same = (sa == sb) | (np.isnan(sa) & np.isnan(sb))
        finite = np.isfinite(sa) & np.isfinite(sb)
        diff = float(np.max(np.abs(sa[finite] - sb[finite]))) if finite.any() else 0.0
        print(f"{tag}: {len(both)} (proxy, arch, seed) scores in both runs ({int((m['_merge'] != 'both').sum())} in "
              f"one only), {int(same.sum())} bitwise equal, largest difference {diff:.3g}; statuses equal: "
              f"{bool((both['status_a'] == both['status_b']).all())}")
        bench = load_benchmark(kw["benchmark"] or "nb201-kd-fmnist16-v2")
        metrics = ["kd_acc", "vanilla_acc"] if kw["benchmark"] is None else ["cifar10-valid/val_acc"]
        lines = []
        for metric in metrics:
            truth = bench.table(metric)
            for proxy, g in both.groupby("proxy"):
                t = truth.reindex(g["arch_index"]).to_numpy(float)
                ta = stats.kendalltau(g["score_a"], t, nan_policy="omit").statistic
                tb = stats.kendalltau(g["score_b"], t, nan_policy="omit").statistic
                lines.append(f"  {metric:<22} {proxy:<20} tau A {ta:+.4f}  B {tb:+.4f}"
                             + ("" if (ta == tb or (np.isnan(ta) and np.isnan(tb))) else "  DIFFERENT"))
        print("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write", metavar="PREFIX")
    ap.add_argument("--compare", nargs=2, metavar=("A", "B"))
    ap.add_argument("--archs", type=int, default=10)
    args = ap.parse_args(argv)
    if args.write:
        write(args.write, args.archs)
    if args.compare:
        compare(*args.compare)
    if not args.write and not args.compare:
        ap.error("give --write PREFIX and/or --compare A B")
    return 0


if __name__ == "__main__":
    sys.exit(main())
