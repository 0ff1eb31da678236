"""Score one or many proxies on one network, sharing passes; the public ``score`` function."""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .context import ProxyContext, ProxyError
from .options import CONTEXT_KEYS
from .registry import ProxySpec, check_options, get_spec


@dataclass
class ProxyResult:
    proxy: str
    score: float
    seconds: float
    status: str  # "ok" | "nan" (non-finite value, reported as is) | "error"
    error: str = ""


def check_requirements(spec: ProxySpec, ctx: ProxyContext) -> None:
    """Raise :class:`ProxyError` naming the proxy and what is missing."""
    if spec.labels and ctx.targets is None:
        raise ProxyError(f"proxy {spec.name!r} needs labels (targets), none were given")
    if spec.teacher and ctx.teacher is None:
        raise ProxyError(f"proxy {spec.name!r} needs a teacher network (option teacher=...), none was given")
    if len(ctx.batches) < spec.batches:
        raise ProxyError(f"proxy {spec.name!r} needs at least {spec.batches} input batches, got "
                         f"{len(ctx.batches)}")


@contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while the block runs (left as it is when it is off).

    Scoring a network allocates thousands of small Python objects (module copies, hook handles, autograd
    bookkeeping), and every 700 allocations start a collection that walks the objects of the whole process
    (torch, pandas, the run's tables): on the default benchmark that cost about 60 CPU ms per architecture, a sixth
    of scoring it. Nothing a proxy keeps needs the collector (no reference cycles); what it leaves is collected
    after the block as usual. Process-wide: a thread that finds the collector paused by another leaves it so
    and the first one resumes it, so threads scoring together never end with it off."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def run_proxy(spec: ProxySpec, ctx: ProxyContext, options: dict[str, Any] | None = None) -> float:
    """``direction * spec.fn(ctx)`` under the spec's declaration; ``options``: its typed options (default:
    parsed from ``ctx.given_options``, refusing names it does not declare). The garbage collector is paused while
    it runs (:func:`gc_paused`)."""
    check_requirements(spec, ctx)
    if options is None:
        options = spec.parse_options(ctx.given_options)
    with gc_paused(), ctx.running(spec, options):
        try:
            raw = spec.fn(ctx)
        except RuntimeError as exc:
            if not spec.gradients and "does not require grad" in str(exc):
                raise ProxyError(f"proxy {spec.name!r} declares gradients=False but runs a backward pass ({exc}); "
                                 "declare gradients=True") from exc
            raise
    if torch.is_tensor(raw):
        raw = raw.item()
    value = float(raw)
    return spec.direction * value if not math.isnan(value) else value


def score_many(names: Iterable[str], ctx: ProxyContext, *, raise_errors: bool = False) -> list[ProxyResult]:
    """Score ``names`` on one context; passes are shared. Errors are captured per proxy unless
    ``raise_errors``. Options are parsed up front (an ill-typed value raises); options none of ``names``
    declares are left alone here (a run's other proxies may declare them): :func:`score`,
    :func:`~proxybench.proxies.registry.check_options` and the engine's plan refuse unknown ones."""
    specs = [get_spec(n) for n in names]
    typed = {s.name: s.parse_options(ctx.given_options, strict=False) for s in specs}
    out = []
    for spec in specs:
        t0 = time.perf_counter()
        try:
            value = run_proxy(spec, ctx, typed[spec.name])
            status = "ok" if math.isfinite(value) else "nan"
            reason = "" if status == "ok" else ctx.nan_reasons.get(spec.name, "")
            out.append(ProxyResult(spec.name, value, time.perf_counter() - t0, status, reason))
        except Exception as exc:
            if raise_errors:
                raise
            out.append(ProxyResult(spec.name, math.nan, time.perf_counter() - t0, "error",
                                   f"{type(exc).__name__}: {exc}"))
    return out


def make_context(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor | None = None,
                 **options) -> ProxyContext:
    """A context; ``batches``, ``teacher``, ``seed``, ``num_classes`` and ``arch`` set it up, every other keyword
    is a proxy option."""
    kw = {k: options.pop(k) for k in list(options) if k in CONTEXT_KEYS}
    return ProxyContext(model, inputs, targets, options=options, **kw)


def score(name: str, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor | None = None,
          **options) -> float:
    """Score one proxy on one network (higher = predicted better). Non-finite values are returned as is.

    Options: ``seed`` (default 0), ``teacher`` (a network, for KD-aware proxies), ``batches`` (a list of
    (inputs, targets) pairs for proxies needing several), ``num_classes``, ``arch`` (the NB201 arch string,
    lets analytic proxies skip measuring), and the proxy's declared options (``proxybench list proxies -v``);
    an option it does not declare, or an ill-typed value, raises ``ValueError`` naming it and the valid ones.
    """
    spec = get_spec(name)
    ctx = make_context(model, inputs, targets, **options)
    (typed,) = check_options([name], ctx.given_options).values()
    return run_proxy(spec, ctx, typed)
