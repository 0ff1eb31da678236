"""``linear_regions``: number of linear regions met by a set of inputs (TE-NAS, Chen, Gong & Wang, ICLR 2021)."""

from __future__ import annotations

import torch
from torch import nn

from ..benchmarks.nb201.network import Cell, NB201Network
from ..initialization import initialize
from .errors import ProxyError
from .hooks import forward_hooks
from .options import Option, at_least
from .registry import Requirement, register_proxy

PROBES = ("thin", "full")
DEFAULT_SAMPLES = 3000  # TE-NAS: 3 batches of 1000
DEFAULT_CHUNK = 1000
DEFAULT_CROP = 3


class ThinCell(nn.Module):
    """TE-NAS's probe for NB201: one cell of width 1 on one-channel inputs, then BN + ReLU (no stem, no head)."""

    def __init__(self, ops) -> None:
        super().__init__()
        self.cell = Cell(ops, 1)
        self.lastact = nn.Sequential(nn.BatchNorm2d(1), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lastact(self.cell(x))


def relu_patterns(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """Boolean (B, neurons) matrix: for every ``nn.ReLU`` with a 4-D input, which outputs are positive."""
    feats: list[torch.Tensor] = []

    def hook(module, args, output):
        if args and args[0].dim() == 4:
            feats.append((output > 0).reshape(output.shape[0], -1))

    with forward_hooks((m, hook) for m in model.modules() if isinstance(m, nn.ReLU)), torch.no_grad():
        model(inputs)
    if not feats:
        return torch.zeros(inputs.shape[0], 0, dtype=torch.bool, device=inputs.device)
    return torch.cat(feats, dim=1)


def count_unique_rows(patterns: torch.Tensor) -> int:
    """Number of distinct rows of a 2-D tensor (a matrix with no columns has one, empty, row pattern)."""
    if patterns.shape[0] == 0:
        return 0
    if patterns.shape[1] == 0:
        return 1
    return int(torch.unique(patterns.to(torch.uint8), dim=0).shape[0])


def random_crops(images: torch.Tensor, n: int, size: int, gen: torch.Generator) -> torch.Tensor:
    """``n`` random ``size x size`` crops of one random channel each (TE-NAS's RandomCrop + RandChannel(1))."""
    b, c, h, w = images.shape
    if h < size or w < size:
        raise ProxyError(f"proxy 'linear_regions': crops of {size}x{size} need inputs at least that large, got "
                         f"{h}x{w}")
    img = torch.randint(0, b, (n,), generator=gen)
    ch = torch.randint(0, c, (n,), generator=gen)
    top = torch.randint(0, h - size + 1, (n,), generator=gen)
    left = torch.randint(0, w - size + 1, (n,), generator=gen)
    rows = (top[:, None] + torch.arange(size)[None, :])  # (n, size)
    cols = (left[:, None] + torch.arange(size)[None, :])
    src = images.detach().cpu()[img, ch]  # (n, h, w)
    out = src[torch.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
    return out.unsqueeze(1).to(images.device)


OPTIONS = (
    Option("linear_regions_probe", str, "thin", "TE-NAS's width-1 cell on 3x3 crops, or the full network on the "
           "batch", choices=PROBES),
    Option("linear_regions_samples", int, DEFAULT_SAMPLES, "crops of the thin probe", check=at_least(1)),
    Option("linear_regions_chunk", int, DEFAULT_CHUNK, "crops per forward of the thin probe", check=at_least(2)),
)


@register_proxy("linear_regions", groups=("default",), bn="train", options=OPTIONS,
                requires=(Requirement("nb201-cell", "the thin probe is the width-1 NB201 cell of the arch; "
                                      "--option linear_regions_probe=full runs on any network",
                                      when={"linear_regions_probe": "thin"}),),
                paper="Chen, Gong & Wang, Neural Architecture Search on ImageNet in Four GPU Hours: A Theoretically "
                      "Inspired Perspective (TE-NAS), ICLR 2021")
def linear_regions(ctx) -> float:
    """Number of distinct ReLU activation patterns R = |{ (1[a_j(x) > 0])_j : x in X }| over a set of inputs X.

    Each distinct on/off pattern of all ReLU units is one linear region of the network that X visits; higher is
    better. Option ``linear_regions_probe``:

    ``"thin"`` (default, TE-NAS's convention for NB201): the network's cell at width 1 (one cell, no stem, then
    BN + ReLU), PyTorch's default init drawn from the seeded generator, train-mode BN, evaluated on
    ``linear_regions_samples`` (default 3000) random 3x3 one-channel crops of the input batch in chunks of 1000
    (TE-NAS: 3 batches of 1000 such crops). Needs an :class:`NB201Network`. The small probe is the point: with
    larger inputs every sample lands in its own region for every network (the authors' answer in TE-NAS issue
    #10); on the full C=16 network we measured 64 of 64 images and 993-997 of 1000 4x4 crops on 30 sampled cells.

    ``"full"``: the caller's network on the input batch itself (train-mode BN); any model with ``nn.ReLU``.
    """
    probe = ctx.option("linear_regions_probe")
    if probe == "full":
        return float(count_unique_rows(relu_patterns(ctx.fresh_model(), ctx.inputs)))
    if not isinstance(ctx.model, NB201Network):  # read only: the probe takes the cell's ops, not its weights
        raise ProxyError("proxy 'linear_regions' with linear_regions_probe='thin' needs an NB201Network (it "
                         f"builds the width-1 cell of its arch), got {type(ctx.model).__name__}; use "
                         "linear_regions_probe='full' for other models")
    n, chunk = ctx.option("linear_regions_samples"), ctx.option("linear_regions_chunk")
    gen = ctx.generator("linear_regions")
    thin = ThinCell(ctx.model.ops)
    initialize(thin, "default", int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
    thin = thin.to(ctx.device).train()
    crops = random_crops(ctx.inputs, n, DEFAULT_CROP, gen)
    patterns = torch.cat([relu_patterns(thin, crops[i:i + chunk]) for i in range(0, n, chunk)], dim=0)
    return float(count_unique_rows(patterns))
