"""Shared passes. Each runs once per :class:`~proxybench.proxies.context.ProxyContext` on a fresh copy of the
network and is reused by every proxy that needs it."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .context import ProxyContext, register_pass, weighted_layers


@dataclass
class CEBackward:
    """One forward/backward of the cross-entropy loss on the first batch, network in train mode.

    ``layers``: (name, module) of every conv/linear layer of the copy; ``weights``/``grads``: their weight
    tensors and dL/dW; ``acts``/``act_grads``: each layer's output activation and dL/d(output) (for Fisher);
    ``loss`` and ``logits``.
    """

    model: nn.Module
    layers: list
    weights: list
    grads: list
    acts: list
    act_grads: list
    loss: float
    logits: torch.Tensor


@register_pass("ce_backward")
def ce_backward(ctx: ProxyContext) -> CEBackward:
    if ctx.targets is None:
        raise ValueError("the cross-entropy pass needs labels (targets)")
    model = ctx.fresh_model().train()
    layers = weighted_layers(model)
    acts: list = [None] * len(layers)

    def keep(i):
        def hook(module, inputs, output):
            output.retain_grad()
            acts[i] = output
        return hook

    handles = [m.register_forward_hook(keep(i)) for i, (_, m) in enumerate(layers)]
    try:
        logits = model(ctx.inputs)
        loss = F.cross_entropy(logits, ctx.targets)
        loss.backward()
    finally:
        for h in handles:
            h.remove()
    weights = [m.weight.detach() for _, m in layers]
    grads = [m.weight.grad.detach() if m.weight.grad is not None else torch.zeros_like(m.weight)
             for _, m in layers]
    act_grads = [a.grad.detach() if a is not None and a.grad is not None else None for a in acts]
    acts = [a.detach() if a is not None else None for a in acts]
    return CEBackward(model, layers, weights, grads, acts, act_grads, float(loss.detach()), logits.detach())
