"""DistPro's cost on the real KD protocol (not a test: the figures depend on the machine and its load).

    python perf/distpro_cost.py                          # kdbench/protocols/fmnist16.json, its ResNet-20 teacher
    python perf/distpro_cost.py --steps 10 --distill-steps 20 --out perf/results/distpro_cost.txt

One torch thread; CPU seconds (``time.process_time``) so that a busy machine does not inflate the figures.

1. Process search, both hypergradient orders, ``--steps`` steps each of the protocol's optimizer and batch size on one
   cell (a schedule compressed to those steps, so the run is short): CPU seconds per step (the first step left out as
   warm-up), CPU seconds per epoch of the search-training split and for the protocol's whole budget, and the held-out
   cross-entropy each order reaches in those steps (a tiny budget; same seed, same batches).
2. Agreement of the two orders: cosine similarity between the first-order and the exact (unrolled) hypergradients at
   the same states, along a short trajectory trained with uniform weights at the protocol's learning rates.
3. Distill stage: training images/s of ``kd`` (teacher logits cached once, as ``kd-bench build`` does without
   augmentation, and with the teacher run on every batch) and of ``distpro`` (the teacher's features on every batch,
   plus the transforms), ``--distill-steps`` steps each.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CELL = 13673  # a cell of the shipped table (DESIGN.md's first look at alpha and T)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--protocol", default=str(ROOT / "kdbench/protocols/fmnist16.json"))
    ap.add_argument("--teacher", default=None, help="default: the protocol's teacher.checkpoint")
    ap.add_argument("--arch", default=str(CELL))
    ap.add_argument("--steps", type=int, default=10, help="process-search steps per order")
    ap.add_argument("--states", type=int, default=3, help="states at which the two orders are compared")
    ap.add_argument("--distill-steps", type=int, default=20)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--out", default=str(ROOT / "perf/results/distpro_cost.txt"))
    args = ap.parse_args()
    if not 2 <= args.steps < 20:
        ap.error("--steps must be in 2..19 (the search logs, and this script times, every step below 20 steps)")

    torch.set_num_threads(1)
    from proxybench.distill import process as P
    from proxybench.distill.pathways import Pathways
    from proxybench.distill.protocol import Protocol
    from proxybench.distill.teachers import describe, load_teacher
    from proxybench.distill.trainer import build_student, load_train_data, lr_factor, teacher_logits, train

    lines: list[str] = []

    def say(msg: str = "") -> None:
        print(msg, flush=True)
        lines.append(msg)

    cpu_start = time.process_time()
    protocol = Protocol.from_file(args.protocol)
    teacher_path = args.teacher or str(ROOT / protocol.teacher["checkpoint"])
    data = load_train_data(protocol, root=args.data_root)
    teacher = load_teacher(teacher_path, num_classes=data.num_classes, in_channels=protocol.channels).eval()
    arch = int(args.arch) if args.arch.isdigit() else args.arch
    say(f"DistPro cost on {Path(args.protocol).name} ({protocol.train_subset} images x {protocol.epochs:g} epochs, "
        f"batch {protocol.batch_size}, {protocol.resolution}x{protocol.resolution}, NB201 C={protocol.C} "
        f"N={protocol.N}), teacher {describe(teacher)}, cell {arch}")
    say(f"machine: {platform.machine()} {platform.processor()}, torch {torch.__version__}, 1 thread; CPU seconds "
        f"(process_time); measured while other jobs shared the machine")
    say()

    # ---- 1. process search, both orders -------------------------------------------------------------------------
    n_train = len(data.y_train) - round(0.2 * len(data.y_train))
    steps_per_epoch = n_train // protocol.batch_size
    total_protocol = round(protocol.epochs * steps_per_epoch)
    say(f"1. process search: {args.steps} steps per order (search-training split {n_train} images, "
        f"{steps_per_epoch} steps per epoch; the protocol's {protocol.epochs:g} epochs are {total_protocol} steps)")
    per_step = {}
    for order in (1, 2):
        step_cpu: list[float] = []
        last = [time.process_time()]

        def log(msg: str, _cpu=step_cpu, _last=last) -> None:
            now = time.process_time()
            _cpu.append(now - _last[0])
            _last[0] = now

        c0 = time.process_time()
        last[0] = c0
        proc = P.search_process(protocol, data, [arch], teacher, epochs=args.steps / steps_per_epoch,
                                points=1, order=order, seed=0, device="cpu", log=log)
        cpu = time.process_time() - c0
        cell = proc.info["cells"][0]
        s = float(np.median(step_cpu[1:])) if len(step_cpu) > 1 else cpu / args.steps
        per_step[order] = s
        say(f"   order {order}: {s:.2f} CPU s/step (median, first step excluded) -> {s * steps_per_epoch:.0f} CPU s "
            f"per epoch, {s * total_protocol / 60:.1f} CPU min for the protocol's budget; held-out CE after "
            f"{cell['steps']} steps {cell['final_held_out_ce']:.4f} (acc {cell['final_held_out_acc']:.2f}%); "
            f"mean weights " + " ".join(f"{n}={w:.3f}" for n, w in zip(proc.names, proc.weights[0])))
    say(f"   order 2 / order 1 time per step: {per_step[2] / per_step[1]:.2f}x")
    say()

    # ---- 2. agreement of the two orders --------------------------------------------------------------------------
    say(f"2. first-order vs exact hypergradient at {args.states} states (uniform weights, protocol lr schedule over "
        f"{args.states * 2} steps)")
    student = build_student(arch, protocol, data.num_classes, 0).train()
    paths = Pathways.for_networks(student, teacher, protocol.resolution, protocol.channels).train()
    params = list(student.parameters()) + list(paths.parameters())
    opt = torch.optim.SGD([{"params": [p for p in params if p.dim() > 1], "weight_decay": protocol.weight_decay},
                           {"params": [p for p in params if p.dim() <= 1], "weight_decay": 0.0}],
                          lr=protocol.lr, momentum=protocol.momentum, nesterov=protocol.nesterov)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor(protocol.schedule, args.states * 2))
    alpha = torch.ones(len(paths), requires_grad=True)
    g = torch.Generator().manual_seed(0)
    cosines = []
    for step in range(args.states * 2):
        idx = torch.randperm(len(data.y_train), generator=g)
        xb, yb = data.x_train[idx[:protocol.batch_size]], data.y_train[idx[:protocol.batch_size]]
        xv = data.x_train[idx[protocol.batch_size:2 * protocol.batch_size]]
        yv = data.y_train[idx[protocol.batch_size:2 * protocol.batch_size]]
        xb, xv = (t.contiguous(memory_format=torch.channels_last) for t in (xb, xv))
        with torch.no_grad():
            t_feats = teacher.forward_features(xb)
        if step % 2 == 0:
            h1 = P.hypergradient(student, paths, alpha, (xb, yb), (xv, yv), t_feats, opt, order=1)[0]
            h2 = P.hypergradient(student, paths, alpha, (xb, yb), (xv, yv), t_feats, opt, order=2)[0]
            cos = F.cosine_similarity(h1, h2, dim=0).item()
            cosines.append(cos)
            say(f"   step {step}: lr {opt.param_groups[0]['lr']:.4f}, cosine {cos:+.3f}, sign agreement "
                f"{int((h1.sign() == h2.sign()).sum())}/{len(h1)}")
        s_feats = student.forward_features(xb)
        loss = F.cross_entropy(s_feats["logits"], yb) + (paths.losses(s_feats, t_feats) / len(paths)).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    say(f"   mean cosine {np.mean(cosines):+.3f}")
    say()

    # ---- 3. distill stage: kd vs distpro ---------------------------------------------------------------------------
    say(f"3. distill stage, {args.distill_steps} steps each (images/s of the training steps, evaluation excluded)")
    epochs = args.distill_steps / (len(data.y_train) // protocol.batch_size)
    c0 = time.process_time()
    soft = teacher_logits(teacher, data.x_train, members=True)
    say(f"   teacher logits cached once for {len(data.y_train)} images: {time.process_time() - c0:.1f} CPU s")
    proc_path = Path(args.out).with_suffix(".process.json")
    P.save_process(proc, proc_path)  # the order-2 process from part 1
    runs = {
        "kd (cached logits)": (protocol, dict(soft_targets=soft)),
        "kd (teacher per batch)": (protocol, dict(teacher=teacher)),
        "distpro (distpro transforms)": (protocol.replace(distiller="distpro",
                                                          distiller_options={"process": str(proc_path)}),
                                         dict(teacher=teacher)),
        "distpro (conv1x1 transforms)": (protocol.replace(distiller="distpro", distiller_options={
            "process": str(proc_path), "transform": "conv1x1"}), dict(teacher=teacher)),
    }
    rates = {}
    for name, (p, kw) in runs.items():
        marks: list[float] = []
        res = train(build_student(arch, p, data.num_classes, 0), data, p, mode="kd", seed=0, epochs=epochs,
                    device="cpu", progress=lambda i, n, _m=marks: _m.append(time.process_time()), **kw)
        cpu_step = float(np.median(np.diff(marks)))  # the first step (no earlier mark) is left out
        rates[name] = protocol.batch_size / cpu_step
        say(f"   {name:30s} {rates[name]:6.0f} images per CPU s ({cpu_step:.3f} CPU s/step, median of "
            f"{res.steps - 1}; wall {res.images_per_s:.0f} images/s)")
    base = rates["kd (cached logits)"]
    say("   time per image relative to kd with cached logits: "
        + ", ".join(f"{name} {base / r:.2f}x" for name, r in rates.items()))
    say()
    say(f"total CPU of this script: {time.process_time() - cpu_start:.0f} s")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    proc_path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
