"""EPE-NAS on CIFAR-100: proxybench's ``epe_nas`` against NAS-Bench-Suite-Zero's published scores, per treatment.

On NAS-Bench-Suite-Zero's own CIFAR-100 architectures (the ``cifar100`` key of its ``zc_nasbench201.json``; see
``perf/naslib_real_file.py`` for where to get the file), scores every architecture (``proxybench.nb201
.build_network(arch, num_classes=100, seed=NB201 index)``, PyTorch's default init) with proxybench's ``epe_nas``
under these treatments, images from ``--images`` (real CIFAR-100 test images, normalised with CIFAR-100's
mean / std):

- ``fixed64``: one batch of 64 images for every architecture (drawn with ``--data-seed``), the default rule
  (``epe_nas_rule=auto``), and the same batch with ``epe_nas_rule=sum`` (the authors' search script) and
  ``epe_nas_rule=pairwise``;
- ``fixed32``: the first 32 images of that batch, for every architecture;
- ``naslib32_r1``, ``naslib32_r2``: what NAS-Bench-Suite-Zero's runs fed the proxy: for every architecture a new
  random batch of 32 images (NASLib's ``create_configs_benchmarks.py`` default ``--batch_size 32``; its runner
  passes one shuffled training loader to every ``predictor.query``, and ``get_some_data`` opens a new iterator
  each time) with NASLib's training transform (random crop with 4-pixel padding, horizontal flip); two
  independent replicates (draws seeded by replicate and architecture).

For each treatment it prints the Spearman rho against the file's ``val_accuracy``, the per-architecture agreement
(Spearman rho between the treatment's scores and the published ``epe_nas`` scores of the same architectures), and
for the per-architecture batches how much of the score is the number of same-class image pairs its batch held.
Non-finite scores rank lowest, as NASLib does (it writes them as -1e8).

Usage::

    OMP_NUM_THREADS=1 python perf/epe_nas_cifar100.py /tmp/zc_nasbench201.json --archs 200 \\
        --csv /tmp/epe_c100.csv > perf/results/epe_nas_cifar100_200.txt
    python perf/epe_nas_cifar100.py /tmp/zc_nasbench201.json --from-csv /tmp/epe_c100.csv   # statistics only
    python perf/epe_nas_cifar100.py /tmp/zc_nasbench201.json --from-csv perf/results/epe_nas_cifar100_scores.csv.gz
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

import proxybench
from proxybench import nb201
from proxybench.analysis.naslib import parse_arch_key

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "images" / "cifar100_test_916.npz"
MEAN = np.array([129.3, 124.1, 112.4]) / 255  # CIFAR-100's, as NASLib normalises it
STD = np.array([68.2, 65.4, 70.4]) / 255
K = 1e-5
FIXED = ("fixed64", "fixed64_sum", "fixed64_pairwise", "fixed32")
NASLIB = ("naslib32_r1", "naslib32_r2")
TREATMENTS = FIXED + NASLIB
NAN_RANK = -1e300  # non-finite scores rank lowest (NASLib: -1e8)


def load_images(path: Path) -> tuple[np.ndarray, np.ndarray]:
    if not path.exists():
        raise FileNotFoundError(f"real CIFAR-100 images {path} are absent (see ../shared/data/README.md)")
    with np.load(path) as z:
        images, labels = z["images_nchw"], z["fine_labels"]
    x = (images.astype(np.float64) / 255 - MEAN[:, None, None]) / STD[:, None, None]
    return x.astype(np.float32), labels.astype(np.int64)


def naslib_augment(x: torch.Tensor, g: torch.Generator, pad: int = 4) -> torch.Tensor:
    """RandomCrop(32, padding=4) (zero padding before normalisation, i.e. black) and RandomHorizontalFlip on a
    normalised batch, drawn with ``g``."""
    black = torch.from_numpy((-MEAN / STD).astype(np.float32))[:, None, None]
    b, c, h, w = x.shape
    padded = black.expand(c, h + 2 * pad, w + 2 * pad).repeat(b, 1, 1, 1)
    padded[:, :, pad:pad + h, pad:pad + w] = x
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=g)
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=g)
    flip = torch.rand(b, generator=g) < 0.5
    out = torch.empty_like(x)
    for i in range(b):
        crop = padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w]
        out[i] = crop.flip(-1) if flip[i] else crop
    return out


def same_class_pairs(y: np.ndarray) -> int:
    counts = np.bincount(y)
    return int((counts * (counts - 1) // 2).sum())


def score_arch(idx: int, images, labels, fixed_idx, args) -> dict[str, tuple[float, int]]:
    """treatment -> (epe_nas score, same-class pairs of its batch) for NB201 cell ``idx``."""
    net = nb201.build_network(nb201.index_to_arch(idx), num_classes=100, seed=idx)
    out = {}
    x64, y64 = torch.from_numpy(images[fixed_idx]), torch.from_numpy(labels[fixed_idx])
    for name, rule in (("fixed64", "auto"), ("fixed64_sum", "sum"), ("fixed64_pairwise", "pairwise")):
        out[name] = (proxybench.score("epe_nas", net, x64, y64, epe_nas_rule=rule), same_class_pairs(y64.numpy()))
    out["fixed32"] = (proxybench.score("epe_nas", net, x64[:32], y64[:32]), same_class_pairs(y64[:32].numpy()))
    for r, name in enumerate(NASLIB, start=1):
        rng = np.random.default_rng([args.data_seed, r, idx])
        pick = rng.choice(len(images), size=32, replace=False)
        g = torch.Generator().manual_seed(int(rng.integers(2**62)))
        x = naslib_augment(torch.from_numpy(images[pick]), g)
        y = torch.from_numpy(labels[pick])
        out[name] = (proxybench.score("epe_nas", net, x, y), same_class_pairs(labels[pick]))
    return out


def rho(a, b) -> float:
    a = np.where(np.isfinite(a), a, NAN_RANK)
    b = np.where(np.isfinite(b), b, NAN_RANK)
    return float(spearmanr(a, b).statistic)


def report(rows: dict[int, dict], file_entries: dict[int, dict], n_wanted: int) -> None:
    idxs = sorted(rows)
    acc = np.array([file_entries[i]["val_accuracy"] for i in idxs])
    pub = np.array([file_entries[i]["epe_nas"]["score"] for i in idxs], dtype=float)
    pub = np.where(pub <= -1e8, np.nan, pub)  # NASLib's mark of a non-finite score
    print(f"\n{len(idxs)} of the file's 725 CIFAR-100 architectures scored (asked: {n_wanted})")
    print(f"published epe_nas on these archs: rho vs val_accuracy {rho(pub, acc):+.3f} "
          f"({int(np.isnan(pub).sum())} non-finite)")
    print(f"\n{'treatment':<18} {'rho vs val_acc':>15} {'agreement w/ published':>23} {'non-finite':>11} "
          f"{'rho(score, pairs)':>18} {'mean pairs':>11}")
    scores = {}
    for t in TREATMENTS:
        s = np.array([rows[i][t][0] for i in idxs], dtype=float)
        pairs = np.array([rows[i][t][1] for i in idxs], dtype=float)
        scores[t] = s
        pr = f"{rho(s, pairs):+.3f}" if pairs.std() > 0 else "(one batch)"
        print(f"{t:<18} {rho(s, acc):>+15.3f} {rho(s, pub):>+23.3f} {int((~np.isfinite(s)).sum()):>11d} "
              f"{pr:>18} {pairs.mean():>11.2f}")
    print("\nagreement between treatments (Spearman rho of per-architecture scores):")
    for a, b in (("fixed64", "fixed64_sum"), ("fixed64", "fixed64_pairwise"), ("fixed64", "fixed32"),
                 ("fixed64", "naslib32_r1"), ("fixed64", "naslib32_r2"), ("naslib32_r1", "naslib32_r2")):
        same = np.array_equal(scores[a], scores[b], equal_nan=True)
        print(f"  {a:<17} vs {b:<17} {rho(scores[a], scores[b]):+.3f}" + ("  (identical)" if same else ""))
    # the fingerprint of per-architecture batches of 32 in the published scores
    singles = 32 * math.log(1 + K)
    hits = int(np.sum(np.isclose(pub, singles, rtol=1e-9, atol=0)))
    print(f"\npublished scores equal to 32 * log(1 + 1e-5) = {singles:.6g} (a batch of 32 with no class seen twice, "
          f"so no pair to correlate): {hits} of {len(idxs)}")
    for t in NASLIB:
        s = scores[t]
        z = int(np.sum([rows[i][t][1] == 0 for i in idxs]))
        print(f"  {t}: batches with no class seen twice: {z} of {len(idxs)}; min score {np.nanmin(s):.6g}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file", type=Path, help="NAS-Bench-Suite-Zero's zc_nasbench201.json")
    ap.add_argument("--archs", type=int, default=725, help="score this many of the file's CIFAR-100 archs "
                                                           "(a random subset drawn with --arch-seed; default all)")
    ap.add_argument("--arch-seed", type=int, default=0)
    ap.add_argument("--data-seed", type=int, default=0)
    ap.add_argument("--images", type=Path, default=DATA, help="real CIFAR-100 images (npz with images_nchw, "
                                                               "fine_labels)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--csv", type=Path, help="write (and with --resume, reuse) per-arch scores here")
    ap.add_argument("--resume", action="store_true", help="keep the archs already in --csv")
    ap.add_argument("--from-csv", type=Path, help="statistics from this CSV only, no scoring")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    entries = json.loads(args.file.read_text())["cifar100"]
    file_entries = {nb201.arch_to_index(parse_arch_key(k)): e for k, e in entries.items()}
    order = np.random.default_rng(args.arch_seed).permutation(sorted(file_entries))
    wanted = [int(i) for i in order[:args.archs]]
    rows: dict[int, dict] = {}
    src = args.from_csv or (args.csv if args.resume and args.csv and args.csv.exists() else None)
    if src is not None:
        with (gzip.open(src, "rt", newline="") if src.suffix == ".gz" else open(src, newline="")) as fh:
            for r in csv.DictReader(fh):
                rows.setdefault(int(r["arch_index"]), {})[r["treatment"]] = (float(r["score"]), int(r["pairs"]))
        rows = {i: v for i, v in rows.items() if set(v) == set(TREATMENTS)}
    if args.from_csv is None:
        images, labels = load_images(args.images)
        fixed_idx = np.random.default_rng(args.data_seed).choice(len(images), size=64, replace=False)
        print(f"images: {args.images.name} ({len(images)}); fixed batch of 64 with data seed {args.data_seed}: "
              f"{len(set(labels[fixed_idx]))} classes, {same_class_pairs(labels[fixed_idx])} same-class pairs "
              f"(first 32: {len(set(labels[fixed_idx[:32]]))} classes, {same_class_pairs(labels[fixed_idx[:32]])} "
              f"pairs); torch threads {args.threads}", flush=True)
        fh = None
        if args.csv:
            new = not (args.resume and args.csv.exists())
            fh = open(args.csv, "w" if new else "a", newline="")
            w = csv.writer(fh)
            if new:
                w.writerow(["arch_index", "treatment", "score", "pairs"])
        t0, done = time.perf_counter(), 0
        for idx in wanted:
            if idx in rows:
                continue
            rows[idx] = score_arch(idx, images, labels, fixed_idx, args)
            done += 1
            if fh is not None:
                for t, (s, p) in rows[idx].items():
                    w.writerow([idx, t, repr(s), p])
                fh.flush()
            if done % 25 == 0:
                print(f"  {len(rows)} archs, {(time.perf_counter() - t0) / done:.2f} s/arch", flush=True)
        if fh is not None:
            fh.close()
    rows = {i: rows[i] for i in wanted if i in rows}
    report(rows, file_entries, len(wanted))
    return 0


if __name__ == "__main__":
    sys.exit(main())
