"""``flops``: FLOP count (NAS-Bench-Suite-Zero's convention)."""

from __future__ import annotations

from torch import nn

from ..benchmarks.nb201 import NB201Network, count_flops, nb201_flops, parse_arch
from .context import ProxyError
from .registry import register_proxy


def _analytic(ctx) -> float | None:
    """Closed-form NB201 FLOPs when the model is a standard NB201 network and the input is square."""
    model = ctx.model
    if not isinstance(model, NB201Network):
        return None
    if ctx.arch is not None and parse_arch(ctx.arch) != model.arch:
        raise ProxyError(f"proxy 'flops': arch={ctx.arch!r} does not match the model's cell {model.arch!r}")
    h, w = ctx.inputs.shape[-2:]
    affine = all(m.affine for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    if h != w or h % 4 or not affine or ctx.inputs.shape[1] != model.in_channels:
        return None
    return nb201_flops(model.arch, C=model.C, N=model.N, num_classes=model.num_classes,
                       in_channels=model.in_channels, resolution=int(h))


@register_proxy("flops", groups=("standard", "default"), bn="any", data_free=True,
                paper="Abdelfattah et al., Zero-Cost Proxies for Lightweight NAS, ICLR 2021 (baseline); "
                      "Krishnakumar et al., NAS-Bench-Suite-Zero, NeurIPS 2022")
def flops(ctx) -> float:
    """Multiply-accumulates of one image of the batch's shape, in millions, in NAS-Bench-Suite-Zero's convention
    (see :mod:`proxybench.benchmarks.nb201.counts`). Exact and analytic for an NB201 network (no forward);
    otherwise measured with forward hooks on a copy of the model."""
    value = _analytic(ctx)
    if value is None:
        value = count_flops(ctx.fresh_model(), tuple(int(s) for s in ctx.inputs.shape[1:]))
    return value
