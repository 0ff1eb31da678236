"""Ground-truth tables: the compact file, the loaders (miniature official files read through the real
packages), the registry and ``proxybench groundtruth``."""

from __future__ import annotations

import fractions
import json
import os
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from proxybench import nb201
from proxybench.benchmarks import groundtruth as G
from proxybench.benchmarks.groundtruth import GroundTruth
from proxybench.cli import main

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
NB201_CSV = DATA / "nb201" / "nb201_accuracies.csv"

# --------------------------------------------------------------------------------------------------------
# Miniature NAS-Bench-201 files, in the structure nas_201_api reads: a dict with meta_archs, arch2infos
# ({index: {"less": ArchResults state (hp 12), "full": ArchResults state (hp 200)}}) and evaluated_indexes;
# an ArchResults state holds arch_index, arch_str, all_results {(dataset, seed): ResultsCount state},
# dataset_seed {dataset: [seeds]} and clear_net_done.
# --------------------------------------------------------------------------------------------------------

EVAL_SETS = {"cifar10-valid": ("x-valid", "ori-test"), "cifar10": ("ori-test",),
             "cifar100": ("ori-test", "x-valid", "x-test"), "ImageNet16-120": ("ori-test", "x-valid", "x-test")}
CLASSES = {"cifar10-valid": 10, "cifar10": 10, "cifar100": 100, "ImageNet16-120": 120}
SET_OFFSET = {"train": 0.0, "x-valid": 1.0, "ori-test": 2.0, "x-test": 3.0}
DS_OFFSET = {"cifar10-valid": 0.0, "cifar10": 0.25, "cifar100": 0.5, "ImageNet16-120": 0.75}


def acc(i: int, dataset: str, setname: str, seed: int, hp: str) -> float:
    """The accuracy the miniature file stores: every ingredient shifts it, so a mix-up shows."""
    return 40.0 + (i % 7) + SET_OFFSET[setname] + DS_OFFSET[dataset] + (seed - 777) / 100 + (20.0 if hp == "200"
                                                                                               else 0.0)


def results_count(i, arch, dataset, seed, hp, *, history, numpy_scalars=False):
    epochs = 200 if hp == "200" else 12
    last = epochs - 1
    ep = range(epochs) if history else [last]
    fin = {s: acc(i, dataset, s, seed, hp) for s in ("train",) + EVAL_SETS[dataset]}
    num = np.float64 if numpy_scalars else float
    return {
        "name": f"{dataset}-{seed}", "net_state_dict": None,
        "train_acc1es": {e: fin["train"] - (last - e) * 0.1 for e in ep}, "train_acc5es": None,
        "train_losses": {e: 1.0 + (last - e) * 0.01 for e in ep},
        "train_times": {e: 2.0 for e in range(epochs)} if history else None,
        "arch_config": {"channel": 16, "num_cells": 5, "arch_str": arch, "class_num": CLASSES[dataset]},
        "params": num(0.5), "flop": num(80.0), "seed": seed, "epochs": epochs,
        "latency": [0.01] if history else None,
        "eval_names": list(EVAL_SETS[dataset]),
        "eval_acc1es": {f"{s}@{e}": num(fin[s] - (last - e) * 0.1) for s in EVAL_SETS[dataset] for e in ep},
        "eval_losses": {f"{s}@{e}": 0.5 for s in EVAL_SETS[dataset] for e in ep},
        "eval_times": {f"{s}@{e}": 0.3 for s in EVAL_SETS[dataset] for e in ep} if history else {},
    }


def arch_results(i, hp, plan, *, history, numpy_scalars=False):
    arch = nb201.index_to_arch(i)
    all_results, dataset_seed = {}, {}
    for dataset, seeds in plan.items():
        dataset_seed[dataset] = sorted(seeds)
        for s in seeds:
            all_results[(dataset, s)] = results_count(i, arch, dataset, s, hp, history=history,
                                                      numpy_scalars=numpy_scalars)
    return {"arch_index": i, "arch_str": arch, "all_results": all_results, "dataset_seed": dataset_seed,
            "clear_net_done": True}


ALL4 = ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120")


def mini_nb201(version: str) -> dict:
    """v1_0-like: hp 12 trained on cifar10-valid only, final-epoch records without timings, numpy scalars,
    one arch lacking cifar100. v1_1-like: hp 12 on every dataset (cifar10-valid twice), per-epoch records
    with timings."""
    archs = {0: (777, 888, 999), 5: (777,), 11: (777, 888)}
    infos = {}
    for i, seeds in archs.items():
        if version == "v1_0":
            full_plan = {d: seeds for d in ALL4 if not (i == 11 and d == "cifar100")}
            less_plan = {"cifar10-valid": (777, 888)}
            infos[i] = {"less": arch_results(i, "12", less_plan, history=False, numpy_scalars=True),
                        "full": arch_results(i, "200", full_plan, history=False, numpy_scalars=True)}
        else:
            less_plan = {"cifar10-valid": (777, 888), "cifar10": (777,), "cifar100": (777,),
                         "ImageNet16-120": (777,)}
            infos[i] = {"less": arch_results(i, "12", less_plan, history=True),
                        "full": arch_results(i, "200", {d: seeds for d in ALL4}, history=True)}
    return {"meta_archs": list(nb201.all_archs()), "arch2infos": infos, "evaluated_indexes": sorted(archs)}


@pytest.fixture(scope="module")
def nb201_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("nb201")
    out = {}
    for version in ("v1_0", "v1_1"):
        path = root / f"NAS-Bench-201-{version}-mini.pth"
        torch.save(mini_nb201(version), path)
        out[version] = path
    return out


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("PROXYBENCH_HOME", str(tmp_path / "home"))


def _rows(gt, i, dataset, metric):
    t = gt.ground_truth
    return t[(t.arch_index == i) & (t.dataset == dataset) & (t.metric == metric)].set_index("seed")["value"]


# --------------------------------------------------------------------------------------------------------
# Official NB201 files through nas_201_api
# --------------------------------------------------------------------------------------------------------

def test_nb201_v1_1_metrics_and_splits_per_dataset(nb201_files):
    gt = G.from_nb201(nb201_files["v1_1"], hp="200")
    assert gt.pairs() == sorted([
        ("cifar10-valid", "train_acc"), ("cifar10-valid", "val_acc"), ("cifar10-valid", "test_acc"),
        ("cifar10", "train_acc"), ("cifar10", "test_acc"),
        ("cifar100", "train_acc"), ("cifar100", "val_acc"), ("cifar100", "test_acc"), ("cifar100", "valtest_acc"),
        ("ImageNet16-120", "train_acc"), ("ImageNet16-120", "val_acc"), ("ImageNet16-120", "test_acc"),
        ("ImageNet16-120", "valtest_acc")])
    # cifar10-valid: val = x-valid, test = ori-test; cifar10: test = ori-test, no val_acc at all
    for seed in (777, 888, 999):
        assert _rows(gt, 0, "cifar10-valid", "val_acc")[seed] == pytest.approx(acc(0, "cifar10-valid", "x-valid",
                                                                                   seed, "200"))
        assert _rows(gt, 0, "cifar10-valid", "test_acc")[seed] == pytest.approx(acc(0, "cifar10-valid", "ori-test",
                                                                                    seed, "200"))
        assert _rows(gt, 0, "cifar10", "test_acc")[seed] == pytest.approx(acc(0, "cifar10", "ori-test", seed, "200"))
        # cifar100 / ImageNet16-120: val = x-valid, test = x-test, valtest = ori-test
        for ds in ("cifar100", "ImageNet16-120"):
            for metric, split in (("val_acc", "x-valid"), ("test_acc", "x-test"), ("valtest_acc", "ori-test"),
                                  ("train_acc", "train")):
                assert _rows(gt, 0, ds, metric)[seed] == pytest.approx(acc(0, ds, split, seed, "200"))
    assert "val_acc" not in gt.metrics("cifar10")
    with pytest.raises(ValueError, match=r"no 'val_acc' on dataset 'cifar10'.*cifar10-valid"):
        gt.table("val_acc", "cifar10")
    meta = gt.metadata
    assert meta["hp"] == "200" and meta["epochs"]["cifar10"] == 200
    assert meta["seeds"]["cifar10"] == [777, 888, 999]
    assert meta["network"] == {"name": "infer.tiny", "C": 16, "N": 5,
                               "num_classes": {"cifar10-valid": 10, "cifar10": 10, "cifar100": 100,
                                               "ImageNet16-120": 120}}
    assert meta["source"]["version"] == "v1_1" and "hp='200'" in meta["source"]["query"]
    assert gt.ground_truth.loc[gt.ground_truth.arch_index == 11, "arch"].iloc[0] == nb201.index_to_arch(11)


def test_nb201_mean_over_seeds_matches_the_api(nb201_files):
    from nas_201_api import NASBench201API

    gt = G.from_nb201(nb201_files["v1_1"], hp="200", datasets=["cifar100", "cifar10-valid"])
    api = NASBench201API(str(nb201_files["v1_1"]), verbose=False)
    for i in (0, 5, 11):
        info = api.get_more_info(i, "cifar100", hp="200", is_random=False)
        assert gt.table("test_acc", "cifar100")[i] == pytest.approx(info["test-accuracy"])
        assert gt.table("valtest_acc", "cifar100")[i] == pytest.approx(info["valtest-accuracy"])
        info = api.get_more_info(i, "cifar10-valid", hp="200", is_random=False)
        assert gt.table("val_acc", "cifar10-valid")[i] == pytest.approx(info["valid-accuracy"])
        assert gt.table("test_acc", "cifar10-valid")[i] == pytest.approx(info["test-accuracy"])
    assert gt.datasets() == ["cifar10-valid", "cifar100"]


def test_nb201_hp_12_and_200_differ_and_are_recorded(nb201_files):
    g12 = G.from_nb201(nb201_files["v1_1"], hp=12)
    g200 = G.from_nb201(nb201_files["v1_1"], hp="200")
    for i in (0, 5, 11):  # seed 777 exists at both hps
        diff = _rows(g200, i, "cifar10", "test_acc")[777] - _rows(g12, i, "cifar10", "test_acc")[777]
        assert diff == pytest.approx(20.0)
    assert g12.metadata["hp"] == "12" and g12.metadata["epochs"]["cifar10"] == 12
    assert g200.metadata["epochs"]["cifar10"] == 200
    assert g12.metadata["seeds"]["cifar10-valid"] == [777, 888]
    assert g12.name.endswith("hp12") and g200.name.endswith("hp200")
    with pytest.raises(ValueError, match=r"unknown hp '90'; valid: 12, 200"):
        G.from_nb201(nb201_files["v1_1"], hp="90")


def test_nb201_v1_0_layout(nb201_files):
    # numpy scalars in the records load under torch's safe loader; hp 12 has cifar10-valid only
    g12 = G.from_nb201(nb201_files["v1_0"], hp="12")
    assert g12.datasets() == ["cifar10-valid"]
    assert g12.table("val_acc")[5] == pytest.approx(np.mean([acc(5, "cifar10-valid", "x-valid", s, "12")
                                                             for s in (777, 888)]))
    with pytest.raises(ValueError, match=r"no results for dataset\(s\) cifar100 at hp '12'.*cifar10-valid"):
        G.from_nb201(nb201_files["v1_0"], hp="12", datasets=["cifar100"])
    g200 = G.from_nb201(nb201_files["v1_0"], hp="200")
    # arch 11 was never trained on cifar100: absent from that table and counted
    assert sorted(g200.table("test_acc", "cifar100").index) == [0, 5]
    assert g200.metadata["n_missing"] == {"cifar100": 1}
    values, missing = g200.align([11, 0, 5], "test_acc", "cifar100")
    assert missing == [11] and list(values.index) == [0, 5]
    assert g200.table("test_acc", "cifar10")[11] == pytest.approx(np.mean([acc(11, "cifar10", "ori-test", s, "200")
                                                                           for s in (777, 888)]))


def test_nb201_legacy_serialization_with_old_numpy_paths(tmp_path):
    # the 2020 official files predate torch's zip format and name numpy.core (not numpy._core) in their pickles
    path = tmp_path / "NAS-Bench-201-v1_0-legacy.pth"
    torch.save(mini_nb201("v1_0"), path, _use_new_zipfile_serialization=False)
    data = path.read_bytes()
    assert b"numpy._core.multiarray" in data or b"numpy.core.multiarray" in data
    path.write_bytes(data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    gt = G.from_nb201(path, hp="200", datasets=["cifar10"])
    assert gt.table("test_acc")[0] == pytest.approx(np.mean([acc(0, "cifar10", "ori-test", s, "200")
                                                             for s in (777, 888, 999)]))


def test_nb201_bad_names_and_files(nb201_files, tmp_path):
    with pytest.raises(ValueError, match=r"unknown dataset 'CIFAR-10'; valid: cifar10-valid, cifar10, cifar100, "
                                         r"ImageNet16-120"):
        G.from_nb201(nb201_files["v1_1"], datasets=["CIFAR-10"])
    with pytest.raises(ValueError, match=r"unknown metric 'acc'; valid: train_acc, val_acc, test_acc, valtest_acc"):
        G.from_nb201(nb201_files["v1_1"], metrics=["acc"])
    missing = tmp_path / "NAS-Bench-201-v1_1-096897.pth"
    with pytest.raises(FileNotFoundError) as err:
        G.from_nb201(missing)
    assert str(missing) in str(err.value) and "download NAS-Bench-201-v1_1-096897.pth" in str(err.value)
    data = nb201_files["v1_1"].read_bytes()
    trunc = tmp_path / "trunc.pth"
    trunc.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or corrupted"):
        G.from_nb201(trunc)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8)))
    with pytest.raises(ValueError, match="truncated or corrupted"):
        G.from_nb201(junk)
    not_nb201 = tmp_path / "other.pth"
    torch.save({"state_dict": {}}, not_nb201)
    with pytest.raises(ValueError, match="meta_archs"):
        G.from_nb201(not_nb201)


def test_nb201_wrong_arch_order_is_rejected(tmp_path):
    d = mini_nb201("v1_1")
    d["meta_archs"] = list(reversed(d["meta_archs"]))
    path = tmp_path / "shuffled.pth"
    torch.save(d, path)
    with pytest.raises(ValueError, match="not NB201's arch 0 in the official order"):
        G.from_nb201(path)


def test_nb201_unsafe_pickle_needs_trust(tmp_path):
    d = mini_nb201("v1_1")
    d["arch2infos"][0]["full"]["all_results"][("cifar10", 777)]["arch_config"]["note"] = fractions.Fraction(1, 3)
    path = tmp_path / "unsafe.pth"
    torch.save(d, path)
    with pytest.raises(ValueError, match="--trust-pickle"):
        G.from_nb201(path)
    gt = G.from_nb201(path, trust_pickle=True, datasets=["cifar10"])
    assert gt.n_archs() == 3
    assert "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD" not in os.environ


# --------------------------------------------------------------------------------------------------------
# NATS-Bench (optional package)
# --------------------------------------------------------------------------------------------------------

def test_nats_missing_package_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "nats_bench", None)  # makes `import nats_bench` fail
    (tmp_path / "nats").mkdir()
    with pytest.raises(ImportError, match=r"pip install nats_bench"):
        G.from_nats(tmp_path / "nats")
    assert main(["groundtruth", "import", "--from", "nats", str(tmp_path / "nats"), "--out",
                 str(tmp_path / "n.pbgt")]) == 1
    assert not (tmp_path / "n.pbgt").exists()


def test_nats_missing_path_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"NATS-tss-v1_0-3ffb9-simple"):
        G.from_nats(tmp_path / "NATS-tss-v1_0-3ffb9-simple")


def test_nats_miniature_archive(tmp_path):
    nats_bench = pytest.importorskip("nats_bench", reason="optional package nats_bench not installed")
    n = 12
    folder = tmp_path / "NATS-tss-v1_0-mini-simple"
    folder.mkdir()
    nats_bench.pickle_save({"meta_archs": list(nb201.all_archs()[:n])}, str(folder / "meta.pickle"))
    plans = {0: (777, 888, 999), 3: (777,), 11: (777, 888)}  # the other archs have no file
    for i, seeds in plans.items():
        rec = {"12": arch_results(i, "12", {d: (777,) for d in ALL4}, history=True),
               "200": arch_results(i, "200", {d: seeds for d in ALL4}, history=True)}
        nats_bench.pickle_save(rec, str(folder / f"{i:06d}.pickle"))
    gt = G.from_nats(folder, hp="200")
    assert sorted(gt.table("test_acc", "cifar10").index) == [0, 3, 11]
    assert _rows(gt, 0, "cifar10-valid", "test_acc")[888] == pytest.approx(acc(0, "cifar10-valid", "ori-test",
                                                                                888, "200"))
    assert _rows(gt, 3, "cifar100", "valtest_acc")[777] == pytest.approx(acc(3, "cifar100", "ori-test", 777, "200"))
    assert gt.metadata["n_missing"]["cifar10"] == n - 3
    g12 = G.from_nats(folder, hp="12", datasets=["cifar10"])
    assert (gt.table("test_acc", "cifar10") - g12.table("test_acc", "cifar10")).min() > 19
    # a single-file (non-fast) layout of the same numbers
    single = {"meta_archs": list(nb201.all_archs()[:n]), "evaluated_indexes": sorted(plans),
              "arch2infos": {i: {"200": arch_results(i, "200", {d: s for d in ALL4}, history=True)}
                             for i, s in plans.items()}}
    nats_bench.pickle_save(single, str(tmp_path / "NATS-tss-mini.pickle"))
    g1 = G.from_nats(tmp_path / "NATS-tss-mini.pickle.pbz2", hp="200")
    pd.testing.assert_series_equal(g1.table("val_acc", "cifar100"), gt.table("val_acc", "cifar100"))
    with pytest.raises(ValueError, match="no results for hp '12'"):
        G.from_nats(tmp_path / "NATS-tss-mini.pickle.pbz2", hp="12")
    broken = tmp_path / "broken.pickle.pbz2"
    broken.write_bytes((tmp_path / "NATS-tss-mini.pickle.pbz2").read_bytes()[:200])
    with pytest.raises(ValueError, match="truncated or corrupted"):
        G.from_nats(broken)


# --------------------------------------------------------------------------------------------------------
# DisWOT-style KD JSON and generic CSV
# --------------------------------------------------------------------------------------------------------

def test_json_kd_table(tmp_path):
    path = tmp_path / "kd.json"
    path.write_text(json.dumps({"0": 71.25, "17": 69.5, nb201.index_to_arch(42): 70.0, "99": None}))
    gt = G.from_json(path, "cifar100", teacher="resnet110", protocol="0.1 CE + 0.9 KL, T=4")
    assert gt.metrics() == ["kd_acc"] and gt.datasets() == ["cifar100"]
    assert gt.table("kd_acc").to_dict() == {0: 71.25, 17: 69.5, 42: 70.0}
    assert gt.metadata["teacher"] == "resnet110" and gt.metadata["n_missing"] == {"cifar100/kd_acc": 1}
    assert gt.ground_truth["seed"].isna().all()  # one number per arch: not tied to a training seed
    frac = tmp_path / "frac.json"
    frac.write_text(json.dumps({"1": 0.7, "2": 0.65}))
    assert G.from_json(frac, "fashion-mnist", "vanilla_acc").table("vanilla_acc").tolist() == [70.0, 65.0]
    for bad, match in ((json.dumps([1, 2]), "expected a JSON object"), ('{"0": 71.2, "1": 7', "not valid JSON"),
                       (json.dumps({"0": "high"}), "must be a finite number"),
                       (json.dumps({"15625": 50.0}), r"out of range: 15625"),
                       (json.dumps({"|bogus~0|": 50.0}), "neither an official NB201 index")):
        path.write_text(bad)
        with pytest.raises(ValueError, match=match):
            G.from_json(path, "cifar100")


def test_csv_patterns_mapping_and_errors(tmp_path):
    path = tmp_path / "t.csv"
    pd.DataFrame({"arch": [nb201.index_to_arch(i) for i in (3, 1, 2)], "cifar100_valid_acc": [50.0, 60.0, None],
                  "fashion_kd": [80.0, 81.0, 82.0], "mystery": [1.5, 2.5, 3.5]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"cannot tell the dataset of column 'mystery'"):
        G.from_csv(path)
    gt = G.from_csv(path, dataset="synthetic")
    assert gt.pairs() == [("cifar100", "val_acc"), ("fashion", "kd_acc"), ("synthetic", "mystery")]
    assert gt.table("val_acc").to_dict() == {1: 60.0, 3: 50.0}  # the empty cell is left out ...
    assert gt.metadata["n_missing"] == {"cifar100/val_acc": 1}  # ... and counted
    gt = G.from_csv(path, {"mystery": "cifar10/vanilla_acc", "fashion_kd": ("fashion-mnist", "kd_acc")})
    assert gt.pairs() == [("cifar10", "vanilla_acc"), ("fashion-mnist", "kd_acc")]
    with pytest.raises(ValueError, match=r"unknown column\(s\) 'nope'; columns: arch, cifar100_valid_acc"):
        G.from_csv(path, ["nope"])
    assert G.parse_column_name("imagenet16_120_test") == ("ImageNet16-120", "test_acc")
    assert G.parse_column_name("cifar10_val") == ("cifar10-valid", "val_acc")
    assert G.parse_column_name("cifar10_test_accuracy") == ("cifar10", "test_acc")
    assert G.parse_column_name("params") is None
    # index and arch columns that disagree
    pd.DataFrame({"index": [0, 1], "arch": [nb201.index_to_arch(1), nb201.index_to_arch(1)],
                  "cifar10_test": [90.0, 91.0]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"row 0: arch_index 0 is .* but the arch column says"):
        G.from_csv(path)
    pd.DataFrame({"name": ["a"], "cifar10_test": [90.0]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"needs an 'arch_index' \(or 'index'\) or 'arch' column; columns: name"):
        G.from_csv(path)
    path.write_text("index,cifar10_test,cifar100_test\n0,90.1,70.2\n1,91.0")
    with pytest.raises(ValueError, match="the last line has 2 of 3 fields; the file looks truncated"):
        G.from_csv(path)
    path.write_text("index,cifar10_test,cifar100_test\n0,90.1,70.2\n1,91.0,7")
    with pytest.raises(ValueError, match="does not end with a newline"):
        G.from_csv(path)
    path.write_text("index,cifar10_test,cifar100_test\n0,90.1,70.2\n1,91.0,7\n")
    assert G.from_csv(path).table("test_acc", "cifar100").to_dict() == {0: 70.2, 1: 7.0}
    path.write_bytes(b"\x00\xff\xfe garbage \x81\n\x00")
    with pytest.raises(ValueError):
        G.from_csv(path)
    with pytest.raises(FileNotFoundError, match=r"file not found: .*absent\.csv; give a CSV file"):
        G.from_csv(tmp_path / "absent.csv")


@pytest.mark.skipif(not NB201_CSV.is_file(), reason=f"real NB201 table absent: {NB201_CSV}")
def test_real_nb201_csv_round_trip(tmp_path):
    gt = G.from_csv(NB201_CSV)
    t = gt.ground_truth
    assert gt.n_archs() == nb201.NUM_ARCHS and len(t) == 6 * nb201.NUM_ARCHS
    raw = pd.read_csv(NB201_CSV)
    # row i is official index i and the arch strings agree with proxybench.nb201
    assert raw["arch"].tolist() == list(nb201.all_archs()) and raw["index"].tolist() == list(range(nb201.NUM_ARCHS))
    assert (t["arch"] == t["arch_index"].map(nb201.index_to_arch)).all()
    assert gt.pairs() == [("ImageNet16-120", "test_acc"), ("ImageNet16-120", "val_acc"), ("cifar10", "test_acc"),
                          ("cifar10-valid", "val_acc"), ("cifar100", "test_acc"), ("cifar100", "val_acc")]
    np.testing.assert_array_equal(gt.table("test_acc", "cifar10").to_numpy(), raw["cifar10_test"].to_numpy())
    np.testing.assert_array_equal(gt.table("val_acc", "cifar10-valid").to_numpy(), raw["cifar10_val"].to_numpy())
    out = gt.save(tmp_path / f"nb201{G.SUFFIX}")
    size = out.stat().st_size
    t0 = time.perf_counter()
    back = GroundTruth.load(out)
    secs = time.perf_counter() - t0
    print(f"\nNB201 CSV table: {len(t)} rows, compact file {size / 1e3:.0f} kB, load {secs * 1000:.0f} ms")
    assert secs < 1.0
    assert size < 2_000_000
    pd.testing.assert_frame_equal(back.ground_truth, t)
    assert back.metadata == gt.metadata and back.path == out


# --------------------------------------------------------------------------------------------------------
# The table and its file
# --------------------------------------------------------------------------------------------------------

def small_gt(**meta) -> GroundTruth:
    df = pd.DataFrame({"arch_index": [0, 0, 1, 1, 2, 0, 1], "dataset": ["c10"] * 5 + ["c100"] * 2,
                       "metric": ["kd_acc"] * 5 + ["vanilla_acc"] * 2,
                       "value": [70.0, 72.0, 60.0, 61.0, 50.0, 40.0, 41.0], "seed": [0, 1, 0, 1, 0, -1, -1]})
    return GroundTruth(ground_truth=df, metadata={"name": "small", "teacher": "t", **meta})


def test_groundtruth_table_queries():
    gt = small_gt()
    assert list(gt.ground_truth.columns) == list(G.COLUMNS)
    assert gt.metrics() == ["kd_acc", "vanilla_acc"] and gt.datasets() == ["c10", "c100"]
    assert gt.table("kd_acc").to_dict() == {0: 71.0, 1: 60.5, 2: 50.0}
    assert gt.table("kd_acc", "c10", aggregate="max").to_dict() == {0: 72.0, 1: 61.0, 2: 50.0}
    assert gt.table("kd_acc").name == "c10/kd_acc"
    assert gt.metadata["seeds"] == [0, 1] and gt.metadata["proxybench_version"]
    assert gt.ground_truth["seed"].dtype == "Int64" and gt.ground_truth["seed"].isna().sum() == 2  # -1 read as NA
    for key in ("name", "description", "source", "protocol", "teacher", "network", "created"):
        assert key in gt.metadata
    with pytest.raises(ValueError, match=r"unknown metric 'acc' in ground truth 'small'; valid: kd_acc, vanilla_acc"):
        gt.table("acc")
    with pytest.raises(ValueError, match=r"unknown dataset 'c1000'.*valid: c10, c100"):
        gt.table("kd_acc", "c1000")
    with pytest.raises(ValueError, match=r"unknown aggregate 'sum'; valid: mean, median, min, max"):
        gt.table("kd_acc", aggregate="sum")
    values, missing = gt.align([2, 7, 0], "kd_acc")
    assert values.to_dict() == {2: 50.0, 0: 71.0} and list(values.index) == [2, 0] and missing == [7]
    # a table whose rows are not grouped (edited after construction) gives the same answers
    shuffled = GroundTruth._trusted(gt.ground_truth.sample(frac=1, random_state=3), gt.metadata)
    assert shuffled.pairs() == gt.pairs() == [("c10", "kd_acc"), ("c100", "vanilla_acc")]
    pd.testing.assert_series_equal(shuffled.table("kd_acc"), gt.table("kd_acc"))
    assert gt == GroundTruth(gt.ground_truth.iloc[::-1], gt.metadata) and gt != small_gt(teacher="other")


@pytest.mark.parametrize("change, match", [
    (lambda d: d.drop(columns=["metric"]), r"lacks column\(s\) metric"),
    (lambda d: d.drop(columns=["arch_index"]), r"lacks column\(s\) arch_index \(or arch\)"),
    (lambda d: d.assign(extra=1), r"unknown ground-truth column\(s\) \['extra'\]"),
    (lambda d: d.assign(arch_index=[0, 1, 20000]), r"arch_index out of range: 20000"),
    (lambda d: d.assign(arch_index=[0, 1.5, 2]), r"column 'arch_index' must hold integers; bad values: 1.5"),
    (lambda d: d.assign(value=[1.0, float("nan"), 3.0]), r"non-finite values at rows 1"),
    (lambda d: d.assign(value=[1.0, 250.0, 3.0]), r"accuracy in % \(0..100\); out of range: 250.0"),
    (lambda d: d.assign(arch_index=[0, 0, 1]), r"duplicate rows"),
    (lambda d: d.assign(seed=[-1, 0, 0], arch_index=[0, 0, 1]), r"seed -1 .* and per-seed rows"),
    (lambda d: d.assign(arch=["|bogus~0|", "x", "y"]), r"arch_index 0 is .* but the arch column says '\|bogus~0\|'"),
    (lambda d: d.iloc[:0], r"empty"),
])
def test_groundtruth_validation(change, match):
    df = pd.DataFrame({"arch_index": [0, 1, 2], "dataset": "c10", "metric": "kd_acc", "value": [1.0, 2.0, 3.0],
                       "seed": [0, 0, 0]})
    with pytest.raises(ValueError, match=match):
        GroundTruth(change(df), {})


def test_groundtruth_from_arch_strings_only():
    archs = [nb201.index_to_arch(i) for i in (10, 20)]
    gt = GroundTruth(pd.DataFrame({"arch": archs, "dataset": "d", "metric": "m", "value": [1.0, 2.0]}))
    assert gt.ground_truth["arch_index"].tolist() == [10, 20] and gt.ground_truth["seed"].isna().all()


def test_save_load_round_trip_atomic_and_validated(tmp_path):
    gt = small_gt(extra={"lr": 0.05, "sweep": [1, 2]})
    path = gt.save(tmp_path / "sub" / f"small{G.SUFFIX}")
    back = GroundTruth.load(path)
    pd.testing.assert_frame_equal(back.ground_truth, gt.ground_truth)
    assert back.metadata == gt.metadata and back.metadata["extra"]["sweep"] == [1, 2]
    assert sorted(os.listdir(path.parent)) == [path.name]  # no temp file left behind
    # a failed write leaves the old file intact and no temp file
    bad = small_gt(bad=object())
    with pytest.raises(ValueError, match="metadata cannot be written as JSON"):
        bad.save(path)
    assert GroundTruth.load(path).metadata["name"] == "small" and sorted(os.listdir(path.parent)) == [path.name]
    # truncated, corrupted, foreign, incomplete and tampered files
    data = path.read_bytes()
    cases = {"trunc": data[: len(data) // 2], "junk": b"not a zip at all" * 10}
    for name, payload in cases.items():
        p = tmp_path / f"{name}{G.SUFFIX}"
        p.write_bytes(payload)
        with pytest.raises(ValueError, match="truncated or corrupted"):
            GroundTruth.load(p)

    def rewrite(name, drop=(), replace=None):
        p = tmp_path / f"{name}{G.SUFFIX}"
        with zipfile.ZipFile(path) as src, zipfile.ZipFile(p, "w") as dst:
            for item in src.namelist():
                if item in drop:
                    continue
                dst.writestr(item, (replace or {}).get(item, src.read(item)))
        return p

    with pytest.raises(ValueError, match="not a proxybench ground-truth file"):
        GroundTruth.load(rewrite("foreign", drop=("proxybench-groundtruth.json",)))
    with pytest.raises(ValueError, match=r"lacks column\(s\) value, metadata"):
        GroundTruth.load(rewrite("partial", drop=("value.npy", "metadata.json")))
    import io

    buf = io.BytesIO()
    np.save(buf, np.array([0, 1, 16000, 2, 0, 1, 0], dtype=np.int16))
    with pytest.raises(ValueError, match=r"arch_index out of range: 16000"):
        GroundTruth.load(rewrite("badidx", replace={"arch_index.npy": buf.getvalue()}))
    with pytest.raises(FileNotFoundError, match=r"ground-truth file not found: .*nothere.pbgt; create one with"):
        GroundTruth.load(tmp_path / "nothere.pbgt")


# --------------------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------------------

def test_registry_register_list_load(tmp_path):
    assert "mine" not in G.list_benchmarks()
    with pytest.raises(ValueError, match=r"unknown benchmark 'mine'; valid names: "):
        G.load_benchmark("mine")
    dest = G.register_benchmark(small_gt(description="a small table\nsecond line"), "mine")
    assert dest == Path(os.environ["PROXYBENCH_HOME"]) / "benchmarks" / f"mine{G.SUFFIX}"
    assert "mine" in G.list_benchmarks()
    assert ("mine", f"a small table  [imported: {dest}]") in G.describe_benchmarks()
    b = G.load_benchmark("mine")
    assert b.metadata["name"] == "mine" and isinstance(b.ground_truth, pd.DataFrame)
    assert G.load_benchmark(dest).name == "mine"  # by path
    with pytest.raises(FileNotFoundError, match="ground-truth file not found"):
        G.load_benchmark(str(tmp_path / f"nope{G.SUFFIX}"))
    with pytest.raises(ValueError, match="bad benchmark name"):
        G.register_benchmark(small_gt(), "bad/name")
    with pytest.raises(ValueError, match="already registered"):
        G.register_benchmark(small_gt(), "mine", overwrite=False)


def test_registry_bundled_benchmarks(tmp_path, monkeypatch):
    bundled = tmp_path / "bundled"
    bundled.mkdir()
    monkeypatch.setattr(G, "BUNDLED_DIR", bundled)
    small_gt(description="shipped KD table").save(bundled / f"kd-demo{G.SUFFIX}")
    (bundled / "README.txt").write_text("not a benchmark")
    assert G.list_benchmarks() == ["kd-demo"]
    assert G.describe_benchmarks() == [("kd-demo", "shipped KD table")]
    assert G.load_benchmark("kd-demo").table("kd_acc")[0] == 71.0
    with pytest.raises(ValueError, match="taken by a bundled benchmark"):
        G.register_benchmark(small_gt(), "kd-demo")
    (bundled / f"broken{G.SUFFIX}").write_bytes(b"PK\x03\x04 cut")
    assert dict(G.describe_benchmarks())["broken"].startswith("(unreadable:")
    with pytest.raises(ValueError, match="truncated or corrupted"):
        G.load_benchmark("broken")


# --------------------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------------------

def test_cli_import_nb201_show_and_list(nb201_files, tmp_path, capsys):
    out = tmp_path / f"mini{G.SUFFIX}"
    rc = main(["groundtruth", "import", "--from", "nb201", str(nb201_files["v1_1"]), "--hp", "12", "--datasets",
               "cifar10-valid", "cifar100", "--out", str(out), "--name", "mini-nb201", "--register"])
    assert rc == 0
    text = capsys.readouterr().out
    assert f"wrote {out}" in text and "registered benchmark 'mini-nb201'" in text
    gt = GroundTruth.load(out)
    assert gt.metadata["hp"] == "12" and gt.datasets() == ["cifar10-valid", "cifar100"]
    assert main(["groundtruth", "show", "mini-nb201"]) == 0
    text = capsys.readouterr().out
    assert "cifar10-valid    val_acc" in text and "777,888" in text and "hp:" in text
    assert main(["groundtruth", "show", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["metadata"]["hp"] == "12"
    assert main(["groundtruth", "list"]) == 0
    assert "mini-nb201" in capsys.readouterr().out


def test_cli_import_json_and_csv(tmp_path, capsys):
    kd = tmp_path / "kd.json"
    kd.write_text(json.dumps({"3": 70.5, "4": 71.5}))
    out = tmp_path / f"kd{G.SUFFIX}"
    assert main(["groundtruth", "import", "--from", "json", str(kd), "--dataset", "cifar100", "--teacher",
                 "resnet110", "--out", str(out)]) == 0
    gt = GroundTruth.load(out)
    assert gt.pairs() == [("cifar100", "kd_acc")] and gt.metadata["teacher"] == "resnet110"
    csv_path = tmp_path / "t.csv"
    pd.DataFrame({"index": [5, 6], "acc": [80.0, 82.0]}).to_csv(csv_path, index=False)
    out2 = tmp_path / f"c{G.SUFFIX}"
    assert main(["groundtruth", "import", "--from", "csv", str(csv_path), "--column", "acc=fashion-mnist/vanilla_acc",
                 "--out", str(out2)]) == 0
    assert GroundTruth.load(out2).table("vanilla_acc").to_dict() == {5: 80.0, 6: 82.0}


def test_cli_bad_input_writes_nothing(nb201_files, tmp_path, capsys):
    out = tmp_path / f"x{G.SUFFIX}"
    data = nb201_files["v1_0"].read_bytes()
    trunc = tmp_path / "trunc.pth"
    trunc.write_bytes(data[:-1000])
    cases = [
        (["--from", "nb201", str(tmp_path / "NAS-Bench-201-v1_0-e61699.pth")], "NAS-Bench-201-v1_0-e61699.pth"),
        (["--from", "nb201", str(trunc)], "truncated or corrupted"),
        (["--from", "nb201", str(nb201_files["v1_1"]), "--datasets", "imagenet"], "valid: cifar10-valid"),
        (["--from", "json", str(tmp_path / "kd.json"), "--dataset", "c"], "file not found"),
        (["--from", "json", str(nb201_files["v1_1"]), "--dataset", "c"], "not valid JSON"),
        (["--from", "json", str(nb201_files["v1_1"])], "needs --dataset"),
        (["--from", "csv", str(trunc), "--column", "nocolon"], "bad --column"),
    ]
    for argv, needle in cases:
        assert main(["groundtruth", "import", *argv, "--out", str(out)]) == 2, argv
        err = capsys.readouterr().err
        assert needle in err, (argv, err)
        assert not out.exists()
    assert main(["groundtruth", "import", "--from", "nb201", str(nb201_files["v1_1"])]) == 2
    assert "give --out FILE, --register, or both" in capsys.readouterr().err
    assert main(["groundtruth", "import", "--from", "nb201", str(nb201_files["v1_1"]), "--hp", "90",
                 "--out", str(out)]) == 2
    assert main(["groundtruth", "show", "no-such-benchmark"]) == 2
    assert "unknown benchmark 'no-such-benchmark'" in capsys.readouterr().err
    assert list(tmp_path.glob("*.tmp")) == [] and not out.exists()


def test_a_dataset_metric_pair_is_named_in_the_order_pairs_returns_it():
    gt = small_gt()
    expected = gt.table("c10", "kd_acc")
    for pair in gt.pairs():  # table(*pair) and resolve(*pair) take what pairs() gives
        assert gt.resolve(*pair) == pair
        assert gt.table(*pair).name == "/".join(pair)
    pd.testing.assert_series_equal(gt.table(dataset="c10", metric="kd_acc"), expected)
    pd.testing.assert_series_equal(gt.table("c10/kd_acc"), expected)
    pd.testing.assert_series_equal(gt.table("kd_acc"), expected)  # the metric exists on one dataset only
    pd.testing.assert_series_equal(gt.table("kd_acc", "c10"), expected)  # the older order, unambiguous here
    assert gt.resolve("vanilla_acc", "c100") == ("c100", "vanilla_acc")
    values, missing = gt.align([2, 9], "c10", "kd_acc")
    assert values.to_dict() == {2: 50.0} and missing == [9]
    with pytest.raises(ValueError, match="by position or as keywords, not both"):
        gt.table("c10", metric="kd_acc")
    # names that are both a dataset and a metric leave the order in doubt: refused, keywords work
    df = pd.DataFrame({"arch_index": [0, 1, 0, 1], "dataset": ["a", "a", "b", "b"], "metric": ["b", "b", "a", "a"],
                       "value": [1.0, 2.0, 3.0, 4.0]})
    odd = GroundTruth(df, {"name": "odd"})
    with pytest.raises(ValueError, match="both dataset and metric names"):
        odd.table("a", "b")
    assert odd.table(dataset="a", metric="b").to_dict() == {0: 1.0, 1: 2.0}
    assert odd.table(dataset="b", metric="a").to_dict() == {0: 3.0, 1: 4.0}


def test_summary_and_file_keep_missing_seeds():
    gt = small_gt()
    summary = gt.summary().set_index(["dataset", "metric"])
    assert summary.loc[("c10", "kd_acc"), "seeds"] == "0,1" and summary.loc[("c100", "vanilla_acc"), "seeds"] == "none"
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        back = GroundTruth.load(gt.save(Path(d) / f"s{G.SUFFIX}"))
    assert back.ground_truth["seed"].isna().sum() == 2 and back.ground_truth["seed"].dtype == "Int64"


# ---- import: non-finite and non-numeric cells -------------------------------------------------------------------
def test_csv_import_says_how_many_rows_were_dropped_and_why_and_strict_refuses(tmp_path, capsys):
    src = tmp_path / "acc.csv"
    src.write_text("arch_index,cifar10_test\n0,91.5\n1,nan\n2,inf\n3,\n4,90.1\n")
    out = tmp_path / "gt.pbgt"
    assert main(["groundtruth", "import", "--from", "csv", str(src), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "imported 2 rows" in text
    assert "dropped cifar10/test_acc: 2 empty or NaN, 1 inf (line(s) 3, 4, 5)" in text
    assert main(["groundtruth", "import", "--from", "csv", str(src), "--out", str(tmp_path / "s.pbgt"),
                 "--strict"]) == 2
    err = capsys.readouterr().err
    assert "--strict" in err and "1 inf" in err and "line(s) 3, 4, 5" in err
    assert not (tmp_path / "s.pbgt").exists()


def test_csv_import_names_a_non_numeric_value_and_its_line(tmp_path, capsys):
    src = tmp_path / "acc.csv"
    src.write_text("arch_index,cifar10_test\n0,91.5\n1,ninety\n2,90.1\n")
    assert main(["groundtruth", "import", "--from", "csv", str(src), "--out", str(tmp_path / "gt.pbgt")]) == 2
    err = capsys.readouterr().err
    assert "'ninety'" in err and "line 3" in err and "cifar10_test" in err
    assert main(["groundtruth", "import", "--from", "csv", str(src), "--out", str(tmp_path / "gt.pbgt"),
                 "--column", "cifar10_test=cifar10/test_acc"]) == 2
    err = capsys.readouterr().err
    assert "'ninety'" in err and "line 3" in err
