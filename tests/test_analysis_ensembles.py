"""Rank-aggregation ensembles on known rankings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from proxybench.analysis import add_ensembles, correlate, majority_vote, rank_sum


def scores_table(values: dict[str, list[float]], seeds=(0,)):
    rows = []
    for seed in seeds:
        for proxy, vals in values.items():
            for i, v in enumerate(vals):
                rows.append({"arch_index": i, "arch": f"a{i}", "proxy": proxy, "seed": seed, "score": float(v),
                             "seconds": 0.5, "status": "ok" if np.isfinite(v) else "nan", "error": ""})
    return pd.DataFrame(rows)


def ens(df, name, seed=0):
    return df[(df["proxy"] == name) & (df["seed"] == seed)].sort_values("arch_index")


def test_three_proxies_hand_computed():
    # archs a, b, c; p1, p2: a > b > c; p3: c > b > a
    m = np.array([[3.0, 2.0, 1.0], [30.0, 20.0, 10.0], [1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(rank_sum(m), [7, 6, 5])  # ascending ranks 3+3+1, 2+2+2, 1+1+3
    np.testing.assert_array_equal(majority_vote(m), [2, 1, 0])  # a beats b and c 2-1, b beats c 2-1


def test_vote_and_rank_sum_differ_where_they_should():
    # p1, p2: a > b > c; p3: b > c > a. Borda ties a and b (7, 7); the pairwise majority prefers a (beats b 2-1).
    m = np.array([[3.0, 2.0, 1.0], [3.0, 2.0, 1.0], [1.0, 3.0, 2.0]])
    np.testing.assert_array_equal(rank_sum(m), [7, 7, 4])
    np.testing.assert_array_equal(majority_vote(m), [2, 1, 0])


def test_single_proxy_keeps_its_ranking():
    rng = np.random.default_rng(0)
    x = rng.normal(size=25)
    x[3] = x[4]  # a tie
    for fn in (rank_sum, majority_vote):
        out = fn(x[None, :])
        assert scipy.stats.kendalltau(out, x).statistic == pytest.approx(1.0)
    np.testing.assert_allclose(majority_vote(x[None, :]), scipy.stats.rankdata(x) - 1)


def test_two_opposite_proxies_cancel():
    x = np.arange(8.0)
    m = np.vstack([x, -x])
    assert np.ptp(rank_sum(m)) == 0
    assert np.ptp(majority_vote(m)) == 0
    np.testing.assert_allclose(majority_vote(m), 3.5)  # all 7 comparisons are draws


def test_vote_chunking_is_exact():
    rng = np.random.default_rng(1)
    m = rng.integers(0, 5, (3, 50)).astype(float)
    np.testing.assert_array_equal(majority_vote(m), majority_vote(m, chunk_elements=1))


def test_add_ensembles_rows_and_correlation():
    rng = np.random.default_rng(2)
    truth = rng.normal(size=30)
    good = truth + 0.3 * rng.normal(size=30)
    noisy = truth + 2.0 * rng.normal(size=30)
    sc = scores_table({"good": good, "noisy": noisy}, seeds=(0, 1))
    out = add_ensembles(sc, {"rs": ["good", "noisy"], "vote1": ["good"]}, method={"vote1": "vote"})
    assert len(out) == len(sc) + 2 * 2 * 30
    assert list(out.columns) == list(sc.columns)
    rs = ens(out, "rs")
    np.testing.assert_allclose(rs["score"], scipy.stats.rankdata(good) + scipy.stats.rankdata(noisy))
    assert (rs["seconds"] == 1.0).all() and (rs["status"] == "ok").all()
    assert list(rs["arch"]) == [f"a{i}" for i in range(30)]
    gt = pd.DataFrame({"arch_index": range(30), "arch": [f"a{i}" for i in range(30)], "metric": "acc",
                       "value": truth, "seed": -1})
    corr = correlate(out, gt, ci=False)
    tau = corr[(corr["statistic"] == "kendall") & (corr["aggregate"] == "score_mean")].set_index("proxy")["value"]
    assert tau["vote1"] == pytest.approx(tau["good"])  # one member: same ranking
    assert {"rs", "vote1"} <= set(tau.index)


def test_nan_member_gives_nan_ensemble():
    sc = scores_table({"p": [1, 2, np.nan, 4, 5], "q": [5, 4, 3, 2, np.inf]})
    out = ens(add_ensembles(sc, {"e": ["p", "q"]}, method="vote"), "e")
    assert np.isnan(out["score"].iloc[2]) and np.isnan(out["score"].iloc[4])
    assert list(out["status"]) == ["ok", "ok", "nan", "ok", "nan"]
    assert "p" in out["error"].iloc[2] and "q" in out["error"].iloc[4]
    # the others are ranked among themselves: p and q disagree on every pair -> all draws
    assert np.ptp(out["score"].dropna()) == 0


def test_bad_input():
    sc = scores_table({"p": [1, 2, 3], "q": [3, 2, 1]})
    with pytest.raises(ValueError, match="unknown proxy.*'zz'.*valid: p, q"):
        add_ensembles(sc, {"e": ["p", "zz"]})
    with pytest.raises(ValueError, match="already a proxy"):
        add_ensembles(sc, {"p": ["p", "q"]})
    with pytest.raises(ValueError, match="unknown ensemble method 'borda'.*rank_sum, vote"):
        add_ensembles(sc, {"e": ["p", "q"]}, method="borda")
    with pytest.raises(ValueError, match="non-empty"):
        add_ensembles(sc, {"e": []})
    with pytest.raises(ValueError, match="finite"):
        rank_sum(np.array([[1.0, np.nan]]))
