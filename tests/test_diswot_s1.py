"""DisWOT's released S1 table as a bundled benchmark, its importer, the CIFAR-100 sample, and eval / search on S1."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from proxybench.benchmarks import datasets as ds
from proxybench.benchmarks import groundtruth as G
from proxybench.cli import main
from proxybench.engine.inputs import resolve_data
from proxybench.engine.selection import resolve_archs

ROOT = Path(__file__).resolve().parents[1]
BENCH = "diswot-s1-cifar100"
# SHA-256 of the authors' released files (lliai/DisWOT-CVPR2023, exps/), as recorded in the benchmark's metadata
KD_SHA = "48d218437e37318b6685c8c489a380011e964cfe0584228d8a9bd530911705b6"
CLS_SHA = "465d61399626e3b6abe08b2dbabcd2a09026b6ed5e83510d3ef87b14822317ad"


@pytest.fixture(scope="module")
def bench():
    return G.load_benchmark(BENCH)


# ---- the bundled benchmark ----------------------------------------------------------------------------------------
def test_bundled_table_is_the_released_files(bench):
    """Written back in the authors' format, the bundled series are the released files byte for byte."""
    kd = G.to_diswot_txt(bench, "kd_acc")
    cls = G.to_diswot_txt(bench, "vanilla_acc")
    assert hashlib.sha256(kd.encode()).hexdigest() == KD_SHA
    assert hashlib.sha256(cls.encode()).hexdigest() == CLS_SHA
    assert kd.splitlines()[0] == "111 61.8700" and kd.splitlines()[-1] == "777 74.4400"
    files = bench.metadata["source"]["files"]
    assert files["kd_acc"] == {"path": "exps/s1-gt-kd.txt", "sha256": KD_SHA}
    assert files["vanilla_acc"] == {"path": "exps/s1-gt-cls.txt", "sha256": CLS_SHA}


def test_bundled_values_and_gain(bench):
    assert bench.space.name == "diswot-s1" and bench.n_archs() == 64
    assert {m for _, m in bench.pairs()} >= {"kd_acc", "vanilla_acc", "kd_gain"}
    kd, van, gain = (bench.table("cifar100", m) for m in ("kd_acc", "vanilla_acc", "kd_gain"))
    i333 = bench.space.arch_to_index("333")
    assert kd[i333] == 70.76 and van[i333] == 69.57 and gain[i333] == pytest.approx(1.19)
    pd.testing.assert_series_equal(gain, kd - van, check_names=False)
    assert round(gain.min(), 2) == 0.42 and round(gain.max(), 2) == 2.93
    assert kd.idxmax() == bench.space.arch_to_index("557") and kd.max() == 74.86
    gt = bench.ground_truth
    assert gt["arch"].str.fullmatch(r"[1357]{3}").all() and gt["seed"].isna().all()


def test_bundled_metadata_states_provenance_and_one_run(bench):
    m = bench.metadata
    assert m["space"] == "diswot-s1" and m["data"] == {"dataset": "cifar100", "num_classes": 100, "resolution": 32,
                                                       "channels": 3, "sample": "cifar100-sample"}
    assert m["source"]["repository"] == "https://github.com/lliai/DisWOT-CVPR2023"
    assert m["source"]["licence"] == "Apache-2.0" and "Apache-2.0" in m["licence"]
    assert m["protocol"]["runs_per_value"] == 1 and "ONE training run" in m["protocol"]["notes"]
    assert any("epochs" in u for u in m["protocol"]["unknown"])
    assert m["teacher"]["spec"] == "resnet110" and "ResNet-110" in m["teacher"]["trained_for_the_table"]
    text = (ROOT / "proxybench" / "benchmarks" / "data" / "README.md").read_text()
    assert "diswot-s1-cifar100.pbgt" in text and "Each value is one training run" in text


def test_rebuild_script_gives_the_bundled_file(tmp_path, bench):
    kd, cls = tmp_path / "s1-gt-kd.txt", tmp_path / "s1-gt-cls.txt"
    kd.write_text(G.to_diswot_txt(bench, "kd_acc"))
    cls.write_text(G.to_diswot_txt(bench, "vanilla_acc"))
    out = tmp_path / "b.pbgt"
    subprocess.run([sys.executable, "perf/make_diswot_s1_bundled.py", "--kd", str(kd), "--vanilla", str(cls), "--out",
                    str(out)], cwd=ROOT, check=True, capture_output=True, timeout=120)
    assert out.read_bytes() == Path(bench.path).read_bytes()
    cls.write_text(cls.read_text().replace("72.5600", "72.5700"))
    bad = subprocess.run([sys.executable, "perf/make_diswot_s1_bundled.py", "--kd", str(kd), "--vanilla", str(cls),
                          "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "is not the released exps/s1-gt-cls.txt" in bad.stderr


def test_loads_without_torch():
    code = ("import sys, proxybench; g = proxybench.load_benchmark('diswot-s1-cifar100'); "
            "print(g.n_archs(), g.space.name, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True,
                         timeout=120)
    assert out.stdout.split() == ["64", "diswot-s1", "False"]


# ---- the importer -------------------------------------------------------------------------------------------------
def test_import_round_trip(tmp_path, bench, capsys):
    src = tmp_path / "mine.txt"
    src.write_text("# my S1 students\n333 70.7600\n\n713 71.0100\n111 61.8700\n")
    out = tmp_path / "mine.pbgt"
    assert main(["groundtruth", "import", "--from", "diswot-txt", str(src), "--out", str(out)]) == 0
    assert "imported 3 rows, 3 archs (cifar100/kd_acc)" in capsys.readouterr().out
    gt = G.load_benchmark(out)
    assert gt.space.name == "diswot-s1" and gt.metadata["source"] == {"kind": "diswot-txt", "file": "mine.txt"}
    assert gt.table("kd_acc").to_dict() == {0: 61.87, 21: 70.76, 49: 71.01}
    assert G.to_diswot_txt(gt) == "111 61.8700\n333 70.7600\n713 71.0100\n"
    back = tmp_path / "back.txt"
    G.to_diswot_txt(gt, path=back)
    gt2 = G.from_diswot_txt(back)
    assert gt2.table("kd_acc").equals(gt.table("kd_acc"))
    # --metric and --dataset
    assert main(["groundtruth", "import", "--from", "diswot-txt", str(src), "--metric", "vanilla_acc", "--dataset",
                 "cifar100", "--out", str(out)]) == 0
    assert G.load_benchmark(out).pairs() == [("cifar100", "vanilla_acc")]
    # fractions are read as %
    frac = tmp_path / "frac.txt"
    frac.write_text("333 0.7076\n")
    assert G.from_diswot_txt(frac).table("kd_acc").iloc[0] == pytest.approx(70.76)


@pytest.mark.parametrize("content, message", [
    ("111 61.87\n334 50.0\n", "line 2: '334' is not an S1 arch code (stage 3 has 4 blocks, not one of 1, 3, 5, 7)"),
    ("11 61.87\n", "line 1: '11' is not an S1 arch code (not three digits)"),
    ("111 61.87\n113 abc\n", "line 2: accuracy 'abc' is not a number"),
    ("111 161.87\n", "line 1: accuracy '161.87' is not a finite accuracy in % (0..100)"),
    ("111 61.87 3\n", "line 1: expected 2 fields"),
    ("111 61.87\n111 62.00\n", "line 2: arch 111 is listed twice (first on line 1)"),
    ("# nothing\n\n", "lists no architecture"),
])
def test_bad_files_exit_2_naming_the_value(tmp_path, capsys, content, message):
    src = tmp_path / "bad.txt"
    src.write_text(content)
    out = tmp_path / "x.pbgt"
    assert main(["groundtruth", "import", "--from", "diswot-txt", str(src), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and "'<arch code> <accuracy %>'" in err
    if "S1 arch code" in message:
        assert "'111' .. '777'" in err
    assert not out.exists()


def test_binary_and_missing_files_exit_2(tmp_path, capsys):
    binary = tmp_path / "bin.txt"
    binary.write_bytes(bytes(range(256)))
    assert main(["groundtruth", "import", "--from", "diswot-txt", str(binary), "--out", str(tmp_path / "x")]) == 2
    assert "is not a text file" in capsys.readouterr().err
    assert main(["groundtruth", "import", "--from", "diswot-txt", str(tmp_path / "none.txt"), "--out",
                 str(tmp_path / "x")]) == 2
    assert "file not found" in capsys.readouterr().err


# ---- data ---------------------------------------------------------------------------------------------------------
def test_cifar100_sample_is_bundled_and_the_default(bench):
    s = ds.load_images("cifar100-sample", root="/nonexistent")
    assert len(s) == 500 and s.num_classes == 100 and s.images.shape[1:] == (3, 32, 32)
    assert ds.CIFAR100_SAMPLE_PATH.stat().st_size < 1_500_000
    assert len(set(s.labels.tolist())) == 100
    data = resolve_data(bench.metadata, bench.datasets(), None, None, 64, False)
    assert data["dataset"] == "cifar100-sample" and data["kind"] == "sample" and data["num_classes"] == 100
    full = resolve_data(bench.metadata, bench.datasets(), None, "/data", 64, False)
    assert full["dataset"] == "cifar100" and full["kind"] == "full" and "cifar100-sample" in full["selected"]
    # NB201's CIFAR-100 benchmark keeps its default images (the full data set from the default data root)
    nb = G.load_benchmark("nb201-cifar100")
    assert resolve_data(nb.metadata, nb.datasets(), None, None, 64, False)["dataset"] == "cifar100"
    with pytest.raises(ValueError, match="only the 'test' split"):
        ds.load_images("cifar100-sample", "train")


def test_cifar100_sample_matches_the_shared_images(shared_data):
    import numpy as np

    with np.load(shared_data / "images" / "cifar100_test_916.npz") as z:
        images, fine = z["images_nchw"][:500], z["fine_labels"][:500]
    s = ds.load_images("cifar100-sample")
    assert np.array_equal(s.images, images) and np.array_equal(s.labels, fine)


# ---- archs, eval, search ------------------------------------------------------------------------------------------
def test_resolve_archs_on_s1():
    pool = range(64)
    assert resolve_archs("333", 0, pool, "diswot-s1")[0] == [(21, "333")]
    assert resolve_archs("333,713", 0, pool, "diswot-s1")[0] == [(21, "333"), (49, "713")]
    assert resolve_archs("5", 0, pool, "diswot-s1")[0] == resolve_archs(5, 0, pool, "diswot-s1")[0]
    assert len(resolve_archs("5", 0, pool, "diswot-s1")[0]) == 5
    assert resolve_archs("all", 0, pool, "diswot-s1")[0][-1] == (63, "777")
    with pytest.raises(ValueError, match=r"bad architecture '334' in --archs: .*stage 3 has 4 blocks"):
        resolve_archs("333,334", 0, pool, "diswot-s1")
    with pytest.raises(ValueError, match="bad --archs 999"):
        resolve_archs("999", 0, pool, "diswot-s1")


def test_eval_on_s1_writes_the_report_and_says_why_a_proxy_cannot_run(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["eval", "--benchmark", BENCH, "--archs", "111,333,777,713", "--proxies",
               "synflow,params,diswot,aznas_trainability,linear_regions", "--teacher", "resnet56", "--workers", "0",
               "--ci-resamples", "20", "--batch-size", "16", "--out", str(out), "--quiet"])
    captured = capsys.readouterr()
    text = captured.out
    assert rc == 0
    assert "search space diswot-s1" in text and "cifar100-sample (bundled sample" in text
    assert "proxy linear_regions is not scored: not applicable to search space 'diswot-s1'" in captured.err
    scores = pd.read_csv(out / "scores.csv")
    assert set(scores["arch"].astype(str)) == {"111", "333", "777", "713"}
    lr = scores[scores["proxy"] == "linear_regions"]
    assert (lr["status"] == "error").all() and lr["error"].str.startswith("not applicable").all()
    assert (scores[scores["proxy"] != "linear_regions"]["status"] == "ok").all()
    params = scores[scores["proxy"] == "params"].set_index("arch")["score"]
    assert params[333] == pytest.approx(0.278324)
    run = json.loads((out / "run.json").read_text())
    assert run["network"] == {"space": "diswot-s1", "init": "default"}
    assert run["teacher"]["architecture"] == "resnet56" and run["data"]["dataset"] == "cifar100-sample"
    report = (out / "report.md").read_text()
    assert "not applicable to search space 'diswot-s1'" in report
    corr = pd.read_csv(out / "correlations.csv")
    assert {"kd_acc", "vanilla_acc", "kd_gain"} <= set(corr["ground_truth"])


def test_eval_space_flag(tmp_path, capsys):
    rc = main(["eval", "--benchmark", BENCH, "--space", "nb201", "--archs", "2", "--proxies", "params",
               "--out", str(tmp_path / "r"), "--quiet"])
    assert rc == 2 and "--space 'nb201' contradicts the benchmark" in capsys.readouterr().err
    rc = main(["eval", "--benchmark", BENCH, "--space", "nope", "--proxies", "params", "--out",
               str(tmp_path / "r"), "--quiet"])
    assert rc == 2 and "unknown search space 'nope'; valid: diswot-s1, nb201" in capsys.readouterr().err
    rc = main(["eval", "--benchmark", BENCH, "--network", "C=8", "--proxies", "params", "--out",
               str(tmp_path / "r"), "--quiet"])
    assert rc == 2 and "unknown network setting 'C'; valid: init" in capsys.readouterr().err


def test_eval_reads_a_table_without_space_as_the_given_space(tmp_path):
    """A table whose metadata names no space is NB201's; --space reads it as another space's."""
    from proxybench.api import evaluate

    plain = G.GroundTruth(pd.DataFrame({"arch_index": [0, 21, 63], "dataset": "cifar100", "metric": "kd_acc",
                                        "value": [60.0, 70.0, 74.0]}), {"name": "plain"})
    assert plain.space.name == "nb201"
    path = plain.save(tmp_path / "plain.pbgt")
    df = evaluate(str(path), proxies="params", space="diswot-s1", data="cifar100-sample", batch_size=8)
    assert sorted(df["arch"].astype(str)) == ["111", "333", "777"]
    wide = G.GroundTruth(pd.DataFrame({"arch_index": [0, 64, 900], "dataset": "cifar100", "metric": "kd_acc",
                                       "value": [60.0, 70.0, 74.0]}), {"name": "wide"}).save(tmp_path / "wide.pbgt")
    with pytest.raises(ValueError, match=r"not a table of diswot-s1 architectures: arch_index 64, 900 out of range; "
                                         r"valid: 0\.\.63"):
        evaluate(str(wide), proxies="params", space="diswot-s1", data="cifar100-sample")


def test_search_on_s1(tmp_path, capsys):
    from proxybench.search import run_search

    r = run_search("oracle", benchmark=BENCH, space="diswot-s1", cycles=30, population=5, seed=0)
    assert r.config["space"]["space"] == "diswot-s1" and r.config["space"]["valid_cells"] == 64
    assert r.best_arch == "557" and r.ground_truth["rank"] == 1
    traj = r.trajectory
    for _, row in traj[traj["phase"] == "mutation"].iterrows():
        a, b = str(row["arch"]), r.trajectory.loc[r.trajectory["arch_index"] == row["parent_index"], "arch"].iloc[0]
        assert sum(x != y for x, y in zip(a, str(b))) == 1
    again = run_search("oracle", benchmark=BENCH, space="diswot-s1", cycles=30, population=5, seed=0)
    assert again.trajectory["arch_index"].tolist() == traj["arch_index"].tolist()
    small = run_search("oracle", benchmark=BENCH, space="diswot-s1", algorithm="random", cycles=20,
                       budget="params<=0.25")
    from proxybench.benchmarks.spaces import get_space

    assert all(get_space("diswot-s1").counts(i, num_classes=100)[0] <= 0.25 for i in small.trajectory["arch_index"])
    # a proxy fitness on the bundled sample, from the command line (default benchmark of the space)
    rc = main(["search", "--space", "diswot-s1", "--proxy", "synflow", "--algorithm", "random", "--cycles", "3",
               "--batch-size", "8", "--out", "none", "--quiet"])
    text = capsys.readouterr().out
    assert rc == 0 and "64 valid diswot-s1 archs" in text and "diswot-s1-cifar100" in text
    rc = main(["search", "--space", "diswot-s1", "--proxy", "linear_regions", "--out", "none", "--quiet"])
    assert rc == 2 and "cannot score the networks of this search: not applicable" in capsys.readouterr().err


def test_list_spaces(capsys):
    assert main(["list", "spaces"]) == 0
    text = capsys.readouterr().out
    assert "diswot-s1" in text and "nb201" in text and "15,625" in text and "'333' is ResNet-20" in text


def test_eval_on_s1_with_a_checkpoint_teacher(tmp_path, capsys):
    """A teacher given as a checkpoint (here a ResNet-56 for 100 classes saved by save_teacher) scores S1 students."""
    from proxybench.distill.teachers import build_teacher, save_teacher

    path = save_teacher(build_teacher("resnet56", 100, 3, seed=3), "resnet56", tmp_path / "t.pt")
    out = tmp_path / "run"
    rc = main(["eval", "--benchmark", BENCH, "--archs", "333,777", "--proxies", "diswot,kd,pathway_cka", "--teacher",
               f"checkpoint:{path}", "--workers", "0", "--ci-resamples", "0", "--batch-size", "16", "--no-report",
               "--out", str(out), "--quiet"])
    assert rc == 0, capsys.readouterr().err
    scores = pd.read_csv(out / "scores.csv")
    assert len(scores) == 6 and (scores["status"] == "ok").all()
    run = json.loads((out / "run.json").read_text())
    assert run["teacher"]["spec"] == f"checkpoint:{path}" and run["teacher"]["architecture"] == "resnet56"
