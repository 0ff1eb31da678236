"""``plain``: the first-order "plain" saliency of Abdelfattah et al. (ICLR 2021)."""

from __future__ import annotations

from .registry import register_proxy


@register_proxy("plain", groups=("standard",), labels=True, gradients=True,
                paper="Mozer & Smolensky, Skeletonization, NeurIPS 1989; Abdelfattah et al., ICLR 2021")
def plain(ctx) -> float:
    """Sum over conv/linear weights W of dL/dW * W (signed), L the cross-entropy of one batch (train mode).

    Reported as is (direction +1): NAS-Bench-Suite-Zero's Spearman rho of this score with NB201 CIFAR-10
    accuracy is negative (-0.26).
    """
    ce = ctx.pass_("ce_backward")
    return float(sum((g * w).sum() for g, w in zip(ce.grads, ce.weights)))
