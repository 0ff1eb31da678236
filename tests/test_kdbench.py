"""KD trainer and the resumable benchmark builder, on a tiny protocol (synthetic data, C=4, N=1)."""

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch

from proxybench.cli import main
from proxybench.distill import kdbench
from proxybench.distill.protocol import Protocol
from proxybench.distill.trainer import TrainData, _balanced_subset, build_student, train

TINY = dict(name="tiny", dataset="synthetic", resolution=8, channels=3, train_subset=64, epochs=1.0,
            batch_size=16, lr=0.05, C=4, N=1, eval_batch_size=256)


def tiny_data(n=64, n_test=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 4
    x = torch.randn(n, 3, 8, 8, generator=g) + y.view(-1, 1, 1, 1).float()  # learnable signal
    yt = torch.arange(n_test) % 4
    xt = torch.randn(n_test, 3, 8, 8, generator=g) + yt.view(-1, 1, 1, 1).float()
    return TrainData(x, y, xt, yt, 4, "toy")


def test_protocol_validation_and_roundtrip(tmp_path):
    p = Protocol(**TINY)
    p.save(tmp_path / "p.json")
    assert Protocol.from_file(tmp_path / "p.json") == p
    assert p.training_key() == p.replace(name="other", notes="x").training_key()
    assert p.training_key() != p.replace(lr=0.1).training_key()
    with pytest.raises(ValueError, match="protocol field alpha=1.5 is invalid; must be in"):
        Protocol(alpha=1.5)
    with pytest.raises(ValueError, match="schedule='step' is invalid; must be one of"):
        Protocol(schedule="step")
    with pytest.raises(ValueError, match=r"unknown protocol field\(s\) \['lrr'\]"):
        Protocol.from_dict({"lrr": 0.1})
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Protocol.from_file(tmp_path / "none.json")


def test_train_deterministic_and_learns():
    data = tiny_data()
    p = Protocol(**{**TINY, "epochs": 4.0})
    r1 = train(build_student(3, p, 4, seed=0), data, p, seed=0, device="cpu")
    r2 = train(build_student(3, p, 4, seed=0), data, p, seed=0, device="cpu")
    assert r1.test_acc == r2.test_acc and r1.train_loss == r2.train_loss
    assert r1.steps == 16 and r1.images == 256 and r1.images_per_s > 0
    assert r1.test_acc > 40.0  # 4 classes, chance is 25%


def test_kd_mode_uses_soft_targets():
    data = tiny_data()
    p = Protocol(**{**TINY, "alpha": 1.0})
    # with alpha=1 the labels are ignored: a teacher that always says class 0 makes the student predict 0
    soft = torch.full((len(data.y_train), 4), -10.0)
    soft[:, 0] = 10.0
    m = build_student(3, p, 4, seed=0)
    train(m, data, p.replace(epochs=6.0), mode="kd", seed=0, soft_targets=soft, device="cpu")
    m.eval()
    assert (m(data.x_test).argmax(1) == 0).float().mean() > 0.9
    with pytest.raises(ValueError, match="needs soft_targets"):
        train(build_student(3, p, 4, seed=0), data, p, mode="kd")
    with pytest.raises(ValueError, match="mode must be one of"):
        train(build_student(3, p, 4, seed=0), data, p, mode="both")


def test_balanced_subset():
    labels = torch.arange(1000) % 10
    idx = _balanced_subset(labels, 105, seed=1)
    counts = torch.bincount(labels[idx], minlength=10)
    assert len(idx) == 105 and counts.max() - counts.min() <= 1
    assert torch.equal(idx, _balanced_subset(labels, 105, seed=1))


def test_plan_order_and_noise_archs():
    plan = kdbench.plan_runs([5, 6, 7, 8], seeds=1, noise_archs=2, noise_seeds=3)
    keys = [(r["arch_index"], r["seed"], r["mode"]) for r in plan]
    v_k = ("vanilla", "kd")
    assert keys == ([(5, 0, m) for m in v_k] + [(6, 0, m) for m in v_k] + [(5, s, m) for s in (1, 2) for m in v_k]
                    + [(7, 0, m) for m in v_k] + [(8, 0, m) for m in v_k] + [(6, s, m) for s in (1, 2) for m in v_k])
    assert len(set(keys)) == len(keys) == 16
    with pytest.raises(ValueError, match="unknown mode 'kl'"):
        kdbench.plan_runs([1], modes=["kl"])
    with pytest.raises(ValueError, match="noise_archs \\(2\\) exceeds"):
        kdbench.plan_runs([1], noise_archs=2)


def _teacher(path, data, num_classes=4):
    from proxybench.distill.teachers import save_teacher
    from proxybench.nb201 import build_network

    t = build_network(7, C=4, N=1, num_classes=num_classes, seed=5)
    save_teacher(t, "nb201:7@C=4,N=1", path, extra={"test_acc": 50.0})


def test_build_resume_and_export(tmp_path):
    data = tiny_data()
    p = Protocol(**TINY)
    (tmp_path / "b").mkdir()
    _teacher(tmp_path / "b" / "teacher.pt", data)
    plan = kdbench.plan_runs([3, 10, 20], noise_archs=1, noise_seeds=2)
    first = kdbench.build(tmp_path / "b", p, plan, data=data, device="cpu", max_runs=3, log=lambda m: None)
    assert len(first) == 3
    csv = pd.read_csv(tmp_path / "b" / "runs.csv")
    assert len(csv) == 3 and set(csv.columns) == set(kdbench.RUN_COLUMNS)
    full = kdbench.build(tmp_path / "b", p, plan, data=data, device="cpu", log=lambda m: None)
    assert len(full) == len(plan) == 8
    assert not full.duplicated(["arch_index", "seed", "mode"]).any()
    # a fresh uninterrupted build gives exactly the same accuracies
    (tmp_path / "c").mkdir()
    _teacher(tmp_path / "c" / "teacher.pt", data)
    ref = kdbench.build(tmp_path / "c", p, plan, data=data, device="cpu", log=lambda m: None)
    key = ["arch_index", "seed", "mode"]
    merged = full.merge(ref, on=key, suffixes=("", "_ref"))
    assert len(merged) == 8 and (merged["test_acc"] == merged["test_acc_ref"]).all()
    # another protocol on the same directory is refused, naming the field
    with pytest.raises(ValueError, match="differing fields.*'lr': \\(0.05, 0.2\\)"):
        kdbench.build(tmp_path / "b", p.replace(lr=0.2), plan, data=data, device="cpu", log=lambda m: None)
    # export is a loadable ground truth with both metrics and a noise-floor summary
    from proxybench.benchmarks.groundtruth import load_benchmark

    meta = kdbench.export_ground_truth(tmp_path / "b", tmp_path / "gt.pbgt", name="tiny", dataset_label="toy-8")
    gt = load_benchmark(str(tmp_path / "gt.pbgt"))
    assert set(gt.ground_truth["metric"]) == {"kd_acc", "vanilla_acc", "kd_gain"}  # kd_gain derived on load
    assert len(gt.ground_truth) == 8 + 4 and gt.metadata["protocol"]["lr"] == 0.05  # 8 runs, 4 (cell, seed) gains
    assert meta["summary"]["archs_with_both"] == 3
    assert "kendall_tau_kd_vs_vanilla" in meta["summary"]


def test_summarize_known_values():
    rows = []
    for a, (v, k) in enumerate([(80, 82), (70, 75), (60, 58), (50, 55)]):
        rows += [dict(arch_index=a, seed=0, mode="vanilla", test_acc=v), dict(arch_index=a, seed=0, mode="kd",
                                                                             test_acc=k)]
        rows += [dict(arch_index=a, seed=1, mode="vanilla", test_acc=v + (1 if a == 3 else 0))]
    s = kdbench.summarize(pd.DataFrame(rows))
    assert s["kendall_tau_kd_vs_vanilla"] == 1.0
    assert s["kd_gain_mean"] == pytest.approx((2 + 5 - 2 + 4.5) / 4)  # vanilla of arch 3 is the seed mean 50.5
    assert s["kd_better_fraction"] == 0.75 and s["kd_gain_min"] == -2
    assert s["noise_tau_vanilla"] == 1.0 and s["noise_archs_vanilla"] == 4


def test_cli_build_killed_and_resumed(tmp_path):
    proto = tmp_path / "proto.json"
    Protocol(**{**TINY, "train_subset": 128, "epochs": 2.0}).save(proto)
    out = tmp_path / "build"
    out.mkdir()
    _teacher(out / "teacher.pt", None, num_classes=10)
    archs = tmp_path / "archs.txt"
    archs.write_text("3\n10\n# a comment\n20\n33\n")
    cmd = [sys.executable, "-m", "proxybench.cli", "kd-bench", "build", "--protocol", str(proto), "--archs",
           str(archs), "--out", str(out), "--device", "cpu", "--threads", "1"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if (out / "runs.csv").exists() and len(pd.read_csv(out / "runs.csv")) >= 1:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len(pd.read_csv(out / "runs.csv"))
    assert 1 <= done_before < 8
    assert subprocess.run(cmd, env=env, capture_output=True).returncode == 0
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == 8 and not runs.duplicated(["arch_index", "seed", "mode"]).any()
    # uninterrupted reference with the same protocol gives the same accuracies
    ref_out = tmp_path / "ref"
    ref_out.mkdir()
    _teacher(ref_out / "teacher.pt", None, num_classes=10)
    ref_cmd = cmd[:cmd.index("--out") + 1] + [str(ref_out)] + cmd[cmd.index("--out") + 2:]
    assert subprocess.run(ref_cmd, env=env, capture_output=True).returncode == 0
    ref = pd.read_csv(ref_out / "runs.csv")
    key = ["arch_index", "seed", "mode"]
    m = runs.merge(ref, on=key, suffixes=("", "_ref"))
    assert len(m) == 8 and (m["test_acc"] == m["test_acc_ref"]).all()
    status = subprocess.run([sys.executable, "-m", "proxybench.cli", "kd-bench", "status", str(out)],
                            capture_output=True, text=True)
    assert json.loads(status.stdout)["runs"] == 8


def test_shards_cover_the_plan_once(tmp_path):
    data = tiny_data()
    p = Protocol(**TINY)
    (tmp_path / "b").mkdir()
    _teacher(tmp_path / "b" / "teacher.pt", data)
    plan = kdbench.plan_runs([3, 10, 20])
    a = kdbench.build(tmp_path / "b", p, plan, data=data, device="cpu", shard=(0, 2), log=lambda m: None)
    assert len(a) == 3
    b = kdbench.build(tmp_path / "b", p, plan, data=data, device="cpu", shard=(1, 2), log=lambda m: None)
    assert len(b) == 6 and not b.duplicated(["arch_index", "seed", "mode"]).any()
    with pytest.raises(ValueError, match="shard must be"):
        kdbench.build(tmp_path / "b", p, plan, data=data, device="cpu", shard=(2, 2), log=lambda m: None)


def test_teacher_class_mismatch(tmp_path):
    (tmp_path / "b").mkdir()
    _teacher(tmp_path / "b" / "teacher.pt", None, num_classes=10)
    with pytest.raises(ValueError, match="teacher .* has 10 outputs but the data set has 4 classes"):
        kdbench.build(tmp_path / "b", Protocol(**TINY), kdbench.plan_runs([3]), data=tiny_data(), device="cpu",
                      log=lambda m: None)


def test_cli_errors(tmp_path, capsys):
    assert main(["kd-bench", "build", "--protocol", str(tmp_path / "no.json"), "--archs", "3", "--out",
                 str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["kd-bench", "status", str(tmp_path)]) == 2
    assert "not a kd-bench build directory" in capsys.readouterr().err
