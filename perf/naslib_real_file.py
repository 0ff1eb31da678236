"""NAS-Bench-Suite-Zero's own NB201 score file through ``proxybench scores import``: Spearman rho per proxy.

Imports each of the three datasets of NAS-Bench-Suite-Zero's ``zc_nasbench201.json`` (Krishnakumar et al.,
NeurIPS 2022 Datasets and Benchmarks) with ``proxybench scores import --from naslib`` (twice: ``--ground-truth
file`` and ``--ground-truth bundled``), correlates every proxy with ``proxybench.analysis.correlate`` (Spearman rho,
non-finite scores dropped and counted) against

- the file's own ``val_accuracy``,
- the bundled NB201 validation accuracy of the same cells (``cifar10-valid/val_acc``, ``cifar100/val_acc``,
  ``ImageNet16-120/val_acc``) and test accuracy (``<dataset>/test_acc``),

and prints them next to NAS-Bench-Suite-Zero's published Spearman rho (its paper's NB201 figures), with how far the
file's ``val_accuracy`` lies from the bundled validation accuracy, and checks that ``scores export`` gives the file
back.

Where to get the file: it is not shipped with proxybench. It was committed to automl/NASLib as
``naslib/data/zc_nasbench201.json`` (branch Develop, commit 6639fd15 "Update ZC benchmarks", 2022-05-18: 725 / 725
/ 724 architectures, 12 proxies; ``git show 6639fd15:naslib/data/zc_nasbench201.json`` in a clone), later removed
from the tree in favour of a download (NASLib's ``scripts/bash_scripts/download_nbs_zero.sh nb201``). The commit
after it (1bdbd960) drops one cifar10 architecture (724 / 725 / 724).

Usage::

    python perf/naslib_real_file.py /tmp/zc_nasbench201.json > perf/results/naslib_real_file.txt
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import tempfile
from pathlib import Path

import numpy as np

from proxybench.analysis import correlate, load_run
from proxybench.analysis.naslib import NASLIB_DATASETS, import_run, to_naslib

# NAS-Bench-Suite-Zero (Krishnakumar et al., NeurIPS 2022), Spearman rho on NB201: CIFAR-10 / CIFAR-100 /
# ImageNet16-120
PUBLISHED = {
    "nwot": (.79, .813, .794), "jacov": (.77, .725, .727), "synflow": (.74, .762, .759),
    "params": (.74, .744, .715), "l2_norm": (.73, .748, .738), "flops": (.71, .722, .694),
    "epe_nas": (.67, .420, .103), "snip": (.61, .658, .612), "grad_norm": (.61, .648, .615),
    "grasp": (.54, .552, .514), "fisher": (.51, .555, .524), "plain": (-.26, -.268, -.256),
}
DATASETS = tuple(NASLIB_DATASETS)


def spearman(run_dir: Path) -> dict[str, dict[str, tuple[float, int, int]]]:
    """ground truth name -> proxy -> (rho, n, n_dropped) of a run directory."""
    run = load_run(run_dir)
    corr = correlate(run.scores, run.ground_truth, statistics=("spearman",), topk=(), ci=False)
    corr = corr[(corr["aggregate"] == "score_mean") & (corr["statistic"] == "spearman")]
    out: dict[str, dict[str, tuple[float, int, int]]] = {}
    for row in corr.itertuples():
        out.setdefault(row.ground_truth, {})[row.proxy] = (float(row.value), int(row.n), int(row.n_dropped))
    return out


def series(by_name: dict, dataset: str, metric: str) -> dict:
    """The rhos of ground truth ``dataset/metric`` (correlate names it ``metric`` alone when unambiguous); else the
    only series with that metric (the bundled CIFAR-10 test accuracy is ``cifar10/test_acc``, its validation
    accuracy ``cifar10-valid/val_acc``)."""
    for name in (f"{dataset}/{metric}", metric):
        if name in by_name:
            return by_name[name]
    hits = [n for n in by_name if n.endswith(f"/{metric}")]
    if len(hits) != 1:
        raise KeyError(f"no single {metric} series among {list(by_name)}")
    return by_name[hits[0]]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog="Get the file: see the module docstring (automl/NASLib commit 6639fd15).")
    ap.add_argument("file", type=Path, help="NAS-Bench-Suite-Zero's zc_nasbench201.json")
    args = ap.parse_args(argv)
    if not args.file.is_file():
        print(f"error: {args.file} is not a file; get zc_nasbench201.json as the module docstring says",
              file=sys.stderr)
        return 2
    raw = json.loads(args.file.read_text())
    print(f"file: {args.file} (sha256 {hashlib.sha256(args.file.read_bytes()).hexdigest()[:16]}..., "
          f"{args.file.stat().st_size:,} bytes)")
    rhos: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for ds in DATASETS:
            runs = {}
            for gt in ("file", "bundled"):
                runs[gt], info = import_run(args.file, Path(tmp) / f"{ds}-{gt}", dataset=ds, ground_truth=gt)
            fields = sorted({f for e in info["fields"].values() for f in e})
            print(f"\n{ds}: {info['archs']} architectures, {len(info['proxies'])} proxies; per-architecture fields "
                  f"kept: {', '.join(fields)}")
            # the file's val_accuracy against the bundled validation accuracy of the same cells
            mine = load_run(runs["file"]).ground_truth.set_index("arch_index")["value"].sort_index()
            bgt = load_run(runs["bundled"]).ground_truth
            val_name = f"{NASLIB_DATASETS[ds][0]}/val_acc"
            bval = bgt[(bgt["dataset"] + "/" + bgt["metric"]) == val_name].set_index("arch_index")["value"]
            diff = (mine - bval.loc[mine.index]).abs()
            print(f"  file val_accuracy vs bundled {val_name}: max |diff| {diff.max():.2e} points over "
                  f"{len(diff)} cells")
            # the export gives the file back (non-finite scores come back as null)
            run = load_run(runs["file"])
            back, _ = to_naslib(run.scores, run.ground_truth, ds, fields=run.metadata["source"]["arch_fields"])
            want = json.loads(json.dumps({ds: raw[ds]}).replace("-Infinity", "null").replace("Infinity", "null")
                              .replace("NaN", "null"))
            same = back == want
            nonfinite = sum(1 for e in raw[ds].values() for v in e.values()
                            if isinstance(v, dict) and isinstance(v.get("score"), float)
                            and not math.isfinite(v["score"]))
            print(f"  export gives the file back: {same} ({nonfinite} non-finite score(s) come back as null)")
            rhos[ds] = {"file": spearman(runs["file"]), "bundled": spearman(runs["bundled"])}
    print("\nSpearman rho per proxy (proxybench.analysis.correlate on the imported runs; non-finite scores dropped).")
    print("pub = NAS-Bench-Suite-Zero's published figure; file = against the file's val_accuracy; "
          "val / test = against the bundled NB201 validation / test accuracy of the same cells.")
    head = (f"{'proxy':<10}" + "".join(f" | {ds + ': pub  file   val   test':<33}" for ds in DATASETS)
            + " | n (dropped) per dataset")
    print(head)
    print("-" * len(head))
    diffs = {ds: [] for ds in DATASETS}
    for proxy, pub in PUBLISHED.items():
        line = f"{proxy:<10}"
        dropped = []
        for d, ds in enumerate(DATASETS):
            name = NASLIB_DATASETS[ds][0]
            r_file = series(rhos[ds]["file"], name, "val_acc")[proxy]
            r_val = series(rhos[ds]["bundled"], name, "val_acc")[proxy]
            r_test = series(rhos[ds]["bundled"], name, "test_acc")[proxy]
            line += f" | {'':<{len(ds) + 2}}{pub[d]:+.3f} {r_file[0]:+.3f} {r_val[0]:+.3f} {r_test[0]:+.3f}"
            dropped.append(f"{r_file[1]}({r_file[2]})")
            diffs[ds].append(r_file[0] - pub[d])
        print(line + " | " + "/".join(dropped))
    print()
    for ds in DATASETS:
        d = np.array(diffs[ds])
        print(f"{ds}: file rho - published rho over the 12 proxies: mean {d.mean():+.3f}, max |diff| "
              f"{np.abs(d).max():.3f} ({list(PUBLISHED)[int(np.abs(d).argmax())]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
