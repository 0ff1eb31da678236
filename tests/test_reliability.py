"""Reliability of a replicated ground truth: ICC(1), its CI, the attenuation ceiling, the derived KD gain, the
noise-corrected KD-vs-vanilla correlation, and where they are shown."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kendalltau

from proxybench.analysis.correlation import noise_ceiling, reliability_headline
from proxybench.analysis.reliability import ICCStatistic, attenuation_ceiling, icc1, icc1_ci, verdict
from proxybench.benchmarks.groundtruth.derived import with_kd_gain
from proxybench.distill.summary import corrected_correlation, summarize

# Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges; ICC(1,1) = 0.17 (BMS 11.24, WMS 6.26)
SHROUT_FLEISS = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]],
                         dtype=float)


def test_icc1_reproduces_shrout_fleiss():
    res = icc1(SHROUT_FLEISS)
    bms, wms = 11.2417, 6.2639
    assert res["icc"] == pytest.approx((bms - wms) / (bms + 3 * wms), abs=1e-4)
    assert round(res["icc"], 2) == 0.17
    assert res["f"] == pytest.approx(bms / wms, abs=1e-3) and res["n"] == 6 and res["k0"] == pytest.approx(4)


def test_icc1_unbalanced_matches_a_direct_anova():
    rng = np.random.default_rng(1)
    values = rng.normal(size=(9, 4)) + rng.normal(size=(9, 1)) * 2
    values[0, 2:] = np.nan  # 2 seeds
    values[3, 3] = np.nan  # 3 seeds
    values[5, 1:] = np.nan  # 1 seed: left out
    groups = [row[np.isfinite(row)] for i, row in enumerate(values) if i != 5]
    n, big_n = len(groups), sum(len(g) for g in groups)
    grand = np.concatenate(groups).mean()
    msb = sum(len(g) * (g.mean() - grand) ** 2 for g in groups) / (n - 1)
    msw = sum(((g - g.mean()) ** 2).sum() for g in groups) / (big_n - n)
    k0 = (big_n - sum(len(g) ** 2 for g in groups) / big_n) / (n - 1)
    res = icc1(values)
    assert res["n"] == 8 and res["runs"] == big_n
    assert res["icc"] == pytest.approx((msb - msw) / (msb + (k0 - 1) * msw), rel=1e-12)
    stat = ICCStatistic(values)
    assert stat(np.arange(stat.n)) == pytest.approx(res["icc"], rel=1e-12)


def test_icc_recovers_a_known_reliability_and_a_perfect_proxy_meets_the_ceiling():
    rng = np.random.default_rng(0)
    n, true_var, noise_var = 3000, 1.0, 1.0  # ICC = 0.5
    truth = rng.normal(scale=math.sqrt(true_var), size=n)
    runs = truth[:, None] + rng.normal(scale=math.sqrt(noise_var), size=(n, 3))
    assert icc1(runs)["icc"] == pytest.approx(0.5, abs=0.04)
    ceiling = attenuation_ceiling(0.5, "kendall")
    assert ceiling == pytest.approx(0.5)  # (2 / pi) asin(sqrt(1/2))
    assert kendalltau(truth, runs[:, 0]).statistic == pytest.approx(ceiling, abs=0.03)
    # the seed-to-seed tau of two noisy runs is lower than the ceiling: (2 / pi) asin(ICC)
    assert kendalltau(runs[:, 0], runs[:, 1]).statistic == pytest.approx(2 / math.pi * math.asin(0.5), abs=0.03)


def test_ceiling_and_verdict_edges():
    assert attenuation_ceiling(1.0) == 1.0 and attenuation_ceiling(-0.3) == 0.0
    assert math.isnan(attenuation_ceiling(math.nan))
    assert attenuation_ceiling(1.0, "spearman") == pytest.approx(1.0)
    with pytest.raises(ValueError, match="statistic must be kendall, spearman or pearson, got 'tau'"):
        attenuation_ceiling(0.5, "tau")
    assert verdict(0.8, 0.6) == "reliable" and verdict(0.4, 0.1) == "low" and verdict(0.3, -0.1) == "unreliable"
    assert verdict(math.nan, math.nan) == "unknown"


def test_icc_ci_is_deterministic_and_brackets_the_estimate():
    rng = np.random.default_rng(2)
    values = rng.normal(size=(40, 1)) + rng.normal(scale=0.7, size=(40, 3))
    lo, hi = icc1_ci(values, n_resamples=500, seed=3)
    assert (lo, hi) == icc1_ci(values, n_resamples=500, seed=3)
    assert lo < icc1(values)["icc"] < hi and lo > 0


def _kd_table(gain_signal: float, n=24, seeds=3, seed=0) -> pd.DataFrame:
    """vanilla = cell quality + noise; kd = vanilla's cell quality + gain_signal * cell gain + noise."""
    rng = np.random.default_rng(seed)
    quality, gain = rng.normal(80, 4, size=n), rng.normal(1.0, 1.0, size=n)
    rows = []
    for i in range(n):
        for s in range(seeds):
            rows.append({"arch_index": i + 1, "arch": str(i + 1), "dataset": "d", "metric": "vanilla_acc",
                         "value": quality[i] + rng.normal(0, 0.5), "seed": s})
            rows.append({"arch_index": i + 1, "arch": str(i + 1), "dataset": "d", "metric": "kd_acc",
                         "value": quality[i] + 1.0 + gain_signal * gain[i] + rng.normal(0, 0.5), "seed": s})
    df = pd.DataFrame(rows)
    df["seed"] = df["seed"].astype("Int64")
    return df


def test_kd_gain_is_derived_per_seed_and_only_once():
    table = _kd_table(1.0)
    out = with_kd_gain(table)
    gain = out[out["metric"] == "kd_gain"].set_index(["arch_index", "seed"])["value"]
    kd = table[table["metric"] == "kd_acc"].set_index(["arch_index", "seed"])["value"]
    van = table[table["metric"] == "vanilla_acc"].set_index(["arch_index", "seed"])["value"]
    assert len(gain) == len(kd) and np.allclose(gain.sort_index(), (kd - van).sort_index())
    assert len(with_kd_gain(out)) == len(out)  # a table with its own kd_gain gets none added
    plain = table[table["metric"] == "kd_acc"]
    assert with_kd_gain(plain) is plain


def test_noise_ceiling_reports_icc_and_flags_a_gain_that_is_noise():
    noisy = with_kd_gain(_kd_table(0.0))  # the gain is a constant plus noise
    real = with_kd_gain(_kd_table(3.0))  # the gain follows the architecture
    names = ["d/kd_acc", "d/kd_gain"]
    rel_noise = noise_ceiling(noisy, names, n_resamples=300)
    rel_real = noise_ceiling(real, names, n_resamples=300)
    head = reliability_headline(rel_noise, "kd_gain")
    assert head["verdict"] == "unreliable" and "too low to rank on" in head["text"]
    assert reliability_headline(rel_noise, "kd_acc")["verdict"] == "reliable"
    good = reliability_headline(rel_real, "kd_gain")
    assert good["verdict"] == "reliable" and good["icc"] > 0.8
    assert good["kendall"] == pytest.approx(attenuation_ceiling(good["icc"]))
    assert reliability_headline(rel_real, "vanilla_acc") is None


def _runs(table: pd.DataFrame) -> pd.DataFrame:
    t = table[table["metric"].isin(["kd_acc", "vanilla_acc"])]
    return pd.DataFrame({"arch_index": t["arch_index"], "seed": t["seed"].astype(int),
                         "mode": t["metric"].str.replace("_acc", ""), "test_acc": t["value"]})


def test_corrected_correlation_tells_a_constant_gain_from_an_architectural_one():
    for signal, expected in ((0.0, 1.0), (3.0, 4 / math.sqrt(16 + 9))):  # quality var 16, gain var 9
        runs = _runs(_kd_table(signal, n=400, seed=5))
        paired = runs.pivot_table(index=["arch_index", "seed"], columns="mode", values="test_acc")
        assert corrected_correlation(paired) == pytest.approx(expected, abs=0.05)
    out = summarize(_runs(_kd_table(0.0, seed=1)), n_resamples=200)
    assert out["icc_kd_gain_verdict"] == "unreliable" and out["tau_ceiling_kd_gain"] < 0.35
    assert out["icc_kd_verdict"] == "reliable" and out["noise_archs_kd_gain"] == 24


def test_eval_table_shows_the_reliability_row_and_warns():
    from proxybench.engine.runner import format_correlations

    gt = with_kd_gain(_kd_table(0.0))
    noise = noise_ceiling(gt, ["d/kd_gain"], n_resamples=200).assign(ground_truth="d/kd_gain")
    corr = pd.DataFrame([{"proxy": "p", "ground_truth": "d/kd_gain", "statistic": "kendall",
                          "aggregate": "score_mean", "value": 0.1, "ci_low": 0.0, "ci_high": 0.2, "n": 24}])
    scores = pd.DataFrame({"proxy": ["p"], "status": ["ok"]})
    text = format_correlations(corr, scores, noise)
    assert "reliability_ceiling" in text and "WARNING: d/kd_gain does not repeat from seed to seed" in text


def test_regime_summary_ranks_candidates_by_the_reliability_of_their_gain():
    from proxybench.distill.summary import regime_summary

    rows = []
    for name, signal in (("noise", 0.0), ("architectural", 3.0)):
        t = _kd_table(signal, seed=7)
        wide = t.pivot_table(index=["arch_index", "seed"], columns="metric", values="value").reset_index()
        wide = wide.assign(candidate=name, kd_gain=wide["kd_acc"] - wide["vanilla_acc"])
        rows.append(wide)
    out = {e["candidate"]: e for e in regime_summary(pd.concat(rows), n_resamples=300)}
    assert out["noise"]["cells"] == out["architectural"]["cells"] == 24 and out["noise"]["runs"] == 72
    assert out["noise"]["icc_kd_gain_verdict"] == "unreliable"
    assert out["architectural"]["icc_kd_gain_ci"][0] > 0.5 and out["architectural"]["icc_kd_gain_verdict"] == "reliable"
    assert out["noise"]["kd_vs_vanilla_corrected_r"] == pytest.approx(1.0, abs=0.1)
    assert out["architectural"]["kd_vs_vanilla_corrected_r"] < 0.9
    assert out["noise"]["kd_gain_ci"][0] < out["noise"]["kd_gain_mean"] < out["noise"]["kd_gain_ci"][1]
