"""The report of a run: ``report.md`` and a self-contained ``report.html`` (figures embedded as base64 PNG).

Contents: run metadata (every key of run.json), a summary of what was scored, the correlation table of
every ground truth sorted by Kendall tau (with CIs, top-k, counts of dropped and missing architectures and
the noise ceiling), paired-bootstrap comparisons (the top proxy against the next ones; each proxy's tau on
KD accuracy minus its tau on vanilla accuracy), per-proxy timings and failures, and the figures of
:mod:`proxybench.analysis.plots`.
"""

from __future__ import annotations

import base64
import html
import json
import math
import warnings
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from .. import schema
from .._version import __version__
from ..io import write_table, write_text
from .correlation import (
    CORRELATIONS,
    HEADLINE,
    NOISE_CEILING,
    compare_correlations,
    correlate,
    kd_vanilla_differences,
    kd_vanilla_pairs,
    noise_ceiling,
    noise_headline,
)
from .plots import make_figures
from .rundir import RunData, load_run

MAX_VALUE_CHARS = 300

# A report is a list of blocks, rendered twice (Markdown and HTML):
#   ("h1"|"h2"|"h3", text) ("p", text) ("note", text) ("table", header, rows, row_classes) ("figure", caption, path)


def _short(value) -> str:
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
            out.append((key, _short(v)))
    return out


def _f(v, digits: int = 2) -> str:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return "–"
    return f"{v:.{digits}f}" if math.isfinite(v) else "–"


def _p(v) -> str:
    v = float(v)
    if not math.isfinite(v):
        return "–"
    return f"{v:.1e}" if v < 1e-3 else f"{v:.3f}"


def _with_ci(row: pd.Series | None) -> str:
    if row is None:
        return "–"
    text = _f(row["value"])
    if math.isfinite(row["ci_low"]) and math.isfinite(row["ci_high"]):
        text += f" [{_f(row['ci_low'])}, {_f(row['ci_high'])}]"
    return text


def timing_table(scores: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """Per proxy: rows, median / total seconds per architecture, counts of ok / non-finite / failed scores, and
    the first error message; slowest first."""
    sc = scores.copy()
    sc["seconds"] = pd.to_numeric(sc.get("seconds", np.nan), errors="coerce")
    score = pd.to_numeric(sc["score"], errors="coerce").to_numpy(float)
    status = sc["status"].astype(str) if "status" in sc.columns else pd.Series(
        np.where(np.isfinite(score), "ok", "nan"), index=sc.index)
    sc["_status"] = status.to_numpy()
    sc["_nonfinite"] = ~np.isfinite(score) & (sc["_status"] != "error").to_numpy()
    header = ["proxy", "rows", "median s / arch", "total s", "ok", "NaN/inf", "errors", "first error"]
    stats = []
    for proxy, grp in sc.groupby("proxy", sort=False):
        errors = grp.loc[grp["_status"] == "error", "error"] if "error" in grp.columns else pd.Series([], dtype=str)
        first = str(errors.iloc[0]) if len(errors) else ""
        if len(first) > 120:
            first = first[:117] + "…"
        med = float(grp["seconds"].median()) if grp["seconds"].notna().any() else math.nan
        stats.append((med, [str(proxy), str(len(grp)), _f(med, 4), _f(grp["seconds"].sum(), 1),
                            str(int((grp["_status"] == "ok").sum())), str(int(grp["_nonfinite"].sum())),
                            str(int((grp["_status"] == "error").sum())), first]))
    stats.sort(key=lambda t: -t[0] if math.isfinite(t[0]) else math.inf)
    return header, [r for _, r in stats]


def correlation_table(correlations: pd.DataFrame, ground_truth_name: str, noise: pd.DataFrame | None = None
                      ) -> tuple[list[str], list[list[str]], list[str]]:
    """Header, rows and row classes of one ground truth's table: proxies sorted by Kendall tau (highest
    first), then the noise ceiling (from the ``noise`` table) when it has one."""
    corr = correlations[correlations["ground_truth"] == ground_truth_name]
    head = corr[corr["aggregate"] == HEADLINE]
    stats = list(dict.fromkeys(head["statistic"]))
    extra = [s for s in stats if s not in CORRELATIONS]
    multi_seed = bool((corr["aggregate"] == schema.MEAN_OVER_SEEDS).any())
    proxies = list(dict.fromkeys(head["proxy"]))
    nc_head = noise_headline(noise, ground_truth_name)

    def get(proxy, stat, aggregate=HEADLINE):
        if proxy == NOISE_CEILING:
            return nc_head.loc[stat] if aggregate == HEADLINE and stat in nc_head.index else None
        m = corr[(corr["proxy"] == proxy) & (corr["statistic"] == stat) & (corr["aggregate"] == aggregate)]
        return m.iloc[0] if len(m) else None

    def tau_of(p):
        r = get(p, "kendall")
        return -r["value"] if r is not None and math.isfinite(r["value"]) else math.inf

    proxies.sort(key=lambda p: (tau_of(p), p))
    labels = {"kendall": "Kendall τ [95% CI]", "spearman": "Spearman ρ [95% CI]", "pearson": "Pearson r [95% CI]"}
    header = ["#", "proxy"] + [labels[s] for s in CORRELATIONS if s in stats] + (["p (τ)"] if "kendall" in stats
                                                                                  else [])
    header += [("best pct" if s == "best_percentile" else s) for s in extra]
    if multi_seed:
        header.append("τ over seeds (mean ± std)")
    header += ["n", "dropped", "missing"]
    rows, classes = [], []
    for i, proxy in enumerate(proxies + ([NOISE_CEILING] if len(nc_head) else [])):
        nc = proxy == NOISE_CEILING
        any_row = next((r for r in (get(proxy, s) for s in stats) if r is not None), None)
        cells = ["" if nc else str(i + 1), "noise ceiling (seed-to-seed)" if nc else str(proxy)]
        cells += [_with_ci(get(proxy, s)) for s in CORRELATIONS if s in stats]
        if "kendall" in stats:
            r = get(proxy, "kendall")
            cells.append(_p(r["p_value"]) if r is not None and not nc else "–")
        for s in extra:
            r = get(proxy, s)
            cells.append(_f(r["value"], 1 if s == "best_percentile" else 2) if r is not None else "–")
        if multi_seed:
            m, sd = get(proxy, "kendall", schema.MEAN_OVER_SEEDS), get(proxy, "kendall", schema.STD_OVER_SEEDS)
            cells.append(f"{_f(m['value'])} ± {_f(sd['value'])}" if m is not None and sd is not None else "–")
        if nc and any_row is not None:
            cells += [str(int(any_row["n"])), "–", "–"]
        elif any_row is not None:
            cells += [str(int(any_row["n"])), str(int(any_row["n_dropped"])), str(int(any_row["n_missing"]))]
        else:
            cells += ["–", "–", "–"]
        rows.append(cells)
        classes.append("nc" if nc else "")
    return header, rows, classes


def _diff_cells(r: pd.Series) -> list[str]:
    ci = (f" [{_f(r['ci_low'])}, {_f(r['ci_high'])}]" if math.isfinite(r["ci_low"]) and math.isfinite(r["ci_high"])
          else "")
    return [_f(r["value_a"]), _f(r["value_b"]), f"{r['difference']:+.2f}{ci}" if math.isfinite(r["difference"])
            else "–", _p(r["p_value"]), str(int(r["n"]))]


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


def _summary(run: RunData, corr: pd.DataFrame | None) -> list[str]:
    sc = run.scores
    key = "arch_index" if "arch_index" in sc.columns else "arch"
    lines = []
    seeds = sorted(pd.unique(sc["seed"])) if "seed" in sc.columns else [0]
    score = pd.to_numeric(sc["score"], errors="coerce").to_numpy(float)
    n_err = int((sc["status"].astype(str) == "error").sum()) if "status" in sc.columns else 0
    lines.append(f"{sc[key].nunique()} architectures × {sc['proxy'].nunique()} proxies × {len(seeds)} seed(s) "
                 f"({', '.join(map(str, seeds))}): {len(sc)} scores, {int((~np.isfinite(score)).sum())} "
                 f"non-finite of which {n_err} from failed proxies.")
    if run.ground_truth is None:
        lines.append("No ground truth in the run directory (ground_truth.csv): correlations could not be computed.")
    if corr is not None and len(corr):
        names = list(dict.fromkeys(corr["ground_truth"]))
        lines.append(f"Ground truth: {', '.join(names)}. Correlations are computed on the per-architecture "
                     "mean of the finite scores over seeds; 'dropped' counts architectures with a non-finite "
                     "score, 'missing' architectures absent from the ground truth (both excluded).")
    return lines


def _synthetic_warning(meta: Mapping) -> str | None:
    for k, v in flatten_metadata(meta):
        leaf = k.rsplit(".", 1)[-1].lower()
        if leaf in ("data", "dataset", "input_data", "data_set") and "synthetic" in v.lower():
            return (f"Warning: the proxies were scored on synthetic inputs ({k} = {v}), not real images; "
                    "data-dependent proxies may rank architectures differently on real data.")
    return None


def build_blocks(run: RunData, corr: pd.DataFrame | None, figures: Mapping[str, Path],
                 noise: pd.DataFrame | None = None, extra: list[tuple] | None = None) -> list[tuple]:
    title = run.metadata.get("name") or run.path.resolve().name
    blocks: list[tuple] = [("h1", f"proxybench report: {title}"),
                           ("p", f"Run directory {run.path}. Report written by proxybench {__version__} on "
                                 f"{datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}.")]
    warn = _synthetic_warning(run.metadata)
    if warn:
        blocks.append(("note", warn))
    blocks.append(("h2", "Summary"))
    blocks += [("p", line) for line in _summary(run, corr)]
    blocks.append(("h2", "Run metadata"))
    if run.metadata:
        rows = [[k, v] for k, v in flatten_metadata(run.metadata)]
        blocks.append(("table", ["key", "value"], rows, [""] * len(rows)))
    else:
        blocks.append(("p", "No run.json in the run directory."))
    if corr is not None and len(corr):
        blocks.append(("h2", "Correlations"))
        blocks.append(("p", "Sorted by Kendall τ (tau-b). CIs: bootstrap over architectures. top-k%: fraction of "
                            "the true top-k% found in the proxy's top-k%; best pct: ground-truth percentile of the "
                            "proxy's best-scored architecture (100 = the best). Negative correlations are reported "
                            "as such."))
        for name in dict.fromkeys(corr["ground_truth"]):
            blocks.append(("h3", f"{name}"))
            nc = noise_headline(noise, name)
            if len(nc):
                parts = [f"{'τ' if s == 'kendall' else 'ρ'} = {_with_ci(nc.loc[s])}" for s in ("kendall", "spearman")
                         if s in nc.index]
                blocks.append(("p", f"Noise ceiling (agreement between ground-truth seeds, mean over seed pairs, "
                                    f"{int(nc['n'].iloc[0])} architectures with >= 2 seeds): {', '.join(parts)}."))
            header, rows, classes = correlation_table(corr, name, noise)
            blocks.append(("table", header, rows, classes))
    if corr is not None and len(corr) and run.ground_truth is not None:
        blocks += comparison_blocks(run.scores, run.ground_truth, corr)
    blocks += extra or []
    blocks.append(("h2", "Timing and failures per proxy"))
    blocks.append(("p", "Seconds per architecture and seed as recorded by the proxy engine (the network build is "
                        "not included); slowest first."))
    header, rows = timing_table(run.scores)
    blocks.append(("table", header, rows, [""] * len(rows)))
    if figures:
        blocks.append(("h2", "Figures"))
        for caption, path in figures.items():
            blocks.append(("figure", caption, Path(path)))
    return blocks


def _md_cell(text: str) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def render_markdown(blocks: list[tuple], base: Path) -> str:
    out = []
    for b in blocks:
        kind = b[0]
        if kind in ("h1", "h2", "h3"):
            out.append(f"{'#' * int(kind[1])} {b[1]}\n")
        elif kind == "p":
            out.append(f"{b[1]}\n")
        elif kind == "note":
            out.append(f"> **{b[1]}**\n")
        elif kind == "table":
            header, rows, classes = b[1], b[2], b[3]
            lines = ["| " + " | ".join(_md_cell(h) for h in header) + " |",
                     "|" + "|".join("---" for _ in header) + "|"]
            for r, c in zip(rows, classes):
                cells = [_md_cell(x) for x in r]
                if c == "nc":
                    cells = [f"*{x}*" if x else x for x in cells]
                lines.append("| " + " | ".join(cells) + " |")
            out.append("\n".join(lines) + "\n")
        elif kind == "figure":
            rel = Path(b[2]).resolve().relative_to(base.resolve()) if Path(b[2]).resolve().is_relative_to(
                base.resolve()) else Path(b[2])
            out.append(f"![{b[1]}]({rel.as_posix()})\n\n*{b[1]}*\n")
    return "\n".join(out)


CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1200px;
       color: #222; line-height: 1.45; padding: 0 1em; }
h1 { font-size: 1.7em; border-bottom: 2px solid #ddd; padding-bottom: .2em; }
h2 { font-size: 1.35em; margin-top: 1.6em; border-bottom: 1px solid #eee; }
h3 { font-size: 1.1em; margin-top: 1.2em; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: .9em; }
th, td { border: 1px solid #ddd; padding: .25em .6em; text-align: right; }
th { background: #f4f4f4; }
td:nth-child(2), th:nth-child(2) { text-align: left; }
tr.nc td { font-style: italic; background: #fbf7e9; }
.kv td { text-align: left; font-family: monospace; word-break: break-all; }
.note { background: #fff3cd; border: 1px solid #e0c96b; padding: .6em 1em; }
figure { margin: 1em 0 2em; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: .9em; }
"""


def render_html(blocks: list[tuple]) -> str:
    e = html.escape
    body = []
    title = next((b[1] for b in blocks if b[0] == "h1"), "proxybench report")
    for b in blocks:
        kind = b[0]
        if kind in ("h1", "h2", "h3"):
            body.append(f"<{kind}>{e(b[1])}</{kind}>")
        elif kind == "p":
            body.append(f"<p>{e(b[1])}</p>")
        elif kind == "note":
            body.append(f'<p class="note">{e(b[1])}</p>')
        elif kind == "table":
            header, rows, classes = b[1], b[2], b[3]
            cls = ' class="kv"' if header == ["key", "value"] else ""
            parts = [f"<table{cls}><thead><tr>" + "".join(f"<th>{e(str(h))}</th>" for h in header) + "</tr></thead>",
                     "<tbody>"]
            for r, c in zip(rows, classes):
                rc = f' class="{c}"' if c else ""
                parts.append(f"<tr{rc}>" + "".join(f"<td>{e(str(x))}</td>" for x in r) + "</tr>")
            parts.append("</tbody></table>")
            body.append("\n".join(parts))
        elif kind == "figure":
            data = base64.b64encode(Path(b[2]).read_bytes()).decode("ascii")
            body.append(f'<figure><img alt="{e(b[1])}" src="data:image/png;base64,{data}">'
                        f"<figcaption>{e(b[1])}</figcaption></figure>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{e(title)}</title><style>{CSS}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n")


_NOISE_OPTIONS = ("key", "ci", "n_resamples", "ci_method", "confidence_level", "seed")


def write_report(run_dir: str | Path, *, recompute: bool = False, figures: bool = True,
                 correlate_options: Mapping | None = None, max_ground_truths: int = 4,
                 predictor: Mapping | None = None) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html`` (figures embedded) into ``run_dir``; returns their paths.

    Correlations and the noise ceiling are read from correlations.csv / noise_ceiling.csv (or .parquet), or
    computed with :func:`correlate` / :func:`noise_ceiling` (options ``correlate_options``) and saved as CSV when
    absent or when ``recompute``; that needs ground_truth.csv. Figures go to ``run_dir/figures``. ``predictor``
    (options of :func:`proxybench.analysis.predictor.predict_accuracy`, e.g. ``{"model": "gbr"}``) adds its
    section and writes predictor.csv.
    """
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
    if (noise is None or recompute) and run.ground_truth is not None:
        noise = noise_ceiling(run.ground_truth, **{k: v for k, v in opts.items() if k in _NOISE_OPTIONS})
        if len(noise):
            write_table(noise, run.path / "noise_ceiling.csv")
    figs: dict[str, Path] = {}
    if figures:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            figs = make_figures(run.scores, run.ground_truth, corr, run.path / "figures", noise_ceiling=noise,
                                max_ground_truths=max_ground_truths)
    blocks = build_blocks(run, corr, figs, noise, extra)
    md_path = write_text(run.path / "report.md", render_markdown(blocks, run.path))
    html_path = write_text(run.path / "report.html", render_html(blocks))
    return md_path, html_path
