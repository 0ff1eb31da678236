"""``nwot``: NASWOT, neural architecture search without training (Mellor et al., ICML 2021)."""

from __future__ import annotations

import torch

from .registry import register_proxy


@register_proxy("nwot", groups=("standard", "default"),
                paper="Mellor et al., Neural Architecture Search without Training, ICML 2021")
def nwot(ctx) -> float:
    """log|det K|, K = sum over ReLU units of c c^T + (1 - c)(1 - c)^T: K[i, j] counts the ReLU units on which
    images i and j have the same binary code c = 1[pre-activation > 0] (one forward of the batch, network in
    train mode). -inf when K is singular, e.g. when two images are identical."""
    k = ctx.pass_("relu_kernel")
    value = float(torch.linalg.slogdet(k).logabsdet)
    if value == float("-inf"):
        return ctx.nonfinite("the ReLU-code kernel is singular: two images have identical codes on every ReLU",
                             value)
    return value
