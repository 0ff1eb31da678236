"""``aznas_complexity``: AZ-NAS complexity component (Lee & Ham, CVPR 2024)."""

from __future__ import annotations

from ..benchmarks.nb201.counts import count_flops
from .aznas_expressivity import PAPER
from .registry import register_proxy


@register_proxy("aznas_complexity", bn="any", data_free=True, paper=PAPER)
def aznas_complexity(ctx) -> float:
    """Complexity s^C = FLOPs (millions) of one input shaped like the batch's, in NB201's own convention (xautodl:
    conv and linear multiply-accumulates, the numbers of NB201's tables, which the authors take from the API).
    Measured with forward hooks on a copy in eval mode. Higher is better in AZ-NAS's ranking."""
    return count_flops(ctx.fresh_model(), tuple(ctx.inputs.shape[1:]), convention="xautodl")
