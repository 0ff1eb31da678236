"""``params``: parameter count."""

from __future__ import annotations

from .registry import register_proxy


@register_proxy("params", bn="any", data_free=True,
                paper="Abdelfattah et al., Zero-Cost Proxies for Lightweight NAS, ICLR 2021 (baseline)")
def params(ctx) -> float:
    """Trainable parameters of the network, in millions: sum over parameters of numel(theta)."""
    return sum(p.numel() for p in ctx.model.parameters()) / 1e6
