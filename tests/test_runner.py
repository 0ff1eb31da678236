"""The evaluation runner end to end on a tiny benchmark: outputs, resume, refusal, errors, OOM splitting,
process pool and dask equality, a SIGKILL-and-resume run, and CLI exit codes."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import proxybench
from proxybench.benchmarks import groundtruth as gtm
from proxybench.benchmarks.groundtruth import GroundTruth
from proxybench.cli import main
from proxybench.engine import ConfigMismatchError, EvalSettings, run_eval, score_with_oom_split
from proxybench.engine.executors import halve_batches, is_oom
from proxybench.proxies import ProxyResult, registry

TEACHER = ("nb201:|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
           "@C=4,N=1")
ARCHS = [0, 7, 100, 2024, 7777, 15000]
PROXIES = "params,snip,nwot,synflow,kd"
FAST = {"batch_size": 8, "ci_resamples": 0, "quiet": True}


def make_benchmark(path: Path, archs=ARCHS, teacher=TEACHER) -> Path:
    rng = np.random.default_rng(1)
    rows = [{"arch_index": i, "dataset": "fashion-mnist", "metric": m, "value": float(rng.uniform(50, 90)),
             "seed": -1} for i in archs for m in ("kd_acc", "vanilla_acc")]
    meta = {"name": "tiny", "description": "six archs with made-up accuracies (tests)",
            "data": {"dataset": "fashion-mnist", "resolution": 8, "channels": 3, "num_classes": 10},
            "network": {"C": 4, "N": 1}, "teacher": {"spec": teacher} if teacher else None}
    GroundTruth(pd.DataFrame(rows), meta).save(path)
    return path


@pytest.fixture
def bench(tmp_path) -> Path:
    return make_benchmark(tmp_path / "tiny.pbgt")


@pytest.fixture
def one_thread():
    torch.set_num_threads(1)  # the conftest fixture restores the previous count


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(["arch_index", "seed", "proxy"]).reset_index(drop=True)


def _store_rows(run_dir: Path) -> list[tuple]:
    conn = sqlite3.connect(run_dir / "store.sqlite")
    try:
        return conn.execute("SELECT arch_index, proxy, seed, score, status FROM scores "
                            "ORDER BY arch_index, seed, proxy").fetchall()
    finally:
        conn.close()


# ---- in-process runs -------------------------------------------------------------------------------------------
def test_evaluate_writes_the_run_directory_and_is_deterministic(bench, tmp_path, one_thread):
    from proxybench.proxies.kd._teacher import clear_teacher_cache, teacher_cache_info

    run = tmp_path / "run"
    df = proxybench.evaluate(bench, proxies=PROXIES, seeds=2, out=run, formats="csv,parquet", report=False, **FAST)
    assert list(df.columns) == ["arch_index", "arch", "proxy", "seed", "score", "seconds", "status", "error"]
    assert len(df) == len(ARCHS) * 5 * 2 and (df["status"] == "ok").all()
    assert sorted(df["arch_index"].unique()) == ARCHS and sorted(df["seed"].unique()) == [0, 1]
    assert df.attrs["run_dir"] == str(run)
    for name in ("store.sqlite", "scores.csv", "scores.parquet", "ground_truth.csv", "correlations.csv",
                 "correlations.parquet", "kd_vs_vanilla.csv", "run.json"):
        assert (run / name).is_file(), name
    pd.testing.assert_frame_equal(_sorted(pd.read_parquet(run / "scores.parquet")), _sorted(df))
    csv = pd.read_csv(run / "scores.csv", keep_default_na=False, na_values=[""])
    np.testing.assert_array_equal(_sorted(csv)["score"].to_numpy(), _sorted(df)["score"].to_numpy())
    info = json.loads((run / "run.json").read_text())
    assert set(info["versions"]) >= {"proxybench", "torch", "numpy", "python"}
    assert info["config"]["identity"]["data"] == {"dataset": "fashion-mnist-sample", "resolution": 8, "channels": 3,
                                                  "num_classes": 10, "split": "test", "batch_size": 8,
                                                  "balanced": False}
    assert info["config"]["identity"]["network"] == {"C": 4, "N": 1, "init": "default"}
    assert info["seeds"] == [0, 1] and info["benchmark"]["metadata"]["name"] == "tiny"
    assert set(info["timing"]["per_proxy"]) == set(PROXIES.split(","))
    assert info["machine"]["cpu_count"] >= 1 and info["data"]["synthetic"] is False and info["warnings"] == []
    assert info["teacher"]["trained"] is False and info["teacher"]["source"] == "benchmark"
    corr = pd.read_csv(run / "correlations.csv")
    assert {"kd_acc", "vanilla_acc"} <= set(corr["ground_truth"]) and set(PROXIES.split(",")) <= set(corr["proxy"])
    gt = pd.read_csv(run / "ground_truth.csv")
    assert sorted(gt["arch_index"].unique()) == ARCHS
    # each proxy's tau on kd_acc minus its tau on vanilla_acc, equal to the two correlations above
    diffs = pd.read_csv(run / "kd_vs_vanilla.csv")
    assert sorted(diffs["proxy_a"]) == sorted(PROXIES.split(",")) and (diffs["proxy_a"] == diffs["proxy_b"]).all()
    assert set(diffs["ground_truth_a"]) == {"kd_acc"} and set(diffs["ground_truth_b"]) == {"vanilla_acc"}
    assert list(diffs["difference"]) == sorted(diffs["difference"], reverse=True)
    head = corr[(corr["aggregate"] == "score_mean") & (corr["statistic"] == "kendall")]
    head = head.set_index(["proxy", "ground_truth"])
    for _, r in diffs.iterrows():
        assert r["difference"] == pytest.approx(head.loc[(r["proxy_a"], "kd_acc"), "value"]
                                                - head.loc[(r["proxy_a"], "vanilla_acc"), "value"])

    # same settings, no run directory: bitwise the same scores; one teacher forward per seed for all archs
    clear_teacher_cache()
    again = proxybench.evaluate(bench, proxies=PROXIES, seeds=2, **FAST)
    assert again.attrs["run_dir"] is None
    np.testing.assert_array_equal(_sorted(again)["score"].to_numpy(), _sorted(df)["score"].to_numpy())
    assert teacher_cache_info()["teacher_forwards"] == 2


def test_resume_skips_stored_scores_extends_the_selection_and_refuses_changes(bench, tmp_path, one_thread):
    run = tmp_path / "run"
    first = proxybench.evaluate(bench, proxies="params,snip", archs=3, out=run, report=False, **FAST)
    assert first["arch_index"].nunique() == 3
    rows_before = _store_rows(run)
    # a larger selection scores only what is missing; stored rows are untouched, nothing is duplicated
    full = proxybench.evaluate(bench, proxies="params,snip,nwot", archs="all", out=run, report=False, **FAST)
    rows_after = _store_rows(run)
    assert len(rows_after) == len(ARCHS) * 3 == len(set((a, p, s) for a, p, s, *_ in rows_after))
    assert set(rows_before) <= set(rows_after)
    info = json.loads((run / "run.json").read_text())
    assert info["resumed"] and info["timing"]["units_resumed"] == 0  # every unit missed nwot
    assert info["timing"]["units_scored_this_session"] == len(ARCHS)
    # nothing left to do: the same command stores nothing new and returns the same table
    again = proxybench.evaluate(bench, proxies="params,snip,nwot", archs="all", out=run, report=False, **FAST)
    assert _store_rows(run) == rows_after
    pd.testing.assert_frame_equal(again, full)
    assert json.loads((run / "run.json").read_text())["timing"]["units_resumed"] == len(ARCHS)
    # a setting that changes scores is refused, naming the keys that differ
    with pytest.raises(ConfigMismatchError, match=r"data\.batch_size: 8 \(stored\) vs 16 \(now\)"):
        proxybench.evaluate(bench, proxies="params", out=run, report=False, **{**FAST, "batch_size": 16})
    with pytest.raises(ConfigMismatchError, match=r"network\.C: 4 \(stored\) vs 8 \(now\)"):
        proxybench.evaluate(bench, proxies="params", out=run, network={"C": 8}, report=False, **FAST)
    assert _store_rows(run) == rows_after


def _fail_on_pooling(ctx):
    """Test proxy: fails on cells with an avg_pool_3x3 edge, else the parameter count."""
    if "avg_pool_3x3" in ctx.arch:
        raise RuntimeError(f"no pooling please ({ctx.arch})")
    return sum(p.numel() for p in ctx.model.parameters())


def _oom_above_4(ctx):
    """Test proxy: 'runs out of memory' on batches larger than 4, else the batch size."""
    if ctx.batch_size > 4:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (fake)")
    assert len(ctx.batches[0][1]) == ctx.batch_size
    return float(ctx.batch_size)


def _register(monkeypatch, name, fn):
    monkeypatch.setitem(registry._REGISTRY, name, registry.ProxySpec(name=name, fn=fn, description=fn.__doc__))


def test_a_failing_proxy_is_stored_as_error_and_the_run_goes_on(bench, tmp_path, monkeypatch, one_thread):
    _register(monkeypatch, "fail_on_pooling", _fail_on_pooling)
    run = tmp_path / "run"
    df = proxybench.evaluate(bench, proxies="fail_on_pooling,params", out=run, report=False, **FAST)
    bad = df[df["proxy"] == "fail_on_pooling"].set_index("arch_index")
    pooled = [i for i in ARCHS if "avg_pool_3x3" in proxybench.nb201.index_to_arch(i)]
    assert 0 < len(pooled) < len(ARCHS)
    assert sorted(bad.index[bad["status"] == "error"]) == pooled
    assert bad.loc[pooled, "score"].isna().all()
    assert bad.loc[pooled[0], "error"].startswith("RuntimeError: no pooling please")
    assert (bad.drop(index=pooled)["status"] == "ok").all()
    assert (df[df["proxy"] == "params"]["status"] == "ok").all()
    info = json.loads((run / "run.json").read_text())
    assert info["status_counts"]["fail_on_pooling"] == {"ok": len(ARCHS) - len(pooled), "nan": 0,
                                                        "error": len(pooled)}
    assert "no pooling please" in info["errors"]["fail_on_pooling"]
    assert any(w.startswith(f"proxy fail_on_pooling failed on {len(pooled)} of {len(ARCHS)}") for w in info["warnings"])
    corr = pd.read_csv(run / "correlations.csv")
    tau = corr[(corr.proxy == "fail_on_pooling") & (corr.statistic == "kendall") & (corr.aggregate == "score_mean")]
    assert (tau["n_dropped"] == len(pooled)).all()


def test_out_of_memory_halves_the_batch_and_retries(bench, tmp_path, monkeypatch, one_thread):
    _register(monkeypatch, "oom_above_4", _oom_above_4)
    run = tmp_path / "run"
    df = proxybench.evaluate(bench, proxies="oom_above_4,params", archs=2, out=run, report=False, **FAST)
    assert (df["status"] == "ok").all()
    oom = df[df["proxy"] == "oom_above_4"]
    assert (oom["score"] == 4).all()  # scored on 4 images (8 -> 4)
    conn = sqlite3.connect(run / "store.sqlite")
    sizes = dict(conn.execute("SELECT proxy, MIN(batch_size) FROM scores GROUP BY proxy").fetchall())
    conn.close()
    assert sizes == {"oom_above_4": 4, "params": 8}
    warns = json.loads((run / "run.json").read_text())["warnings"]
    assert len(warns) == 2 and all("out of memory at batch 8; scored oom_above_4 on 4" in w for w in warns)


def test_score_with_oom_split_unit():
    x, y = torch.arange(16.0).view(16, 1), torch.arange(16)
    calls = []

    def scorer(names, ctx):
        calls.append((tuple(names), ctx))
        out = []
        for n in names:
            if n == "big" and ctx > 4:
                out.append(ProxyResult(n, math.nan, 0.0, "error", "OutOfMemoryError: CUDA out of memory."))
            elif n == "broken":
                out.append(ProxyResult(n, math.nan, 0.0, "error", "ValueError: unrelated"))
            else:
                out.append(ProxyResult(n, float(ctx), 0.0, "ok"))
        return out

    res = score_with_oom_split(["small", "big", "broken"], lambda b: int(b[0][0].shape[0]), [(x, y), (x, y)],
                               scorer=scorer)
    assert [(r.proxy, r.status, size) for r, size in res] == [("small", "ok", 16), ("big", "ok", 4),
                                                              ("broken", "error", 16)]
    assert res[0][0].score == 16.0 and res[1][0].score == 4.0 and math.isnan(res[2][0].score)
    assert [c[0] for c in calls] == [("small", "big", "broken"), ("big",), ("big",)]
    # never below min_batch: the OOM error is kept
    res = score_with_oom_split(["big"], lambda b: int(b[0][0].shape[0]), [(x[:4], y[:4])], scorer=scorer, min_batch=4)
    assert res[0][0].status == "ok"
    res = score_with_oom_split(["big"], lambda b: int(b[0][0].shape[0]), [(x[:8], y[:8])], scorer=scorer, min_batch=8)
    assert res[0][0].status == "error" and res[0][1] == 8
    # an OOM raised while building the context is split too; other exceptions propagate
    def build(b):
        if b[0][0].shape[0] > 2:
            raise torch.OutOfMemoryError("CUDA out of memory")
        return 2
    assert score_with_oom_split(["small"], build, [(x[:8], y[:8])], scorer=scorer)[0][1] == 2
    with pytest.raises(KeyError):
        score_with_oom_split(["small"], lambda b: (_ for _ in ()).throw(KeyError("x")), [(x, y)], scorer=scorer)
    assert is_oom("RuntimeError: CUDA error: out of memory") and not is_oom(ValueError("shape mismatch"))
    assert [t[0].shape[0] for t in halve_batches([(x, y), (x[:5], y[:5])])] == [8, 2]


# ---- executors --------------------------------------------------------------------------------------------------
def test_process_pool_gives_the_in_process_scores(bench, tmp_path, one_thread):
    ref = proxybench.evaluate(bench, proxies=PROXIES, seeds=2, **FAST)
    run = tmp_path / "pool"
    pool = proxybench.evaluate(bench, proxies=PROXIES, seeds=2, workers=2, threads=1, out=run, report=False, **FAST)
    pd.testing.assert_frame_equal(_sorted(pool).drop(columns="seconds"), _sorted(ref).drop(columns="seconds"))
    conn = sqlite3.connect(run / "store.sqlite")
    workers = {w for (w,) in conn.execute("SELECT worker FROM units")}
    conn.close()
    assert str(os.getpid()) not in {w.rsplit(":", 1)[1] for w in workers}  # scored in the pool's processes
    info = json.loads((run / "run.json").read_text())
    assert info["config"]["execution"]["executor"] == "process-pool" and info["config"]["execution"]["workers"] == 2


def test_dask_local_cluster_gives_the_in_process_scores(bench, one_thread):
    distributed = pytest.importorskip("distributed")
    ref = proxybench.evaluate(bench, proxies=PROXIES, seeds=2, **FAST)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, host="127.0.0.1",
                                  protocol="tcp", dashboard_address=None) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        res = run_eval(EvalSettings(benchmark=bench, proxies=PROXIES, seeds=2, scheduler=cluster.scheduler_address,
                                    **FAST))
    assert res.info["config"]["execution"]["executor"] == "dask"
    pd.testing.assert_frame_equal(_sorted(res.scores).drop(columns="seconds"), _sorted(ref).drop(columns="seconds"))


# ---- SIGKILL part-way, resume: exactly the scores of an uninterrupted run ------------------------------------
def test_killed_run_resumes_to_exactly_the_uninterrupted_scores(tmp_path, one_thread):
    archs = proxybench.nb201.sample_indices(10, seed=3)
    bench = make_benchmark(tmp_path / "kill.pbgt", archs=archs)
    run = tmp_path / "killed"
    args = ["eval", "--benchmark", str(bench), "--proxies", "params,snip,nwot,kd", "--seeds", "2",
            "--batch-size", "8", "--ci-resamples", "0", "--no-report", "--quiet", "--workers", "0", "--out", str(run)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "proxybench.cli", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    total = len(archs) * 2
    stored = 0
    deadline = time.time() + 120
    try:
        while time.time() < deadline and proc.poll() is None:
            if (run / "store.sqlite").exists():
                try:
                    conn = sqlite3.connect(run / "store.sqlite", timeout=1)
                    stored = conn.execute("SELECT COUNT(*) FROM units").fetchone()[0]
                    conn.close()
                except sqlite3.OperationalError:  # schema not created yet
                    stored = 0
                if stored >= 3:
                    break
            time.sleep(0.02)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"the run ended before it was killed: {proc.stderr.read()[-2000:]}"
    partial = _store_rows(run)
    units = {(a, s) for a, _, s, *_ in partial}
    assert 3 <= len(units) < total
    # only whole units: every stored (arch, seed) has all four proxies
    assert len(partial) == 4 * len(units)
    assert main(args) == 0  # resume in this process
    resumed = _store_rows(run)
    assert set(partial) <= set(resumed) and len(resumed) == 4 * total
    reference = tmp_path / "reference"
    assert main([*args[:-1], str(reference)]) == 0
    assert _store_rows(reference) == resumed  # scores exactly equal (bitwise), statuses too
    info = json.loads((run / "run.json").read_text())
    assert info["timing"]["units_resumed"] == len(units) and info["resumed"]


# ---- CLI -----------------------------------------------------------------------------------------------------------
def test_cli_run_prints_the_table_and_writes_the_report(bench, tmp_path, capsys, one_thread):
    run = tmp_path / "cli"
    code = main(["eval", "--benchmark", str(bench), "--proxies", "params,snip,kd", "--archs", "5", "--batch-size", "8",
                 "--ci-resamples", "50", "--out", str(run), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    assert "ground truth: kd_acc" in out and "ground truth: vanilla_acc" in out and "kendall" in out
    kd_block = out.split("tau on kd_acc minus tau on vanilla_acc")[1]
    assert all(re.search(rf"\n\s*{p}\s+[-+]\d\.\d{{3}}", kd_block) for p in ("params", "snip", "kd"))
    assert "tiny: 5 archs x 1 seed(s) x 3 proxies" in out and f"run directory: {run}" in out
    assert (run / "report.md").is_file() and (run / "report.html").is_file()
    assert any((run / "figures").glob("*.png"))


def test_cli_archs_file_data_and_teacher_options(bench, tmp_path, capsys, one_thread):
    f = tmp_path / "archs.txt"
    f.write_text(f"# two archs\n{ARCHS[1]}\n{proxybench.nb201.index_to_arch(ARCHS[3])}  # by string\n\n"
                 f"{proxybench.nb201.index_to_arch(5)}\n")
    run = tmp_path / "file"
    assert main(["eval", "--benchmark", str(bench), "--proxies", "params,kd", "--archs", str(f), "--data",
                 "synthetic", "--teacher", "none", "--batch-size", "8", "--ci-resamples", "0", "--no-report",
                 "--out", str(run)]) == 2  # kd needs a teacher, and 'none' removes it
    assert "needs a teacher" in capsys.readouterr().err
    assert main(["eval", "--benchmark", str(bench), "--proxies", "default", "--archs", str(f), "--data", "synthetic",
                 "--teacher", "none", "--batch-size", "8", "--ci-resamples", "0", "--no-report", "--quiet",
                 "--out", str(run)]) == 0
    captured = capsys.readouterr()
    assert "WARNING: synthetic" in captured.out
    info = json.loads((run / "run.json").read_text())
    assert [a["arch_index"] for a in info["archs"]] == [ARCHS[1], ARCHS[3], 5]
    assert info["data"]["synthetic"] and any("Gaussian noise" in w for w in info["warnings"])
    assert any("KD-aware proxies skipped" in w for w in info["warnings"])
    assert any("no ground truth" in w for w in info["warnings"])  # index 5 is not in the benchmark
    assert info["teacher"] == {"spec": None}
    # synflow: a standard member of the default group
    assert "kd" not in info["proxies"] and "diswot" not in info["proxies"] and "synflow" in info["proxies"]


@pytest.mark.parametrize("argv, needle", [
    (["--proxies", "params,no_such_proxy"], "unknown proxy 'no_such_proxy'; valid proxies:"),
    (["--benchmark", "no-such-bench"], "unknown benchmark 'no-such-bench'"),
    (["--benchmark", "/nonexistent/x.pbgt"], "ground-truth file not found"),
    (["--archs", "99"], "bad --archs 99: the benchmark has 6 architectures"),
    (["--archs", "zero"], "bad --archs 'zero'"),
    (["--archs", "1,2,notanarch"], "bad architecture 'notanarch'"),
    (["--data", "mnist-digits"], "unknown dataset 'mnist-digits'; valid names:"),
    (["--teacher", "vgg16"], "bad teacher spec 'vgg16'"),
    (["--format", "xlsx"], "bad --format 'xlsx': valid formats are csv, parquet"),
    (["--device", "tpu"], "unknown device 'tpu'; valid: cpu, cuda"),
    (["--seeds", "0"], "--seeds must be an integer >= 1, got 0"),
    (["--network", "C=8,depth=3"], "unknown network setting 'depth'; valid: C, N, init"),
    (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "either --workers N"),
    (["--scheduler", "localhost"], "bad --scheduler 'localhost'"),
    (["--workers", "many"], "bad --workers 'many'"),
    (["--out", "/dev/null"], "exists and is not a directory"),
])
def test_cli_bad_input_exits_2_naming_the_value(bench, tmp_path, capsys, argv, needle):
    code = main(["eval", "--benchmark", str(bench), "--proxies", "params", "--out", str(tmp_path / "r"), "--quiet",
                 *argv])
    err = capsys.readouterr().err
    assert code == 2, err
    assert needle in err
    assert not (tmp_path / "r" / "store.sqlite").exists()  # refused before anything was scored


def test_cli_changed_configuration_exits_2(bench, tmp_path, capsys, one_thread):
    base = ["eval", "--benchmark", str(bench), "--proxies", "params", "--archs", "2", "--batch-size", "8",
            "--ci-resamples", "0", "--no-report", "--quiet", "--out", str(tmp_path / "r")]
    assert main(base) == 0
    assert main([*base, "--teacher", "resnet8"]) == 2
    assert "differing keys: teacher.spec" in capsys.readouterr().err


def test_default_benchmark_missing_exits_2_naming_the_registered_ones(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(gtm, "BUNDLED_DIR", tmp_path / "bundled")
    monkeypatch.setenv("PROXYBENCH_HOME", str(tmp_path / "home"))
    make_benchmark(tmp_path / "home" / "benchmarks" / "tiny.pbgt")
    assert main(["eval", "--quiet", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "the default benchmark 'nb201-kd-fmnist16-v2' is not installed" in err
    assert "registered benchmarks: tiny" in err


def test_help_has_examples(capsys):
    for cmd in ("eval", "list"):
        assert main([cmd, "--help"]) == 0
        out = capsys.readouterr().out
        assert "examples:" in out and f"proxybench {cmd}" in out


# ---- plan details ---------------------------------------------------------------------------------------------------
def test_benchmark_teacher_checkpoint_next_to_the_benchmark_file(tmp_path):
    from proxybench.distill.teachers import build_teacher, save_teacher
    from proxybench.engine import make_plan

    bench = make_benchmark(tmp_path / "tiny.pbgt")
    teacher = build_teacher(TEACHER, num_classes=10, in_channels=3, seed=5)
    save_teacher(teacher, None, tmp_path / "tiny.teacher.pt")
    plan = make_plan(EvalSettings(benchmark=bench, proxies="kd", archs=2, batch_size=8))
    assert plan.teacher_spec == f"checkpoint:{tmp_path / 'tiny.teacher.pt'}"
    assert plan.identity["teacher"]["checkpoint"] == "tiny.teacher.pt"
    assert len(plan.identity["teacher"]["checkpoint_sha256"]) == 16 and "seed" not in plan.identity["teacher"]
    for a, b in zip(plan.teacher.state_dict().values(), teacher.state_dict().values()):
        assert torch.equal(a, b)
    # an explicit checkpoint key (relative to the benchmark file) works the same way
    meta = {"name": "t2", "data": {"dataset": "fashion-mnist", "resolution": 8, "channels": 3},
            "network": {"C": 4, "N": 1}, "teacher": {"spec": "ignored-when-a-checkpoint-is-given",
                                                     "checkpoint": "tiny.teacher.pt"}}
    GroundTruth(pd.DataFrame({"arch_index": ARCHS, "dataset": "fashion-mnist", "metric": "kd_acc",
                              "value": 70.0}), meta).save(tmp_path / "t2.pbgt")
    plan = make_plan(EvalSettings(benchmark=tmp_path / "t2.pbgt", proxies="kd", archs=2, batch_size=8))
    assert plan.teacher_spec == f"checkpoint:{tmp_path / 'tiny.teacher.pt'}"
    meta["teacher"] = {"checkpoint": "missing.pt"}
    GroundTruth(pd.DataFrame({"arch_index": ARCHS, "dataset": "fashion-mnist", "metric": "kd_acc",
                              "value": 70.0}), meta).save(tmp_path / "t3.pbgt")
    with pytest.raises(FileNotFoundError, match="teacher checkpoint 'missing.pt'"):
        make_plan(EvalSettings(benchmark=tmp_path / "t3.pbgt", proxies="kd", archs=2, batch_size=8))


def test_data_spec_defaults_sample_root_and_npz(bench, tmp_path):
    from proxybench.engine.config import resolve_data

    meta = {"data": {"dataset": "fashion-mnist", "resolution": 16, "channels": 3, "num_classes": 10}}
    spec = resolve_data(meta, ["fashion-mnist"], None, None, 64, False)
    assert (spec["dataset"], spec["resolution"], spec["channels"], spec["num_classes"]) == \
        ("fashion-mnist-sample", 16, 3, 10)
    # a data root means the benchmark's full data set, read from there
    assert resolve_data(meta, ["fashion-mnist"], None, "/data/fm", 64, False)["dataset"] == "fashion-mnist"
    # no data spec: inferred from the ground truth's datasets (NB201 names)
    spec = resolve_data({}, ["cifar10-valid", "cifar10"], None, None, 64, False)
    assert (spec["dataset"], spec["resolution"], spec["channels"], spec["num_classes"]) == ("cifar10", 32, 3, 10)
    with pytest.raises(ValueError, match="pass --data NAME"):
        resolve_data({}, ["cifar10", "cifar100"], None, None, 64, False)
    spec = resolve_data({}, ["cifar10", "cifar100"], "cifar100", None, 64, False)
    assert (spec["dataset"], spec["num_classes"]) == ("cifar100", 100)


def test_auto_workers():
    from proxybench.engine.config import choose_workers, parse_workers

    assert parse_workers("auto") == "auto" and parse_workers("3") == 3 and parse_workers(0) == 0
    assert choose_workers("auto", None, n_tasks=8, cpus=2) == 2
    assert choose_workers("auto", None, n_tasks=7, cpus=2) == 0  # too few units for the start-up cost
    assert choose_workers("auto", None, n_tasks=100, cpus=1) == 0
    assert choose_workers("auto", "tcp://h:1", n_tasks=100, cpus=2) == 0
    assert choose_workers(3, None, n_tasks=1, cpus=2) == 3
    with pytest.raises(ValueError, match="bad --workers -1"):
        parse_workers(-1)


def test_out_must_be_a_new_or_run_directory(bench, tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="holds no proxybench run"):
        proxybench.evaluate(bench, proxies="params", out=tmp_path / "busy", **FAST)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="not a directory"):
        proxybench.evaluate(bench, proxies="params", out=tmp_path / "file", **FAST)


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(), reason="Fashion-MNIST not installed")
def test_data_root_reads_the_full_data_set(bench, tmp_path, one_thread):
    res = run_eval(EvalSettings(benchmark=bench, proxies="nwot", archs=2, data_root="/usr/share/datasets/fashion-mnist",
                                **FAST))
    assert res.plan.data["dataset"] == "fashion-mnist" and res.plan.data["images"] == 10000
    assert (res.scores["status"] == "ok").all()
