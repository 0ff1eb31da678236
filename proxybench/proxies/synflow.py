"""``synflow``: iterative synaptic flow (Tanaka et al., NeurIPS 2020), as a zero-cost proxy."""

from __future__ import annotations

import torch

from .context import weighted_layers
from .registry import register_proxy


@register_proxy("synflow", groups=("standard", "default"), gradients=True, bn="identity", data_free=True,
                paper="Tanaka et al., Pruning neural networks without any data by iteratively conserving synaptic "
                      "flow, NeurIPS 2020; Abdelfattah et al., ICLR 2021")
def synflow(ctx) -> float:
    """Sum over conv/linear weights W of |W * dR/dW|, R = 1^T f(1; |theta|): the sum of the outputs of the
    network with every parameter replaced by its absolute value, BN layers replaced by the identity, evaluated
    in float64 (so it does not overflow) on a single all-ones input of the batch's shape (1 x C x H x W)."""
    model = ctx.fresh_model(dtype=torch.float64)  # eval mode, every BN layer replaced by the identity (bn="identity")
    with torch.no_grad():
        for p in model.parameters():
            p.abs_()
    ones = torch.ones((1, *ctx.inputs.shape[1:]), dtype=torch.float64, device=ctx.device)
    weights = [m.weight for _, m in weighted_layers(model)]
    out = model(ones)
    grads = torch.autograd.grad(out.sum(), weights, allow_unused=True)
    return float(sum((w.detach() * g).abs().sum() for w, g in zip(weights, grads) if g is not None))
