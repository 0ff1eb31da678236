"""Speed of the 12 standard zero-cost proxies on the standard NB201 network, together and one by one.

For ``--archs`` cells (``sample_indices(n, seed=--arch-seed)``), network C=16, N=5, 10 classes, a batch of
``--batch-size`` 32x32 images: the time of ``score_many`` with all 12 proxies on one context (passes shared),
the time of each proxy alone (a fresh context each), and the floor: the same unshareable work written as bare
torch calls (one network copy and train-mode forward, the cross-entropy backward kept differentiable, the GraSP
Hessian-gradient product through it, the input-Jacobian backward, the NASWOT kernel, and synflow's float64 copy,
forward and backward).
Prints medians over the archs in wall-clock seconds, or with ``--cpu`` in process CPU seconds (all threads): on a
busy shared machine those are the steadier figure (with one thread, the wall time of an idle core). Not a test:
the numbers depend on the machine and its load.

    python perf/proxy_speed.py --archs 10 --threads 2
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

from proxybench import nb201
from proxybench.proxies import make_context, score_many

PROXIES = ("flops", "params", "synflow", "grasp", "fisher", "grad_norm", "l2_norm", "plain", "nwot", "epe_nas",
           "jacov", "snip")


def bare_floor(model: nn.Module, x: torch.Tensor, y: torch.Tensor, clock=time.perf_counter) -> dict[str, float]:
    """Seconds of the unshareable work, written directly in torch (no engine)."""
    t = {}
    t0 = clock()
    m = copy.deepcopy(model).train()
    xi = x.clone().requires_grad_(True)
    relus = []
    hs = [r.register_forward_hook(lambda mod, i, o: relus.append(i[0].detach() > 0))
          for r in m.modules() if isinstance(r, nn.ReLU)]
    logits = m(xi)
    for h in hs:
        h.remove()
    t["copy+forward"] = clock() - t0
    loss = F.cross_entropy(logits, y)
    weights = [mod.weight for mod in m.modules() if isinstance(mod, (nn.Conv2d, nn.Linear))]
    t0 = clock()
    g = torch.autograd.grad(loss, weights, create_graph=True, retain_graph=True)
    t["ce backward"] = clock() - t0
    t0 = clock()
    z = sum((gi.detach() * gi).sum() for gi in g)
    torch.autograd.grad(z, weights, retain_graph=True)
    t["grasp hvp"] = clock() - t0
    t0 = clock()
    torch.autograd.grad(logits, xi, torch.ones_like(logits), retain_graph=True)
    t["input jacobian"] = clock() - t0
    t0 = clock()
    signs = [c.flatten(1).float() * 2 - 1 for c in relus]
    k = sum((s.shape[1] + s @ s.T).double() / 2 for s in signs)
    torch.linalg.slogdet(k)
    t["nwot kernel"] = clock() - t0
    del logits, loss, g, z
    t0 = clock()
    s = copy.deepcopy(model).double()
    for mod in s.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.forward = lambda v: v
    with torch.no_grad():
        for p in s.parameters():
            p.abs_()
    out = s(torch.ones(1, *x.shape[1:], dtype=torch.float64))
    torch.autograd.grad(out.sum(), [mod.weight for mod in s.modules() if isinstance(mod, (nn.Conv2d, nn.Linear))])
    t["synflow"] = clock() - t0
    return t


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--archs", type=int, default=10)
    ap.add_argument("--arch-seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cpu", action="store_true", help="report process CPU seconds instead of wall-clock seconds")
    ap.add_argument("--alone", action=argparse.BooleanOptionalAction, default=True,
                    help="also time each proxy alone (default on)")
    args = ap.parse_args(argv)
    if args.archs < 1 or args.batch_size < 2:
        ap.error("--archs must be >= 1 and --batch-size >= 2")
    torch.set_num_threads(args.threads)
    clock = time.process_time if args.cpu else time.perf_counter
    g = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch_size, 3, 32, 32, generator=g)
    y = torch.randint(0, 10, (args.batch_size,), generator=g)
    indices = nb201.sample_indices(args.archs, seed=args.arch_seed)
    # warm-up (first-call allocations and kernel selection), untimed
    score_many(PROXIES, make_context(nb201.build_network(indices[0], seed=0), x, y))

    together, passes, floor, alone = [], {}, {}, {p: [] for p in PROXIES}
    for idx in indices:
        arch = nb201.index_to_arch(idx)
        model = nb201.build_network(arch, seed=idx)
        ctx = make_context(model, x, y, arch=arch)
        t0 = clock()
        res = score_many(PROXIES, ctx)
        together.append(clock() - t0)
        bad = [r for r in res if r.status == "error"]
        if bad:
            print(f"arch {idx}: {bad[0].proxy}: {bad[0].error}", file=sys.stderr)
        for k, v in ctx.pass_seconds.items():
            passes.setdefault(k, []).append(v)
        passes.setdefault("synflow (own pass)", []).append(next(r.seconds for r in res if r.proxy == "synflow"))
        for k, v in bare_floor(model, x, y, clock).items():
            floor.setdefault(k, []).append(v)
        if args.alone:
            for p in PROXIES:
                c = make_context(model, x, y, arch=arch)
                t0 = clock()
                score_many([p], c)
                alone[p].append(clock() - t0)
        print(f"arch {idx}: together {together[-1]:.2f} s ({'CPU' if args.cpu else 'wall'})", flush=True)

    med = statistics.median
    print(f"\n{len(indices)} archs, C=16 N=5, 10 classes, batch {args.batch_size} of 32x32, "
          f"{torch.get_num_threads()} threads; medians per arch, {'CPU' if args.cpu else 'wall-clock'} seconds")
    print(f"  12 proxies together (score_many): {med(together):.3f}")
    print("  shared passes inside it (wall-clock, from ctx.pass_seconds):")
    for k, v in passes.items():
        print(f"    {k:<22} {med(v):.3f}")
    fl = [sum(vals[i] for vals in floor.values()) for i in range(len(indices))]
    print(f"  floor (bare torch, unshareable work): {med(fl):.3f}")
    for k, v in floor.items():
        print(f"    {k:<22} {med(v):.3f}")
    print(f"  together / floor: {med([t / f for t, f in zip(together, fl)]):.2f}")
    if args.alone:
        sums = [sum(alone[p][i] for p in PROXIES) for i in range(len(indices))]
        print(f"  one by one (sum of 12, fresh context each): {med(sums):.3f}")
        for p in PROXIES:
            print(f"    {p:<10} {med(alone[p]):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
