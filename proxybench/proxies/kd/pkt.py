"""``pkt``: probabilistic knowledge transfer loss between the teacher and a random-init student, as a proxy."""

from __future__ import annotations

from ..registry import register_proxy
from ._teacher import distill_score


@register_proxy("pkt", direction=-1, teacher=True,
                paper="Passalis & Tefas, Learning Deep Representations with Probabilistic Knowledge Transfer, "
                      "ECCV 2018")
def pkt(ctx) -> float:
    """PKT loss on the pooled embeddings: mean_ij t_ij log(t_ij / s_ij), with P_ij = (1 + cos(x_i, x_j)) / 2
    normalized over j. Score = -loss."""
    return distill_score(ctx, "pkt")
