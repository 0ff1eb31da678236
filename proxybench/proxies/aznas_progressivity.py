"""``aznas_progressivity``: AZ-NAS progressivity component (Lee & Ham, CVPR 2024)."""

from __future__ import annotations

import math

from .aznas_expressivity import OPTIONS, PAPER
from .registry import register_proxy


@register_proxy("aznas_progressivity", gradients=True, bn="train", options=OPTIONS, paper=PAPER,
                requires=("blocks",))
def aznas_progressivity(ctx) -> float:
    """Progressivity s^P = min_l ( H(p_{l+1}) - H(p_l) ): the smallest gain in expressivity from one cell feature
    to the next (the per-feature entropies of ``aznas_expressivity``, same pass and settings). Higher is better;
    NaN when some feature map is constant."""
    e = ctx.pass_("aznas_features").expressivity
    constant = [i for i, v in enumerate(e) if math.isnan(v)]
    if constant:
        return ctx.nonfinite(f"cell features {constant} are constant (no covariance spectrum)")
    return float(min(b - a for a, b in zip(e[:-1], e[1:])))
