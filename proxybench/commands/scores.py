"""``proxybench scores``: import and export proxy scores in NAS-Bench-Suite-Zero's (NASLib's) layout."""

from __future__ import annotations

import sys

NAME = "scores"
HELP = "import precomputed proxy scores (NAS-Bench-Suite-Zero's zc_nasbench201.json) or export a run's scores"
ORDER = 35
DESCRIPTION = """\
Convert between proxybench run directories and NAS-Bench-Suite-Zero's score files (NASLib's layout:
{dataset: {"(a, b, c, d, e, f)": {"idx": i, "arch": key, proxy: {"score": s, "time": t}, ..., "val_accuracy":
acc}}}, NASLib's tuple encoding of NB201 cells; dataset keys cifar10, cifar100, ImageNet16-120).

  import   one dataset of a NASLib file -> a run directory (scores.csv, ground_truth.csv, run.json) that
           'proxybench report' reads. NASLib proxy names map to proxybench's (jacob_cov -> jacov; the 13
           NAS-Bench-Suite-Zero proxies keep their names); scores keep NASLib's sign (higher = better for all 13).
           Per-architecture fields that are not scores (idx, arch, ...) are kept in run.json.
           Ground truth (--ground-truth): 'file' (default) the file's val_accuracy, as <dataset>/val_acc
           (cifar10's is NB201's cifar10-valid split); 'bundled' the bundled NB201 benchmark of that data set
           (nb201-cifar10 / nb201-cifar100 / nb201-imagenet16: test and validation accuracy); 'none'.
  export   a run directory -> a NASLib file: per arch and proxy the mean of the finite scores over seeds and the
           mean time; val_accuracy from the run's ground truth (--accuracy); an imported run's
           per-architecture fields.
"""
EPILOG = """\
examples:
  proxybench scores import --from naslib zc_nasbench201.json --dataset cifar10 --out runs/nbsz-c10
  proxybench report runs/nbsz-c10
  proxybench scores import --from naslib zc_nasbench201.json --dataset cifar100 --ground-truth bundled --out runs/c100
  proxybench scores export runs/c10 --to naslib --out scores.json  (runs/c10: an eval on nb201-cifar10)
"""


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="scores_command", metavar="ACTION", required=True)
    imp = sub.add_parser("import", help="a NASLib score file -> a run directory",
                         description="Read one dataset of a NASLib (NAS-Bench-Suite-Zero) score file and write a "
                                     "run directory. Nothing is written when the file is malformed.")
    imp.add_argument("--from", dest="kind", required=True, choices=["naslib"], help="format of FILE")
    imp.add_argument("path", metavar="FILE", help="score file, e.g. zc_nasbench201.json")
    imp.add_argument("--out", required=True, metavar="DIR", help="run directory to write (new or empty)")
    imp.add_argument("--dataset", metavar="KEY",
                     help="dataset key of the file: cifar10, cifar100 or ImageNet16-120 (default: its only one)")
    imp.add_argument("--ground-truth", default="file", choices=["file", "bundled", "none"],
                     help="ground truth of the run: the file's val_accuracy (default), the bundled NB201 "
                          "benchmark of the data set, or none")
    exp = sub.add_parser("export", help="a run directory -> a NASLib score file",
                         description="Write a run's scores in NASLib's layout (one dataset key).")
    exp.add_argument("run_dir", metavar="RUN_DIR", help="run directory ('proxybench eval --out' or scores import)")
    exp.add_argument("--to", dest="kind", required=True, choices=["naslib"], help="format of the output")
    exp.add_argument("--out", required=True, metavar="FILE", help="JSON file to write")
    exp.add_argument("--dataset", metavar="KEY",
                     help="dataset key to write under: cifar10, cifar100 or ImageNet16-120 (default: the one the "
                          "run was imported from, or its bundled NB201 benchmark's)")
    exp.add_argument("--accuracy", metavar="NAME",
                     help="ground-truth series written as val_accuracy (default <dataset>/val_acc; 'none': "
                          "leave it out)")


def _import(args) -> int:
    from ..analysis.naslib import import_run

    out, info = import_run(args.path, args.out, dataset=args.dataset, ground_truth=args.ground_truth,
                           command=["proxybench", *sys.argv[1:]])
    renamed = {k: v for k, v in info["proxies"].items() if k != v}
    print(f"imported {info['archs']} architectures x {len(info['proxies'])} proxies of dataset "
          f"{info['dataset']!r} (ground truth: {args.ground_truth})")
    if renamed:
        print("renamed: " + ", ".join(f"{k} -> {v}" for k, v in renamed.items()))
    kept = sorted({name for entry in info["fields"].values() for name in entry})
    if kept:
        print(f"per-architecture fields kept in run.json (source.arch_fields, written back by export): "
              f"{', '.join(kept)}")
    from ..proxies import list_proxies

    foreign = [v for v in info["proxies"].values() if v not in set(list_proxies())]
    if foreign:
        print(f"not proxybench proxies, kept under their own names: {', '.join(foreign)}")
    print(f"wrote {out} (scores.csv{', ground_truth.csv' if args.ground_truth != 'none' else ''}, run.json); "
          f"next: proxybench report {out}")
    return 0


def _export(args) -> int:
    from ..analysis.naslib import NASLIB_DATASETS, dataset_of_run, fields_of_run, to_naslib, write_naslib
    from ..analysis.rundir import load_run

    run = load_run(args.run_dir)
    dataset = args.dataset or dataset_of_run(run.metadata)
    if dataset is None:
        raise ValueError(f"cannot tell the NASLib dataset of {args.run_dir}; give --dataset "
                         f"({', '.join(NASLIB_DATASETS)})")
    obj, notes = to_naslib(run.scores, run.ground_truth, dataset, accuracy=args.accuracy,
                           fields=fields_of_run(run.metadata, dataset))
    path = write_naslib(obj, args.out)
    n_proxies = run.scores["proxy"].nunique()
    print(f"wrote {path}: {len(obj[dataset])} architectures x {n_proxies} proxies under {dataset!r}")
    for note in notes:
        print(f"note: {note}")
    return 0


def run(args) -> int:
    return {"import": _import, "export": _export}[args.scores_command](args)
