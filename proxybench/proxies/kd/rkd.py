"""``rkd``: relational distillation loss between the teacher and a random-init student, as a proxy."""

from __future__ import annotations

from ..registry import register_proxy
from ._teacher import distill_score


@register_proxy("rkd", direction=-1, teacher=True,
                paper="Park, Kim, Lu & Cho, Relational Knowledge Distillation, CVPR 2019")
def rkd(ctx) -> float:
    """RKD loss on the pooled embeddings: 25 * Huber(distance) + 50 * Huber(angle), pairwise distances scaled by
    their mean, angle cosines over all triplets. Score = -loss."""
    return distill_score(ctx, "rkd")
