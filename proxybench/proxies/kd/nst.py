"""``nst``: neuron selectivity transfer loss between the teacher and a random-init student, as a proxy."""

from __future__ import annotations

from ..registry import register_proxy
from ._teacher import distill_score


@register_proxy("nst", direction=-1, teacher=True,
                paper="Huang & Wang, Like What You Like: Knowledge Distill via Neuron Selectivity Transfer, "
                      "arXiv:1707.01219, 2017")
def nst(ctx) -> float:
    """NST loss summed over the three stage outputs: squared MMD between the sets of L2-normalized channel maps
    under the polynomial kernel k(x, y) = (x . y)^2. Score = -loss."""
    return distill_score(ctx, "nst")
