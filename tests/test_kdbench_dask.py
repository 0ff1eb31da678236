"""`kd-bench build --scheduler`: runs trained on dask.distributed workers, committed by the client; a worker killed
mid-build and a client killed mid-build change nothing in the final table."""

from __future__ import annotations

import os
import signal
import time

import pandas as pd
import pytest
import torch

from proxybench.cli import main
from proxybench.distill import dask_build, kdbench
from proxybench.distill.protocol import Protocol
from proxybench.distill.teachers import save_teacher
from proxybench.distill.trainer import TrainData
from proxybench.nb201 import build_network

distributed = pytest.importorskip("distributed")

TINY = dict(name="tiny", dataset="synthetic", resolution=8, channels=3, train_subset=64, epochs=3.0,
            batch_size=16, lr=0.05, C=4, N=1, eval_batch_size=256)
ARCHS = [3, 10, 20]
KEY = ["arch_index", "seed", "mode"]


def toy_data(n=64, n_test=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 4
    x = torch.randn(n, 3, 8, 8, generator=g) + y.view(-1, 1, 1, 1).float()
    yt = torch.arange(n_test) % 4
    xt = torch.randn(n_test, 3, 8, 8, generator=g) + yt.view(-1, 1, 1, 1).float()
    return TrainData(x, y, xt, yt, 4, "toy")


def _teacher(folder, num_classes=4):
    folder.mkdir(parents=True, exist_ok=True)
    save_teacher(build_network(7, C=4, N=1, num_classes=num_classes, seed=5), "nb201:7@C=4,N=1",
                 folder / "teacher.pt", extra={"test_acc": 50.0})


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    c = distributed.Client(cluster, set_as_default=False)
    try:
        yield c
    finally:
        c.close()
        cluster.close()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The single-process build of the same plan (one torch thread, as the workers use)."""
    d = tmp_path_factory.mktemp("ref")
    _teacher(d)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return kdbench.build(d, Protocol(**TINY), kdbench.plan_runs(ARCHS), data=toy_data(), device="cpu",
                             log=lambda m: None)
    finally:
        torch.set_num_threads(before)


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert len(a) == len(b) == 2 * len(ARCHS)
    assert not a.duplicated(KEY).any()
    m = a.merge(b, on=KEY, suffixes=("", "_ref"))
    assert len(m) == len(a)
    for col in ("test_acc", "train_loss", "train_acc", "steps"):
        assert (m[col] == m[f"{col}_ref"]).all(), col
    assert list(a.columns) == list(b.columns) == list(kdbench.RUN_COLUMNS)


def test_parse_scheduler():
    assert kdbench.parse_scheduler("local:3") == ("local", 3)
    assert kdbench.parse_scheduler("tcp://10.0.0.1:8786") == ("address", "tcp://10.0.0.1:8786")
    with pytest.raises(ValueError, match="positive number of workers"):
        kdbench.parse_scheduler("local:0")
    with pytest.raises(ValueError, match="positive number of workers"):
        kdbench.parse_scheduler("local:two")


def test_worker_killed_mid_build_gives_the_single_process_table(tmp_path, client, reference):
    out = tmp_path / "b"
    _teacher(out)
    pids = client.run(os.getpid)
    killed = []

    def log(msg):
        if msg.startswith("[") and not killed:
            # one worker dies while it trains a run: the scheduler gives the run to another worker
            deadline = time.time() + 20
            while time.time() < deadline:
                busy = [w for w, keys in client.processing().items() if keys and w in pids]
                if busy:
                    os.kill(pids[busy[0]], signal.SIGKILL)
                    killed.append(busy[0])
                    return
                time.sleep(0.01)

    runs = kdbench.build(out, Protocol(**TINY), kdbench.plan_runs(ARCHS), data=toy_data(), device="cpu",
                         scheduler=client, threads=1, log=log)
    assert killed, "no worker was busy when the first run was committed"
    _same(runs, reference)
    csv = pd.read_csv(out / "runs.csv").merge(reference, on=KEY, suffixes=("", "_ref"))  # 4 decimals in the CSV
    assert len(csv) == len(reference) and (csv["test_acc"] == csv["test_acc_ref"].round(4)).all()
    assert (runs["threads"] == 1).all()


def test_killed_client_resumes(tmp_path, client, reference):
    out = tmp_path / "b"
    _teacher(out)
    committed = []

    def dying_log(msg):
        if msg.startswith("["):
            committed.append(msg)
            if len(committed) == 2:
                raise KeyboardInterrupt  # the client process stops here

    with pytest.raises(KeyboardInterrupt):
        kdbench.build(out, Protocol(**TINY), kdbench.plan_runs(ARCHS), data=toy_data(), device="cpu",
                      scheduler=client, threads=1, log=dying_log)
    assert len(pd.read_csv(out / "runs.csv")) == 2
    msgs = []
    runs = kdbench.build(out, Protocol(**TINY), kdbench.plan_runs(ARCHS), data=toy_data(), device="cpu",
                         scheduler=client, threads=1, log=msgs.append)
    assert msgs[0] == "2 runs finished, 4 to do"
    _same(runs, reference)


def test_cli_scheduler_address_workers_load_the_data(tmp_path, client, capsys):
    proto = tmp_path / "proto.json"
    Protocol(**{**TINY, "epochs": 1.0}).save(proto)
    out = tmp_path / "build"
    _teacher(out, num_classes=10)
    archs = tmp_path / "archs.txt"
    archs.write_text("3\n")
    args = ["kd-bench", "build", "--protocol", str(proto), "--archs", str(archs), "--out", str(out), "--device",
            "cpu", "--threads", "1"]
    # no data is sent: each worker loads the protocol's data set itself
    assert main(args + ["--scheduler", client.scheduler.address]) == 0
    runs = pd.read_csv(out / "runs.csv")
    assert sorted(runs["mode"]) == ["kd", "vanilla"]
    # the same runs built in this process
    ref = tmp_path / "ref"
    _teacher(ref, num_classes=10)
    assert main(args[:args.index("--out") + 1] + [str(ref)] + args[args.index("--out") + 2:]) == 0
    m = runs.merge(pd.read_csv(ref / "runs.csv"), on=KEY, suffixes=("", "_ref"))
    assert len(m) == 2 and (m["test_acc"] == m["test_acc_ref"]).all()
    capsys.readouterr()
    assert main(args + ["--scheduler", "local:x"]) == 2
    assert "local:N" in capsys.readouterr().err


def test_local_n_starts_single_threaded_worker_processes(tmp_path, monkeypatch):
    made = {}

    class FakeCluster:
        def __init__(self, **kwargs):
            made.update(kwargs)

        def close(self):
            made["closed"] = True

    class Stop(Exception):
        pass

    def fake_client(*args, **kwargs):
        raise Stop

    monkeypatch.setattr(distributed, "LocalCluster", FakeCluster)
    monkeypatch.setattr(distributed, "Client", fake_client)
    with pytest.raises(Stop):
        dask_build.connect("local:3")
    assert made.pop("closed") is True  # the cluster does not outlive a failed connection
    assert made == {"n_workers": 3, "threads_per_worker": 1, "processes": True, "dashboard_address": None}
