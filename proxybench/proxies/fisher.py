"""``fisher``: channel-wise Fisher information (Theis et al. 2018; Turner et al., BlockSwap, ICLR 2020)."""

from __future__ import annotations

from .registry import register_proxy


@register_proxy("fisher", groups=("standard",), labels=True, gradients=True,
                paper="Theis et al., Faster gaze prediction with dense networks and Fisher pruning, 2018; "
                      "Turner et al., BlockSwap, ICLR 2020; Abdelfattah et al., ICLR 2021")
def fisher(ctx) -> float:
    """Sum over conv/linear layers and their output channels k of fan_in * Delta_k, with
    Delta_k = 1/(2B) sum_n (sum_{h,w} a_nkhw dL/da_nkhw)^2, a the layer's output (before BN), L the
    cross-entropy of one batch, network in train mode.

    The fan-in factor (c_in*k_h*k_w for a conv, in_features for a linear layer) is NAS-Bench-Suite-Zero's
    convention: it spreads each channel's Delta_k over the weights of that channel before summing.
    """
    fw = ctx.pass_("train_forward")
    ce = ctx.pass_("ce_backward")
    total = 0.0
    for (_, layer), acts, grads in zip(fw.layers, fw.acts, ce.all_act_grads):
        if not acts:
            continue
        fan_in = layer.weight[0].numel()
        delta = None
        for a, g in zip(acts, grads):
            prod = a.detach() * g
            g_nk = prod.sum(dim=tuple(range(2, prod.dim()))) if prod.dim() > 2 else prod
            d = g_nk.pow(2).mean(0).mul(0.5)
            delta = d if delta is None else delta + d
        total += float(delta.sum()) * fan_in
    return total
