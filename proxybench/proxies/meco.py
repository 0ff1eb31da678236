"""``meco``: minimum eigenvalue of correlation (MeCo, Jiang, Wang & Li, NeurIPS 2023)."""

from __future__ import annotations

import math

import torch

from .hooks import forward_hooks
from .options import Option, at_least
from .registry import register_proxy


def _channel_correlation(feature: torch.Tensor, sample: int | None = None,
                         gen: torch.Generator | None = None) -> tuple[torch.Tensor | None, float]:
    """(the float64 Pearson correlation matrix of the channels of ``feature`` (C, ...) with NaN/inf set to 0, the
    scale of its lambda_min); ``None`` for a feature with one observation per channel (lambda_min = 0)."""
    c = feature.shape[0]
    fea = feature.reshape(c, -1).double()
    if fea.shape[1] < 2:  # one observation per channel: every correlation is NaN -> 0, so lambda_min = 0
        return None, 1.0
    scale = 1.0
    if sample is not None and sample < c:
        idx = torch.randperm(c, generator=gen)[:sample].to(fea.device)
        fea = fea[idx]
        scale = c / sample
    corr = torch.corrcoef(fea).reshape(fea.shape[0], fea.shape[0])
    return torch.where(torch.isfinite(corr), corr, torch.zeros_like(corr)), scale


def min_corr_eigenvalue(feature: torch.Tensor, sample: int | None = None,
                        gen: torch.Generator | None = None) -> float:
    """lambda_min of the Pearson correlation matrix of the channels of one feature map (C, ...), in float64.

    Each channel's values over the spatial positions are one variable. Entries that are NaN or inf (a constant
    channel has no correlation) are set to 0, as the authors' code does, before the eigen-decomposition. With
    ``sample`` (MeCo_opt), only ``sample`` randomly chosen channels enter and the result is scaled by C/sample.
    """
    corr, scale = _channel_correlation(feature, sample, gen)
    if corr is None:
        return 0.0
    return float(torch.linalg.eigvalsh(corr)[0]) * scale


def _min_eigenvalues(items: list[tuple[torch.Tensor | None, float]]) -> list[float]:
    """:func:`min_corr_eigenvalue` of every (correlation, scale) item, one batched ``eigvalsh`` per matrix size
    (LAPACK decomposes each matrix of a batch on its own, so the values are those of one call per matrix)."""
    out = [0.0] * len(items)
    by_size: dict[tuple, list[int]] = {}
    for i, (corr, _) in enumerate(items):
        if corr is not None:
            by_size.setdefault((tuple(corr.shape), corr.device), []).append(i)
    for idx in by_size.values():
        lows = torch.linalg.eigvalsh(torch.stack([items[i][0] for i in idx]))[:, 0].tolist()
        for i, low in zip(idx, lows):
            out[i] = low * items[i][1]
    return out


@register_proxy("meco", groups=("default",), bn="train", options=(
    Option("meco_channels", int, None, "MeCo_opt: lambda_min over this many random channels (default: all)",
           check=at_least(2)),
    Option("meco_random_input", bool, False, "one N(0, 1) input instead of the batch's first image"),
),
                paper="Jiang, Wang & Li, MeCo: Zero-Shot NAS with One Data and Single Forward Pass via Minimum "
                      "Eigenvalue of Correlation, NeurIPS 2023")
def meco(ctx) -> float:
    """MeCo = sum_i lambda_min(P(f_i(x))) over the outputs f_i of every module, for ONE input x.

    P is the C x C Pearson correlation matrix of the channels of the module's output for that sample (values over
    spatial positions as observations). As in the authors' code, every module of ``named_modules()`` is hooked
    (containers and the network itself included, so a block's output counts once per nesting level), the network
    runs in train mode with the caller's weights, NaN/inf correlations are set to 0 (an output with no spatial
    extent, like the logits, or an all-constant one contributes 0), and NaN results are dropped. The sample is the
    first input of the batch (the authors use one training image); option ``meco_random_input=True`` draws one
    N(0, 1) input from the seeded generator instead. Option ``meco_channels`` (int) gives the paper's faster
    MeCo_opt: lambda_min over that many random channels, times C / meco_channels (the authors use 8). Default:
    the main definition (all channels). Higher is better.
    """
    sample = ctx.option("meco_channels")
    if ctx.option("meco_random_input"):
        x = ctx.randn((1, *ctx.inputs.shape[1:]), "meco_input", dtype=ctx.inputs.dtype)
    else:
        x = ctx.inputs[:1]
    gen = ctx.generator("meco_channels")
    model = ctx.fresh_model()  # train mode
    items: list[tuple[torch.Tensor | None, float]] = []  # (correlation, scale) per module output, in call order
    order: list[int] = []  # index into items of every hooked output
    seen: dict[int, tuple[torch.Tensor, int, int]] = {}  # id(output) -> (output, its version, index into items)

    def hook(module, args, output):
        if not (isinstance(output, torch.Tensor) and output.dim() >= 2):
            return
        # a container returns its last child's output tensor itself: without channel sampling (no random draw)
        # its correlation is the same, so it is computed once and counted once per module, as the authors do
        random = sample is not None and sample < output.shape[1]
        hit = None if random else seen.get(id(output))
        if hit is not None and hit[0] is output and hit[1] == output._version:
            order.append(hit[2])
            return
        items.append(_channel_correlation(output[0].detach(), sample, gen))
        if not random:
            seen[id(output)] = (output, output._version, len(items) - 1)
        order.append(len(items) - 1)

    with forward_hooks((m, hook) for m in model.modules()), torch.no_grad():
        model(x)
    seen.clear()
    values = _min_eigenvalues(items)
    return float(sum(values[i] for i in order if not math.isnan(values[i])))
