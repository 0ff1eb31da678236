"""``proxybench eval``: score proxies on a benchmark's architectures and correlate them with its accuracies."""

from __future__ import annotations

import logging
import sys

NAME = "eval"
HELP = "score proxies on a benchmark's networks and correlate them with stored (KD) accuracies"
ORDER = 10
DESCRIPTION = """\
Score training-free proxies on the architectures of a benchmark and correlate them with its stored accuracies.

With no arguments, runs the shipped KD benchmark (nb201-kd-fmnist16-v2) on its bundled Fashion-MNIST image
sample with the default proxy set (DisWOT and its variants, the KD loss, and the common zero-cost proxies),
the benchmark's trained teacher, prints the correlation table and writes the run directory:
store.sqlite (resumable), scores.csv, ground_truth.csv, correlations.csv, noise_ceiling.csv, run.json,
report.md/.html, figures.

Re-running with the same --out resumes: stored (arch, proxy, seed) scores are skipped; a run whose scoring
settings (benchmark, data, batch size, network, teacher, device, options) differ is refused. A proxy that fails
on an architecture is stored with status 'error' and the run goes on.
"""
EPILOG = """\
examples:
  proxybench eval
  proxybench eval --proxies synflow,nwot,diswot --archs 50 --seeds 3
  proxybench eval --proxies standard --ensemble nwot+synflow --metric vanilla_acc
  proxybench eval --data-root /usr/share/datasets/fashion-mnist   # the full Fashion-MNIST test set
  proxybench eval --proxies standard --archs all --workers 2 --out runs/std
  proxybench eval --out runs/std                    # resume an interrupted run
  proxybench eval --benchmark nb201-cifar10.pbgt --data cifar10 --data-root ~/data --archs 200
  proxybench eval --benchmark diswot-s1-cifar100 --proxies all --teacher resnet56   # DisWOT's S1, 64 ResNets
  proxybench eval --archs my_archs.txt --teacher resnet20 --format csv,parquet
  proxybench eval --scheduler tcp://10.0.0.5:8786 --archs all
  proxybench eval --network C=8,N=1 --batch-size 32 --archs 20 --quiet

proxy groups: default, standard (the 12 of NAS-Bench-Suite-Zero), teacher (KD-aware), all;
see 'proxybench list proxies|benchmarks|teachers'.
exit status: 0 success, 2 bad usage or input, 1 other failure.
"""


def add_arguments(p) -> None:
    g = p.add_argument_group("what to measure")
    g.add_argument("--benchmark", metavar="NAME|PATH", default=None,
                   help="registered benchmark or ground-truth file (default: nb201-kd-fmnist16-v2)")
    g.add_argument("--proxies", metavar="LIST|all", default=None,
                   help="comma-separated proxy names and groups (default, standard, teacher, all); default: 'default'")
    g.add_argument("--space", metavar="NAME", default=None,
                   help="search space of the benchmark's architectures (see 'proxybench list spaces'); default: the "
                        "one its metadata names (NB201 when it names none)")
    g.add_argument("--archs", metavar="N|all|FILE", default="all",
                   help="N archs sampled from the benchmark (with --arch-seed), 'all' (default), comma-separated "
                        "indices, or a file of official indices / arch strings, one per line")
    g.add_argument("--arch-seed", type=int, default=0, metavar="S", help="seed of the arch sample (default 0)")
    g.add_argument("--seeds", type=int, default=1, metavar="K",
                   help="network-init seeds per arch, 0..K-1; the input batch of seed s is drawn with s (default 1)")
    g.add_argument("--metric", action="append", metavar="DATASET/METRIC|METRIC|all", default=None,
                   help="ground truth(s) to correlate with (repeatable or comma-separated); default: those on the "
                        "data of the batches (e.g. only the CIFAR-10 ones for a CIFAR-10 batch); 'all': every one "
                        "(see 'proxybench groundtruth show')")
    g.add_argument("--ensemble", action="append", metavar="A+B[+...]", default=None,
                   help="rank ensemble of scored proxies (repeatable or comma-separated), e.g. nwot+synflow: a row "
                        "'ens:nwot+synflow' of its own in the table, the scores and the report")
    g.add_argument("--ensemble-method", default=None, metavar="rank_sum|vote",
                   help="how an ensemble combines its members: rank_sum (TE-NAS / AZ-NAS; default) or vote "
                        "(majority vote of Abdelfattah et al.)")
    d = p.add_argument_group("inputs")
    d.add_argument("--batch-size", type=int, default=64, metavar="B", help="images per batch (default 64)")
    d.add_argument("--balanced", action="store_true", help="class-balanced batches (B a multiple of the classes)")
    d.add_argument("--data", metavar="NAME", default=None,
                   help="image set of the batches (default: the benchmark's bundled sample); 'synthetic' is noise "
                        "and is flagged in the report; see 'proxybench list datasets'")
    d.add_argument("--data-root", metavar="DIR", default=None,
                   help="where the data set's files are; without --data, it selects the benchmark's full data set "
                        "instead of its bundled sample (the run says which data it used); an error with --data "
                        "naming a bundled sample, 'synthetic' or an .npz file")
    d.add_argument("--teacher", metavar="SPEC", default=None,
                   help="teacher for KD-aware proxies (default: the benchmark's teacher; 'none' for no teacher); "
                        "see 'proxybench list teachers'")
    d.add_argument("--teacher-seed", type=int, default=0, metavar="S", help="init seed of a random-init teacher")
    d.add_argument("--network", metavar="K=V,...", default=None,
                   help="override the benchmark's network config: init, and the space's settings (NB201: C "
                        "channels, N cells per stage)")
    d.add_argument("--option", action="append", metavar="K=V", default=None,
                   help="proxy option (repeatable), e.g. temperature=4: each must be declared by a proxy of the run "
                        "and is checked against its type (see 'proxybench list proxies --verbose')")
    x = p.add_argument_group("execution")
    x.add_argument("--device", default="cpu", metavar="cpu|cuda", help="device (default cpu)")
    x.add_argument("--workers", default="auto", metavar="N|auto",
                   help="local worker processes, each with one torch thread (0: score in this process); default "
                        "'auto': one per core when there are at least 4 architectures per core to score")
    x.add_argument("--threads", type=int, default=None, metavar="T",
                   help="torch threads per worker (default: the cores divided among the workers)")
    x.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="dask.distributed scheduler, e.g. tcp://HOST:8786 (needs dask[distributed])")
    o = p.add_argument_group("output")
    o.add_argument("--out", metavar="DIR", default="auto",
                   help="run directory (default runs/<benchmark>-<timestamp>); an existing run is resumed")
    o.add_argument("--restart", action="store_true",
                   help="start the run in --out over: an existing store (also a corrupt or empty one) is renamed to "
                        "store.sqlite.old-<time>, never deleted")
    o.add_argument("--format", default="csv", metavar="csv,parquet", help="table formats (default csv)")
    o.add_argument("--ci-resamples", type=int, default=1000, metavar="R",
                   help="bootstrap resamples of the confidence intervals (0: none; default 1000)")
    o.add_argument("--no-report", action="store_true", help="skip report.md/.html and the figures")
    o.add_argument("--quiet", "-q", action="store_true", help="no progress bar, no log; only the table and errors")
    o.add_argument("--verbose", "-v", action="store_true", help="log the time of every proxy on every arch")


def _configure_logging(quiet: bool, verbose: bool) -> None:
    logger = logging.getLogger("proxybench")
    for h in list(logger.handlers):
        if getattr(h, "_proxybench_cli", False):
            logger.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler._proxybench_cli = True
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO)


def run(args) -> int:
    from ..engine import EvalSettings, format_correlations, format_kd_vs_vanilla, run_eval
    from ..engine.inputs import describe_data
    from ..engine.store import StoreBusyError

    _configure_logging(args.quiet, args.verbose)
    archs = args.archs
    settings = EvalSettings(
        benchmark=args.benchmark, proxies=args.proxies, archs=archs, arch_seed=args.arch_seed, seeds=args.seeds,
        batch_size=args.batch_size, balanced=args.balanced, data=args.data, data_root=args.data_root,
        teacher=args.teacher, teacher_seed=args.teacher_seed, network=args.network, options=args.option,
        device=args.device, workers=args.workers, threads=args.threads, scheduler=args.scheduler, out=args.out,
        formats=args.format, report=not args.no_report, quiet=args.quiet, ci_resamples=args.ci_resamples,
        restart=args.restart, metrics=args.metric, ensembles=args.ensemble, ensemble_method=args.ensemble_method,
        space=args.space)
    if args.ci_resamples < 0:
        raise ValueError(f"--ci-resamples must be >= 0, got {args.ci_resamples}")
    try:
        result = run_eval(settings, argv=["proxybench", *sys.argv[1:]])
    except StoreBusyError as exc:
        print(f"proxybench: error: {exc}", file=sys.stderr)
        return 1
    plan = result.plan
    head = (f"{plan.benchmark_name}: {len(plan.archs)} archs x {len(plan.seeds)} seed(s) x {len(plan.proxies)} "
            f"proxies; inputs {plan.data['resolution']}px, {plan.data['channels']} ch, batch "
            f"{plan.data['batch_size']}")
    if plan.space != "nb201":
        head += f"; search space {plan.space}"
    if plan.teacher is not None:
        head += f"; teacher {plan.teacher_info.get('description')}"
    print(head)
    print(f"data: {describe_data(plan.data)}")
    if plan.data.get("synthetic"):
        print("WARNING: synthetic (Gaussian noise) inputs: these correlations are not comparable with results on "
              "real images")
    print(format_correlations(result.correlations, result.scores, result.noise_ceiling))
    kd_text = format_kd_vs_vanilla(result.kd_vs_vanilla)
    if kd_text:
        print(f"\n{kd_text}")
    if result.run_dir is not None:
        print(f"\nrun directory: {result.run_dir}")
    return 0
