"""Correlation engine: hand-computed values, agreement with scipy, ties, NaN handling, CIs, top-k, seeds,
noise ceiling."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from proxybench import schema
from proxybench.analysis import correlate, noise_ceiling
from proxybench.analysis import correlation as C

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def tidy_scores(values: dict[str, list[float]], seeds: dict[str, list[list[float]]] | None = None, start: int = 0):
    """{proxy: scores over archs start..} (seed 0) or, via ``seeds``, {proxy: [scores of seed 0, seed 1, ...]}."""
    rows = []
    for proxy, per_seed in ({p: [v] for p, v in values.items()} | (seeds or {})).items():
        for seed, vals in enumerate(per_seed):
            for i, v in enumerate(vals):
                status = "ok" if np.isfinite(v) else "nan"
                rows.append({"arch_index": start + i, "arch": f"a{start + i}", "proxy": proxy, "seed": seed,
                             "score": float(v), "seconds": 0.01, "status": status, "error": ""})
    return pd.DataFrame(rows)


def tidy_gt(values, metric="acc", dataset="ds", seed=-1, start=0):
    return pd.DataFrame({"arch_index": np.arange(start, start + len(values)),
                         "arch": [f"a{i}" for i in range(start, start + len(values))], "dataset": dataset,
                         "metric": metric, "value": np.asarray(values, float), "seed": seed})


def value(corr, proxy, statistic, aggregate="score_mean", seed=None, gt=None):
    m = corr[(corr["proxy"] == proxy) & (corr["statistic"] == statistic) & (corr["aggregate"] == aggregate)]
    m = m[m["seed"].isna()] if seed is None else m[m["seed"] == seed]
    if gt is not None:
        m = m[m["ground_truth"] == gt]
    assert len(m) == 1, m
    return m.iloc[0]


def nc_value(nc, statistic, aggregate="mean_over_pairs", pair=None, gt=None):
    m = nc[(nc["statistic"] == statistic) & (nc["aggregate"] == aggregate)]
    if pair is not None:
        m = m[(m["seed_a"] == pair[0]) & (m["seed_b"] == pair[1])]
    if gt is not None:
        m = m[m["ground_truth"] == gt]
    assert len(m) == 1, m
    return m.iloc[0]


def test_hand_computed_four_archs():
    # x = 1,2,3,4 ; y = 1,3,2,4 -> 5 concordant, 1 discordant pair: tau = 4/6; d = 0,1,-1,0: rho = 1-6*2/60
    corr = correlate(tidy_scores({"p": [1, 2, 3, 4]}), tidy_gt([1, 3, 2, 4]), ci=False)
    assert value(corr, "p", "kendall")["value"] == pytest.approx(4 / 6)
    assert value(corr, "p", "spearman")["value"] == pytest.approx(0.8)
    assert value(corr, "p", "pearson")["value"] == pytest.approx(0.8)
    assert set(corr.columns) >= {"proxy", "ground_truth", "statistic", "value", "ci_low", "ci_high", "p_value", "n",
                                 "n_dropped", "n_missing", "seed"}
    assert list(corr.columns) == list(schema.CORRELATIONS.names)
    assert set(corr["aggregate"]) == {"score_mean"} and corr["seed"].isna().all()  # one seed: headline rows only
    assert value(corr, "p", "kendall")["n"] == 4
    assert value(corr, "p", "kendall")["ground_truth"] == "acc"  # one dataset -> the metric name alone


def test_ties_give_tau_b():
    # x ties on the first pair: S = 5, n0 = 6, n1 = 1, n2 = 0 -> tau_b = 5 / sqrt(5 * 6)
    corr = correlate(tidy_scores({"p": [1, 1, 2, 3]}), tidy_gt([1, 2, 3, 4]), ci=False)
    tau = value(corr, "p", "kendall")["value"]
    assert tau == pytest.approx(5 / math.sqrt(30))
    assert tau == pytest.approx(scipy.stats.kendalltau([1, 1, 2, 3], [1, 2, 3, 4], variant="b").statistic)


def test_agrees_with_scipy_including_p_values():
    rng = np.random.default_rng(1)
    x = rng.normal(size=40)
    y = 0.5 * x + rng.normal(size=40)
    corr = correlate(tidy_scores({"p": x}), tidy_gt(y), ci=False)
    for stat, fn in (("kendall", scipy.stats.kendalltau), ("spearman", scipy.stats.spearmanr),
                     ("pearson", scipy.stats.pearsonr)):
        ref = fn(x, y)
        row = value(corr, "p", stat)
        assert row["value"] == pytest.approx(ref.statistic, abs=1e-12)
        assert row["p_value"] == pytest.approx(ref.pvalue, rel=1e-9)


def test_negative_correlation_stays_negative():
    x = np.arange(12.0)
    corr = correlate(tidy_scores({"neg": x}), tidy_gt(-x + 0.01 * np.sin(x)), n_resamples=200)
    for stat in ("kendall", "spearman", "pearson"):
        row = value(corr, "neg", stat)
        assert row["value"] < -0.99
        assert row["ci_high"] < 0


def test_nan_inf_and_missing_are_dropped_and_counted():
    rng = np.random.default_rng(2)
    x = rng.normal(size=20)
    y = x + rng.normal(size=20)
    bad = x.copy()
    bad[[0, 5]] = np.nan
    bad[7] = np.inf
    sc = tidy_scores({"p": bad})
    sc.loc[sc["arch_index"] == 9, ["score", "status", "error"]] = [np.nan, "error", "RuntimeError: x"]
    gt = tidy_gt(y[:18])  # archs 18 and 19 are missing from the ground truth
    corr = correlate(sc, gt, ci=False)
    row = value(corr, "p", "kendall")
    keep = [i for i in range(18) if i not in (0, 5, 7, 9)]
    assert (row["n"], row["n_dropped"], row["n_missing"]) == (len(keep), 4, 2)
    assert row["value"] == pytest.approx(scipy.stats.kendalltau(x[keep], y[keep]).statistic)


def test_bootstrap_ci_contains_estimate_and_is_deterministic():
    rng = np.random.default_rng(3)
    x = rng.normal(size=50)
    y = x + rng.normal(size=50)
    sc, gt = tidy_scores({"p": x}), tidy_gt(y)
    a = correlate(sc, gt, n_resamples=300, seed=7)
    b = correlate(sc, gt, n_resamples=300, seed=7)
    c = correlate(sc, gt, n_resamples=300, seed=8)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["ci_low"].dropna(), c["ci_low"].dropna())
    for stat in C.CORRELATIONS:
        row = value(a, "p", stat)
        assert row["ci_low"] < row["value"] < row["ci_high"]
        assert -1 <= row["ci_low"] and row["ci_high"] <= 1
    bca = correlate(sc, gt, n_resamples=300, ci_method="BCa")
    row = value(bca, "p", "kendall")
    assert row["ci_low"] < row["value"] < row["ci_high"]
    none = correlate(sc, gt, ci=False)
    assert none["ci_low"].isna().all()


def test_bootstrap_count_path_equals_direct_path():
    rng = np.random.default_rng(4)
    x = rng.integers(0, 6, 30).astype(float)  # ties
    y = x + rng.normal(size=30)
    fast = C.bootstrap_ci(x, y, n_resamples=150, seed=1)
    slow = C.bootstrap_ci(x, y, n_resamples=150, seed=1, count_path_max=0)
    for s in C.CORRELATIONS:
        assert fast[s] == pytest.approx(slow[s], abs=1e-10)


def test_resample_statistics_match_scipy_on_resamples():
    rng = np.random.default_rng(5)
    x = rng.integers(0, 4, 25).astype(float)
    y = np.round(x + rng.normal(size=25))
    idx = rng.integers(0, 25, (15, 25))
    stat = C.PairStatistic(x, y, C.CORRELATIONS, count_path_max=1000)
    got = stat(idx)
    for k, s in enumerate(C.CORRELATIONS):
        ref = [C.point_estimate(s, x[i], y[i])[0] for i in idx]
        np.testing.assert_allclose(got[k], ref, atol=1e-12)


def test_topk_on_constructed_rankings():
    truth = np.arange(20.0)
    assert C.topk_overlap(truth, truth, 10) == 1.0
    assert C.topk_overlap(-truth, truth, 10) == 0.0
    # top-25% of 20 = 5 archs; the proxy ranks 3 of the true top 5 in its top 5
    proxy = truth.copy()
    proxy[[19, 18]] = -1, -2
    assert C.topk_overlap(proxy, truth, 25) == pytest.approx(3 / 5)
    # a constant proxy: each arch is in its top m with probability m/n -> expected overlap m/n
    assert C.topk_overlap(np.ones(20), truth, 10) == pytest.approx(2 / 20)
    assert C.best_percentile(truth, truth) == 100.0
    assert C.best_percentile(-truth, truth) == pytest.approx(5.0)
    corr = correlate(tidy_scores({"p": truth}), tidy_gt(truth), ci=False, topk=(1, 5, 10, 50))
    assert set(corr["statistic"]) >= {"precision@1%", "precision@5%", "precision@10%", "precision@50%",
                                      "ndcg@10%", "best_percentile"}
    assert value(corr, "p", "precision@50%")["value"] == 1.0


def test_several_seeds_per_arch():
    rng = np.random.default_rng(6)
    y = rng.normal(size=30)
    seeds = [y + rng.normal(scale=s, size=30) for s in (0.3, 1.0, 2.0)]
    corr = correlate(tidy_scores({}, seeds={"p": seeds}), tidy_gt(y), ci=False)
    per = [scipy.stats.kendalltau(s, y).statistic for s in seeds]
    for k, ref in enumerate(per):
        assert value(corr, "p", "kendall", "per_seed", seed=k)["value"] == pytest.approx(ref)
    assert value(corr, "p", "kendall", "mean_over_seeds")["value"] == pytest.approx(np.mean(per))
    assert value(corr, "p", "kendall", "std_over_seeds")["value"] == pytest.approx(np.std(per, ddof=1))
    # tidy: seed holds seed ids (per_seed rows) or is missing, never a label
    assert corr["seed"].dtype == "Int64" and set(corr["aggregate"]) == set(schema.CORRELATION_AGGREGATES)
    assert (corr["seed"].notna() == (corr["aggregate"] == "per_seed")).all()
    avg = np.mean(seeds, axis=0)
    assert value(corr, "p", "kendall")["value"] == pytest.approx(scipy.stats.kendalltau(avg, y).statistic)
    # one row per (proxy, ground truth, statistic) is the headline
    assert not C.headline(corr).duplicated(["proxy", "ground_truth", "statistic"]).any()


def test_noise_ceiling_on_constructed_seeds():
    v = np.arange(10.0)
    frames = [tidy_gt(v, seed=0), tidy_gt(v, seed=1), tidy_gt(-v, seed=2), tidy_gt([5.0, 6.0], seed=0, start=10)]
    gt = pd.concat(frames, ignore_index=True)
    nc = noise_ceiling(gt, n_resamples=100)
    # pairs (0,1): tau 1; (0,2) and (1,2): tau -1 -> mean -1/3; archs 10, 11 have one seed and are left out
    row = nc_value(nc, "kendall")
    assert row["value"] == pytest.approx(-1 / 3)
    assert row["n"] == 10
    assert nc_value(nc, "kendall", "per_pair", (0, 1))["value"] == pytest.approx(1.0)
    assert nc_value(nc, "spearman", "per_pair", (1, 2))["value"] == pytest.approx(-1.0)
    assert nc_value(nc, "kendall", "std_over_pairs")["value"] == pytest.approx(np.std([1, -1, -1], ddof=1))
    assert list(nc.columns) == list(schema.NOISE_CEILING.names)
    # the proxies see the per-arch mean (v, v, -v -> v/3); the noise ceiling is its own table, not a proxy row
    corr = correlate(tidy_scores({"p": np.arange(12.0)}), gt, ci=False)
    assert value(corr, "p", "kendall")["value"] == pytest.approx(1.0)
    assert "noise_ceiling" not in set(corr["proxy"])


def test_seed_mean_rows_take_precedence():
    gt = pd.concat([tidy_gt([3, 2, 1], seed=0), tidy_gt([1, 2, 3], seed=-1)], ignore_index=True)
    vals = C.ground_truth_values(gt, "acc")
    assert list(vals) == [1, 2, 3]
    # the same with the missing seed of a current ground-truth table (-1 is its old spelling)
    gt["seed"] = pd.array([0, 0, 0, None, None, None], dtype="Int64")
    assert list(C.ground_truth_values(gt, "acc")) == [1, 2, 3]


def test_ground_truth_names_and_errors():
    gt = pd.concat([tidy_gt([1, 2, 3, 4], metric="kd_acc", dataset="fm"),
                    tidy_gt([1, 2, 4, 3], metric="vanilla_acc", dataset="fm"),
                    tidy_gt([4, 3, 2, 1], metric="test_acc", dataset="c10")], ignore_index=True)
    assert C.ground_truth_names(gt) == ["fm/kd_acc", "fm/vanilla_acc", "c10/test_acc"]
    sc = tidy_scores({"p": [1, 2, 3, 4]})
    corr = correlate(sc, gt, ground_truths=["fm/kd_acc", "c10/test_acc"], ci=False)
    assert value(corr, "p", "kendall", gt="c10/test_acc")["value"] == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="unknown ground truth 'nope'.*fm/kd_acc"):
        correlate(sc, gt, ground_truths="nope")
    with pytest.raises(ValueError, match="unknown statistic"):
        correlate(sc, gt, statistics=("kendal",))
    with pytest.raises(ValueError, match="unknown CI method"):
        correlate(sc, gt, ci_method="normal")
    with pytest.raises(ValueError, match="unknown proxy"):
        correlate(sc, gt, proxies=["q"])
    with pytest.raises(ValueError, match="lacks column"):
        correlate(sc.drop(columns="score"), gt)
    with pytest.raises(ValueError, match="several rows"):
        correlate(pd.concat([sc, sc]), gt)


def test_too_few_or_constant_gives_nan_not_error():
    corr = correlate(tidy_scores({"c": [1, 1, 1, 1], "two": [1, 2, np.nan, np.nan]}), tidy_gt([1, 2, 3, 4]))
    assert math.isnan(value(corr, "c", "kendall")["value"])
    assert math.isnan(value(corr, "two", "spearman")["value"])
    assert value(corr, "two", "spearman")["n_dropped"] == 2


def test_join_on_arch_when_no_index():
    sc = tidy_scores({"p": [1, 2, 3, 4]}).drop(columns="arch_index")
    gt = tidy_gt([1, 2, 3, 4]).drop(columns="arch_index")
    assert value(correlate(sc, gt, ci=False), "p", "kendall")["value"] == pytest.approx(1.0)


@pytest.mark.skipif(not (DATA / "nb201" / "nb201_accuracies.csv").is_file(),
                    reason="../shared/data/nb201/nb201_accuracies.csv not available")
def test_real_nb201_table_all_archs():
    """All 15,625 NB201 archs: CIFAR-10 validation accuracy used as a 'proxy' of CIFAR-100 validation accuracy;
    exercises the large-n bootstrap path and must equal scipy."""
    df = pd.read_csv(DATA / "nb201" / "nb201_accuracies.csv")
    sc = pd.DataFrame({"arch_index": df["index"], "arch": df["arch"], "proxy": "c10_val", "seed": 0,
                       "score": df["cifar10_val"], "seconds": 0.0, "status": "ok", "error": ""})
    gt = pd.DataFrame({"arch_index": df["index"], "arch": df["arch"], "dataset": "cifar100", "metric": "val_acc",
                       "value": df["cifar100_val"], "seed": -1})
    corr = correlate(sc, gt, n_resamples=20, statistics=("kendall", "spearman"))
    finite = np.isfinite(df["cifar10_val"]) & np.isfinite(df["cifar100_val"])
    ref = scipy.stats.kendalltau(df["cifar10_val"][finite], df["cifar100_val"][finite]).statistic
    row = value(corr, "c10_val", "kendall")
    assert row["value"] == pytest.approx(ref, abs=1e-12)
    assert row["n"] == finite.sum()
    assert row["ci_low"] <= row["value"] <= row["ci_high"]
    assert row["value"] > 0.7


def test_degenerate_resamples_are_left_out_of_percentile_ci():
    # 4 archs with 2 seeds: ~1.6% of resamples pick one arch only (tau undefined); the CI is still defined
    v = np.arange(4.0)
    gt = pd.concat([tidy_gt(v, seed=0), tidy_gt([0.0, 2.0, 1.0, 3.0], seed=1)], ignore_index=True)
    nc = noise_ceiling(gt, n_resamples=3000, seed=0, min_archs=3)
    row = nc_value(nc, "kendall")
    assert np.isfinite(row["ci_low"]) and row["ci_low"] <= row["value"] <= row["ci_high"] <= 1.0


# ---- paired comparisons of two correlations -----------------------------------------------------------------------

def comparison_tables(n: int = 60, seed: int = 0):
    rng = np.random.default_rng(seed)
    kd = rng.normal(size=n)
    vanilla = kd + rng.normal(scale=1.0, size=n)
    scores = tidy_scores({"good": kd + rng.normal(scale=0.3, size=n), "bad": kd + rng.normal(scale=2.0, size=n),
                          "twin": kd + rng.normal(scale=0.3, size=n)})
    gt = pd.concat([tidy_gt(kd, "kd_acc"), tidy_gt(vanilla, "vanilla_acc")], ignore_index=True)
    return scores, gt


def test_compare_correlations_values_sign_and_symmetry():
    scores, gt = comparison_tables()
    cmp = C.compare_correlations(scores, gt, [("good", "bad"), ("bad", "good"), ("good", "good")],
                                 n_resamples=500)
    assert list(cmp.columns) == C.COMPARE_COLUMNS and len(cmp) == 6
    corr = correlate(scores, gt, ci=False, topk=())
    for _, r in cmp.iterrows():  # point values are those of correlate() on the same archs
        assert r["value_a"] == pytest.approx(value(corr, r["proxy_a"], r["statistic"], gt="kd_acc")["value"])
        assert r["difference"] == pytest.approx(r["value_a"] - r["value_b"])
        assert r["ground_truth_a"] == r["ground_truth_b"] == "kd_acc" and r["n"] == 60
    ab, ba, same = (cmp[cmp["statistic"] == "kendall"].iloc[i] for i in range(3))
    assert ab["difference"] > 0.3 and ab["ci_low"] > 0 and ab["p_value"] < 0.01
    # swapping A and B negates the difference and its interval (same resamples for the same seed)
    assert ba["difference"] == pytest.approx(-ab["difference"])
    assert (ba["ci_low"], ba["ci_high"]) == pytest.approx((-ab["ci_high"], -ab["ci_low"]))
    assert ba["p_value"] == pytest.approx(ab["p_value"])
    # a proxy against itself: zero difference in every resample
    assert (same["difference"], same["ci_low"], same["ci_high"], same["p_value"]) == (0.0, 0.0, 0.0, 1.0)


def test_compare_correlations_equal_proxies_are_not_separated_and_ground_truth_pairs():
    scores, gt = comparison_tables()
    cmp = C.compare_correlations(scores, gt, [("good", "twin"), (("good", "kd_acc"), ("good", "vanilla_acc"))],
                                 statistics=("kendall",), n_resamples=1000, seed=3)
    twins, kd_vs_vanilla = cmp.iloc[0], cmp.iloc[1]
    # two proxies with the same noise level: the CI straddles 0
    assert twins["ci_low"] < 0 < twins["ci_high"] and twins["p_value"] > 0.05
    # the proxy is built from kd_acc, so it fits kd_acc better than vanilla_acc
    assert kd_vs_vanilla["ground_truth_b"] == "vanilla_acc" and kd_vs_vanilla["ci_low"] > 0
    again = C.compare_correlations(scores, gt, [("good", "twin")], statistics=("kendall",), n_resamples=1000,
                                   seed=3)
    assert again.iloc[0].equals(twins)  # deterministic for a seed


def test_compare_correlations_uses_only_archs_common_to_all_four_series():
    scores, gt = comparison_tables(n=30)
    scores.loc[(scores["proxy"] == "bad") & (scores["arch_index"] < 4), "score"] = np.nan
    gt = gt[~((gt["metric"] == "vanilla_acc") & (gt["arch_index"] >= 27))]
    cmp = C.compare_correlations(scores, gt, [(("good", "kd_acc"), ("bad", "vanilla_acc"))],
                                 statistics=("spearman",), n_resamples=200)
    assert cmp.iloc[0]["n"] == 30 - 4 - 3
    keep = np.arange(4, 27)
    good = scores[scores["proxy"] == "good"].set_index("arch_index")["score"].loc[keep]
    kd = gt[gt["metric"] == "kd_acc"].set_index("arch_index")["value"].loc[keep]
    assert cmp.iloc[0]["value_a"] == pytest.approx(scipy.stats.spearmanr(good, kd).statistic)


def test_compare_correlations_bad_input():
    scores, gt = comparison_tables(n=10)
    with pytest.raises(ValueError, match="unknown proxy 'nope'.*valid: good, bad, twin"):
        C.compare_correlations(scores, gt, [("good", "nope")])
    with pytest.raises(ValueError, match="unknown ground truth 'test_acc'"):
        C.compare_correlations(scores, gt, [(("good", "test_acc"), "bad")])
    with pytest.raises(ValueError, match="comparison 0 must be a pair"):
        C.compare_correlations(scores, gt, ["good"])
    with pytest.raises(ValueError, match="must be a proxy name or a \\(proxy, ground truth\\) pair"):
        C.compare_correlations(scores, gt, [(("good", "kd_acc", 1), "bad")])
    with pytest.raises(ValueError, match="unknown statistic"):
        C.compare_correlations(scores, gt, [("good", "bad")], statistics=("tau",))
    tiny = C.compare_correlations(scores[scores["arch_index"] < 2], gt, [("good", "bad")], n_resamples=50)
    assert tiny["value_a"].isna().all() and tiny["ci_low"].isna().all()  # too few archs: NaN, not an error


def test_kd_vanilla_pairs():
    assert C.kd_vanilla_pairs(["kd_acc", "vanilla_acc", "x"]) == [("kd_acc", "vanilla_acc")]
    assert C.kd_vanilla_pairs(["a/kd_acc", "b/vanilla_acc", "a/vanilla_acc"]) == [("a/kd_acc", "a/vanilla_acc")]
    assert C.kd_vanilla_pairs(["kd_acc"]) == []
