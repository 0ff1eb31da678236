"""``ntk_cond``: condition number of the empirical neural tangent kernel (TE-NAS, Chen, Gong & Wang, ICLR 2021)."""

from __future__ import annotations

import math

import torch

from .errors import ProxyError
from .options import Option, at_least
from .registry import register_proxy

DEFAULT_BATCH_SIZE = 16


def ntk_jacobian(model: torch.nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """J (B x P): row i is d(sum_k f_k(x_i))/d(theta) over every parameter whose name ends in ``weight``.

    One forward pass of the whole batch (so a network in train mode normalizes with the batch's statistics, as in
    TE-NAS), then one backward pass per sample. Parameters that do not reach the output contribute zeros.
    """
    params = [p for n, p in model.named_parameters() if n.split(".")[-1] == "weight" and p.requires_grad]
    if not params:
        raise ProxyError("proxy 'ntk_cond' needs a model with weight parameters, found none")
    out = model(inputs)
    if out.dim() != 2:
        raise ProxyError(f"proxy 'ntk_cond' needs (batch, classes) logits, the model returned shape "
                         f"{tuple(out.shape)}")
    per_sample = out.sum(dim=1)
    rows = []
    for i in range(per_sample.shape[0]):
        grads = torch.autograd.grad(per_sample[i], params, retain_graph=i + 1 < per_sample.shape[0],
                                    allow_unused=True)
        rows.append(torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1)
                               for g, p in zip(grads, params)]))
    return torch.stack(rows).detach()


def condition_number(gram: torch.Tensor) -> float:
    """lambda_max / lambda_min of a symmetric PSD matrix, in float64.

    ``inf`` when the matrix is singular (lambda_min <= n * eps * lambda_max, the numerical-rank tolerance of
    ``torch.linalg.matrix_rank``); NaN when it is all zero (no spectrum to compare).
    """
    eig = torch.linalg.eigvalsh(gram.double())
    lo, hi = float(eig[0]), float(eig[-1])
    if not math.isfinite(lo) or not math.isfinite(hi):
        return math.nan
    if hi <= 0.0:
        return math.nan
    if lo <= gram.shape[0] * torch.finfo(torch.float64).eps * hi:
        return math.inf
    return hi / lo


@register_proxy("ntk_cond", direction=-1, gradients=True, bn="train", options=(
    Option("ntk_batch_size", int, None, "first inputs of the batch (default 16, or the whole batch if smaller)",
           check=at_least(2)),
),
                paper="Chen, Gong & Wang, Neural Architecture Search on ImageNet in Four GPU Hours: A Theoretically "
                      "Inspired Perspective (TE-NAS), ICLR 2021")
def ntk_cond(ctx) -> float:
    """Condition number of the empirical NTK on one batch: kappa = lambda_max(Theta) / lambda_min(Theta).

    Theta = J J^T (B x B) with J_i = d(sum_k f_k(x_i; theta)) / d(theta), theta = every ``*.weight`` parameter
    (conv, BN and linear weights, as TE-NAS's ``get_ntk_n``), network in train mode, the caller's weights
    (TE-NAS's launcher passes an init name its ``init_model`` does not match, so PyTorch's default init is what
    it measured). Lower is better (direction -1); the raw value is kappa. Option ``ntk_batch_size``: B, the first
    samples of the batch (default 16, TE-NAS's default, or the whole batch if smaller). The cost grows as B^2:
    BN in train mode couples the samples, so each of the B backward passes runs through the whole batch. ``inf``
    for a singular kernel, NaN when J = 0.
    """
    b = ctx.option("ntk_batch_size")
    if b is None:
        b = min(DEFAULT_BATCH_SIZE, ctx.batch_size)
        if b < 2:
            raise ProxyError(f"proxy 'ntk_cond' needs at least 2 inputs (a 1x1 kernel has condition number 1), "
                             f"got {ctx.batch_size}")
    elif ctx.batch_size < b:
        raise ProxyError(f"proxy 'ntk_cond' needs a batch of at least ntk_batch_size={b} inputs, got "
                         f"{ctx.batch_size}")
    model = ctx.fresh_model()  # train mode
    jac = ntk_jacobian(model, ctx.inputs[:b])
    kappa = condition_number(jac.double() @ jac.double().T)
    if math.isnan(kappa):
        return ctx.nonfinite("the NTK is zero: the output does not depend on the weights on this batch")
    if math.isinf(kappa):
        return ctx.nonfinite("the NTK is singular (lambda_min ~ 0): condition number infinite", math.inf)
    return kappa
