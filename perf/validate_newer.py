"""Validate the newer zero-cost proxies on real data: Spearman rho against NB201 accuracy, and time per arch.

Scores ``ntk_cond``, ``linear_regions``, ``zico``, ``meco``, ``swap`` and the four AZ-NAS components on
``--n`` NB201 architectures (``proxybench.nb201.sample_indices(n, seed)``, C=16, N=5, 10 or 100 classes, PyTorch's
default init from ``--seed``) with real test images from ``../shared/data/images`` (batch 64 at 32x32; ZiCo's
second batch is the next 64 images), then prints Spearman rho of each proxy with the validation accuracy of
NAS-Bench-Suite-Zero (``cifar10_val`` / ``cifar100_val``), the TE-NAS rank sum, the AZ-NAS rank aggregation and
the median seconds per architecture of each proxy on this CPU.

Scores go to ``--out`` (CSV, one row per arch and proxy) as they are computed; a rerun with the same file skips
what is done, so a long run can be stopped and resumed.

    OMP_NUM_THREADS=1 python perf/validate_newer.py --n 200 --out /tmp/validate_newer.csv
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.stats import rankdata, spearmanr

from proxybench.nb201 import build_network, index_to_arch, sample_indices
from proxybench.proxies import make_context, score_many
from proxybench.proxies.aznas import COMPONENTS, aznas_aggregate

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
PROXIES = ["ntk_cond", "linear_regions", "zico", "meco", "swap", *COMPONENTS]
# The pass shared by the first three AZ-NAS components is timed with whichever of them runs first.
STATS = {"cifar10": ((125.3, 123.0, 113.9), (63.0, 62.1, 66.7)),
         "cifar100": ((129.3, 124.1, 112.4), (68.2, 65.4, 70.4))}
FILES = {"cifar10": ("cifar10_test_1017.npz", "labels", 10), "cifar100": ("cifar100_test_916.npz", "fine_labels", 100)}
# Published Spearman rho on NB201 (all or most archs) for reference; see the module docstrings for sources.
PUBLISHED = {"zico": "~0.80 (ZiCo paper, CIFAR-10)", "meco": "0.894 (MeCo paper, CIFAR-10)",
             "swap": "regularized SWAP 0.90 (SWAP paper abstract, CIFAR-100)",
             "AZ-NAS": "0.913 (AZ-NAS notebook, CIFAR-10 test acc, all 15,625)"}


def load_batches(dataset: str, batch: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    name, label_key, _ = FILES[dataset]
    z = np.load(DATA / "images" / name)
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) / 255 for v in STATS[dataset])
    x = (torch.from_numpy(z["images_nchw"][: 2 * batch]).float() / 255 - mean) / std
    y = torch.from_numpy(z[label_key][: 2 * batch]).long()
    return [(x[:batch], y[:batch]), (x[batch:], y[batch:])]


def read_done(path: Path | None) -> pd.DataFrame:
    if path is None or not path.exists():
        return pd.DataFrame(columns=["arch_index", "proxy", "score", "seconds", "status", "error"])
    return pd.read_csv(path)


def run(args: argparse.Namespace) -> pd.DataFrame:
    torch.set_num_threads(args.threads)
    batches = load_batches(args.dataset, args.batch_size)
    classes = FILES[args.dataset][2]
    out = Path(args.out) if args.out else None
    done = read_done(out)
    have = set(zip(done["arch_index"].astype(int), done["proxy"]))
    rows = done.to_dict("records")
    writer_file = open(out, "a", newline="") if out else None  # closed in the finally below
    writer = None
    if writer_file is not None:
        writer = csv.DictWriter(writer_file, fieldnames=["arch_index", "proxy", "score", "seconds", "status",
                                                         "error"])
        if out.stat().st_size == 0:
            writer.writeheader()
    indices = sample_indices(args.n, seed=args.sample_seed)
    t_start = time.perf_counter()
    try:
        for k, idx in enumerate(indices):
            todo = [p for p in args.proxies if (idx, p) not in have]
            if not todo:
                continue
            net = build_network(index_to_arch(idx), num_classes=classes, seed=args.seed)
            ctx = make_context(net, batches[0][0], batches[0][1], batches=batches, seed=args.seed)
            for r in score_many(todo, ctx):
                row = {"arch_index": idx, "proxy": r.proxy, "score": r.score, "seconds": r.seconds,
                       "status": r.status, "error": r.error}
                rows.append(row)
                if writer is not None:
                    writer.writerow(row)
            if writer_file is not None:
                writer_file.flush()
            if args.verbose:
                print(f"[{k + 1}/{len(indices)}] arch {idx} done, {time.perf_counter() - t_start:.0f} s elapsed",
                      file=sys.stderr, flush=True)
    finally:
        if writer_file is not None:
            writer_file.close()
    df = pd.DataFrame(rows)
    df["arch_index"] = df["arch_index"].astype(int)
    return df[df["arch_index"].isin(indices) & df["proxy"].isin(args.proxies)]


def spearman(x: np.ndarray, y: np.ndarray) -> tuple[float, int, int]:
    """rho over pairs where the score is not NaN (+-inf kept: they rank at the ends); (rho, n, n_dropped)."""
    keep = ~np.isnan(x)
    if keep.sum() < 3:
        return math.nan, int(keep.sum()), int((~keep).sum())
    return float(spearmanr(rankdata(x[keep]), y[keep])[0]), int(keep.sum()), int((~keep).sum())


def report(df: pd.DataFrame, args: argparse.Namespace) -> None:
    acc = pd.read_csv(DATA / "nb201" / "nb201_accuracies.csv")[f"{args.dataset}_val"]
    wide = df.pivot(index="arch_index", columns="proxy", values="score")
    secs = df.pivot(index="arch_index", columns="proxy", values="seconds")
    y = acc.loc[wide.index].to_numpy()
    print(f"NB201, {args.dataset}, {len(wide)} archs (sample_indices({args.n}, seed={args.sample_seed})), "
          f"C=16 N=5, batch {args.batch_size}, weights seed {args.seed}; rho vs {args.dataset}_val")
    print(f"{'proxy':24s} {'rho':>7s} {'n':>5s} {'NaN':>4s} {'median s/arch':>14s}  published")
    for p in args.proxies:
        if p not in wide:
            continue
        rho, n, dropped = spearman(wide[p].to_numpy(dtype=float), y)
        pub = PUBLISHED.get(p, "")
        print(f"{p:24s} {rho:7.3f} {n:5d} {dropped:4d} {np.median(secs[p]):14.3f}  {pub}")
    if {"ntk_cond", "linear_regions"} <= set(wide):
        # TE-NAS ranks by the sum of the two ranks (prune_tenas.py); ntk_cond is already negated here.
        sub = wide[["ntk_cond", "linear_regions"]].fillna(-np.inf).to_numpy(dtype=float)
        te = rankdata(sub[:, 0]) + rankdata(sub[:, 1])
        rho, n, _ = spearman(te, y)
        print(f"{'TE-NAS rank sum':24s} {rho:7.3f} {n:5d}")
    if set(COMPONENTS) <= set(wide):
        # The authors' code reports -inf for a NaN component (a constant feature map); do the same, then aggregate.
        az = aznas_aggregate({c: wide[c].fillna(-np.inf).to_numpy(dtype=float) for c in COMPONENTS})
        rho, n, _ = spearman(az, y)
        print(f"{'AZ-NAS (rank aggregate)':24s} {rho:7.3f} {n:5d} {'':4s} "
              f"{np.median(secs[list(COMPONENTS)].sum(axis=1)):14.3f}  {PUBLISHED['AZ-NAS']}")
    errors = df[df["status"] == "error"]
    if len(errors):
        print(f"{len(errors)} errors, e.g. {errors.iloc[0]['proxy']}: {errors.iloc[0]['error']}")
    total = secs[[p for p in args.proxies if p in secs]].sum(axis=1)
    print(f"all {len(args.proxies)} together: median {np.median(total):.2f} s/arch (torch threads: {args.threads}; "
          "times are wall clock on a shared CPU)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="number of sampled architectures (default 200)")
    ap.add_argument("--sample-seed", type=int, default=0, help="seed of sample_indices (default 0)")
    ap.add_argument("--seed", type=int, default=0, help="weight and proxy seed (default 0)")
    ap.add_argument("--dataset", choices=sorted(FILES), default="cifar10")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--proxies", default=",".join(PROXIES), help="comma-separated (default: all newer ones)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--out", default=None, help="CSV of scores, appended to and resumed from")
    ap.add_argument("-v", "--verbose", action="store_true", help="progress on stderr")
    args = ap.parse_args(argv)
    args.proxies = [p.strip() for p in args.proxies.split(",") if p.strip()]
    unknown = sorted(set(args.proxies) - set(PROXIES))
    if unknown:
        raise SystemExit(f"unknown proxies {unknown}; valid: {', '.join(PROXIES)}")
    if not (DATA / "images").is_dir():
        raise SystemExit(f"data not found at {DATA}")
    report(run(args), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
