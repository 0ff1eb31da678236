"""The report of a run: ``report.md`` and a self-contained ``report.html`` (figures embedded as base64 PNG, each
with an SVG twin beside it in ``figures/``).

Order, as a reader needs it: a one-paragraph summary and the main table of every ground truth (proxies sorted by
Kendall tau, with CIs, nDCG@10% and precision@10%, counts of failed, non-finite and missing scores, and the noise
ceiling of the benchmark); the figures of :mod:`proxybench.analysis.figures`; the paired-bootstrap comparisons (the
top proxy against the next ones; each proxy's tau on KD accuracy minus its tau on vanilla accuracy); the ranking
metrics at every cut; timings and failures per proxy; and last the run metadata, grouped (data, network, teacher,
machine, timing, run) and collapsed.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from .._version import __version__
from ..io import write_table, write_text
from .correlation import (
    HEADLINE,
    HEADLINE_RANKING,
    NOISE_MIN_ARCHS,
    benchmark_noise_ceiling,
    correlate,
    noise_headline,
    noise_text,
    reliability_headline,
)
from .report_render import render_html, render_markdown
from .report_tables import (
    comparison_blocks,
    correlation_table,
    flatten_metadata,
    metadata_groups,
    proxy_order,
    ranking_table,
    status_counts,
    timing_table,
    with_ci,
)
from .rundir import RunData, load_run


def _summary(run: RunData, corr: pd.DataFrame | None, noise: pd.DataFrame | None) -> str:
    """One paragraph: what was scored, the best proxy of each ground truth with its tau, nDCG@10% and the noise
    ceiling, and the failures."""
    sc = run.scores
    key = "arch_index" if "arch_index" in sc.columns else "arch"
    seeds = sorted(pd.unique(sc["seed"])) if "seed" in sc.columns else [0]
    counts = status_counts(sc)
    n_err = sum(e for e, _ in counts.values())
    n_nan = sum(d for _, d in counts.values())
    parts = [f"{sc[key].nunique()} architectures × {sc['proxy'].nunique()} proxies × {len(seeds)} seed(s) "
             f"({', '.join(map(str, seeds))}): {len(sc)} scores."]
    bench = run.metadata.get("benchmark", {}).get("name") if isinstance(run.metadata.get("benchmark"), dict) else None
    if bench:
        parts[0] = f"Benchmark {bench}: " + parts[0]
    if run.ground_truth is None:
        parts.append("No ground truth in the run directory (ground_truth.csv): correlations could not be computed.")
    elif corr is not None and len(corr):
        for name in dict.fromkeys(corr["ground_truth"]):
            order = proxy_order(corr, name)
            head = corr[(corr["ground_truth"] == name) & (corr["aggregate"] == HEADLINE)].set_index(
                ["proxy", "statistic"])
            best = order[0] if order else None
            text = f"Against {name}"
            if best is not None and (best, "kendall") in head.index and math.isfinite(head.loc[(best, "kendall"),
                                                                                              "value"]):
                r = head.loc[(best, "kendall")]
                text += f", {best} ranks best: Kendall τ {with_ci(r)} on {int(r['n'])} architectures"
                if (best, HEADLINE_RANKING) in head.index:
                    text += f", nDCG@10% {with_ci(head.loc[(best, HEADLINE_RANKING)])}"
            else:
                text += ", no proxy has a defined Kendall τ"
            nc = noise_headline(noise, name)
            if "kendall" in nc.index:
                value = noise_text(nc.loc["kendall"])
                n = int(nc.loc["kendall", "n"])
                text += (f"; the noise ceiling (seed-to-seed τ of the benchmark) is {value}, from {n} architectures"
                         if n >= NOISE_MIN_ARCHS else f"; noise ceiling: {value}")
            rel = reliability_headline(noise, name)
            if rel is not None:
                text += f"; its {rel['text']}"
                if rel["verdict"] == "unreliable":
                    text += (f". **{name} does not repeat from seed to seed: no proxy can be ranked on it, and "
                             "none of its correlations supports a conclusion**")
            parts.append(text + ".")
    parts.append(f"{n_err} scores failed and {n_nan} were non-finite (NaN/inf); an architecture is left out of a "
                 "proxy's correlations only when none of its seeds has a finite score.")
    return " ".join(parts)


def _synthetic_warning(meta: Mapping) -> str | None:
    for k, v in flatten_metadata(meta):
        leaf = k.rsplit(".", 1)[-1].lower()
        if leaf in ("data", "dataset", "input_data", "data_set") and "synthetic" in v.lower():
            return (f"Warning: the proxies were scored on synthetic inputs ({k} = {v}), not real images; "
                    "data-dependent proxies may rank architectures differently on real data.")
    return None


def build_blocks(run: RunData, corr: pd.DataFrame | None, figures: Mapping[str, Path],
                 noise: pd.DataFrame | None = None, extra: list[tuple] | None = None) -> list[tuple]:
    """The report's blocks in reading order (see the module docstring); ``extra`` blocks (e.g. the trained
    predictor's section) follow the ranking metrics."""
    title = run.metadata.get("name") or run.path.resolve().name
    blocks: list[tuple] = [("h1", f"proxybench report: {title}")]
    warn = _synthetic_warning(run.metadata)
    if warn:
        blocks.append(("note", warn))
    blocks.append(("summary", _summary(run, corr, noise)))
    names = list(dict.fromkeys(corr["ground_truth"])) if corr is not None and len(corr) else []
    if names:
        blocks.append(("h2", "Correlations"))
        blocks.append(("p", "Sorted by Kendall τ (tau-b). CIs: bootstrap over architectures. nDCG@10%: the VKDNW "
                            "paper's normalised discounted cumulative gain (gain 2^acc − 1) over the proxy's top 10%; "
                            "precision@10%: fraction of the true top 10% found in the proxy's top 10%; best pct: "
                            "ground-truth percentile of the proxy's best-scored architecture (100 = the best). "
                            "errors / dropped: scores where the proxy failed / returned NaN or ±inf; missing: "
                            "architectures without a ground truth. Negative correlations are reported as such. The "
                            "noise ceiling is the benchmark's seed-to-seed agreement, from all its architectures "
                            f"with ≥ 2 training seeds (not printed below {NOISE_MIN_ARCHS})."))
        for name in names:
            blocks.append(("h3", f"{name}"))
            header, rows, classes = correlation_table(corr, name, noise, run.scores)
            blocks.append(("table", header, rows, classes))
    if figures:
        blocks.append(("h2", "Figures"))
        for caption, path in figures.items():
            blocks.append(("figure", caption, Path(path)))
    if names and run.ground_truth is not None:
        blocks += comparison_blocks(run.scores, run.ground_truth, corr)
    if names:
        blocks.append(("h2", "Ranking metrics at every cut"))
        blocks.append(("p", "Pearson r, and precision@k% / nDCG@k% at each cut k (percent of the architectures)."))
        for name in names:
            header, rows = ranking_table(corr, name)
            blocks.append(("h3", name))
            blocks.append(("table", header, rows, [""] * len(rows)))
    blocks += extra or []
    blocks.append(("h2", "Timing and failures per proxy"))
    blocks.append(("p", "Seconds per architecture and seed as recorded by the proxy engine (the network build is "
                        "not included); slowest first."))
    header, rows = timing_table(run.scores)
    blocks.append(("table", header, rows, [""] * len(rows)))
    blocks.append(("h2", "Run metadata"))
    blocks.append(("p", f"Run directory {run.path}. Report written by proxybench {__version__} on "
                        f"{datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}."))
    if run.metadata:
        for group, rows in metadata_groups(run.metadata):
            blocks.append(("details", f"{group} ({len(rows)} entries)",
                           [("table", ["key", "value"], rows, [""] * len(rows))]))
    else:
        blocks.append(("p", "No run.json in the run directory."))
    return blocks


_NOISE_OPTIONS = ("key", "ci", "n_resamples", "ci_method", "confidence_level", "seed")


def write_report(run_dir: str | Path, *, recompute: bool = False, figures: bool = True,
                 correlate_options: Mapping | None = None, max_ground_truths: int = 4,
                 predictor: Mapping | None = None) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html`` (figures embedded) into ``run_dir``; returns their paths.

    Correlations and the noise ceiling are read from correlations.csv / noise_ceiling.csv (or .parquet), or
    computed with :func:`correlate` / :func:`benchmark_noise_ceiling` (options ``correlate_options``) and saved as
    CSV when absent or when ``recompute``. The noise ceiling comes from noise_ground_truth.csv (the benchmark's
    architectures with >= 2 seeds) or, in a run directory without it, from ground_truth.csv. Figures (PNG and SVG)
    go to ``run_dir/figures``. ``predictor`` (options of
    :func:`proxybench.analysis.predictor.predict_accuracy`, e.g. ``{"model": "gbr"}``) adds its section and writes
    predictor.csv.
    """
    from .figures import make_figures

    run = load_run(run_dir)
    extra: list[tuple] = []
    if predictor is not None:
        from .predictor import predict_accuracy, predictor_blocks

        if run.ground_truth is None:
            raise ValueError(f"the accuracy predictor needs a ground truth; {run.path} has no ground_truth.csv")
        table = predict_accuracy(run.scores, run.ground_truth, **predictor)
        write_table(table, run.path / "predictor.csv")
        extra = predictor_blocks(table)
    corr, noise = run.correlations, run.noise_ceiling
    opts = dict(correlate_options or {})
    if (corr is None or recompute) and run.ground_truth is not None:
        corr = correlate(run.scores, run.ground_truth, **opts)
        write_table(corr, run.path / "correlations.csv")
    noise_gt = run.noise_ground_truth if run.noise_ground_truth is not None else run.ground_truth
    if (noise is None or recompute) and noise_gt is not None and corr is not None and len(corr):
        noise = benchmark_noise_ceiling(noise_gt, list(dict.fromkeys(corr["ground_truth"])),
                                        **{k: v for k, v in opts.items() if k in _NOISE_OPTIONS})
        if noise is not None:
            write_table(noise, run.path / "noise_ceiling.csv")
    figs: dict[str, Path] = {}
    if figures:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            figs = make_figures(run.scores, run.ground_truth, corr, run.path / "figures", noise_ceiling=noise,
                                max_ground_truths=max_ground_truths)
    blocks = build_blocks(run, corr, figs, noise, extra)
    md_path = write_text(run.path / "report.md", render_markdown(blocks, run.path))
    html_path = write_text(run.path / "report.html", render_html(blocks, run.path))
    return md_path, html_path


__all__ = ["build_blocks", "render_html", "render_markdown", "write_report"]
