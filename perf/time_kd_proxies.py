"""Per-student cost of the KD-aware proxies (not a test).

    OMP_NUM_THREADS=1 python perf/time_kd_proxies.py --teacher resnet20 --archs 5 --batch-size 64

For each of ``--archs`` NB201 cells (C, N as given, seeded sample), prints the median seconds of: the teacher pass
(once per batch; later students reuse it), the student pass, each proxy scored alone on a fresh context (student
forward + its formula) and its formula alone on already computed passes, and all KD-aware proxies scored together
on one context (one shared student forward).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from proxybench import nb201
from proxybench.distill.teachers import build_teacher
from proxybench.proxies import list_proxies, make_context, score_many
from proxybench.proxies.kd._teacher import clear_teacher_cache


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", default="resnet20")
    ap.add_argument("--archs", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--resolution", type=int, default=32)
    ap.add_argument("--C", type=int, default=16)
    ap.add_argument("--N", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    g = torch.Generator().manual_seed(args.seed)
    x = torch.randn(args.batch_size, 3, args.resolution, args.resolution, generator=g)
    y = torch.randint(0, 10, (args.batch_size,), generator=g)
    teacher = build_teacher(args.teacher, num_classes=10, seed=args.seed)
    names = list_proxies(teacher=True)
    indices = nb201.sample_indices(args.archs, seed=args.seed)
    t_teacher, t_alone, t_student, t_all = [], {n: [] for n in names}, [], []
    t_formula = {n: [] for n in names}
    for i in indices:
        model = nb201.build_network(int(i), C=args.C, N=args.N, num_classes=10, seed=args.seed)
        clear_teacher_cache()
        ctx = make_context(model, x, y, teacher=teacher)
        t0 = time.perf_counter()
        ctx.pass_("teacher_features")
        t_teacher.append(time.perf_counter() - t0)
        for name in names:
            ctx = make_context(model, x, y, teacher=teacher)
            t0 = time.perf_counter()
            score_many([name], ctx, raise_errors=True)
            t_alone[name].append(time.perf_counter() - t0)
        ctx = make_context(model, x, y, teacher=teacher)
        t0 = time.perf_counter()
        score_many(names, ctx, raise_errors=True)
        t_all.append(time.perf_counter() - t0)
        t_student.append(ctx.pass_seconds["kd_student_features"])
        for name in names:  # passes already computed in ctx: the proxy's own formula only
            t0 = time.perf_counter()
            score_many([name], ctx, raise_errors=True)
            t_formula[name].append(time.perf_counter() - t0)
    med = statistics.median
    print(f"teacher {args.teacher}; students NB201 C={args.C} N={args.N}; batch {args.batch_size} x 3 x "
          f"{args.resolution} x {args.resolution}; {len(t_all)} archs; torch threads {torch.get_num_threads()}")
    print(f"{'teacher pass (once per batch)':34s} {med(t_teacher):8.3f} s")
    print(f"{'student pass (shared)':34s} {med(t_student):8.3f} s")
    for name in names:
        print(f"{name + ' alone':34s} {med(t_alone[name]):8.3f} s   (formula on shared passes "
              f"{1000 * med(t_formula[name]):7.1f} ms)")
    print(f"{'all ' + str(len(names)) + ' together':34s} {med(t_all):8.3f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
