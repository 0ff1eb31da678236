"""Figures, the report of a small fixture run, exports and the ``proxybench report`` command."""

from __future__ import annotations

import importlib.util
import json
import re

import numpy as np
import pandas as pd
import pytest

from proxybench import cli
from proxybench.analysis import (
    correlate,
    export_tables,
    load_run,
    make_figures,
    noise_ceiling,
    plot_correlation_bars,
    plot_heatmap,
    plot_kd_vs_vanilla,
    plot_proxy_matrix,
    plot_scatter_grid,
    proxy_colors,
    read_table,
    write_report,
)

PNG = b"\x89PNG\r\n\x1a\n"
N = 24


def fixture_tables(seed: int = 0):
    rng = np.random.default_rng(seed)
    vanilla = rng.normal(80, 4, N)
    kd = vanilla + rng.normal(0, 2, N)
    rows = []
    for s in (0, 1):
        for proxy, q in (("good", 1.0), ("weak", 0.3), ("anti", -0.8)):
            sc = q * vanilla + rng.normal(0, 2, N)
            for i in range(N):
                status, err, v = "ok", "", sc[i]
                if proxy == "weak" and i == 3:
                    status, err, v = "error", "RuntimeError: out of cheese", np.nan
                if proxy == "anti" and i == 4:
                    status, v = "nan", np.inf
                rows.append({"arch_index": 10 * i, "arch": f"|cell{i}|", "proxy": proxy, "seed": s, "score": v,
                             "seconds": 0.01 * (1 + i % 3), "status": status, "error": err})
    scores = pd.DataFrame(rows)
    gt = []
    for i in range(N - 2):  # the last two archs are missing from the ground truth
        for metric, vals in (("kd_acc", kd), ("vanilla_acc", vanilla)):
            gt.append({"arch_index": 10 * i, "arch": f"|cell{i}|", "dataset": "fm16", "metric": metric,
                       "value": vals[i], "seed": 0})
            if i < 6:
                gt.append({"arch_index": 10 * i, "arch": f"|cell{i}|", "dataset": "fm16", "metric": metric,
                           "value": vals[i] + rng.normal(0, 1), "seed": 1})
    return scores, pd.DataFrame(gt)


@pytest.fixture()
def run_dir(tmp_path):
    scores, gt = fixture_tables()
    d = tmp_path / "run"
    d.mkdir()
    scores.to_csv(d / "scores.csv", index=False)
    gt.to_csv(d / "ground_truth.csv", index=False)
    (d / "run.json").write_text(json.dumps({"versions": {"proxybench": "0.1.0", "torch": "2.13.0"},
                                            "config": {"proxies": ["good", "weak", "anti"], "seeds": 2},
                                            "machine": {"cpus": 2}, "timings": {"total_s": 3.5}}))
    return d


def test_figures_are_written_and_non_empty(tmp_path):
    scores, gt = fixture_tables()
    corr = correlate(scores, gt, n_resamples=100)
    paths = make_figures(scores, gt, corr, tmp_path / "figs", svg=False)
    names = {p.name for p in paths.values()}
    assert {"bars_kd_acc.png", "scatter_kd_acc.png", "heatmap_kendall.png", "proxy_matrix.png",
            "kd_vs_vanilla_kd_acc.png"} <= names
    for p in paths.values():
        data = p.read_bytes()
        assert data[:8] == PNG and len(data) > 5000


def test_individual_plots_and_colours(tmp_path):
    scores, gt = fixture_tables()
    corr = correlate(scores, gt, ci=False)
    colors = proxy_colors(["good", "weak", "anti"])
    assert len(set(colors.values())) == 4  # three proxies + the noise ceiling, all distinct
    assert proxy_colors(["weak", "good", "anti"]) == colors  # independent of the order proxies come in
    fig = plot_scatter_grid(scores, gt, "vanilla_acc", corr, colors=colors, x="score")
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert len(titles) == 3 and all(re.search(r"τ = -?\d\.\d\d\s+ρ = -?\d\.\d\d", t) for t in titles)
    fig = plot_correlation_bars(corr, "kd_acc", colors=colors)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["good", "weak", "anti"]  # sorted by tau
    # 6 archs with two ground-truth seeds: too few for a noise ceiling, no row; 12: the bottom row
    fig = plot_heatmap(corr, statistic="spearman", noise_ceiling=noise_ceiling(gt, ci=False))
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["good", "weak", "anti"]  # the bars' order
    more = gt[gt["seed"] == 0].iloc[12:24].assign(seed=1, value=lambda d: d["value"] + 0.5)
    gt12 = pd.concat([gt, more], ignore_index=True)
    fig = plot_heatmap(corr, statistic="spearman", noise_ceiling=noise_ceiling(gt12, ci=False))
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()][-1] == "noise_ceiling"
    fig = plot_proxy_matrix(scores)
    assert len(fig.axes[0].texts) == 9  # 3 x 3 annotated cells
    fig = plot_kd_vs_vanilla(gt, "kd_acc", "vanilla_acc", n_labels=4)
    assert "Kendall τ" in fig._suptitle.get_text()
    assert sum(len(ax.texts) for ax in fig.axes) == 8  # 4 movers labelled in both panels
    with pytest.raises(ValueError, match="x must be"):
        plot_scatter_grid(scores, gt, x="log")
    with pytest.raises(ValueError, match="unknown ground truth"):
        plot_correlation_bars(corr, "nope")


@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    """The fixture run with its report written once (figures are slow on a loaded 2-core machine)."""
    d = tmp_path_factory.mktemp("reported") / "run"
    d.mkdir()
    scores, gt = fixture_tables()
    scores.to_csv(d / "scores.csv", index=False)
    gt.to_csv(d / "ground_truth.csv", index=False)
    (d / "run.json").write_text(json.dumps({"versions": {"proxybench": "0.1.0", "torch": "2.13.0"},
                                            "config": {"proxies": ["good", "weak", "anti"], "seeds": 2},
                                            "machine": {"cpus": 2}, "timings": {"total_s": 3.5}}))
    md, html = write_report(d, correlate_options={"n_resamples": 100})
    return d, md, html


def test_report_builds_from_fixture_run(reported):
    run_dir, md, html = reported
    assert md.exists() and html.exists()
    text = html.read_text()
    assert "data:image/png;base64," in text
    assert not re.search(r'src="(?!data:)', text)  # self-contained: no external assets
    assert (run_dir / "correlations.csv").exists()  # recomputed because it was missing
    mdt = md.read_text()
    for needle in ("noise ceiling", "Timing and failures", "out of cheese", "versions.torch", "Kendall τ [95% CI]",
                   "figures/bars_kd_acc.png"):
        assert needle in mdt
    # correlation table sorted by tau: good, weak, anti in the kd_acc section
    section = mdt.split("### kd_acc")[1].split("###")[0]
    order = [line.split("|")[2].strip() for line in section.splitlines() if re.match(r"\| \d+ \|", line)]
    assert order == ["good", "weak", "anti"]
    # counts: weak has one failed arch, anti one inf; two archs missing from the ground truth
    # columns n, errors, dropped, missing: errors / dropped count scores (2 seeds each)
    weak = next(line for line in section.splitlines() if "| weak |" in line)
    assert weak.rstrip(" |").split("|")[-4:] == [" 21 ", " 2 ", " 0 ", " 2"]
    anti = next(line for line in section.splitlines() if "| anti |" in line)
    assert anti.rstrip(" |").split("|")[-4:] == [" 21 ", " 0 ", " 2 ", " 2"]
    # 6 archs with two ground-truth seeds: the noise ceiling says so instead of giving a number
    assert "n too small (n=6 < 10)" in section
    assert (run_dir / "figures" / "proxy_matrix.png").stat().st_size > 0
    # paired comparisons: the top proxy against the others, and KD vs vanilla per proxy
    comp = mdt.split("## Comparisons (paired bootstrap)")[1].split("\n## ")[0]
    top = comp.split("### kd_acc: is the top proxy ahead")[1].split("###")[0]
    assert [line.split("|")[1].strip() for line in top.splitlines() if line.startswith("| good")] == \
        ["good − weak", "good − anti"]
    kd = comp.split("### kd_acc vs vanilla_acc")[1]
    assert {line.split("|")[1].strip() for line in kd.splitlines() if re.match(r"\| (good|weak|anti) ", line)} == \
        {"good", "weak", "anti"}


def test_report_without_ground_truth(run_dir):
    (run_dir / "ground_truth.csv").unlink()
    md, html = write_report(run_dir)
    assert "No ground truth" in md.read_text()
    assert "data:image/png;base64," in html.read_text()  # the proxy-proxy matrix needs no ground truth


def test_export_tables_csv_and_parquet(run_dir, tmp_path):
    written = export_tables(run_dir, "csv,parquet")
    assert set(written) == {"scores", "correlations"}
    run = load_run(run_dir)
    back = pd.read_parquet(run_dir / "correlations.parquet")
    pd.testing.assert_frame_equal(back, read_table(run_dir / "correlations.csv", "correlations"), check_dtype=False)
    # tidy: a nullable integer seed (ids of per_seed rows, missing otherwise) beside a text aggregate
    assert back["seed"].dtype == "Int64" and back["aggregate"].map(type).eq(str).all()
    assert (back["seed"].notna() == (back["aggregate"] == "per_seed")).all()
    # the ranking metrics are exported as statistics with their bootstrap CIs
    ranking = back[(back["statistic"].isin(["ndcg@10%", "precision@10%"])) & (back["aggregate"] == "score_mean")]
    assert len(ranking) == 2 * 3 * 2 and ranking["ci_low"].notna().any()
    sc = pd.read_parquet(run_dir / "scores.parquet")
    pd.testing.assert_frame_equal(sc, run.scores, check_dtype=False)
    out = export_tables({"scores": run.scores}, ["csv"], tmp_path / "x")
    assert out["scores"][0].read_text().startswith("arch_index,arch,proxy,seed,score")
    with pytest.raises(ValueError, match="unknown export format.*'xlsx'.*csv, parquet"):
        export_tables(run_dir, "csv,xlsx")
    with pytest.raises(ValueError, match="needs out_dir"):
        export_tables({"scores": run.scores}, "csv")


def test_parquet_without_pyarrow_is_a_clear_error(run_dir, monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match="pip install pyarrow"):
        export_tables(run_dir, "csv,parquet")
    assert not (run_dir / "correlations.csv").exists()  # nothing written


def test_cli_report(run_dir, capsys):
    assert cli.main(["report", str(run_dir), "--format", "csv", "--n-resamples", "50", "--no-figures"]) == 0
    out = capsys.readouterr().out
    assert "report.html" in out and "correlations.csv" in out
    assert cli.main(["report", str(run_dir / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (run_dir / "scores.csv").unlink()
    assert cli.main(["report", str(run_dir)]) == 2
    assert "no scores.csv" in capsys.readouterr().err
    assert cli.main(["report", str(run_dir), "--format", "xml"]) == 2


def test_invalid_run_json(run_dir):
    (run_dir / "run.json").write_text("{not json")
    with pytest.raises(ValueError, match="invalid JSON"):
        load_run(run_dir)


def test_report_order_metadata_and_vector_figures(reported):
    run_dir, md, html = reported
    for text in (md.read_text(), html.read_text()):
        # summary and the main table first, then figures, comparisons, ranking metrics, metadata last
        marks = [text.index(m) for m in ("good ranks best", "Kendall τ [95% CI]", "Figures", "Comparisons (paired",
                                         "Ranking metrics at every cut", "Run metadata")]
        assert marks == sorted(marks)
        assert "nDCG@10% [95% CI]" in text and "precision@10% [95% CI]" in text
        # metadata grouped and collapsed, not a flat list of dotted keys before the results
        for group in ("machine", "run"):
            assert f"<summary>{group} (" in text
        assert text.index("<details>") > text.index("Run metadata")
    # every figure has an SVG twin, PNGs at the higher dpi, the new figures are there
    figs = sorted((run_dir / "figures").glob("*.png"))
    names = {p.name for p in figs}
    assert {"topk_kd_acc.png", "scatter_raw_kd_acc.png", "kd_gain_kd_acc.png", "seed_spread_kd_acc.png",
            "kd_vs_vanilla_kd_acc.png"} <= names
    for p in figs:
        assert p.with_suffix(".svg").read_text().lstrip().startswith("<?xml")
    assert 'href="figures/bars_kd_acc.svg"' in html.read_text()


def test_kd_panel_limits_leave_out_outliers():
    from proxybench.analysis.figures_kd import robust_limits

    scores, gt = fixture_tables()
    low = gt["arch_index"].isin([0, 10])
    gt.loc[low, "value"] = gt.loc[low, "value"] - 30.0  # two archs at ~50%, far below the rest
    fig = plot_kd_vs_vanilla(gt, "kd_acc", "vanilla_acc", n_labels=2)
    ax = fig.axes[0]
    lo, hi = ax.get_xlim()
    assert gt.loc[low, "value"].max() < lo < gt.loc[~low, "value"].min()
    assert any("2 outside the axes" in t.get_text() for t in ax.get_legend().get_texts())
    assert robust_limits(np.array([1.0, 2, 3, 4, 100]))[1] < 100  # the far outlier is clipped
    assert robust_limits(np.arange(10.0)) == pytest.approx((-0.36, 9.36))  # no outlier: the data's range, padded
