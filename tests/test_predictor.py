"""Proxy scores as features of a trained accuracy predictor (proxybench.analysis.predictor)."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from proxybench import schema
from proxybench.analysis import predictor as P
from proxybench.benchmarks import nb201
from proxybench.cli import main


def synthetic(n: int = 200, seed: int = 0, seeds: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """accuracy = f(a, b) = 60 + 10 cos(3a) + 8 b^2 with a, b uniform on [-1, 1]: neither feature ranks it alone
    (cos(3a) and b^2 are even functions), together they determine it; ``noise`` is a third, useless
    feature. ``seeds`` score seeds with a small per-seed jitter."""
    rng = np.random.default_rng(seed)
    idx = nb201.sample_indices(n, seed=seed)
    a, b, c = rng.uniform(-1, 1, n), rng.uniform(-1, 1, n), rng.normal(size=n)
    acc = 60 + 10 * np.cos(3 * a) + 8 * b ** 2
    rows = []
    for s in range(seeds):
        jit = 1e-3 * s
        for name, v in (("a", a), ("b", b), ("noise", c)):
            rows += [{"arch_index": int(i), "arch": nb201.index_to_arch(int(i)), "proxy": name, "seed": s,
                      "score": float(x + jit), "seconds": 0.1, "status": "ok", "error": ""} for i, x in zip(idx, v)]
    gt = pd.DataFrame({"arch_index": [int(i) for i in idx], "arch": [nb201.index_to_arch(int(i)) for i in idx],
                       "dataset": "synthetic", "metric": "val_acc", "value": acc, "seed": pd.NA})
    return pd.DataFrame(rows), gt


def test_predictor_beats_each_single_feature():
    pytest.importorskip("sklearn")
    scores, gt = synthetic()
    for model in ("gbr", "rf"):
        table = P.predict_accuracy(scores, gt, model=model, folds=5, seed=0)
        assert list(table.columns) == list(schema.PREDICTOR.names)
        tau = table[table["statistic"] == "kendall"].set_index("method")["value"]
        rho = table[table["statistic"] == "spearman"].set_index("method")["value"]
        assert tau[model] > 0.6 and rho[model] > 0.8, (model, tau[model], rho[model])
        for single in ("a", "b", "noise"):
            assert tau[model] > tau[single] + 0.3 and rho[model] > rho[single] + 0.3, (model, single)
        row = table[table["method"] == model].iloc[0]
        assert (row.kind, row.features, row.n, row.n_dropped, row.folds) == (P.PREDICTOR_KIND, "a,b,noise", 200, 0, 5)
        assert set(table.loc[table["method"] != model, "kind"]) == {P.PROXY_KIND}


def test_single_proxy_rows_are_their_rank_correlations():
    pytest.importorskip("sklearn")
    from scipy import stats

    scores, gt = synthetic(60, seeds=2)
    table = P.predict_accuracy(scores, gt, model="rf", folds=3, proxies=["a", "b"])
    a_mean = scores[scores["proxy"] == "a"].groupby("arch_index")["score"].mean()
    y = gt.set_index("arch_index")["value"].loc[a_mean.index]
    got = table[(table["method"] == "a")].set_index("statistic")["value"]
    assert got["kendall"] == pytest.approx(stats.kendalltau(a_mean, y).statistic)
    assert got["spearman"] == pytest.approx(stats.spearmanr(a_mean, y).statistic)
    assert set(table["method"]) == {"rf", "a", "b"}


def test_predictor_is_deterministic_for_a_seed_and_drops_non_finite():
    pytest.importorskip("sklearn")
    scores, gt = synthetic(80)
    scores.loc[(scores["proxy"] == "b") & (scores["arch_index"] == scores["arch_index"].iloc[0]), "score"] = np.nan
    one = P.predict_accuracy(scores, gt, model="gbr", seed=3)
    two = P.predict_accuracy(scores, gt, model="gbr", seed=3)
    pd.testing.assert_frame_equal(one, two)
    assert (one["n"] == 79).all() and (one["n_dropped"] == 1).all()
    other = P.predict_accuracy(scores, gt, model="gbr", seed=4)
    assert not np.allclose(one.loc[one["method"] == "gbr", "value"], other.loc[other["method"] == "gbr", "value"])


def test_predictor_refuses_bad_options():
    pytest.importorskip("sklearn")
    scores, gt = synthetic(20)
    with pytest.raises(ValueError, match="unknown predictor model 'svm'; valid: gbr, rf"):
        P.predict_accuracy(scores, gt, model="svm")
    with pytest.raises(ValueError, match="folds must be an integer >= 2, got 1"):
        P.predict_accuracy(scores, gt, folds=1)
    with pytest.raises(ValueError, match=r"unknown proxy\(ies\) \['zen'\]"):
        P.predict_accuracy(scores, gt, proxies=["a", "zen"])
    with pytest.raises(ValueError, match="unknown statistic"):
        P.predict_accuracy(scores, gt, statistics=("pearson",))
    with pytest.raises(ValueError, match="only 20 architectures .* needs at least 25"):
        P.predict_accuracy(scores, gt, folds=25)


def test_missing_sklearn_is_a_clear_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # import sklearn -> ImportError
    scores, gt = synthetic(20)
    with pytest.raises(ImportError, match=r"needs scikit-learn.*proxybench\[predict\]"):
        P.predict_accuracy(scores, gt)
    run = tmp_path / "run"
    run.mkdir()
    scores.to_csv(run / "scores.csv", index=False)
    gt.to_csv(run / "ground_truth.csv", index=False)
    assert main(["report", str(run), "--predictor", "--no-figures"]) == 1
    assert "needs scikit-learn" in capsys.readouterr().err
    assert not (run / "report.md").exists()


def test_report_predictor_section(tmp_path, capsys):
    pytest.importorskip("sklearn")
    scores, gt = synthetic(60)
    run = tmp_path / "run"
    run.mkdir()
    scores.to_csv(run / "scores.csv", index=False)
    gt.to_csv(run / "ground_truth.csv", index=False)
    assert main(["report", str(run), "--predictor", "rf", "--predictor-folds", "4", "--no-figures",
                 "--n-resamples", "20"]) == 0
    md = (run / "report.md").read_text()
    assert "## Trained accuracy predictor (proxy scores as features)" in md
    assert "rf predictor (4-fold out-of-fold)" in md and "Not a training-free score" in md
    table = pd.read_csv(run / "predictor.csv")
    assert list(table.columns) == list(schema.PREDICTOR.names) and set(table["folds"]) == {4}
    assert md.index("Trained accuracy predictor") > md.index("## Correlations")
    assert main(["report", str(run), "--predictor-folds", "3"]) == 2
    assert "--predictor-folds needs --predictor" in capsys.readouterr().err
    assert main(["report", str(run), "--predictor", "svm"]) == 2
    (run / "ground_truth.csv").unlink()
    assert main(["report", str(run), "--predictor", "--no-figures"]) == 2
    assert "needs a ground truth" in capsys.readouterr().err


def test_api_exposes_the_predictor():
    import proxybench
    import proxybench.analysis

    assert proxybench.predict_accuracy is P.predict_accuracy
    assert proxybench.analysis.predict_accuracy is P.predict_accuracy
