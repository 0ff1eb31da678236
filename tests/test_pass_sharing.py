"""One copy, one forward, one backward: the shared passes give every proxy the numbers it gets from passes of its
own (bit for bit), the network copies equal deep copies, and the caller's network is left alone."""

from __future__ import annotations

import copy
import math
import time

import pytest
import torch
from torch import nn

import proxybench
from proxybench import nb201
from proxybench.benchmarks.nb201.network import NB201Network
from proxybench.distill.teachers import build_teacher
from proxybench.proxies import make_context, proxy_groups, score_many
from proxybench.proxies.context import apply_bn_mode, clone_module
from proxybench.proxies.kd._teacher import clear_teacher_cache
from proxybench.proxies.meco import min_corr_eigenvalue


def batch(n=8, shape=(3, 16, 16), classes=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, *shape, generator=g), torch.randint(0, classes, (n,), generator=g)


def assert_same_copy(a: nn.Module, b: nn.Module, original: nn.Module) -> None:
    """``b`` is a copy like the deep copy ``a`` of ``original``: same modules, attributes and tensors, nothing
    shared with ``original``."""
    assert type(a) is type(b)
    mods_a, mods_b, mods_o = list(a.named_modules()), list(b.named_modules()), list(original.named_modules())
    assert [n for n, _ in mods_a] == [n for n, _ in mods_b]
    for (name, ma), (_, mb), (_, mo) in zip(mods_a, mods_b, mods_o):
        assert type(ma) is type(mb) and mb is not mo, name
        assert set(ma.__dict__) == set(mb.__dict__), name
        for k, va in ma.__dict__.items():
            vb = mb.__dict__[k]
            if k in ("_parameters", "_buffers"):
                assert list(va) == list(vb)
                for t, (ta, tb) in enumerate(zip(va.values(), vb.values())):
                    if ta is None:
                        assert tb is None
                        continue
                    assert type(ta) is type(tb) and ta.dtype == tb.dtype and ta.requires_grad == tb.requires_grad
                    assert torch.equal(ta, tb)
                    assert tb.data_ptr() != list(mo.__dict__[k].values())[t].data_ptr()
            elif k != "_modules":
                assert type(va) is type(vb), (name, k)
                if isinstance(va, (int, float, str, tuple)) or va is None:
                    assert va == vb, (name, k)


# ---- network copies ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("arch", [0, 1234, 15624])
def test_clone_module_equals_deepcopy_on_nb201(arch):
    model = nb201.build_network(arch, C=8, N=2, seed=0)
    x, _ = batch(4)
    a, b = copy.deepcopy(model), clone_module(model)
    assert_same_copy(a, b, model)
    with torch.no_grad():
        assert torch.equal(a.train()(x), b.train()(x))
    with torch.no_grad():
        next(b.parameters()).add_(1.0)  # the copy owns its tensors
    assert torch.equal(next(model.parameters()), next(a.parameters()))


def test_clone_module_equals_deepcopy_on_teachers_and_bn_modes():
    teacher = build_teacher("resnet20", num_classes=10, in_channels=3, seed=0)
    assert_same_copy(copy.deepcopy(teacher), clone_module(teacher), teacher)
    ident = apply_bn_mode(nb201.build_network(7, C=8, N=1, seed=0), "identity")
    c = clone_module(ident)
    assert_same_copy(copy.deepcopy(ident), c, ident)
    x, _ = batch(4)
    with torch.no_grad():
        assert torch.equal(c(x), ident(x))  # BN forwards replaced by the identity survive the copy


class Odd(nn.Module):
    """Tied weights, a mutable attribute, a bound method, a plain tensor attribute, a hook and a buffer."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 3)
        self.b = nn.Linear(3, 3)
        self.b.weight = self.a.weight
        self.cfg = [1, 2, {"x": 3}]
        self.fn = self.helper
        self.t = torch.ones(2)
        self.register_buffer("buf", torch.zeros(3))
        self.register_buffer("gone", None)

    def helper(self):
        return 1

    def forward(self, x):
        return self.b(self.a(x))


class OwnCopy(nn.Linear):
    """A module that defines its own deep copy: copied by ``copy.deepcopy`` itself."""

    copies = 0

    def __deepcopy__(self, memo):
        OwnCopy.copies += 1
        new = OwnCopy(self.in_features, self.out_features)
        new.load_state_dict(self.state_dict())
        memo[id(self)] = new
        return new


def test_clone_module_keeps_sharing_attributes_hooks_and_custom_copies():
    odd = Odd()
    odd.register_forward_hook(lambda *args: None)
    c = clone_module(odd)
    assert_same_copy(copy.deepcopy(odd), c, odd)
    assert c.b.weight is c.a.weight and c.a.weight is not odd.a.weight
    assert c.cfg == odd.cfg and c.cfg is not odd.cfg and c.cfg[2] is not odd.cfg[2]
    assert c.fn.__self__ is c and c.t is not odd.t and torch.equal(c.t, odd.t)
    assert len(c._forward_hooks) == 1 and c.gone is None
    net = nn.Sequential(nn.Linear(3, 3), OwnCopy(3, 2))
    before = OwnCopy.copies
    c = clone_module(net)
    assert OwnCopy.copies == before + 1 and type(c[1]) is OwnCopy
    assert torch.equal(c[1].weight, net[1].weight) and c[1].weight is not net[1].weight


def test_scoring_leaves_the_callers_network_alone():
    model = nb201.build_network(1234, C=8, N=1, seed=0)
    model.eval()
    state = copy.deepcopy(model.state_dict())
    x, y = batch(8)
    names = sorted(set(proxy_groups()["default"]) | set(proxy_groups()["standard"]))
    res = score_many(names, make_context(model, x, y, teacher=copy.deepcopy(model), teacher_bn="train"))
    assert all(r.status != "error" for r in res), [(r.proxy, r.error) for r in res if r.status == "error"]
    assert not any(m.training for m in model.modules())
    assert all(p.grad is None for p in model.parameters())
    after = model.state_dict()
    assert all(torch.equal(state[k], after[k]) for k in state)


# ---- one forward for the standard and the KD-aware proxies ---------------------------------------------------
def test_kd_student_features_come_from_the_shared_forward_and_equal_a_forward_of_their_own(monkeypatch):
    model = nb201.build_network(4321, C=8, N=2, seed=0)
    x, y = batch(8)
    calls = []
    real = NB201Network.forward_features

    def counted(self, inp):
        calls.append(inp.shape[0])
        return real(self, inp)

    monkeypatch.setattr(NB201Network, "forward_features", counted)
    ctx = make_context(model, x, y, teacher="resnet20")
    student = ctx.pass_("kd_student_features")
    ctx.pass_("input_jacobian")
    ctx.pass_("relu_kernel")
    assert calls == [8]  # one forward of the student's batch serves its features, the Jacobian and the codes
    assert ctx.pass_("train_forward").features is not None
    with torch.no_grad():
        own = real(copy.deepcopy(model).train(), x)
    for k in ("stage1", "stage2", "stage3", "pre_pool", "pooled", "logits"):
        assert torch.equal(student[k], own[k]), k
        assert not student[k].requires_grad


class AddsToLogits(NB201Network):
    """A network whose forward does not return ``forward_features``'s logits."""

    def forward(self, x):
        return self.forward_features(x)["logits"] + 1.0


class NoFeatureCall(NB201Network):
    """A network whose forward does not call ``forward_features``."""

    def forward(self, x):
        h = self.stem(x)
        for stage in self.stages:
            h = stage(h)
        return self.classifier(self.global_pooling(self.lastact(h)).flatten(1))


@pytest.mark.parametrize("cls", [AddsToLogits, NoFeatureCall])
def test_kd_student_features_of_other_forwards_are_their_own(cls):
    model = cls(nb201.index_to_arch(99), C=8, N=1)
    x, y = batch(8)
    ctx = make_context(model, x, y, teacher="resnet20")
    assert ctx.pass_("train_forward").features is None
    student = ctx.pass_("kd_student_features")
    with torch.no_grad():
        own = copy.deepcopy(model).train().forward_features(x)
    assert all(torch.equal(student[k], own[k]) for k in ("pooled", "logits"))


def test_the_default_group_scores_together_exactly_as_alone():
    clear_teacher_cache()
    model = nb201.build_network(9876, C=8, N=2, seed=0)
    x, y = batch(16)
    names = proxy_groups()["default"]
    together = {r.proxy: r.score for r in score_many(names, make_context(model, x, y, teacher="resnet20"))}
    alone = {n: proxybench.score(n, model, x, y, teacher="resnet20") for n in names}
    assert together.keys() == alone.keys()
    for n in names:
        assert together[n] == alone[n] or (math.isnan(together[n]) and math.isnan(alone[n])), n


# ---- meco: every module output counted, each distinct tensor decomposed once ----------------------------------
def meco_reference(model: nn.Module, x: torch.Tensor, sample=None, gen=None) -> float:
    """MeCo as the authors compute it: one lambda_min per hooked module output, in call order."""
    values = []

    def hook(module, args, output):
        if isinstance(output, torch.Tensor) and output.dim() >= 2:
            values.append(min_corr_eigenvalue(output[0].detach(), sample, gen))

    m = copy.deepcopy(model).train()
    handles = [mod.register_forward_hook(hook) for mod in m.modules()]
    with torch.no_grad():
        m(x)
    for h in handles:
        h.remove()
    return float(sum(v for v in values if not math.isnan(v)))


@pytest.mark.parametrize("arch", [0, 1234, 15624])
def test_meco_equals_the_per_module_reference(arch):
    model = nb201.build_network(arch, C=8, N=2, seed=0)
    x, _ = batch(4)
    assert proxybench.score("meco", model, x) == meco_reference(model, x[:1])
    ctx = make_context(model, x, None, meco_channels=3)
    gen = ctx.generator("meco_channels")
    assert proxybench.score("meco", model, x, meco_channels=3) == meco_reference(model, x[:1], 3, gen)


def test_pass_cpu_seconds_are_each_passs_own_work():
    model = nb201.build_network(4321, C=8, N=1, seed=0)
    x, y = batch(8)
    ctx = make_context(model, x, y)
    c0 = time.thread_time()
    ctx.pass_("grasp_hvp")  # asks for ce_backward, which asks for train_forward
    total = time.thread_time() - c0
    assert set(ctx.pass_cpu_seconds) == set(ctx.pass_seconds) == {"train_forward", "ce_backward", "grasp_hvp"}
    assert all(v >= 0 for v in ctx.pass_cpu_seconds.values())
    assert sum(ctx.pass_cpu_seconds.values()) <= total + 1e-6  # nested passes are not counted twice
    assert ctx.pass_seconds["grasp_hvp"] >= ctx.pass_seconds["ce_backward"] >= ctx.pass_seconds["train_forward"]
