"""``cc``: correlation congruence loss between the teacher and a random-init student, as a proxy."""

from __future__ import annotations

from ..registry import register_proxy
from ._teacher import distill_score


@register_proxy("cc", direction=-1, teacher=True,
                paper="Peng et al., Correlation Congruence for Knowledge Distillation, ICCV 2019")
def cc(ctx) -> float:
    """CC loss on the pooled embeddings: mean_ij (K^t_ij - K^s_ij)^2, K the order-2 Taylor series of the Gaussian
    RBF kernel (gamma 0.4) on L2-normalized features. Score = -loss."""
    return distill_score(ctx, "cc")
