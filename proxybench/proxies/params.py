"""``params``: parameter count."""

from __future__ import annotations

from .registry import register_proxy


@register_proxy("params", groups=("standard", "default"), bn="any", data_free=True,
                paper="Abdelfattah et al., Zero-Cost Proxies for Lightweight NAS, ICLR 2021 (baseline)")
def params(ctx) -> float:
    """Parameters of the network in millions: sum over parameter tensors theta of numel(theta) / 1e6 (BN affine
    included; NB201's and NAS-Bench-Suite-Zero's count). Read from the model, no pass."""
    return sum(p.numel() for p in ctx.model.parameters()) / 1e6
