"""Which hypergradient order should the DistPro process search use by default? (not a test: the figures depend on the
machine and its load)

    python perf/distpro_order.py            # writes perf/results/distpro_order.txt

A tiny budget on real data: the shipped protocol (``kdbench/protocols/fmnist16.json``, Fashion-MNIST 16x16, its
ResNet-20 teacher) shrunk to ``--images`` training images, a narrower student (``--C``, ``--N``), batch ``--batch``
and ``--epochs`` epochs, so that a whole search (warm-up of the schedule included) fits in about a minute per run.
For each order and seed: CPU seconds per step, the held-out cross-entropy and accuracy the search's student reaches
(on the 20% of the images it never trains on), and the learned process's weights at the last point. One torch
thread; CPU seconds (``time.process_time``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--protocol", default=str(ROOT / "kdbench/protocols/fmnist16.json"))
    ap.add_argument("--arch", default="13673")
    ap.add_argument("--images", type=int, default=1500)
    ap.add_argument("--C", type=int, default=8)
    ap.add_argument("--N", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--epochs", type=float, default=4.0)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "perf/results/distpro_order.txt"))
    args = ap.parse_args()

    torch.set_num_threads(1)
    from proxybench.distill import process as P
    from proxybench.distill.protocol import Protocol
    from proxybench.distill.teachers import load_teacher
    from proxybench.distill.trainer import load_train_data

    lines: list[str] = []

    def say(msg: str = "") -> None:
        print(msg, flush=True)
        lines.append(msg)

    base = Protocol.from_file(args.protocol)
    protocol = base.replace(train_subset=args.images, C=args.C, N=args.N, batch_size=args.batch,
                            epochs=args.epochs)
    data = load_train_data(protocol)
    teacher = load_teacher(str(ROOT / base.teacher["checkpoint"]), num_classes=data.num_classes,
                           in_channels=protocol.channels).eval()
    arch = int(args.arch) if args.arch.isdigit() else args.arch
    say(f"hypergradient order on a tiny budget: {Path(args.protocol).name} with {args.images} images, NB201 C={args.C} "
        f"N={args.N}, batch {args.batch}, {args.epochs:g} epochs ({protocol.schedule} lr {protocol.lr}), teacher "
        f"{base.teacher['spec']}, cell {arch}; 1 thread, CPU seconds, other jobs sharing the machine")
    rows = []
    for order in (1, 2):
        for seed in range(args.seeds):
            c0 = time.process_time()
            proc = P.search_process(protocol, data, [arch], teacher, points=4, order=order, seed=seed, device="cpu")
            cpu = time.process_time() - c0
            cell = proc.info["cells"][0]
            per_step = cpu / cell["steps"]
            rows.append((order, seed, per_step, cell["final_held_out_ce"], cell["final_held_out_acc"]))
            say(f"order {order} seed {seed}: {cell['steps']} steps, {per_step:.3f} CPU s/step, held-out CE "
                f"{cell['final_held_out_ce']:.4f}, acc {cell['final_held_out_acc']:.2f}%; last point "
                + " ".join(f"{n}={w:.2f}" for n, w in zip(proc.names, proc.weights[-1])))
    say()
    for order in (1, 2):
        r = np.array([row[2:] for row in rows if row[0] == order])
        say(f"order {order}: mean {r[:, 0].mean():.3f} CPU s/step, held-out CE {r[:, 1].mean():.4f} "
            f"(seeds {', '.join(f'{v:.4f}' for v in r[:, 1])}), acc {r[:, 2].mean():.2f}%")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
