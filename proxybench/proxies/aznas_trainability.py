"""``aznas_trainability``: AZ-NAS trainability component (Lee & Ham, CVPR 2024)."""

from __future__ import annotations

import math

from .aznas_expressivity import OPTIONS, PAPER
from .registry import register_proxy


@register_proxy("aznas_trainability", gradients=True, bn="train", options=OPTIONS, paper=PAPER,
                requires=("blocks",))
def aznas_trainability(ctx) -> float:
    """Trainability s^T = mean_l ( 2 - sigma_l - 1/sigma_l ), sigma_l the largest singular value of a sample
    estimate of block l's input-output Jacobian, from a random +-1 backward signal (see
    :func:`~proxybench.proxies.aznas_expressivity.block_trainability`); 0 is the best value (sigma = 1 for every
    block). -inf when some block is exactly the identity (the authors' convention). Same pass and settings as
    ``aznas_expressivity``. Higher is better."""
    t = ctx.pass_("aznas_features").trainability
    identity = [len(t) - k for k, v in enumerate(t) if v == -math.inf]  # t runs from the last block back
    if identity:
        return ctx.nonfinite(f"blocks {sorted(identity)} are exactly the identity (AZ-NAS scores them -inf)",
                             -math.inf)
    return float(sum(t) / len(t))
