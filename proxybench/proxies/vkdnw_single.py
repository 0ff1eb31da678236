"""``vkdnw_single``: VKDNW plus the network's size term (Tybl & Neumann, CVPR 2025, the ranking they call
VKDNW_single)."""

from __future__ import annotations

import torch

from .registry import register_proxy
from .vkdnw import OPTIONS, PAPER, decile_entropy


@register_proxy("vkdnw_single", gradients=True, bn="eval", options=OPTIONS, paper=PAPER)
def vkdnw_single(ctx) -> float:
    """VKDNW_single = aleph + VKDNW, aleph the network's number of parameter tensors (its size term).

    aleph = ``len(list(model.parameters()))`` (the authors' code; the paper calls it the number of layers), VKDNW the
    decile entropy of the ``vkdnw`` proxy (same pass and options). VKDNW lies in [0, log 9] and aleph is an
    integer, so networks are ordered by size first; on NB201 each conv edge of the cell adds 45 tensors (15 cells x
    conv + BN weight + BN bias), so the ordering is exactly (aleph, VKDNW) lexicographic, as the authors rank it.
    Higher is better."""
    f = ctx.pass_("vkdnw_fisher")
    if not bool(torch.isfinite(f.deciles).all()):
        return ctx.nonfinite("the logits or their Jacobian are not finite")
    return float(f.num_tensors) + decile_entropy(f.deciles)
