"""How close proxy scoring gets to the pass floor: the CPU time of building a network and running the passes no
scorer can avoid, against the CPU time of scoring the ``default`` group and the 12 standard proxies on it.

    OMP_NUM_THREADS=1 python perf/pass_floor.py                    # stages floor and zcnas; perf/results/pass_floor.txt
    OMP_NUM_THREADS=1 python perf/pass_floor.py --stages floor --cells 5
    OMP_NUM_THREADS=1 python perf/pass_floor.py --stages eval      # + proxybench eval with no arguments (CPU s)

Stages (figures kept in ``perf/results/pass_floor.json``; the text report is rebuilt from everything measured so
far, so a stage can be re-run alone):

``floor``   on ``--cells`` NB201 cells of the default benchmark with its inputs (batch 64 of the bundled
            Fashion-MNIST sample at 16x16 in 3 channels, 10 classes, NB201 C=16 N=5, the bundled teacher), one
            process, one torch thread, process CPU time, the three measurements interleaved cell by cell (their
            order rotates): the pass floor = building the network (as ``score_unit`` builds it) + one train-mode
            forward under ``torch.no_grad`` + one train-mode forward and cross-entropy backward (``loss.backward()``);
            ``score_unit`` with the ``default`` group (its teacher-free members also alone, as a unit of their
            own); ``score_unit`` with the 12 standard proxies (NAS-Bench-Suite-Zero's). One untimed cell first
            (first-call allocations, the teacher's features cached as in a run).
``zcnas``   side by side with SamsungLabs' zero-cost-nas (its own code, ``foresight.pruners.find_measures``) on
            ``--zc-cells`` NB201 cells with one real CIFAR-10 batch of 64 (../shared/data, NB201's CIFAR
            normalization, 32x32, 10 classes): its 7 measures (grad_norm, snip, grasp, fisher, jacob_cov, plain,
            synflow) against proxybench's ``score_many`` of the same 7 on the same network (the same weights), one
            thread, CPU time, interleaved (order alternating per cell), with proxybench's CPU per shared pass.
            ``--zero-cost-nas`` points at a checkout or at the git directory of one (its ``foresight`` package is
            exported to a temporary folder; nothing of it is kept). The ratio of the per-cell medians and of the
            totals is printed, with the scores' agreement.
``eval``    ``proxybench eval`` with no arguments as a subprocess (``default_run.stage_default``): wall and CPU
            seconds in all processes.

Process CPU time is the figure to read on a loaded machine: it does not count time the process waits for a core
(caches and memory bandwidth shared with other jobs still slow it somewhat). The load (``/proc/loadavg``) is
printed with each stage.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "perf" / "results"
SHARED = ROOT / ".." / "shared" / "data"
sys.path.insert(0, str(Path(__file__).resolve().parent))

from default_run import _units, cores, load, stage_default  # noqa: E402

ZC_MEASURES = ("grad_norm", "snip", "grasp", "fisher", "jacob_cov", "plain", "synflow")
ZC_TO_PROXYBENCH = {"jacob_cov": "jacov"}
MIRROR = Path("/work/.mirror/SamsungLabs+zero-cost-nas/repo")


def _groups() -> dict[str, tuple[str, ...]]:
    from proxybench.proxies import get_spec, proxy_groups

    groups = proxy_groups()
    default = tuple(groups["default"])
    return {"default": default, "default_teacher_free": tuple(p for p in default if not get_spec(p).teacher),
            "standard": tuple(groups["standard"])}


def _build(job, arch: str, seed: int = 0):
    """The network of ``arch`` as :func:`proxybench.engine.executors.score_unit` builds it."""
    from proxybench.benchmarks import nb201

    net = job.network
    return nb201.build_network(arch, C=net["C"], N=net["N"], num_classes=job.num_classes,
                               in_channels=job.in_channels, seed=seed, init=net.get("init", "default"))


def pass_floor(job, arch: str, clock=time.process_time) -> dict[str, float]:
    """CPU seconds of the unavoidable work on one cell: build, one forward, one forward + backward."""
    import torch
    import torch.nn.functional as F

    x, y = job.batches[0][0]
    t = {}
    t0 = clock()
    model = _build(job, arch)
    t["build"] = clock() - t0
    model.train()
    t0 = clock()
    with torch.no_grad():
        model(x)
    t["forward"] = clock() - t0
    t0 = clock()
    F.cross_entropy(model(x), y).backward()
    t["forward+backward"] = clock() - t0
    return t


class _Contexts:
    """Keeps the proxy contexts :func:`proxybench.engine.score_unit` makes (it imports ``make_context`` from
    :mod:`proxybench.proxies` at each call), to read their per-pass CPU seconds."""

    def __init__(self):
        import proxybench.proxies as proxies

        self.made: list = []
        self._module, self._real = proxies, proxies.make_context

        def capture(*args, **kwargs):
            ctx = self._real(*args, **kwargs)
            self.made.append(ctx)
            return ctx

        proxies.make_context = capture

    def close(self) -> None:
        """Put ``make_context`` back and forget the contexts (each holds its network's autograd graph)."""
        self._module.make_context = self._real
        self.made.clear()

    def pass_cpu(self) -> dict[str, float]:
        """CPU seconds per pass (each pass's own work) of the contexts made since the last call."""
        out: dict[str, float] = {}
        for ctx in self.made:
            for k, v in getattr(ctx, "pass_cpu_seconds", {}).items():
                out[k] = out.get(k, 0.0) + v
        self.made.clear()
        return out


def stage_floor(n_cells: int) -> dict:
    import torch

    from proxybench.engine import Task, score_unit

    torch.set_num_threads(1)
    groups = _groups()
    job, chosen = _units(",".join(groups["default"]), n_cells + 1)
    contexts = _Contexts()

    def run(what, idx, arch):
        if what == "floor":
            return pass_floor(job, arch)
        contexts.pass_cpu()
        c0 = time.process_time()
        res = score_unit(job, Task(idx, arch, 0, groups[what]))
        sec = time.process_time() - c0
        bad = [r for r in res.results if r[3] == "error"]
        if bad:
            raise SystemExit(f"cell {idx}: {bad[0][0]} failed: {bad[0][4]}")
        return {"cpu": sec, "build": res.build_seconds, "per_proxy": {r[0]: r[2] for r in res.results},
                "pass_cpu": contexts.pass_cpu()}

    order = ["floor", "default", "default_teacher_free", "standard"]
    try:
        for what in order:  # untimed warm-up cell
            run(what, *chosen[0])
        load_before = load()
        rows = []
        for k, (idx, arch) in enumerate(chosen[1:]):
            row = {"arch_index": idx, "arch": arch}
            rot = order[k % len(order):] + order[:k % len(order)]
            for what in rot:
                row[what] = run(what, idx, arch)
            f = row["floor"]
            print(f"  cell {idx}: floor {sum(f.values()) * 1000:.0f} ms (build {f['build'] * 1000:.0f}, forward "
                  f"{f['forward'] * 1000:.0f}, fwd+bwd {f['forward+backward'] * 1000:.0f}); default "
                  f"{row['default']['cpu'] * 1000:.0f}, teacher-free {row['default_teacher_free']['cpu'] * 1000:.0f}"
                  f", standard {row['standard']['cpu'] * 1000:.0f} CPU ms", flush=True)
            rows.append(row)
    finally:
        contexts.close()
    return {"cells": len(rows), "load_before": load_before, "load_after": load(), "threads": 1,
            "groups": {k: list(v) for k, v in groups.items()}, "rows": rows,
            "data": {k: job.batches[0][0][0].shape[i] for i, k in enumerate(("batch", "channels", "h", "w"))}}


# ---- zero-cost-nas side by side ------------------------------------------------------------------------------
def _foresight_source(path: Path, tmp: Path) -> Path:
    """A folder holding zero-cost-nas's ``foresight`` package: ``path`` itself (a checkout) or exported from the
    git directory ``path``."""
    if (path / "foresight" / "pruners").is_dir():
        return path
    out = tmp / "zero-cost-nas"
    out.mkdir()
    archive = subprocess.run(["git", "--git-dir", str(path), "archive", "HEAD", "foresight"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    return out


def cifar10_batch(batch: int = 64, seed: int = 0):
    """``batch`` real CIFAR-10 test images (../shared/data), NB201's normalization, and their labels."""
    import numpy as np
    import torch

    path = SHARED / "images" / "cifar10_test_1017.npz"
    if not path.is_file():
        raise SystemExit(f"real CIFAR-10 images {path} are absent (see ../shared/data/README.md)")
    z = np.load(path)
    idx = np.random.default_rng(seed).choice(len(z["labels"]), batch, replace=False)
    x = torch.tensor(z["images_nchw"][idx], dtype=torch.float32) / 255
    mean = torch.tensor([125.3, 123.0, 113.9]).view(1, 3, 1, 1) / 255
    std = torch.tensor([63.0, 62.1, 66.7]).view(1, 3, 1, 1) / 255
    return (x - mean) / std, torch.tensor(z["labels"][idx], dtype=torch.long)


def stage_zcnas(n_cells: int, source: Path, without_grasp: bool = True) -> dict:
    import warnings

    import torch

    from proxybench import nb201
    from proxybench.proxies import make_context, score_many

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")  # zero-cost-nas's register_backward_hook is deprecated in torch 2
    with tempfile.TemporaryDirectory(prefix="zero-cost-nas-") as tmp:
        sys.path.insert(0, str(_foresight_source(source, Path(tmp))))
        from foresight.pruners import predictive

        x, y = cifar10_batch()

        class OneBatch:  # zero-cost-nas reads its batch from a data loader
            def __iter__(self):
                yield x, y

        ours = tuple(ZC_TO_PROXYBENCH.get(m, m) for m in ZC_MEASURES)

        def run_zc(model, measures=ZC_MEASURES):
            t0 = time.process_time()
            vals = predictive.find_measures(model, OneBatch(), ("random", 1, 10), torch.device("cpu"),
                                            measure_names=list(measures))
            return time.process_time() - t0, {ZC_TO_PROXYBENCH.get(k, k): float(v) for k, v in vals.items()}

        passes = []

        def run_pb(model, arch, names=ours):
            ctx = make_context(model, x, y, arch=arch)
            t0 = time.process_time()
            res = score_many(names, ctx)
            passes.append(dict(getattr(ctx, "pass_cpu_seconds", {})))
            return time.process_time() - t0, {r.proxy: r.score for r in res}

        six_zc = tuple(m for m in ZC_MEASURES if m != "grasp")
        six_pb = tuple(m for m in ours if m != "grasp")

        indices = nb201.sample_indices(n_cells + 1, seed=0)
        arch0 = nb201.index_to_arch(indices[0])
        run_zc(nb201.build_network(arch0, seed=0))
        run_pb(nb201.build_network(arch0, seed=0), arch0)
        load_before = load()
        rows = []
        for k, idx in enumerate(indices[1:]):
            arch = nb201.index_to_arch(idx)
            # the same weights for both, in two objects (zero-cost-nas adds a method to the network it is given)
            if k % 2 == 0:
                zc_s, zc_v = run_zc(nb201.build_network(arch, seed=0))
                pb_s, pb_v = run_pb(nb201.build_network(arch, seed=0), arch)
            else:
                pb_s, pb_v = run_pb(nb201.build_network(arch, seed=0), arch)
                zc_s, zc_v = run_zc(nb201.build_network(arch, seed=0))
            row = {"arch_index": idx, "zc_s": zc_s, "pb_s": pb_s, "zc": zc_v, "pb": pb_v,
                   "pb_pass_cpu": passes[-1]}
            if without_grasp:  # the same without grasp, whose Hessian-gradient product both sides compute once
                if k % 2 == 0:
                    row["zc6_s"] = run_zc(nb201.build_network(arch, seed=0), six_zc)[0]
                    row["pb6_s"] = run_pb(nb201.build_network(arch, seed=0), arch, six_pb)[0]
                else:
                    row["pb6_s"] = run_pb(nb201.build_network(arch, seed=0), arch, six_pb)[0]
                    row["zc6_s"] = run_zc(nb201.build_network(arch, seed=0), six_zc)[0]
            rows.append(row)
            print(f"  cell {idx}: zero-cost-nas {zc_s:.2f} CPU s, proxybench {pb_s:.2f} ({zc_s / pb_s:.2f}x)",
                  flush=True)
        sys.path.pop(0)
    return {"cells": len(rows), "load_before": load_before, "load_after": load(), "threads": 1, "rows": rows}


# ---- report ----------------------------------------------------------------------------------------------------
def _rel_diff(a: float, b: float) -> float:
    if a == b:
        return 0.0
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


def report(m: dict) -> str:
    import proxybench

    med = statistics.median
    lines = [f"proxybench {proxybench.__version__}, {cores()} cores; one process, one torch thread, process CPU "
             "time"]
    f = m.get("floor")
    if f:
        rows = f["rows"]
        d = f["data"]
        floor = [sum(r["floor"].values()) for r in rows]
        parts = {k: [r["floor"][k] for r in rows] for k in rows[0]["floor"]}
        lines.append(f"\n== pass floor against scoring, {f['cells']} NB201 cells of the default benchmark, batch "
                     f"{d['batch']} of {d['h']}x{d['w']}x{d['channels']} (bundled Fashion-MNIST sample), NB201 C=16 "
                     f"N=5, bundled teacher (its features cached across cells, as in a run); load {f['load_before']} "
                     f"-> {f['load_after']} ==")
        lines.append(f"{'':<34} {'median':>9} {'mean':>9}   CPU ms per cell")
        lines.append(f"{'pass floor':<34} {med(floor) * 1000:>9.1f} {statistics.fmean(floor) * 1000:>9.1f}")
        for k, v in parts.items():
            lines.append(f"{'  ' + k:<34} {med(v) * 1000:>9.1f} {statistics.fmean(v) * 1000:>9.1f}")
        for g, label in (("default", "default group"), ("default_teacher_free", "default group, teacher-free"),
                         ("standard", "12 standard proxies")):
            cpu = [r[g]["cpu"] for r in rows]
            ratio = [c / fl for c, fl in zip(cpu, floor)]
            name = f"{label} ({len(f['groups'][g])})"
            lines.append(f"{name:<34} {med(cpu) * 1000:>9.1f} "
                         f"{statistics.fmean(cpu) * 1000:>9.1f}   / floor: median {med(ratio):.2f}x, "
                         f"of means {statistics.fmean(cpu) / statistics.fmean(floor):.2f}x")
        for g in ("default", "standard"):
            names = sorted({k for r in rows for k in r[g]["pass_cpu"]})
            per = {k: med([r[g]["pass_cpu"].get(k, 0.0) for r in rows]) for k in names}
            rest = med([r[g]["cpu"] - sum(r[g]["pass_cpu"].values()) for r in rows])
            lines.append(f"  {g}: CPU ms per shared pass (its own work, median): "
                         + ", ".join(f"{k} {v * 1000:.1f}" for k, v in sorted(per.items(), key=lambda kv: -kv[1]))
                         + f"; everything else (build, proxies' own passes and arithmetic) {rest * 1000:.1f}")
            per = {p: med([r[g]["per_proxy"][p] for r in rows]) for p in f["groups"][g]}
            build = med([r[g]["build"] for r in rows])
            lines.append(f"  {g}: wall ms charged per proxy (median; shared passes to the first asker): build "
                         f"{build * 1000:.0f}, " + ", ".join(f"{p} {v * 1000:.0f}"
                                                            for p, v in sorted(per.items(), key=lambda kv: -kv[1])))
        lines.append("  groups: " + "; ".join(f"{g}: {', '.join(v)}" for g, v in f["groups"].items()))
    z = m.get("zcnas")
    if z:
        rows = z["rows"]
        zc, pb = [r["zc_s"] for r in rows], [r["pb_s"] for r in rows]
        lines.append(f"\n== side by side with zero-cost-nas (SamsungLabs, foresight.pruners.find_measures), its 7 "
                     f"measures ({', '.join(ZC_MEASURES)}), {z['cells']} NB201 cells (C=16 N=5, the same weights for "
                     f"both), one real CIFAR-10 batch of 64 at 32x32; interleaved; load "
                     f"{z['load_before']} -> {z['load_after']} ==")
        lines.append(f"zero-cost-nas: median {med(zc):.3f} CPU s per cell, total {sum(zc):.1f}")
        lines.append(f"proxybench:    median {med(pb):.3f} CPU s per cell, total {sum(pb):.1f}")
        lines.append(f"speed-up: {med(zc) / med(pb):.2f}x (medians), {sum(zc) / sum(pb):.2f}x (totals), per cell "
                     f"{min(a / b for a, b in zip(zc, pb)):.2f}x-{max(a / b for a, b in zip(zc, pb)):.2f}x")
        agree = []
        for p in (ZC_TO_PROXYBENCH.get(k, k) for k in ZC_MEASURES):
            diffs = [_rel_diff(r["zc"][p], r["pb"][p]) for r in rows
                     if math.isfinite(r["zc"][p]) and math.isfinite(r["pb"][p])]
            agree.append(f"{p} {max(diffs):.1e}" if diffs else f"{p} n/a")
        lines.append("largest relative difference of the scores (zero-cost-nas vs proxybench): " + ", ".join(agree))
        names = sorted({k for r in rows for k in r["pb_pass_cpu"]})
        per = {k: med([r["pb_pass_cpu"].get(k, 0.0) for r in rows]) for k in names}
        lines.append("proxybench, CPU s per shared pass (its own work, median): "
                     + ", ".join(f"{k} {v:.3f}" for k, v in sorted(per.items(), key=lambda kv: -kv[1]))
                     + f"; everything else {med(pb) - sum(per.values()):.3f}")
        if all("zc6_s" in r for r in rows):
            zc6, pb6 = [r["zc6_s"] for r in rows], [r["pb6_s"] for r in rows]
            lines.append(f"without grasp (the other 6, the same cells, interleaved): zero-cost-nas median "
                         f"{med(zc6):.3f} CPU s, proxybench {med(pb6):.3f}: {med(zc6) / med(pb6):.2f}x (medians), "
                         f"{sum(zc6) / sum(pb6):.2f}x (totals)")
        if "grasp_hvp" in per:
            lines.append(f"bounds: zero-cost-nas / (proxybench's shared passes alone) = "
                         f"{med(zc) / sum(per.values()):.2f}x; zero-cost-nas / (GraSP's Hessian-gradient product "
                         f"alone) = {med(zc) / per['grasp_hvp']:.2f}x")
    e = m.get("default_eval")
    if e:
        lines.append(f"\n== 'proxybench eval' (no arguments), {e['archs']} archs x {len(e['proxies'])} proxies, "
                     f"{e['workers']} workers; load {e['load_before']} -> {e['load_after']} ==")
        lines.append(f"wall {e['wall_s']:.1f} s, scoring {e['scoring_s']:.1f} s, CPU {e['cpu_s']:.1f} s in all "
                     "processes")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stages", default="floor,zcnas", help="comma-separated: floor, zcnas, eval")
    ap.add_argument("--cells", type=int, default=20, help="cells of the floor stage (default 20)")
    ap.add_argument("--zc-cells", type=int, default=30, help="cells of the zcnas stage (default 30)")
    ap.add_argument("--zero-cost-nas", type=Path, default=MIRROR,
                    help="a zero-cost-nas checkout or its git directory (default: %(default)s)")
    ap.add_argument("--no-six", action="store_true",
                    help="zcnas: skip the second comparison without grasp (the other 6 measures)")
    ap.add_argument("--json", type=Path, default=RESULTS / "pass_floor.json")
    ap.add_argument("--out", type=Path, default=RESULTS / "pass_floor.txt")
    args = ap.parse_args(argv)
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    bad = [s for s in stages if s not in ("floor", "zcnas", "eval")]
    if bad:
        ap.error(f"unknown stage(s) {bad}; valid: floor, zcnas, eval")
    if args.cells < 1 or args.zc_cells < 1:
        ap.error("--cells and --zc-cells must be >= 1")
    measured = json.loads(args.json.read_text()) if args.json.is_file() else {}
    for stage in stages:
        print(f"stage {stage} (load {load()})", flush=True)
        if stage == "floor":
            measured["floor"] = stage_floor(args.cells)
        elif stage == "zcnas":
            if not args.zero_cost_nas.exists():
                ap.error(f"--zero-cost-nas {args.zero_cost_nas} does not exist")
            measured["zcnas"] = stage_zcnas(args.zc_cells, args.zero_cost_nas, not args.no_six)
        else:
            with tempfile.TemporaryDirectory(prefix="proxybench-pass-floor-") as tmp:
                measured["default_eval"] = stage_default(Path(tmp))
        measured.setdefault("measured_at", {})[stage] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        args.json.write_text(json.dumps(measured, indent=1))
    text = report(measured)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
