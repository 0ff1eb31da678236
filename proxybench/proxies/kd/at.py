"""``at``: attention transfer loss between the teacher and a random-init student, as a proxy."""

from __future__ import annotations

from ..registry import register_proxy
from ._teacher import distill_score


@register_proxy("at", direction=-1, teacher=True,
                paper="Zagoruyko & Komodakis, Paying More Attention to Attention, ICLR 2017")
def at(ctx) -> float:
    """AT loss summed over the three stage outputs: sum_j mean (Q_s - Q_t)^2, Q = normalize(mean_c f_c^2), the
    larger map average-pooled to the smaller. Score = -loss."""
    return distill_score(ctx, "at")
