"""The KD benchmarks shipped with proxybench: their metadata figures are those of the table they ship, v2 is the
default of ``proxybench eval`` and meets the recipe requirements it was built for, and v1 stays registered."""

from __future__ import annotations

import pandas as pd
import pytest

import proxybench
from proxybench.distill.kdbench import summarize
from proxybench.engine.settings import DEFAULT_BENCHMARK

FIGURES = ("kd_gain_mean", "kd_gain_ci", "kd_better_fraction", "kd_loses_3pt_fraction", "kd_gain_min",
           "kendall_tau_kd_vs_vanilla", "kendall_tau_kd_vs_vanilla_ci", "best_vanilla_arch", "best_kd_arch",
           "noise_tau_vanilla", "noise_tau_vanilla_ci", "noise_tau_kd", "noise_tau_kd_ci", "vanilla_acc_range",
           "kd_acc_range", "archs_with_both")


def runs_of(gt) -> pd.DataFrame:
    """The run table behind a KD benchmark: one row per (cell, seed, mode)."""
    df = gt.ground_truth
    return pd.DataFrame({"arch_index": df["arch_index"], "seed": df["seed"],
                         "mode": df["metric"].str.removesuffix("_acc"), "test_acc": df["value"]})


@pytest.mark.parametrize("name", ["nb201-kd-fmnist16", "nb201-kd-fmnist16-v2"])
def test_metadata_figures_are_the_tables(name):
    gt = proxybench.load_benchmark(name)
    shipped = gt.metadata["summary"]
    again = summarize(runs_of(gt))
    for key in FIGURES:
        assert again[key] == pytest.approx(shipped[key], abs=1e-3), key
    assert gt.metadata["build"]["complete"]


def test_v2_is_the_default_and_meets_its_requirements():
    assert DEFAULT_BENCHMARK == "nb201-kd-fmnist16-v2"
    gt = proxybench.load_benchmark(DEFAULT_BENCHMARK)
    wide = runs_of(gt).groupby(["arch_index", "mode"])["test_acc"].mean().unstack("mode")
    gain = (wide["kd"] - wide["vanilla"]).dropna()
    # issue 17: >= 200 unique cells with both modes, a noise subset of >= 20 cells x 3 seeds in both modes
    assert len(gain) >= 200 and gt.n_archs() == len(gain)
    seeds = runs_of(gt).groupby(["mode", "arch_index"])["seed"].nunique()
    assert (seeds["kd"] >= 3).sum() >= 20 and (seeds["vanilla"] >= 3).sum() >= 20
    # the recipe: mean gain >= +0.5 with a CI above 0, KD better on >= 65 %, <= 2 % of cells lose > 3 points
    summary = gt.metadata["summary"]
    assert gain.mean() >= 0.5 and summary["kd_gain_ci"][0] > 0
    assert (gain > 0).mean() >= 0.65 and (gain < -3).mean() <= 0.02
    assert gt.metadata["protocol"]["alpha"] == 0.5 and gt.metadata["protocol"]["temperature"] == 1.0


def test_both_versions_ship_one_teacher_and_v1s_cells_are_in_v2():
    v1, v2 = (proxybench.load_benchmark(n) for n in ("nb201-kd-fmnist16", "nb201-kd-fmnist16-v2"))
    assert v1.metadata["teacher"]["checkpoint"] == v2.metadata["teacher"]["checkpoint"]
    assert (v1.path.parent / v1.metadata["teacher"]["checkpoint"]).is_file()
    assert set(v1.ground_truth["arch_index"]) <= set(v2.ground_truth["arch_index"])
    # v2 reuses v1's vanilla runs (same vanilla protocol and seeds): the shared runs are the same accuracies
    key = ["arch_index", "seed"]
    a = v1.ground_truth[v1.ground_truth["metric"] == "vanilla_acc"].set_index(key)["value"]
    b = v2.ground_truth[v2.ground_truth["metric"] == "vanilla_acc"].set_index(key)["value"]
    shared = a.index.intersection(b.index)
    assert len(shared) >= 150 and (a[shared] == b[shared]).all()
