"""Faults a user meets: a killed or terminated parent, a closed output pipe."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_runner import make_benchmark

psutil = pytest.importorskip("psutil")

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _start_long_eval(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    bench = make_benchmark(tmp_path / "b.pbgt")
    run = tmp_path / "run"
    args = ["eval", "--benchmark", str(bench), "--proxies", "params,snip", "--seeds", "400", "--batch-size", "4",
            "--ci-resamples", "0", "--no-report", "--workers", "1", "--out", str(run)]
    proc = subprocess.Popen([sys.executable, "-m", "proxybench.cli", *args], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    return proc, run


def _stored_units(run: Path) -> int:
    try:
        conn = sqlite3.connect(run / "store.sqlite", timeout=1)
        try:
            return conn.execute("SELECT COUNT(*) FROM units").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def _wait_for_units(proc: subprocess.Popen, run: Path, n: int = 2, timeout: float = 120) -> list:
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if (run / "store.sqlite").exists() and _stored_units(run) >= n:
            return psutil.Process(proc.pid).children(recursive=True)
        time.sleep(0.1)
    proc.kill()
    pytest.fail(f"the run did not store {n} units in time: {proc.stderr.read().decode()[-2000:]}")


def _gone(procs: list, timeout: float = 20) -> bool:
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    return not alive


def test_pool_workers_exit_when_the_parent_is_killed(tmp_path):
    proc, run = _start_long_eval(tmp_path)
    try:
        workers = _wait_for_units(proc, run)
        assert workers, "the run has no worker process"
        os.kill(proc.pid, signal.SIGKILL)  # the main process only, not its group
        proc.wait()
        assert _gone(workers), f"orphaned workers still alive: {[w.pid for w in workers if w.is_running()]}"
    finally:
        os.killpg(proc.pid, signal.SIGKILL) if proc.poll() is None else None


def test_sigterm_stops_like_sigint_and_reports_what_is_stored(tmp_path):
    proc, run = _start_long_eval(tmp_path)
    try:
        workers = _wait_for_units(proc, run)
        os.kill(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    err = err.decode()
    assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
    assert "units are stored in" in err and "run the same command again to resume" in err
    assert "Traceback" not in err
    assert _gone(workers)
    assert _stored_units(run) >= 2


def test_closed_output_pipe_is_quiet():
    proc = subprocess.Popen([sys.executable, "-m", "proxybench.cli", "list", "proxies"], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader goes away before anything is written, as `| head` does
    err = proc.stderr.read().decode()
    proc.wait()
    assert proc.returncode in (0, 128 + signal.SIGPIPE)
    assert "BrokenPipe" not in err and "Traceback" not in err


@pytest.mark.parametrize("content, says", [
    (b"", "is empty (0 bytes)"),
    (b"not a checkpoint at all", "not a zip archive"),
    (None, "not a zip archive"),  # a real checkpoint cut short
])
def test_bad_teacher_checkpoint_is_a_clear_error(tmp_path, content, says):

    from proxybench.distill.teachers import build_teacher, save_teacher
    from proxybench.nb201 import build_network

    path = tmp_path / "t.pt"
    if content is None:
        save_teacher(build_network(7, C=4, N=1, seed=0), "nb201:7@C=4,N=1", tmp_path / "full.pt")
        path.write_bytes((tmp_path / "full.pt").read_bytes()[:300])
    else:
        path.write_bytes(content)
    with pytest.raises(ValueError) as info:
        build_teacher(f"checkpoint:{path}")
    msg = str(info.value)
    assert says in msg and str(path) in msg and "kd-bench teacher" in msg
    assert "weights_only" not in msg and "Re-running" not in msg


# ---- a corrupt, empty or read-only run directory -----------------------------------------------------------------
def _eval_args(bench: Path, run: Path) -> list[str]:
    return ["eval", "--benchmark", str(bench), "--proxies", "params", "--archs", "3", "--batch-size", "4",
            "--ci-resamples", "0", "--no-report", "--workers", "0", "--quiet", "--out", str(run)]


def _good_run(tmp_path: Path) -> tuple[list[str], Path]:
    from proxybench.cli import main

    bench = make_benchmark(tmp_path / "b.pbgt")
    run = tmp_path / "run"
    args = _eval_args(bench, run)
    assert main(args) == 0
    return args, run


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_corrupt_store_exits_2_naming_the_file_and_restart_keeps_it(tmp_path, capsys, damage):
    from proxybench.cli import main

    args, run = _good_run(tmp_path)
    store = run / "store.sqlite"
    for extra in ("store.sqlite-wal", "store.sqlite-shm"):
        (run / extra).unlink(missing_ok=True)
    data = store.read_bytes()
    store.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"not a database at all " * 300)
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert str(store) in err and "--out" in err and "--restart" in err and "Traceback" not in err
    broken = store.read_bytes()
    assert main([*args, "--restart"]) == 0
    kept = list(run.glob("store.sqlite.old-*"))
    assert [p.read_bytes() for p in kept if not p.name.endswith(("-wal", "-shm"))] == [broken]
    assert "moved aside" in capsys.readouterr().err


def test_an_empty_store_is_refused_not_treated_as_new(tmp_path, capsys):
    from proxybench.cli import main

    bench = make_benchmark(tmp_path / "b.pbgt")
    run = tmp_path / "run"
    run.mkdir()
    (run / "store.sqlite").write_bytes(b"")
    args = _eval_args(bench, run)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert str(run / "store.sqlite") in err and "empty" in err and "--restart" in err
    assert (run / "store.sqlite").stat().st_size == 0
    assert main([*args, "--restart"]) == 0
    assert list(run.glob("store.sqlite.old-*"))


def test_a_read_only_run_directory_exits_2_and_loses_nothing(tmp_path, capsys):
    from proxybench.cli import main

    args, run = _good_run(tmp_path)
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    mode = run.stat().st_mode
    run.chmod(0o555)
    try:
        if os.access(run, os.W_OK):
            pytest.skip("chmod does not make the directory read-only here (running as root)")
        capsys.readouterr()
        assert main(args) == 2
        err = capsys.readouterr().err
        assert str(run) in err and "--out" in err and "Traceback" not in err
    finally:
        run.chmod(mode)
    after = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    assert after["store.sqlite"] == before["store.sqlite"]


def test_an_uncreatable_run_directory_exits_2_naming_it(tmp_path, capsys):
    """A directory no one can write to, root included (/proc refuses new entries)."""
    from proxybench.cli import main

    bench = make_benchmark(tmp_path / "b.pbgt")
    run = Path("/proc/self/proxybench-run")
    if not Path("/proc/self").is_dir():
        pytest.skip("no /proc")
    assert main(_eval_args(bench, run)) == 2
    err = capsys.readouterr().err
    assert str(run) in err and "--out" in err and "Traceback" not in err


# ---- absurd sizes and lazy batches -------------------------------------------------------------------------------
@pytest.mark.parametrize("argv, needle", [
    (["--seeds", "1000000000"], "--seeds 1000000000"),
    (["--batch-size", "100000000"], "--batch-size 100000000"),
])
def test_absurd_sizes_are_refused_up_front(tmp_path, capsys, argv, needle):
    from proxybench.cli import main

    bench = make_benchmark(tmp_path / "b.pbgt")
    t0 = time.perf_counter()
    assert main([*_eval_args(bench, tmp_path / "run"), *argv]) == 2
    assert time.perf_counter() - t0 < 30
    err = capsys.readouterr().err
    assert needle in err and "limit" in err
    assert not (tmp_path / "run" / "store.sqlite").exists()


def test_too_many_units_and_too_big_batches_are_refused():
    from proxybench.engine.config import MAX_UNITS, check_run_size

    data = {"batch_size": 64, "channels": 3, "resolution": 32}
    check_run_size(100, 10, data, 1)
    with pytest.raises(ValueError, match="units is more than the limit"):
        check_run_size(MAX_UNITS, 2, data, 1)
    with pytest.raises(ValueError, match="GiB.*give a smaller --batch-size"):
        check_run_size(1, 1, {"batch_size": 8192, "channels": 3, "resolution": 100_000}, 1)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_batches_are_drawn_per_seed_and_only_a_few_seeds_are_held():
    import pickle

    import torch

    from proxybench.benchmarks import datasets as ds
    from proxybench.engine.config import CACHED_SEEDS, SeedBatches

    images = ds.load_images("synthetic")
    data = {"batch_size": 4, "resolution": 8, "channels": 3, "balanced": False}
    seeds = list(range(10_000))
    batches = SeedBatches(images, data, seeds, 2)
    assert batches.drawn == 0 and len(batches) == 10_000
    first = [x.clone() for x, _ in batches[0]]
    for s in range(0, 10_000, 97):
        b = batches[s]
        assert len(b) == 2 and b[0][0].shape == (4, 3, 8, 8)
        assert len(batches.cached()) <= CACHED_SEEDS
    assert batches.drawn == len(range(0, 10_000, 97))  # seed 0 was drawn once, before the loop
    again = batches[0]  # dropped from the cache: drawn again, identically
    assert all(torch.equal(a, x) for a, (x, _) in zip(first, again))
    clone = pickle.loads(pickle.dumps(batches))
    assert clone.cached() == [] and torch.equal(clone[0][0][0], first[0])
    with pytest.raises(KeyError):
        batches[10_000]


def test_report_on_an_interrupted_run_offers_the_resume_command(tmp_path, capsys):
    from proxybench.cli import main
    from proxybench.engine.store import RunStore

    run = tmp_path / "run"
    cmd = ["proxybench", "eval", "--proxies", "params", "--out", str(run)]
    with RunStore(run, {"benchmark": "x"}, command=cmd):
        pass  # an eval killed before its first unit: a store, no scores.csv
    assert main(["report", str(run)]) == 2
    err = capsys.readouterr().err
    assert "interrupted run" in err and " ".join(cmd) in err and "not a run directory" not in err


def test_workers_above_the_cpu_count_are_capped_and_recorded_truthfully(tmp_path, capsys, monkeypatch):
    import json

    from proxybench.cli import main
    from proxybench.engine import runner

    monkeypatch.setattr(runner, "_cpus", lambda: 1)
    bench = make_benchmark(tmp_path / "b.pbgt")
    run = tmp_path / "run"
    args = _eval_args(bench, run)
    args[args.index("--workers") + 1] = "1000"
    assert main(args) == 0
    assert "--workers 1000 is more than the 1 CPU(s) available: capped at 1" in capsys.readouterr().err
    info = json.loads((run / "run.json").read_text())
    assert info["config"]["execution"]["workers"] == 1
    assert any("capped at 1" in w for w in info["warnings"])


def test_resuming_with_fewer_archs_says_what_is_reported(tmp_path, capsys):
    import sqlite3 as sq

    from proxybench.cli import main

    args, run = _good_run(tmp_path)  # 3 archs
    capsys.readouterr()
    fewer = list(args)
    fewer[fewer.index("--archs") + 1] = "2"
    assert main(fewer) == 0
    err = capsys.readouterr().err
    assert "cover only the selected 2 archs" in err and "nothing stored is removed" in err
    conn = sq.connect(run / "store.sqlite")
    try:
        assert conn.execute("SELECT COUNT(*) FROM units").fetchone()[0] >= 3
    finally:
        conn.close()


def test_the_cli_table_shows_dropped_non_finite_scores_next_to_errors():
    import numpy as np
    import pandas as pd

    from proxybench.analysis.correlation import correlate
    from proxybench.engine import format_correlations
    from proxybench.engine.store import SCORE_COLUMNS

    rows = []
    for i in range(8):
        rows.append({"arch_index": i, "arch": f"a{i}", "proxy": "nwot", "seed": 0,
                     "score": -np.inf if i == 3 else float(i), "seconds": 0.1,
                     "status": "nan" if i == 3 else "ok", "error": "", "batch_size": 4})
    scores = pd.DataFrame(rows)[SCORE_COLUMNS]
    gt = pd.DataFrame({"arch_index": range(8), "dataset": "cifar10", "metric": "test_acc",
                       "value": np.linspace(50, 90, 8), "seed": -1})
    text = format_correlations(correlate(scores, gt, ci=False, n_resamples=1), scores)
    header, row = text.splitlines()[1], text.splitlines()[2]
    assert header.split()[-2:] == ["errors", "dropped"]
    assert row.split()[-3:] == ["7", "0", "1"]
