"""``kd``: Hinton et al.'s distillation loss between the teacher and a random-init student, as a proxy."""

from __future__ import annotations

from ..registry import register_proxy
from ._teacher import distill_score


@register_proxy("kd", direction=-1, teacher=True,
                paper="Hinton, Vinyals & Dean, Distilling the Knowledge in a Neural Network, NIPS-W 2015")
def kd(ctx) -> float:
    """KD loss T^2 * KL(softmax(z_t / T) || softmax(z_s / T)), batch mean, T = 4 (option ``temperature``);
    z_t the teacher's logits (an ensemble's mean logits). Score = -loss."""
    return distill_score(ctx, "kd", temperature=float(ctx.option("temperature", 4.0)))
