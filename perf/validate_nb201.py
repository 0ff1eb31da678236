"""Validate the 13 NAS-Bench-Suite-Zero proxies against NB201 accuracies on real CIFAR images.

Scores every proxy on ``--archs`` NB201 cells (``proxybench.nb201.sample_indices(n, seed=--arch-seed)``;
standard network C=16, N=5, PyTorch default init seeded with the official index + ``--init-seed``) with one real batch
(``--batch-size`` images drawn with ``--data-seed`` from ../shared/data/images, normalized with the CIFAR
mean/std), correlates each proxy with the NB201 validation accuracy (``cifar10_val`` / ``cifar100_val`` of
../shared/data/nb201/nb201_accuracies.csv, the columns NAS-Bench-Suite-Zero uses) by Spearman's rho
(scipy.stats.spearmanr), and prints rho next to the published figure of DESIGN.md (NAS-Bench-Suite-Zero,
CIFAR-10; DESIGN.md gives no CIFAR-100 figures, so CIFAR-100 rows are compared with the CIFAR-10 ones for
orientation only).

Non-finite scores are ranked lowest, as NASLib does (it replaces them with -1e8); their count is printed.

Examples::

    nohup python perf/validate_nb201.py --archs 200 --dataset both --csv /tmp/nb201_scores.csv \\
        > /tmp/validate_nb201.txt 2>&1 &
    python perf/validate_nb201.py --from-csv /tmp/nb201_scores.csv      # correlations only, no scoring
    python perf/validate_nb201.py --archs 200 --csv /tmp/nb201_scores.csv --resume   # finish an interrupted run
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from proxybench import nb201
from proxybench.proxies import make_context, score_many

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
PROXIES = ("nwot", "jacov", "synflow", "params", "l2_norm", "flops", "epe_nas", "snip", "grad_norm", "grasp",
           "fisher", "zen", "plain")
PUBLISHED_C10 = {"nwot": .79, "jacov": .77, "synflow": .74, "params": .74, "l2_norm": .73, "flops": .71,
                 "epe_nas": .67, "snip": .61, "grad_norm": .61, "grasp": .54, "fisher": .51, "zen": .31,
                 "plain": -.26}
# Abdelfattah et al., Zero-Cost Proxies for Lightweight NAS (ICLR 2021), Table 1, NB201 CIFAR-100, all 15,625 cells
# (their code correlates with the NB201 test accuracy of the 200-epoch runs); the other proxies have no published
# CIFAR-100 figure in a table.
PUBLISHED_C100 = {"grad_norm": .64, "snip": .63, "grasp": .54, "fisher": .39, "synflow": .76, "jacov": .71,
                  "flops": .72, "params": .72}
TOLERANCE = 0.07
MEAN = np.array([125.3, 123.0, 113.9]) / 255
STD = np.array([63.0, 62.1, 66.7]) / 255
DATASETS = {
    "cifar10": ("cifar10_test_1017.npz", "labels", 10, "cifar10_val"),
    "cifar100": ("cifar100_test_916.npz", "fine_labels", 100, "cifar100_val"),
}


def load_batch(dataset: str, batch_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch_size`` real test images drawn without replacement with ``seed``, CIFAR-normalized."""
    fname, label_key, _, _ = DATASETS[dataset]
    path = DATA / "images" / fname
    if not path.exists():
        raise FileNotFoundError(f"real images {path} are absent (see ../shared/data/README.md)")
    with np.load(path) as z:
        images, labels = z["images_nchw"], z[label_key]
    if not 1 <= batch_size <= len(images):
        raise ValueError(f"--batch-size must be in 1..{len(images)}, got {batch_size}")
    idx = np.random.default_rng(seed).choice(len(images), size=batch_size, replace=False)
    x = (images[idx].astype(np.float64) / 255 - MEAN[:, None, None]) / STD[:, None, None]
    return torch.from_numpy(x.astype(np.float32)), torch.from_numpy(labels[idx].astype(np.int64))


def augment(x: torch.Tensor, seed: int, pad: int = 4) -> torch.Tensor:
    """NASLib's training transform on a normalized batch: a random crop of the image zero-padded by ``pad`` pixels
    (padding is black before normalization) and a horizontal flip with probability 1/2, drawn with ``seed``."""
    g = torch.Generator().manual_seed(seed)
    black = torch.from_numpy((-MEAN / STD).astype(np.float32))[:, None, None]
    b, c, h, w = x.shape
    padded = black.expand(c, h + 2 * pad, w + 2 * pad).repeat(b, 1, 1, 1)
    padded[:, :, pad:pad + h, pad:pad + w] = x
    out = torch.empty_like(x)
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=g)
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=g)
    flip = torch.rand(b, generator=g) < 0.5
    for i in range(b):
        crop = padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w]
        out[i] = crop.flip(-1) if flip[i] else crop
    return out


def load_accuracies(column: str) -> np.ndarray:
    path = DATA / "nb201" / "nb201_accuracies.csv"
    if not path.exists():
        raise FileNotFoundError(f"accuracy table {path} is absent (see ../shared/data/README.md)")
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return np.array([float(r[column]) for r in rows])


def read_scores(path) -> dict[str, dict[str, dict[int, float]]]:
    """dataset -> proxy -> arch index -> score, from a CSV written by ``--csv``."""
    data: dict[str, dict[str, dict[int, float]]] = {}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            data.setdefault(row["dataset"], {}).setdefault(row["proxy"], {})[int(row["arch_index"])] = \
                float(row["score"])
    return data


def score_archs(dataset: str, indices: list[int], proxies, args, writer=None, done=None,
                flush=None) -> dict[str, list[float]]:
    """Scores of ``proxies`` on ``indices`` (in order); ``done`` (proxy -> index -> score) is reused, not rescored."""
    _, _, num_classes, _ = DATASETS[dataset]
    x, y = load_batch(dataset, args.batch_size, args.data_seed)
    fresh_batches = getattr(args, "batch_per_arch", False)
    scores: dict[str, list[float]] = {p: [] for p in proxies}
    done = done or {}
    t_start, scored = time.perf_counter(), 0
    for k, idx in enumerate(indices, start=1):
        if all(idx in done.get(p, {}) for p in proxies):
            for p in proxies:
                scores[p].append(done[p][idx])
            continue
        scored += 1
        arch = nb201.index_to_arch(idx)
        model = nb201.build_network(arch, C=args.C, N=args.N, num_classes=num_classes, seed=idx + args.init_seed)
        if fresh_batches:  # a new random batch for every arch, as NASLib's shuffled loader gives
            x, y = load_batch(dataset, args.batch_size, args.data_seed * 100_003 + idx)
        if getattr(args, "augment", False):
            x_in = augment(x, args.data_seed * 100_003 + idx + 1)
        else:
            x_in = x
        ctx = make_context(model, x_in, y, seed=args.seed, arch=arch)
        for r in score_many(proxies, ctx):
            scores[r.proxy].append(r.score)
            if r.status == "error":
                print(f"  {dataset} arch {idx} {r.proxy}: {r.error}", flush=True)
            if writer is not None:
                writer.writerow([dataset, idx, arch, r.proxy, repr(r.score), f"{r.seconds:.4f}", r.status])
        if flush is not None:
            flush()
        if k % 10 == 0 or k == len(indices):
            el = time.perf_counter() - t_start
            print(f"  {dataset}: {k}/{len(indices)} archs ({scored} scored in this run), {el:.0f} s, "
                  f"{el / max(scored, 1):.2f} s/arch", flush=True)
    return scores


def rank_ready(values) -> tuple[np.ndarray, int]:
    """Non-finite scores replaced by a value below every finite one (NASLib's -1e8 convention)."""
    v = np.asarray(values, dtype=np.float64)
    bad = ~np.isfinite(v)
    if bad.any():
        low = np.min(v[~bad]) if (~bad).any() else 0.0
        v = v.copy()
        v[bad] = low - 1.0 - abs(low)
    return v, int(bad.sum())


def report(dataset: str, indices, scores: dict[str, list[float]]) -> list[tuple]:
    acc = load_accuracies(DATASETS[dataset][3])[np.asarray(indices)]
    published = PUBLISHED_C10 if dataset == "cifar10" else PUBLISHED_C100
    ref = "published C-10" if dataset == "cifar10" else "published C-100*"
    print(f"\n{dataset}: Spearman rho vs {DATASETS[dataset][3]} on {len(indices)} archs")
    print(f"{'proxy':<10} {'rho':>7} {ref:>15} {'diff':>7}  {'within':>6}  non-finite")
    rows = []
    for p, vals in scores.items():
        v, bad = rank_ready(vals)
        rho = float(spearmanr(v, acc).statistic)
        pub = published.get(p, math.nan)
        diff = rho - pub
        ok = "-" if math.isnan(pub) else "yes" if abs(diff) <= TOLERANCE else "NO"
        print(f"{p:<10} {rho:>7.3f} {pub:>15.2f} {diff:>+7.3f}  {ok:>6}  {bad}")
        rows.append((dataset, p, rho, pub, diff, bad))
    if dataset != "cifar10":
        print("* Abdelfattah et al. (ICLR 2021) Table 1, all 15,625 cells, vs the 200-epoch test accuracy; no "
              "published CIFAR-100 table for the other proxies.")
    return rows


def from_csv(paths: list[str]) -> int:
    """Correlate the scores of each CSV; with several CSVs (runs with other seeds or batches), also the mean,
    standard deviation and range of rho over the runs, per data set and proxy."""
    table: dict[tuple[str, str], list[float]] = {}
    for path in paths:
        print(f"== {path}")
        for dataset, per_proxy in read_scores(path).items():
            indices = sorted(set.intersection(*(set(d) for d in per_proxy.values())))
            for d, p, rho, *_ in report(dataset, indices, {p: [d[i] for i in indices] for p, d in per_proxy.items()}):
                table.setdefault((d, p), []).append(rho)
    if len(paths) > 1:
        print(f"\nrho over the {len(paths)} runs (proxies present in every run)")
        print(f"{'dataset':<9} {'proxy':<10} {'mean':>7} {'sd':>6} {'min':>7} {'max':>7} {'published':>9}  within")
        for (d, p), rhos in sorted(table.items()):
            if len(rhos) < len(paths):
                continue
            pub = (PUBLISHED_C10 if d == "cifar10" else PUBLISHED_C100).get(p, math.nan)
            mean = float(np.mean(rhos))
            ok = "-" if math.isnan(pub) else "yes" if abs(mean - pub) <= TOLERANCE else "NO"
            print(f"{d:<9} {p:<10} {mean:>7.3f} {np.std(rhos, ddof=1):>6.3f} {min(rhos):>7.3f} {max(rhos):>7.3f} "
                  f"{pub:>9.2f}  {ok}")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--archs", type=int, default=200, help="number of NB201 cells to sample (default 200)")
    ap.add_argument("--dataset", default="cifar10", choices=("cifar10", "cifar100", "both"))
    ap.add_argument("--proxies", default=",".join(PROXIES), help="comma-separated proxy names")
    ap.add_argument("--arch-seed", type=int, default=0, help="seed of sample_indices (default 0)")
    ap.add_argument("--data-seed", type=int, default=0, help="seed drawing the image batch (default 0)")
    ap.add_argument("--seed", type=int, default=0, help="proxy seed (random draws inside proxies)")
    ap.add_argument("--init-seed", type=int, default=0,
                    help="network init seed offset: arch i is initialized with seed i + init-seed (default 0)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--batch-per-arch", action="store_true",
                    help="draw a different batch for every arch (seeded by data seed and arch index), as NASLib's "
                         "shuffled data loader does; default: one batch for all archs")
    ap.add_argument("--augment", action="store_true",
                    help="apply NASLib's training transform (random crop with 4-pixel zero padding, horizontal "
                         "flip) to the batch, a new draw per arch")
    ap.add_argument("--C", type=int, default=16)
    ap.add_argument("--N", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    ap.add_argument("--csv", help="also write every score to this CSV file")
    ap.add_argument("--resume", action="store_true",
                    help="with --csv: keep the scores already in that file and score only the missing archs")
    ap.add_argument("--from-csv", nargs="+", metavar="CSV",
                    help="only correlate the scores of CSVs written by --csv (several: also rho over the runs)")
    args = ap.parse_args(argv)
    if args.from_csv:
        return from_csv(args.from_csv)
    if args.archs < 3:
        ap.error(f"--archs must be >= 3, got {args.archs}")
    torch.set_num_threads(args.threads)
    proxies = [p.strip() for p in args.proxies.split(",") if p.strip()]
    datasets = ("cifar10", "cifar100") if args.dataset == "both" else (args.dataset,)
    indices = nb201.sample_indices(args.archs, seed=args.arch_seed)
    print(f"{len(indices)} archs (sample_indices seed {args.arch_seed}), C={args.C} N={args.N} (init seed index + "
          f"{args.init_seed}), batch {args.batch_size} (data seed {args.data_seed}"
          f"{', a new batch per arch' if args.batch_per_arch else ''}"
          f"{', crop+flip per arch' if args.augment else ''}), proxy seed {args.seed}, "
          f"{torch.get_num_threads()} threads", flush=True)
    if args.resume and not args.csv:
        ap.error("--resume needs --csv")
    previous = read_scores(args.csv) if args.resume and Path(args.csv).exists() else {}
    fh = open(args.csv, "a" if previous else "w", newline="") if args.csv else None
    writer = csv.writer(fh) if fh else None
    if writer and not previous:
        writer.writerow(["dataset", "arch_index", "arch", "proxy", "score", "seconds", "status"])
    rows = []
    try:
        for ds in datasets:
            scores = score_archs(ds, indices, proxies, args, writer, previous.get(ds), fh.flush if fh else None)
            rows += report(ds, indices, scores)
    finally:
        if fh:
            fh.close()
    misses = [(d, p) for d, p, rho, pub, diff, _ in rows if d == "cifar10" and abs(diff) > TOLERANCE]
    print(f"\nCIFAR-10 proxies outside +-{TOLERANCE}: {', '.join(p for _, p in misses) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
