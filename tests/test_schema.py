"""The CSV/Parquet column names are documented in one place (proxybench.schema) and every writer follows it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import proxybench
from proxybench import schema
from proxybench.analysis import COLUMNS, COMPARE_COLUMNS, NOISE_COLUMNS, load_run, read_table, write_report
from proxybench.analysis.rundir import split_legacy_correlations
from proxybench.benchmarks.groundtruth import COLUMNS as GT_COLUMNS
from proxybench.benchmarks.groundtruth import GroundTruth
from proxybench.engine.store import SCORE_COLUMNS


def test_every_table_is_documented_once():
    assert list(schema.TABLES) == ["scores", "ground_truth", "correlations", "noise_ceiling", "comparisons",
                                   "predictor"]
    assert SCORE_COLUMNS == list(schema.SCORES.names)
    assert list(GT_COLUMNS) == list(schema.GROUND_TRUTH.names)
    assert COLUMNS == list(schema.CORRELATIONS.names)
    assert NOISE_COLUMNS == list(schema.NOISE_CEILING.names)
    assert COMPARE_COLUMNS == list(schema.COMPARISONS.names)
    text = schema.markdown()
    for table in schema.TABLES.values():
        assert f"**`{table.name}`**" in text
        assert len(set(table.names)) == len(table.names) and all(c.description for c in table.columns)
        for column in table.names:
            assert f"| `{column}` |" in text
    assert schema.CORRELATION_AGGREGATES[0] == proxybench.analysis.HEADLINE == "score_mean"
    assert schema.NOISE_CEILING_AGGREGATES[0] == proxybench.analysis.NOISE_HEADLINE == "mean_over_pairs"


def test_kd_build_table_columns_are_listed_beside_the_schema():
    from proxybench.distill.kdbench import RUN_COLUMNS

    assert RUN_COLUMNS[:4] == ("arch_index", "arch", "seed", "mode")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A real run: 6 archs x 2 score seeds, a ground truth with KD and vanilla accuracy on 2 training seeds."""
    tmp = tmp_path_factory.mktemp("schema")
    rng = np.random.default_rng(0)
    archs = [0, 7, 100, 2024, 7777, 15000]
    rows = [{"arch_index": i, "dataset": "fashion-mnist", "metric": m, "value": float(rng.uniform(50, 90)), "seed": s}
            for i in archs for m in ("kd_acc", "vanilla_acc") for s in (0, 1)]
    meta = {"name": "schema", "data": {"dataset": "fashion-mnist", "resolution": 8, "channels": 3, "num_classes": 10},
            "network": {"C": 4, "N": 1}}
    bench = GroundTruth(pd.DataFrame(rows), meta).save(tmp / "schema.pbgt")
    out = tmp / "run"
    proxybench.evaluate(bench, proxies="params,flops,nwot", seeds=2, batch_size=8, out=out, quiet=True,
                        ci_resamples=20, formats="csv,parquet", report=False)
    return out


@pytest.mark.parametrize("name", ["scores", "ground_truth", "correlations", "noise_ceiling", "kd_vs_vanilla"])
def test_run_directory_tables_follow_the_schema(run_dir, name):
    table = schema.TABLES["comparisons" if name == "kd_vs_vanilla" else name]
    for fmt in ("csv", "parquet"):
        df = read_table(run_dir / f"{name}.{fmt}", name)
        assert list(df.columns) == list(table.names), fmt
        for column in table.columns:
            if column.dtype.startswith("Int64"):
                assert df[column.name].dtype == "Int64", (fmt, column.name)


def test_run_directory_rows_are_tidy(run_dir):
    run = load_run(run_dir)
    corr, noise = run.correlations, run.noise_ceiling
    assert set(corr["aggregate"]) == set(schema.CORRELATION_AGGREGATES)
    assert (corr["seed"].notna() == (corr["aggregate"] == schema.PER_SEED)).all()
    assert not corr.duplicated(["proxy", "ground_truth", "statistic", "aggregate", "seed"]).any()
    assert set(noise["aggregate"]) == set(schema.NOISE_CEILING_AGGREGATES) and set(noise["seed_a"].dropna()) == {0}
    assert (noise["seed_a"].notna() == (noise["aggregate"] == schema.PER_PAIR)).all()
    assert set(run.ground_truth["seed"]) == {0, 1}


def test_old_correlations_table_is_read_into_the_current_layout(run_dir, tmp_path):
    old = pd.DataFrame({
        "proxy": ["p", "p", "p", "p", "p", "noise_ceiling", "noise_ceiling", "noise_ceiling", "noise_ceiling"],
        "ground_truth": "acc", "statistic": "kendall",
        "seed": ["avg_score", "0", "1", "mean", "std", "avg_score", "0-1", "mean", "std"],
        "value": [0.5, 0.4, 0.6, 0.5, 0.14, 0.8, 0.8, 0.8, np.nan], "ci_low": np.nan, "ci_high": np.nan,
        "p_value": np.nan, "n": 10, "n_dropped": 0, "n_missing": 0})
    corr, noise = split_legacy_correlations(old)
    assert corr["aggregate"].tolist() == ["score_mean", "per_seed", "per_seed", "mean_over_seeds", "std_over_seeds"]
    assert corr["seed"].tolist()[1:3] == [0, 1] and corr["seed"].isna().sum() == 3
    assert noise["aggregate"].tolist() == ["mean_over_pairs", "per_pair", "std_over_pairs"]
    assert noise[["seed_a", "seed_b"]].iloc[1].tolist() == [0, 1]
    # an old run directory: its report still builds, with the noise ceiling
    d = tmp_path / "old"
    d.mkdir()
    for name in ("scores", "ground_truth"):
        (d / f"{name}.csv").write_bytes((run_dir / f"{name}.csv").read_bytes())
    legacy = old.assign(ground_truth="kd_acc")
    legacy.to_csv(d / "correlations.csv", index=False)
    run = load_run(d)
    assert list(run.correlations.columns) == COLUMNS and run.noise_ceiling["value"].iloc[0] == 0.8
    md, _ = write_report(d, figures=False)
    text = md.read_text()
    assert "the noise ceiling (seed-to-seed τ of the benchmark) is 0.80, from 10 architectures" in text
    assert "*noise ceiling (seed-to-seed)* | *0.80*" in text
