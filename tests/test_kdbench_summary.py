"""Status figures of a KD build (`kdbench.summarize`, `kd-bench status`) on small run tables with known answers."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from proxybench.benchmarks.nb201.space import index_to_arch
from proxybench.cli import main
from proxybench.distill import kdbench
from proxybench.distill.protocol import Protocol


def table(vanilla, kd, seeds_vanilla=None, seconds=None, threads=None, device=None):
    """A run table: one cell per position; ``seeds_vanilla`` adds vanilla accuracies of seeds 1, 2, ...; the
    optional compute columns are given per row, in order of the rows built."""
    rows = []
    for a, (v, k) in enumerate(zip(vanilla, kd)):
        rows.append(dict(arch_index=a, seed=0, mode="vanilla", test_acc=float(v)))
        rows.append(dict(arch_index=a, seed=0, mode="kd", test_acc=float(k)))
    for s, accs in enumerate(seeds_vanilla or [], start=1):
        rows += [dict(arch_index=a, seed=s, mode="vanilla", test_acc=float(v)) for a, v in enumerate(accs)]
    df = pd.DataFrame(rows)
    for name, values in (("seconds", seconds), ("threads", threads), ("device", device)):
        if values is not None:
            df[name] = values
    return df


def test_existing_keys_are_kept():
    s = kdbench.summarize(table([80, 70, 60, 50], [82, 75, 58, 55]))
    for key in ("runs", "vanilla_acc_range", "vanilla_acc_mean", "kd_acc_range", "kd_acc_mean", "archs_with_both",
                "kd_gain_mean", "kd_better_fraction", "kd_gain_min", "kendall_tau_kd_vs_vanilla",
                "best_vanilla_arch", "best_kd_arch"):
        assert key in s, key


def test_kd_gain_fractions_and_constant_gain_ci():
    # gains +1 everywhere: mean 1, every resample has mean 1
    s = kdbench.summarize(table([50, 60, 70, 80, 90], [51, 61, 71, 81, 91]))
    assert s["kd_gain_mean"] == 1.0 and s["kd_gain_ci"] == [1.0, 1.0]
    assert s["kd_better_fraction"] == 1.0 and s["kd_loses_3pt_fraction"] == 0.0
    # gains -4, -3, 0, +2: KD better on 1 of 4, loses more than 3 points on 1 of 4 (-3 is not more than 3)
    s = kdbench.summarize(table([80, 80, 80, 80], [76, 77, 80, 82]))
    assert s["kd_gain_mean"] == pytest.approx(-1.25)
    assert s["kd_better_fraction"] == 0.25 and s["kd_loses_3pt_fraction"] == 0.25
    lo, hi = s["kd_gain_ci"]
    assert -4 <= lo <= -1.25 <= hi <= 2


def test_kd_gain_ci_is_scipys_percentile_bootstrap_of_the_mean():
    rng = np.random.default_rng(3)
    vanilla = rng.uniform(70, 90, 40)
    kd = vanilla + rng.normal(0.8, 1.0, 40)
    s = kdbench.summarize(table(vanilla, kd), n_resamples=999, seed=7)
    ref = scipy.stats.bootstrap(((kd - vanilla),), np.mean, n_resamples=999, method="percentile",
                                rng=np.random.default_rng(7)).confidence_interval
    assert s["kd_gain_ci"] == [round(ref.low, 3), round(ref.high, 3)]
    assert 0 < s["kd_gain_ci"][0] < s["kd_gain_mean"] < s["kd_gain_ci"][1]  # clearly positive gains
    again = kdbench.summarize(table(vanilla, kd), n_resamples=999, seed=7)
    assert again == s  # deterministic for a seed


def test_kendall_tau_kd_vs_vanilla_ci():
    same = kdbench.summarize(table([50, 60, 70, 80, 90], [52, 61, 75, 81, 92]))
    assert same["kendall_tau_kd_vs_vanilla"] == 1.0 and same["kendall_tau_kd_vs_vanilla_ci"] == [1.0, 1.0]
    reverse = kdbench.summarize(table([50, 60, 70, 80, 90], [92, 81, 75, 61, 52]))
    assert reverse["kendall_tau_kd_vs_vanilla"] == -1.0 and reverse["kendall_tau_kd_vs_vanilla_ci"] == [-1.0, -1.0]
    rng = np.random.default_rng(0)
    v = rng.uniform(70, 90, 30)
    k = v + rng.normal(0, 4, 30)
    s = kdbench.summarize(table(v, k))
    lo, hi = s["kendall_tau_kd_vs_vanilla_ci"]
    assert lo < s["kendall_tau_kd_vs_vanilla"] < hi and -1 <= lo and hi <= 1


def test_noise_tau_and_its_ci_over_cells():
    v0 = [50, 60, 70, 80, 90]
    # seed 1 keeps the order, seed 2 swaps the two best cells: taus 1 (0-1), 0.8 (0-2), 0.8 (1-2), mean 13/15
    s = kdbench.summarize(table(v0, v0, seeds_vanilla=[[51, 61, 71, 81, 91], [50, 60, 70, 95, 85]]))
    assert s["noise_tau_vanilla"] == pytest.approx(round(2.6 / 3, 4))
    assert s["noise_archs_vanilla"] == 5
    lo, hi = s["noise_tau_vanilla_ci"]
    assert lo <= s["noise_tau_vanilla"] <= hi <= 1.0
    perfect = kdbench.summarize(table(v0, v0, seeds_vanilla=[[51, 61, 71, 81, 91]]))
    assert perfect["noise_tau_vanilla"] == 1.0 and perfect["noise_tau_vanilla_ci"] == [1.0, 1.0]
    assert "noise_tau_kd" not in perfect  # one KD seed


def test_best_vanilla_and_best_kd_cells():
    s = kdbench.summarize(table([80, 88, 60, 85], [84, 86, 62, 89]))
    assert s["best_vanilla_cell"] == {"arch_index": 1, "vanilla_acc": 88.0, "kd_acc": 86.0}
    assert s["best_kd_cell"] == {"arch_index": 3, "vanilla_acc": 85.0, "kd_acc": 89.0}
    assert s["best_vanilla_arch"] == 1 and s["best_kd_arch"] == 3


def test_compute_hours():
    # 8 runs: 6 on a CPU with 2 threads for 1800 s, 2 on a GPU for 900 s
    df = table([80, 70, 60, 50], [82, 75, 58, 55], seconds=[1800.0] * 6 + [900.0] * 2,
               threads=[2] * 8, device=["cpu"] * 6 + ["cuda"] * 2)
    s = kdbench.summarize(df)
    assert s["train_hours"] == 3.5 and s["cpu_hours"] == 6.0 and s["gpu_hours"] == 0.5
    s = kdbench.summarize(table([80, 70, 60, 50], [82, 75, 58, 55], seconds=[450.0] * 8, threads=[1] * 8,
                                device=["cpu"] * 8))
    assert s["cpu_hours"] == 1.0 and "gpu_hours" not in s


def test_too_few_cells_give_no_ci():
    s = kdbench.summarize(table([80, 70], [82, 75]))
    assert s["archs_with_both"] == 2 and "kd_gain_ci" not in s
    assert kdbench.summarize(pd.DataFrame(columns=list(kdbench.RUN_COLUMNS))) == {"runs": 0}


def test_status_shows_teacher_recipe_and_figures(tmp_path, capsys):
    d = tmp_path / "build"
    d.mkdir()
    Protocol(name="p", dataset="synthetic", alpha=0.5, temperature=2.0, distiller="oracle").save(d / "protocol.json")
    (d / "teacher.json").write_text(json.dumps({
        "spec": "ensemble:resnet20,resnet20", "test_acc": 91.0, "ensemble_test_acc": 91.0, "oracle_test_acc": 95.5,
        "member_test_acc": [89.0, 90.0], "members": [{"spec": "resnet20", "test_acc": 89.0, "seed": 0, "train": {}},
                                                     {"spec": "resnet20", "test_acc": 90.0, "seed": 1}]}))
    store = kdbench.RunStore(d / "runs.sqlite")
    for i, row in table([80, 70, 60], [82, 75, 58]).iterrows():
        full = {c: None for c in kdbench.RUN_COLUMNS}
        full.update(row.to_dict(), arch="a", seconds=60.0, threads=1, device="cpu", finished_at=f"t{i}")
        store.add(full)
    store.close()
    assert main(["kd-bench", "status", str(d)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["teacher"]["oracle_test_acc"] == 95.5 and out["teacher"]["member_test_acc"] == [89.0, 90.0]
    assert out["teacher"]["members"][0] == {"spec": "resnet20", "test_acc": 89.0, "seed": 0}
    assert out["recipe"]["alpha"] == 0.5 and out["recipe"]["distiller"] == "oracle"
    assert out["kd_gain_mean"] == pytest.approx(5 / 3, abs=1e-3) and len(out["kd_gain_ci"]) == 2
    assert out["cpu_hours"] == 0.1


def _build_dir(d, protocol: Protocol, rows):
    """A build directory holding ``protocol`` and the runs ``rows`` of (arch_index, seed, mode, test_acc)."""
    d.mkdir()
    protocol.save(d / "protocol.json")
    store = kdbench.RunStore(d / "runs.sqlite")
    for i, (arch, seed, mode, acc) in enumerate(rows):
        full = {c: None for c in kdbench.RUN_COLUMNS}
        full.update(arch_index=arch, arch=index_to_arch(arch), seed=seed, mode=mode, test_acc=acc, seconds=60.0,
                    threads=1, device="cpu", finished_at=f"t{i}")
        store.add(full)
    store.close()
    return d


def test_sweep_table_pairs_kd_only_candidates_with_the_reference_vanilla_runs(tmp_path):
    ref = _build_dir(tmp_path / "ref", Protocol(name="ref", dataset="synthetic", alpha=0.9, temperature=4.0),
                     [(1, 0, "vanilla", 80.0), (2, 0, "vanilla", 70.0), (1, 0, "kd", 75.0)])
    kd_only = _build_dir(tmp_path / "a0.5", Protocol(name="c", dataset="synthetic", alpha=0.5, temperature=1.0),
                         [(1, 0, "kd", 81.0), (2, 0, "kd", 69.0), (3, 0, "kd", 90.0)])
    own = _build_dir(tmp_path / "aug", Protocol(name="g", dataset="synthetic", alpha=0.5, temperature=1.0,
                                                augmentation="crop_flip"),
                     [(1, 0, "vanilla", 78.0), (1, 0, "kd", 79.5), (2, 0, "kd", 71.0)])
    t = kdbench.sweep_table([kd_only, own], vanilla_from=[ref]).set_index(["candidate", "arch_index"])
    assert t.loc[("a0.5", 1), "vanilla_acc"] == 80.0 and t.loc[("a0.5", 1), "kd_gain"] == pytest.approx(1.0)
    assert t.loc[("a0.5", 2), "kd_gain"] == pytest.approx(-1.0) and t.loc[("a0.5", 2), "vanilla_from"] == "ref"
    assert np.isnan(t.loc[("a0.5", 3), "kd_gain"]) and t.loc[("a0.5", 3), "vanilla_from"] == ""
    # another vanilla protocol (augmentation): only its own vanilla runs count
    assert t.loc[("aug", 1), "vanilla_from"] == "own" and t.loc[("aug", 1), "kd_gain"] == pytest.approx(1.5)
    assert np.isnan(t.loc[("aug", 2), "vanilla_acc"])
    s = {e["candidate"]: e for e in kdbench.sweep_summary(t.reset_index())}
    assert s["a0.5"]["cells"] == 2 and s["a0.5"]["mean_gain"] == 0.0 and s["a0.5"]["worst_gain"] == -1.0
    assert s["a0.5"]["kd_better_fraction"] == 0.5 and s["a0.5"]["alpha"] == 0.5
    assert s["aug"]["cells"] == 1 and s["aug"]["augmentation"] == "crop_flip"
    assert [e["candidate"] for e in kdbench.sweep_summary(t.reset_index())] == ["aug", "a0.5"]  # best mean first
    # the list of dicts a bundled table's metadata stores gives the same summary
    assert kdbench.sweep_summary(t.reset_index().to_dict(orient="records")) == kdbench.sweep_summary(t.reset_index())
    with pytest.raises(FileNotFoundError, match="not a kd-bench build directory"):
        kdbench.sweep_table([kd_only], vanilla_from=[tmp_path / "missing"])


def test_status_of_an_exported_benchmark(tmp_path, capsys):
    d = _build_dir(tmp_path / "b", Protocol(name="p", dataset="synthetic", alpha=0.5, temperature=1.0),
                   [(a, 0, mode, acc) for a, (v, k) in enumerate([(80, 81), (70, 72), (60, 59), (50, 52)])
                    for mode, acc in (("vanilla", float(v)), ("kd", float(k)))])
    (d / "teacher.json").write_text(json.dumps({"spec": "resnet20", "test_acc": 92.0}))
    sweep = [{"candidate": "a0.5-T1", "alpha": 0.5, "temperature": 1.0, "kd_gain": g} for g in (1.0, -0.5)]
    meta = kdbench.export_ground_truth(d, tmp_path / "t.pbgt", name="t", dataset_label="syn",
                                       extra_metadata={"sweep": {"choice": "the only one", "runs": sweep}})
    assert main(["kd-bench", "status", str(tmp_path / "t.pbgt")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["kd_gain_mean"] == meta["summary"]["kd_gain_mean"] == pytest.approx(1.0)
    assert out["teacher"] == {"spec": "resnet20", "test_acc": 92.0} and out["recipe"]["alpha"] == 0.5
    assert out["sweep"]["choice"] == "the only one"
    assert out["sweep"]["candidates"] == [{"candidate": "a0.5-T1", "alpha": 0.5, "temperature": 1.0, "cells": 2,
                                           "mean_gain": 0.25, "worst_gain": -0.5, "kd_better_fraction": 0.5}]
    # a table that is not a KD benchmark, and a name that is nothing, are errors naming what is valid
    from proxybench.benchmarks.groundtruth import GroundTruth

    GroundTruth(ground_truth=pd.DataFrame({"arch_index": [1, 2], "arch": [index_to_arch(1), index_to_arch(2)],
                                           "dataset": "d",
                                           "metric": "acc", "value": [1.0, 2.0], "seed": 0}),
                metadata={"name": "plain"}).save(tmp_path / "plain.pbgt")
    assert main(["kd-bench", "status", str(tmp_path / "plain.pbgt")]) == 2
    assert "is not a KD benchmark" in capsys.readouterr().err
    assert main(["kd-bench", "status", "no-such-benchmark"]) == 2
    assert "registered KD benchmarks:" in capsys.readouterr().err
