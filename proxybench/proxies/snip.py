"""``snip``: connection sensitivity (Lee et al., ICLR 2019), as a zero-cost proxy (Abdelfattah et al. 2021)."""

from __future__ import annotations

from .registry import register_proxy


@register_proxy("snip", groups=("standard",), labels=True, gradients=True,
                paper="Lee et al., SNIP, ICLR 2019; Abdelfattah et al., Zero-Cost Proxies for Lightweight NAS, "
                      "ICLR 2021")
def snip(ctx) -> float:
    """Sum over conv/linear weights W of |dL/dW * W|, L the cross-entropy of one batch (network in train mode).

    SNIP's saliency of a weight is |dL/dm| for a multiplicative mask m = 1 on it, which equals |dL/dW * W|.
    """
    ce = ctx.pass_("ce_backward")
    return float(sum((g * w).abs().sum() for g, w in zip(ce.grads, ce.weights)))
