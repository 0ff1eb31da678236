"""``pathway_cka``: DistPro's pathways at initialization, scored by linear CKA (a zero-cost counterpart of the
``distpro`` distiller; :mod:`proxybench.distill.pathways`).

For every pathway ``(i, j)`` (teacher stage i, student stage j; DistPro's ``i <= j`` set by default) the linear
CKA (Kornblith et al., ICML 2019) between the teacher's stage-i map and the random-init student's stage-j map on the
batch, each flattened per sample: ``CKA(X, Y) = <K_c, L_c>_F / (||K_c||_F ||L_c||_F)`` with ``K = X X^T``,
``L = Y Y^T`` (batch x batch Grams) double-centred. CKA needs no transform (it compares batch x batch similarity
structures, so widths and spatial sizes may differ), is 1 for identical features and invariant to isotropic
scaling and orthogonal transforms of either side; a constant (e.g. all-zero) map scores 0. Score = the weighted
mean over pathways, higher = the student's stages organise the batch more like the teacher's.

Options: ``pathways`` (``distpro`` | ``all``, default ``distpro``); ``process`` (a process JSON path from
``proxybench kd-bench process-search``: its pathways, weighted by the process's weights averaged over its points,
renormalized to sum to 1; otherwise uniform weights). An ensemble teacher scores the mean over its members, as the
other KD-aware proxies do; an ``@oracle`` ensemble weighs each member by its share of the batch's oracle target
(``member_weights``, see :mod:`proxybench.proxies.kd._teacher`).
"""

from __future__ import annotations

import torch

from ...distill.pathways import PATHWAY_SETS, make_pathways, stage_maps
from ..context import ProxyError
from ..options import Option
from ..registry import register_proxy


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """Linear CKA between two batches of features ``(B, ...)`` (flattened per sample), in float64; 0 when either
    side is constant over the batch."""
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"linear_cka: batch sizes differ ({x.shape[0]} vs {y.shape[0]})")
    if x.shape[0] < 2:
        raise ValueError("linear_cka needs a batch of at least 2 samples")
    a = x.detach().reshape(x.shape[0], -1).double()
    b = y.detach().reshape(y.shape[0], -1).double()
    a = a - a.mean(0, keepdim=True)  # centring the features centres the Gram matrices
    b = b - b.mean(0, keepdim=True)
    k, m = a @ a.T, b @ b.T
    denom = float(torch.linalg.matrix_norm(k) * torch.linalg.matrix_norm(m))
    if denom <= 0 or denom != denom:
        return 0.0
    return float((k * m).sum()) / denom


def pathway_ckas(student_feats: dict, teacher_feats: dict, pathways) -> list[float]:
    """Linear CKA per pathway ``(i, j)`` between teacher stage i and student stage j (``forward_features``
    dicts)."""
    s_maps, t_maps = stage_maps(student_feats), stage_maps(teacher_feats)
    out = []
    for i, j in pathways:
        if i > len(t_maps) or j > len(s_maps):
            raise ValueError(f"pathway t{i}->s{j} needs teacher stage {i} and student stage {j}; the teacher has "
                             f"{len(t_maps)} stages and the student {len(s_maps)}")
        out.append(linear_cka(s_maps[j - 1], t_maps[i - 1]))
    return out


def _pathways_and_weights(ctx, n_teacher: int, n_student: int):
    path = ctx.option("process")
    if path:
        from ...distill.process_file import load_process

        try:
            process = load_process(path)
        except (ValueError, FileNotFoundError) as exc:
            raise ProxyError(f"proxy 'pathway_cka': {exc}") from None
        weights = process.mean_weights()
        total = sum(weights)
        if total <= 0:
            raise ProxyError(f"proxy 'pathway_cka': the process {path} gives every pathway weight 0")
        return process.pathways, [w / total for w in weights]
    which = ctx.option("pathways")
    pathways = make_pathways(n_teacher, n_student, which)
    return pathways, [1.0 / len(pathways)] * len(pathways)


@register_proxy("pathway_cka", direction=1, teacher=True,
                options=(Option("pathways", str, "distpro", "pathway set: teacher stage i -> student stage j with "
                                "i <= j (distpro) or every pair (all)", choices=tuple(PATHWAY_SETS)),
                         Option("process", str, None, "a DistPro process JSON whose mean pathway weights weight "
                                "the CKAs (unset: equal weights)")),
                paper="Deng et al., DistPro: Searching a Fast Knowledge Distillation Process via Meta Optimization, "
                      "ECCV 2022 (pathways); Kornblith et al., Similarity of Neural Network Representations "
                      "Revisited, ICML 2019 (linear CKA)")
def pathway_cka(ctx) -> float:
    """Mean linear CKA between teacher stage i and student stage j over DistPro's pathways i <= j (option
    ``pathways``: distpro | all), or weighted by a learned process (option ``process``: a process JSON).
    Higher = more similar."""
    student = ctx.pass_("kd_student_features")
    teacher = ctx.pass_("teacher_features")
    members = teacher["members"] if "members" in teacher else [teacher]
    try:
        n_student = len(stage_maps(student))
        per_member = []
        for member in members:
            pathways, weights = _pathways_and_weights(ctx, len(stage_maps(member)), n_student)
            ckas = pathway_ckas(student, member, pathways)
            per_member.append(sum(w * c for w, c in zip(weights, ckas)))
    except ValueError as exc:
        if isinstance(exc, ProxyError):
            raise
        raise ProxyError(f"proxy 'pathway_cka': {exc}") from None
    shares = teacher.get("member_weights") if "members" in teacher else None
    if shares is not None:
        return float(sum(float(w) * c for w, c in zip(shares, per_member)))
    return float(sum(per_member) / len(per_member))
