"""``diswot_relation``: DisWOT's relation similarity alone (the paper's DisWOT(M_r))."""

from __future__ import annotations

from ..registry import register_proxy
from ._teacher import distill_score


@register_proxy("diswot_relation", direction=-1, teacher=True,
                paper="Dong, Li & Wei, DisWOT: Student Architecture Search for Distillation WithOut Training, "
                      "CVPR 2023")
def diswot_relation(ctx) -> float:
    """Relation distance: batch Grams G = F F^T of the pre-pooling features (B x B), rows L2-normalized,
    ||G_t - G_s||^2 / B^2. Score = -distance."""
    return distill_score(ctx, "diswot_relation")
