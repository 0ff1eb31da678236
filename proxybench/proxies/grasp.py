"""``grasp``: gradient signal preservation (Wang et al., ICLR 2020), as a zero-cost proxy."""

from __future__ import annotations

from .registry import register_proxy


@register_proxy("grasp", groups=("standard",), labels=True, gradients=True,
                paper="Wang et al., Picking Winning Tickets Before Training by Preserving Gradient Flow (GraSP), "
                      "ICLR 2020; Abdelfattah et al., ICLR 2021")
def grasp(ctx) -> float:
    """Sum over conv/linear weights W of -W * (H g), g = dL/dW and H the Hessian of L, the cross-entropy of one
    batch (network in train mode; H g by double backpropagation). Sign as in NAS-Bench-Suite-Zero."""
    hv = ctx.pass_("grasp_hvp")
    return float(sum((-w * h).sum() for w, h in zip(hv.weights, hv.hg)))
