"""KD-aware proxies: DisWOT and KD losses as zero-cost proxies, with single and ensemble teachers."""

from __future__ import annotations

import copy
import math

import pytest
import torch

import proxybench
from proxybench import nb201
from proxybench.distill import losses as L
from proxybench.distill.teachers import build_teacher
from proxybench.proxies import ProxyError, get_spec, list_proxies, make_context, score_many
from proxybench.proxies.kd._teacher import clear_teacher_cache, teacher_cache_info

KD_PROXIES = ["at", "cc", "diswot", "diswot_relation", "diswot_semantic", "ickd", "kd", "nst", "pkt", "rkd", "sp"]
ARCH = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_3x3~1|skip_connect~2|"
OTHER = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"


@pytest.fixture(scope="module")
def batch():
    g = torch.Generator().manual_seed(0)
    return torch.randn(16, 3, 16, 16, generator=g), torch.randint(0, 10, (16,), generator=g)


def student(arch=ARCH, C=4, seed=0):
    return nb201.build_network(arch, C=C, N=1, num_classes=10, seed=seed)


def scores(model, batch, teacher, names=KD_PROXIES, **options):
    x, y = batch
    ctx = make_context(model, x, y, teacher=teacher, **options)
    return {r.proxy: r.score for r in score_many(names, ctx, raise_errors=True)}


def test_registered_as_teacher_proxies():
    assert set(KD_PROXIES) <= set(list_proxies(teacher=True))
    for name in KD_PROXIES:
        spec = get_spec(name)
        assert spec.teacher and spec.direction == -1 and spec.bn == "train"
        assert spec.paper and spec.summary
    assert get_spec("diswot").labels and get_spec("diswot_semantic").labels
    assert not get_spec("diswot_relation").labels and not get_spec("kd").labels


def test_identical_teacher_gives_zero_distance_the_best_score(batch):
    model = student()
    teacher = copy.deepcopy(model)  # same architecture and weights; random init -> train-mode BN, like the student
    same = scores(model, batch, teacher)
    other = scores(student(OTHER, seed=1), batch, teacher)
    for name in KD_PROXIES:
        assert same[name] == pytest.approx(0.0, abs=1e-6), name
        assert other[name] < same[name], name  # any other student scores worse


@pytest.mark.parametrize("C", [16, 8])
def test_equal_and_different_classifier_widths(batch, C):
    """resnet8 has classifier width 64: equal to an NB201 C=16 student's, larger than a C=8 student's (32)."""
    teacher = build_teacher("resnet8", num_classes=10, seed=0)
    model = student(C=C)
    got = scores(model, batch, teacher)
    assert all(math.isfinite(v) and v < 0 for v in got.values()), got
    x, y = batch
    with torch.no_grad():
        s = copy.deepcopy(model).train().forward_features(x)
        t = copy.deepcopy(teacher).train().forward_features(x)
    g_s = L.classifier_ce_gradient(s["pooled"], s["logits"], y)
    g_t = L.classifier_ce_gradient(t["pooled"], t["logits"], y)
    form = "channel" if C == 16 else "class"
    sem = float(L.diswot_semantic_distance(g_s, g_t, form=form))
    rel = float(L.diswot_relation_distance(s["pre_pool"], t["pre_pool"]))
    assert got["diswot_semantic"] == pytest.approx(-sem, rel=1e-5)
    assert got["diswot_relation"] == pytest.approx(-rel, rel=1e-5)
    assert got["diswot"] == pytest.approx(-(sem + rel), rel=1e-5)
    assert got["sp"] == pytest.approx(got["diswot_relation"], rel=1e-6)  # the same formula on the same map
    if C == 16:  # the width-independent form can be asked for at equal widths too
        forced = scores(model, batch, teacher, ["diswot_semantic"], diswot_semantic_form="class")
        assert forced["diswot_semantic"] == pytest.approx(
            -float(L.diswot_semantic_distance(g_s, g_t, form="class")), rel=1e-5)


def test_resnet20_teacher_with_a_narrow_nb201_student(batch):
    got = scores(student(C=8), batch, build_teacher("resnet20", num_classes=10, seed=0))
    assert all(math.isfinite(v) and v < 0 for v in got.values()), got


def test_ensemble_of_one_scores_like_its_member(batch):
    model = student()
    single = scores(model, batch, build_teacher("resnet8", seed=3))
    ensemble = scores(model, batch, build_teacher("ensemble:resnet8", seed=3))
    for name in KD_PROXIES:
        assert ensemble[name] == pytest.approx(single[name], rel=1e-6, abs=1e-9), name


def test_ensemble_scores_are_member_means_and_kd_uses_mean_logits(batch):
    model = student()
    ens = build_teacher("ensemble:resnet8,nb201:5@C=4,N=1", seed=0)
    a, b = ens.members
    got = scores(model, batch, ens)
    sa, sb = scores(model, batch, a), scores(model, batch, b)
    for name in KD_PROXIES:
        if name != "kd":
            assert got[name] == pytest.approx((sa[name] + sb[name]) / 2, rel=1e-5), name
    x, _ = batch
    with torch.no_grad():
        s_logits = copy.deepcopy(model).train()(x)
        t_logits = (copy.deepcopy(a).train()(x) + copy.deepcopy(b).train()(x)) / 2
    assert got["kd"] == pytest.approx(-float(L.kd_loss(s_logits, t_logits)), rel=1e-5)


def test_teacher_runs_once_per_batch_and_is_never_modified(batch):
    clear_teacher_cache()
    teacher = build_teacher("resnet8", seed=0)
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    teacher.train()
    first = [scores(student(arch, seed=i), batch, teacher) for i, arch in enumerate((ARCH, OTHER, ARCH))]
    info = teacher_cache_info()
    assert info["teacher_forwards"] == 1 and info["misses"] == 1 and info["hits"] == 2
    assert teacher.training  # its mode is left as it was
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, before[k]), k  # running statistics untouched by the train-mode pass
    x, y = batch
    scores(student(), (x.clone(), y.clone()), teacher)  # equal values in new tensors: still cached
    assert teacher_cache_info()["teacher_forwards"] == 1
    # a new batch, or new weights, is a new teacher pass
    scores(student(), (x + 1, y), teacher)
    with torch.no_grad():
        teacher.fc.weight.mul_(2)
    changed = scores(student(), batch, teacher)
    assert teacher_cache_info()["teacher_forwards"] == 3
    assert changed["kd"] != first[0]["kd"]


def test_threads_share_one_teacher_pass(batch):
    """Students scored from several threads at once (dask's threaded workers) get the sequential scores, and
    the teacher still runs once for the batch."""
    from concurrent.futures import ThreadPoolExecutor

    teacher = build_teacher("resnet8", seed=0)
    archs = [ARCH, OTHER] * 3
    clear_teacher_cache()
    expected = [scores(student(a, seed=i), batch, teacher, names=["diswot", "kd"]) for i, a in enumerate(archs)]
    students = [student(a, seed=i) for i, a in enumerate(archs)]  # seeded construction uses the global RNG
    clear_teacher_cache()
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda m: scores(m, batch, teacher, names=["diswot", "kd"]), students))
    assert got == expected
    assert teacher_cache_info()["teacher_forwards"] == 1


def test_deterministic(batch):
    teacher = build_teacher("resnet8", seed=0)
    clear_teacher_cache()
    a = scores(student(), batch, teacher)
    clear_teacher_cache()
    b = scores(student(), batch, build_teacher("resnet8", seed=0))
    assert a == b


def test_bn_mode_of_trained_and_random_teachers(batch, tmp_path):
    from proxybench.distill.teachers import save_teacher

    x, y = batch
    teacher = build_teacher("resnet8", seed=0)
    ctx = make_context(student(), x, y, teacher=teacher)
    assert ctx.pass_("teacher_features")["bn_modes"] == ("train",)
    teacher.train()
    with torch.no_grad():
        for _ in range(3):
            teacher(torch.randn(16, 3, 16, 16))
    path = save_teacher(teacher, None, tmp_path / "t.pt")
    trained = build_teacher(f"checkpoint:{path}")
    ctx = make_context(student(), x, y, teacher=trained)
    out = ctx.pass_("teacher_features")
    assert out["bn_modes"] == ("eval",)
    with torch.no_grad():
        torch.testing.assert_close(out["logits"], trained.eval()(x))
    forced = make_context(student(), x, y, teacher=trained, teacher_bn="train")
    assert forced.pass_("teacher_features")["bn_modes"] == ("train",)
    with pytest.raises(ProxyError, match="teacher_bn"):
        make_context(student(), x, y, teacher=trained, teacher_bn="frozen").pass_("teacher_features")


def test_teacher_given_as_a_spec_string(batch):
    x, y = batch
    by_spec = proxybench.score("diswot", student(), x, y, teacher="resnet8")
    by_model = proxybench.score("diswot", student(), x, y, teacher=build_teacher("resnet8", seed=0))
    assert by_spec == pytest.approx(by_model, rel=1e-6)
    with pytest.raises(ProxyError, match="Valid forms"):
        proxybench.score("sp", student(), x, y, teacher="vgg8")


def test_requirements_are_reported(batch):
    x, y = batch
    with pytest.raises(ProxyError, match="needs a teacher"):
        proxybench.score("sp", student(), x, y)
    with pytest.raises(ProxyError, match="needs labels"):
        proxybench.score("diswot", student(), x, None, teacher="resnet8")
    assert math.isfinite(proxybench.score("diswot_relation", student(), x, None, teacher="resnet8"))
    with pytest.raises(ProxyError, match="100 classes"):
        proxybench.score("kd", student(), x, y, teacher=build_teacher("resnet8", num_classes=100))
    with pytest.raises(ProxyError, match="forward_features"):
        proxybench.score("sp", student(), x, y, teacher=torch.nn.Sequential(torch.nn.Flatten(),
                                                                          torch.nn.Linear(768, 10)))
