"""Distillation losses: definitions, invariances, width independence, differentiability."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from proxybench.distill import losses as L

FEATURE_LOSSES = {"sp": L.sp_loss, "rkd": L.rkd_loss, "pkt": L.pkt_loss, "cc": L.cc_loss, "at": L.at_loss,
                  "nst": L.nst_loss, "ickd": L.ickd_loss, "diswot_relation": L.diswot_relation_distance}
MAP_LOSSES = {"at", "nst", "ickd"}


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def maps(b=6, c=8, h=8, w=8, seed=0, relu=True):
    x = torch.randn(b, c, h, w, generator=gen(seed), dtype=torch.float64)
    return x.relu() if relu else x


def pair(name, seed=0):
    if name in MAP_LOSSES or name in ("sp", "diswot_relation"):
        return maps(seed=seed), maps(c=12, h=4, w=4, seed=seed + 100)
    return (torch.randn(6, 10, generator=gen(seed), dtype=torch.float64),
            torch.randn(6, 16, generator=gen(seed + 100), dtype=torch.float64))


@pytest.mark.parametrize("name", sorted(FEATURE_LOSSES))
def test_identical_features_give_zero(name):
    f, _ = pair(name)
    assert abs(float(FEATURE_LOSSES[name](f, f.clone()))) < 1e-12


@pytest.mark.parametrize("name", sorted(FEATURE_LOSSES))
def test_width_and_resolution_mismatch_is_finite_and_positive(name):
    s, t = pair(name)
    value = float(FEATURE_LOSSES[name](s, t))
    assert math.isfinite(value) and value > 0


@pytest.mark.parametrize("name", sorted(FEATURE_LOSSES))
def test_differentiable_in_student_only(name):
    s, t = pair(name)
    s.requires_grad_(True)
    t.requires_grad_(True)
    loss = FEATURE_LOSSES[name](s, t)
    assert loss.dim() == 0
    loss.backward()
    assert s.grad is not None and torch.isfinite(s.grad).all() and s.grad.abs().sum() > 0
    assert t.grad is None  # the teacher is a constant target


@pytest.mark.parametrize("name", ["sp", "rkd", "pkt", "cc", "at", "ickd", "diswot_relation", "nst"])
def test_invariant_to_feature_scale(name):
    s, t = pair(name)
    base = FEATURE_LOSSES[name](s, t)
    # rtol: pkt divides by (||x|| + eps)
    torch.testing.assert_close(FEATURE_LOSSES[name](3.0 * s, 0.25 * t), base, rtol=1e-6, atol=1e-12)


def test_rkd_invariant_to_translation():
    s, t = pair("rkd")
    torch.testing.assert_close(L.rkd_loss(s + 5.0, t - 2.0), L.rkd_loss(s, t), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", ["at", "nst", "sp", "diswot_relation", "rkd", "pkt", "cc"])
def test_invariant_to_channel_permutation(name):
    s, t = pair(name)
    perm = torch.randperm(s.shape[1], generator=gen(7))
    torch.testing.assert_close(FEATURE_LOSSES[name](s[:, perm], t), FEATURE_LOSSES[name](s, t))


def test_ickd_equivariant_to_a_shared_channel_permutation():
    s, t = maps(seed=1), maps(seed=2)
    perm = torch.randperm(8, generator=gen(3))
    torch.testing.assert_close(L.ickd_loss(s[:, perm], t[:, perm]), L.ickd_loss(s, t))
    assert not torch.allclose(L.ickd_loss(s[:, perm], t), L.ickd_loss(s, t))  # channels do correspond


@pytest.mark.parametrize("name", ["sp", "diswot_relation", "rkd", "pkt", "cc"])
def test_relational_losses_are_symmetric(name):
    s, t = pair(name)
    if name in ("sp", "diswot_relation", "cc", "rkd"):
        torch.testing.assert_close(FEATURE_LOSSES[name](s, t), FEATURE_LOSSES[name](t, s))
    else:  # PKT is a KL divergence: not symmetric
        assert not torch.allclose(L.pkt_loss(s, t), L.pkt_loss(t, s))


def test_sp_hand_computed():
    s = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # orthogonal samples: G = I
    t = torch.tensor([[1.0, 0.0], [2.0, 0.0]])  # parallel samples: normalized rows (1, 2)/sqrt(5)
    g_t = torch.tensor([[1.0, 2.0], [1.0, 2.0]]) / math.sqrt(5.0)
    expected = float(((torch.eye(2) - g_t) ** 2).sum() / 4)
    assert float(L.sp_loss(s, t)) == pytest.approx(expected, rel=1e-6)
    assert float(L.diswot_relation_distance(s, t)) == pytest.approx(expected, rel=1e-6)


def test_rkd_matches_a_direct_evaluation():
    s = torch.randn(5, 4, generator=gen(1), dtype=torch.float64)
    t = torch.randn(5, 7, generator=gen(2), dtype=torch.float64)

    def psi_d(x):
        d = torch.cdist(x, x)
        return d / d[d > 0].mean()

    def psi_a(x):
        n = len(x)
        out = torch.zeros(n, n, n, dtype=x.dtype)
        for i, j, k in itertools.product(range(n), repeat=3):
            u, v = x[j] - x[i], x[k] - x[i]  # angle at e_i between e_j and e_k
            if u.norm() > 0 and v.norm() > 0:
                out[i, j, k] = torch.dot(u, v) / (u.norm() * v.norm())
        return out.reshape(-1)

    expected = 25 * F.smooth_l1_loss(psi_d(s), psi_d(t)) + 50 * F.smooth_l1_loss(psi_a(s), psi_a(t))
    torch.testing.assert_close(L.rkd_loss(s, t), expected, rtol=1e-6, atol=1e-9)


def test_cc_taylor_series_converges_to_the_gaussian_kernel():
    s = torch.randn(6, 5, generator=gen(3), dtype=torch.float64)
    t = torch.randn(6, 9, generator=gen(4), dtype=torch.float64)

    def rbf(x, gamma=0.4):
        x = F.normalize(x, dim=1)
        return torch.exp(-gamma * torch.cdist(x, x) ** 2)

    exact = F.mse_loss(rbf(s), rbf(t))
    torch.testing.assert_close(L.cc_loss(s, t, order=25), exact, rtol=1e-8, atol=1e-12)
    assert float(L.cc_loss(s, t)) != pytest.approx(float(exact), rel=1e-6)  # order 2 is an approximation


def test_pkt_is_a_kl_divergence():
    s = torch.randn(5, 4, generator=gen(5), dtype=torch.float64)
    t = torch.randn(5, 6, generator=gen(6), dtype=torch.float64)

    def probs(x):
        x = F.normalize(x, dim=1)
        k = (x @ x.t() + 1) / 2
        return k / k.sum(1, keepdim=True)

    p_s, p_t = probs(s), probs(t)
    expected = (p_t * torch.log(p_t / p_s)).mean()
    torch.testing.assert_close(L.pkt_loss(s, t), expected, rtol=1e-5, atol=1e-9)


def test_nst_is_the_polynomial_mmd_between_channel_sets():
    s, t = maps(b=2, c=3, h=4, w=4, seed=1), maps(b=2, c=5, h=4, w=4, seed=2)
    total = 0.0
    for b in range(2):
        xs = F.normalize(s[b].reshape(3, -1), dim=1)
        xt = F.normalize(t[b].reshape(5, -1), dim=1)
        k = lambda a, c: sum(float(torch.dot(u, v)) ** 2 for u in a for v in c) / (len(a) * len(c))  # noqa: E731
        total += k(xt, xt) + k(xs, xs) - 2 * k(xs, xt)
    assert float(L.nst_loss(s, t)) == pytest.approx(total / 2, rel=1e-9)
    assert float(L.nst_loss(s, t)) >= 0


def test_at_matches_the_definition_with_resize():
    s, t = maps(b=3, c=4, h=8, w=8, seed=1), maps(b=3, c=6, h=4, w=4, seed=2)
    q_s = F.normalize(F.avg_pool2d(s, 2).pow(2).mean(1).reshape(3, -1), dim=1)
    q_t = F.normalize(t.pow(2).mean(1).reshape(3, -1), dim=1)
    torch.testing.assert_close(L.at_loss(s, t), ((q_s - q_t) ** 2).mean())


def test_ickd_pools_channels_of_the_wider_map():
    s, t = maps(c=4, seed=1), maps(c=8, seed=2)
    t_pooled = (t[:, 0::2] + t[:, 1::2]) / 2  # adjacent pairs of channels
    torch.testing.assert_close(L.ickd_loss(s, t), L.ickd_loss(s, t_pooled))
    b, c = s.shape[:2]
    g = lambda x: F.normalize(torch.bmm(x.reshape(b, c, -1), x.reshape(b, c, -1).transpose(1, 2)), dim=2)  # noqa
    torch.testing.assert_close(L.ickd_loss(s, t_pooled), ((g(s) - g(t_pooled)) ** 2).sum() / (c * b))


def test_kd_loss_zero_for_identical_logits_and_temperature_scaling():
    z = torch.randn(4, 10, generator=gen(1))
    assert float(L.kd_loss(z, z)) == pytest.approx(0.0, abs=1e-7)
    zt = torch.randn(4, 10, generator=gen(2))
    t = 4.0
    p_t = F.softmax(zt / t, 1)
    expected = (p_t * (F.log_softmax(zt / t, 1) - F.log_softmax(z / t, 1))).sum(1).mean() * t * t
    torch.testing.assert_close(L.kd_loss(z, zt), expected)
    with pytest.raises(ValueError, match="temperature"):
        L.kd_loss(z, zt, temperature=0)


def test_classifier_gradient_matches_autograd():
    head = torch.nn.Linear(6, 4)
    pooled = torch.randn(5, 6, generator=gen(1))
    targets = torch.tensor([0, 3, 1, 1, 2])
    F.cross_entropy(head(pooled), targets).backward()
    g = L.classifier_ce_gradient(pooled, head(pooled).detach(), targets)
    torch.testing.assert_close(g, head.weight.grad)


def test_diswot_semantic_forms():
    g = torch.randn(10, 16, generator=gen(1), dtype=torch.float64)
    h = torch.randn(10, 16, generator=gen(2), dtype=torch.float64)
    assert float(L.diswot_semantic_distance(g, g.clone())) == 0.0
    # channel form: per class the outer product g_k g_k^T, rows normalized, / (K * D)
    rows = lambda x: F.normalize(x.unsqueeze(2) * x.unsqueeze(1), dim=2)  # noqa: E731
    expected = ((rows(g) - rows(h)) ** 2).sum() / (10 * 16)
    torch.testing.assert_close(L.diswot_semantic_distance(g, h), expected)
    torch.testing.assert_close(L.diswot_semantic_distance(g, h, form="channel"), expected)
    # class form: invariant to any orthogonal change of the teacher's feature axis and to width
    q, _ = torch.linalg.qr(torch.randn(16, 16, generator=gen(3), dtype=torch.float64))
    wide = torch.cat([h, torch.zeros(10, 48, dtype=torch.float64)], dim=1)
    base = L.diswot_semantic_distance(g, h, form="class")
    torch.testing.assert_close(L.diswot_semantic_distance(g, h @ q, form="class"), base)
    torch.testing.assert_close(L.diswot_semantic_distance(g, wide), base)  # auto -> class for 16 vs 64
    torch.testing.assert_close(L.diswot_semantic_distance(g, 7 * h, form="class"), base)
    with pytest.raises(ValueError, match="equal classifier widths"):
        L.diswot_semantic_distance(g, wide, form="channel")
    with pytest.raises(ValueError, match="numbers of classes"):
        L.diswot_semantic_distance(g, h[:5])
    with pytest.raises(ValueError, match="form"):
        L.diswot_semantic_distance(g, h, form="grad")


def test_distill_loss_uses_the_right_features_and_ensemble_means():
    def feats(seed, c=8):
        s1, s2, s3 = maps(c=c, h=8, w=8, seed=seed), maps(c=2 * c, h=4, w=4, seed=seed + 1), \
            maps(c=4 * c, h=2, w=2, seed=seed + 2)
        pooled = s3.mean((2, 3))
        return {"stage1": s1, "stage2": s2, "stage3": s3, "pre_pool": s3, "pooled": pooled,
                "logits": pooled[:, :5], "head_grad": torch.randn(5, 4 * c, generator=gen(seed), dtype=s1.dtype)}

    s, t1, t2 = feats(0), feats(10), feats(20, c=4)
    torch.testing.assert_close(L.distill_loss("sp", s, t1), L.sp_loss(s["pre_pool"], t1["pre_pool"]))
    torch.testing.assert_close(L.distill_loss("rkd", s, t1), L.rkd_loss(s["pooled"], t1["pooled"]))
    at = sum(L.at_loss(s[k], t1[k]) for k in L.STAGES)
    torch.testing.assert_close(L.distill_loss("at", s, t1), at)
    ens = {"logits": (t1["logits"] + t2["logits"]) / 2, "members": [t1, t2]}
    for name in ("sp", "nst", "ickd", "pkt", "diswot_semantic"):
        expected = (L.distill_loss(name, s, t1) + L.distill_loss(name, s, t2)) / 2
        torch.testing.assert_close(L.distill_loss(name, s, ens), expected)
    torch.testing.assert_close(L.distill_loss("kd", s, ens), L.kd_loss(s["logits"], ens["logits"]))
    torch.testing.assert_close(L.distill_loss("kd", s, t1, temperature=2.0),
                               L.kd_loss(s["logits"], t1["logits"], 2.0))
    with pytest.raises(ValueError, match="unknown distiller"):
        L.distill_loss("fitnet", s, t1)
    with pytest.raises(ValueError, match="head_grad"):
        L.distill_loss("diswot_semantic", {"logits": s["logits"]}, t1)


def test_bad_shapes_are_reported():
    with pytest.raises(ValueError, match="batch sizes"):
        L.sp_loss(torch.randn(4, 3), torch.randn(5, 3))
    with pytest.raises(ValueError, match="at: student features"):
        L.at_loss(torch.randn(4, 3), torch.randn(4, 3, 2, 2))
