"""``grad_norm``: the gradient-norm baseline of Abdelfattah et al. (ICLR 2021)."""

from __future__ import annotations

from .registry import register_proxy


@register_proxy("grad_norm", groups=("standard",), labels=True, gradients=True,
                paper="Abdelfattah et al., Zero-Cost Proxies for Lightweight NAS, ICLR 2021")
def grad_norm(ctx) -> float:
    """Sum over conv/linear layers l of ||dL/dW_l||_2 (Frobenius norm per layer, then summed), L the
    cross-entropy of one batch, network in train mode (NAS-Bench-Suite-Zero's convention)."""
    ce = ctx.pass_("ce_backward")
    return float(sum(g.norm() for g in ce.grads))
