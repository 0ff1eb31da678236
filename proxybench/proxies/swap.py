"""``swap``: sample-wise activation patterns (SWAP-NAS, Peng et al., ICLR 2024)."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..initialization import INIT_SCHEMES, initialize
from .errors import ProxyError
from .linear_regions import relu_patterns
from .options import Option, at_least, greater_than
from .registry import register_proxy

DEFAULT_BATCH_SIZE = 16  # the authors' ``input_samples``
DEFAULT_REPEATS = 1
_BITS = 62  # bits packed per int64 word (sign bit and one spare left free)


def relu_sign_matrix(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """Boolean (neurons, samples) matrix: row j says on which samples ReLU unit j is active (output > 0).

    Every ``nn.ReLU`` whose input is 4-D is hooked (the authors' convention); the network runs under no_grad in
    the mode it is in.
    """
    return relu_patterns(model, inputs).t()


def count_unique_patterns(patterns: torch.Tensor) -> int:
    """Number of distinct rows of a boolean (rows, bits) matrix; rows are packed into int64 words first."""
    rows, bits = patterns.shape
    if rows == 0:
        return 0
    if bits == 0:
        return 1
    words = []
    for start in range(0, bits, _BITS):
        block = patterns[:, start:start + _BITS].to(torch.int64)
        weights = 2 ** torch.arange(block.shape[1], dtype=torch.int64, device=block.device)
        words.append((block * weights).sum(dim=1))
    packed = torch.stack(words, dim=1)
    if packed.shape[1] == 1:
        return int(torch.unique(packed[:, 0]).numel())
    return int(torch.unique(packed, dim=0).shape[0])


def regularization_factor(params_millions: float, mu: float, sigma: float) -> float:
    """The paper's size regularizer f(Theta) = exp(-(Theta - mu)^2 / sigma)."""
    return math.exp(-((params_millions - mu) ** 2) / sigma)


OPTIONS = (
    Option("swap_batch_size", int, None, "first inputs of the batch used (default 16, or the whole batch if "
           "smaller)", check=at_least(1)),
    Option("swap_repeats", int, DEFAULT_REPEATS, "weight draws averaged", check=at_least(1)),
    Option("swap_init", str, "gaussian", "weights re-drawn before each repeat ('keep': the caller's)",
           choices=("keep", *INIT_SCHEMES)),
    Option("swap_mu", float, None, "size regularizer centre (parameters, millions); with swap_sigma"),
    Option("swap_sigma", float, None, "size regularizer width; with swap_mu", check=greater_than(0)),
)


@register_proxy("swap", bn="train", options=OPTIONS,
                paper="Peng, Song, Fayek, Ciesielski & Chang, SWAP-NAS: Sample-Wise Activation Patterns for "
                      "Ultra-fast NAS, ICLR 2024")
def swap(ctx) -> float:
    """SWAP-Score = |{ (1[a_j(x_1) > 0], ..., 1[a_j(x_B) > 0]) : ReLU units j }|, the number of distinct
    sample-wise activation patterns (each unit's on/off vector over the B samples), averaged over repeats.

    As the authors' code: B = ``swap_batch_size`` first inputs of the batch (default 16, or the whole batch if
    smaller), every ReLU with a 4-D input, network in train mode, weights re-drawn before each repeat with
    ``swap_init`` (default ``"gaussian"``: conv/linear weights ~ N(0, 1), BN weight 1 / bias 0; ``"keep"`` uses
    the caller's weights; or any scheme of :data:`~proxybench.initialization.INIT_SCHEMES`) from the seeded
    generator. ``swap_repeats`` (default 1; the authors' script averages 32 inits, which changed rho by < 0.01 on
    40 NB201 cells) sets the repeats. Regularized SWAP: give ``swap_mu`` and ``swap_sigma`` (parameters in
    millions) to multiply the score by exp(-(Theta - mu)^2 / sigma), Theta = parameters (M); off unless both are
    given (the paper tunes mu, sigma per search space to steer model size). Higher is better.
    """
    b = ctx.option("swap_batch_size")
    if b is None:
        b = min(DEFAULT_BATCH_SIZE, ctx.batch_size)
    repeats, init = ctx.option("swap_repeats"), ctx.option("swap_init")
    mu, sigma = ctx.option("swap_mu"), ctx.option("swap_sigma")
    if (mu is None) != (sigma is None):
        raise ProxyError(f"proxy 'swap': options swap_mu and swap_sigma go together, got swap_mu={mu!r}, "
                         f"swap_sigma={sigma!r}")
    if ctx.batch_size < b:
        raise ProxyError(f"proxy 'swap' needs at least swap_batch_size={b} inputs, got {ctx.batch_size}")
    x = ctx.inputs[:b]
    model = ctx.fresh_model()  # train mode
    gen = ctx.generator("swap_init")
    scores = []
    for _ in range(repeats):
        if init != "keep":
            initialize(model, init, int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
        scores.append(count_unique_patterns(relu_sign_matrix(model, x)))
    score = sum(scores) / len(scores)
    if mu is not None:
        score *= regularization_factor(sum(p.numel() for p in model.parameters()) / 1e6, float(mu), float(sigma))
    return float(score)
