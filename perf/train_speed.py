"""Training throughput of the KD benchmark builder (not a test: the figures depend on the machine and its load).

    python perf/train_speed.py kdbench/build/nb201-kd-fmnist16             # every finished run of a build
    python perf/train_speed.py kdbench/build/nb201-kd-fmnist16 --measure 3 # also time 3 archs now, 40 steps each

From a build directory: images/s and seconds per run (median, range) by mode and by torch thread count, the
slowest and fastest cells, and the CPU time the unfinished part of the plan needs at the median rate. Every run of
the builder records its own throughput (training steps only, evaluation excluded), so these are the figures of the
real build, under whatever load the machine had.

``--measure K`` times K cells of the plan now (vanilla and KD, ``--steps`` steps of the build's protocol, the
build's threads), on the un-augmented data path the build uses (teacher logits cached once): the figure to compare
with the build's when the machine is idle.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch


def from_build(build_dir: Path) -> None:
    from proxybench.distill.kdbench import RunStore

    store = RunStore(build_dir / "runs.sqlite")
    try:
        runs = store.frame()
    finally:
        store.close()
    plan = json.loads((build_dir / "plan.json").read_text()) if (build_dir / "plan.json").exists() else []
    print(f"{build_dir}: {len(runs)} finished runs of {len(plan) or '?'} planned")
    if runs.empty:
        return
    for (mode, threads), g in runs.groupby(["mode", "threads"]):
        ips, sec = g["images_per_s"].to_numpy(), g["seconds"].to_numpy()
        print(f"  {mode:7s} {int(threads)} thread(s), {len(g):3d} runs: {np.median(ips):6.0f} images/s "
              f"(range {ips.min():.0f}-{ips.max():.0f}), {np.median(sec):5.0f} s per run (range {sec.min():.0f}-"
              f"{sec.max():.0f}), {int(g['images'].median()):,} training images per run")
    per_arch = runs.groupby("arch_index")["images_per_s"].median().sort_values()
    print(f"  slowest cell {per_arch.index[0]} ({per_arch.iloc[0]:.0f} images/s), fastest cell {per_arch.index[-1]} "
          f"({per_arch.iloc[-1]:.0f} images/s)")
    left = len(plan) - len(runs)
    if left > 0:
        cpu_h = left * float(runs["seconds"].median()) / 3600
        print(f"  {left} runs left: about {cpu_h:.1f} core-hours at the median run time "
              f"({cpu_h / 2:.1f} h with one process per core on 2 cores)")


def measure(build_dir: Path, k: int, steps: int, threads: int) -> None:
    from proxybench.distill.protocol import Protocol
    from proxybench.distill.teachers import load_teacher
    from proxybench.distill.trainer import build_student, load_train_data, teacher_logits, train

    torch.set_num_threads(threads)
    protocol = Protocol.from_file(build_dir / "protocol.json")
    plan = json.loads((build_dir / "plan.json").read_text())
    archs = list(dict.fromkeys(r["arch"] for r in plan))[:k]
    data = load_train_data(protocol)
    teacher_path = (protocol.teacher or {}).get("checkpoint")
    soft = None
    if teacher_path and Path(teacher_path).exists():
        teacher = load_teacher(teacher_path, num_classes=data.num_classes, in_channels=protocol.channels)
        t0 = time.perf_counter()
        soft = teacher_logits(teacher, data.x_train)
        print(f"teacher logits on {len(data.x_train):,} training images: {time.perf_counter() - t0:.1f} s (once "
              "per build)")
    epochs = steps / max(1, len(data.y_train) // protocol.batch_size)
    print(f"{len(archs)} cells x {steps} steps of batch {protocol.batch_size}, {torch.get_num_threads()} thread(s)")
    for arch in archs:
        for mode in ("vanilla", "kd") if soft is not None else ("vanilla",):
            model = build_student(arch, protocol, data.num_classes, 0)
            res = train(model, data, protocol, mode=mode, seed=0, soft_targets=soft if mode == "kd" else None,
                        epochs=epochs, device="cpu")
            print(f"  {mode:7s} {res.images_per_s:6.0f} images/s  {arch}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build_dir", type=Path)
    ap.add_argument("--measure", type=int, default=0, metavar="K", help="also time K cells of the plan now")
    ap.add_argument("--steps", type=int, default=40, help="training steps per measured run (default 40)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the measured runs (default 1)")
    args = ap.parse_args(argv)
    if not (args.build_dir / "runs.sqlite").exists():
        ap.error(f"{args.build_dir} is not a kd-bench build directory (no runs.sqlite)")
    from_build(args.build_dir)
    if args.measure:
        measure(args.build_dir, args.measure, args.steps, args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
