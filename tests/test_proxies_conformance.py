"""Conformance suite for every registered proxy (parametrized over ``proxybench.list_proxies()``).

Each proxy is checked with :mod:`proxybench.testing` against what it declares: a proxy added later is checked
here with no edit. The checks: a finite float on a small NB201 network (or a NaN/inf reported with a reason),
the same number for the same seed, the caller's model left exactly as it was, its time recorded, declared
options accepted and others refused, only its declared batches read, its BN mode kept, a ProxyError naming it
when labels, a teacher or enough batches are missing, and nothing used that it declares it does not need.
"""

from __future__ import annotations

import math

import pytest

import proxybench
from proxybench.proxies import ProxyError, make_context, score_many
from proxybench.testing import make_batches, make_network, parametrize_with_proxy_checks

ALL = proxybench.list_proxies()


@parametrize_with_proxy_checks()
def test_proxy_keeps_its_declared_contract(name, check):
    check(name)


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def test_shared_passes_give_identical_scores():
    """All proxies scored together (sharing passes) give exactly the numbers each gives alone."""
    from proxybench.testing import _teacher

    model, batches = make_network(seed=2), make_batches(2)
    ctx = make_context(model, *batches[0], batches=batches, teacher=_teacher(), seed=5)
    together = {r.proxy: r for r in score_many(ALL, ctx)}
    for name in ALL:
        (alone,) = score_many([name], make_context(model, *batches[0], batches=batches, teacher=_teacher(), seed=5))
        assert together[name].status == alone.status, f"{name}: {together[name].error} / {alone.error}"
        assert same(together[name].score, alone.score), f"{name}: {together[name].score!r} != {alone.score!r}"


def test_unknown_proxy_lists_valid_names():
    x, y = make_batches(1)[0]
    with pytest.raises(ValueError) as info:
        proxybench.score("no_such_proxy", make_network(), x, y)
    msg = str(info.value)
    assert "no_such_proxy" in msg
    assert all(n in msg for n in ALL)
    with pytest.raises(ValueError, match="no_such_proxy"):
        score_many(["snip", "no_such_proxy"], make_context(make_network(), x, y))


def test_errors_are_captured_per_proxy_in_score_many():
    x, _ = make_batches(1)[0]
    ctx = make_context(make_network(), x, None)
    res = {r.proxy: r for r in score_many(["snip", "params"], ctx)}
    assert res["snip"].status == "error" and "snip" in res["snip"].error and math.isnan(res["snip"].score)
    assert res["params"].status == "ok"
    with pytest.raises(ProxyError, match="snip"):
        score_many(["snip"], make_context(make_network(), x, None), raise_errors=True)
