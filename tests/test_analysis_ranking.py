"""Ranking metrics (precision@k%, nDCG@k%) with known answers, and the benchmark-wide noise ceiling."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from test_analysis_correlation import nc_value, tidy_gt, tidy_scores, value

from proxybench.analysis import correlate, noise_ceiling
from proxybench.analysis import correlation as C
from proxybench.analysis.ranking import (
    RankingStatistic,
    gain,
    ndcg_at_k,
    precision_at_k,
    ranking_curves,
)


def test_perfect_and_reversed_rankings():
    acc = np.linspace(60.0, 90.0, 20)
    for k in (5, 10, 50, 100):
        assert precision_at_k(acc, acc, k) == 1.0
        assert ndcg_at_k(acc, acc, k) == pytest.approx(1.0)
        assert ndcg_at_k(acc + 1000.0 * np.arange(20), acc, k) == pytest.approx(1.0)  # only the order counts
    # reversed: the proxy's top 10% (2 archs) are the two worst -> no overlap
    assert precision_at_k(-acc, acc, 10) == 0.0
    assert precision_at_k(-acc, acc, 50) == 0.0
    assert precision_at_k(-acc, acc, 100) == 1.0
    # reversed, k = 100%: sum_j g(acc_(n+1-j)) / log2(1+j) over the ideal sum
    g = np.exp2(np.sort(acc)[::-1]) - 1
    disc = 1 / np.log2(np.arange(20) + 2)
    assert ndcg_at_k(-acc, acc, 100) == pytest.approx(float(g[::-1] @ disc / (g @ disc)))


def test_hand_computed_small_case():
    # 4 archs, accuracies 3, 2, 1, 0 (percent); the proxy ranks them 2nd, 1st, 4th, 3rd best
    truth = np.array([3.0, 2.0, 1.0, 0.0])
    score = np.array([3.0, 4.0, 1.0, 2.0])
    # gains 2^acc - 1 = 7, 3, 1, 0; proxy order: arch1 (3), arch0 (7), arch3 (0), arch2 (1)
    dcg = 3 / 1 + 7 / math.log2(3) + 0 / 2 + 1 / math.log2(5)
    idcg = 7 / 1 + 3 / math.log2(3) + 1 / 2 + 0 / math.log2(5)
    assert ndcg_at_k(score, truth, 100) == pytest.approx(dcg / idcg)
    # k = 50%: m = 2 positions
    assert ndcg_at_k(score, truth, 50) == pytest.approx((3 + 7 / math.log2(3)) / (7 + 3 / math.log2(3)))
    # k = 25%: m = 1: gain of the proxy's best over the true best
    assert ndcg_at_k(score, truth, 25) == pytest.approx(3 / 7)
    assert precision_at_k(score, truth, 25) == 0.0
    assert precision_at_k(score, truth, 50) == 1.0  # {0, 1} both ways
    # ties in the score: archs 0 and 1 tied for the top share their gains (7 + 3) / 2 at positions 1 and 2
    tied = np.array([5.0, 5.0, 1.0, 2.0])
    assert ndcg_at_k(tied, truth, 25) == pytest.approx(5 / 7)
    assert precision_at_k(tied, truth, 25) == pytest.approx(0.5)


def test_vkdnw_worked_example():
    """The VKDNW paper's toy example (authors' notebook): a top-10 whose two best networks come 3rd and 4th has
    nDCG 0.50 (Kendall tau 0.82); the ordering with a perfect top but a shuffled tail has nDCG 1.00 (tau 0.73)."""
    damaged = np.array([80, 70, 100, 90, 60, 50, 40, 30, 20, 10], dtype=float)
    perfect_top = np.array([100, 90, 80, 70, 60, 50, 10, 20, 30, 40], dtype=float)
    order = -np.arange(10.0)  # the proxy's order is the list order
    assert round(ndcg_at_k(order, damaged, 100), 2) == 0.50
    assert round(ndcg_at_k(order, perfect_top, 100), 2) == 1.00


def test_bad_input_and_gain():
    with pytest.raises(ValueError, match="top-k percentage must be in"):
        precision_at_k([1, 2], [1, 2], 0)
    with pytest.raises(ValueError, match="accuracies in percent"):
        gain(np.array([50.0, 2000.0]))
    assert math.isnan(ndcg_at_k([], [], 10))
    # a ground truth that is not in percent: nDCG undefined, precision still defined
    stat = RankingStatistic(np.arange(5.0), np.arange(5.0) * 1000, (20,))
    prec, nd = stat(np.arange(5))
    assert prec == 1.0 and math.isnan(nd)


def test_curves_and_bootstrap_statistic():
    rng = np.random.default_rng(1)
    acc = rng.normal(80, 3, 50)
    prec, nd = ranking_curves(acc, acc, [2, 10, 50, 100])
    assert np.allclose(prec, 1) and np.allclose(nd, 1)
    score = acc + rng.normal(0, 2, 50)
    stat = RankingStatistic(score, acc, (10, 20))
    assert stat.names == ["precision@10%", "precision@20%", "ndcg@10%", "ndcg@20%"]
    full = stat(np.arange(50))
    assert full[0] == precision_at_k(score, acc, 10) and full[3] == pytest.approx(ndcg_at_k(score, acc, 20))
    batch = stat(rng.integers(0, 50, (7, 50)))
    assert batch.shape == (4, 7) and np.all((batch >= 0) & (batch <= 1))


def test_correlate_rows_with_cis():
    rng = np.random.default_rng(0)
    acc = rng.normal(80, 4, 60)
    scores = tidy_scores({"good": acc + rng.normal(0, 1, 60), "rev": -acc})
    corr = correlate(scores, tidy_gt(acc), n_resamples=200, topk=(10,))
    good = value(corr, "good", "ndcg@10%")
    assert 0 < good["ci_low"] <= good["value"] <= good["ci_high"] <= 1 and good["n"] == 60
    assert value(corr, "rev", "precision@10%")["value"] == 0.0
    assert value(corr, "good", "precision@10%")["ci_high"] <= 1.0
    assert math.isnan(value(corr, "good", "ndcg@10%")["p_value"])
    assert C.HEADLINE_RANKING == "ndcg@10%"


def test_noise_ceiling_from_a_known_ground_truth():
    """Seeds 0 and 1 agree on 12 archs except one swapped pair: tau = 1 - 2 * 1 / 66 discordant; on 3 archs no
    value is given (n too small), whatever the values."""
    v = np.arange(12.0)
    w = v.copy()
    w[[4, 5]] = w[[5, 4]]
    gt = pd.concat([tidy_gt(v, seed=0), tidy_gt(w, seed=1), tidy_gt(np.arange(30.0), seed=-1, start=100)],
                   ignore_index=True)
    nc = noise_ceiling(gt, n_resamples=200, min_archs=C.NOISE_MIN_ARCHS)
    row = nc_value(nc, "kendall")
    assert row["value"] == pytest.approx(1 - 2 / 66) and row["n"] == 12
    assert row["ci_low"] <= row["value"] <= row["ci_high"]
    assert C.noise_text(row) == f"{1 - 2 / 66:.2f} [{row['ci_low']:.2f}, {row['ci_high']:.2f}]"
    # the subset of the benchmark with >= 2 seeds is the 12 archs, whatever a run scored
    sub = C.noise_subset(gt)
    assert set(sub["arch_index"]) == set(range(12))
    small = pd.concat([tidy_gt(v[:3], seed=0), tidy_gt(v[:3], seed=1)], ignore_index=True)
    nc3 = noise_ceiling(small, n_resamples=50, min_archs=C.NOISE_MIN_ARCHS)
    head = nc_value(nc3, "kendall")
    assert head["n"] == 3 and math.isnan(head["value"]) and math.isnan(head["ci_low"])
    assert C.noise_text(head) == "n too small (n=3 < 10)"
    # an old table holding a value from 3 archs is never printed or drawn as a number
    assert math.isnan(C.noise_value(pd.Series({"value": 1.0, "n": 3})))
    # the benchmark-wide ceiling keeps the correlations' spelling of the ground truth
    both = C.benchmark_noise_ceiling(gt, ["ds/acc", "nope"], n_resamples=50)
    assert set(both["ground_truth"]) == {"ds/acc"}


def test_eval_takes_the_noise_ceiling_from_the_whole_benchmark(tmp_path):
    """A benchmark of 40 archs, 12 of them trained with two seeds (seed 1 = seed 0 with one swapped pair): a run
    that scores 6 archs reports the benchmark's ceiling (n = 12), not one from the scored archs; the CLI table and
    the run directory say so."""
    import proxybench
    from proxybench.analysis import load_run
    from proxybench.benchmarks.groundtruth import GroundTruth
    from proxybench.engine import format_correlations

    archs = list(range(0, 4000, 100))
    acc = np.linspace(60.0, 90.0, len(archs))
    rows = [{"arch_index": a, "dataset": "fashion-mnist", "metric": "acc", "value": float(v), "seed": 0}
            for a, v in zip(archs, acc)]
    swapped = acc[:12].copy()
    swapped[[4, 5]] = swapped[[5, 4]]
    rows += [{"arch_index": a, "dataset": "fashion-mnist", "metric": "acc", "value": float(v), "seed": 1}
             for a, v in zip(archs[:12], swapped)]
    meta = {"name": "nc", "data": {"dataset": "fashion-mnist", "resolution": 8, "channels": 3, "num_classes": 10},
            "network": {"C": 4, "N": 1}}
    bench = GroundTruth(pd.DataFrame(rows), meta).save(tmp_path / "nc.pbgt")
    out = tmp_path / "run"
    scores = proxybench.evaluate(bench, proxies="params,flops", archs=[archs[i] for i in (0, 1, 20, 25, 30, 39)],
                                 batch_size=8, out=out, quiet=True, ci_resamples=50, report=False)
    run = load_run(out)
    head = C.noise_headline(run.noise_ceiling, "acc")
    assert head.loc["kendall", "n"] == 12 and head.loc["kendall", "value"] == pytest.approx(1 - 2 / 66)
    assert set(run.noise_ground_truth["arch_index"]) == set(archs[:12])
    text = format_correlations(run.correlations, scores, run.noise_ceiling)
    assert "noise_ceiling" in text and "12 architectures with >= 2 ground-truth seeds" in text
    assert "ndcg@10%" in text.splitlines()[1]
