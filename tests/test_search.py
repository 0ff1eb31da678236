"""Training-free student search: budget, validity, oracle search, reproducibility, cache, ensembles, CLI."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from proxybench.benchmarks.groundtruth import GroundTruth
from proxybench.benchmarks.nb201 import NUM_ARCHS, OPS, arch_to_ops, is_zero_cell, nb201_counts
from proxybench.cli import main
from proxybench.search import (
    Budget,
    EnsembleFitness,
    Evaluation,
    ScoreBook,
    SearchDomain,
    judge,
    parse_budget,
    parse_fitness,
    random_search,
    regularized_evolution,
    run_search,
    seconds_per_training_run,
)
from proxybench.search.fitness import CallableFitness
from proxybench.search.space import index_to_ops, zero_cell_flags

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
TIMING = ["seconds", "elapsed"]
TINY = {"C": 4, "N": 1}


def _ops_array() -> np.ndarray:
    return np.array([index_to_ops(i) for i in range(NUM_ARCHS)], dtype=np.int64)


def synthetic_table(seed: int = 0) -> pd.Series:
    """A cheap accuracy over all 15,625 cells: per-edge op weights plus two pairwise interactions; zero cells 10 %."""
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 1, size=(6, len(OPS)))
    ops = _ops_array()
    acc = 80 + w[np.arange(6), ops].sum(axis=1) + 0.8 * ((ops[:, 0] == 3) & (ops[:, 5] == 3)) \
        - 0.6 * ((ops[:, 2] == 2) & (ops[:, 4] == 4))
    acc[zero_cell_flags()] = 10.0
    return pd.Series(acc, index=pd.RangeIndex(NUM_ARCHS, name="arch_index"), name="synthetic/acc")


def _space(**kw) -> SearchDomain:
    return SearchDomain(**kw)


def _search(fitness, space, algorithm="evolution", seed=0, **kw) -> ScoreBook:
    book = ScoreBook(fitness if not callable(fitness) else CallableFitness(fitness, "f"), space)
    rng = random.Random(seed)
    if algorithm == "evolution":
        regularized_evolution(space, book, rng, **kw)
    else:
        random_search(space, book, rng, **kw)
    return book


# ---- budgets and the space -------------------------------------------------------------------------------------
def test_parse_budget_forms():
    assert parse_budget("params<=0.5") == Budget(max_params=0.5)
    assert parse_budget(" flops <= 80M ") == Budget(max_flops=80.0)
    assert parse_budget("params<=500K,flops<=0.04G") == Budget(max_params=0.5, max_flops=40.0)
    assert parse_budget(None) == parse_budget("none") == Budget()
    for bad in ("params<0.5", "size<=3", "params<=", "params<=0", "params<=1,params<=2", "flops<=1T"):
        with pytest.raises(ValueError, match="params<=X or flops<=Y") as exc:
            parse_budget(bad)
        assert repr(bad) in str(exc.value)


def test_space_excludes_zero_cells_and_matches_nb201():
    flags = zero_cell_flags()
    assert int(flags.sum()) == 341
    for i in random.Random(1).sample(range(NUM_ARCHS), 300) + list(np.flatnonzero(flags)[:20]):
        assert bool(flags[i]) == is_zero_cell(i)
    sp = _space()
    assert len(sp.feasible) == NUM_ARCHS - 341
    assert sp.why_invalid(int(np.flatnonzero(flags)[0])).startswith("zero cell")
    assert len(_space(allow_zero_cells=True).feasible) == NUM_ARCHS


def test_space_budget_is_exact_and_impossible_budget_is_explained():
    net = {"C": 8, "N": 1, "num_classes": 10, "in_channels": 3, "resolution": 16}
    sp = _space(budget="params<=0.03,flops<=1.0", **net)
    assert 0 < len(sp.feasible) < NUM_ARCHS - 341
    feasible = set(sp.feasible)
    for i in random.Random(2).sample(range(NUM_ARCHS), 400):
        p, f = nb201_counts(i, **net)
        ok = p <= 0.03 and f <= 1.0 and not zero_cell_flags()[i]
        assert (i in feasible) == ok
    with pytest.raises(ValueError, match="smallest cell has"):
        _space(budget="params<=0.001", **net)


def test_mutants_are_valid_single_edge_changes():
    sp = _space(budget="params<=0.02", C=8, N=1, resolution=16)
    rng = random.Random(0)
    for _ in range(200):
        parent = sp.random_index(rng)
        for child in sp.valid_mutants(parent):
            diff = np.array(index_to_ops(child)) != np.array(index_to_ops(parent))
            assert diff.sum() == 1 and sp.is_valid(child)
        child, phase = sp.mutate(parent, rng)
        assert sp.is_valid(child) and phase in ("mutation", "restart")


# ---- searches with cheap fitness -----------------------------------------------------------------------------------
def test_evolution_with_oracle_finds_the_table_best():
    table = synthetic_table()
    best = int(table.idxmax())
    for seed in (0, 1, 2):
        book = _search(lambda i: table.iloc[i], _space(), seed=seed, population=10, sample=3, cycles=400)
        idx, value = book.best()
        assert idx == best and value == table.max(), f"seed {seed}: found {idx}, table best {best}"
        assert len(book.records) < 400  # found among < 3 % of the space


def test_search_respects_budget_and_never_proposes_invalid_cells():
    net = {"C": 8, "N": 1, "num_classes": 10, "in_channels": 3, "resolution": 16}
    sp = _space(budget="params<=0.025", **net)
    ops = _ops_array()
    params = lambda i: nb201_counts(tuple(ops[i]), **net)[0]  # noqa: E731  fitness pushes against the budget
    for algorithm in ("evolution", "random"):
        kw = {"population": 8, "sample": 4} if algorithm == "evolution" else {}
        book = _search(params, sp, algorithm, seed=3, cycles=150, **kw)
        traj = book.trajectory()
        assert len(traj) == 150
        for _, row in traj.iterrows():
            i = int(row["arch_index"])
            assert params(i) <= 0.025 and not zero_cell_flags()[i]
            assert arch_to_ops(row["arch"]) == index_to_ops(i)
            if row["phase"] == "mutation":
                assert (np.array(index_to_ops(i)) != np.array(index_to_ops(int(row["parent_index"])))).sum() == 1
        assert set(traj["phase"]) <= ({"init", "mutation", "restart"} if algorithm == "evolution" else {"random"})


def test_invalid_proposal_is_refused():
    book = ScoreBook(CallableFitness(lambda i: 1.0, "one"), _space())
    with pytest.raises(RuntimeError, match="zero cell"):
        book.propose(int(np.flatnonzero(zero_cell_flags())[0]), "init")


def test_same_seed_same_trajectory_and_each_arch_scored_once():
    table = synthetic_table(4)
    calls: list[int] = []

    def fit(i):
        calls.append(i)
        return table.iloc[i]

    a = _search(fit, _space(), seed=7, cycles=120).trajectory()
    assert len(calls) == len(set(calls)) == a["arch_index"].nunique()  # cache: one evaluation per arch
    assert a["cached"].sum() == 120 - len(calls) > 0
    first = a.drop_duplicates("arch_index")
    assert not first["cached"].any() and a.loc[a["arch_index"].duplicated(), "cached"].all()
    b = _search(lambda i: table.iloc[i], _space(), seed=7, cycles=120).trajectory()
    pd.testing.assert_frame_equal(a.drop(columns=TIMING), b.drop(columns=TIMING))
    c = _search(lambda i: table.iloc[i], _space(), seed=8, cycles=120).trajectory()
    assert not a["arch_index"].equals(c["arch_index"])


def test_random_search_baseline():
    table = synthetic_table(5)
    sub = list(range(0, NUM_ARCHS, 500))  # 32 archs
    sp = _space(restrict_to=sub)
    book = _search(lambda i: table.iloc[i], sp, "random", seed=0, cycles=200)
    traj = book.trajectory()
    assert set(traj["phase"]) == {"random"} and set(traj["arch_index"]) <= set(sub)
    assert book.best()[0] == int(table.loc[[i for i in sub if not zero_cell_flags()[i]]].idxmax())
    assert (np.diff(traj["best_so_far_score"]) >= 0).all()


def test_failing_fitness_stops_early():
    def boom(i):
        raise RuntimeError("no GPU here")

    with pytest.raises(RuntimeError, match="no finite value on the first 5.*no GPU here"):
        _search(boom, _space(), cycles=50)


# ---- online rank ensemble -----------------------------------------------------------------------------------------
def test_online_rank_ensemble_matches_rank_sum_on_the_archs_scored():
    from proxybench.analysis.ensembles import rank_sum

    rng = np.random.default_rng(0)
    fit = EnsembleFitness(["a", "b", "c"], job=None)
    records = {}
    for i in range(40):
        s = {m: float(v) for m, v in zip("abc", rng.normal(size=3).round(1))}
        records[i] = Evaluation(i, "", s, dict.fromkeys(s, "ok"))
    records[40] = Evaluation(40, "", {"a": 1.0, "b": float("nan"), "c": 0.0}, {"a": "ok", "b": "nan", "c": "ok"})
    vals = fit.values(records, list(records))
    assert vals[-1] == -np.inf
    matrix = np.array([[records[i].scores[m] for i in range(40)] for m in "abc"])
    expect = rank_sum(matrix) / (3 * 40)
    np.testing.assert_allclose(vals[:40], expect)
    assert np.all((vals[:40] > 0) & (vals[:40] <= 1))
    # online: a new arch better than all on every member moves everyone else down
    records[41] = Evaluation(41, "", {"a": 9.0, "b": 9.0, "c": 9.0}, dict.fromkeys("abc", "ok"))
    after = fit.values(records, list(records))
    assert after[-1] == 1.0 and np.all(after[:40] < vals[:40])


def test_parse_fitness():
    assert parse_fitness("synflow") == ("proxy", ["synflow"])
    assert parse_fitness("ens:diswot+synflow") == ("ensemble", ["diswot", "synflow"])
    assert parse_fitness("oracle") == ("oracle", [])
    with pytest.raises(ValueError, match="valid proxies:.*synflow"):
        parse_fitness("ens:synflow+nope")
    with pytest.raises(ValueError, match="listed twice"):
        parse_fitness("ens:snip+snip")


# ---- ground truth ---------------------------------------------------------------------------------------------------
def test_judge_and_training_cost():
    table = pd.Series([50.0, 70.0, 60.0, 90.0], index=[10, 11, 12, 13], name="d/kd_acc")
    g = judge(table, 12, "x")
    assert g["in_table"] and g["value"] == 60 and g["rank"] == 3 and g["percentile"] == 50.0
    assert g["table_best_index"] == 13 and g["gap_to_best"] == 30
    assert judge(table, 13, "x")["percentile"] == 100.0
    g = judge(table, 14, "x")
    assert not g["in_table"] and "value" not in g and g["equivalent_in_table"] == []
    meta = {"compute": {"median_images_per_s": 1000.0}, "protocol": {"epochs": 2, "train_subset": 5000}}
    assert seconds_per_training_run(meta)[0] == 10.0
    meta = {"compute": {"median_images_per_s": 600.0}, "protocol": {"epochs": 1, "dataset": "fashion-mnist"}}
    assert seconds_per_training_run(meta)[0] == 100.0
    assert seconds_per_training_run({"compute": {"total_train_seconds": 300}}, 3)[0] == 100.0
    assert seconds_per_training_run({}) is None


def _small_benchmark(tmp_path: Path, n: int = 60) -> Path:
    table = synthetic_table(6)
    idx = [i for i in range(0, NUM_ARCHS, NUM_ARCHS // n) if not zero_cell_flags()[i]][:n]
    df = pd.DataFrame({"arch_index": idx, "dataset": "fashion-mnist", "metric": "kd_acc",
                       "value": table.loc[idx].clip(0, 100).to_numpy(), "seed": 0})
    df = pd.concat([df, df.assign(metric="vanilla_acc", value=df["value"] - 1)], ignore_index=True)
    meta = {"name": "tiny-kd", "data": {"dataset": "fashion-mnist", "resolution": 16, "channels": 3,
                                        "num_classes": 10},
            "network": {"C": 4, "N": 1}, "teacher": "nb201:|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|"
                                                     "skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|@C=4,N=1",
            "protocol": {"epochs": 1, "train_subset": 10000, "dataset": "fashion-mnist"},
            "compute": {"median_images_per_s": 1000.0, "total_train_seconds": 1234.0}}
    path = tmp_path / "tiny.pbgt"
    GroundTruth(df, meta).save(path)
    return path


def test_run_search_with_a_proxy_ensemble_end_to_end(tmp_path):
    bench = _small_benchmark(tmp_path)
    out = tmp_path / "run"
    r = run_search("ens:diswot+synflow", benchmark=bench, data="fashion-mnist-sample", batch_size=8,
                   population=2, sample=2, cycles=4, seed=1, out=out, formats="csv,parquet", plot=False)
    traj = r.trajectory
    assert len(traj) == 4 and traj["arch_index"].nunique() == r.n_scored
    assert set(r.scores["proxy"]) == {"diswot", "synflow"} and (r.scores["status"] == "ok").all()
    assert r.config["teacher"]["source"] == "benchmark" and r.config["network"]["C"] == 4
    assert r.ground_truth["ground_truth"] == "fashion-mnist/kd_acc" and r.ground_truth["n_archs"] == 60
    assert "true_value" in traj and "best_so_far_true" in traj
    assert r.cost["seconds_per_run"] == 10.0 and r.cost["archs_evaluated"] == r.n_scored
    for name in ("trajectory.csv", "trajectory.parquet", "scores.csv", "search.json"):
        assert (out / name).is_file(), name
    info = json.loads((out / "search.json").read_text())
    assert info["config"]["seed"] == 1 and info["timing"]["wall_s"] > 0 and info["versions"]["torch"]
    assert info["result"]["best_index"] == r.best_index
    pd.testing.assert_frame_equal(pd.read_parquet(out / "trajectory.parquet"), traj)
    assert "percentile" in r.summary() or "not in the table" in r.summary()


def test_proxy_search_is_reproducible(tmp_path):
    bench = _small_benchmark(tmp_path)
    kw = dict(benchmark=bench, data="fashion-mnist-sample", batch_size=8, population=2, sample=2, cycles=4, seed=3)
    a, b = run_search("synflow", **kw), run_search("synflow", **kw)
    pd.testing.assert_frame_equal(a.trajectory.drop(columns=TIMING), b.trajectory.drop(columns=TIMING))
    assert a.trajectory["score"].notna().all()


def test_oracle_on_a_small_table_over_all_cells_explains_itself(tmp_path):
    with pytest.raises(RuntimeError, match="--space table"):
        run_search("oracle", benchmark=_small_benchmark(tmp_path), cycles=20, population=5, seed=0)


def test_oracle_search_on_the_table_space(tmp_path):
    bench = _small_benchmark(tmp_path)
    r = run_search("oracle", benchmark=bench, space="table", cycles=40, population=5, seed=0, out=tmp_path / "o")
    traj = r.trajectory
    assert set(traj["arch_index"]) <= set(pd.read_csv(tmp_path / "o" / "trajectory.csv")["arch_index"])
    assert traj["true_value"].notna().all()  # the table space proposes only archs of the table
    # with the oracle the best-so-far arch is always the best arch visited
    np.testing.assert_allclose(traj["best_so_far_true"], traj["visited_best_true"])
    assert r.ground_truth["in_table"] and r.ground_truth["value"] == pytest.approx(r.best_score)
    table = GroundTruth.load(bench).table("kd_acc")
    assert r.ground_truth["percentile"] == pytest.approx(100 * (table <= r.ground_truth["value"]).mean())
    assert r.ground_truth["rank"] == 1 + int((table > r.ground_truth["value"]).sum())
    assert (tmp_path / "o" / "search.png").stat().st_size > 10_000
    r2 = run_search("oracle", benchmark=bench, space="table", cycles=40, population=5, seed=0,
                    metric="vanilla_acc")
    assert r2.ground_truth["metric"] == "vanilla_acc"


@pytest.mark.slow
def test_oracle_evolution_on_real_nb201_accuracies(shared_data):
    """With the true CIFAR-10 validation accuracy as fitness, 300 cycles reach the top 0.5 % of NB201."""
    acc = pd.read_csv(shared_data / "nb201" / "nb201_accuracies.csv")["cifar10_val"]
    book = _search(lambda i: acc.iloc[i], _space(), seed=0, cycles=300)
    idx, value = book.best()
    assert (acc < value).mean() >= 0.995


# ---- CLI ------------------------------------------------------------------------------------------------------------
def test_cli_exit_codes(tmp_path, capsys):
    assert main(["search", "--proxy", "oracle", "--budget", "params=<1", "--benchmark", "none"]) == 2
    err = capsys.readouterr().err
    assert "'params=<1'" in err and "params<=X or flops<=Y" in err
    assert main(["search", "--proxy", "nope", "--benchmark", "none"]) == 2
    err = capsys.readouterr().err
    assert "'nope'" in err and "synflow" in err and "diswot" in err
    assert main(["search", "--proxy", "oracle", "--benchmark", "none"]) == 2
    assert "needs a ground truth" in capsys.readouterr().err
    assert main(["search", "--proxy", "synflow", "--benchmark", "none", "--out", "none"]) == 2
    assert "--data" in capsys.readouterr().err
    assert main(["search", "--algorithm", "random", "--population", "5", "--benchmark", "none"]) == 2
    assert main(["search", "--algorithm", "greedy", "--proxy", "oracle", "--benchmark", "none"]) == 2
    bench = _small_benchmark(tmp_path)
    out = tmp_path / "cli"
    code = main(["search", "--proxy", "oracle", "--benchmark", str(bench), "--cycles", "30", "--population", "5",
                 "--space", "table", "--budget", "params<=0.2", "--out", str(out), "-q", "--no-plot"])
    text = capsys.readouterr().out
    assert code == 0 and "percentile" in text and "table best" in text
    assert (out / "trajectory.csv").is_file() and (out / "search.json").is_file()
