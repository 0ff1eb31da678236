"""``epe_nas``: EPE-NAS (Lopes, Alirezazadeh & Alexandre, ICANN 2021)."""

from __future__ import annotations

import torch

from .options import Option
from .registry import register_proxy

EPE_EPS = 1e-5
RULES = ("auto", "sum", "pairwise")
MANY_CLASSES = 100
"""With more classes than this (the network's outputs), ``auto`` scores by the normalised pairwise rule."""


@register_proxy("epe_nas", groups=("standard",), labels=True, gradients=True,
                options=(Option("epe_nas_rule", str, "auto",
                                "auto: the paper's choice by class count (sum rule up to 100 network outputs, "
                                "normalised pairwise rule above); sum: the sum rule for any count, as the "
                                "authors' search script runs it (it never passes the class count, whose default "
                                "is 10); pairwise: the normalised pairwise rule for any count", choices=RULES),),
                paper="Lopes et al., EPE-NAS: Efficient Performance Estimation Without Training for Neural "
                      "Architecture Search, ICANN 2021")
def epe_nas(ctx) -> float:
    """Per-class Jacobian correlation score. For each class c present in the batch, with Sigma_c the correlation
    matrix of the input Jacobians J_n = d(sum_j f_j(x_n))/d(x_n) of its images (1 x 1 for a single image),
    s_c = sum_{ij} log(|Sigma_c,ij| + k), k = 1e-5 (network in train mode).

    Sum rule: sum_c |s_c| (a class seen once adds log(1 + k)). Normalised pairwise rule: s_c is divided by the
    size of Sigma_c (classes seen once are skipped) and the score is sum_{c,c'} |s_c - s_c'| / (number of classes
    scored). Option ``epe_nas_rule``: ``auto`` (default; the paper's, also NASLib's, which counts the network's
    outputs) takes the sum rule for up to 100 classes and the pairwise rule for more; ``sum`` and ``pairwise``
    force one. On CIFAR-10 and CIFAR-100 ``auto`` and ``sum`` agree; on ImageNet16-120 (120 classes) they differ.

    NaN (with the reason) when a Jacobian row is constant, which makes its correlations undefined.
    """
    jp = ctx.pass_("input_jacobian")
    jac = jp.jacobian.to(torch.float64)
    rule = ctx.option("epe_nas_rule")
    many = jp.num_classes > MANY_CLASSES if rule == "auto" else rule == "pairwise"
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
        return ctx.nonfinite("no class has two images in the batch (needed by the normalised pairwise rule)")
    s = torch.stack(scores)
    if many:
        return float((s[:, None] - s[None, :]).abs().sum() / len(scores))
    return float(s.abs().sum())
