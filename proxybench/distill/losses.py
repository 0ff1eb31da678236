"""Distillation losses. One implementation serves two uses: the KD trainer (as distillers) and the KD-aware
zero-cost proxies (score = -loss between a teacher and a random-init student).

Every loss takes ``(student, teacher)`` tensors, returns a scalar tensor, is differentiable in the student
argument and treats the teacher argument as a constant target (it is detached). Feature choices follow
RepDistiller's ``train_student.py`` (Tian et al., ICLR 2020): ``sp``/``ickd`` on the last feature map before
global pooling, ``rkd``/``pkt``/``cc`` on the pooled embedding, ``at``/``nst`` summed over the three stage outputs;
:data:`DISTILLERS` records them and :func:`distill_loss` applies them to ``forward_features`` dicts.

Width independence (teacher and student channel counts may differ; nothing here is learned):
``sp``, ``rkd``, ``pkt``, ``cc`` and the DisWOT relation compare batch x batch matrices; ``at`` compares
channel-pooled attention maps; ``nst`` is an MMD between the two sets of channel maps, of any sizes. Where the
spatial sizes differ (``at``, ``nst``, ``ickd``) the larger map is average-pooled to the smaller one. ``ickd``
compares channel x channel matrices: when the channel counts differ, the wider map is average-pooled over groups of
adjacent channels down to the narrower count (a parameter-free stand-in for ICKD's learned 1x1 embedding; the
identity when the widths agree). The DisWOT semantic distance uses a class x class Gram when the classifier widths
differ (see :func:`diswot_semantic_distance`). RepDistiller's ``cc`` needs a learned embedding to equal widths;
``cc`` here is the paper's batch kernel form instead (Peng et al. 2019, eq. 4-6, Gaussian RBF by a Taylor series).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 4.0) -> torch.Tensor:
    """Hinton et al. 2015: T^2 * KL(softmax(t/T) || softmax(s/T)), averaged over the batch."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    t = float(temperature)
    log_p_s = F.log_softmax(student_logits / t, dim=1)
    log_p_t = F.log_softmax(teacher_logits / t, dim=1)
    return F.kl_div(log_p_s, log_p_t, reduction="batchmean", log_target=True) * (t * t)


def labelled_ce(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over the samples with a label (``target >= 0``), batch mean; zero (with a gradient path) when
    no sample has one. A transfer-set image (label -1) is seen only through the teacher's soft labels."""
    labelled = targets >= 0
    if bool(labelled.all()):
        return F.cross_entropy(logits, targets)
    if not bool(labelled.any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits[labelled], targets[labelled])


ORACLE_FALLBACKS = ("mean", "label")


def oracle_correct(member_logits: Sequence[torch.Tensor], targets: torch.Tensor) -> torch.Tensor:
    """``(M, B)`` bool: whether member ``m``'s arg-max is the true class of sample ``b``."""
    if not member_logits:
        raise ValueError("oracle target needs at least one member's logits")
    z = torch.stack([m.detach() for m in member_logits])
    if z.dim() != 3 or z.shape[1] != targets.shape[0]:
        raise ValueError(f"member logits must be M tensors of shape (B, K) with B = {targets.shape[0]} targets, "
                         f"got {tuple(z.shape)}")
    return z.argmax(2) == targets.to(z.device).unsqueeze(0)


def oracle_weights(member_logits: Sequence[torch.Tensor], targets: torch.Tensor) -> torch.Tensor:
    """``(M, B)`` per-sample member weights of the oracle target: for sample ``b``, ``1 / n_b`` on each of the
    ``n_b`` members whose arg-max is the true class, or ``1 / M`` on every member where none is; each column sums
    to 1 (Oracle KD: Kang, Mun, Han, AAAI 2020)."""
    correct = oracle_correct(member_logits, targets).float()  # (M, B)
    none = correct.sum(0) == 0
    weights = torch.where(none.unsqueeze(0), torch.ones_like(correct), correct)
    return weights / weights.sum(0, keepdim=True)


def oracle_target(member_logits: Sequence[torch.Tensor], targets: torch.Tensor,
                  temperature: float = 4.0, *, fallback: str = "mean") -> torch.Tensor:
    """Per-sample oracle target of an ensemble, ``(B, K)`` rows that sum to 1 (Oracle KD: Kang, Mun, Han,
    AAAI 2020, arXiv 1911.13019).

    Rule followed: for sample ``b``, the mean of ``softmax(z_m / T)`` over the members ``m`` whose arg-max is the
    true class (one correct member: that member's distribution; several: their mean; :func:`oracle_weights`).
    Where no member is right:

    * ``fallback="mean"`` (default): the mean over all members, i.e. plain ensemble KD on that sample;
    * ``fallback="label"``: the one-hot true label, so the student is not pulled towards a wrong answer.

    Why: the paper's stated aim is that "a student network is learned to imitate oracle performance of the
    teacher", the oracle being correct whenever any member is (its intro contrasts model averaging with "oracle
    predictions achieved by the best model selection in the ensemble"); averaging the correct members is the
    per-sample distribution whose arg-max attains that oracle accuracy. The copies of the paper that could be
    consulted for this implementation did not include the loss equation itself, so the treatment of samples no
    member gets right is not taken from it: ``mean`` is the reading of proxybench's issue and keeps the soft
    inter-class information; ``label`` is the alternative that never imitates a wrong ensemble. Both are
    selectable (the ``oracle`` distiller's ``fallback`` option).
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    if fallback not in ORACLE_FALLBACKS:
        raise ValueError(f"oracle fallback must be one of {ORACLE_FALLBACKS}, got {fallback!r}")
    weights = oracle_weights(member_logits, targets)  # (M, B)
    z = torch.stack([m.detach().float() for m in member_logits])  # (M, B, K)
    probs = F.softmax(z / float(temperature), dim=2)
    target = (weights.unsqueeze(2) * probs).sum(0)
    # an unlabelled sample (target -1, a transfer-set image) has no correct member: the mean of all members
    none = ~oracle_correct(member_logits, targets).any(0) & (targets.to(z.device) >= 0)
    if fallback == "label" and bool(none.any()):
        onehot = F.one_hot(targets.to(z.device).long().clamp_min(0), z.shape[2]).to(target.dtype)
        target = torch.where(none.unsqueeze(1), onehot, target)
    return target


ORACLE_LOGIT_FLOOR = 1e-30
"""The probability floor of :func:`oracle_logits`: ``log(1e-30) = -69.1``."""


def oracle_logits(member_logits: Sequence[torch.Tensor], targets: torch.Tensor, *,
                  fallback: str = "mean") -> torch.Tensor:
    """The oracle target as logits, for what consumes logits (the KD-aware proxies' ``@oracle`` teacher):
    ``log(max(p, 1e-30))`` with ``p = oracle_target(member_logits, targets, T=1, fallback)``, in the members'
    dtype.

    ``softmax`` of them gives ``p`` back wherever ``p >= 1e-30`` (the floor, :data:`ORACLE_LOGIT_FLOOR`, only
    keeps a zero probability, as in the one-hot ``label`` fallback or a float32 underflow, finite). A loss that
    tempers logits, ``softmax(l / T)``, then gets ``p^(1/T)`` renormalized: for one correct member that is exactly
    the member's own ``softmax(z / T)``, since ``log softmax(z)`` and ``z`` differ by a constant per row; for
    several correct members it tempers their T=1 mean. A floored class weighs ``(1e-30 / p_max)^(1/T)`` relative
    to the top class: about ``3e-8`` at T=4."""
    target = oracle_target(member_logits, targets, 1.0, fallback=fallback)
    dtype = member_logits[0].dtype if member_logits[0].is_floating_point() else target.dtype
    return target.clamp_min(ORACLE_LOGIT_FLOOR).log().to(dtype)


def oracle_member_shares(member_logits: Sequence[torch.Tensor], targets: torch.Tensor) -> torch.Tensor:
    """``(M,)`` each member's share of a batch's oracle target: the mean over samples of :func:`oracle_weights`
    (sums to 1). What an ``@oracle`` ensemble weighs the members' feature and relation distances by, since a
    distance between batch-level matrices (DisWOT's relation Gram, RKD, PKT, ...) cannot pick a member per
    sample: a member right on every sample the others miss counts fully, one right on none where others are right
    counts zero, and with one correct member on every sample it is that member's distance."""
    return oracle_weights(member_logits, targets).mean(1)


def oracle_kd_loss(student_logits: torch.Tensor, member_logits: Sequence[torch.Tensor], targets: torch.Tensor,
                   temperature: float = 4.0, *, fallback: str = "mean") -> torch.Tensor:
    """``T^2 * KL(oracle_target || softmax(s / T))``, batch mean (Kang, Mun, Han, AAAI 2020; the rule and the
    ``fallback`` for samples no member gets right are described in :func:`oracle_target`)."""
    t = float(temperature)
    target = oracle_target(member_logits, targets, t, fallback=fallback)
    log_p_s = F.log_softmax(student_logits / t, dim=1)
    return F.kl_div(log_p_s, target.to(log_p_s.dtype), reduction="batchmean") * (t * t)


# ---- shape helpers ---------------------------------------------------------------------------------------------------
def _check_pair(name: str, f_s: torch.Tensor, f_t: torch.Tensor, dims: Sequence[int]) -> None:
    for who, f in (("student", f_s), ("teacher", f_t)):
        if not torch.is_tensor(f) or f.dim() not in dims:
            raise ValueError(f"{name}: {who} features must be a tensor with {' or '.join(map(str, dims))} "
                             f"dimensions, got {getattr(f, 'shape', type(f).__name__)}")
    if f_s.shape[0] != f_t.shape[0]:
        raise ValueError(f"{name}: student and teacher batch sizes differ ({f_s.shape[0]} vs {f_t.shape[0]})")


def match_spatial(f_s: torch.Tensor, f_t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Average-pool the larger of two (B, C, H, W) maps to the other's spatial size (RepDistiller's AT/NST rule)."""
    h, w = min(f_s.shape[2], f_t.shape[2]), min(f_s.shape[3], f_t.shape[3])
    if f_s.shape[2:] != (h, w):
        f_s = F.adaptive_avg_pool2d(f_s, (h, w))
    if f_t.shape[2:] != (h, w):
        f_t = F.adaptive_avg_pool2d(f_t, (h, w))
    return f_s, f_t


def pool_channels(f: torch.Tensor, channels: int) -> torch.Tensor:
    """Average (B, C, ...) over groups of adjacent channels down to ``channels`` (adaptive 1-D average pooling)."""
    if f.shape[1] == channels:
        return f
    b, c = f.shape[:2]
    flat = f.reshape(b, c, -1).transpose(1, 2)  # (B, L, C)
    pooled = F.adaptive_avg_pool1d(flat, channels).transpose(1, 2)
    return pooled.reshape(b, channels, *f.shape[2:])


def _row_normalized_gram(x: torch.Tensor) -> torch.Tensor:
    """(N, D) -> (N, N) Gram matrix with L2-normalized rows."""
    return F.normalize(x @ x.t(), p=2, dim=1)


def _batch_gram_distance(f_s: torch.Tensor, f_t: torch.Tensor) -> torch.Tensor:
    b = f_s.shape[0]
    g_s = _row_normalized_gram(f_s.reshape(b, -1))
    g_t = _row_normalized_gram(f_t.reshape(b, -1))
    return (g_s - g_t).pow(2).sum() / (b * b)


def _channel_gram_distance(f_s: torch.Tensor, f_t: torch.Tensor) -> torch.Tensor:
    """ICKD's form on (N, C, L) tensors: per item a C x C Gram with L2-normalized rows; sum of squared
    differences / (C * N)."""
    n, c = f_s.shape[:2]
    g_s = F.normalize(torch.bmm(f_s, f_s.transpose(1, 2)), p=2, dim=2)
    g_t = F.normalize(torch.bmm(f_t, f_t.transpose(1, 2)), p=2, dim=2)
    return (g_s - g_t).pow(2).sum() / (c * n)


# ---- feature and relation distillers ---------------------------------------------------------------------------------
def sp_loss(f_s: torch.Tensor, f_t: torch.Tensor) -> torch.Tensor:
    """Similarity-preserving KD (Tung & Mori, ICCV 2019): G = F F^T over the batch (F the (B, -1) flattened
    features), rows L2-normalized; loss = ||G_t - G_s||_F^2 / B^2. Invariant to feature scale, any width."""
    _check_pair("sp", f_s, f_t, (2, 3, 4))
    return _batch_gram_distance(f_s, f_t.detach())


def _pdist(e: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    sq = e.pow(2).sum(1)
    d = (sq.unsqueeze(1) + sq.unsqueeze(0) - 2.0 * (e @ e.t())).clamp(min=eps).sqrt()
    off = 1.0 - torch.eye(len(e), dtype=d.dtype, device=d.device)
    return d * off


def _mean_scaled(d: torch.Tensor) -> torch.Tensor:
    positive = d > 0
    if not bool(positive.any()):
        return d
    return d / d[positive].mean()


def _angles(e: torch.Tensor) -> torch.Tensor:
    diff = F.normalize(e.unsqueeze(0) - e.unsqueeze(1), p=2, dim=2)  # (B, B, D): unit vectors e_i - e_j
    return torch.bmm(diff, diff.transpose(1, 2)).reshape(-1)


def rkd_loss(f_s: torch.Tensor, f_t: torch.Tensor, w_dist: float = 25.0, w_angle: float = 50.0) -> torch.Tensor:
    """Relational KD (Park et al., CVPR 2019): w_d * Huber(psi_D(s), psi_D(t)) + w_a * Huber(psi_A(s), psi_A(t)),
    psi_D the pairwise distances divided by their mean over distinct pairs, psi_A the cosines of the angles
    e_i e_j e_k (all triplets); Huber = smooth L1 (delta 1), mean over entries. Weights 25 / 50 as in the paper.
    Invariant to feature scale and translation, any width."""
    _check_pair("rkd", f_s, f_t, (2, 3, 4))
    s = f_s.reshape(f_s.shape[0], -1)
    t = f_t.detach().reshape(f_t.shape[0], -1)
    loss_d = F.smooth_l1_loss(_mean_scaled(_pdist(s)), _mean_scaled(_pdist(t)))
    loss_a = F.smooth_l1_loss(_angles(s), _angles(t))
    return w_dist * loss_d + w_angle * loss_a


def _cosine_probabilities(x: torch.Tensor, eps: float) -> torch.Tensor:
    x = x / (x.norm(p=2, dim=1, keepdim=True) + eps)
    x = torch.nan_to_num(x)
    sim = (x @ x.t() + 1.0) / 2.0
    return sim / sim.sum(dim=1, keepdim=True)


def pkt_loss(f_s: torch.Tensor, f_t: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Probabilistic KT (Passalis & Tefas, ECCV 2018), cosine-kernel form: P_ij = (1 + cos(x_i, x_j)) / 2 normalized
    over j, for teacher (t) and student (s); loss = mean_ij t_ij * log((t_ij + eps) / (s_ij + eps)). Invariant to
    feature scale, any width."""
    _check_pair("pkt", f_s, f_t, (2, 3, 4))
    s = _cosine_probabilities(f_s.reshape(f_s.shape[0], -1), eps)
    t = _cosine_probabilities(f_t.detach().reshape(f_t.shape[0], -1), eps)
    return torch.mean(t * torch.log((t + eps) / (s + eps)))


def _cc_kernel(x: torch.Tensor, gamma: float, order: int) -> torch.Tensor:
    x = F.normalize(x, p=2, dim=1)
    sim = x @ x.t()
    out = torch.zeros_like(sim)
    for p in range(order + 1):
        out = out + math.exp(-2.0 * gamma) * (2.0 * gamma) ** p / math.factorial(p) * sim.pow(p)
    return out


def cc_loss(f_s: torch.Tensor, f_t: torch.Tensor, gamma: float = 0.4, order: int = 2) -> torch.Tensor:
    """Correlation congruence (Peng et al., ICCV 2019): K_ij = k(f_i, f_j) over the batch with the Gaussian RBF
    kernel exp(-gamma ||f_i - f_j||^2) of L2-normalized features, approximated by its order-P Taylor series
    sum_p exp(-2 gamma) (2 gamma)^p / p! (f_i . f_j)^p (gamma 0.4, P 2); loss = mean_ij (K^t_ij - K^s_ij)^2."""
    _check_pair("cc", f_s, f_t, (2, 3, 4))
    if order < 0:
        raise ValueError(f"cc: order must be >= 0, got {order!r}")
    k_s = _cc_kernel(f_s.reshape(f_s.shape[0], -1), gamma, order)
    k_t = _cc_kernel(f_t.detach().reshape(f_t.shape[0], -1), gamma, order)
    return F.mse_loss(k_s, k_t)


def attention_map(f: torch.Tensor, p: float = 2.0) -> torch.Tensor:
    """AT's spatial attention of a (B, C, H, W) map: mean over channels of f^p, flattened, L2-normalized."""
    return F.normalize(f.pow(p).mean(1).reshape(f.shape[0], -1), p=2, dim=1)


def at_loss(f_s: torch.Tensor, f_t: torch.Tensor, p: float = 2.0) -> torch.Tensor:
    """Attention transfer (Zagoruyko & Komodakis, ICLR 2017), RepDistiller's form: mean over batch and positions
    of (Q_s - Q_t)^2, Q = normalize(mean_c f_c^p). Invariant to channel permutation and feature scale."""
    _check_pair("at", f_s, f_t, (4,))
    f_s, f_t = match_spatial(f_s, f_t.detach())
    return (attention_map(f_s, p) - attention_map(f_t, p)).pow(2).mean()


def nst_loss(f_s: torch.Tensor, f_t: torch.Tensor) -> torch.Tensor:
    """Neuron selectivity transfer (Huang & Wang, 2017): squared MMD between the sets of channel maps (each
    channel's spatial map L2-normalized) under the polynomial kernel k(x, y) = (x . y)^2:
    mean k(t, t') + mean k(s, s') - 2 mean k(s, t), averaged over the batch. Any widths."""
    _check_pair("nst", f_s, f_t, (4,))
    f_s, f_t = match_spatial(f_s, f_t.detach())
    s = F.normalize(f_s.reshape(f_s.shape[0], f_s.shape[1], -1), p=2, dim=2)
    t = F.normalize(f_t.reshape(f_t.shape[0], f_t.shape[1], -1), p=2, dim=2)
    k_tt = torch.bmm(t, t.transpose(1, 2)).pow(2).mean()
    k_ss = torch.bmm(s, s.transpose(1, 2)).pow(2).mean()
    k_st = torch.bmm(s, t.transpose(1, 2)).pow(2).mean()
    return k_tt + k_ss - 2.0 * k_st


def ickd_loss(f_s: torch.Tensor, f_t: torch.Tensor) -> torch.Tensor:
    """Inter-channel correlation KD (Liu et al., ICCV 2021): per sample G = F F^T over channels (F the (C, HW)
    map), rows L2-normalized; loss = sum ||G_s - G_t||^2 / (C * B). Differing widths: the wider map is averaged
    over groups of adjacent channels to the narrower count (no learned embedding)."""
    _check_pair("ickd", f_s, f_t, (4,))
    f_s, f_t = match_spatial(f_s, f_t.detach())
    c = min(f_s.shape[1], f_t.shape[1])
    f_s, f_t = pool_channels(f_s, c), pool_channels(f_t, c)
    b = f_s.shape[0]
    return _channel_gram_distance(f_s.reshape(b, c, -1), f_t.reshape(b, c, -1))


# ---- DisWOT (Dong, Li & Wei, CVPR 2023) ----------------------------------------------------------------------------
def classifier_ce_gradient(pooled: torch.Tensor, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """dL/dW of the mean cross-entropy L w.r.t. the classifier weight W (K x D) for logits = W pooled + b:
    (softmax(logits) - onehot(targets))^T pooled / B. Differentiable (usable inside a training loss)."""
    if pooled.dim() != 2 or logits.dim() != 2 or pooled.shape[0] != logits.shape[0]:
        raise ValueError(f"classifier_ce_gradient: need (B, D) pooled features and (B, K) logits, got "
                         f"{tuple(pooled.shape)} and {tuple(logits.shape)}")
    if targets.dim() != 1 or targets.shape[0] != logits.shape[0]:
        raise ValueError(f"classifier_ce_gradient: need {logits.shape[0]} targets, got {tuple(targets.shape)}")
    delta = torch.softmax(logits, dim=1) - F.one_hot(targets.long(), logits.shape[1]).to(logits.dtype)
    return delta.t() @ pooled / logits.shape[0]


SEMANTIC_FORMS = ("auto", "channel", "class")


def diswot_semantic_distance(g_s: torch.Tensor, g_t: torch.Tensor, form: str = "auto") -> torch.Tensor:
    """DisWOT's semantic distance between the classifier-weight gradients (K x D, one Grad-CAM-like row per class)
    of student and teacher.

    ``channel`` (the paper, equal widths): per class k the channel Gram g_k g_k^T (D x D), rows L2-normalized;
    sum over k of ||G^s_k - G^t_k||^2 / (K * D).
    ``class`` (width-independent): the class Gram g g^T (K x K), rows L2-normalized; ||G^s - G^t||^2 / K^2. It is
    invariant to any orthogonal change of the feature axis (channel permutations included).
    ``auto``: ``channel`` when D_s == D_t, else ``class``.
    """
    if form not in SEMANTIC_FORMS:
        raise ValueError(f"unknown DisWOT semantic form {form!r}; valid: {', '.join(SEMANTIC_FORMS)}")
    for who, g in (("student", g_s), ("teacher", g_t)):
        if not torch.is_tensor(g) or g.dim() != 2:
            raise ValueError(f"diswot_semantic_distance: {who} gradient must be a (classes, width) matrix, got "
                             f"{getattr(g, 'shape', type(g).__name__)}")
    if g_s.shape[0] != g_t.shape[0]:
        raise ValueError(f"diswot_semantic_distance: student and teacher have different numbers of classes "
                         f"({g_s.shape[0]} vs {g_t.shape[0]})")
    g_t = g_t.detach()
    if form == "auto":
        form = "channel" if g_s.shape[1] == g_t.shape[1] else "class"
    if form == "channel":
        if g_s.shape[1] != g_t.shape[1]:
            raise ValueError(f"diswot_semantic_distance: the channel form needs equal classifier widths, got "
                             f"{g_s.shape[1]} (student) and {g_t.shape[1]} (teacher); use form='class' or 'auto'")
        return _channel_gram_distance(g_s.unsqueeze(2), g_t.unsqueeze(2))
    k = g_s.shape[0]
    return (_row_normalized_gram(g_s) - _row_normalized_gram(g_t)).pow(2).sum() / (k * k)


def diswot_relation_distance(f_s: torch.Tensor, f_t: torch.Tensor) -> torch.Tensor:
    """DisWOT's relation distance (its M_r): batch Gram matrices G = F F^T of the pre-pooling features (B x B),
    rows L2-normalized; ||G_t - G_s||^2 / B^2. The same formula as ``sp_loss`` on the same map."""
    _check_pair("diswot_relation", f_s, f_t, (2, 3, 4))
    return _batch_gram_distance(f_s, f_t.detach())


# ---- named distillers on feature dicts -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Distiller:
    """A named loss and the ``forward_features`` keys it compares (summed over keys, RepDistiller style)."""

    name: str
    fn: Callable[..., torch.Tensor]
    keys: tuple[str, ...]
    paper: str


STAGES = ("stage1", "stage2", "stage3")
DISTILLERS: dict[str, Distiller] = {d.name: d for d in (
    Distiller("kd", kd_loss, ("logits",), "Hinton et al. 2015"),
    Distiller("sp", sp_loss, ("pre_pool",), "Tung & Mori, ICCV 2019"),
    Distiller("rkd", rkd_loss, ("pooled",), "Park et al., CVPR 2019"),
    Distiller("pkt", pkt_loss, ("pooled",), "Passalis & Tefas, ECCV 2018"),
    Distiller("cc", cc_loss, ("pooled",), "Peng et al., ICCV 2019"),
    Distiller("at", at_loss, STAGES, "Zagoruyko & Komodakis, ICLR 2017"),
    Distiller("nst", nst_loss, STAGES, "Huang & Wang, arXiv 1707.01219, 2017"),
    Distiller("ickd", ickd_loss, ("pre_pool",), "Liu et al., ICCV 2021"),
    Distiller("diswot_relation", diswot_relation_distance, ("pre_pool",), "Dong et al., CVPR 2023"),
    Distiller("diswot_semantic", diswot_semantic_distance, ("head_grad",), "Dong et al., CVPR 2023"),
)}

# RepDistiller's loss weights (beta in scripts/run_cifar_distill.sh) for training with these distillers.
REPDISTILLER_BETA = {"at": 1000.0, "sp": 3000.0, "rkd": 1.0, "pkt": 30000.0, "nst": 50.0}


def _feature(feats: dict, key: str, who: str, name: str) -> torch.Tensor:
    if not isinstance(feats, dict) or key not in feats:
        have = ", ".join(sorted(feats)) if isinstance(feats, dict) else type(feats).__name__
        hint = " (computed by classifier_ce_gradient; needs labels)" if key == "head_grad" else ""
        raise ValueError(f"distiller {name!r} needs the {who} feature {key!r}{hint}; available: {have}")
    return feats[key]


def distill_loss(name: str, student: dict[str, Any], teacher: dict[str, Any], **options) -> torch.Tensor:
    """Apply distiller ``name`` to ``forward_features`` dicts of a student and a teacher.

    For an ensemble teacher (its dict has ``members``), ``kd`` uses the dict's ``logits`` (the ensemble's mean
    logits, or an oracle ensemble's :func:`oracle_logits`) and every other distiller returns the mean of its loss
    against each member, weighted by ``member_weights`` when the dict has them (an ``@oracle`` ensemble: each
    member's share of the batch's oracle target, :func:`oracle_member_shares`). ``options`` go to the loss
    function (e.g. ``temperature`` for ``kd``, ``form`` for ``diswot_semantic``).
    """
    if name not in DISTILLERS:
        raise ValueError(f"unknown distiller {name!r}; valid: {', '.join(DISTILLERS)}")
    d = DISTILLERS[name]
    members = teacher.get("members") if isinstance(teacher, dict) else None
    if members and name != "kd":
        losses = torch.stack([distill_loss(name, student, m, **options) for m in members])
        weights = teacher.get("member_weights")
        if weights is None:
            return losses.mean()
        return (weights.to(device=losses.device, dtype=losses.dtype) * losses).sum()
    total = None
    for key in d.keys:
        value = d.fn(_feature(student, key, "student", name), _feature(teacher, key, "teacher", name), **options)
        total = value if total is None else total + value
    return total
