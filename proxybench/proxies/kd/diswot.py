"""``diswot``: DisWOT (Dong, Li & Wei, CVPR 2023), semantic plus relation similarity of teacher and student at
initialization. The authors' public ``measures/diswot.py`` computes a BN-scaling score instead; this is the
paper's definition."""

from __future__ import annotations

from ..registry import register_proxy
from ._teacher import distill_score
from .distillers import SEMANTIC_FORM


@register_proxy("diswot", direction=-1, labels=True, teacher=True, options=(SEMANTIC_FORM,), groups=("default",),
                paper="Dong, Li & Wei, DisWOT: Student Architecture Search for Distillation WithOut Training, "
                      "CVPR 2023")
def diswot(ctx) -> float:
    """Semantic distance (class-wise channel Grams of the classifier-weight CE gradients, rows normalized; class
    Gram when widths differ) + relation distance (row-normalized B x B Grams of the pre-pooling features).
    Score = -(semantic + relation)."""
    return (distill_score(ctx, "diswot_semantic", form=ctx.option("diswot_semantic_form"))
            + distill_score(ctx, "diswot_relation"))
