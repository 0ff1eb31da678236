"""``proxybench eval``'s inputs: which data a run uses (``--data-root``), the ground truths it correlates with
(``--metric``), rank ensembles (``--ensemble``, also in ``report``), and the JSON ground-truth import's dropped
rows (``--strict``)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import torch

from proxybench.benchmarks import groundtruth as G
from proxybench.benchmarks.groundtruth import GroundTruth
from proxybench.cli import main
from proxybench.engine.config import (
    parse_ensembles,
    resolve_data,
    resolve_ensembles,
    resolve_metrics,
)

FMNIST_META = {"data": {"dataset": "fashion-mnist", "resolution": 8, "channels": 3, "num_classes": 10}}
FMNIST_ROOT = Path("/usr/share/datasets/fashion-mnist")
ARCHS = [0, 7, 100, 2024, 7777, 15000]
FAST = ["--batch-size", "8", "--ci-resamples", "0", "--workers", "0", "--teacher", "none", "--quiet"]


def tiny_benchmark(path: Path, pairs=(("fashion-mnist", "kd_acc"), ("fashion-mnist", "vanilla_acc")),
                   data=FMNIST_META["data"]) -> Path:
    rng = np.random.default_rng(3)
    rows = [{"arch_index": i, "dataset": d, "metric": m, "value": float(rng.uniform(50, 90))}
            for i in ARCHS for d, m in pairs]
    meta = {"name": "tiny", "description": "made-up accuracies (tests)", "data": dict(data),
            "network": {"C": 4, "N": 1}}
    GroundTruth(pd.DataFrame(rows), meta).save(path)
    return path


@pytest.fixture
def one_thread():
    torch.set_num_threads(1)


# ---- --data-root: which data, said out loud ----------------------------------------------------------------------
def _data(data=None, root=None, meta=FMNIST_META):
    return resolve_data(meta, ["fashion-mnist"], data, root, 8, False)


def test_data_root_switches_from_the_bundled_sample_to_the_full_set_and_says_so(tmp_path):
    sample = _data()
    assert sample["dataset"] == "fashion-mnist-sample" and sample["kind"] == "sample" and sample["root"] is None
    assert "bundled sample" in sample["selected"] and "--data-root" in sample["selected"]
    full = _data(root=tmp_path)
    assert full["dataset"] == "fashion-mnist" and full["kind"] == "full" and full["root"] == str(tmp_path)
    assert "selected by --data-root" in full["selected"] and "fashion-mnist-sample" in full["selected"]
    named = _data("fashion-mnist", root=tmp_path)
    assert named["kind"] == "full" and "given with --data" in named["selected"]


@pytest.mark.parametrize("data, words", [
    ("fashion-mnist-sample", ["is bundled with proxybench", "--data fashion-mnist reads the full data set"]),
    ("synthetic", ["is generated noise"]),
    ("images.npz", ["an .npz file is read as given"]),
])
def test_data_root_that_contradicts_data_is_an_error(tmp_path, data, words):
    with pytest.raises(ValueError, match="--data-root .* contradicts --data") as exc:
        _data(data, root=tmp_path)
    assert all(w in str(exc.value) for w in words) and str(tmp_path) in str(exc.value)


def test_cli_data_root_contradiction_exits_2_naming_both_flags(tmp_path, capsys):
    bench = tiny_benchmark(tmp_path / "tiny.pbgt")
    code = main(["eval", "--benchmark", str(bench), "--data", "synthetic", "--data-root", str(tmp_path), *FAST,
                 "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and "--data-root" in err and "--data 'synthetic'" in err and "drop --data-root" in err
    assert not (tmp_path / "run").exists()


def test_cli_says_which_data_it_used(tmp_path, capsys, one_thread):
    bench = tiny_benchmark(tmp_path / "tiny.pbgt")
    args = ["eval", "--benchmark", str(bench), "--proxies", "params,flops", "--archs", "4", "--no-report", *FAST]
    assert main([*args, "--out", str(tmp_path / "sample")]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("data: "))
    assert "fashion-mnist-sample (bundled sample, test split, 1,000 images, from " in line
    assert "fashion_mnist_sample.npz" in line and "--data-root DIR reads the full data set" in line
    if not any((FMNIST_ROOT / f"t10k-images-idx3-ubyte{z}").is_file() for z in ("", ".gz")):
        pytest.skip(f"Fashion-MNIST is not installed in {FMNIST_ROOT}")
    assert main([*args, "--data-root", str(FMNIST_ROOT), "--out", str(tmp_path / "full")]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("data: "))
    assert f"fashion-mnist (full data set, test split, 10,000 images, from {FMNIST_ROOT})" in line
    assert "selected by --data-root" in line
    run = json.loads((tmp_path / "full" / "run.json").read_text())
    assert run["data"]["kind"] == "full" and run["data"]["images"] == 10_000


# ---- --metric --------------------------------------------------------------------------------------------------
NB201_PAIRS = (("cifar10", "test_acc"), ("cifar10-valid", "val_acc"), ("cifar100", "test_acc"),
               ("cifar100", "val_acc"), ("ImageNet16-120", "test_acc"))


@pytest.fixture
def nb201_like(tmp_path):
    return G.load_benchmark(tiny_benchmark(tmp_path / "nb.pbgt", NB201_PAIRS,
                                           {"resolution": 8, "channels": 3, "num_classes": 10}))


def test_metric_default_is_the_ground_truth_of_the_data(nb201_like):
    cifar10 = {"dataset": "cifar10", "benchmark_dataset": None}
    pairs, notes = resolve_metrics(nb201_like, None, cifar10)
    assert pairs == [("cifar10", "test_acc"), ("cifar10-valid", "val_acc")] and notes == []
    pairs, _ = resolve_metrics(nb201_like, None, {"dataset": "cifar100", "benchmark_dataset": None})
    assert pairs == [("cifar100", "test_acc"), ("cifar100", "val_acc")]
    pairs, notes = resolve_metrics(nb201_like, None, {"dataset": "synthetic", "benchmark_dataset": None})
    assert len(pairs) == len(NB201_PAIRS) and "--metric" in notes[0]  # nothing matches: all, and said so


def test_metric_names_all_and_lists(nb201_like):
    cifar10 = {"dataset": "cifar10", "benchmark_dataset": "cifar10"}
    assert resolve_metrics(nb201_like, "all", cifar10)[0] == sorted(NB201_PAIRS)
    assert resolve_metrics(nb201_like, "cifar100/val_acc", cifar10)[0] == [("cifar100", "val_acc")]
    assert resolve_metrics(nb201_like, "test_acc", cifar10)[0] == [("cifar10", "test_acc")]  # the data's own
    assert resolve_metrics(nb201_like, ["val_acc", "ImageNet16-120/test_acc"], cifar10)[0] == [
        ("cifar10-valid", "val_acc"), ("ImageNet16-120", "test_acc")]
    with pytest.raises(ValueError, match="unknown --metric 'kd_acc'.*valid: ImageNet16-120/test_acc, cifar10/"):
        resolve_metrics(nb201_like, "kd_acc", cifar10)


def test_cli_metric_restricts_the_correlations_and_an_unknown_one_exits_2(tmp_path, capsys, one_thread):
    bench = tiny_benchmark(tmp_path / "tiny.pbgt")
    args = ["eval", "--benchmark", str(bench), "--proxies", "params,flops", "--archs", "5", "--no-report", *FAST]
    assert main([*args, "--out", str(tmp_path / "r1"), "--metric", "kd_acc"]) == 0
    out = capsys.readouterr().out
    assert "ground truth: kd_acc" in out and "vanilla_acc" not in out
    corr = pd.read_csv(tmp_path / "r1" / "correlations.csv")
    assert set(corr["ground_truth"]) == {"kd_acc"}
    assert set(pd.read_csv(tmp_path / "r1" / "ground_truth.csv")["metric"]) == {"kd_acc"}
    assert main([*args, "--out", str(tmp_path / "r2"), "--metric", "top1"]) == 2
    err = capsys.readouterr().err
    assert "unknown --metric 'top1'" in err and "fashion-mnist/kd_acc" in err and "fashion-mnist/vanilla_acc" in err


# ---- --ensemble ------------------------------------------------------------------------------------------------
def test_parse_and_check_ensembles():
    assert parse_ensembles("nwot+synflow, ens:snip+params+flops") == {
        "ens:nwot+synflow": ["nwot", "synflow"], "ens:snip+params+flops": ["snip", "params", "flops"]}
    assert parse_ensembles(["a+b", "c+d,e+f"]) == {"ens:a+b": ["a", "b"], "ens:c+d": ["c", "d"],
                                                   "ens:e+f": ["e", "f"]}
    assert parse_ensembles(None) == {}
    for bad, match in (("nwot", "two or more"), ("nwot+", "two or more"), ("nwot+nwot", "listed twice")):
        with pytest.raises(ValueError, match=match):
            parse_ensembles(bad)
    with pytest.raises(ValueError, match=r"'zico' is not scored in this run; scored proxies: nwot, synflow"):
        resolve_ensembles("nwot+zico", ["nwot", "synflow"])
    with pytest.raises(ValueError, match="unknown --ensemble-method 'mean'; valid: rank_sum, vote"):
        resolve_ensembles("nwot+synflow", ["nwot", "synflow"], "mean")


def test_cli_ensemble_is_a_row_of_its_own_with_the_rank_sum_score(tmp_path, capsys, one_thread):
    bench = tiny_benchmark(tmp_path / "tiny.pbgt")
    run = tmp_path / "run"
    code = main(["eval", "--benchmark", str(bench), "--proxies", "params,flops,synflow", "--ensemble",
                 "params+synflow", "--out", str(run), *FAST])
    out = capsys.readouterr().out
    assert code == 0 and "ens:params+synflow" in out
    scores = pd.read_csv(run / "scores.csv")
    wide = scores.pivot(index="arch_index", columns="proxy", values="score")
    expected = scipy.stats.rankdata(wide["params"]) + scipy.stats.rankdata(wide["synflow"])
    assert np.allclose(wide["ens:params+synflow"].to_numpy(), expected)
    corr = pd.read_csv(run / "correlations.csv")
    head = corr[(corr["proxy"] == "ens:params+synflow") & (corr["statistic"] == "kendall")
                & (corr["aggregate"] == "score_mean")]
    gt = pd.read_csv(run / "ground_truth.csv")
    kd = gt[gt["metric"] == "kd_acc"].set_index("arch_index")["value"].reindex(wide.index)
    assert math.isclose(float(head[head["ground_truth"] == "kd_acc"]["value"].iloc[0]),
                        scipy.stats.kendalltau(expected, kd).statistic, abs_tol=1e-12)
    assert "ens:params+synflow" in (run / "report.md").read_text()
    info = json.loads((run / "run.json").read_text())
    assert info["config"]["selection"]["ensembles"] == {"ens:params+synflow": ["params", "synflow"]}


def test_cli_ensemble_of_an_unscored_proxy_exits_2_before_scoring(tmp_path, capsys):
    bench = tiny_benchmark(tmp_path / "tiny.pbgt")
    code = main(["eval", "--benchmark", str(bench), "--proxies", "params,flops", "--ensemble", "params+nwot",
                 "--out", str(tmp_path / "run"), *FAST])
    err = capsys.readouterr().err
    assert code == 2 and "'nwot' is not scored in this run" in err and "params, flops" in err
    assert not (tmp_path / "run").exists()


def test_report_ensemble_adds_rows_to_an_existing_run(tmp_path, capsys, one_thread):
    bench = tiny_benchmark(tmp_path / "tiny.pbgt")
    run = tmp_path / "run"
    assert main(["eval", "--benchmark", str(bench), "--proxies", "params,flops,synflow", "--out", str(run),
                 "--no-report", *FAST]) == 0
    capsys.readouterr()
    assert main(["report", str(run), "--ensemble", "flops+synflow", "--ensemble-method", "vote", "--no-ci",
                 "--no-figures"]) == 0
    corr = pd.read_csv(run / "correlations.csv")
    assert {"params", "flops", "synflow", "ens:flops+synflow"} <= set(corr["proxy"])
    scores = pd.read_csv(run / "scores.csv")
    wide = scores.pivot(index="arch_index", columns="proxy", values="score")
    # majority vote of two proxies: a beats b when both agree; Copeland score wins + draws / 2
    f, s = wide["flops"].to_numpy(), wide["synflow"].to_numpy()
    net = np.sign(f[:, None] - f[None, :]) + np.sign(s[:, None] - s[None, :])
    copeland = (net > 0).sum(1) + 0.5 * ((net == 0).sum(1) - 1)
    assert np.allclose(wide["ens:flops+synflow"].to_numpy(), copeland)
    assert "ens:flops+synflow" in (run / "report.md").read_text()
    # again (the same ensemble replaces its rows), and a member the run lacks is exit 2
    assert main(["report", str(run), "--ensemble", "flops+synflow", "--no-ci", "--no-figures"]) == 0
    assert (pd.read_csv(run / "scores.csv")["proxy"] == "ens:flops+synflow").sum() == len(wide)
    capsys.readouterr()
    assert main(["report", str(run), "--ensemble", "flops+nwot", "--no-figures"]) == 2
    err = capsys.readouterr().err
    assert "'nwot' is not scored in this run" in err and "params" in err


# ---- JSON ground truth: rows dropped for null / NaN / inf, --strict ---------------------------------------------
def test_json_import_counts_dropped_rows_and_strict_refuses(tmp_path):
    path = tmp_path / "kd.json"
    path.write_text('{"0": 71.5, "1": NaN, "2": Infinity, "3": null, "4": -Infinity, "5": 70.0}')
    gt = G.from_json(path, "cifar100")
    assert sorted(gt.ground_truth["arch_index"]) == [0, 5]
    assert gt.metadata["dropped"] == {"cifar100/kd_acc": {"null": 1, "NaN": 1, "inf": 2, "keys": ["1", "2", "3", "4"]}}
    assert gt.metadata["n_missing"] == {"cifar100/kd_acc": 4}
    with pytest.raises(ValueError, match=r"--strict.*cifar100/kd_acc: 1 null, 1 NaN, 2 inf \(key\(s\) '1', '2', "
                                         r"'3', '4'\)"):
        G.from_json(path, "cifar100", strict=True)
    clean = tmp_path / "clean.json"
    clean.write_text('{"0": 71.5, "5": 70.0}')
    assert G.from_json(clean, "cifar100", strict=True).metadata["dropped"] == {}
    bad = tmp_path / "bad.json"
    bad.write_text('{"0": 71.5, "9": "high"}')
    with pytest.raises(ValueError, match=r"value for key '9' must be a finite number \(accuracy\), got 'high'"):
        G.from_json(bad, "cifar100")


def test_cli_json_import_reports_dropped_rows_and_strict_exits_2(tmp_path, capsys):
    path = tmp_path / "kd.json"
    path.write_text('{"0": 71.5, "1": NaN, "3": null, "5": 70.0}')
    out = tmp_path / "kd.pbgt"
    assert main(["groundtruth", "import", "--from", "json", str(path), "--dataset", "cifar100", "--out",
                 str(out)]) == 0
    text = capsys.readouterr().out
    assert "imported 2 rows" in text and "dropped cifar100/kd_acc: 1 null, 1 NaN (key(s) '1', '3')" in text
    assert main(["groundtruth", "import", "--from", "json", str(path), "--dataset", "cifar100", "--out",
                 str(tmp_path / "strict.pbgt"), "--strict"]) == 2
    err = capsys.readouterr().err
    assert "--strict" in err and "1 null, 1 NaN" in err and not (tmp_path / "strict.pbgt").exists()


# ---- the engine's plan: modules of one job each, shared with run_search ------------------------------------------
def test_engine_modules_are_small_and_config_gathers_their_names():
    import proxybench.engine as engine
    from proxybench.engine import config, inputs, models, plan, selection, settings

    for f in Path(engine.__file__).parent.glob("*.py"):
        assert len(f.read_text().splitlines()) < 500, f
    assert config.make_plan is plan.make_plan and config.SeedBatches is inputs.SeedBatches
    assert config.resolve_teacher is models.resolve_teacher and config.resolve_archs is selection.resolve_archs
    assert config.EvalSettings is settings.EvalSettings and engine.make_plan is plan.make_plan
    assert set(config.DEFAULT_PROXIES) == set(selection.proxy_groups()["default"])


def test_run_search_sets_up_through_the_engine_plan_steps(tmp_path, monkeypatch, one_thread):
    from proxybench.engine import plan
    from proxybench.search import run_search

    bench = tiny_benchmark(tmp_path / "tiny.pbgt")
    calls: list[str] = []

    def spy(name):
        real = getattr(plan, name)

        def call(*args, **kwargs):
            calls.append(name)
            return real(*args, **kwargs)
        return call

    for name in ("plan_data", "plan_teacher", "plan_batches", "resolve_out"):
        monkeypatch.setattr(plan, name, spy(name))
    teacher = ("nb201:|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|"
               "nor_conv_3x3~2|@C=4,N=1")
    r = run_search("kd", teacher=teacher, algorithm="random", cycles=3, benchmark=bench, space="table",
                   batch_size=8, out=tmp_path / "search", plot=False)
    assert calls == ["plan_data", "plan_teacher", "plan_batches", "resolve_out"]
    assert len(r.trajectory) == 3 and 1 <= r.n_scored <= 3  # a repeated proposal is not scored again
    assert r.config["teacher"]["source"] == "--teacher" and r.out_dir == tmp_path / "search"
    assert r.config["data"]["dataset"] == "fashion-mnist-sample" and r.config["data"]["kind"] == "sample"
    with pytest.raises(ValueError, match="'kd' needs a teacher"):
        run_search("kd", teacher="none", algorithm="random", cycles=2, benchmark=bench, batch_size=8)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="exists and is not a directory"):
        run_search("params", algorithm="random", cycles=2, benchmark=bench, batch_size=8, out=tmp_path / "file")
