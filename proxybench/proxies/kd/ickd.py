"""``ickd``: inter-channel correlation distillation loss between the teacher and a random-init student, as a
proxy."""

from __future__ import annotations

from ..registry import register_proxy
from ._teacher import distill_score


@register_proxy("ickd", direction=-1, teacher=True,
                paper="Liu et al., Exploring Inter-Channel Correlation for Diversity-Preserved Knowledge "
                      "Distillation, ICCV 2021")
def ickd(ctx) -> float:
    """ICKD loss on the pre-pooling maps: sum ||N(F_s F_s^T) - N(F_t F_t^T)||^2 / (C B), per-sample channel Grams
    with L2-normalized rows; a wider map is averaged over adjacent channel groups to the narrower width.
    Score = -loss."""
    return distill_score(ctx, "ickd")
