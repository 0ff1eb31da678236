"""``proxybench groundtruth``: import ground-truth tables into compact files, show and list them."""

from __future__ import annotations

import json
import sys
import time

NAME = "groundtruth"
HELP = "import ground-truth accuracy tables (NB201 .pth, NATS-Bench, KD JSON, DisWOT S1 text, CSV) and show them"
ORDER = 60
DESCRIPTION = (
    "Import trained-accuracy tables once into a compact .pbgt file (a few MB, read in well under a second),\n"
    "optionally registering it as a named benchmark, and show what a file or benchmark holds.\n\n"
    "Metric names from the official NB201/NATS files (hp 12 or 200, always explicit):\n"
    "  cifar10-valid   train_acc, val_acc (x-valid: held-out half of the training set), test_acc (official test)\n"
    "  cifar10         train_acc, test_acc (no validation split: trained on train + valid)\n"
    "  cifar100        train_acc, val_acc (x-valid), test_acc (x-test), valtest_acc (ori-test = both halves)\n"
    "  ImageNet16-120  train_acc, val_acc (x-valid), test_acc (x-test), valtest_acc (ori-test = both halves)"
)
EPILOG = (
    "examples:\n"
    "  proxybench groundtruth import --from nb201 NAS-Bench-201-v1_1-096897.pth --hp 200 --out nb201.pbgt\n"
    "  proxybench groundtruth import --from csv ../shared/data/nb201/nb201_accuracies.csv --out nb201.pbgt "
    "--name nb201 --register\n"
    "  proxybench groundtruth import --from json kd.json --dataset cifar100 --metric kd_acc --teacher resnet110 "
    "--out kd.pbgt\n"
    "  proxybench groundtruth import --from diswot-txt s1-gt-kd.txt --metric kd_acc --out s1-kd.pbgt\n"
    "  proxybench groundtruth show nb201.pbgt\n"
    "  proxybench groundtruth list"
)


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="groundtruth_command", metavar="ACTION", required=True)
    imp = sub.add_parser("import", help="read a source table and write a compact ground-truth file",
                         description="Read NB201 .pth / NATS-Bench / KD JSON / DisWOT S1 text / CSV and write a "
                                     ".pbgt file. Nothing is written when the input is missing or unreadable.")
    imp.add_argument("--from", dest="kind", required=True, choices=["nb201", "nats", "json", "csv", "diswot-txt"],
                     help="format of PATH (diswot-txt: DisWOT's S1 tables, '<arch code> <accuracy>' per line, on the "
                          "diswot-s1 search space)")
    imp.add_argument("path", metavar="PATH", help="input file (or NATS-Bench archive directory)")
    imp.add_argument("--out", metavar="FILE", help="output file (.pbgt); required unless --register")
    imp.add_argument("--name", help="benchmark name stored in the metadata (and used by --register)")
    imp.add_argument("--description", help="one-line description stored in the metadata")
    imp.add_argument("--register", action="store_true",
                     help="also register it as a named benchmark in $PROXYBENCH_HOME/benchmarks")
    g = imp.add_argument_group("nb201 / nats")
    g.add_argument("--hp", choices=["12", "200"], default="200",
                   help="training schedule: 12 or 200 epochs (default 200; given explicitly to the API)")
    g.add_argument("--datasets", nargs="+", metavar="DS",
                   help="cifar10-valid cifar10 cifar100 ImageNet16-120 (default: every one in the file)")
    g.add_argument("--metrics", nargs="+", metavar="M",
                   help="train_acc val_acc test_acc valtest_acc (default: all)")
    g.add_argument("--trust-pickle", action="store_true",
                   help="nb201: use the full unpickler: about 20x faster than torch's safe loader (which reads "
                        "about 3 MB/s, ~30 min for the 4.7 GB v1_1 file), but it runs the file's pickle code: "
                        "official files only")
    j = imp.add_argument_group("json / csv / diswot-txt")
    j.add_argument("--dataset", help="json: dataset of the accuracies (required); csv: dataset of columns that "
                                     "do not follow <dataset>_<test|val|train|kd|vanilla>; diswot-txt: default "
                                     "cifar100")
    j.add_argument("--metric", default="kd_acc", help="json / diswot-txt: metric name (default kd_acc; the authors' "
                                                       "vanilla table is vanilla_acc)")
    j.add_argument("--column", action="append", default=[], metavar="COL=DATASET/METRIC",
                   help="csv: use column COL as DATASET/METRIC (repeatable; default: every numeric column)")
    j.add_argument("--strict", action="store_true",
                   help="json / csv: refuse rows with null/NaN/inf/empty accuracies instead of dropping them")
    j.add_argument("--teacher", help="json / csv / diswot-txt: teacher description stored in the metadata")
    j.add_argument("--protocol", help="json / csv / diswot-txt: training protocol stored in the metadata")

    show = sub.add_parser("show", help="summary of a ground-truth file or registered benchmark")
    show.add_argument("target", metavar="FILE|NAME")
    show.add_argument("--json", action="store_true", help="print the summary as JSON")
    sub.add_parser("list", help="bundled and registered benchmarks")


def _parse_columns(specs: list[str]) -> dict[str, str] | None:
    if not specs:
        return None
    out = {}
    for spec in specs:
        col, sep, target = spec.partition("=")
        if not sep or not col.strip() or not target.strip():
            raise ValueError(f"bad --column {spec!r}; expected COL=DATASET/METRIC")
        out[col.strip()] = target.strip()
    return out


def _import(args) -> int:
    from pathlib import Path

    from ..benchmarks import groundtruth as G
    from ..benchmarks.groundtruth.importers.common import format_dropped

    if not args.out and not args.register:
        raise ValueError("give --out FILE, --register, or both")
    if args.out and Path(args.out).is_dir():
        raise ValueError(f"--out {args.out} is a directory; give a file name such as {Path(args.out) / 'gt.pbgt'}")
    common = {"name": args.name, "description": args.description}
    t0 = time.perf_counter()
    if args.kind in ("nb201", "nats"):
        if args.strict:
            raise ValueError(f"--strict applies to --from json and --from csv, not --from {args.kind} (whose "
                             "importer reads every value of the official file)")
        opts = {**common, "hp": args.hp, "datasets": args.datasets, "metrics": args.metrics,
                "progress": sys.stderr.isatty()}
        if args.kind == "nb201":
            opts["trust_pickle"] = args.trust_pickle
            p = Path(args.path)
            if not args.trust_pickle and p.is_file() and p.stat().st_size > 200e6:
                print(f"reading {p.name} with torch's safe loader (about 3 MB/s); for an official file, "
                      "--trust-pickle reads it about 20x faster", file=sys.stderr)
        gt = G.import_ground_truth(args.kind, args.path, **opts)
    elif args.kind == "json":
        if not args.dataset:
            raise ValueError("--from json needs --dataset NAME (the dataset the accuracies were measured on)")
        gt = G.from_json(args.path, args.dataset, args.metric, teacher=args.teacher, protocol=args.protocol,
                         strict=args.strict, **common)
    elif args.kind == "diswot-txt":
        if args.column:
            raise ValueError("--column applies to --from csv, not --from diswot-txt")
        gt = G.from_diswot_txt(args.path, args.metric, args.dataset or "cifar100", teacher=args.teacher,
                               protocol=args.protocol, **common)
    else:
        gt = G.from_csv(args.path, _parse_columns(args.column), dataset=args.dataset, teacher=args.teacher,
                        protocol=args.protocol, strict=args.strict, **common)
    written = []
    if args.out:
        written.append(gt.save(args.out))
    if args.register:
        written.append(G.register_benchmark(gt, args.name or gt.name))
    secs = time.perf_counter() - t0
    pairs = ", ".join(f"{d}/{m}" for d, m in gt.pairs())
    print(f"imported {len(gt)} rows, {gt.n_archs()} archs ({pairs}) in {secs:.1f} s")
    for pair, d in (gt.metadata.get("dropped") or {}).items():
        print(f"dropped {pair}: {format_dropped(d)}; --strict refuses such rows")
    for path in written:
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    if args.register:
        print(f"registered benchmark {written[-1].name[: -len(G.SUFFIX)]!r}")
    return 0


def _fmt(value, width: int = 100) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= width else text[: width - 3] + "..."


def _show(args) -> int:
    from ..benchmarks import groundtruth as G

    t0 = time.perf_counter()
    gt = G.load_benchmark(args.target)
    secs = time.perf_counter() - t0
    summ = gt.summary()
    if args.json:
        out = {"path": str(gt.path) if gt.path else None, "rows": len(gt), "archs": gt.n_archs(),
               "datasets": gt.datasets(), "metrics": gt.metrics(), "summary": summ.to_dict("records"),
               "metadata": gt.metadata}
        print(json.dumps(out, indent=1, default=str))
        return 0
    print(f"file:        {gt.path}  (loaded in {secs * 1000:.0f} ms)")
    print(f"name:        {gt.name}")
    if gt.metadata.get("description"):
        print(f"description: {gt.metadata['description']}")
    print(f"rows: {len(gt)}  archs: {gt.n_archs()}  datasets: {', '.join(gt.datasets())}  "
          f"metrics: {', '.join(gt.metrics())}")
    print()
    print(f"{'dataset':<16} {'metric':<12} {'archs':>6} {'rows':>7}  {'seeds':<14} {'min':>7} {'mean':>7} {'max':>7}")
    for r in summ.itertuples(index=False):
        print(f"{r.dataset:<16} {r.metric:<12} {r.archs:>6} {r.rows:>7}  {_fmt(r.seeds, 14):<14} "
              f"{r.min:>7.2f} {r.mean:>7.2f} {r.max:>7.2f}")
    print()
    print("metadata:")
    for key in sorted(gt.metadata):
        if key in ("name", "description"):
            continue
        print(f"  {key + ':':<20} {_fmt(gt.metadata[key])}")
    return 0


def _list(args) -> int:
    from ..benchmarks import groundtruth as G

    rows = G.describe_benchmarks()
    if not rows:
        print(f"no benchmarks registered (bundled: {G.BUNDLED_DIR}, imported: {G.user_benchmark_dir()})")
        return 0
    width = max(len(n) for n, _ in rows)
    for name, desc in rows:
        print(f"{name:<{width}}  {desc}")
    return 0


def run(args) -> int:
    return {"import": _import, "show": _show, "list": _list}[args.groundtruth_command](args)
