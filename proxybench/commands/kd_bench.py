"""``proxybench kd-bench``: train a teacher, build (resumably) and export a KD benchmark of NB201 students."""

from __future__ import annotations

import json
import sys
from pathlib import Path

NAME = "kd-bench"
HELP = "build a KD benchmark: teacher, vanilla and distilled student accuracies (resumable)"
ORDER = 60
DESCRIPTION = """Build a knowledge-distillation benchmark of NB201 students.

  teacher  train a teacher on the protocol's full training set and save it (with its test accuracy); with
           --members K (or --spec a,b,c) an ensemble: each member's checkpoint, the ensemble checkpoint and an
           ensemble spec file, with the ensemble's accuracy (mean logits) and oracle accuracy (any member right)
  build    train every planned (arch, seed, mode) run not yet done; each finished run is committed at once,
           so an interrupted build loses at most the run in progress; re-run the same command to resume;
           --scheduler spreads the runs over dask.distributed workers (the store stays with this process)
  status   summary of a build directory: runs done, teacher(s), recipe, accuracy ranges, KD gain (bootstrap
           CI), cells where KD wins or loses > 3 points, noise floor and KD-vs-vanilla Kendall tau (CIs), best
           cells, CPU hours; of a KD benchmark (registered name or .pbgt file): the same figures as exported,
           with its sweep
  export   write a build (also a partial one) as a ground-truth table (metrics vanilla_acc, kd_acc)"""
EPILOG = """examples:
  proxybench kd-bench teacher --protocol proto.json --spec resnet20 --epochs 15 --out build/teacher.pt
  proxybench kd-bench teacher --protocol proto.json --spec resnet20 --members 3 --epochs 15 --out ens/teacher.pt
  proxybench kd-bench build --protocol proto.json --archs 150 --seeds 1 --noise-archs 10 --noise-seeds 3 \\
      --out build
  proxybench kd-bench build --protocol oracle.json --archs 150 --teacher @ens/teacher.ensemble.txt --out b2
  proxybench kd-bench build --protocol proto.json --archs 150 --scheduler tcp://10.0.0.5:8786 --out build
  proxybench kd-bench build --protocol proto.json --archs 150 --scheduler local:2 --out build
  proxybench kd-bench status build
  proxybench kd-bench status nb201-kd-fmnist16-v2
  proxybench kd-bench export build --name my-kd-bench --out my-kd-bench.pbgt"""


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="kd_command", metavar="ACTION", required=True)

    t = sub.add_parser("teacher", help="train and save a teacher")
    t.add_argument("--protocol", required=True, help="protocol JSON file (dataset, resolution, optimizer, ...)")
    t.add_argument("--spec", required=True,
                   help="teacher architecture, e.g. resnet20 or nb201:<arch>; a comma-separated list a,b,c trains "
                        "an ensemble with one member per architecture")
    t.add_argument("--members", type=int, default=None,
                   help="train an ensemble of K members of --spec with seeds SEED..SEED+K-1; writes OUT.m0.pt, ... "
                        "(one checkpoint per member), OUT (the ensemble as one checkpoint), OUT.ensemble.txt (the "
                        "spec ensemble:checkpoint:OUT.m0.pt,... for --teacher @FILE) and OUT.json with each "
                        "member's, the ensemble's and the oracle test accuracy")
    t.add_argument("--epochs", type=float, required=True, help="training epochs over the full training set")
    t.add_argument("--lr", type=float, default=None, help="peak learning rate (default: the protocol's)")
    t.add_argument("--augmentation", default="crop_flip", choices=("none", "crop_flip"))
    t.add_argument("--seed", type=int, default=0, help="training seed (ensemble member i: SEED + i)")
    t.add_argument("--out", required=True, help="checkpoint path to write")
    _common(t)

    b = sub.add_parser("build", help="train students (resumable)")
    b.add_argument("--protocol", required=True, help="protocol JSON file")
    b.add_argument("--archs", required=True,
                   help="N: sample N unique, non-zero NB201 cells with --arch-seed; or a file of indices/arch strings")
    b.add_argument("--arch-seed", type=int, default=0, help="seed of the architecture sample (default 0)")
    b.add_argument("--seeds", type=int, default=1, help="training seeds per arch (default 1)")
    b.add_argument("--noise-archs", type=int, default=0, help="the first M archs also get --noise-seeds seeds")
    b.add_argument("--noise-seeds", type=int, default=3, help="seeds for the noise-floor archs (default 3)")
    b.add_argument("--modes", default="vanilla,kd", help="comma-separated: vanilla, kd (default both)")
    b.add_argument("--teacher", default=None,
                   help="teacher: a checkpoint path (default OUT/teacher.pt), a spec (checkpoint:PATH, "
                        "ensemble:checkpoint:A,checkpoint:B,...) or @FILE, a file holding such a spec on one line "
                        "('#' comments allowed; relative checkpoint paths are taken from FILE's folder), e.g. the "
                        "OUT.ensemble.txt of 'kd-bench teacher --members K'")
    b.add_argument("--out", required=True, help="build directory (created; resumed when it exists)")
    b.add_argument("--reuse-vanilla", action="append", default=[], metavar="BUILD_DIR",
                   help="copy the vanilla runs this build needs from an earlier build whose protocol differs only in "
                        "KD-only fields (alpha, temperature, distiller, teacher); repeatable")
    b.add_argument("--max-runs", type=int, default=None, help="stop after this many runs (resume later)")
    b.add_argument("--time-budget", type=float, default=None, help="stop starting runs after this many seconds")
    b.add_argument("--shard", default="0/1", help="I/N: this process does plan positions p %% N == I (run N "
                                                  "processes, e.g. one per core with --threads 1)")
    b.add_argument("--scheduler", default=None,
                   help="dask.distributed scheduler address (tcp://HOST:PORT) or local:N (a local cluster of N "
                        "single-threaded worker processes): workers train, this process commits each finished "
                        "run; a run lost with its worker is redone; workers load the data themselves "
                        "(--data-root must be valid on them) and use --threads torch threads each")
    _common(b)

    _add_process_search(sub)

    s = sub.add_parser("status", help="summary of a build directory or of a KD benchmark")
    s.add_argument("build_dir", metavar="BUILD_DIR|BENCHMARK",
                   help="a kd-bench build directory, or a registered KD benchmark name or .pbgt file")

    e = sub.add_parser("export", help="write a build as a ground-truth table")
    e.add_argument("build_dir")
    e.add_argument("--out", required=True, help="ground-truth file to write")
    e.add_argument("--name", required=True, help="benchmark name")
    e.add_argument("--dataset-label", default=None, help="dataset label in the table (default DATASET-RESOLUTION)")
    e.add_argument("--description", default="")


def _common(p) -> None:
    p.add_argument("--data-root", default=None, help="data set folder (default: the data set's usual place)")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run(args) -> int:
    if args.kd_command == "status":  # reads run stores and metadata only: no torch
        print(json.dumps(_status(args.build_dir), indent=2))
        return 0
    import torch

    from ..distill import kdbench
    from ..distill.protocol import Protocol

    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    if args.kd_command == "process-search":
        return _process_search(args)
    if args.kd_command == "export":
        d = Path(args.build_dir)
        protocol = Protocol.from_file(d / "protocol.json")
        label = args.dataset_label or f"{protocol.dataset}-{protocol.resolution}"
        meta = kdbench.export_ground_truth(d, args.out, name=args.name, dataset_label=label,
                                          description=args.description)
        print(json.dumps(meta["summary"], indent=2))
        return 0

    protocol = Protocol.from_file(args.protocol)
    if args.kd_command == "teacher":
        from ..distill.teachers import split_ensemble
        from ..distill.trainer import load_train_data
        from ..io import write_text

        text = args.spec.strip()
        specs = (split_ensemble(text) if text.startswith("ensemble:")
                 else split_ensemble("ensemble:" + text) if "," in text else [text])
        if args.members is not None:
            if args.members < 1:
                raise ValueError(f"--members must be >= 1, got {args.members}")
            if len(specs) == 1:
                specs = specs * args.members
            elif args.members != len(specs):
                raise ValueError(f"--spec lists {len(specs)} architectures but --members {args.members} was given; "
                                 "give one architecture with --members K, or K architectures")
        data = load_train_data(protocol.replace(train_subset=None, transfer_set=0), root=args.data_root)
        settings = dict(epochs=args.epochs, lr=args.lr, augmentation=args.augmentation, seed=args.seed,
                        device=args.device, out=args.out)
        if len(specs) == 1:
            _, info = kdbench.train_teacher(specs[0], protocol, data, **settings)
        else:
            _, info = kdbench.train_teacher_ensemble(specs, protocol, data, log=_log, **settings)
        write_text(Path(args.out).with_suffix(".json"), json.dumps(info, indent=2) + "\n")
        if len(specs) == 1:
            print(f"teacher {specs[0]}: {info['test_acc']:.2f}% test accuracy -> {args.out}")
            return 0
        print(f"ensemble of {len(specs)}: members {', '.join(f'{a:.2f}' for a in info['member_test_acc'])}%; "
              f"ensemble {info['ensemble_test_acc']:.2f}%, oracle {info['oracle_test_acc']:.2f}% test accuracy -> "
              f"{args.out}, spec file {kdbench.ensemble_spec_path(args.out)}")
        return 0

    # build
    from ..benchmarks import nb201

    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if args.archs.isdigit():
        archs = nb201.sample_indices(int(args.archs), seed=args.arch_seed, unique=True, exclude_zero=True)
    else:
        archs = kdbench.read_arch_file(args.archs)
    if args.noise_archs > len(archs):
        raise ValueError(f"--noise-archs {args.noise_archs} exceeds the {len(archs)} archs")
    plan = kdbench.plan_runs(archs, seeds=args.seeds, noise_archs=args.noise_archs, noise_seeds=args.noise_seeds,
                             modes=modes)
    try:
        shard = tuple(int(v) for v in args.shard.split("/"))
        assert len(shard) == 2
    except (ValueError, AssertionError):
        raise ValueError(f"--shard must look like I/N (e.g. 0/2), got {args.shard!r}") from None
    runs = kdbench.build(args.out, protocol, plan, teacher_path=args.teacher, data_root=args.data_root,
                         device=args.device, max_runs=args.max_runs, time_budget=args.time_budget, shard=shard,
                         scheduler=args.scheduler, threads=args.threads, reuse_vanilla_from=args.reuse_vanilla,
                         log=_log)
    print(json.dumps(kdbench.summarize(runs), indent=2))
    return 0


# ---- process-search: DistPro's meta-learned pathway weights --------------------------------------------------------
def _status(target: str) -> dict:
    """Figures of a build directory (its run store) or of a KD benchmark (its exported metadata)."""
    from ..distill import summary

    d = Path(target)
    if d.is_dir():
        if not (d / "runs.sqlite").exists():
            raise FileNotFoundError(f"{d} is not a kd-bench build directory (no runs.sqlite)")
        store = summary.RunStore(d / "runs.sqlite")
        try:
            runs = store.frame()
        finally:
            store.close()
        plan = json.loads((d / "plan.json").read_text()) if (d / "plan.json").exists() else []
        out = summary.summarize(runs)
        out["planned"] = len(plan)
        out.update(summary.build_description(d))
        return out
    from ..benchmarks.groundtruth import list_benchmarks, load_benchmark

    try:
        bench = load_benchmark(target)
    except (ValueError, FileNotFoundError):
        kd = [n for n in list_benchmarks() if _is_kd_benchmark(n)]
        raise FileNotFoundError(f"{target} is not a kd-bench build directory (no runs.sqlite) nor a KD benchmark; "
                                f"registered KD benchmarks: {', '.join(kd) or '(none)'}") from None
    return summary.benchmark_status(bench.metadata, bench.ground_truth)


def _is_kd_benchmark(name: str) -> bool:
    from ..benchmarks.groundtruth import load_benchmark

    try:
        meta = load_benchmark(name).metadata
    except (ValueError, FileNotFoundError):
        return False
    return isinstance(meta.get("protocol"), dict) and isinstance(meta.get("summary"), dict)


def _add_process_search(sub) -> None:
    from ..distill.pathways import PATHWAY_SETS, TRANSFORMS
    from ..distill.process import DEFAULT_ORDER, DEFAULT_POINTS, NORMALIZATIONS

    q = sub.add_parser("process-search", help="learn a DistPro process (pathway weights over training)",
                       description="Learn DistPro's pathway weights over training by bi-level meta-optimization on "
                                   "one or a few student cells, and write them as a process JSON for "
                                   "'\"distiller\": \"distpro\"' (see proxybench.distill.process).")
    q.add_argument("--protocol", required=True, help="protocol JSON file (optimizer, schedule, budget, data)")
    q.add_argument("--arch", required=True, action="append",
                   help="student cell: NB201 arch string or index (repeat, or separate with commas, for several "
                        "cells; the process is their mean)")
    q.add_argument("--teacher", default=None,
                   help="teacher checkpoint path or spec (checkpoint:PATH, ensemble:..., resnet20, nb201:...); "
                        "default: the protocol's teacher.checkpoint")
    q.add_argument("--out", required=True, help="process JSON to write")
    q.add_argument("--epochs", type=float, default=None,
                   help="search epochs over the search-training split (default: the protocol's)")
    q.add_argument("--points", type=int, default=DEFAULT_POINTS,
                   help=f"K: weights recorded per 1/K of the schedule (default {DEFAULT_POINTS})")
    q.add_argument("--order", type=int, default=DEFAULT_ORDER, choices=(1, 2),
                   help=f"hypergradient: 1 first-order, 2 exact unrolled (default {DEFAULT_ORDER})")
    q.add_argument("--pathways", default="distpro", choices=PATHWAY_SETS,
                   help="distpro: teacher stage i -> student stage j for i <= j (default); all: every pair")
    q.add_argument("--transform", default="distpro", choices=TRANSFORMS, help="pathway transform (default distpro)")
    q.add_argument("--normalization", default="softmax", choices=NORMALIZATIONS,
                   help="weights = softmax (sum to 1, default) or sigmoid (each in [0, 1]) of learned logits")
    q.add_argument("--warmup", type=float, default=0.0,
                   help="fraction of the steps trained with uniform weights before the meta-updates (default 0)")
    q.add_argument("--val-fraction", type=float, default=0.2,
                   help="held-out fraction of the training images for the meta-objective (default 0.2)")
    q.add_argument("--seed", type=int, default=0)
    _common(q)


def _split_archs(values: list[str]) -> list[str | int]:
    archs: list[str | int] = []
    for value in values:
        for item in value.split(","):
            item = item.strip()
            if item:
                archs.append(int(item) if item.isdigit() else item)
    if not archs:
        raise ValueError("--arch names no cell")
    return archs


def _search_teacher(args, protocol, num_classes: int):
    from ..distill.teachers import build_teacher, load_teacher

    text = args.teacher or (protocol.teacher or {}).get("checkpoint")
    if not text:
        raise ValueError("no teacher: pass --teacher CKPT_OR_SPEC (the protocol names no teacher.checkpoint)")
    if Path(text).is_file():
        return text, load_teacher(text, num_classes=num_classes, in_channels=protocol.channels).eval()
    if text.endswith((".pt", ".pth")) and not text.startswith(("checkpoint:", "ensemble:")):
        raise FileNotFoundError(f"teacher checkpoint {text} does not exist")
    teacher = build_teacher(text, num_classes=num_classes, in_channels=protocol.channels)
    if not getattr(teacher, "trained", False):
        _log(f"warning: teacher {text!r} is a random initialization, not a trained network")
    return text, teacher.eval()


def _process_search(args) -> int:
    import time

    from ..distill.process import save_process, search_process
    from ..distill.protocol import Protocol
    from ..distill.trainer import load_train_data

    protocol = Protocol.from_file(args.protocol)
    archs = _split_archs(args.arch)
    data = load_train_data(protocol, root=args.data_root)
    label, teacher = _search_teacher(args, protocol, data.num_classes)
    started = time.perf_counter()
    process = search_process(protocol, data, archs, teacher, teacher_label=label, epochs=args.epochs,
                             points=args.points, order=args.order, seed=args.seed, pathways=args.pathways,
                             transform=args.transform, normalization=args.normalization, warmup=args.warmup,
                             val_fraction=args.val_fraction, device=args.device, log=_log)
    save_process(process, args.out)
    last = " ".join(f"{n}={w:.3f}" for n, w in zip(process.names, process.weights[-1]))
    print(f"process of {len(archs)} cell(s), {process.info['cpu_seconds']:.0f} CPU s "
          f"({time.perf_counter() - started:.0f} s wall) -> {args.out}; last point: {last}")
    return 0
