"""Conformance suite for every registered proxy (parametrized over ``proxybench.list_proxies()``).

A proxy added later is checked here with no edit: it must return a finite float on a small NB201 network (or a
NaN/inf reported with a reason), give the same number for the same seed, leave the caller's model exactly as
it was, record its time, and fail with a :class:`ProxyError` naming it when labels, a teacher or enough batches
are missing. Teacher-needing proxies get a small random-init NB201 teacher; every proxy gets as many batches as
it asks for.
"""

from __future__ import annotations

import math

import pytest
import torch

import proxybench
from proxybench import nb201
from proxybench.proxies import ProxyError, get_spec, make_context, score_many

ARCH = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
NUM_CLASSES = 10
BATCH = 16
ALL = proxybench.list_proxies()
NEEDS_LABELS = [n for n in ALL if get_spec(n).labels]
NEEDS_TEACHER = [n for n in ALL if get_spec(n).teacher]
NEEDS_BATCHES = [n for n in ALL if get_spec(n).batches > 1]


def make_batches(n: int, seed: int = 123) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    # labels mostly from 4 classes so that
    # per-class statistics (epe_nas) see repeated classes, plus the last class once
    out = []
    for _ in range(n):
        x = torch.randn(BATCH, 3, 16, 16, generator=g)
        y = torch.randint(0, 4, (BATCH,), generator=g)
        y[0] = NUM_CLASSES - 1
        out.append((x, y))
    return out


def small_net(seed: int = 0, arch: str = ARCH) -> torch.nn.Module:
    return nb201.build_network(arch, C=8, N=1, num_classes=NUM_CLASSES, seed=seed)


@pytest.fixture(scope="module")
def teacher() -> torch.nn.Module:
    return nb201.build_network((3,) * 6, C=8, N=1, num_classes=NUM_CLASSES, seed=7)


def context_for(names, model, teacher, seed: int = 0, **overrides):
    need = max([get_spec(n).batches for n in names] + [1])
    batches = make_batches(max(need, 2))
    kw = dict(batches=batches, teacher=teacher, seed=seed)
    kw.update(overrides)
    x, y = batches[0]
    return make_context(model, x, y, **kw)


def run_one(name, model, teacher, seed: int = 0):
    (res,) = score_many([name], context_for([name], model, teacher, seed))
    return res


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


@pytest.mark.parametrize("name", ALL)
def test_finite_float_or_reasoned_nan(name, teacher):
    spec = get_spec(name)
    assert spec.direction in (1, -1)
    assert spec.paper, f"proxy {name!r} cites no paper"
    assert (spec.fn.__doc__ or "").strip(), f"proxy {name!r} has no docstring (its formula)"
    res = run_one(name, small_net(), teacher)
    assert res.status in ("ok", "nan"), f"{name}: {res.error}"
    assert isinstance(res.score, float)
    if res.status == "ok":
        assert math.isfinite(res.score)
    else:
        assert not math.isfinite(res.score) and res.error, f"{name}: non-finite score without a reason"
    assert res.seconds > 0


@pytest.mark.parametrize("name", ALL)
def test_deterministic_for_a_seed(name, teacher):
    a = run_one(name, small_net(), teacher, seed=3)
    b = run_one(name, small_net(), teacher, seed=3)
    assert a.status == b.status
    assert same(a.score, b.score), f"{name}: {a.score!r} != {b.score!r}"


def snapshot(model: torch.nn.Module):
    return ({k: v.detach().clone() for k, v in model.state_dict().items()},
            {n: m.training for n, m in model.named_modules()},
            {n: p.requires_grad for n, p in model.named_parameters()})


@pytest.mark.parametrize("name", ALL)
def test_model_untouched(name, teacher):
    model = small_net(seed=1)
    model.eval()
    model.stages[1][0].train()  # a mixed train/eval state must survive too
    model.stem[0].weight.requires_grad_(False)
    state, modes, flags = snapshot(model)
    t_state, t_modes, t_flags = snapshot(teacher)
    ctx = context_for([name], model, teacher, seed=0)
    inputs = [(x.clone(), y.clone()) for x, y in ctx.batches]
    (res,) = score_many([name], ctx)
    assert res.status in ("ok", "nan"), f"{name}: {res.error}"
    after, after_modes, after_flags = snapshot(model)
    assert state.keys() == after.keys()
    for k in state:
        assert torch.equal(state[k], after[k]), f"{name} changed {k}"
    assert modes == after_modes, f"{name} changed a train/eval mode"
    assert flags == after_flags, f"{name} changed requires_grad"
    assert all(p.grad is None for p in model.parameters()), f"{name} left gradients on the model"
    for (x0, y0), (x1, y1) in zip(inputs, ctx.batches):
        assert torch.equal(x0, x1) and torch.equal(y0, y1), f"{name} changed its inputs"
    t_after, t_after_modes, t_after_flags = snapshot(teacher)
    assert all(torch.equal(t_state[k], t_after[k]) for k in t_state), f"{name} changed the teacher"
    assert t_modes == t_after_modes and t_flags == t_after_flags
    assert all(p.grad is None for p in teacher.parameters())


def test_shared_passes_give_identical_scores(teacher):
    """All proxies scored together (sharing passes) give exactly the numbers each gives alone."""
    model = small_net(seed=2)
    together = {r.proxy: r for r in score_many(ALL, context_for(ALL, model, teacher, seed=5))}
    for name in ALL:
        alone = run_one(name, model, teacher, seed=5)
        assert together[name].status == alone.status, f"{name}: {together[name].error} / {alone.error}"
        assert same(together[name].score, alone.score), f"{name}: {together[name].score!r} != {alone.score!r}"


def test_unknown_proxy_lists_valid_names():
    x, y = make_batches(1)[0]
    with pytest.raises(ValueError) as info:
        proxybench.score("no_such_proxy", small_net(), x, y)
    msg = str(info.value)
    assert "no_such_proxy" in msg
    assert all(n in msg for n in ALL)
    with pytest.raises(ValueError, match="no_such_proxy"):
        score_many(["snip", "no_such_proxy"], make_context(small_net(), x, y))


@pytest.mark.parametrize("name", NEEDS_LABELS)
def test_missing_labels_names_the_proxy(name, teacher):
    batches = make_batches(max(2, get_spec(name).batches))
    x, _ = batches[0]
    with pytest.raises(ProxyError, match=name):
        proxybench.score(name, small_net(), x, None, teacher=teacher, batches=[(b, None) for b, _ in batches])


@pytest.mark.parametrize("name", NEEDS_TEACHER)
def test_missing_teacher_names_the_proxy(name):
    batches = make_batches(max(2, get_spec(name).batches))
    x, y = batches[0]
    with pytest.raises(ProxyError, match=name):
        proxybench.score(name, small_net(), x, y, batches=batches)


@pytest.mark.parametrize("name", NEEDS_BATCHES)
def test_too_few_batches_names_the_proxy(name, teacher):
    x, y = make_batches(1)[0]
    with pytest.raises(ProxyError, match=name):
        proxybench.score(name, small_net(), x, y, teacher=teacher)


def test_errors_are_captured_per_proxy_in_score_many(teacher):
    x, _ = make_batches(1)[0]
    ctx = make_context(small_net(), x, None)
    res = {r.proxy: r for r in score_many(["snip", "params"], ctx)}
    assert res["snip"].status == "error" and "snip" in res["snip"].error and math.isnan(res["snip"].score)
    assert res["params"].status == "ok"
    with pytest.raises(ProxyError, match="snip"):
        score_many(["snip"], make_context(small_net(), x, None), raise_errors=True)
