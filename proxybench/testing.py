"""Checks that a registered proxy keeps the contract its declaration states, in the spirit of scikit-learn's
``check_estimator``.

::

    from proxybench.testing import check_proxy, parametrize_with_proxy_checks

    check_proxy("my_proxy")  # raises AssertionError listing every check it fails

    @parametrize_with_proxy_checks()  # one pytest case per (proxy, check), for every registered proxy
    def test_proxy_contract(name, check):
        check(name)

:func:`proxy_checks` picks the checks from what the proxy declares. Every proxy must give a float (finite, or
non-finite with a reason), the same one for the same seed, ``direction`` times its raw value, leave the
caller's network, inputs and teacher untouched, accept its declared options and refuse unknown or ill-typed ones,
read only the batches it declares and run its network copies in its declared BN mode. What it declares it does
not need, it must not use: without ``labels`` it runs with no targets and gives the same score whatever the
labels; without ``teacher`` likewise for the teacher; ``data_free`` gives the same score for different inputs;
``gradients=False`` runs no backward pass. What it needs, it must ask for: a missing one is a ``ProxyError``
naming the proxy.

The checks run on a small NB201 network (C=8, N=1, 10 classes), random 16 x 16 batches of 16 images and a
random-init NB201 teacher.

Search spaces have their own checks (:func:`check_space`, :func:`parametrize_with_space_checks`; see
:data:`SPACE_CHECKS`): a third space is one module plus its ``@register_space`` and passes them like the others.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

from .proxies import ProxyError, get_spec, list_proxies, make_context, score_many
from .proxies.engine import run_proxy
from .proxies.registry import BN_MODES, GROUPS

__all__ = ["SPACE_CHECKS", "check_proxy", "check_space", "parametrize_with_proxy_checks",
           "parametrize_with_space_checks", "proxy_checks"]

ARCH = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
NUM_CLASSES = 10
BATCH = 16
_UNKNOWN_OPTION = "no_such_option_for_any_proxy"


# ---- the setting ---------------------------------------------------------------------------------------------------
def make_network(seed: int = 0) -> nn.Module:
    from .benchmarks import nb201

    return nb201.build_network(ARCH, C=8, N=1, num_classes=NUM_CLASSES, seed=seed)


@functools.lru_cache(maxsize=1)
def _teacher() -> nn.Module:
    from .benchmarks import nb201

    return nb201.build_network((3,) * 6, C=8, N=1, num_classes=NUM_CLASSES, seed=7)


def make_batches(n: int, seed: int = 123, labels: bool = True) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """``n`` random batches; labels mostly from 4 classes (so per-class statistics see repeats) plus the last."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        x = torch.randn(BATCH, 3, 16, 16, generator=g)
        y = torch.randint(0, 4, (BATCH,), generator=g)
        y[0] = NUM_CLASSES - 1
        out.append((x, y if labels else None))
    return out


def _relabel(batches, seed: int) -> list:
    g = torch.Generator().manual_seed(seed)
    return [(x, torch.randint(0, NUM_CLASSES, (x.shape[0],), generator=g)) for x, _ in batches]


def _context(spec, *, model=None, batches=None, teacher="auto", seed: int = 0, **options):
    batches = make_batches(spec.batches) if batches is None else batches
    if teacher == "auto":
        teacher = _teacher() if spec.teacher else None
    x, y = batches[0]
    return make_context(make_network() if model is None else model, x, y, batches=batches, teacher=teacher,
                        seed=seed, **options)


def _run(spec, **kw):
    (res,) = score_many([spec.name], _context(spec, **kw))
    return res


_BASE: dict[int, tuple] = {}


def _base(spec):
    """The result in the default setting (seed 0, the declared batches, labels, a teacher when declared), computed
    once per registered spec."""
    hit = _BASE.get(id(spec))
    if hit is None or hit[0] is not spec:
        if len(_BASE) > 256:
            _BASE.clear()
        hit = _BASE[id(spec)] = (spec, _run(spec))
    return hit[1]


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def _ok(spec, res, what: str) -> None:
    assert res.status in ("ok", "nan"), f"{what}: it fails: {res.error}"


# ---- checks every proxy gets -------------------------------------------------------------------------------------
def check_declaration(name: str) -> None:
    """Direction +-1, a paper, a docstring (its formula), a known BN mode and known groups."""
    spec = get_spec(name)
    assert spec.direction in (1, -1), f"direction must be +1 or -1, got {spec.direction!r}"
    assert spec.paper, "cites no paper"
    assert (spec.fn.__doc__ or "").strip(), "has no docstring (its formula)"
    assert spec.bn in BN_MODES, f"unknown bn mode {spec.bn!r}"
    assert set(spec.groups) <= set(GROUPS), f"unknown groups {sorted(set(spec.groups) - set(GROUPS))}"


def check_finite_float(name: str) -> None:
    """With everything it declares, a float: finite, or non-finite with a reason; its time is recorded."""
    spec = get_spec(name)
    res = _base(spec)
    _ok(spec, res, "with everything it declares")
    assert isinstance(res.score, float), f"score is a {type(res.score).__name__}, not a float"
    if res.status == "ok":
        assert math.isfinite(res.score), f"status ok but score {res.score!r}"
    else:
        assert not math.isfinite(res.score) and res.error, "non-finite score without a reason (ctx.nonfinite)"
    assert res.seconds > 0, "no time recorded"


def check_deterministic(name: str) -> None:
    """The same seed gives the same score."""
    spec = get_spec(name)
    a, b = _run(spec, seed=3), _run(spec, seed=3)
    assert a.status == b.status and _same(a.score, b.score), f"seed 3 gave {a.score!r}, then {b.score!r}"


def check_direction(name: str) -> None:
    """The reported score is ``direction`` times the raw value the function returns."""
    spec = get_spec(name)
    reported = run_proxy(spec, _context(spec))
    ctx = _context(spec)
    with ctx.running(spec, spec.parse_options({})):
        raw = float(spec.fn(ctx))
    assert _same(reported, spec.direction * raw), f"reported {reported!r} for raw {raw!r}, direction {spec.direction}"


def _snapshot(model: nn.Module):
    return ({k: v.detach().clone() for k, v in model.state_dict().items()},
            {n: m.training for n, m in model.named_modules()},
            {n: p.requires_grad for n, p in model.named_parameters()})


def check_model_untouched(name: str) -> None:
    """The caller's network (weights, modes, requires_grad, .grad), inputs and teacher are left as they were."""
    spec = get_spec(name)
    model = make_network(seed=1)
    model.eval()
    model.stages[1][0].train()  # a mixed train/eval state must survive too
    model.stem[0].weight.requires_grad_(False)
    teacher = _teacher()
    state, modes, flags = _snapshot(model)
    t_state, t_modes, t_flags = _snapshot(teacher)
    ctx = _context(spec, model=model, teacher=teacher)
    inputs = [(x.clone(), y.clone()) for x, y in ctx.batches]
    (res,) = score_many([name], ctx)
    _ok(spec, res, "on a network in mixed train/eval state")
    after, after_modes, after_flags = _snapshot(model)
    assert state.keys() == after.keys(), "changed the network's state keys"
    for k in state:
        assert torch.equal(state[k], after[k]), f"changed the network's {k}"
    assert modes == after_modes, "changed a train/eval mode of the network"
    assert flags == after_flags, "changed requires_grad on the network"
    assert all(p.grad is None for p in model.parameters()), "left gradients on the network"
    for (x0, y0), (x1, y1) in zip(inputs, ctx.batches):
        assert torch.equal(x0, x1) and torch.equal(y0, y1), "changed its inputs"
    t_after, t_after_modes, t_after_flags = _snapshot(teacher)
    assert all(torch.equal(t_state[k], t_after[k]) for k in t_state), "changed the teacher"
    assert t_modes == t_after_modes and t_flags == t_after_flags, "changed the teacher's modes or flags"
    assert all(p.grad is None for p in teacher.parameters()), "left gradients on the teacher"


def check_options(name: str) -> None:
    """Its declared options are accepted (each at its default gives the default score); an unknown option and an
    ill-typed value raise ``ValueError`` naming the option and what is valid."""
    spec = get_spec(name)
    try:
        _run_raising(spec, **{_UNKNOWN_OPTION: 1})
    except ValueError as exc:
        msg = str(exc)
        assert _UNKNOWN_OPTION in msg, f"the error for an unknown option does not name it: {msg}"
        missing = [o.name for o in spec.options if o.name not in msg]
        assert not missing, f"the error for an unknown option does not list the valid ones {missing}: {msg}"
    else:
        raise AssertionError(f"accepted the unknown option {_UNKNOWN_OPTION!r}")
    for o in spec.options:
        try:
            _run(spec, **{o.name: object()})
        except ValueError as exc:
            assert o.name in str(exc), f"the error for an ill-typed {o.name!r} does not name it: {exc}"
        else:
            raise AssertionError(f"accepted an ill-typed value for option {o.name!r}")
    if spec.options:
        base = _base(spec)
        given = _run(spec, **{o.name: o.default for o in spec.options})
        _ok(spec, given, "with its options at their defaults")
        assert _same(base.score, given.score), (f"options given at their defaults change the score "
                                                f"({base.score!r} -> {given.score!r})")


def check_batches(name: str) -> None:
    """It reads the batches it declares: fewer is a ProxyError naming it, more change nothing."""
    spec = get_spec(name)
    if spec.batches > 1:
        batches = make_batches(spec.batches - 1)
        try:
            _run_raising(spec, batches=batches)
        except ProxyError as exc:
            assert name in str(exc), f"the error for too few batches does not name the proxy: {exc}"
        else:
            raise AssertionError(f"ran on {spec.batches - 1} batches, declaring batches={spec.batches}")
    exact = _base(spec)
    more = _run(spec, batches=make_batches(spec.batches) + make_batches(2, seed=999))
    _ok(spec, more, "with more batches than declared")
    assert _same(exact.score, more.score), (f"more batches than the {spec.batches} declared change the score "
                                            f"({exact.score!r} -> {more.score!r})")


@contextmanager
def _bn_calls() -> Iterator[list]:
    calls: list = []

    def hook(module, args, output):
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            calls.append((module.training, bool(args) and output is args[0]))

    handle = nn.modules.module.register_module_forward_hook(hook)
    try:
        yield calls
    finally:
        handle.remove()


def check_bn_mode(name: str) -> None:
    """Every BN layer it runs is in the declared mode (``train``: batch statistics, ``eval``: running ones,
    ``identity``: replaced by the identity; ``any`` is not checked). A teacher runs in the same mode."""
    spec = get_spec(name)
    if spec.bn == "any":
        return
    same_teacher = {"teacher_bn": spec.bn} if spec.teacher and spec.bn in ("train", "eval") else {}
    with _bn_calls() as calls:
        res = _run(spec, **same_teacher)
    _ok(spec, res, f"in BN mode {spec.bn!r}")
    if spec.bn == "identity":
        bad = [c for c in calls if not c[1]]
        assert not bad, f"declares bn='identity' but {len(bad)} BN calls normalized their input"
    else:
        bad = [c for c in calls if c[0] != (spec.bn == "train")]
        assert not bad, f"declares bn={spec.bn!r} but {len(bad)} of {len(calls)} BN calls ran in the other mode"


# ---- checks chosen by the declaration ------------------------------------------------------------------------------
def _run_raising(spec, **kw):
    """``proxybench.score`` in the check's setting: errors raise, options are checked strictly."""
    from .proxies import score

    ctx = _context(spec, **kw)
    return score(spec.name, ctx.model, ctx.inputs, ctx.targets, batches=ctx.batches, teacher=ctx.teacher,
                 seed=ctx.seed, **ctx.given_options)


def _needs(name: str, what: str, **kw) -> None:
    spec = get_spec(name)
    try:
        _run_raising(spec, **kw)
    except ProxyError as exc:
        assert name in str(exc), f"the error for missing {what} does not name the proxy: {exc}"
    else:
        raise AssertionError(f"ran without {what}, declaring it needs them")


def check_needs_labels(name: str) -> None:
    """``labels=True``: without targets, a ProxyError naming the proxy."""
    _needs(name, "labels", batches=make_batches(get_spec(name).batches, labels=False))


def check_needs_teacher(name: str) -> None:
    """``teacher=True``: without a teacher, a ProxyError naming the proxy."""
    _needs(name, "a teacher", teacher=None)


def check_without_labels(name: str) -> None:
    """``labels=False``: it runs with no targets, and other labels give the same score."""
    spec = get_spec(name)
    batches = make_batches(spec.batches)
    none = _run(spec, batches=[(x, None) for x, _ in batches])
    _ok(spec, none, "declares labels=False, but without labels")
    for other in (_base(spec), _run(spec, batches=_relabel(batches, 1))):
        assert _same(none.score, other.score), (f"declares labels=False, but its score depends on the labels "
                                                f"({none.score!r} without, {other.score!r} with)")


def check_without_teacher(name: str) -> None:
    """``teacher=False``: it runs with no teacher, and a teacher changes nothing."""
    spec = get_spec(name)
    none = _base(spec)  # no teacher: it declares none
    _ok(spec, none, "declares teacher=False, but without a teacher")
    given = _run(spec, teacher=_teacher())
    assert _same(none.score, given.score), (f"declares teacher=False, but a teacher changes its score "
                                            f"({none.score!r} -> {given.score!r})")


def check_data_free(name: str) -> None:
    """``data_free=True``: two different batches of the same shape give the same score."""
    spec = get_spec(name)
    a = _run(spec, batches=make_batches(spec.batches, seed=1))
    b = _run(spec, batches=[(x * 3 + 1, y) for x, y in make_batches(spec.batches, seed=2)])
    _ok(spec, a, "data-free")
    assert _same(a.score, b.score), f"declares data_free=True, but other inputs change its score ({a.score!r} -> " \
                                    f"{b.score!r})"


def check_no_backward(name: str) -> None:
    """``gradients=False``: no backward pass runs (``torch.autograd.grad`` / ``backward`` are never called)."""
    spec = get_spec(name)
    calls: list[str] = []
    grad, backward = torch.autograd.grad, torch.autograd.backward

    def counting(fn, label):
        def wrapper(*args, **kwargs):
            calls.append(label)
            return fn(*args, **kwargs)
        return wrapper

    torch.autograd.grad, torch.autograd.backward = counting(grad, "grad"), counting(backward, "backward")
    try:
        res = _run(spec)
    finally:
        torch.autograd.grad, torch.autograd.backward = grad, backward
    assert not calls, f"declares gradients=False, but ran {len(calls)} backward pass(es) ({', '.join(calls)})"
    _ok(spec, res, "declares gradients=False")


ALWAYS = (check_declaration, check_finite_float, check_deterministic, check_direction, check_model_untouched,
          check_options, check_batches, check_bn_mode)


def proxy_checks(name: str) -> list[Callable[[str], None]]:
    """The checks for proxy ``name``, chosen from its declaration."""
    spec = get_spec(name)
    checks = list(ALWAYS)
    checks.append(check_needs_labels if spec.labels else check_without_labels)
    checks.append(check_needs_teacher if spec.teacher else check_without_teacher)
    if spec.data_free:
        checks.append(check_data_free)
    if not spec.gradients:
        checks.append(check_no_backward)
    return checks


def check_proxy(name: str) -> None:
    """Run every check of :func:`proxy_checks` on proxy ``name``; raises ``AssertionError`` listing each failure."""
    failures = []
    for check in proxy_checks(name):
        try:
            check(name)
        except AssertionError as exc:
            failures.append(f"{check.__name__}: {exc}")
        except Exception as exc:  # noqa: BLE001  (a check that cannot even run the proxy fails too)
            failures.append(f"{check.__name__}: {type(exc).__name__}: {exc}")
    if failures:
        raise AssertionError(f"proxy {name!r} fails {len(failures)} check(s):\n  " + "\n  ".join(failures))


def parametrize_with_proxy_checks(names: Iterable[str] | None = None):
    """A ``pytest.mark.parametrize("name, check", ...)`` over every (proxy, check) pair; ``names`` defaults to
    every registered proxy. The test body is ``check(name)``."""
    import pytest

    names = list_proxies() if names is None else list(names)
    cases = [pytest.param(n, c, id=f"{n}-{c.__name__}") for n in names for c in proxy_checks(n)]
    return pytest.mark.parametrize("name, check", cases)


# ---- search spaces -------------------------------------------------------------------------------------------------
# A registered search space (:mod:`proxybench.benchmarks.spaces`) keeps its contract: a sound index order, clear errors
# for bad architectures, networks with the interface the proxies read, exact counts, seeded builds, a mutation that
# stays in the space and can be undone, and every proxy that does not require a feature the space lacks runs on its
# networks. The networks are checked at 16 x 16 and 32 x 32 with 7 classes, on the first, a middle and the last
# architecture (and every architecture's round trip when the space has at most 1,000).
SPACE_CLASSES = 7


def _space_archs(space) -> list[int]:
    n = space.num_archs
    return sorted({0, n // 2, n - 1})


def _space_sample(space) -> list[int]:
    n = space.num_archs
    return list(range(n)) if n <= 1000 else sorted({*range(0, n, max(1, n // 200)), n - 1})


def check_space_declaration(name: str) -> None:
    """Registered under its name; a title, a description, an arch form and a paper; known features, ``stages``
    among them; a default for every network setting."""
    from .benchmarks.spaces import FEATURES, get_space

    sp = get_space(name)
    assert sp.name == name, f"registered as {name!r} but names itself {sp.name!r}"
    for field in ("title", "description", "arch_form", "paper"):
        assert isinstance(getattr(sp, field), str) and getattr(sp, field).strip(), f"no {field}"
    assert set(sp.features) <= set(FEATURES), f"unknown features {sorted(set(sp.features) - set(FEATURES))}"
    assert "stages" in sp.features, "every space's networks give forward_features by stage ('stages')"
    assert set(sp.network_defaults) == set(sp.network_keys), (
        f"network defaults {sorted(sp.network_defaults)} do not match the settings {list(sp.network_keys)}")
    assert sp.check_network() == dict(sp.network_defaults), "check_network() does not return the defaults"


def check_space_index_order(name: str) -> None:
    """Distinct canonical strings; index -> string -> index, ``parse_arch`` of an index or a string, and
    ``canonical`` agree."""
    from .benchmarks.spaces import get_space

    sp = get_space(name)
    archs = list(sp.all_archs())
    assert archs and all(isinstance(a, str) and a for a in archs), "all_archs() must list non-empty strings"
    assert len(set(archs)) == len(archs) == sp.num_archs, "the arch strings are not distinct"
    for i in _space_sample(sp):
        a = sp.index_to_arch(i)
        assert a == archs[i], f"index_to_arch({i}) = {a!r}, all_archs()[{i}] = {archs[i]!r}"
        assert sp.arch_to_index(a) == i, f"arch_to_index({a!r}) = {sp.arch_to_index(a)}, expected {i}"
        assert sp.parse_arch(a) == a, f"parse_arch({a!r}) = {sp.parse_arch(a)!r}: a canonical string must stay"
        assert sp.parse_arch(i) == a, f"parse_arch({i}) = {sp.parse_arch(i)!r}, expected {a!r}"
        assert sp.canonical(a) == (i, a), f"canonical({a!r}) = {sp.canonical(a)}"


def check_space_bad_archs(name: str) -> None:
    """A bad architecture (an index out of range, a bool, an unknown string) is a ``ValueError`` naming it."""
    from .benchmarks.spaces import get_space

    sp = get_space(name)
    for bad in (sp.num_archs, -1, True, "no-such-architecture", None):
        try:
            sp.parse_arch(bad)
        except ValueError as exc:
            assert repr(bad) in str(exc) or str(bad) in str(exc), f"the error for {bad!r} does not name it: {exc}"
        else:
            raise AssertionError(f"parse_arch({bad!r}) was accepted")
    for bad in (sp.num_archs, -1):
        try:
            sp.index_to_arch(bad)
        except ValueError as exc:
            assert str(sp.num_archs - 1) in str(exc), f"the error for index {bad} does not give the valid range: {exc}"
        else:
            raise AssertionError(f"index_to_arch({bad}) was accepted")
    try:
        sp.check_network({"no_such_setting": 1})
    except ValueError as exc:
        assert "no_such_setting" in str(exc), f"the error does not name the unknown setting: {exc}"
    else:
        raise AssertionError("check_network accepted an unknown setting")


def check_space_networks(name: str) -> None:
    """Networks of the first, a middle and the last architecture: logits of the classes; ``forward_features``
    with ``stem``, ``stage1..3`` (4-D), ``pre_pool``, ``pooled`` (``feature_dim`` wide) and ``logits`` equal to
    ``forward``; ``classifier`` the final ``nn.Linear``; ``block_features`` ending in ``stage3`` with the
    ``blocks`` feature; an NB201 network with ``nb201-cell``; in_channels honoured."""
    from .benchmarks.spaces import get_space

    sp = get_space(name)
    g = torch.Generator().manual_seed(0)
    for i in _space_archs(sp):
        for res, channels in ((32, 3), (16, 1)):
            net = sp.build_network(i, SPACE_CLASSES, channels, seed=0).eval()
            x = torch.randn(4, channels, res, res, generator=g)
            with torch.no_grad():
                logits = net(x)
                feats = net.forward_features(x)
            assert tuple(logits.shape) == (4, SPACE_CLASSES), f"arch {i}: logits of shape {tuple(logits.shape)}"
            for key in ("stem", "stage1", "stage2", "stage3", "pre_pool", "pooled", "logits"):
                assert key in feats, f"arch {i}: forward_features lacks {key!r}"
            for key in ("stem", "stage1", "stage2", "stage3", "pre_pool"):
                assert feats[key].dim() == 4, f"arch {i}: feature {key!r} is not a 4-D map"
            assert torch.equal(feats["logits"], logits), f"arch {i}: forward_features' logits differ from forward"
            head = net.classifier
            assert isinstance(head, nn.Linear) and head.out_features == SPACE_CLASSES, "classifier is not the head"
            assert tuple(feats["pooled"].shape) == (4, net.feature_dim) == (4, head.in_features), (
                f"arch {i}: pooled {tuple(feats['pooled'].shape)}, feature_dim {net.feature_dim}")
            if "blocks" in sp.features:
                with torch.no_grad():
                    blocks = net.block_features(x)
                assert len(blocks) >= 2 and all(b.dim() == 4 for b in blocks), f"arch {i}: bad block_features"
                assert torch.equal(blocks[-1], feats["stage3"]), f"arch {i}: the last block is not stage3"
            if "nb201-cell" in sp.features:
                from .benchmarks.nb201.network import NB201Network

                assert isinstance(net, NB201Network), f"declares nb201-cell but builds {type(net).__name__}"


def check_space_seeding(name: str) -> None:
    """The same seed gives bitwise-identical weights, another seed others; the caller's RNG is untouched."""
    from .benchmarks.spaces import get_space

    sp = get_space(name)
    i = _space_archs(sp)[-1]
    before = torch.random.get_rng_state()
    a = sp.build_network(i, SPACE_CLASSES, seed=3).state_dict()
    assert torch.equal(before, torch.random.get_rng_state()), "build_network(seed=...) moved the global RNG"
    b = sp.build_network(i, SPACE_CLASSES, seed=3).state_dict()
    c = sp.build_network(i, SPACE_CLASSES, seed=4).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a), "the same seed gave different weights"
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point()), "two seeds gave the same weights"


def check_space_counts(name: str) -> None:
    """``counts`` equals the parameters and the hook-measured FLOPs (both conventions) of the built network."""
    from .benchmarks.nb201.counts import count_flops, count_params
    from .benchmarks.spaces import FLOP_CONVENTIONS, get_space

    sp = get_space(name)
    for i in _space_archs(sp):
        for res, classes in ((32, SPACE_CLASSES), (16, 100)):
            net = sp.build_network(i, classes, 3, seed=0)
            for conv in FLOP_CONVENTIONS:
                params, flops = sp.counts(i, num_classes=classes, in_channels=3, resolution=res, convention=conv)
                assert math.isclose(params, count_params(net), rel_tol=0, abs_tol=1e-12), (
                    f"arch {i}: counts gives {params} M params, the network has {count_params(net)}")
                measured = count_flops(net, (3, res, res), conv)
                assert math.isclose(flops, measured, rel_tol=1e-12, abs_tol=1e-9), (
                    f"arch {i}, {res}px, {conv}: counts gives {flops} M FLOPs, measured {measured}")


def check_space_mutation(name: str) -> None:
    """``neighbours``: distinct valid indices other than the arch itself, the same on every call, and symmetric
    (a mutation can be undone); ``excluded``: none, or a flag per arch with a reason, not every arch excluded."""
    from .benchmarks.spaces import get_space

    sp = get_space(name)
    for i in _space_sample(sp)[:64]:
        nb = sp.neighbours(i)
        assert nb and len(set(nb)) == len(nb), f"arch {i}: neighbours {nb} are empty or repeat"
        assert i not in nb and all(0 <= j < sp.num_archs for j in nb), f"arch {i}: bad neighbours {nb}"
        assert sp.neighbours(i) == nb, f"arch {i}: neighbours differ between calls"
        assert all(i in sp.neighbours(j) for j in nb), f"arch {i}: a mutation cannot be undone"
    flags, reason = sp.excluded()
    if flags is not None:
        assert len(flags) == sp.num_archs and flags.dtype == bool, "excluded() flags must be one bool per arch"
        assert reason and not flags.all(), "excluded() needs a reason and must leave some architectures"


def check_space_proxies(name: str) -> None:
    """Every registered proxy whose requirements the space meets runs on a network of the space (status ok or a
    reasoned non-finite score); the others are named as not applicable."""
    from .benchmarks.spaces import get_space
    from .proxies import not_applicable

    sp = get_space(name)
    i = min(range(sp.num_archs), key=lambda k: sp.counts(k, num_classes=NUM_CLASSES, resolution=16)[0]) \
        if sp.num_archs <= 1000 else 0
    net = sp.build_network(i, NUM_CLASSES, 3, seed=0)
    teacher = sp.build_network(_space_archs(sp)[-1], NUM_CLASSES, 3, seed=7).eval()
    runnable = [p for p in list_proxies() if not_applicable(p, sp) is None]
    batches = make_batches(max(get_spec(p).batches for p in runnable))
    x, y = batches[0]
    ctx = make_context(net, x, y, batches=batches, teacher=teacher, seed=0, num_classes=NUM_CLASSES,
                       arch=sp.index_to_arch(i))
    failed = [f"{r.proxy}: {r.error}" for r in score_many(runnable, ctx) if r.status not in ("ok", "nan")]
    assert not failed, f"{len(failed)} applicable proxies fail on arch {i}: " + "; ".join(failed)


SPACE_CHECKS = (check_space_declaration, check_space_index_order, check_space_bad_archs, check_space_networks,
                check_space_seeding, check_space_counts, check_space_mutation, check_space_proxies)


def check_space(name: str) -> None:
    """Run every check of :data:`SPACE_CHECKS` on search space ``name``; raises ``AssertionError`` listing each
    failure."""
    failures = []
    for check in SPACE_CHECKS:
        try:
            check(name)
        except AssertionError as exc:
            failures.append(f"{check.__name__}: {exc}")
        except Exception as exc:  # noqa: BLE001
            failures.append(f"{check.__name__}: {type(exc).__name__}: {exc}")
    if failures:
        raise AssertionError(f"search space {name!r} fails {len(failures)} check(s):\n  " + "\n  ".join(failures))


def parametrize_with_space_checks(names: Iterable[str] | None = None):
    """A ``pytest.mark.parametrize("name, check", ...)`` over every (search space, check) pair; ``names`` defaults
    to every registered space. The test body is ``check(name)``."""
    import pytest

    from .benchmarks.spaces import list_spaces

    names = list_spaces() if names is None else list(names)
    cases = [pytest.param(n, c, id=f"{n}-{c.__name__}") for n in names for c in SPACE_CHECKS]
    return pytest.mark.parametrize("name, check", cases)
