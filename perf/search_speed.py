"""Wall time of a DisWOT student search on this machine, against the training-based search it replaces.

The setting of the shipped KD benchmark: Fashion-MNIST images resized to 16x16 and replicated to 3 channels, a
batch of 64 real images, a ResNet-20 teacher (the benchmark's trained checkpoint when present, else random init as
in DisWOT's own search), NB201 students C=16, N=5 (10 classes), regularized evolution P=10, S=3.

The training-based cost is (unique archs the search scored) x (seconds per KD training run). Seconds per run come
from the shipped benchmark's metadata when it is installed; otherwise they are measured here: a few archs the
search visited are KD-trained for a few steps with proxybench's trainer (cached teacher logits, batch 128,
channels_last) and the median throughput gives ``--train-epochs`` x ``--train-images`` / (images/s).

    python perf/search_speed.py --cycles 100 --threads 2 > perf/search_speed.log 2>&1
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT = ROOT / "kdbench" / "teacher" / "resnet20-fmnist16.pt"


def measure_kd_throughput(archs: list[str], teacher_spec: str, *, C: int, N: int, resolution: int, steps: int,
                          seed: int = 0) -> list[float]:
    """Images/s of KD training (0.1 CE + 0.9 KL, T=4, SGD, batch 128) of each arch, on the bundled sample."""
    from proxybench.benchmarks.datasets import make_batch
    from proxybench.distill.protocol import Protocol
    from proxybench.distill.teachers import build_teacher
    from proxybench.distill.trainer import TrainData, build_student, teacher_logits, train

    x, y = make_batch("fashion-mnist-sample", 1000, seed=0, resolution=resolution, channels=3)
    data = TrainData(x_train=x, y_train=y, x_test=x[:200], y_test=y[:200], num_classes=10,
                     dataset="fashion-mnist-sample")
    protocol = Protocol(name="throughput", resolution=resolution, channels=3, C=C, N=N, batch_size=128,
                        lr=0.05, alpha=0.9, temperature=4.0)
    teacher = build_teacher(teacher_spec, num_classes=10, in_channels=3, seed=0).eval()
    soft = teacher_logits(teacher, x)
    epochs = steps / (len(y) // protocol.batch_size)
    out = []
    for arch in archs:
        model = build_student(arch, protocol, 10, seed)
        cpu0 = time.process_time()
        res = train(model, data, protocol, mode="kd", soft_targets=soft, epochs=epochs, seed=seed)
        cpu = time.process_time() - cpu0  # the final test pass (200 images) is included: a slight overestimate
        out.append((res.images_per_s, res.images / cpu))
        print(f"  KD training {res.steps} steps x 128 images: {res.images_per_s:7.1f} images/s wall, "
              f"{res.images / cpu:7.1f} images per CPU-second  {arch}", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--proxy", default="diswot")
    p.add_argument("--cycles", type=int, default=100)
    p.add_argument("--population", type=int, default=10)
    p.add_argument("--sample", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--resolution", type=int, default=16)
    p.add_argument("--C", type=int, default=16)
    p.add_argument("--N", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--teacher", default=None,
                   help=f"teacher spec (default: checkpoint:{CHECKPOINT.relative_to(ROOT)} if present, else resnet20)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--train-archs", type=int, default=3, help="archs KD-trained to measure throughput (0: skip)")
    p.add_argument("--train-steps", type=int, default=14, help="KD training steps per arch for the throughput")
    p.add_argument("--train-epochs", type=float, default=1.0, help="epochs of one training-based evaluation")
    p.add_argument("--train-images", type=int, default=60000, help="training images of one epoch")
    p.add_argument("--out", default=None, help="search output folder (default: none written)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    from proxybench.benchmarks.groundtruth import list_benchmarks
    from proxybench.engine.config import DEFAULT_BENCHMARK
    from proxybench.search import run_search

    teacher = args.teacher or (f"checkpoint:{CHECKPOINT}" if CHECKPOINT.is_file() else "resnet20")
    bench = DEFAULT_BENCHMARK if DEFAULT_BENCHMARK in list_benchmarks() else None
    print(f"search: {args.proxy}, evolution P={args.population} S={args.sample}, {args.cycles} cycles, students "
          f"C={args.C} N={args.N}, batch {args.batch_size} at {args.resolution}x{args.resolution}, teacher {teacher}, "
          f"benchmark {bench or 'none'}, torch threads {torch.get_num_threads()}", flush=True)
    print(f"load average at start: {', '.join(f'{v:.1f}' for v in os.getloadavg())} on {os.cpu_count()} cores",
          flush=True)
    t0, cpu0 = time.perf_counter(), time.process_time()
    r = run_search(args.proxy, teacher=teacher, benchmark=bench, data=None if bench else "fashion-mnist-sample",
                   resolution=args.resolution, channels=3, batch_size=args.batch_size,
                   network={"C": args.C, "N": args.N},
                   population=args.population, sample=args.sample, cycles=args.cycles, seed=args.seed,
                   out=args.out, progress=False)
    total, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    t = r.info["timing"]
    per = r.trajectory.loc[~r.trajectory["cached"], "seconds"]
    print(f"search wall {r.wall_seconds:.1f} s (setup {t['setup_s']:.1f} s, search {r.search_seconds:.1f} s; "
          f"{total:.1f} s with imports of the first call), {r.n_scored} archs scored, {t['cache_hits']} cache hits")
    print(f"per arch scored: mean {per.mean():.3f} s, median {per.median():.3f} s, min {per.min():.3f} s, "
          f"max {per.max():.3f} s")
    print(f"search CPU time {cpu:.1f} s (this process, all threads; {cpu / r.n_scored:.3f} CPU-s per arch scored)")
    print(r.summary())
    if r.cost is None and args.train_archs > 0:
        rng = random.Random(args.seed)
        archs = rng.sample(list(dict.fromkeys(r.trajectory["arch"])), min(args.train_archs, r.n_scored))
        print(f"measuring KD training throughput on {len(archs)} of the archs scored:", flush=True)
        rates = measure_kd_throughput(archs, teacher, C=args.C, N=args.N, resolution=args.resolution,
                                      steps=args.train_steps)
        images = args.train_epochs * args.train_images
        for what, ips, mine in (("wall", statistics.median(x[0] for x in rates), r.wall_seconds),
                                ("CPU", statistics.median(x[1] for x in rates), cpu)):
            per_run = images / ips
            training = r.n_scored * per_run
            print(f"training-based search estimate ({what} time): {r.n_scored} archs x ({args.train_epochs:g} epoch x "
                  f"{args.train_images:,} images / {ips:.0f} images/s = {per_run:,.1f} s) = {training:,.0f} s "
                  f"= {training / 3600:.1f} h; proxy search {mine:.1f} s: {training / mine:.0f}x "
                  f"(DisWOT: 216,000 s vs 1,200 s, 180x)")
    print(f"load average at end: {', '.join(f'{v:.1f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
