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
