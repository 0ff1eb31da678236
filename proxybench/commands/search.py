"""``proxybench search``: find a student cell without training (DisWOT's use case)."""

from __future__ import annotations

import sys

NAME = "search"
HELP = "training-free student search: evolution or random search over a search space with a proxy as fitness"
ORDER = 30
DESCRIPTION = """\
Search a space's architectures (NAS-Bench-201 cells by default; DisWOT's S1 with --space diswot-s1; see
'proxybench list spaces') for the best student of a teacher without training anything: regularized (aging)
evolution (Real et al., AAAI 2019) with the space's single-step mutation (NB201: one edge's op; S1: one stage's
depth), or random search, with a proxy as fitness
(DisWOT by default), an online rank-sum ensemble of proxies (ens:A+B: the mean percentile rank among the archs
scored so far, recomputed at every comparison), or the ground truth itself (oracle).

The setting is the benchmark's (default: the shipped KD benchmark when installed): its search space, a batch of
its real images, its network settings and its teacher (its trained checkpoint); --teacher, --data, --network
override them. Each architecture is scored once per search (cached by index). A budget (--budget
params<=X|flops<=Y, millions) is checked with exact counts before scoring; a mutant over budget is drawn again;
NB201's zero cells (no path from input to output) are never proposed unless --allow-zero-cells.

With a ground truth the found architecture's true accuracy, percentile and rank are printed next to the table's
best, and search.png plots the best-so-far fitness and the true accuracy of the best-so-far arch over cycles.
Files in --out: trajectory.csv (one row per cycle), scores.csv (tidy proxy scores), search.json (config, seed,
timing, versions, result), search.png.
"""
EPILOG = """\
examples:
  proxybench search --proxy diswot --cycles 100
  proxybench search --proxy diswot --teacher resnet20 --budget params<=0.5 --seed 1
  proxybench search --proxy ens:diswot+synflow --algorithm random --cycles 200
  proxybench search --proxy oracle --benchmark nb201-kd-fmnist16-v2 --space table
  proxybench search --space diswot-s1 --benchmark diswot-s1-cifar100 --proxy diswot --teacher resnet56
  proxybench search --space diswot-s1 --benchmark none --data cifar100-sample --proxy synflow --budget params<=0.3
  proxybench search --proxy synflow --benchmark nb201.pbgt --metric cifar10-valid/val_acc \\
      --data ../shared/data/images/cifar10_test_1017.npz --cycles 300 --out runs/synflow-rea

--cycles counts every architecture proposed, the initial population included (Real et al.'s loop).
Without --benchmark, a search on --space NAME uses the first bundled benchmark on that space (diswot-s1:
diswot-s1-cifar100); --benchmark none searches without a ground truth (then --data names the images).
exit status: 0 success, 2 bad usage or input, 1 other failure.
"""


def add_arguments(p) -> None:
    f = p.add_argument_group("what to search with")
    f.add_argument("--proxy", default="diswot", metavar="NAME|ens:A+B|oracle",
                   help="fitness: a registered proxy, a rank ensemble ens:NAME1+NAME2[+...], or 'oracle' (the ground "
                        "truth); default diswot; see 'proxybench list proxies'")
    f.add_argument("--teacher", metavar="SPEC", default=None,
                   help="teacher of KD-aware proxies (default: the benchmark's); see 'proxybench list teachers'")
    f.add_argument("--teacher-seed", type=int, default=0, metavar="S", help="init seed of a random-init teacher")
    f.add_argument("--option", action="append", metavar="K=V", default=None,
                   help="proxy option (repeatable), checked against the options the fitness proxies declare")
    s = p.add_argument_group("the search")
    s.add_argument("--algorithm", default="evolution", metavar="evolution|random",
                   help="regularized evolution (default) or random search")
    s.add_argument("--budget", default=None, metavar="params<=X|flops<=Y",
                   help="upper bounds in millions (K/M/G suffixes allowed), comma-joined, e.g. params<=0.5,flops<=80")
    s.add_argument("--flop-convention", default="naslib", metavar="naslib|xautodl",
                   help="FLOP counts of the budget: naslib (as the flops proxy; default) or xautodl (NB201's tables)")
    s.add_argument("--population", type=int, default=None, metavar="P", help="evolution population (default 10)")
    s.add_argument("--sample", type=int, default=None, metavar="S", help="evolution tournament size (default 3)")
    s.add_argument("--cycles", type=int, default=100, metavar="C",
                   help="architectures proposed in all, initial population included (default 100)")
    s.add_argument("--seed", type=int, default=0, metavar="K", help="seed of the search's random draws (default 0)")
    s.add_argument("--score-seed", type=int, default=0, metavar="K",
                   help="seed of the input batch and of every network's initialization (default 0)")
    s.add_argument("--space", default="all", metavar="NAME|all|table",
                   help="search space (see 'proxybench list spaces'; default: the benchmark's, NB201 without one), "
                        "or 'table': the benchmark's space, only the archs of its ground-truth table")
    s.add_argument("--table-only", action="store_true",
                   help="with --space NAME: only the archs of the ground-truth table")
    s.add_argument("--allow-zero-cells", action="store_true",
                   help="also propose cells whose output does not depend on the input")
    d = p.add_argument_group("benchmark and inputs")
    d.add_argument("--benchmark", metavar="NAME|PATH|none", default=None,
                   help="ground truth and setting (default: nb201-kd-fmnist16-v2 on NB201, else the first bundled "
                        "benchmark on --space; 'none': no ground truth)")
    d.add_argument("--metric", metavar="[DATASET/]METRIC", default=None,
                   help="ground truth to judge the result by (default kd_acc if present, else the first)")
    d.add_argument("--data", metavar="NAME", default=None,
                   help="image set of the batch (default: the benchmark's); needed without a benchmark")
    d.add_argument("--data-root", metavar="DIR", default=None, help="where the data set's files are")
    d.add_argument("--batch-size", type=int, default=64, metavar="B", help="images in the batch (default 64)")
    d.add_argument("--resolution", type=int, default=None, metavar="R", help="input size (default: the benchmark's)")
    d.add_argument("--channels", type=int, default=None, metavar="C", help="input channels (default: the benchmark's)")
    d.add_argument("--network", metavar="K=V,...", default=None,
                   help="override the network: init, and the space's settings (NB201: C, N)")
    d.add_argument("--device", default="cpu", metavar="cpu|cuda", help="device (default cpu)")
    d.add_argument("--train-seconds", type=float, default=None, metavar="S",
                   help="seconds to train one arch, for the training-based cost estimate (default: from the "
                        "benchmark's metadata)")
    o = p.add_argument_group("output")
    o.add_argument("--out", metavar="DIR", default="auto",
                   help="output folder (default runs/search-<fitness>-<time>; 'none': write nothing)")
    o.add_argument("--format", default="csv", metavar="csv,parquet", help="table formats (default csv)")
    o.add_argument("--no-plot", action="store_true", help="do not draw search.png")
    o.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def _benchmark(arg, space: str):
    """The benchmark of a search: the given one ('none': none); by default the shipped KD benchmark when the search
    is on its space (NB201) and it is installed, else the first bundled benchmark on the space named by --space."""
    if arg is None:
        from ..benchmarks.groundtruth import BUNDLED_DIR, SUFFIX, list_benchmarks, read_metadata
        from ..benchmarks.spaces import get_space
        from ..engine.config import DEFAULT_BENCHMARK
        from ..search.api import SPACES

        if str(space).strip().lower() in SPACES:
            return DEFAULT_BENCHMARK if DEFAULT_BENCHMARK in list_benchmarks() else None
        name = get_space(space).name
        candidates = [DEFAULT_BENCHMARK] + sorted(p.name[: -len(SUFFIX)] for p in BUNDLED_DIR.glob(f"*{SUFFIX}"))
        for bench in candidates:
            path = BUNDLED_DIR / f"{bench}{SUFFIX}"
            if path.is_file() and (read_metadata(path).get("space") or "nb201") == name:
                return bench
        return None
    return None if str(arg).strip().lower() == "none" else arg


def run(args) -> int:
    from ..search import run_search
    from ..search.evolution import DEFAULT_POPULATION, DEFAULT_SAMPLE
    from ..search.fitness import parse_fitness
    from ..search.space import parse_budget

    # cheap checks first: a bad --proxy or --budget fails before any data or teacher is loaded
    parse_fitness(args.proxy)
    parse_budget(args.budget)
    evolution = args.algorithm == "evolution"
    if not evolution and (args.population is not None or args.sample is not None):
        raise ValueError(f"--population and --sample apply to --algorithm evolution, not {args.algorithm!r}")
    out = None if str(args.out).strip().lower() == "none" else args.out
    result = run_search(
        args.proxy, teacher=args.teacher, algorithm=args.algorithm, budget=args.budget,
        population=args.population if args.population is not None else DEFAULT_POPULATION,
        sample=args.sample if args.sample is not None else DEFAULT_SAMPLE, cycles=args.cycles, seed=args.seed,
        score_seed=args.score_seed, benchmark=_benchmark(args.benchmark, args.space), metric=args.metric,
        space=args.space, table_only=args.table_only,
        data=args.data, data_root=args.data_root, batch_size=args.batch_size, resolution=args.resolution,
        channels=args.channels, network=args.network, options=args.option, teacher_seed=args.teacher_seed,
        device=args.device, flop_convention=args.flop_convention, allow_zero_cells=args.allow_zero_cells,
        train_seconds_per_arch=args.train_seconds, out=out, formats=args.format, plot=not args.no_plot,
        progress=not args.quiet, argv=["proxybench", *sys.argv[1:]])
    print(result.summary())
    return 0
