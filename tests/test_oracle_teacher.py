"""The ``ensemble:...@oracle`` teacher of the KD-aware proxies (Oracle KD, Kang, Mun & Han, AAAI 2020): the spec
form, the oracle target as logits, the members' shares, and the proxies scored with it through ``proxybench.score``
and ``proxybench eval``."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

import proxybench
from proxybench.benchmarks.groundtruth import GroundTruth
from proxybench.cli import main
from proxybench.distill.build_runs import check_teacher_for_distiller
from proxybench.distill.losses import (
    ORACLE_LOGIT_FLOOR,
    oracle_logits,
    oracle_member_shares,
    oracle_target,
    oracle_weights,
)
from proxybench.distill.protocol import Protocol
from proxybench.distill.teacher_records import read_teacher_spec
from proxybench.distill.teachers import (
    TeacherEnsemble,
    build_teacher,
    load_teacher,
    save_teacher,
    split_ensemble,
    split_oracle,
)
from proxybench.proxies import ProxyError

M0 = "nb201:|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|@C=4,N=1"
M1 = "nb201:|nor_conv_1x1~0|+|avg_pool_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|skip_connect~1|nor_conv_3x3~2|@C=4,N=1"
STUDENT = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|+|nor_conv_1x1~0|none~1|nor_conv_3x3~2|"


# ---- the target as logits ----------------------------------------------------------------------------------------
def test_one_correct_member_gives_its_distribution_at_every_temperature():
    g = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(6, 5, generator=g) * 3, torch.randn(6, 5, generator=g) * 3
    z1[:, :] = z0.roll(1, dims=1)  # member 1's arg-max is never member 0's
    y = z0.argmax(1)  # member 0 is right on every sample, member 1 on none
    logits = oracle_logits([z0, z1], y)
    for t in (1.0, 2.0, 4.0):
        assert torch.allclose(F.softmax(logits / t, 1), F.softmax(z0 / t, 1), atol=1e-6)
    assert torch.allclose(oracle_member_shares([z0, z1], y), torch.tensor([1.0, 0.0]))


def test_several_correct_members_and_the_fallbacks():
    z_a = torch.tensor([[4.0, 0.0, 0.0], [0.0, 3.0, 0.0], [2.0, 0.0, 0.0]])
    z_b = torch.tensor([[3.0, 1.0, 0.0], [0.0, 0.0, 2.0], [0.0, 0.0, 1.0]])
    y = torch.tensor([0, 1, 1])  # sample 0: both right; 1: only a; 2: none
    w = oracle_weights([z_a, z_b], y)
    assert torch.equal(w, torch.tensor([[0.5, 1.0, 0.5], [0.5, 0.0, 0.5]]))
    assert torch.allclose(oracle_member_shares([z_a, z_b], y), torch.tensor([2 / 3, 1 / 3]))
    p = oracle_target([z_a, z_b], y, 1.0)
    assert torch.allclose(F.softmax(oracle_logits([z_a, z_b], y), 1), p, atol=1e-6)
    mean01 = (F.softmax(z_a[0], 0) + F.softmax(z_b[0], 0)) / 2
    assert torch.allclose(p[0], mean01) and torch.allclose(p[1], F.softmax(z_a[1], 0))
    # label fallback: the one-hot label, floored at 1e-30 in the logits
    lab = oracle_logits([z_a, z_b], y, fallback="label")
    assert lab[2, 1] == 0.0 and torch.allclose(lab[2, [0, 2]], torch.full((2,), float(np.log(ORACLE_LOGIT_FLOOR))))
    assert torch.allclose(F.softmax(lab[2], 0), torch.tensor([0.0, 1.0, 0.0]), atol=1e-12)


# ---- the spec form -------------------------------------------------------------------------------------------------
def test_the_spec_form_is_parsed_and_validated():
    spec = f"ensemble:{M0},{M1}@oracle"
    assert split_oracle(spec) == (f"ensemble:{M0},{M1}", "mean")
    assert split_oracle(f"ensemble:{M0},{M1}@oracle=label")[1] == "label"
    assert split_oracle(f"ensemble:{M0},{M1}") == (f"ensemble:{M0},{M1}", None)
    assert split_ensemble(spec) == [M0, M1]  # the suffix is not part of the last member (it has @C=4,N=1 too)
    t = build_teacher(spec, num_classes=10)
    assert isinstance(t, TeacherEnsemble) and t.oracle == "mean" and t.teacher_spec.endswith("@oracle")
    assert build_teacher(f"ensemble:{M0},{M1}@oracle=label").teacher_spec.endswith("@oracle=label")
    assert build_teacher(f"ensemble:{M0},{M1}").oracle is None
    for bad, needle in [(f"ensemble:{M0},{M1}@oracle=best", "@oracle=best is not a fallback; valid: @oracle, "
                                                              "@oracle=mean, @oracle=label"),
                        ("resnet20@oracle", "applies only to an ensemble"),
                        ("checkpoint:x.pt@oracle", "applies only to an ensemble"),
                        (f"ensemble:{M0}@oracle,{M1}", "@oracle must end the spec")]:
        with pytest.raises(ValueError, match="bad teacher spec") as err:
            build_teacher(bad)
        assert needle in str(err.value) and "Valid forms" in str(err.value)


def test_an_oracle_ensemble_round_trips_through_a_checkpoint_and_a_spec_file(tmp_path):
    t = build_teacher(f"ensemble:{M0},{M1}@oracle=label", num_classes=10)
    save_teacher(t, None, tmp_path / "ens.pt")
    back = load_teacher(tmp_path / "ens.pt")
    assert back.oracle == "label" and back.teacher_spec == t.teacher_spec
    for a in (0, 1):
        save_teacher(build_teacher(M0, seed=a), None, tmp_path / f"m{a}.pt")
    (tmp_path / "e.txt").write_text("ensemble:checkpoint:m0.pt,checkpoint:m1.pt@oracle\n")
    spec = read_teacher_spec(f"@{tmp_path / 'e.txt'}")
    assert spec == f"ensemble:checkpoint:{tmp_path / 'm0.pt'},checkpoint:{tmp_path / 'm1.pt'}@oracle"
    assert build_teacher(spec).oracle == "mean"


def test_kd_training_refuses_an_oracle_teacher():
    t = build_teacher(f"ensemble:{M0},{M1}@oracle", num_classes=10)
    for distiller in ("kd", "oracle"):
        with pytest.raises(ValueError, match="is an @oracle ensemble.*distiller"):
            check_teacher_for_distiller(Protocol(distiller=distiller), t)
    check_teacher_for_distiller(Protocol(distiller="oracle"), build_teacher(f"ensemble:{M0},{M1}", num_classes=10))
    from proxybench.distill.process import search_process

    with pytest.raises(ValueError, match="is an @oracle ensemble.*plain ensemble"):
        search_process(Protocol(), None, [3], t)


def test_list_teachers_shows_the_form(capsys):
    assert main(["list", "teachers"]) == 0
    assert "@oracle[=mean|label]" in capsys.readouterr().out


# ---- the proxies ---------------------------------------------------------------------------------------------------
def _members_and_batch(agree: bool):
    """Two members (eval-mode BN) and a batch on which member 0 alone is right (``agree``: both are right)."""
    m0, m1 = build_teacher(M0, num_classes=10, seed=0), build_teacher(M1, num_classes=10, seed=1)
    with torch.no_grad():  # push the members' arg-max apart: class 0 for member 0, class 1 for member 1
        m0.classifier.bias[0] += 3.0
        m1.classifier.bias[1] += 3.0
        if agree:
            m1.classifier.bias[0] += 6.0
    x = torch.randn(64, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        a0, a1 = m0.eval()(x).argmax(1), m1.eval()(x).argmax(1)
    keep = (a0 == a1) if agree else (a0 != a1)
    assert int(keep.sum()) >= 8
    x = x[keep][:16]
    return m0, m1, x, a0[keep][:16]


PROXIES = ("kd", "diswot", "diswot_relation", "rkd", "pkt", "pathway_cka")


def test_proxies_with_one_correct_member_score_as_with_that_member():
    m0, m1, x, y = _members_and_batch(agree=False)
    net = proxybench.nb201.build_network(STUDENT, C=4, N=1, num_classes=10, seed=0)
    oracle = TeacherEnsemble([m0, m1], oracle="mean")
    plain = TeacherEnsemble([m0, m1])
    for name in PROXIES:
        with_oracle = proxybench.score(name, net, x, y, teacher=oracle, teacher_bn="eval")
        alone = proxybench.score(name, net, x, y, teacher=m0, teacher_bn="eval")
        assert with_oracle == pytest.approx(alone, rel=1e-4, abs=1e-6), name
        assert with_oracle != pytest.approx(proxybench.score(name, net, x, y, teacher=plain, teacher_bn="eval"),
                                            rel=1e-6), name
    with pytest.raises(ProxyError, match="needs the batch labels"):
        proxybench.score("kd", net, x, None, teacher=oracle, teacher_bn="eval")


def test_proxies_with_every_member_correct_weigh_the_members_equally():
    m0, m1, x, y = _members_and_batch(agree=True)
    net = proxybench.nb201.build_network(STUDENT, C=4, N=1, num_classes=10, seed=0)
    oracle = TeacherEnsemble([m0, m1], oracle="mean")
    plain = TeacherEnsemble([m0, m1])
    for name in ("diswot_relation", "rkd", "pathway_cka"):  # feature distances: the plain ensemble's mean
        assert proxybench.score(name, net, x, y, teacher=oracle, teacher_bn="eval") == pytest.approx(
            proxybench.score(name, net, x, y, teacher=plain, teacher_bn="eval"), rel=1e-5)
    # kd: the student against the mean of the two members' distributions (T=1 mean, tempered by T=4)
    with torch.no_grad():
        p = (F.softmax(m0(x), 1) + F.softmax(m1(x), 1)) / 2
        s = proxybench.nb201.build_network(STUDENT, C=4, N=1, num_classes=10, seed=0).train()(x)
    t = 4.0
    expected = F.kl_div(F.log_softmax(s / t, 1), F.log_softmax(p.log() / t, 1), reduction="batchmean",
                        log_target=True) * t * t
    assert proxybench.score("kd", net, x, y, teacher=oracle, teacher_bn="eval") == pytest.approx(-float(expected),
                                                                                                rel=1e-4)


# ---- proxybench eval --teacher "ensemble:...@oracle" -------------------------------------------------------------
def _bench(path):
    rng = np.random.default_rng(1)
    rows = [{"arch_index": i, "dataset": "fashion-mnist", "metric": "kd_acc", "value": float(rng.uniform(50, 90)),
             "seed": -1} for i in (7, 100, 2024)]
    meta = {"name": "tiny", "description": "three archs with made-up accuracies (tests)",
            "data": {"dataset": "fashion-mnist", "resolution": 8, "channels": 3, "num_classes": 10},
            "network": {"C": 4, "N": 1}}
    GroundTruth(pd.DataFrame(rows), meta).save(path)
    return path


def _scores(run) -> dict:
    conn = sqlite3.connect(run / "store.sqlite")
    try:
        rows = conn.execute("SELECT arch_index, proxy, seed, score, status FROM scores").fetchall()
    finally:
        conn.close()
    assert rows and all(r[4] == "ok" for r in rows), rows
    return {r[:3]: r[3] for r in rows}


def test_eval_with_an_oracle_teacher_of_checkpoints(tmp_path, capsys):
    torch.set_num_threads(1)
    bench = _bench(tmp_path / "tiny.pbgt")
    save_teacher(build_teacher(M0, seed=4), None, tmp_path / "a.pt")
    base = ["eval", "--benchmark", str(bench), "--proxies", "kd,diswot,rkd", "--archs", "all", "--data",
            "synthetic", "--batch-size", "8", "--ci-resamples", "0", "--no-report", "--quiet"]
    a = f"checkpoint:{tmp_path / 'a.pt'}"
    assert main([*base, "--teacher", a, "--out", str(tmp_path / "one")]) == 0
    # an oracle over two copies of one checkpoint is that checkpoint (right or wrong, the mean of equal members)
    assert main([*base, "--teacher", f"ensemble:{a},{a}@oracle", "--out", str(tmp_path / "ora")]) == 0
    info = json.loads((tmp_path / "ora" / "run.json").read_text())
    assert info["teacher"]["spec"].endswith("@oracle")
    one, ora = _scores(tmp_path / "one"), _scores(tmp_path / "ora")
    assert one.keys() == ora.keys() and len(one) == 9
    for k in one:
        assert ora[k] == pytest.approx(one[k], rel=1e-4, abs=1e-6), k
    capsys.readouterr()
    assert main([*base, "--teacher", f"ensemble:{a},{a}@oracle=best", "--out", str(tmp_path / "bad")]) == 2
    assert "@oracle=best is not a fallback" in capsys.readouterr().err


def test_cli_single_teacher_then_a_build_refuses_its_oracle_ensemble(tmp_path, capsys):
    from test_kdbench import TINY

    proto = tmp_path / "proto.json"
    Protocol(**TINY).save(proto)
    out = tmp_path / "t" / "teacher.pt"
    assert main(["kd-bench", "teacher", "--protocol", str(proto), "--spec", "nb201:7@C=4,N=1", "--epochs", "0.02",
                 "--augmentation", "none", "--out", str(out), "--device", "cpu", "--threads", "1"]) == 0
    assert "test accuracy ->" in capsys.readouterr().out
    info = json.loads(out.with_suffix(".json").read_text())
    assert info["spec"] == "nb201:7@C=4,N=1" and info["checkpoint"] == "teacher.pt" and 0 <= info["test_acc"] <= 100
    (tmp_path / "archs.txt").write_text("3\n")
    spec = f"ensemble:checkpoint:{out},checkpoint:{out}@oracle"
    assert main(["kd-bench", "build", "--protocol", str(proto), "--archs", str(tmp_path / "archs.txt"), "--modes",
                 "kd", "--teacher", spec, "--out", str(tmp_path / "b"), "--device", "cpu"]) == 2
    assert "is an @oracle ensemble" in capsys.readouterr().err
