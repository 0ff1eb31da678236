"""Build the bundled benchmark ``diswot-s1-cifar100``: DisWOT's released KD and vanilla accuracies of its S1 space.

Usage: python perf/make_diswot_s1_bundled.py --kd FILE --vanilla FILE [--out FILE]
       python perf/make_diswot_s1_bundled.py --repo DIR [--out FILE]     (a checkout of lliai/DisWOT-CVPR2023)

Reads the authors' two tables (``exps/s1-gt-kd.txt``: KD accuracy, ``exps/s1-gt-cls.txt``: vanilla accuracy; one
line per student, ``<arch code> <top-1 %>``) with the ``diswot-txt`` importer, checks that they are the released
files (their SHA-256 below), and writes ``proxybench/benchmarks/data/diswot-s1-cifar100.pbgt`` with three series on
``cifar100``: ``kd_acc``, ``vanilla_acc`` and ``kd_gain`` = kd_acc - vanilla_acc (points). The metadata records the
provenance and what is known and not known about how the numbers were produced. The output is the same on every run
(fixed creation time). Provenance and licence: ``proxybench/benchmarks/data/README.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import pandas as pd

from proxybench.benchmarks.groundtruth import BUNDLED_DIR, GroundTruth, from_diswot_txt

NAME = "diswot-s1-cifar100"
REPOSITORY = "https://github.com/lliai/DisWOT-CVPR2023"
COMMIT = "dffe4e6118a2ab6a5ed89c9495e1ee2b6c808afa"
FILES = {  # metric -> (path in the repository, SHA-256 of the released file)
    "kd_acc": ("exps/s1-gt-kd.txt", "48d218437e37318b6685c8c489a380011e964cfe0584228d8a9bd530911705b6"),
    "vanilla_acc": ("exps/s1-gt-cls.txt", "465d61399626e3b6abe08b2dbabcd2a09026b6ed5e83510d3ef87b14822317ad"),
}
PAPER = ("Peijie Dong, Lujun Li, Zimian Wei, DisWOT: Student Architecture Search for Distillation WithOut Training, "
         "CVPR 2023")


def metadata() -> dict:
    return {
        "name": NAME,
        "description": ("DisWOT's S1 on CIFAR-100: KD and vanilla top-1 accuracy (%) of all 64 students (CIFAR "
                        "ResNets with 1/3/5/7 blocks per stage), as released by the authors; one training run each"),
        "space": "diswot-s1",
        "benchmark": "DisWOT S1",
        "dataset": "cifar100",
        "data": {"dataset": "cifar100", "num_classes": 100, "resolution": 32, "channels": 3,
                 "sample": "cifar100-sample"},
        "network": {"init": "default"},
        "source": {
            "repository": REPOSITORY, "commit": COMMIT, "paper": PAPER, "licence": "Apache-2.0",
            "files": {m: {"path": p, "sha256": h} for m, (p, h) in FILES.items()},
            "format": "one line per student: '<arch code> <top-1 %>' (4 decimals), codes '111'..'777'",
        },
        "licence": "Apache-2.0 (lliai/DisWOT-CVPR2023); see README.md next to this file",
        "series": {
            "cifar100/kd_acc": "top-1 accuracy (%) of the student trained with knowledge distillation "
                               "(exps/s1-gt-kd.txt)",
            "cifar100/vanilla_acc": "top-1 accuracy (%) of the student trained alone (exps/s1-gt-cls.txt)",
            "cifar100/kd_gain": "kd_acc - vanilla_acc of the same student (points), derived here",
        },
        "teacher": {
            "spec": "resnet110",
            "trained_for_the_table": "a trained CIFAR-100 ResNet-110, as far as the repository shows: its KD "
                                     "scripts (scripts/run_cifar_distill.sh) and its S1 analysis "
                                     "(exps/parse_s1_zc.py) load save/models/resnet110_vanilla/ckpt_epoch_240.pth; "
                                     "neither the checkpoint nor its accuracy is released",
            "for_the_proxies": "no trained teacher ships with this benchmark: the KD-aware proxies get a randomly "
                               "initialized ResNet-110 (DisWOT's own zero-cost setting); --teacher resnet56 is the "
                               "other teacher the repository pairs with S1, --teacher checkpoint:PATH a trained one",
        },
        "protocol": {
            "runs_per_value": 1,
            "known": ["CIFAR-100, 100 classes, 32x32 inputs, top-1 accuracy in %",
                      "the 64 S1 students, the network of models/candidates/mutable/mutable_depth_resnet20.py",
                      "the distillation scripts of the repository use RepDistiller's train_student.py with a "
                      "ResNet-110 teacher checkpoint"],
            "unknown": ["which distillation loss and weights produced s1-gt-kd.txt",
                        "epochs, optimizer, learning-rate schedule, batch size and augmentation of both tables",
                        "the teacher's accuracy", "the training seeds"],
            "notes": "each value is ONE training run (the files give one number per student and nothing about "
                     "repeats), so the seed-to-seed noise of these accuracies is unknown and no noise ceiling "
                     "can be computed; the authors' files state neither the epochs nor the recipe",
        },
        "created": "2026-12-07T00:00:00+00:00",
    }


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(kd: Path, vanilla: Path) -> GroundTruth:
    tables = []
    for metric, path in (("kd_acc", kd), ("vanilla_acc", vanilla)):
        want = FILES[metric][1]
        got = sha256(path)
        if got != want:
            raise ValueError(f"{path} is not the released {FILES[metric][0]} (SHA-256 {got}, expected {want})")
        tables.append(from_diswot_txt(path, metric, "cifar100").ground_truth)
    both = pd.concat(tables, ignore_index=True)
    wide = both.pivot(index="arch_index", columns="metric", values="value")
    if wide.isna().any().any() or len(wide) != 64:
        raise ValueError("the two tables must hold the same 64 architectures")
    gain = pd.DataFrame({"arch_index": wide.index, "dataset": "cifar100", "metric": "kd_gain",
                         "value": wide["kd_acc"] - wide["vanilla_acc"]})
    table = pd.concat([both.drop(columns=["arch", "seed"]), gain], ignore_index=True)
    return GroundTruth(table, metadata())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repo", type=Path, help="a checkout of lliai/DisWOT-CVPR2023")
    ap.add_argument("--kd", type=Path, help="exps/s1-gt-kd.txt")
    ap.add_argument("--vanilla", type=Path, help="exps/s1-gt-cls.txt")
    ap.add_argument("--out", type=Path, default=BUNDLED_DIR / f"{NAME}.pbgt")
    args = ap.parse_args(argv)
    if args.repo is not None:
        kd, vanilla = args.repo / FILES["kd_acc"][0], args.repo / FILES["vanilla_acc"][0]
    elif args.kd is not None and args.vanilla is not None:
        kd, vanilla = args.kd, args.vanilla
    else:
        ap.error("give --repo DIR, or --kd FILE and --vanilla FILE")
    gt = build(kd, vanilla)
    gt.save(args.out)
    gain = gt.table("kd_gain")
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes): {gt.n_archs()} archs, series "
          f"{', '.join(f'{d}/{m}' for d, m in gt.pairs())}; kd_gain {gain.min():+.2f} .. {gain.max():+.2f}, mean "
          f"{gain.mean():+.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
