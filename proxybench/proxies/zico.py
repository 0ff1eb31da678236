"""``zico``: zero-shot inverse coefficient of variation of gradients (ZiCo, Li et al., ICLR 2023)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .context import ProxyError, weighted_layers
from .registry import register_proxy


def batch_gradients(ctx) -> list[list[torch.Tensor]]:
    """Per batch, dL/dW of every conv/linear weight (L = mean cross-entropy of that batch), train mode.

    Gradients are cleared between batches, so each entry is one batch's own gradient (the paper's definition).
    """
    model = ctx.fresh_model()  # train mode
    layers = weighted_layers(model)
    out = []
    for k, (x, y) in enumerate(ctx.batches):
        if y is None:
            raise ProxyError(f"proxy 'zico' needs labels for every batch; batch {k} has none")
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y.long()).backward()
        out.append([m.weight.grad.detach().clone() if m.weight.grad is not None else torch.zeros_like(m.weight)
                    for _, m in layers])
    return out


def zico_from_gradients(per_batch: list[list[torch.Tensor]]) -> float:
    """sum_l log( sum_{theta in l, sigma>0} mean_b|g_b(theta)| / sigma_b(g_b(theta)) ), in float64.

    sigma is the population standard deviation over batches (``np.std``, as the authors' code); weights whose
    gradient does not vary across batches (sigma = 0) are left out of the inner sum, and a layer whose inner sum
    is 0 (no varying weight, or no gradient at all) is left out of the outer sum, as in the authors' code. So
    identical batches give 0.
    """
    total = 0.0
    for layer in zip(*per_batch):
        g = torch.stack([t.reshape(-1).double() for t in layer])  # (batches, weights)
        std = g.std(dim=0, unbiased=False)
        keep = std > 0
        inner = float((g.abs().mean(dim=0)[keep] / std[keep]).sum())
        if inner > 0:
            total += math.log(inner)
    return total


@register_proxy("zico", labels=True, gradients=True, bn="train", batches=2,
                paper="Li, Yang, Wang & Marculescu, ZiCo: Zero-shot NAS via Inverse Coefficient of Variation on "
                      "Gradients, ICLR 2023")
def zico(ctx) -> float:
    """ZiCo = sum_l log( sum_{theta in l} E_b[|g_theta|] / sqrt(Var_b[g_theta]) ) over conv/linear layers l.

    g_theta is the cross-entropy gradient of weight theta on one batch (network in train mode, the caller's
    weights); mean and standard deviation are taken over the >= 2 batches of ``ctx.batches`` (the authors use 2).
    Zero-variance weights and empty layers are skipped (see :func:`zico_from_gradients`). Higher is better.
    """
    return zico_from_gradients(batch_gradients(ctx))
