"""``l2_norm``: the weight-norm baseline of Abdelfattah et al. (ICLR 2021)."""

from __future__ import annotations

import torch

from .context import weighted_layers
from .registry import register_proxy


@register_proxy("l2_norm", groups=("standard",), bn="any", data_free=True,
                paper="Abdelfattah et al., Zero-Cost Proxies for Lightweight NAS, ICLR 2021 (baseline)")
def l2_norm(ctx) -> float:
    """Sum over conv/linear layers l of ||W_l||_2 (Frobenius norm of each weight tensor). No pass is run."""
    with torch.no_grad():
        return float(sum(m.weight.detach().norm() for _, m in weighted_layers(ctx.model)))
