"""Reusing vanilla runs across builds whose protocols differ only in KD-only fields."""

import pytest
from test_kdbench import TINY, _teacher, tiny_data

from proxybench.distill import builder, kdbench
from proxybench.distill.builder import check_protocol
from proxybench.distill.protocol import Protocol
from proxybench.distill.reuse import reuse_vanilla


def test_vanilla_key_ignores_kd_only_fields():
    p = Protocol(**TINY)
    kd_changed = p.replace(alpha=0.3, temperature=1.0, distiller="oracle", teacher={"spec": "x"})
    assert p.vanilla_key() == kd_changed.vanilla_key()
    assert p.vanilla_key() != p.replace(lr=0.2).vanilla_key()
    assert p.vanilla_key() != p.replace(augmentation="crop_flip").vanilla_key()
    assert p.training_key() != p.replace(alpha=0.3).training_key()


def test_reuse_copies_exactly_the_vanilla_runs_a_build_would_train(tmp_path):
    data = tiny_data()
    p1, p2 = Protocol(**TINY), Protocol(**dict(TINY, alpha=0.5, temperature=1.0))
    for d in ("v1", "v2", "ref"):
        (tmp_path / d).mkdir()
        _teacher(tmp_path / d / "teacher.pt", data)
    quiet = dict(data=data, device="cpu", log=lambda m: None)
    kdbench.build(tmp_path / "v1", p1, kdbench.plan_runs([3, 10]), **quiet)
    plan2 = kdbench.plan_runs([3, 10, 20])
    check_protocol(tmp_path / "v2", p2)
    store = kdbench.RunStore(tmp_path / "v2" / "runs.sqlite")
    try:
        assert reuse_vanilla(tmp_path / "v1", store, p2, plan2) == 2  # archs 3 and 10, seed 0
        assert reuse_vanilla(tmp_path / "v1", store, p2, plan2) == 0  # nothing twice
    finally:
        store.close()
    reused = kdbench.build(tmp_path / "v2", p2, plan2, **quiet)
    fresh = kdbench.build(tmp_path / "ref", p2, plan2, **quiet)
    key = ["arch_index", "seed", "mode"]
    merged = reused.merge(fresh, on=key, suffixes=("", "_ref"))
    assert len(merged) == 6 and (merged["test_acc"] == merged["test_acc_ref"]).all()
    van = reused[reused["mode"] == "vanilla"].set_index("arch_index")["protocol_key"]
    assert van[3] == p1.training_key() and van[20] == p2.training_key()


def test_reuse_refuses_a_different_vanilla_protocol(tmp_path):
    data = tiny_data()
    (tmp_path / "v1").mkdir()
    _teacher(tmp_path / "v1" / "teacher.pt", data)
    kdbench.build(tmp_path / "v1", Protocol(**TINY), kdbench.plan_runs([3], modes=["vanilla"]), data=data,
                  device="cpu", log=lambda m: None)
    store = kdbench.RunStore(tmp_path / "s.sqlite")
    try:
        with pytest.raises(ValueError, match=r"differs in \['lr'\]"):
            reuse_vanilla(tmp_path / "v1", store, Protocol(**dict(TINY, lr=0.2)), kdbench.plan_runs([3]))
    finally:
        store.close()


def test_cli_reuse_vanilla(tmp_path, monkeypatch, capsys):
    from proxybench.cli import main

    data = tiny_data()
    monkeypatch.setattr(builder, "load_train_data", lambda protocol, root=None: data)
    p1, p2 = Protocol(**TINY), Protocol(**dict(TINY, alpha=0.5, temperature=1.0))
    (tmp_path / "v1").mkdir()
    _teacher(tmp_path / "v1" / "teacher.pt", data)
    kdbench.build(tmp_path / "v1", p1, kdbench.plan_runs([3]), data=data, device="cpu", log=lambda m: None)
    p2.save(tmp_path / "p2.json")
    (tmp_path / "archs.txt").write_text("3\n")
    args = ["kd-bench", "build", "--protocol", str(tmp_path / "p2.json"), "--archs", str(tmp_path / "archs.txt"),
            "--teacher", str(tmp_path / "v1" / "teacher.pt"), "--out", str(tmp_path / "v2"), "--device", "cpu",
            "--reuse-vanilla", str(tmp_path / "v1")]
    assert main(args) == 0
    assert "reused 1 vanilla runs" in capsys.readouterr().err
    runs = kdbench.RunStore(tmp_path / "v2" / "runs.sqlite").frame()
    assert sorted(runs["mode"]) == ["kd", "vanilla"]
    assert runs.set_index("mode").loc["vanilla", "protocol_key"] == p1.training_key()
    lr_changed = Protocol(**dict(TINY, lr=0.3))
    lr_changed.save(tmp_path / "p3.json")
    bad = [a.replace("p2.json", "p3.json").replace(str(tmp_path / "v2"), str(tmp_path / "v3")) for a in args]
    assert main(bad) == 2
    assert "cannot reuse vanilla runs" in capsys.readouterr().err
