"""``proxybench report``: the report (and table exports) of a run directory."""

from __future__ import annotations

NAME = "report"
HELP = "write report.md and a self-contained report.html for a run directory"
ORDER = 30
DESCRIPTION = ("Read a run directory (scores.csv or .parquet, ground_truth.csv, correlations.csv, run.json) and "
               "write report.md, report.html (figures embedded) and figures/*.png into it. Correlations are "
               "computed when correlations.csv is absent (or with --recompute). --predictor adds a trained "
               "accuracy predictor on the proxy scores (a separate section: it is fitted on accuracies, not "
               "training-free).")
EPILOG = ("examples:\n  proxybench report runs/default\n  proxybench report runs/default --format csv,parquet\n"
          "  proxybench report runs/default --recompute --n-resamples 2000 --ci-method BCa\n"
          "  proxybench report runs/default --predictor rf --predictor-folds 10")


def add_arguments(p) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="run directory written by 'proxybench eval --out'")
    p.add_argument("--format", default=None, metavar="LIST",
                   help="also export the scores and correlations tables in these formats (csv, parquet)")
    p.add_argument("--recompute", action="store_true",
                   help="recompute correlations.csv from the scores and the ground truth")
    p.add_argument("--n-resamples", type=int, default=1000,
                   help="bootstrap resamples for the CIs when correlations are computed (default 1000)")
    p.add_argument("--ci-method", default="percentile", help="bootstrap CI method: percentile (default), basic, BCa")
    p.add_argument("--no-ci", action="store_true", help="skip the bootstrap confidence intervals")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0)")
    p.add_argument("--no-figures", action="store_true", help="write the report without figures")
    p.add_argument("--ensemble", action="append", metavar="A+B[+...]", default=None,
                   help="add a rank ensemble of the run's proxies (repeatable or comma-separated), e.g. nwot+synflow: "
                        "rows 'ens:nwot+synflow' in scores, correlations and the report")
    p.add_argument("--ensemble-method", default=None, metavar="rank_sum|vote",
                   help="how an ensemble combines its members: rank_sum (default) or vote")
    p.add_argument("--predictor", nargs="?", const="gbr", choices=["gbr", "rf"], default=None,
                   help="add a trained accuracy predictor on the proxy scores (scikit-learn gradient boosting "
                        "'gbr', the default, or random forest 'rf'; k-fold out-of-fold Kendall tau / Spearman rho "
                        "beside each proxy alone) as its own section, and write predictor.csv; random_state "
                        "--seed; needs scikit-learn")
    p.add_argument("--predictor-folds", type=int, default=None, metavar="K",
                   help="folds of the predictor's cross-validation (default 5)")


def run(args) -> int:
    from ..analysis.correlation import CI_METHODS
    from ..analysis.export import export_tables, parse_formats
    from ..analysis.report import write_report
    from ..analysis.rundir import parquet_engine

    formats = parse_formats(args.format) if args.format else None
    if formats and "parquet" in formats:
        parquet_engine()  # fail before writing anything
    if args.ci_method.lower() not in CI_METHODS:
        raise ValueError(f"unknown --ci-method {args.ci_method!r}; valid: percentile, basic, BCa")
    if args.n_resamples < 1:
        raise ValueError(f"--n-resamples must be >= 1, got {args.n_resamples}")
    opts = {"n_resamples": args.n_resamples, "ci_method": args.ci_method, "seed": args.seed, "ci": not args.no_ci}
    predictor = None
    if args.predictor is not None:
        from ..analysis.predictor import require_sklearn

        folds = 5 if args.predictor_folds is None else args.predictor_folds
        if folds < 2:
            raise ValueError(f"--predictor-folds must be >= 2, got {folds}")
        require_sklearn()  # fail before writing anything
        predictor = {"model": args.predictor, "folds": folds, "seed": args.seed}
    elif args.predictor_folds is not None:
        raise ValueError("--predictor-folds needs --predictor")
    from ..engine.store import interrupted_run_hint

    hint = interrupted_run_hint(args.run_dir)
    if hint:
        raise ValueError(hint)
    if args.ensemble_method is not None and not args.ensemble:
        raise ValueError(f"--ensemble-method {args.ensemble_method!r} given without --ensemble; name an ensemble, "
                         "e.g. --ensemble nwot+synflow")
    if args.ensemble:
        from ..analysis.ensembles import parse_ensembles
        from ..analysis.run_ensembles import add_run_ensembles

        add_run_ensembles(args.run_dir, parse_ensembles(args.ensemble), args.ensemble_method or "rank_sum", opts)
    md, html = write_report(args.run_dir, recompute=args.recompute, figures=not args.no_figures,
                            correlate_options=opts, predictor=predictor)
    print(f"wrote {md}")
    print(f"wrote {html}")
    if formats:
        for paths in export_tables(args.run_dir, formats).values():
            for p in paths:
                print(f"wrote {p}")
    return 0
