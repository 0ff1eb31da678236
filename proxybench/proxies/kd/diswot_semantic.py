"""``diswot_semantic``: DisWOT's semantic similarity alone."""

from __future__ import annotations

from ..registry import register_proxy
from ._teacher import distill_score


@register_proxy("diswot_semantic", direction=-1, labels=True, teacher=True,
                paper="Dong, Li & Wei, DisWOT: Student Architecture Search for Distillation WithOut Training, "
                      "CVPR 2023")
def diswot_semantic(ctx) -> float:
    """Semantic distance of the cross-entropy gradients w.r.t. the classifier weights (K x D): class-wise channel
    Grams g_k g_k^T, rows L2-normalized, sum of squared differences / (K D); when teacher and student widths differ,
    the class Gram g g^T (K x K) instead, / K^2 (option ``diswot_semantic_form``: auto | channel | class).
    Score = -distance."""
    return distill_score(ctx, "diswot_semantic", form=str(ctx.option("diswot_semantic_form", "auto")))
