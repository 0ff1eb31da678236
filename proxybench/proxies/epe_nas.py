"""``epe_nas``: EPE-NAS (Lopes, Alirezazadeh & Alexandre, ICANN 2021)."""

from __future__ import annotations

import torch

from .registry import register_proxy

EPE_EPS = 1e-5


@register_proxy("epe_nas", groups=("standard",), labels=True, gradients=True,
                paper="Lopes et al., EPE-NAS: Efficient Performance Estimation Without Training for Neural "
                      "Architecture Search, ICANN 2021")
def epe_nas(ctx) -> float:
    """Per-class Jacobian correlation score. For each class c present in the batch, with Sigma_c the correlation
    matrix of the input Jacobians J_n = d(sum_j f_j(x_n))/d(x_n) of its images (1 x 1 for a single image),
    s_c = sum_{ij} log(|Sigma_c,ij| + k), k = 1e-5 (network in train mode). Score: sum_c |s_c| for up to
    100 classes; for more, s_c is divided by the size of Sigma_c (classes seen once are skipped) and the score
    is sum_{c,c'} |s_c - s_c'| / (number of classes scored), as in the authors' code.

    NaN (with the reason) when a Jacobian row is constant, which makes its correlations undefined.
    """
    jp = ctx.pass_("input_jacobian")
    jac = jp.jacobian.to(torch.float64)
    many = jp.num_classes > 100
    scores = []
    for c in torch.unique(ctx.targets).tolist():
        rows = jac[ctx.targets == c]
        if rows.shape[0] == 1:
            if many:
                continue
            var = rows.var()
            corr = (var / var).reshape(1, 1)
        else:
            corr = torch.corrcoef(rows)
        if not bool(torch.isfinite(corr).all()):
            return ctx.nonfinite(f"the input Jacobians of class {c} include a constant row, so their correlation "
                           "matrix is undefined")
        s = torch.log(corr.abs() + EPE_EPS).sum()
        if many:
            s = s / corr.shape[0]
        scores.append(s)
    if not scores:
        return ctx.nonfinite("no class has two images in the batch (needed with more than 100 classes)")
    s = torch.stack(scores)
    if many:
        return float((s[:, None] - s[None, :]).abs().sum() / len(scores))
    return float(s.abs().sum())
