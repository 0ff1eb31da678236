"""Build the bundled NAS-Bench-201 ground truth: ``nb201-cifar10``, ``nb201-cifar100``, ``nb201-imagenet16``.

Usage: python perf/make_nb201_bundled.py [--csv FILE] [--out-dir DIR]

Reads ``../shared/data/nb201/nb201_accuracies.csv`` (all 15,625 cells, one row per official index) and writes one
``.pbgt`` per data set into ``proxybench/benchmarks/data``: the 200-epoch test accuracy and the validation
accuracy used by NAS-Bench-Suite-Zero. Arch strings are not stored (they follow from the indices). Provenance and
licences: ``proxybench/benchmarks/data/README.md``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from proxybench.benchmarks import groundtruth as G
from proxybench.benchmarks.groundtruth import GroundTruth

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / ".." / "shared" / "data" / "nb201" / "nb201_accuracies.csv"
OUT = ROOT / "proxybench" / "benchmarks" / "data"

SOURCE = ("NAS-Bench-201 (Dong & Yang, ICLR 2020) accuracies: 200-epoch test accuracy as returned by the official "
          "API (get_more_info(i, dataset, hp='200')['test-accuracy']), from the RoBoT repository "
          "(hzf1174/RoBoT, Apache-2.0); validation accuracy as used by NAS-Bench-Suite-Zero (automl/NASLib, "
          "Apache-2.0)")

# name -> (csv column prefix, data set of the images, title, classes, resolution)
BENCHMARKS = {
    "nb201-cifar10": ("cifar10", "cifar10", "CIFAR-10", 10, 32),
    "nb201-cifar100": ("cifar100", "cifar100", "CIFAR-100", 100, 32),
    "nb201-imagenet16": ("imagenet16", "imagenet16-120", "ImageNet16-120", 120, 16),
}


def build(name: str, csv: Path = CSV) -> GroundTruth:
    prefix, dataset, title, classes, res = BENCHMARKS[name]
    cols = [f"{prefix}_test", f"{prefix}_val"]
    gt = G.from_csv(csv, cols)
    splits = {p: G.NB201_SPLITS[p[0]].get(p[1], "") for p in gt.pairs()}
    meta = {
        "name": name,
        "description": f"NAS-Bench-201 on {title}: all 15,625 cells, 200-epoch test accuracy and the "
                       "NAS-Bench-Suite-Zero validation accuracy (%)",
        "source": SOURCE,
        "benchmark": "NAS-Bench-201",
        "dataset": dataset,
        "data": {"dataset": dataset, "num_classes": classes, "resolution": res, "channels": 3},
        "network": {"C": 16, "N": 5, "init": "default"},
        "protocol": {"epochs": 200, "hp": "200", "optimizer": "SGD, nesterov, cosine lr 0.1, batch 256",
                     "notes": "NAS-Bench-201's own training; values are means over its training seeds"},
        "series": {f"{d}/{m}": s for (d, m), s in splits.items()},
        "licence": "Apache-2.0 (RoBoT, NASLib); see README.md next to this file",
        "created": "2026-12-02T00:00:00+00:00",
    }
    return GroundTruth(gt.ground_truth, meta)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", type=Path, default=CSV)
    ap.add_argument("--out-dir", type=Path, default=OUT)
    a = ap.parse_args(argv)
    for name in BENCHMARKS:
        gt = build(name, a.csv)
        out = gt.save(a.out_dir / f"{name}{G.SUFFIX}")
        print(f"{out}: {len(gt)} rows, pairs {gt.pairs()}, {out.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
