"""Every proxy on DisWOT's S1 against the authors' released KD table (not a test).

    OMP_NUM_THREADS=1 python perf/validate_s1.py [--seeds 5] [--teachers resnet110,resnet56] [--analyze-only]

Scores every registered proxy on the 64 S1 students of ``diswot-s1-cifar100`` (``proxybench eval`` itself: its
resumable run store, its batches, its network builder) with ``--seeds`` seeds of student init and input batch
(seed s: student weights and the 64-image batch drawn with s, from the bundled 500-image CIFAR-100 sample unless
``--data`` says otherwise), once with the first teacher (every proxy) and once more with each further teacher (only
the KD-aware proxies, the others do not read the teacher). Teachers are randomly initialized (``--teacher-seed``),
DisWOT's own setting; ``checkpoint:PATH`` specs work too. The run directories live under ``--work-dir`` and resume
where they stopped, seed-major, so a shorter run (fewer ``--seeds``) is a complete subset.

Then, per teacher, for every proxy and each of ``kd_acc``, ``vanilla_acc`` and ``kd_gain``: Kendall tau and Spearman
rho of the seed-averaged score with bootstrap 95% CIs over the 64 archs, and the spread over seeds (mean, sd, min
and max of the per-seed tau); the paired KD-minus-vanilla tau of every proxy; and DisWOT's claim, the best
KD-aware proxy against the best KD-agnostic one on ``kd_acc`` (paired bootstrap). Output: ``--out`` (text) and CSV
tables beside it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "perf" / "results"
METRICS = ("kd_acc", "vanilla_acc", "kd_gain")


def score(benchmark: str, teacher: str, proxies: str, seeds: int, work: Path, args) -> pd.DataFrame:
    """Scores of one teacher's run (resumed when its directory exists)."""
    from proxybench.engine import EvalSettings, run_eval

    out = work / teacher.replace(":", "_").replace("/", "_")
    settings = EvalSettings(benchmark=benchmark, proxies=proxies, archs=args.archs, seeds=seeds,
                            batch_size=args.batch_size, data=args.data, teacher=teacher,
                            teacher_seed=args.teacher_seed, workers=args.workers, threads=1, out=out,
                            report=False, quiet=True, ci_resamples=0)
    t0 = time.perf_counter()
    result = run_eval(settings)
    done = result.info["timing"]["units_scored_this_session"]
    print(f"{teacher}: {proxies}, {seeds} seed(s): {done} (arch, seed) units scored now in "
          f"{time.perf_counter() - t0:.0f} s; run directory {out}", file=sys.stderr)
    return result.scores


def _fmt(v: float, digits: int = 3) -> str:
    return "nan" if not np.isfinite(v) else f"{v:+.{digits}f}"


def analyze(scores: pd.DataFrame, gt, kd_aware: set[str], resamples: int) -> tuple[pd.DataFrame, pd.DataFrame,
                                                                                   pd.DataFrame, list[str]]:
    """(per-proxy table, correlations, KD-minus-vanilla differences, claim lines) for one teacher's scores."""
    from proxybench.analysis import compare_correlations, correlate

    truth = gt.ground_truth[gt.ground_truth["metric"].isin(METRICS)]
    sc = scores[["arch_index", "arch", "proxy", "seed", "score"]]
    corr = correlate(sc, truth, statistics=("kendall", "spearman"), topk=(), n_resamples=resamples)
    order_names = {m: next(n for n in dict.fromkeys(corr["ground_truth"]) if n.endswith(m)) for m in METRICS}

    def get(proxy, name, stat, agg, col="value"):
        r = corr[(corr["proxy"] == proxy) & (corr["ground_truth"] == name) & (corr["statistic"] == stat)
                 & (corr["aggregate"] == agg)]
        return float(r[col].iloc[0]) if len(r) else np.nan

    def per_seed(proxy, name):
        r = corr[(corr["proxy"] == proxy) & (corr["ground_truth"] == name) & (corr["statistic"] == "kendall")
                 & (corr["aggregate"] == "per_seed")]
        return r["value"].to_numpy(dtype=float)

    proxies = sorted(set(sc["proxy"]))
    rows = []
    for p in proxies:
        row = {"proxy": p, "kd_aware": p in kd_aware,
               "errors": int((scores.loc[scores["proxy"] == p, "status"] == "error").sum()),
               "nonfinite": int((scores.loc[scores["proxy"] == p, "status"] == "nan").sum())}
        for m, name in order_names.items():
            row[f"tau_{m}"] = get(p, name, "kendall", "score_mean")
            row[f"tau_{m}_lo"] = get(p, name, "kendall", "score_mean", "ci_low")
            row[f"tau_{m}_hi"] = get(p, name, "kendall", "score_mean", "ci_high")
            row[f"rho_{m}"] = get(p, name, "spearman", "score_mean")
            row[f"rho_{m}_lo"] = get(p, name, "spearman", "score_mean", "ci_low")
            row[f"rho_{m}_hi"] = get(p, name, "spearman", "score_mean", "ci_high")
            s = per_seed(p, name)
            row[f"seed_tau_{m}_mean"] = float(np.mean(s)) if len(s) else row[f"tau_{m}"]
            row[f"seed_tau_{m}_sd"] = float(np.std(s, ddof=1)) if len(s) > 1 else np.nan
            row[f"seed_tau_{m}_min"] = float(np.min(s)) if len(s) else row[f"tau_{m}"]
            row[f"seed_tau_{m}_max"] = float(np.max(s)) if len(s) else row[f"tau_{m}"]
        rows.append(row)
    table = pd.DataFrame(rows).sort_values("tau_kd_acc", ascending=False, na_position="last")
    valid = table[np.isfinite(table["tau_kd_acc"])]
    kd_name, van_name, gain_name = order_names["kd_acc"], order_names["vanilla_acc"], order_names["kd_gain"]
    diffs = compare_correlations(sc, truth, [((p, kd_name), (p, van_name)) for p in valid["proxy"]],
                                 statistics=("kendall",), n_resamples=resamples)
    lines = []
    best_kd = valid[valid["kd_aware"]]
    best_std = valid[~valid["kd_aware"]]
    for target, name in (("kd_acc", kd_name), ("kd_gain", gain_name)):
        col = f"tau_{target}"
        if len(best_kd) and len(best_std):
            a = best_kd.sort_values(col, ascending=False)["proxy"].iloc[0]
            b = best_std.sort_values(col, ascending=False)["proxy"].iloc[0]
            c = compare_correlations(sc, truth, [((a, name), (b, name))], statistics=("kendall",),
                                     n_resamples=resamples).iloc[0]
            sig = "CI excludes 0" if c["ci_low"] > 0 or c["ci_high"] < 0 else "CI includes 0"
            lines.append(f"best KD-aware on {target}: {a} tau {c['value_a']:+.3f}; best KD-agnostic: {b} tau "
                         f"{c['value_b']:+.3f}; difference {c['difference']:+.3f} [{c['ci_low']:+.3f}, "
                         f"{c['ci_high']:+.3f}], p {c['p_value']:.3f} ({sig})")
    closer = diffs[diffs["proxy_a"].isin(kd_aware) & (diffs["ci_low"] > 0)]
    lines.append(f"KD-aware proxies whose tau on kd_acc exceeds their tau on vanilla_acc with the 95% CI above 0: "
                 f"{len(closer)} of {int(diffs['proxy_a'].isin(kd_aware).sum())}"
                 + (f" ({', '.join(closer['proxy_a'])})" if len(closer) else ""))
    any_closer = diffs[diffs["ci_low"] > 0]
    lines.append(f"any proxy (KD-aware or not) with tau(kd_acc) - tau(vanilla_acc) CI above 0: {len(any_closer)} of "
                 f"{len(diffs)}" + (f" ({', '.join(any_closer['proxy_a'])})" if len(any_closer) else ""))
    return table, corr, diffs, lines


def render(table: pd.DataFrame, diffs: pd.DataFrame) -> str:
    d = diffs.set_index("proxy_a")
    out = []
    for _, r in table.iterrows():
        cells = [f"{r['proxy']:<20}", "KD " if r["kd_aware"] else "   "]
        for m in METRICS:
            spread = f"{_fmt(r[f'seed_tau_{m}_min'], 2)}..{_fmt(r[f'seed_tau_{m}_max'], 2)}"
            cells.append(f"{_fmt(r[f'tau_{m}'])} [{_fmt(r[f'tau_{m}_lo'], 2)}, {_fmt(r[f'tau_{m}_hi'], 2)}] "
                         f"rho {_fmt(r[f'rho_{m}'])} | seeds {_fmt(r[f'seed_tau_{m}_mean'])} "
                         f"sd {(r[f'seed_tau_{m}_sd']):.3f} ({spread})")
        if r["proxy"] in d.index:
            x = d.loc[r["proxy"]]
            cells.append(f"dtau {x['difference']:+.3f} [{x['ci_low']:+.2f}, {x['ci_high']:+.2f}]")
        if r["errors"] or r["nonfinite"]:
            cells.append(f"errors {r['errors']}, non-finite {r['nonfinite']}")
        out.append("  ".join(cells))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--benchmark", default="diswot-s1-cifar100")
    ap.add_argument("--teachers", default="resnet110,resnet56",
                    help="comma-separated teacher specs; the first scores every proxy, the others the KD-aware ones")
    ap.add_argument("--teacher-seed", type=int, default=0)
    ap.add_argument("--seeds", type=int, default=5, help="seeds of student init and batch (default 5)")
    ap.add_argument("--data", default=None, help="image set of the batches (default: the bundled CIFAR-100 sample)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--archs", default="all", help="archs of the benchmark (default all; N samples N of them)")
    ap.add_argument("--workers", default="0")
    ap.add_argument("--proxies", default="all", help="proxies of the first teacher's run (default all)")
    ap.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples")
    ap.add_argument("--work-dir", type=Path, default=RESULTS / "validate_s1_runs")
    ap.add_argument("--out", type=Path, default=RESULTS / "validate_s1.txt")
    ap.add_argument("--analyze-only", action="store_true", help="score nothing new: analyze what the runs hold")
    ap.add_argument("--score-only", action="store_true", help="score, do not analyze")
    args = ap.parse_args(argv)

    from proxybench.benchmarks.groundtruth import load_benchmark
    from proxybench.proxies import list_proxies, not_applicable

    gt = load_benchmark(args.benchmark)
    teachers = [t.strip() for t in args.teachers.split(",") if t.strip()]
    kd_aware = set(list_proxies(teacher=True))
    runs: dict[str, pd.DataFrame] = {}
    for k, teacher in enumerate(teachers):
        proxies = args.proxies if k == 0 else "teacher"
        if args.analyze_only:
            path = args.work_dir / teacher.replace(":", "_").replace("/", "_") / "scores.csv"
            if not path.is_file():
                raise FileNotFoundError(f"no scores for teacher {teacher!r} at {path}: run without --analyze-only")
            sc = pd.read_csv(path)
            sc = sc[sc["seed"] < args.seeds]
        else:
            sc = score(args.benchmark, teacher, proxies, args.seeds, args.work_dir, args)
        runs[teacher] = sc
    if args.score_only:
        return 0

    base = runs[teachers[0]]
    seeds_done = sorted(int(s) for s in base["seed"].unique())
    per_seed_units = base.groupby("seed")["arch_index"].nunique().to_dict()
    lines = [f"DisWOT S1 ({args.benchmark}): {gt.n_archs()} students, CIFAR-100; proxies scored with proxybench eval "
             f"(batch {args.batch_size}, data {args.data or 'the bundled 500-image CIFAR-100 sample'}); seeds "
             f"{seeds_done} (archs per seed {per_seed_units}); teachers {', '.join(teachers)} (random init, seed "
             f"{args.teacher_seed}); bootstrap {args.resamples} resamples over archs.",
             "Each ground-truth value is ONE training run by the authors: no noise ceiling can be computed.", ""]
    kd, van = gt.table("cifar100", "kd_acc"), gt.table("cifar100", "vanilla_acc")
    gain = gt.table("cifar100", "kd_gain")
    lines.append(f"tables: tau(kd_acc, vanilla_acc) {stats.kendalltau(kd, van).statistic:+.3f}, "
                 f"rho {stats.spearmanr(kd, van).statistic:+.3f}; kd_gain {gain.min():+.2f}..{gain.max():+.2f} "
                 f"(mean {gain.mean():+.3f}); tau(kd_gain, vanilla_acc) {stats.kendalltau(gain, van).statistic:+.3f}")
    depth = pd.Series({i: sum(int(c) for c in gt.space.index_to_arch(i)) for i in kd.index})
    stage = {s: pd.Series({i: int(gt.space.index_to_arch(i)[s]) for i in kd.index}) for s in range(3)}
    lines.append("structure: tau with total depth: kd_acc {:+.3f}, vanilla_acc {:+.3f}, kd_gain {:+.3f}; kd_gain with "
                 "stage depths 1/2/3: {}".format(
                     stats.kendalltau(depth, kd).statistic, stats.kendalltau(depth, van).statistic,
                     stats.kendalltau(depth, gain).statistic,
                     " / ".join(f"{stats.kendalltau(stage[s], gain).statistic:+.3f}" for s in range(3))))
    skipped = sorted(p for p in set(base["proxy"]) if not_applicable(p, gt.space))
    if skipped:
        lines.append(f"not applicable on S1 (stored as errors, left out): {', '.join(skipped)}")
    lines.append("")
    legend = ("columns per metric: tau of the seed-averaged score [95% bootstrap CI] rho | per-seed tau: mean, sd "
              "(min..max); dtau: tau(kd_acc) - tau(vanilla_acc), paired bootstrap [95% CI]; KD marks KD-aware "
              "proxies")
    for teacher in teachers:
        sc = pd.concat([base[~base["proxy"].isin(kd_aware)], runs[teacher][runs[teacher]["proxy"].isin(kd_aware)]],
                       ignore_index=True)
        sc = sc[~sc["proxy"].isin(skipped)]
        table, corr, diffs, claim = analyze(sc, gt, kd_aware, args.resamples)
        stem = args.out.with_suffix("")
        tag = teacher.replace(":", "_").replace("/", "_")
        table.to_csv(f"{stem}_{tag}_proxies.csv", index=False)
        corr.to_csv(f"{stem}_{tag}_correlations.csv", index=False)
        diffs.to_csv(f"{stem}_{tag}_kd_minus_vanilla.csv", index=False)
        lines += [f"== teacher {teacher} (random init) ==", legend,
                  "proxy                    " + "   ".join(f"{m:^70}" for m in METRICS), render(table, diffs), ""]
        lines += claim + [""]
    text = "\n".join(lines)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
