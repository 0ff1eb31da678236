"""Oracle KD (Kang, Mun, Han, AAAI 2020): the oracle target, the loss, the distiller in the trainer and the builder,
ensemble teachers from `kd-bench teacher --members`, and consistent teaching with augmentation."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from proxybench.cli import main
from proxybench.distill import kdbench
from proxybench.distill.distillers import KDBatch, make_distiller
from proxybench.distill.losses import kd_loss, oracle_correct, oracle_kd_loss, oracle_target
from proxybench.distill.protocol import Protocol
from proxybench.distill.teachers import TeacherEnsemble, build_teacher, save_teacher
from proxybench.distill.trainer import TrainData, build_student, teacher_logits, train
from proxybench.nb201 import build_network

TINY = dict(name="tiny", dataset="synthetic", resolution=8, channels=3, train_subset=64, epochs=1.0,
            batch_size=16, lr=0.05, C=4, N=1, eval_batch_size=256, temperature=2.0, alpha=0.7)


def toy_data(n=64, n_test=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 4
    x = torch.randn(n, 3, 8, 8, generator=g) + y.view(-1, 1, 1, 1).float()
    yt = torch.arange(n_test) % 4
    xt = torch.randn(n_test, 3, 8, 8, generator=g) + yt.view(-1, 1, 1, 1).float()
    return TrainData(x, y, xt, yt, 4, "toy")


def members_toy(num_classes=4, seeds=(5, 6, 7)):
    return [build_network(7, C=4, N=1, num_classes=num_classes, seed=s).eval() for s in seeds]


# ---- the oracle target ------------------------------------------------------------------------------------------
# three members, four samples, three classes; the true classes are 0, 1, 2, 0
Z = [torch.tensor([[3.0, 0.0, 0.0], [0.0, 2.0, 0.5], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]),   # right on 0, 1
     torch.tensor([[0.0, 3.0, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]),   # right on 1
     torch.tensor([[0.0, 0.0, 2.0], [0.5, 3.0, 0.0], [0.0, 0.0, 4.0], [0.0, 2.0, 0.0]])]   # right on 1, 2
Y = torch.tensor([0, 1, 2, 0])


def soft(z, t):
    return F.softmax(z / t, dim=-1)


def test_oracle_correct_marks_members_right_per_sample():
    assert oracle_correct(Z, Y).tolist() == [[True, True, False, False], [False, True, False, False],
                                             [False, True, True, False]]


@pytest.mark.parametrize("t", [1.0, 4.0])
def test_oracle_target_single_correct_member_is_that_members_distribution(t):
    target = oracle_target(Z, Y, t)
    torch.testing.assert_close(target[0], soft(Z[0][0], t))  # only member 0 right on sample 0
    torch.testing.assert_close(target[2], soft(Z[2][2], t))  # only member 2 right on sample 2


def test_oracle_target_mean_of_the_correct_members():
    t = 4.0
    target = oracle_target(Z, Y, t)
    expected = (soft(Z[0][1], t) + soft(Z[1][1], t) + soft(Z[2][1], t)) / 3  # all three right on sample 1
    torch.testing.assert_close(target[1], expected)
    # two of three right: the wrong member does not count
    z = [torch.tensor([[2.0, 0.0]]), torch.tensor([[1.0, 0.5]]), torch.tensor([[0.0, 5.0]])]
    torch.testing.assert_close(oracle_target(z, torch.tensor([0]), 1.0)[0],
                               (soft(z[0][0], 1.0) + soft(z[1][0], 1.0)) / 2)
    assert torch.allclose(oracle_target(Z, Y, t).sum(1), torch.ones(4))


def test_oracle_target_fallbacks_when_no_member_is_right():
    t = 2.0
    mean_all = sum(soft(z[3], t) for z in Z) / 3  # sample 3 (class 0): every member says 1 or 2
    torch.testing.assert_close(oracle_target(Z, Y, t)[3], mean_all)
    torch.testing.assert_close(oracle_target(Z, Y, t, fallback="mean")[3], mean_all)
    label = oracle_target(Z, Y, t, fallback="label")
    assert label[3].tolist() == [1.0, 0.0, 0.0]
    torch.testing.assert_close(label[:3], oracle_target(Z, Y, t)[:3])  # the other samples are unchanged
    with pytest.raises(ValueError, match="fallback must be one of"):
        oracle_target(Z, Y, t, fallback="drop")


def test_oracle_target_argument_checks():
    with pytest.raises(ValueError, match="temperature must be > 0"):
        oracle_target(Z, Y, 0.0)
    with pytest.raises(ValueError, match="at least one member"):
        oracle_target([], Y)
    with pytest.raises(ValueError, match="B = 3 targets"):
        oracle_target(Z, Y[:3])


# ---- the loss --------------------------------------------------------------------------------------------------
def test_oracle_kd_loss_is_zero_when_the_student_matches_the_target():
    for t in (1.0, 3.0):
        for fallback in ("mean", "label"):
            target = oracle_target(Z, Y, t, fallback=fallback)
            # logits whose softmax at temperature t is the target (a one-hot target needs a very peaked student)
            student = t * torch.log(target.clamp_min(1e-30))
            assert abs(float(oracle_kd_loss(student, Z, Y, t, fallback=fallback))) < 1e-5


def test_oracle_kd_loss_matches_a_hand_computation_and_is_t2_scaled():
    s = torch.tensor([[1.0, 0.0, -1.0], [0.0, 0.5, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    for t in (1.0, 2.0, 4.0):
        q = [
            soft(Z[0][0], t),
            (soft(Z[0][1], t) + soft(Z[1][1], t) + soft(Z[2][1], t)) / 3,
            soft(Z[2][2], t),
            (soft(Z[0][3], t) + soft(Z[1][3], t) + soft(Z[2][3], t)) / 3,
        ]
        kl = 0.0
        for i in range(4):
            p = soft(s[i], t)
            kl += sum(float(q[i][k]) * math.log(float(q[i][k]) / float(p[k])) for k in range(3))
        expected = t * t * kl / 4
        assert float(oracle_kd_loss(s, Z, Y, t)) == pytest.approx(expected, rel=1e-5)
    # with one member right everywhere the oracle loss is plain KD from that member
    y0 = Z[0].argmax(1)
    torch.testing.assert_close(oracle_kd_loss(s, [Z[0], -Z[0]], y0, 3.0), kd_loss(s, Z[0], 3.0))


def test_oracle_kd_loss_gradient_reaches_only_the_student():
    s = torch.zeros(4, 3, requires_grad=True)
    members = [z.clone().requires_grad_(True) for z in Z]
    oracle_kd_loss(s, members, Y, 2.0).backward()
    assert s.grad is not None and s.grad.abs().sum() > 0
    assert all(m.grad is None for m in members)


# ---- the distiller ---------------------------------------------------------------------------------------------
def test_oracle_distiller_refuses_a_single_teacher():
    data = toy_data()
    p = Protocol(**TINY, distiller="oracle")
    one = members_toy(seeds=(5,))[0]
    with pytest.raises(ValueError, match="needs an ensemble teacher"):
        train(build_student(3, p, 4, seed=0), data, p, mode="kd", soft_targets=teacher_logits(one, data.x_train))
    with pytest.raises(ValueError, match="needs an ensemble teacher"):
        train(build_student(3, p, 4, seed=0), data, p, mode="kd", teacher=one)
    with pytest.raises(ValueError, match="needs an ensemble teacher"):
        train(build_student(3, p, 4, seed=0), data, p, mode="kd", teacher=TeacherEnsemble([one]))
    d = make_distiller(p)
    batch = KDBatch(x=data.x_train[:4], targets=Y, student_logits=torch.zeros(4, 3), teacher_logits=Z[0],
                    member_logits=[Z[0]], progress=0.0, step=0, total_steps=1)
    with pytest.raises(ValueError, match="needs an ensemble teacher"):
        d(batch)
    with pytest.raises(ValueError, match="only the option 'fallback'"):
        make_distiller(p.replace(distiller_options={"fall_back": "mean"}))
    with pytest.raises(ValueError, match="fallback must be one of"):
        make_distiller(p.replace(distiller_options={"fallback": "none"}))


def test_oracle_distiller_loss_is_ce_plus_weighted_oracle_kd():
    p = Protocol(**TINY, distiller="oracle", distiller_options={"fallback": "label"})
    s = torch.tensor([[1.0, 0.0, -1.0], [0.0, 0.5, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    batch = KDBatch(x=torch.zeros(4, 3, 8, 8), targets=Y, student_logits=s, teacher_logits=sum(Z) / 3,
                    member_logits=Z, progress=0.0, step=0, total_steps=1)
    expected = 0.3 * F.cross_entropy(s, Y) + 0.7 * oracle_kd_loss(s, Z, Y, 2.0, fallback="label")
    torch.testing.assert_close(make_distiller(p)(batch), expected)


def test_cached_logits_and_per_batch_teacher_give_the_same_loss():
    data = toy_data()
    p = Protocol(**TINY, distiller="oracle")
    ens = TeacherEnsemble(members_toy()).eval()
    cached = teacher_logits(ens, data.x_train, members=True)  # (M, N, K), once
    assert cached.shape == (3, 64, 4)
    idx = torch.tensor([5, 0, 17, 33, 60, 2])
    xb = data.x_train[idx].contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        live = [m(xb).float() for m in ens.members]
    s = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    for c, lv in zip(cached[:, idx], live):
        torch.testing.assert_close(c, lv, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(oracle_kd_loss(s, list(cached[:, idx]), data.y_train[idx], 2.0),
                               oracle_kd_loss(s, live, data.y_train[idx], 2.0), rtol=1e-5, atol=1e-6)
    # whole trainings: cached logits vs the teacher run on every batch
    a = train(build_student(3, p, 4, seed=1), data, p, mode="kd", seed=1, soft_targets=cached, device="cpu")
    b = train(build_student(3, p, 4, seed=1), data, p, mode="kd", seed=1, teacher=ens, device="cpu")
    assert a.train_loss == pytest.approx(b.train_loss, rel=1e-4)
    assert a.test_acc == b.test_acc


@pytest.mark.parametrize("distiller", ["kd", "oracle"])
def test_distillers_are_deterministic_for_a_seed(distiller):
    data = toy_data()
    p = Protocol(**TINY, distiller=distiller)
    soft_t = teacher_logits(TeacherEnsemble(members_toy()), data.x_train, members=True)
    runs = [train(build_student(3, p, 4, seed=s), data, p, mode="kd", seed=s, soft_targets=soft_t, device="cpu")
            for s in (0, 0, 1)]
    assert runs[0].train_loss == runs[1].train_loss and runs[0].test_acc == runs[1].test_acc
    assert runs[0].train_loss != runs[2].train_loss


class Recorder(nn.Module):
    """Passes inputs through ``net`` and keeps a copy of each input batch."""

    def __init__(self, net: nn.Module, log: list):
        super().__init__()
        self.net = net
        self.log = log

    def forward(self, x):
        self.log.append(x.detach().clone())
        return self.net(x)

    @property
    def classifier(self):
        return self.net.classifier

    @property
    def feature_dim(self):
        return self.net.feature_dim


@pytest.mark.parametrize("distiller", ["kd", "oracle"])
def test_consistent_teaching_runs_the_teacher_on_the_augmented_view(distiller):
    data = toy_data()
    p = Protocol(**TINY, distiller=distiller, augmentation="crop_flip")
    seen_s, seen_t = [], []
    if distiller == "kd":
        teacher = Recorder(members_toy(seeds=(5,))[0], seen_t)
    else:
        teacher = TeacherEnsemble([Recorder(m, seen_t) for m in members_toy(seeds=(5, 6))])
    student = Recorder(build_student(3, p, 4, seed=0), seen_s)
    res = train(student, data, p, mode="kd", seed=0, teacher=teacher, device="cpu")
    steps = res.steps
    n_members = 1 if distiller == "kd" else 2
    assert len(seen_t) == steps * n_members
    for i in range(steps):
        for j in range(n_members):
            assert torch.equal(seen_t[i * n_members + j], seen_s[i])
    # the views are augmented: the first batch differs from the same batch without augmentation
    plain = []
    train(Recorder(build_student(3, p, 4, seed=0), plain), data, p.replace(augmentation="none"), mode="kd", seed=0,
          teacher=teacher, device="cpu")
    assert seen_s[0].shape == plain[0].shape and not torch.equal(seen_s[0], plain[0])
    with pytest.raises(ValueError, match="teacher must run on each augmented batch"):
        train(build_student(3, p, 4, seed=0), data, p, mode="kd",
              soft_targets=teacher_logits(TeacherEnsemble(members_toy()), data.x_train, members=True))


# ---- builder and CLI -------------------------------------------------------------------------------------------
def _save_members(folder, num_classes=4, seeds=(5, 6)):
    paths = []
    for i, m in enumerate(members_toy(num_classes, seeds)):
        paths.append(save_teacher(m, "nb201:7@C=4,N=1", folder / f"m{i}.pt", extra={"test_acc": 40.0 + i}))
    return paths


def test_build_with_the_oracle_distiller_and_an_ensemble_of_checkpoints(tmp_path):
    data = toy_data()
    p = Protocol(**TINY, distiller="oracle")
    a, b = _save_members(tmp_path)
    plan = kdbench.plan_runs([3, 10])
    spec = f"ensemble:checkpoint:{a},checkpoint:{b}"
    runs = kdbench.build(tmp_path / "b1", p, plan, teacher_path=spec, data=data, device="cpu", log=lambda m: None)
    assert len(runs) == 4 and set(runs["mode"]) == {"vanilla", "kd"}
    rec = json.loads((tmp_path / "b1" / "teacher.json").read_text())
    assert rec["teacher"] == spec and rec["member_test_acc"] == [40.0, 41.0]
    # the same ensemble from a spec file with paths relative to the file: the same accuracies
    (tmp_path / "t.ensemble.txt").write_text("# two members\nensemble:checkpoint:m0.pt,checkpoint:m1.pt\n")
    assert kdbench.read_teacher_spec(f"@{tmp_path / 't.ensemble.txt'}") == spec
    again = kdbench.build(tmp_path / "b2", p, plan, teacher_path=f"@{tmp_path / 't.ensemble.txt'}", data=data,
                          device="cpu", log=lambda m: None)
    key = ["arch_index", "seed", "mode"]
    m = runs.merge(again, on=key, suffixes=("", "_2"))
    assert len(m) == 4 and (m["test_acc"] == m["test_acc_2"]).all()
    # a single teacher is refused before any run trains
    with pytest.raises(ValueError, match="needs an ensemble teacher"):
        kdbench.build(tmp_path / "b3", p, plan, teacher_path=str(a), data=data, device="cpu", log=lambda m: None)
    store = kdbench.RunStore(tmp_path / "b3" / "runs.sqlite")
    assert store.frame().empty
    store.close()
    with pytest.raises(FileNotFoundError, match="teacher spec file"):
        kdbench.read_teacher_spec(f"@{tmp_path / 'none.txt'}")
    (tmp_path / "two.txt").write_text("resnet8\nresnet14\n")
    with pytest.raises(ValueError, match="holds 2 specs"):
        kdbench.read_teacher_spec(f"@{tmp_path / 'two.txt'}")


def test_ensemble_accuracies_known_values():
    logits = torch.tensor([[[2.0, 0.0], [2.0, 0.0], [0.0, 1.0]],     # member 0 says 0, 0, 1
                           [[0.0, 1.0], [3.0, 0.0], [0.0, 1.0]]])    # member 1 says 1, 0, 1
    acc = kdbench.ensemble_accuracies(logits, torch.tensor([1, 1, 1]))
    assert acc["member_test_acc"] == [pytest.approx(100 / 3, abs=1e-3), pytest.approx(200 / 3, abs=1e-3)]
    # mean logits: [1, .5] -> 0 (wrong), [2.5, 0] -> 0 (wrong), [0, 1] -> 1 (right)
    assert acc["ensemble_test_acc"] == pytest.approx(100 / 3, abs=1e-3)
    assert acc["oracle_test_acc"] == pytest.approx(200 / 3, abs=1e-3)  # samples 0 and 2 have a right member


def test_cli_teacher_members_then_oracle_build_from_the_spec_file(tmp_path, capsys):
    proto = tmp_path / "proto.json"
    Protocol(**{**TINY, "distiller": "oracle"}).save(proto)
    out = tmp_path / "build" / "teacher.pt"
    assert main(["kd-bench", "teacher", "--protocol", str(proto), "--spec", "nb201:7@C=4,N=1", "--members", "2",
                 "--epochs", "0.02", "--augmentation", "none", "--out", str(out), "--device", "cpu",
                 "--threads", "1"]) == 0
    capsys.readouterr()
    info = json.loads(out.with_suffix(".json").read_text())
    assert [m["seed"] for m in info["members"]] == [0, 1]
    assert len(info["member_test_acc"]) == 2
    assert max(info["member_test_acc"]) <= info["oracle_test_acc"] <= 100.0
    assert info["test_acc"] == info["ensemble_test_acc"]
    for i in range(2):
        assert (tmp_path / "build" / f"teacher.m{i}.pt").exists()
    spec_file = tmp_path / "build" / "teacher.ensemble.txt"
    assert "ensemble:checkpoint:teacher.m0.pt,checkpoint:teacher.m1.pt" in spec_file.read_text()
    # the ensemble checkpoint and the spec file load as the same two-member teacher
    from_ckpt = build_teacher(f"checkpoint:{out}")
    from_file = build_teacher(kdbench.read_teacher_spec(f"@{spec_file}"))
    x = torch.randn(3, 3, 8, 8)
    torch.testing.assert_close(from_ckpt(x), from_file(x))
    assert len(from_ckpt.members) == 2
    # different architectures: --spec a,b (commas inside a member's @options are kept)
    out2 = tmp_path / "t2" / "teacher.pt"
    assert main(["kd-bench", "teacher", "--protocol", str(proto), "--spec", "nb201:7@C=4,N=1,nb201:3@C=4,N=1",
                 "--epochs", "0.02", "--augmentation", "none", "--out", str(out2), "--device", "cpu"]) == 0
    info2 = json.loads(out2.with_suffix(".json").read_text())
    assert [m["spec"] for m in info2["members"]] == ["nb201:7@C=4,N=1", "nb201:3@C=4,N=1"]
    assert main(["kd-bench", "teacher", "--protocol", str(proto), "--spec", "resnet8,resnet14", "--members", "3",
                 "--epochs", "0.02", "--out", str(tmp_path / "x.pt")]) == 2
    assert "--members 3" in capsys.readouterr().err
    # build from the spec file with the oracle distiller; status shows the teacher
    archs = tmp_path / "archs.txt"
    archs.write_text("3\n")
    assert main(["kd-bench", "build", "--protocol", str(proto), "--archs", str(archs), "--teacher", f"@{spec_file}",
                 "--out", str(tmp_path / "build"), "--device", "cpu", "--threads", "1"]) == 0
    runs = pd.read_csv(tmp_path / "build" / "runs.csv")
    assert sorted(runs["mode"]) == ["kd", "vanilla"]
    capsys.readouterr()
    assert main(["kd-bench", "status", str(tmp_path / "build")]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["teacher"]["oracle_test_acc"] == info["oracle_test_acc"]
    assert status["teacher"]["member_test_acc"] == info["member_test_acc"]
    assert status["recipe"]["distiller"] == "oracle"
