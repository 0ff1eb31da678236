"""The tables of a run's report, as (header, rows, row classes): the main correlation table of a ground truth, the
ranking metrics at every cut, paired comparisons, timings and failures, and the run metadata in groups.

A report is a list of blocks rendered twice (:mod:`.report_render`): ``("h1"|"h2"|"h3", text)``, ``("p", text)``,
``("note", text)``, ``("table", header, rows, row_classes)``, ``("figure", caption, png_path)`` and
``("details", summary, blocks)`` (collapsed in HTML and Markdown).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from .. import schema
from .correlation import (
    HEADLINE,
    HEADLINE_PRECISION,
    HEADLINE_RANKING,
    compare_correlations,
    kd_vanilla_differences,
    kd_vanilla_pairs,
    noise_headline,
    noise_text,
    reliability_headline,
)

MAX_VALUE_CHARS = 300
LABELS = {"kendall": "Kendall τ [95% CI]", "spearman": "Spearman ρ [95% CI]", "pearson": "Pearson r [95% CI]"}
METADATA_GROUPS = {
    "data": ("data", "benchmark", "seeds", "archs"),
    "network": ("network",),
    "teacher": ("teacher",),
    "machine": ("machine", "versions", "proxybench_version"),
    "timing": ("timing", "started", "finished"),
}
"""Top-level run.json keys of each metadata group; every other key goes to the group "run"."""


def short(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if len(text) > MAX_VALUE_CHARS:
        extra = f" … ({len(value)} items)" if isinstance(value, (list, tuple, dict)) else " …"
        text = text[:MAX_VALUE_CHARS] + extra
    return text


def flatten_metadata(meta: Mapping, prefix: str = "") -> list[tuple[str, str]]:
    """Nested run metadata -> [(dotted key, short text value)]."""
    out = []
    for k, v in meta.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, Mapping) and v:
            out += flatten_metadata(v, key)
        else:
            out.append((key, short(v)))
    return out


def metadata_groups(meta: Mapping) -> list[tuple[str, list[list[str]]]]:
    """run.json as [(group, [[key, value], ...])] in the order data, network, teacher, machine, timing, run; keys
    are dotted below their top-level key; empty groups are left out."""
    taken = {k for keys in METADATA_GROUPS.values() for k in keys}
    groups = dict(METADATA_GROUPS, run=tuple(k for k in meta if k not in taken))
    out = []
    for group, keys in groups.items():
        rows = [[k, v] for key in keys if key in meta for k, v in flatten_metadata({key: meta[key]})]
        if rows:
            out.append((group, rows))
    return out


def fmt(v, digits: int = 2) -> str:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return "–"
    return f"{v:.{digits}f}" if math.isfinite(v) else "–"


def fmt_p(v) -> str:
    v = float(v)
    if not math.isfinite(v):
        return "–"
    return f"{v:.1e}" if v < 1e-3 else f"{v:.3f}"


def with_ci(row: pd.Series | None) -> str:
    if row is None:
        return "–"
    text = fmt(row["value"])
    if math.isfinite(row["ci_low"]) and math.isfinite(row["ci_high"]):
        text += f" [{fmt(row['ci_low'])}, {fmt(row['ci_high'])}]"
    return text


def status_counts(scores: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """{proxy: (errors, dropped)}: scores (architecture x seed) where the proxy failed, and where it returned a
    non-finite value (NaN, +-inf) without failing."""
    score = pd.to_numeric(scores["score"], errors="coerce").to_numpy(float)
    status = (scores["status"].astype(str).to_numpy() if "status" in scores.columns
              else np.where(np.isfinite(score), "ok", "nan"))
    error = status == "error"
    nonfinite = ~np.isfinite(score) & ~error
    out = {}
    for proxy, idx in scores.groupby("proxy", sort=False).indices.items():
        out[str(proxy)] = (int(error[idx].sum()), int(nonfinite[idx].sum()))
    return out


def timing_table(scores: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """Per proxy: rows, median / total seconds per architecture, counts of ok / non-finite / failed scores, and
    the first error message; slowest first."""
    sc = scores.copy()
    sc["seconds"] = pd.to_numeric(sc.get("seconds", np.nan), errors="coerce")
    counts = status_counts(sc)
    header = ["proxy", "rows", "median s / arch", "total s", "ok", "NaN/inf", "errors", "first error"]
    stats = []
    for proxy, grp in sc.groupby("proxy", sort=False):
        errors = grp.loc[grp["status"].astype(str) == "error", "error"] if {"status", "error"} <= set(grp.columns) \
            else pd.Series([], dtype=str)
        first = str(errors.iloc[0]) if len(errors) else ""
        if len(first) > 120:
            first = first[:117] + "…"
        med = float(grp["seconds"].median()) if grp["seconds"].notna().any() else math.nan
        n_err, n_nan = counts[str(proxy)]
        stats.append((med, [str(proxy), str(len(grp)), fmt(med, 4), fmt(grp["seconds"].sum(), 1),
                            str(len(grp) - n_err - n_nan), str(n_nan), str(n_err), first]))
    stats.sort(key=lambda t: -t[0] if math.isfinite(t[0]) else math.inf)
    return header, [r for _, r in stats]


def _getter(corr: pd.DataFrame):
    index = {(r.proxy, r.statistic, r.aggregate): i for i, r in enumerate(corr.itertuples())}

    def get(proxy, stat, aggregate=HEADLINE):
        i = index.get((proxy, stat, aggregate))
        return corr.iloc[i] if i is not None else None

    return get


def proxy_order(correlations: pd.DataFrame, ground_truth_name: str) -> list[str]:
    """The proxies of one ground truth sorted by Kendall tau, highest first (NaN last), as in the bar chart."""
    head = correlations[(correlations["ground_truth"] == ground_truth_name) & (correlations["aggregate"] == HEADLINE)]
    tau = head[head["statistic"] == "kendall"].set_index("proxy")["value"]
    proxies = list(dict.fromkeys(head["proxy"]))
    return sorted(proxies, key=lambda p: (-tau[p] if p in tau.index and math.isfinite(tau[p]) else math.inf, p))


def correlation_table(correlations: pd.DataFrame, ground_truth_name: str, noise: pd.DataFrame | None = None,
                      scores: pd.DataFrame | None = None) -> tuple[list[str], list[list[str]], list[str]]:
    """The main table of one ground truth: proxies sorted by Kendall tau (highest first) with tau and rho (CIs),
    the p-value of tau, nDCG@10% and precision@10% (CIs), the best-scored architecture's percentile, tau over seeds,
    and the counts: n architectures used, errors / dropped scores (failed / non-finite, from ``scores``), missing
    architectures; then the noise ceiling (``noise``), as "n too small" below 10 architectures."""
    corr = correlations[correlations["ground_truth"] == ground_truth_name]
    get = _getter(corr)
    stats = set(corr.loc[corr["aggregate"] == HEADLINE, "statistic"])
    multi_seed = bool((corr["aggregate"] == schema.MEAN_OVER_SEEDS).any())
    nc_head = noise_headline(noise, ground_truth_name)
    counts = status_counts(scores) if scores is not None else {}
    main = [s for s in ("kendall", "spearman") if s in stats]
    ranking = [s for s in (HEADLINE_RANKING, HEADLINE_PRECISION) if s in stats]
    header = ["#", "proxy"] + [LABELS[s] for s in main] + (["p (τ)"] if "kendall" in stats else [])
    header += [f"{s.replace('ndcg', 'nDCG')} [95% CI]" for s in ranking]
    header += ["best pct"] if "best_percentile" in stats else []
    header += ["τ over seeds (mean ± std)"] if multi_seed else []
    header += ["n", "errors", "dropped", "missing"]
    rows, classes = [], []
    for i, proxy in enumerate(proxy_order(correlations, ground_truth_name)):
        cells = [str(i + 1), str(proxy)] + [with_ci(get(proxy, s)) for s in main]
        if "kendall" in stats:
            r = get(proxy, "kendall")
            cells.append(fmt_p(r["p_value"]) if r is not None else "–")
        cells += [with_ci(get(proxy, s)) for s in ranking]
        if "best_percentile" in stats:
            r = get(proxy, "best_percentile")
            cells.append(fmt(r["value"], 1) if r is not None else "–")
        if multi_seed:
            m, sd = get(proxy, "kendall", schema.MEAN_OVER_SEEDS), get(proxy, "kendall", schema.STD_OVER_SEEDS)
            cells.append(f"{fmt(m['value'])} ± {fmt(sd['value'])}" if m is not None and sd is not None else "–")
        any_row = next((r for r in (get(proxy, s) for s in stats) if r is not None), None)
        err, drop = (str(c) for c in counts.get(str(proxy), ("–", "–")))
        cells += ([str(int(any_row["n"])), err, drop, str(int(any_row["n_missing"]))] if any_row is not None
                  else ["–", err, drop, "–"])
        rows.append(cells)
        classes.append("")
    if len(nc_head):
        n = int(nc_head["n"].iloc[0])
        cells = ["", "noise ceiling (seed-to-seed)"]
        for s in main:
            text = noise_text(nc_head.loc[s]) if s in nc_head.index else None
            cells.append(text or "–")
        cells += ["–"] * (len(header) - len(cells) - 4) + [str(n), "–", "–", "–"]
        rows.append(cells)
        classes.append("nc")
    rel = reliability_headline(noise, ground_truth_name)
    if rel is not None and math.isfinite(rel["icc"]):
        cells = ["", f"reliability ceiling (ICC(1) {fmt(rel['icc'])}: {rel['verdict']})"]
        cells += [fmt(rel[s]) if s in rel else "–" for s in main]
        cells += ["–"] * (len(header) - len(cells) - 4) + [str(rel["n"]), "–", "–", "–"]
        rows.append(cells)
        classes.append("nc")
    return header, rows, classes


def ranking_table(correlations: pd.DataFrame, ground_truth_name: str) -> tuple[list[str], list[list[str]]]:
    """Pearson r [CI] and every precision@k% / nDCG@k% of one ground truth, proxies in the main table's order."""
    corr = correlations[correlations["ground_truth"] == ground_truth_name]
    get = _getter(corr)
    stats = list(dict.fromkeys(corr.loc[corr["aggregate"] == HEADLINE, "statistic"]))
    cols = [s for s in stats if s.startswith("precision@")] + [s for s in stats if s.startswith("ndcg@")]
    pearson = "pearson" in stats
    header = ["proxy"] + ([LABELS["pearson"]] if pearson else []) + [c.replace("ndcg", "nDCG") for c in cols]
    rows = []
    for proxy in proxy_order(correlations, ground_truth_name):
        cells = [str(proxy)] + ([with_ci(get(proxy, "pearson"))] if pearson else [])
        cells += [fmt(get(proxy, c)["value"]) if get(proxy, c) is not None else "–" for c in cols]
        rows.append(cells)
    return header, rows


def _diff_cells(r: pd.Series) -> list[str]:
    ci = (f" [{fmt(r['ci_low'])}, {fmt(r['ci_high'])}]" if math.isfinite(r["ci_low"]) and math.isfinite(r["ci_high"])
          else "")
    return [fmt(r["value_a"]), fmt(r["value_b"]), f"{r['difference']:+.2f}{ci}" if math.isfinite(r["difference"])
            else "–", fmt_p(r["p_value"]), str(int(r["n"]))]


def comparison_blocks(scores: pd.DataFrame, ground_truth: pd.DataFrame, corr: pd.DataFrame, *,
                      runners_up: int = 5, n_resamples: int = 2000) -> list[tuple]:
    """Report blocks of paired-bootstrap comparisons (:func:`compare_correlations`, Kendall tau):
    for every ground truth, the top proxy against the next ``runners_up``; for every KD / vanilla pair of
    ground truths, each proxy's tau on KD accuracy minus its tau on vanilla accuracy."""
    head = corr[(corr["aggregate"] == HEADLINE) & (corr["statistic"] == "kendall")]
    names = list(dict.fromkeys(head["ground_truth"]))
    opts = {"statistics": ("kendall",), "n_resamples": n_resamples}
    blocks: list[tuple] = []
    tables = []
    for name in names:
        ranked = head[head["ground_truth"] == name].dropna(subset=["value"]).sort_values("value", ascending=False)
        proxies = list(ranked["proxy"])
        if len(proxies) < 2:
            continue
        pairs = [((proxies[0], name), (p, name)) for p in proxies[1:1 + runners_up]]
        tables.append((name, compare_correlations(scores, ground_truth, pairs, **opts)))
    kd_pairs = kd_vanilla_pairs(names)
    if not tables and not kd_pairs:
        return blocks
    blocks.append(("h2", "Comparisons (paired bootstrap)"))
    blocks.append(("p", "Differences of Kendall τ computed on the same architectures, with a 95% CI and a "
                        "two-sided p-value from resampling architectures (one resample for both correlations, "
                        "so their dependence is kept). A CI that excludes 0 means the difference is unlikely "
                        "to be an accident of which architectures were sampled."))
    header = ["τ A", "τ B", "Δτ = A − B [95% CI]", "p", "n"]
    for name, df in tables:
        blocks.append(("h3", f"{name}: is the top proxy ahead of the next ones?"))
        rows = [[f"{r['proxy_a']} − {r['proxy_b']}"] + _diff_cells(r) for _, r in df.iterrows()]
        blocks.append(("table", ["A − B"] + header, rows, [""] * len(rows)))
    diffs = kd_vanilla_differences(scores, ground_truth, corr, n_resamples=n_resamples)
    for (kd, vanilla), df in (diffs.groupby(["ground_truth_a", "ground_truth_b"], sort=False)
                              if diffs is not None else []):
        blocks.append(("h3", f"{kd} vs {vanilla}: which proxies fit KD accuracy better than vanilla accuracy?"))
        blocks.append(("p", f"Δτ > 0: the proxy ranks architectures closer to their {kd} than to their {vanilla} "
                            "(DisWOT's claim for KD-aware proxies)."))
        rows = [[str(r["proxy_a"])] + _diff_cells(r) for _, r in df.iterrows()]
        blocks.append(("table", ["proxy", f"τ {kd}", f"τ {vanilla}", "Δτ [95% CI]", "p", "n"], rows,
                       [""] * len(rows)))
    return blocks


__all__ = ["METADATA_GROUPS", "comparison_blocks", "correlation_table", "flatten_metadata", "fmt", "fmt_p",
           "metadata_groups", "proxy_order", "ranking_table", "short", "status_counts", "timing_table", "with_ci"]
