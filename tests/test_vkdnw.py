"""Known answers, invariances and determinism of ``vkdnw`` / ``vkdnw_single`` and the VKDNW_agg rank aggregation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call, jacrev, vmap

from proxybench.benchmarks.nb201.network import NB201Network
from proxybench.benchmarks.nb201.space import OPS, arch_to_ops, parse_arch
from proxybench.nb201 import build_network
from proxybench.proxies import get_spec, make_context, score, score_many
from proxybench.proxies.context import ProxyError
from proxybench.proxies.vkdnw import (
    ALPHA,
    DECILES,
    decile_entropy,
    first_element_jacobian,
    fisher_information,
    spectrum_deciles,
)
from proxybench.proxies.vkdnw_agg import COMPONENTS, vkdnw_aggregate

ARCH = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|"
KEEP = {"vkdnw_init": "keep", "vkdnw_input": "data"}


def tiny_net(arch=ARCH, seed=0, **kw):
    return build_network(arch, C=4, N=1, num_classes=5, seed=seed, **kw)


def tiny_x(b=6, res=8, seed=0):
    return torch.randn(b, 3, res, res, generator=torch.Generator().manual_seed(seed))


# ---- hand-computable models ------------------------------------------------------------------------------------
# Two classes, all weights zero: the logits are 0, p = (1/2, 1/2) (smoothing keeps it uniform) and
# diag(p) - p p^T = 1/4 [[1, -1], [-1, 1]]. Only z_0 moves, by x_k per unit of weight k's first element, so
# J_n^T Sigma J_n = x_n x_n^T / 4 and F = X^T X / (4 B). With x_n = sqrt(B s_n) e_n, F = diag(s) / 4.
# The second element of every weight moves z_0 by x_k**2: using it instead of the first would change F.

class LinearSum(nn.Module):
    """z_0 = sum_k W_k[0, 0] x_k + W_k[0, 1] x_k**2 through k nn.Linear(2, 2) layers (conv/linear path)."""

    def __init__(self, k):
        super().__init__()
        self.lins = nn.ModuleList(nn.Linear(2, 2, bias=False) for _ in range(k))
        for lin in self.lins:
            nn.init.zeros_(lin.weight)

    def forward(self, x):
        out = sum(lin(torch.stack([x[:, i], x[:, i] ** 2], 1)) for i, lin in enumerate(self.lins))
        return torch.stack([out[:, 0], out[:, 1] * 0], 1)


class Coef(nn.Module):
    def __init__(self):
        super().__init__()
        self.theta = nn.Parameter(torch.zeros(2))

    def forward(self, v):
        return self.theta[0] * v + self.theta[1] * v ** 2


class CoefSum(nn.Module):
    """The same map through custom modules (forward-mode path)."""

    def __init__(self, k):
        super().__init__()
        self.coefs = nn.ModuleList(Coef() for _ in range(k))

    def forward(self, x):
        z0 = sum(c(x[:, i]) for i, c in enumerate(self.coefs))
        return torch.stack([z0, torch.zeros_like(z0)], 1)


class ListSum(nn.Module):
    """The same map with the weights in a ParameterList used by the parent (whole-forward path)."""

    def __init__(self, k):
        super().__init__()
        self.theta = nn.ParameterList(nn.Parameter(torch.zeros(2)) for _ in range(k))

    def forward(self, x):
        z0 = sum(t[0] * x[:, i] + t[1] * x[:, i] ** 2 for i, t in enumerate(self.theta))
        return torch.stack([z0, torch.zeros_like(z0)], 1)


def diagonal_design(s):
    """Inputs x_n = sqrt(B s_n) e_n (B = k = len(s)): X^T X / B = diag(s)."""
    s = torch.as_tensor(s, dtype=torch.float64)
    return torch.diag(torch.sqrt(len(s) * s)).float()


def expected_entropy(deciles):
    d = np.asarray(deciles, dtype=np.float64)
    lam = d / d.sum()
    return float(-(lam * np.log(lam)).sum())


S = [5.0, 1.0, 9.0, 3.0, 11.0, 2.0, 7.0, 4.0, 10.0, 6.0, 8.0]  # eigenvalues 4 F, in no particular order


@pytest.mark.parametrize("model_cls", [LinearSum, CoefSum, ListSum])
def test_hand_computed_fisher_and_score(model_cls):
    k = len(S)
    x = diagonal_design(S)
    ctx = make_context(model_cls(k), x, seed=0, **KEEP)
    f = ctx.pass_("vkdnw_fisher")
    assert torch.allclose(f.fisher, torch.diag(torch.tensor(S, dtype=torch.float64)) / 4, atol=1e-6)
    assert torch.allclose(f.eigenvalues, torch.tensor(sorted(S, reverse=True), dtype=torch.float64) / 4, atol=1e-6)
    # 11 eigenvalues: the q-quantile sits exactly on the (10 q)-th smallest, so the deciles are 2/4, ..., 10/4
    assert torch.allclose(f.deciles, torch.arange(2.0, 11.0, dtype=torch.float64) / 4, atol=1e-6)
    want = expected_entropy(np.arange(2, 11))
    assert score("vkdnw", model_cls(k), x, **KEEP) == pytest.approx(want, abs=1e-7)
    assert score("vkdnw_single", model_cls(k), x, **KEEP) == pytest.approx(k + want, abs=1e-7)
    assert f.num_tensors == k and len(f.names) == k


def test_only_the_first_tensors_enter():
    x = diagonal_design(S)
    f = make_context(LinearSum(len(S)), x, **KEEP, vkdnw_tensors=5).pass_("vkdnw_fisher")
    assert f.fisher.shape == (5, 5) and f.names == [f"lins.{i}.weight" for i in range(5)]
    want = np.quantile(np.array(S[:5]) / 4, DECILES)  # linear interpolation, as torch.quantile
    assert np.allclose(f.deciles.numpy(), want, atol=1e-6)
    assert f.num_tensors == len(S)  # the size term still counts every tensor


def test_scale_invariant_and_uniform_spectrum_is_log9():
    x = diagonal_design(S)
    a = score("vkdnw", LinearSum(len(S)), x, **KEEP)
    b = score("vkdnw", LinearSum(len(S)), 3 * x, **KEEP)  # F scaled by 9
    assert b == pytest.approx(a, rel=1e-7)  # float32 forward
    flat = diagonal_design([2.0] * 11)
    assert score("vkdnw", LinearSum(11), flat, **KEEP) == pytest.approx(math.log(9), abs=1e-7)


def test_decile_entropy_and_quantiles():
    assert decile_entropy(torch.ones(9)) == pytest.approx(math.log(9), abs=1e-8)
    assert decile_entropy(torch.tensor([0.0] * 8 + [1.0])) == pytest.approx(0.0, abs=1e-8)
    zero = decile_entropy(torch.zeros(9))  # a spectrum of zeros gives 0, not NaN (the authors' epsilons)
    assert zero == 0.0 and math.copysign(1.0, zero) == 1.0
    eig = torch.tensor([4.0, 1.0, 3.0, 2.0], dtype=torch.float64)
    assert np.allclose(spectrum_deciles(eig).numpy(), np.quantile([1, 2, 3, 4], DECILES))


# ---- the Fisher on an NB201 network --------------------------------------------------------------------------

def reference_jacobian(model, x, names):
    """Per-sample Jacobian w.r.t. the first element of each named tensor, each sample run alone (torch.func)."""
    params = {n: p.detach() for n, p in model.named_parameters()}
    buffers = {n: b.detach() for n, b in model.named_buffers()}
    theta = torch.stack([params[n].reshape(-1)[0] for n in names])

    def f(th, xi):
        p = dict(params)
        for i, n in enumerate(names):
            flat = params[n].reshape(-1)
            p[n] = torch.cat([th[i:i + 1], flat[1:]]).reshape(params[n].shape)
        return functional_call(model, (p, buffers), (xi.unsqueeze(0),)).squeeze(0)

    return vmap(jacrev(f), in_dims=(None, 0))(theta, x).double()


def test_fisher_matches_per_sample_reference_on_nb201():
    net = tiny_net(init="kaiming_fan_in")
    x = tiny_x()
    ctx = make_context(net, x, **KEEP)
    f = ctx.pass_("vkdnw_fisher")
    model = net.eval()
    names = [n for n, _ in model.named_parameters()]
    assert f.names == names[:128] and len(names) < 128
    jac = reference_jacobian(model, x, names)
    with torch.no_grad():
        z = model(x).double()
    p = torch.softmax(z, 1) * (1 - ALPHA) + ALPHA / z.shape[1]
    want = sum(jac[n].T @ (torch.diag(p[n]) - torch.outer(p[n], p[n])) @ jac[n] for n in range(len(x))) / len(x)
    assert torch.allclose(f.fisher, want, rtol=1e-4, atol=1e-6 * float(want.abs().max()))
    # the spectrum: one value per chosen weight, non-negative, descending; 9 non-decreasing deciles
    assert f.eigenvalues.shape == (len(names),)
    assert bool((f.eigenvalues >= 0).all()) and bool((f.eigenvalues[:-1] >= f.eigenvalues[1:]).all())
    assert f.deciles.shape == (9,) and bool((f.deciles[1:] >= f.deciles[:-1]).all())
    assert torch.allclose(f.eigenvalues, torch.linalg.eigvalsh(f.fisher).flip(0).abs(), rtol=1e-6,
                          atol=1e-9 * float(f.eigenvalues[0]))


def test_channels_last_weights_use_their_logical_first_element():
    net = tiny_net(init="kaiming_fan_in").eval()
    x = tiny_x()
    names = [n for n, _ in net.named_parameters()]
    want, _ = first_element_jacobian(net, x, names)
    got, _ = first_element_jacobian(net.to(memory_format=torch.channels_last), x, names)
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-5 * float(want.abs().max()))


def test_jacobian_per_sample_when_bn_has_no_running_stats():
    """BN normalising with batch statistics in eval mode couples the samples: they are then run one at a time (a
    joint pass would differ from the per-sample reference by O(1) here)."""
    torch.manual_seed(0)
    net = NB201Network(ARCH, C=4, N=1, num_classes=5, track_running_stats=False).eval()
    x = tiny_x(b=4)
    names = [n for n, _ in net.named_parameters()][:20]
    jac, _ = first_element_jacobian(net, x, names)
    ref = reference_jacobian(net, x, names)
    assert torch.allclose(jac, ref, rtol=1e-4, atol=1e-4 * float(ref.abs().max()))


def test_fisher_information_formula():
    g = torch.Generator().manual_seed(0)
    jac = torch.randn(3, 4, 5, generator=g, dtype=torch.float64)
    z = torch.randn(3, 4, generator=g, dtype=torch.float64)
    f = fisher_information(jac, z)
    p = torch.softmax(z, 1) * 0.95 + 0.05 / 4
    want = sum(jac[n].T @ (torch.diag(p[n]) - torch.outer(p[n], p[n])) @ jac[n] for n in range(3)) / 3
    assert torch.allclose(f, want) and torch.allclose(f, f.T)


def test_finite_on_nb201_and_seeded():
    net, x = tiny_net(), tiny_x()
    a = score("vkdnw", net, x, seed=4)
    assert math.isfinite(a) and 0 <= a <= math.log(9)
    assert score("vkdnw", net, x, seed=4) == a
    assert score("vkdnw", net, x, seed=5) != a  # other re-init and random input
    # with the caller's weights and the batch itself nothing random is left
    assert score("vkdnw", net, x, seed=4, **KEEP) == score("vkdnw", net, x, seed=5, **KEEP)
    single = score("vkdnw_single", net, x, seed=4)
    assert single == pytest.approx(len(list(net.parameters())) + a)


def test_registration():
    for name in ("vkdnw", "vkdnw_single"):
        spec = get_spec(name)
        assert spec.direction == 1 and spec.gradients and spec.bn == "eval" and not spec.labels
        assert "CVPR 2025" in spec.paper


def test_bad_options_and_outputs_raise():
    net, x = tiny_net(), tiny_x()
    for opts in ({"vkdnw_init": "nope"}, {"vkdnw_input": "nope"}, {"vkdnw_tensors": 0},
                 {"vkdnw_tensors": True}):
        with pytest.raises(ValueError, match="vkdnw"):  # declared options are checked before any scoring
            score_many(["vkdnw"], make_context(net, x, **opts))

    class Flat(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 3)

        def forward(self, x):
            return self.lin(x).sum(1)

    with pytest.raises(ProxyError, match="logits"):
        score("vkdnw", Flat(), torch.randn(5, 4))


def test_size_term_steps_by_45_tensors_per_conv_edge_on_nb201():
    """aleph = 21 + 45 * (conv edges) for C=16, N=5, so aleph + VKDNW (<= log 9) orders by (aleph, VKDNW)."""
    for arch in (ARCH, "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
                 "|nor_conv_1x1~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_1x1~0|nor_conv_3x3~1|nor_conv_3x3~2|"):
        convs = sum(OPS[o].startswith("nor_conv") for o in arch_to_ops(parse_arch(arch)))
        net = NB201Network(arch)
        assert len(list(net.parameters())) == 21 + 45 * convs


# ---- VKDNW_agg -------------------------------------------------------------------------------------------------

def test_vkdnw_aggregate_known_answer():
    comps = {"vkdnw_single": [3.0, 1.0, 2.0], "jacov": [1.0, 2.0, 3.0], "aznas_expressivity": [2.0, 3.0, 1.0],
             "aznas_trainability": [-math.inf, 0.0, -1.0], "aznas_complexity": [7.0, 7.0, 9.0], "extra": [0, 0, 0]}
    ranks = np.array([[3, 1, 2], [1, 2, 3], [2, 3, 1], [1, 3, 2], [1.5, 1.5, 3]])
    want = np.log(ranks / 3).sum(axis=0)
    assert np.allclose(vkdnw_aggregate(comps), want)
    assert COMPONENTS == ("vkdnw_single", "jacov", "aznas_expressivity", "aznas_trainability", "aznas_complexity")
    with pytest.raises(ValueError, match="jacov"):
        vkdnw_aggregate({k: v for k, v in comps.items() if k != "jacov"})
    with pytest.raises(ValueError, match="NaN"):
        vkdnw_aggregate({**comps, "jacov": [1.0, math.nan, 2.0]})
