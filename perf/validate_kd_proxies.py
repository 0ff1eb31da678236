"""Validate the KD-aware proxies against a KD ground-truth table (not a test).

    OMP_NUM_THREADS=2 python perf/validate_kd_proxies.py GROUND_TRUTH --teacher SPEC [options]

GROUND_TRUTH is a benchmark name or file that ``proxybench.benchmarks.groundtruth.load_benchmark`` reads, or a tidy
.csv/.parquet table with columns arch_index, arch, dataset, metric, value, seed. For
every arch of the table (or ``--limit`` of them), builds the NB201 student (C, N from the table's metadata or the
options), scores the KD-aware proxies (DisWOT and its variants, the KD losses) with the given teacher and the
standard proxies on one input batch per seed, then prints Kendall tau and Spearman rho of every proxy against every
metric of the table (``kd_acc`` and ``vanilla_acc`` for the KD benchmark), the tau between the metrics themselves,
and whether the best KD-aware proxy fits ``kd_acc`` better than the best standard proxy (DisWOT's claim).

Input batches: ``--data fashion-mnist`` (IDX files under ``--data-root``, default
/usr/share/datasets/fashion-mnist, training split), ``cifar10`` / ``cifar100`` (the test-image samples in
../shared/data/images), or ``synthetic`` (standard normal). Images are standardized per channel and resized to
``--resolution``; batch ``i`` is a seeded random draw of ``--batch-size`` images.
"""

from __future__ import annotations

import argparse
import gzip
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy import stats

from proxybench import nb201
from proxybench.distill.teachers import build_teacher, describe
from proxybench.proxies import list_proxies, make_context, score_many

ROOT = Path(__file__).resolve().parents[1]
SHARED_IMAGES = ROOT / ".." / "shared" / "data" / "images"
DATASETS = ("fashion-mnist", "cifar10", "cifar100", "synthetic")


# ---- ground truth -------------------------------------------------------------------------------------------------
def load_ground_truth(path: str) -> tuple[pd.DataFrame, dict]:
    """(tidy table, metadata): a tidy .csv/.parquet is read directly, anything else by load_benchmark."""
    p = Path(path)
    if p.suffix in (".csv", ".parquet"):
        if not p.is_file():
            raise FileNotFoundError(f"ground-truth file {path!r} does not exist")
        return (pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_csv(p)), {}
    from proxybench.benchmarks.groundtruth import load_benchmark

    bench = load_benchmark(path)
    return bench.ground_truth.copy(), dict(getattr(bench, "metadata", {}) or {})


def meta_value(meta: dict, *keys: str, default=None):
    """The first of ``keys`` found in ``meta`` or one level down (e.g. meta['network']['C'])."""
    for key in keys:
        if key in meta and meta[key] is not None:
            return meta[key]
    for value in meta.values():
        if isinstance(value, dict):
            for key in keys:
                if key in value and value[key] is not None:
                    return value[key]
    return default


# ---- input data ---------------------------------------------------------------------------------------------------
def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as fh:
        data = fh.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_images(name: str, data_root: str | None) -> tuple[np.ndarray, np.ndarray, int]:
    """(images uint8 NCHW, labels, number of classes)."""
    if name == "fashion-mnist":
        root = Path(data_root or "/usr/share/datasets/fashion-mnist")
        images = _read_idx(root / "train-images-idx3-ubyte.gz")[:, None]
        labels = _read_idx(root / "train-labels-idx1-ubyte.gz").astype(np.int64)
        return images, labels, 10
    if name in ("cifar10", "cifar100"):
        root = Path(data_root) if data_root else SHARED_IMAGES
        files = sorted(root.glob(f"{name}_test_*.npz"))
        if not files:
            raise FileNotFoundError(f"no {name}_test_*.npz under {root}")
        npz = np.load(files[0])
        labels = npz["labels"] if name == "cifar10" else npz["fine_labels"]
        return npz["images_nchw"], labels.astype(np.int64), 10 if name == "cifar10" else 100
    raise ValueError(f"unknown data set {name!r}; valid: {', '.join(DATASETS)}")


def make_batches(name: str, data_root: str | None, batch_size: int, resolution: int | None, seeds: list[int],
                 num_classes: int | None,
                 channels: int | None = None) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], int, int]:
    """One (inputs, targets) batch per seed; returns (batches, in_channels, num_classes)."""
    if name == "synthetic":
        k = num_classes or 10
        res = resolution or 32
        out = []
        for s in seeds:
            g = torch.Generator().manual_seed(s)
            out.append((torch.randn(batch_size, 3, res, res, generator=g),
                        torch.randint(0, k, (batch_size,), generator=g)))
        return out, 3, k
    images, labels, k = load_images(name, data_root)
    x_all = torch.from_numpy(images.astype(np.float32) / 255.0)
    mean = x_all.mean(dim=(0, 2, 3), keepdim=True)
    std = x_all.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    out = []
    for s in seeds:
        g = torch.Generator().manual_seed(s)
        idx = torch.randperm(len(x_all), generator=g)[:batch_size]
        x = (x_all[idx] - mean) / std
        if resolution and x.shape[-1] != resolution:
            x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", antialias=True,
                              align_corners=False)
        if channels and x.shape[1] != channels:
            if x.shape[1] != 1:
                raise ValueError(f"cannot turn {x.shape[1]}-channel images into {channels} channels")
            x = x.expand(-1, channels, -1, -1)  # grey images replicated, as the benchmark's trainer does
        out.append((x.contiguous(), torch.from_numpy(labels)[idx]))
    return out, int(channels or x_all.shape[1]), int(num_classes or k)


# ---- main ---------------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ground_truth", help="KD benchmark table (path or bundled name)")
    ap.add_argument("--teacher", required=True, help="teacher spec, e.g. resnet20, nb201:<arch>, checkpoint:<path>")
    ap.add_argument("--teacher-seed", type=int, default=0)
    ap.add_argument("--proxies", default="kd-aware,standard",
                    help="comma list of proxy names, or the groups 'kd-aware' and 'standard' (default both)")
    ap.add_argument("--data", choices=DATASETS, default=None, help="input images (default: the table's data set)")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--dataset", default=None, help="keep only ground-truth rows of this dataset column value")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--resolution", type=int, default=None)
    ap.add_argument("--seeds", type=int, default=1, help="seeds per arch (student init and batch); scores averaged")
    ap.add_argument("--C", type=int, default=None)
    ap.add_argument("--N", type=int, default=None)
    ap.add_argument("--limit", type=int, default=None, help="score only the first LIMIT archs of the table")
    ap.add_argument("--out", default=None, help="write scores and correlations as CSV files with this prefix")
    args = ap.parse_args(argv)

    gt, meta = load_ground_truth(args.ground_truth)
    missing = {"arch_index", "metric", "value"} - set(gt.columns)
    if missing:
        raise ValueError(f"ground truth lacks columns {sorted(missing)}; has {list(gt.columns)}")
    if args.dataset is not None and "dataset" in gt.columns:
        gt = gt[gt["dataset"] == args.dataset]
    truth = gt.groupby(["arch_index", "metric"])["value"].mean().unstack("metric")
    archs = [int(i) for i in truth.index]
    if args.limit:
        archs = archs[: args.limit]
    metrics = list(truth.columns)

    data_meta = meta.get("data") if isinstance(meta.get("data"), dict) else {}
    data = args.data or str(data_meta.get("dataset") or meta_value(meta, "data", "dataset", default="synthetic"))
    data = data.lower().replace("_", "-")
    if data not in DATASETS:
        data = {"fashionmnist": "fashion-mnist", "cifar-10": "cifar10", "cifar-100": "cifar100"}.get(data, data)
    resolution = args.resolution or meta_value(meta, "resolution", "image_size", "input_size")
    C = int(args.C or meta_value(meta, "C", default=16))
    N = int(args.N or meta_value(meta, "N", default=5))
    seeds = list(range(args.seeds))
    batches, in_channels, num_classes = make_batches(data, args.data_root, args.batch_size,
                                                     int(resolution) if resolution else None, seeds,
                                                     meta_value(meta, "num_classes"),
                                                     data_meta.get("channels"))
    teacher = build_teacher(args.teacher, num_classes=num_classes, in_channels=in_channels, seed=args.teacher_seed)

    names: list[str] = []
    for item in (s.strip() for s in args.proxies.split(",") if s.strip()):
        if item == "kd-aware":
            names += list_proxies(teacher=True)
        elif item == "standard":
            names += list_proxies(teacher=False)
        else:
            names.append(item)
    names = list(dict.fromkeys(names))
    kd_aware = set(list_proxies(teacher=True))

    print(f"ground truth {args.ground_truth}: {len(archs)} archs, metrics {metrics}")
    print(f"teacher {describe(teacher)}; students NB201 C={C} N={N}; data {data} "
          f"{tuple(batches[0][0].shape)}; seeds {len(seeds)}; proxies {len(names)}")
    rows = []
    t_start = time.perf_counter()
    for n_done, index in enumerate(archs, start=1):
        arch = nb201.index_to_arch(index)
        for seed, (x, y) in zip(seeds, batches):
            model = nb201.build_network(arch, C=C, N=N, num_classes=num_classes, in_channels=in_channels, seed=seed)
            ctx = make_context(model, x, y, teacher=teacher, seed=seed, arch=arch, num_classes=num_classes)
            for r in score_many(names, ctx):
                rows.append({"arch_index": index, "arch": arch, "proxy": r.proxy, "seed": seed, "score": r.score,
                             "seconds": r.seconds, "status": r.status, "error": r.error})
        if n_done % 10 == 0 or n_done == len(archs):
            print(f"  {n_done}/{len(archs)} archs, {time.perf_counter() - t_start:.0f} s", file=sys.stderr)
    scores = pd.DataFrame(rows)
    errors = scores[scores["status"] == "error"]
    for proxy, group in errors.groupby("proxy"):
        print(f"  {proxy}: {len(group)} errors, e.g. {group['error'].iloc[0]}", file=sys.stderr)

    mean_scores = scores.groupby(["arch_index", "proxy"])["score"].mean().unstack("proxy")
    corr_rows = []
    for proxy in names:
        if proxy not in mean_scores:
            continue
        for metric in metrics:
            joined = pd.concat([mean_scores[proxy], truth[metric]], axis=1, join="inner").dropna()
            joined = joined[np.isfinite(joined.iloc[:, 0])]
            n = len(joined)
            tau = stats.kendalltau(joined.iloc[:, 0], joined.iloc[:, 1]).statistic if n > 2 else math.nan
            rho = stats.spearmanr(joined.iloc[:, 0], joined.iloc[:, 1]).statistic if n > 2 else math.nan
            corr_rows.append({"proxy": proxy, "kd_aware": proxy in kd_aware, "metric": metric, "kendall": tau,
                              "spearman": rho, "n": n, "n_dropped": len(archs) - n,
                              "seconds_per_arch": scores.loc[scores["proxy"] == proxy, "seconds"].sum() / len(archs)})
    corr = pd.DataFrame(corr_rows)
    wide = corr.pivot_table(index=["proxy", "kd_aware"], columns="metric", values=["kendall", "spearman"])
    wide.columns = [f"{stat}:{metric}" for stat, metric in wide.columns]
    first = f"kendall:{'kd_acc' if 'kd_acc' in metrics else metrics[0]}"
    print(wide.sort_values(first, ascending=False).round(3).to_string())
    if len(metrics) >= 2:
        a, b = truth[metrics[0]], truth[metrics[1]]
        ok = a.notna() & b.notna()
        print(f"\n{metrics[0]} vs {metrics[1]}: Kendall {stats.kendalltau(a[ok], b[ok]).statistic:.3f}, "
              f"Spearman {stats.spearmanr(a[ok], b[ok]).statistic:.3f} (n={int(ok.sum())})")
    kd = corr[corr["metric"] == "kd_acc"].dropna(subset=["kendall"]) if "kd_acc" in metrics else corr.iloc[:0]
    if kd["kd_aware"].any() and (~kd["kd_aware"]).any():
        best_kd = kd[kd["kd_aware"]].sort_values("kendall").iloc[-1]
        best_std = kd[~kd["kd_aware"]].sort_values("kendall").iloc[-1]
        verdict = "holds" if best_kd["kendall"] > best_std["kendall"] else "does not hold"
        print(f"best KD-aware on kd_acc: {best_kd['proxy']} tau {best_kd['kendall']:.3f}; best standard: "
              f"{best_std['proxy']} tau {best_std['kendall']:.3f} -> DisWOT's claim {verdict} on this table")
        if "vanilla_acc" in metrics:
            for proxy in ("diswot", "diswot_relation", "diswot_semantic"):
                sub = corr[corr["proxy"] == proxy].set_index("metric")
                if len(sub) and {"kd_acc", "vanilla_acc"} <= set(sub.index):
                    print(f"{proxy}: tau kd_acc {sub.loc['kd_acc', 'kendall']:.3f} vs vanilla_acc "
                          f"{sub.loc['vanilla_acc', 'kendall']:.3f}")
    if args.out:
        scores.to_csv(f"{args.out}_scores.csv", index=False)
        corr.to_csv(f"{args.out}_correlations.csv", index=False)
        print(f"wrote {args.out}_scores.csv and {args.out}_correlations.csv")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
