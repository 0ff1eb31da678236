"""``aznas_expressivity`` and the feature pass shared by the AZ-NAS components (Lee & Ham, CVPR 2024).

AZ-NAS scores a network by four components computed on its "cell features" (the stem output and the output of
every block: cells and reduction blocks). The pass ``aznas_features`` runs one forward pass and the per-block
backward passes once per context; ``aznas_expressivity``, ``aznas_progressivity`` and ``aznas_trainability`` read
it, ``aznas_complexity`` is the FLOP count. The combined AZ-NAS score ranks a population: see
:mod:`proxybench.proxies.aznas`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..initialization import INIT_SCHEMES, initialize
from .errors import ProxyError
from .options import Option
from .pass_registry import register_pass
from .registry import register_proxy

PAPER = ("Lee & Ham, AZ-NAS: Assembling Zero-Cost Proxies for Network Architecture Search, CVPR 2024")
INPUTS = ("random", "data")
OPTIONS = (
    Option("aznas_init", str, "kaiming_fan_in", "re-initialization before the pass ('keep': the caller's weights)",
           choices=("keep", *INIT_SCHEMES)),
    Option("aznas_input", str, "random", "N(0, 1) inputs shaped like the batch (the authors' code) or the batch",
           choices=INPUTS),
)
_EPS_LOG = 1e-8  # inside the entropy's log, as the authors' code
_EPS_SV = 1e-6  # in 1 / (sigma_max + eps), as the authors' code


@dataclass
class AZFeatures:
    """Per-feature expressivity (entropy of the normalized covariance spectrum) and per-block trainability."""

    expressivity: list[float]  # one per cell feature, stem first
    trainability: list[float]  # one per consecutive pair, from the last block back to the first


def spectral_entropy(feature: torch.Tensor) -> float:
    """Entropy -sum_k p_k log(p_k + 1e-8) of p = s / sum(s), s the eigenvalues of the channel covariance.

    The covariance is over all B*H*W positions of a (B, C, H, W) map (mean removed, divided by B*H*W), in float64.
    NaN when the map is constant (no variance to spread).
    """
    b, c, h, w = feature.shape
    x = feature.detach().double().permute(0, 2, 3, 1).reshape(b * h * w, c)
    x = x - x.mean(dim=0, keepdim=True)
    sigma = x.T @ x / x.shape[0]
    s = torch.linalg.eigvalsh(sigma)
    total = s.sum()
    if not bool(total > 0):
        return math.nan
    p = s / total
    return float((-p * torch.log(p + _EPS_LOG)).sum())


def block_trainability(f_in: torch.Tensor, f_out: torch.Tensor, gen: torch.Generator) -> float:
    """2 - sigma_max - 1/(sigma_max + 1e-6) of the block Jacobian's sample estimate; -inf for an identity block.

    g_out is a Rademacher (+-1) tensor shaped like f_out, g_in = (d f_out / d f_in)^T g_out; a stride-2 block's
    g_in is pixel-unshuffled to f_out's resolution; M = g_in^T g_out / (B H W) over positions (C_in' x C_out) and
    sigma_max its largest singular value. The score peaks at 0 when sigma_max = 1 (gradients neither vanish nor
    explode through the block). A block whose backward is exactly the identity gets -inf, as the authors' code.
    """
    g_out = (torch.randint(0, 2, f_out.shape, generator=gen, dtype=torch.int64) * 2 - 1).to(f_out)
    (g_in,) = torch.autograd.grad(f_out, f_in, grad_outputs=g_out, retain_graph=True, allow_unused=True)
    if g_in is None:
        g_in = torch.zeros_like(f_in)
    if g_in.shape == g_out.shape and torch.equal(g_in, g_out):
        return -math.inf
    if g_in.shape[2:] != g_out.shape[2:]:
        stride = g_in.shape[2] // g_out.shape[2]
        g_in = F.pixel_unshuffle(g_in, stride)
    bo, co, ho, wo = g_out.shape
    go = g_out.permute(0, 2, 3, 1).reshape(bo * ho * wo, co).double()
    gi = g_in.permute(0, 2, 3, 1).reshape(bo * ho * wo, -1).double()
    mat = gi.T @ go / (bo * ho * wo)
    smax = float(torch.linalg.svdvals(mat)[0])
    return -smax - 1.0 / (smax + _EPS_SV) + 2.0


def cell_features(model, x: torch.Tensor) -> list[torch.Tensor]:
    """The stem output and every block's output, graph kept: the network's ``block_features`` (NB201: cells and
    reduction blocks, in order; a CIFAR ResNet: its BasicBlocks)."""
    return model.block_features(x)


@register_pass("aznas_features", gradients=True, bn="train", options=OPTIONS)
def aznas_features(ctx) -> AZFeatures:
    """Options: ``aznas_init`` (default ``"kaiming_fan_in"``, the authors' He-normal fan-in re-init from the seeded
    generator; ``"keep"`` keeps the caller's weights), ``aznas_input`` (``"random"``, default, N(0, 1) inputs
    shaped like the batch, as the authors' code; ``"data"``: the batch itself). Network in train mode."""
    init, source = ctx.option("aznas_init"), ctx.option("aznas_input")
    if not callable(getattr(ctx.model, "block_features", None)):
        raise ProxyError("AZ-NAS proxies need a network with block_features (they read the output of every block: "
                         f"an NB201 cell or reduction block, a ResNet BasicBlock), got {type(ctx.model).__name__}")
    model = ctx.fresh_model()  # train mode
    if init != "keep":
        initialize(model, init, int(torch.randint(0, 2**31 - 1, (1,), generator=ctx.generator("aznas_init"))))
    x = ctx.inputs if source == "data" else ctx.randn(ctx.inputs.shape, "aznas_input", dtype=ctx.inputs.dtype)
    feats = cell_features(model, x)
    expressivity = [spectral_entropy(f) for f in feats]
    gen = ctx.generator("aznas_trainability")
    trainability = [block_trainability(feats[i - 1], feats[i], gen) for i in reversed(range(1, len(feats)))]
    return AZFeatures(expressivity, trainability)


@register_proxy("aznas_expressivity", gradients=True, bn="train", options=OPTIONS, paper=PAPER,
                requires=("blocks",))
def aznas_expressivity(ctx) -> float:
    """Expressivity s^E = sum_l H(p_l), H(p) = -sum_k p_k log p_k, p_l the eigenvalues of the channel covariance
    of cell feature l (over batch and positions) divided by their sum: how isotropically each block spreads its
    features. Cell features = stem output + every cell / reduction-block output; random N(0,1) inputs, He-normal
    fan-in re-init, train-mode BN (the authors' settings; see the ``aznas_features`` pass for options). NaN when a
    feature map is constant (the authors' code then reports -inf). Higher is better."""
    e = ctx.pass_("aznas_features").expressivity
    constant = [i for i, v in enumerate(e) if math.isnan(v)]
    if constant:
        return ctx.nonfinite(f"cell features {constant} are constant (no covariance spectrum)")
    return float(sum(e))
