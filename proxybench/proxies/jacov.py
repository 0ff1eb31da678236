"""``jacov``: Jacobian covariance (Mellor et al., NASWOT v1, 2020), NAS-Bench-Suite-Zero's variant."""

from __future__ import annotations

import torch

from .registry import register_proxy

JACOV_EPS = 1e-5


@register_proxy("jacov", groups=("standard", "default"), gradients=True,
                paper="Mellor et al., Neural Architecture Search without Training, arXiv:2006.04647v1 (2020); "
                      "Abdelfattah et al., ICLR 2021; Krishnakumar et al., NAS-Bench-Suite-Zero, NeurIPS 2022")
def jacov(ctx) -> float:
    """-sum_i [log(lambda_i + k) + 1/(lambda_i + k)], k = 1e-5, lambda_i the eigenvalues of the B x B correlation
    matrix of the per-image input Jacobians J_n = d(sum_c f_c(x_n))/d(x_n) (network in train mode).

    NaN (with the reason) when a Jacobian row is constant, e.g. when the output does not depend on the input:
    its correlations are undefined.
    """
    jac = ctx.pass_("input_jacobian").jacobian.to(torch.float64)
    corr = torch.corrcoef(jac)
    if not bool(torch.isfinite(corr).all()):
        return ctx.nonfinite("an input Jacobian row is constant (the output does not depend on that image), so the "
                       "Jacobian correlation matrix is undefined")
    v = torch.linalg.eigvalsh(corr)
    return float(-(torch.log(v + JACOV_EPS) + 1.0 / (v + JACOV_EPS)).sum())
