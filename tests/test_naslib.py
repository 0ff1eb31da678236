"""NAS-Bench-Suite-Zero (NASLib) score files: import into a run directory, export back, proxy-name aliases."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from proxybench.analysis import add_ensembles, correlate, load_run
from proxybench.analysis import naslib as N
from proxybench.benchmarks import nb201
from proxybench.benchmarks.groundtruth import load_benchmark
from proxybench.cli import main

# NASLib tuple -> NB201 string, derived by hand from NASLib's op order (skip, none, conv3, conv1, pool) and edge order
# (1,2),(1,3),(1,4),(2,3),(2,4),(3,4): node j <- node i is edge (i+1, j+1)
HAND = {(0, 2, 3, 2, 3, 1): "|skip_connect~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_1x1~0|nor_conv_1x1~1|none~2|",
        (4, 0, 4, 1, 2, 0): "|avg_pool_3x3~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|nor_conv_3x3~1|skip_connect~2|"}
PARAMS = {(0, 2, 3, 2, 3, 1): 0.615386, (4, 0, 4, 1, 2, 0): 0.316346}  # NB201's official counts (M), CIFAR-10


def mini_file(n: int = 12, datasets=("cifar10",), seed: int = 0) -> dict:
    """A NASLib-layout file: ``n`` sampled cells, proxies jacov (noisy accuracy), nwot (noise), synflow (one null)."""
    rng = np.random.default_rng(seed)
    out = {}
    for ds in datasets:
        entries = {}
        for k, i in enumerate(nb201.sample_indices(n, seed=seed)):
            acc = round(float(rng.uniform(40, 95)), 2)
            entries[str(nb201.arch_to_naslib(nb201.index_to_arch(int(i))))] = {
                "jacov": {"score": acc + float(rng.normal(0, 8)), "time": 0.25 + k},
                "nwot": {"score": float(rng.normal(700, 20)), "time": 1.5},
                "synflow": {"score": None if k == 3 else float(rng.normal()), "time": 0.125},
                "val_accuracy": acc,
            }
        out[ds] = entries
    return out


REAL_PROXIES = ("flops", "params", "synflow", "grasp", "fisher", "grad_norm", "l2_norm", "plain", "nwot", "epe_nas",
                "jacov", "snip")
REAL_DATASETS = ("cifar10", "cifar100", "ImageNet16-120")


def real_shape_file(n: int = 9, seed: int = 1) -> dict:
    """The shape of NAS-Bench-Suite-Zero's published zc_nasbench201.json: per dataset, per arch key, ``idx`` (a
    string), ``arch`` (the key again), ``val_accuracy`` and 12 proxy records, in the file's order; the last dataset
    lacks one arch (724 vs 725 there) and one arch lacks ``synflow`` (as in the file's cifar10)."""
    rng = np.random.default_rng(seed)
    keys = [str(nb201.arch_to_naslib(nb201.index_to_arch(int(i)))) for i in nb201.sample_indices(n, seed=seed)]
    out = {}
    for d, ds in enumerate(REAL_DATASETS):
        entries = {}
        for k, key in enumerate(keys[:n - 1] if ds == "ImageNet16-120" else keys):
            entry = {"idx": str(500 + 7 * k), "arch": key}
            for j, proxy in enumerate(REAL_PROXIES):
                if j == 1:
                    entry["val_accuracy"] = round(float(rng.uniform(20, 95)), 2)
                if (ds, k, proxy) == ("cifar10", 2, "synflow"):
                    continue
                entry[proxy] = {"score": round(float(rng.normal(10 * d, 5)), 6), "time": round(0.5 + j / 8, 3)}
            entries[key] = entry
        out[ds] = entries
    return out


def write(tmp_path, obj, name="zc.json"):
    p = tmp_path / name
    p.write_text(json.dumps(obj))
    return p


def test_arch_keys_follow_naslib_encoding():
    for tup, arch in HAND.items():
        assert N.parse_arch_key(str(tup)) == arch
        assert N.parse_arch_key(str(list(tup))) == arch
        assert N.arch_key(arch) == str(tup)
        assert nb201.nb201_params(arch) == pytest.approx(PARAMS[tup], abs=1e-6)
    for bad in ("(0, 2, 3)", "(0, 2, 3, 2, 3, 9)", "0,2,3,2,3,1", "abc"):
        with pytest.raises(ValueError, match="bad architecture key"):
            N.parse_arch_key(bad)


def test_from_naslib_tidy_tables_and_names():
    data = {"cifar100": {"(0, 2, 3, 2, 3, 1)": {"jacob_cov": {"score": 2.5, "time": 0.5},
                                                 "nwot": {"score": float("inf"), "time": 1.0},
                                                 "val_accuracy": 61.25}}}
    scores, gt, info = N.from_naslib(data)
    assert info == {"dataset": "cifar100", "proxies": {"jacob_cov": "jacov", "nwot": "nwot"}, "archs": 1,
                    "fields": {}}
    idx = nb201.arch_to_index(HAND[(0, 2, 3, 2, 3, 1)])
    row = scores.set_index("proxy").loc["jacov"]
    assert (row.arch_index, row.arch, row.seed, row.score, row.seconds, row.status) == (
        idx, HAND[(0, 2, 3, 2, 3, 1)], 0, 2.5, 0.5, "ok")
    assert scores.set_index("proxy").loc["nwot", "status"] == "nan"
    assert math.isnan(scores.set_index("proxy").loc["nwot", "score"])
    assert gt[["arch_index", "dataset", "metric", "value"]].values.tolist() == [[idx, "cifar100", "val_acc", 61.25]]
    assert gt["seed"].isna().all()


def test_import_cli_writes_a_run_that_report_and_ensembles_read(tmp_path, capsys):
    src = write(tmp_path, mini_file(15, datasets=("cifar10", "cifar100")))
    out = tmp_path / "run"
    assert main(["scores", "import", "--from", "naslib", str(src), "--dataset", "cifar10", "--out", str(out)]) == 0
    assert "15 architectures x 3 proxies" in capsys.readouterr().out
    run = load_run(out)
    assert set(run.scores["proxy"]) == {"jacov", "nwot", "synflow"} and len(run.scores) == 45
    assert set(run.ground_truth["dataset"]) == {"cifar10-valid"} and run.metadata["source"]["dataset"] == "cifar10"
    assert main(["report", str(out), "--no-figures", "--n-resamples", "20"]) == 0
    corr = load_run(out).correlations
    head = corr[(corr["aggregate"] == "score_mean") & (corr["statistic"] == "kendall")].set_index("proxy")
    merged = run.scores[run.scores["proxy"] == "jacov"].merge(run.ground_truth, on="arch_index")
    assert head.loc["jacov", "value"] == pytest.approx(stats.kendalltau(merged["score"], merged["value"]).statistic)
    assert head.loc["synflow", "n"] == 14 and head.loc["synflow", "n_dropped"] == 1
    assert "jacov" in (out / "report.md").read_text()
    ens = add_ensembles(run.scores, {"jacov+nwot": ["jacov", "nwot"]})
    assert "jacov+nwot" in set(correlate(ens, run.ground_truth, ci=False)["proxy"])


def test_import_export_round_trip(tmp_path, capsys):
    original = mini_file(10)
    src = write(tmp_path, original)
    out = tmp_path / "run"
    assert main(["scores", "import", "--from", "naslib", str(src), "--out", str(out)]) == 0
    back = tmp_path / "back.json"
    assert main(["scores", "export", str(out), "--to", "naslib", "--out", str(back)]) == 0
    assert "10 architectures x 3 proxies under 'cifar10'" in capsys.readouterr().out
    assert json.loads(back.read_text()) == original


def test_the_published_shape_imports_on_all_three_datasets(tmp_path, capsys):
    data = real_shape_file(9)
    data["cifar100"][next(iter(data["cifar100"]))]["note"] = "rerun"  # another field that is not a score
    src = write(tmp_path, data)
    for ds, n in zip(REAL_DATASETS, (9, 9, 8)):
        out = tmp_path / ds
        assert main(["scores", "import", "--from", "naslib", str(src), "--dataset", ds, "--out", str(out)]) == 0
        printed = capsys.readouterr().out
        assert f"imported {n} architectures x 12 proxies of dataset {ds!r}" in printed
        run = load_run(out)
        assert set(run.scores["proxy"]) == set(REAL_PROXIES)
        assert len(run.scores) == 12 * n - (ds == "cifar10")
        gt = run.ground_truth.set_index("arch_index")["value"]
        assert len(gt) == n and set(run.ground_truth["dataset"]) == {N.NASLIB_DATASETS[ds][0]}
        for key, entry in data[ds].items():
            idx = nb201.arch_to_index(N.parse_arch_key(key))
            assert gt.loc[idx] == entry["val_accuracy"]
            got = run.scores[(run.scores["arch_index"] == idx) & (run.scores["proxy"] == "epe_nas")]
            assert got[["score", "seconds"]].values.tolist() == [[entry["epe_nas"]["score"],
                                                                  entry["epe_nas"]["time"]]]
        fields = run.metadata["source"]["arch_fields"]
        assert fields == {key: {f: v for f, v in entry.items() if f in ("idx", "arch", "note")}
                          for key, entry in data[ds].items()}
        assert ("note" in printed) == (ds == "cifar100") and "arch, idx" in printed


def test_the_published_shape_round_trips_with_its_fields(tmp_path, capsys):
    data = real_shape_file(7, seed=3)
    data["ImageNet16-120"][next(iter(data["ImageNet16-120"]))]["nwot"]["score"] = -math.inf  # as in the file
    src = write(tmp_path, data)
    for ds in REAL_DATASETS:
        out, back = tmp_path / ds, tmp_path / f"{ds}.json"
        assert main(["scores", "import", "--from", "naslib", str(src), "--dataset", ds, "--out", str(out)]) == 0
        assert main(["scores", "export", str(out), "--to", "naslib", "--out", str(back)]) == 0
        got = json.loads(back.read_text())
        want = json.loads(json.dumps({ds: data[ds]}).replace("-Infinity", "null"))  # non-finite -> null
        assert got == want
        assert list(next(iter(got[ds].values())))[:2] == ["idx", "arch"]
    capsys.readouterr()
    # an eval run (no fields kept) exports without them
    scores, _, _ = N.from_naslib(data, "cifar10")
    obj, _ = N.to_naslib(scores, None, "cifar10")
    assert all("idx" not in e and "arch" not in e for e in obj["cifar10"].values())
    assert N.fields_of_run({"source": {"format": "naslib", "dataset": "cifar100", "arch_fields": {"k": {}}}},
                           "cifar10") == {}


def test_export_of_bundled_ground_truth_and_multi_seed_scores(tmp_path):
    archs = [0, 1, 2]
    scores = pd.DataFrame([{"arch_index": i, "arch": nb201.index_to_arch(i), "proxy": "snip", "seed": s,
                            "score": float(i + s) if (i, s) != (2, 1) else math.nan, "seconds": 1.0 + s,
                            "status": "ok", "error": ""} for i in archs for s in (0, 1)])
    bench = load_benchmark("nb201-cifar10")
    gt = bench.ground_truth[bench.ground_truth["arch_index"].isin(archs)]
    obj, notes = N.to_naslib(scores, gt, "cifar10")
    val = bench.table("cifar10-valid", "val_acc")
    for i in archs:
        entry = obj["cifar10"][N.arch_key(nb201.index_to_arch(i))]
        assert entry["val_accuracy"] == val.loc[i]
        assert entry["snip"]["time"] == 1.5
    assert obj["cifar10"][N.arch_key(nb201.index_to_arch(1))]["snip"]["score"] == 1.5  # mean over seeds
    assert obj["cifar10"][N.arch_key(nb201.index_to_arch(2))]["snip"]["score"] == 2.0  # the finite seed only
    assert notes == []
    obj, notes = N.to_naslib(scores, gt, "cifar10", accuracy="none")
    assert "val_accuracy" not in next(iter(obj["cifar10"].values())) and "--accuracy none" in notes[0]
    with pytest.raises(ValueError, match="unknown ground truth 'kd_acc'"):
        N.to_naslib(scores, gt, "cifar10", accuracy="kd_acc")


def test_import_with_bundled_ground_truth(tmp_path, capsys):
    src = write(tmp_path, mini_file(8))
    out = tmp_path / "run"
    assert main(["scores", "import", "--from", "naslib", str(src), "--ground-truth", "bundled",
                 "--out", str(out)]) == 0
    run = load_run(out)
    assert run.metadata["benchmark"]["name"] == "nb201-cifar10"
    assert set(zip(run.ground_truth["dataset"], run.ground_truth["metric"])) == {("cifar10", "test_acc"),
                                                                                ("cifar10-valid", "val_acc")}
    assert run.ground_truth["arch_index"].nunique() == 8
    # the export takes cifar10-valid/val_acc of the bundled table
    back = tmp_path / "back.json"
    assert main(["scores", "export", str(out), "--to", "naslib", "--out", str(back)]) == 0
    val = load_benchmark("nb201-cifar10").table("cifar10-valid", "val_acc")
    for key, entry in json.loads(back.read_text())["cifar10"].items():
        assert entry["val_accuracy"] == val.loc[nb201.arch_to_index(N.parse_arch_key(key))]


@pytest.mark.parametrize("content, args, message", [
    ({"cifar-10": {}}, [], "unknown NASLib dataset key 'cifar-10'"),
    (mini_file(3, ("cifar10", "cifar100")), [], "several datasets (cifar10, cifar100)"),
    (mini_file(3), ["--dataset", "ImageNet16-120"], "dataset 'ImageNet16-120' is not in the file"),
    ({"cifar10": {"(0, 2, 3)": {}}}, [], "bad architecture key '(0, 2, 3)'"),
    ({"cifar10": {"(0, 2, 3, 2, 3, 1)": {"nwot": 3.0}}}, [], "'nwot': expected {'score': x, 'time': t}"),
    ({"cifar10": {"(0, 2, 3, 2, 3, 1)": {"nwot": {"score": "high"}}}}, [], "'nwot' score must be a number"),
    ({"cifar10": {"(0, 2, 3, 2, 3, 1)": {"nwot": {"score": 1}}, "(0,2,3,2,3,1)": {"nwot": {"score": 1}}}}, [],
     "are the same architecture"),
    ({"cifar10": {"(0, 2, 3, 2, 3, 1)": {"val_accuracy": 50.0}}}, [], "holds no proxy scores"),
    ({"cifar10": {"(0, 2, 3, 2, 3, 1)": {"jacov": {"score": 1}, "jacob_cov": {"score": 2}}}}, [],
     "'jacob_cov' and 'jacov' are both 'jacov'"),
    ([1, 2], [], "must hold a non-empty JSON object"),
    ({"cifar10": {"(0, 2, 3, 2, 3, 1)": {"idx": "534", "nwot": "534"}}}, [],
     "'nwot': expected {'score': x, 'time': t} (or the number 'val_accuracy', or a per-architecture field that "
     "is not a proxy), got '534'"),
    ({"cifar10": {"(0, 2, 3, 2, 3, 1)": {"arch": "(0, 2, 3, 2, 3, 4)", "nwot": {"score": 1}}}}, [],
     "arch '(0, 2, 3, 2, 3, 1)', 'arch': expected the architecture of its key, got '(0, 2, 3, 2, 3, 4)'"),
    ({"cifar10": {"(0, 2, 3, 2, 3, 1)": {"arch": 7, "nwot": {"score": 1}}}}, [],
     "'arch': expected the architecture of its key, got 7"),
    ({"cifar10": {"(0, 2, 3, 2, 3, 1)": {"idx": "five", "nwot": {"score": 1}}}}, [],
     "'idx': expected NASLib's index, a whole number, got 'five'"),
    ({"cifar10": {"(0, 2, 3, 2, 3, 1)": {"idx": "5", "extra": {"value": 1}, "nwot": {"score": 1}}}}, [],
     "'extra': expected {'score': x, 'time': t}"),
])
def test_import_refuses_bad_input(tmp_path, capsys, content, args, message):
    src = write(tmp_path, content)
    out = tmp_path / "run"
    assert main(["scores", "import", "--from", "naslib", str(src), "--out", str(out), *args]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_import_and_export_refuse_bad_files_and_places(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["scores", "import", "--from", "naslib", str(bad), "--out", str(tmp_path / "r")]) == 2
    assert "bad.json: invalid JSON" in capsys.readouterr().err
    assert main(["scores", "import", "--from", "naslib", str(tmp_path / "none.json"), "--out", str(tmp_path / "r")]
                ) == 2
    src = write(tmp_path, mini_file(3))
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "x").write_text("")
    assert main(["scores", "import", "--from", "naslib", str(src), "--out", str(taken)]) == 2
    assert "is not an empty directory" in capsys.readouterr().err
    assert main(["scores", "import", "--from", "csv", str(src), "--out", str(tmp_path / "r")]) == 2
    # a run of another benchmark: the dataset key must be given, and must be NASLib's
    run = tmp_path / "eval"
    run.mkdir()
    pd.DataFrame({"arch_index": [0], "arch": [nb201.index_to_arch(0)], "proxy": ["nwot"], "seed": [0],
                  "score": [1.0], "seconds": [0.1], "status": ["ok"], "error": [""]}).to_csv(run / "scores.csv")
    assert main(["scores", "export", str(run), "--to", "naslib", "--out", str(tmp_path / "o.json")]) == 2
    assert "give --dataset (cifar10, cifar100, ImageNet16-120)" in capsys.readouterr().err
    assert main(["scores", "export", str(run), "--to", "naslib", "--dataset", "svhn", "--out",
                 str(tmp_path / "o.json")]) == 2
    assert "unknown NASLib dataset key 'svhn'" in capsys.readouterr().err
    assert main(["scores", "export", str(run), "--to", "naslib", "--dataset", "cifar10", "--out",
                 str(tmp_path / "o.json")]) == 0
    assert "the run has no ground truth" in capsys.readouterr().out


def test_jacob_cov_is_accepted_where_proxy_names_are_parsed(capsys):
    from proxybench.engine.config import resolve_proxies
    from proxybench.search.fitness import parse_fitness

    assert resolve_proxies("jacob_cov,nwot", has_teacher=False)[0] == ["jacov", "nwot"]
    assert parse_fitness("jacob_cov") == ("proxy", ["jacov"])
    assert parse_fitness("ens:jacob_cov+snip") == ("ensemble", ["jacov", "snip"])
    assert main(["list", "proxies", "jacob_cov"]) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith("jacov")
    with pytest.raises(ValueError, match="unknown proxy 'jacob'"):
        resolve_proxies("jacob", has_teacher=False)


def test_naslib_proxy_names_are_proxybench_proxies_with_its_sign():
    from proxybench.proxies import all_specs

    specs = all_specs()
    for name in (*N.NASLIB_PROXIES, *N.PROXY_ALIASES):
        assert N.proxy_name(name) in specs
        assert specs[N.proxy_name(name)].direction == 1


@pytest.mark.slow
def test_real_accuracies_through_a_naslib_file(shared_data, tmp_path):
    """All 15,625 cells with NB201's validation accuracies (as NAS-Bench-Suite-Zero uses them) and the exact
    params / FLOPs counts as scores, written in NASLib's encoding and imported: the file's accuracies land on the
    same cells as the bundled benchmark's, and params / FLOPs rank them as NAS-Bench-Suite-Zero reports (Spearman rho
    .74 / .71 on CIFAR-10)."""
    df = pd.read_csv(shared_data / "nb201" / "nb201_accuracies.csv")
    counts = [nb201.nb201_counts(a) for a in df["arch"]]
    data = {"cifar10": {N.arch_key(a): {"params": {"score": p, "time": 0.0}, "flops": {"score": f, "time": 0.0},
                                        "val_accuracy": v}
                        for a, (p, f), v in zip(df["arch"], counts, df["cifar10_val"])}}
    src = write(tmp_path, data)
    runs = {}
    for gt in ("file", "bundled"):
        runs[gt] = tmp_path / gt
        assert main(["scores", "import", "--from", "naslib", str(src), "--ground-truth", gt,
                     "--out", str(runs[gt])]) == 0
    a = load_run(runs["file"]).ground_truth.set_index("arch_index")["value"]
    b = load_benchmark("nb201-cifar10").table("cifar10-valid", "val_acc")
    assert len(a) == 15625 and np.allclose(a.sort_index().to_numpy(), b.loc[a.sort_index().index].to_numpy())
    run = load_run(runs["file"])
    corr = correlate(run.scores, run.ground_truth, statistics=("spearman",), ci=False)
    rho = corr[(corr["aggregate"] == "score_mean") & (corr["statistic"] == "spearman")].set_index("proxy")["value"]
    assert rho["params"] == pytest.approx(0.74, abs=0.05) and rho["flops"] == pytest.approx(0.71, abs=0.05)


def test_dataset_of_a_run():
    assert N.dataset_of_run({"source": {"format": "naslib", "dataset": "cifar100"}}) == "cifar100"
    assert N.dataset_of_run({"benchmark": {"name": "nb201-imagenet16"}}) == "ImageNet16-120"
    assert N.dataset_of_run({"benchmark": {"name": "nb201-kd-fmnist16"}}) is None
    assert N.dataset_of_run({}) is None
