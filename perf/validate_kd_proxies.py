"""Validate the KD-aware proxies against a KD ground-truth table (not a test).

    OMP_NUM_THREADS=2 python perf/validate_kd_proxies.py GROUND_TRUTH --teacher SPEC [options]

GROUND_TRUTH is a benchmark name or file that ``proxybench.benchmarks.groundtruth.load_benchmark`` reads, or a tidy
.csv/.parquet table with columns arch_index, arch, dataset, metric, value, seed. For
every arch of the table (or ``--limit`` of them), builds the NB201 student (C, N from the table's metadata or the
options), scores the KD-aware proxies (DisWOT and its variants, the KD losses) with the given teacher and the
standard proxies on one input batch per seed, then prints Kendall tau and Spearman rho of every proxy against every
metric of the table (``kd_acc`` and ``vanilla_acc`` for the KD benchmark, plus ``kd_gain`` = KD - vanilla accuracy)
with bootstrap CIs, each proxy's tau on KD minus its tau on vanilla accuracy (paired bootstrap), the noise ceiling
of the table's repeated seeds, the tau between the metrics themselves, and whether the best KD-aware proxy fits
``kd_acc`` better than the best standard proxy (DisWOT's claim), with the CI of that difference. ``--cells-of OTHER``
keeps the archs another table also holds (two KD benchmark versions on the same cells); ``--scores`` reuses the
scores of an earlier run, so correlating a second table with the same archs costs no scoring.

Input batches come from ``proxybench.benchmarks.datasets.make_batches``: ``--data fashion-mnist`` (training split;
IDX files under ``--data-root`` or /usr/share/datasets/fashion-mnist), ``cifar10`` / ``cifar100`` (the test-image
samples in ../shared/data/images unless ``--data-root`` is given), or ``synthetic`` (noise). Images are normalized
with the data set's constants, resized to ``--resolution`` and replicated to the table's channel count; seed ``s``
draws disjoint batches of ``--batch-size`` images with ``numpy.random.default_rng(s)``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd
import torch
from scipy import stats

from proxybench import nb201
from proxybench.analysis import compare_correlations, correlate, headline, noise_ceiling, noise_headline
from proxybench.benchmarks import datasets
from proxybench.distill.teachers import build_teacher, describe
from proxybench.proxies import get_spec, list_proxies, make_context, score_many

ROOT = Path(__file__).resolve().parents[1]
SHARED_IMAGES = ROOT / ".." / "shared" / "data" / "images"


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
def make_batches(name: str, data_root: str | None, batch_size: int, resolution: int | None, seeds: list[int],
                 num_classes: int | None, channels: int | None = None,
                 num_batches: int = 1) -> tuple[list[list[tuple[torch.Tensor, torch.Tensor]]], int, int]:
    """``num_batches`` disjoint (inputs, targets) batches per seed, drawn by
    :func:`proxybench.benchmarks.datasets.make_batches` from the training split (Fashion-MNIST, synthetic) or the
    CIFAR test samples of ../shared/data/images; returns (batches per seed, in_channels, num_classes)."""
    canon = datasets.canonical_name(name)
    split = "test" if canon in ("cifar10", "cifar100") else "train"
    root = data_root or (SHARED_IMAGES if canon in ("cifar10", "cifar100") else None)
    imageset = datasets.load_images(canon, split=split, root=root)
    k = int(num_classes or imageset.num_classes)
    if int(imageset.labels.max()) >= k:
        raise ValueError(f"{canon} has labels up to {int(imageset.labels.max())}; the table's num_classes is {k}")
    out = [datasets.make_batches(imageset, batch_size, num_batches, seed, resolution=resolution, channels=channels)
           for seed in seeds]
    return out, int(out[0][0][0].shape[1]), k


# ---- main ---------------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ground_truth", help="KD benchmark table (path or bundled name)")
    ap.add_argument("--teacher", required=True, help="teacher spec, e.g. resnet20, nb201:<arch>, checkpoint:<path>")
    ap.add_argument("--teacher-seed", type=int, default=0)
    ap.add_argument("--proxies", default="kd-aware,standard",
                    help="comma list of proxy names, or the groups 'kd-aware' and 'standard' (default both)")
    ap.add_argument("--data", choices=datasets.DATASETS, default=None,
                    help="input images (default: the table's data set)")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--dataset", default=None, help="keep only ground-truth rows of this dataset column value")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--resolution", type=int, default=None)
    ap.add_argument("--seeds", type=int, default=1, help="seeds per arch (student init and batch); scores averaged")
    ap.add_argument("--C", type=int, default=None)
    ap.add_argument("--N", type=int, default=None)
    ap.add_argument("--limit", type=int, default=None, help="score only the first LIMIT archs of the table")
    ap.add_argument("--cells-of", default=None, metavar="GROUND_TRUTH",
                    help="keep only the archs that this other table (name or file) also holds, e.g. a v2 table on "
                         "v1's cells")
    ap.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples for CIs and differences")
    ap.add_argument("--out", default=None, help="write scores and correlations as CSV files with this prefix")
    ap.add_argument("--scores", default=None,
                    help="scores CSV of an earlier run (its --out prefix + _scores.csv) with the same teacher, data "
                         "and batch settings: its (arch, seed, proxy) scores are reused and only the rest are computed")
    args = ap.parse_args(argv)

    gt, meta = load_ground_truth(args.ground_truth)
    missing = {"arch_index", "metric", "value"} - set(gt.columns)
    if missing:
        raise ValueError(f"ground truth lacks columns {sorted(missing)}; has {list(gt.columns)}")
    if args.dataset is not None and "dataset" in gt.columns:
        gt = gt[gt["dataset"] == args.dataset]
    truth = gt.groupby(["arch_index", "metric"])["value"].mean().unstack("metric")
    archs = [int(i) for i in truth.index]
    if args.cells_of:
        other = set(load_ground_truth(args.cells_of)[0]["arch_index"].astype(int))
        archs = [a for a in archs if a in other]
        if not archs:
            raise ValueError(f"{args.ground_truth!r} and --cells-of {args.cells_of!r} share no arch")
        gt = gt[gt["arch_index"].isin(archs)]
        truth = truth.loc[archs]
    if args.limit:
        archs = archs[: args.limit]
    metrics = list(truth.columns)

    data_meta = meta.get("data") if isinstance(meta.get("data"), dict) else {}
    data = args.data or str(data_meta.get("dataset") or meta_value(meta, "data", "dataset", default="synthetic"))
    data = datasets.canonical_name(data)
    resolution = args.resolution or meta_value(meta, "resolution", "image_size", "input_size")
    C = int(args.C or meta_value(meta, "C", default=16))
    N = int(args.N or meta_value(meta, "N", default=5))
    seeds = list(range(args.seeds))
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
    batches, in_channels, num_classes = make_batches(data, args.data_root, args.batch_size,
                                                     int(resolution) if resolution else None, seeds,
                                                     meta_value(meta, "num_classes"),
                                                     data_meta.get("channels"),
                                                     num_batches=max(get_spec(n).batches for n in names))
    teacher = build_teacher(args.teacher, num_classes=num_classes, in_channels=in_channels, seed=args.teacher_seed)

    print(f"ground truth {args.ground_truth}: {len(archs)} archs, metrics {metrics}")
    print(f"teacher {describe(teacher)}; students NB201 C={C} N={N}; data {data} "
          f"{tuple(batches[0][0][0].shape)} x {len(batches[0])} batches; seeds {len(seeds)}; proxies {len(names)}")
    rows = []
    known = pd.DataFrame()
    if args.scores:
        known = pd.read_csv(args.scores)
        known = known[known["arch_index"].isin(archs) & known["seed"].isin(seeds) & known["proxy"].isin(names)]
        print(f"reusing {len(known)} scores from {args.scores}")
    have = {(int(a), int(s)): set(g["proxy"]) for (a, s), g in known.groupby(["arch_index", "seed"])} \
        if len(known) else {}
    t_start = time.perf_counter()
    for n_done, index in enumerate(archs, start=1):
        arch = nb201.index_to_arch(index)
        for seed, seed_batches in zip(seeds, batches):
            todo = [n for n in names if n not in have.get((index, seed), set())]
            if not todo:
                continue
            x, y = seed_batches[0]
            model = nb201.build_network(arch, C=C, N=N, num_classes=num_classes, in_channels=in_channels, seed=seed)
            ctx = make_context(model, x, y, teacher=teacher, seed=seed, arch=arch, num_classes=num_classes,
                               batches=seed_batches)
            for r in score_many(todo, ctx):
                rows.append({"arch_index": index, "arch": arch, "proxy": r.proxy, "seed": seed, "score": r.score,
                             "seconds": r.seconds, "status": r.status, "error": r.error})
        if n_done % 10 == 0 or n_done == len(archs):
            print(f"  {n_done}/{len(archs)} archs, {time.perf_counter() - t_start:.0f} s", file=sys.stderr)
    scores = pd.concat([known, pd.DataFrame(rows)], ignore_index=True) if len(known) else pd.DataFrame(rows)
    errors = scores[scores["status"] == "error"]
    for proxy, group in errors.groupby("proxy"):
        print(f"  {proxy}: {len(group)} errors, e.g. {group['error'].iloc[0]}", file=sys.stderr)

    # correlations (bootstrap CIs over archs) against every metric of the table, plus the KD gain
    gt_eval = gt[gt["arch_index"].isin(archs)].copy()
    if {"kd_acc", "vanilla_acc"} <= set(metrics):
        gain = (truth["kd_acc"] - truth["vanilla_acc"]).dropna().loc[lambda v: v.index.isin(archs)]
        gt_eval = pd.concat([gt_eval, pd.DataFrame({"arch_index": gain.index, "metric": "kd_gain",
                                                    "value": gain.to_numpy(), "seed": -1})], ignore_index=True)
        if "dataset" in gt_eval.columns:
            gt_eval["dataset"] = gt_eval["dataset"].fillna(gt_eval["dataset"].dropna().iloc[0])
    corr = correlate(scores[["arch_index", "arch", "proxy", "seed", "score"]], gt_eval,
                     statistics=("kendall", "spearman"), topk=(10,), n_resamples=args.resamples)
    corr["kd_aware"] = corr["proxy"].isin(kd_aware)
    head = headline(corr)
    gt_names = [n for n in dict.fromkeys(head["ground_truth"]) if n]

    def cell(proxy, name, stat="kendall"):
        r = head[(head["proxy"] == proxy) & (head["ground_truth"] == name) & (head["statistic"] == stat)]
        if not len(r):
            return "–"
        r = r.iloc[0]
        return f"{r['value']:.3f} [{r['ci_low']:.2f}, {r['ci_high']:.2f}]"

    kd_name = next((n for n in gt_names if n.endswith("kd_acc")), gt_names[0])
    van_name = next((n for n in gt_names if n.endswith("vanilla_acc")), None)
    order = (head[(head["ground_truth"] == kd_name) & (head["statistic"] == "kendall")]
             .sort_values("value", ascending=False)["proxy"].tolist())
    diffs = pd.DataFrame()
    if van_name is not None:
        diffs = compare_correlations(scores, gt_eval, [((p, kd_name), (p, van_name)) for p in order],
                                     statistics=("kendall",), n_resamples=args.resamples).set_index("proxy_a")
    table = []
    for proxy in order:
        row = {"proxy": proxy, "kd_aware": proxy in kd_aware}
        for name in gt_names:
            row[f"tau {name} [95% CI]"] = cell(proxy, name)
        row[f"rho {kd_name}"] = cell(proxy, kd_name, "spearman").split(" ")[0]
        if len(diffs):
            d = diffs.loc[proxy]
            row["dtau kd-vanilla [95% CI]"] = f"{d['difference']:+.3f} [{d['ci_low']:+.2f}, {d['ci_high']:+.2f}]"
            row["p"] = f"{d['p_value']:.3f}"
        row["s/arch"] = f"{scores.loc[scores['proxy'] == proxy, 'seconds'].sum() / len(archs):.3f}"
        table.append(row)
    print(f"\nKendall tau of each proxy against each metric (sorted by tau on {kd_name}; bootstrap CIs over archs, "
          f"{args.resamples} resamples):")
    print(pd.DataFrame(table).to_string(index=False))
    nc = noise_headline(noise_ceiling(gt_eval, statistics=("kendall",), n_resamples=args.resamples))
    for _, r in nc.iterrows():
        print(f"noise ceiling {r['ground_truth']}: tau {r['value']:.3f} [{r['ci_low']:.2f}, {r['ci_high']:.2f}] "
              f"({int(r['n'])} archs with >= 2 seeds)")
    if van_name is not None:
        a, b = truth["kd_acc"], truth["vanilla_acc"]
        ok = a.notna() & b.notna() & a.index.isin(archs)
        print(f"\n{kd_name} vs {van_name}: Kendall {stats.kendalltau(a[ok], b[ok]).statistic:.3f}, "
              f"Spearman {stats.spearmanr(a[ok], b[ok]).statistic:.3f} (n={int(ok.sum())})")
    kd_rank = [p for p in order if p in kd_aware]
    std_rank = [p for p in order if p not in kd_aware]
    if kd_rank and std_rank:
        claim = compare_correlations(scores, gt_eval, [((kd_rank[0], kd_name), (std_rank[0], kd_name))],
                                     statistics=("kendall",), n_resamples=args.resamples).iloc[0]
        verdict = "holds" if claim["difference"] > 0 else "does not hold"
        strength = ("and the difference is significant (95% CI excludes 0)" if claim["ci_low"] > 0 or
                    claim["ci_high"] < 0 else "but the 95% CI of the difference includes 0")
        print(f"best KD-aware on {kd_name}: {kd_rank[0]} tau {claim['value_a']:.3f}; best standard: {std_rank[0]} "
              f"tau {claim['value_b']:.3f}; difference {claim['difference']:+.3f} [{claim['ci_low']:+.2f}, "
              f"{claim['ci_high']:+.2f}], p {claim['p_value']:.3f} -> DisWOT's claim {verdict} on this table, "
              f"{strength}")
    if args.out:
        corr.to_csv(f"{args.out}_correlations.csv", index=False)
        if len(diffs):
            diffs.reset_index().to_csv(f"{args.out}_kd_minus_vanilla.csv", index=False)
    if args.out:
        scores.to_csv(f"{args.out}_scores.csv", index=False)
        print(f"wrote {args.out}_scores.csv, {args.out}_correlations.csv and {args.out}_kd_minus_vanilla.csv")
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except (ValueError, FileNotFoundError, KeyError) as exc:  # bad input: a table, file or option value
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
