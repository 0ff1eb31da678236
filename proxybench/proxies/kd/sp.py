"""``sp``: similarity-preserving distillation loss between the teacher and a random-init student, as a proxy."""

from __future__ import annotations

from ..registry import register_proxy
from ._teacher import distill_score


@register_proxy("sp", direction=-1, teacher=True,
                paper="Tung & Mori, Similarity-Preserving Knowledge Distillation, ICCV 2019")
def sp(ctx) -> float:
    """SP loss on the pre-pooling maps: ||N(F_t F_t^T) - N(F_s F_s^T)||_F^2 / B^2, N = row L2 normalization
    (the formula of DisWOT's relation distance). Score = -loss."""
    return distill_score(ctx, "sp")
