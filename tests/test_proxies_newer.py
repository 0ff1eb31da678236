"""Known answers, invariances and determinism of the newer proxies: ntk_cond, linear_regions, zico, meco, swap and
the AZ-NAS components (plus the AZ-NAS rank aggregation)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from proxybench.nb201 import build_network
from proxybench.proxies import all_specs, get_spec, make_context, score, score_many
from proxybench.proxies.aznas import COMPONENTS, aznas_aggregate
from proxybench.proxies.aznas_expressivity import block_trainability, spectral_entropy
from proxybench.proxies.context import ProxyError
from proxybench.proxies.linear_regions import count_unique_rows, random_crops
from proxybench.proxies.meco import min_corr_eigenvalue
from proxybench.proxies.ntk_cond import condition_number
from proxybench.proxies.swap import count_unique_patterns, regularization_factor, relu_sign_matrix
from proxybench.proxies.zico import zico_from_gradients

NEWER = ["ntk_cond", "linear_regions", "zico", "meco", "swap", *COMPONENTS]
# Small enough for a fast CPU test, large enough for every proxy's defaults to apply.
FAST = {"ntk_batch_size": 4, "swap_batch_size": 8, "linear_regions_samples": 500}


def tiny_net(arch="|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|",
             seed=0):
    return build_network(arch, C=4, N=1, num_classes=5, seed=seed)


def tiny_batches(seed=0, b=8, res=8):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2 * b, 3, res, res, generator=g)
    y = torch.randint(0, 5, (2 * b,), generator=g)
    return [(x[:b], y[:b]), (x[b:], y[b:])]


def tiny_context(net=None, seed=0, **options):
    batches = tiny_batches()
    return make_context(net if net is not None else tiny_net(), batches[0][0], batches[0][1], batches=batches,
                        seed=seed, **{**FAST, **options})


# ---- registration ---------------------------------------------------------------------------------------------

def test_registered_with_needs_and_direction():
    specs = all_specs()
    for name in NEWER:
        assert name in specs, name
        assert specs[name].paper, name
    assert specs["ntk_cond"].direction == -1 and specs["ntk_cond"].gradients and specs["ntk_cond"].bn == "train"
    assert specs["zico"].batches == 2 and specs["zico"].labels and specs["zico"].gradients
    assert not specs["meco"].labels and not specs["swap"].labels and not specs["linear_regions"].labels
    assert specs["aznas_complexity"].data_free and specs["aznas_complexity"].bn == "any"
    for name in NEWER:
        if name != "ntk_cond":
            assert specs[name].direction == 1, name


# ---- ntk_cond ---------------------------------------------------------------------------------------------------

def test_ntk_cond_linear_model_matches_explicit_jacobian():
    # f(x) = W x (no bias): d(sum_k f_k(x_i))/dW has every row equal to x_i, so J_i = [x_i, ..., x_i] (K copies).
    g = torch.Generator().manual_seed(3)
    b, k = 5, 3
    x = torch.randn(b, 2, 2, 3, generator=g, dtype=torch.float64)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, k, bias=False)).double()
    jac = x.reshape(b, -1).repeat(1, k)
    gram = jac @ jac.T
    eig = np.linalg.eigvalsh(gram.numpy())
    expected = eig[-1] / eig[0]
    got = score("ntk_cond", model, x, ntk_batch_size=b)
    assert got == pytest.approx(-expected, rel=1e-9)  # direction -1: the engine reports -kappa
    # W does not enter J for a linear model: another W, the same kappa.
    with torch.no_grad():
        model[1].weight.mul_(-3.0)
    assert score("ntk_cond", model, x, ntk_batch_size=b) == pytest.approx(-expected, rel=1e-9)


def test_ntk_cond_singular_and_zero_kernels():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2, bias=False)).double()
    x = torch.randn(3, 1, 2, 2, dtype=torch.float64)
    x[2] = x[0]  # two equal samples: J has two equal rows, Theta is singular
    assert score("ntk_cond", model, x, ntk_batch_size=3) == -math.inf
    assert math.isnan(score("ntk_cond", model, torch.zeros(3, 1, 2, 2, dtype=torch.float64), ntk_batch_size=3))


def test_condition_number_scale_invariant():
    a = torch.randn(6, 6, dtype=torch.float64)
    gram = a @ a.T + 0.1 * torch.eye(6, dtype=torch.float64)
    assert condition_number(7.5 * gram) == pytest.approx(condition_number(gram), rel=1e-10)
    assert condition_number(torch.eye(4)) == pytest.approx(1.0)


def test_ntk_cond_bad_options():
    with pytest.raises(ProxyError, match="ntk_batch_size"):
        score("ntk_cond", tiny_net(), tiny_batches()[0][0], ntk_batch_size=1)
    with pytest.raises(ProxyError, match="at least ntk_batch_size=16"):
        score("ntk_cond", tiny_net(), tiny_batches()[0][0], ntk_batch_size=16)  # only 8 inputs
    with pytest.raises(ProxyError, match="at least 2 inputs"):
        score("ntk_cond", tiny_net(), tiny_batches()[0][0][:1])
    # Without the option, a batch smaller than TE-NAS's 16 is used whole.
    x = tiny_batches()[0][0]
    assert score("ntk_cond", tiny_net(), x) == score("ntk_cond", tiny_net(), x, ntk_batch_size=8)


# ---- linear_regions ---------------------------------------------------------------------------------------------

def test_linear_regions_all_active_is_one_region():
    # Positive weights on positive inputs: every ReLU unit is on for every sample -> one pattern, one region.
    model = nn.Sequential(nn.Conv2d(1, 2, 1, bias=False), nn.ReLU(), nn.Conv2d(2, 2, 1, bias=False), nn.ReLU())
    with torch.no_grad():
        for m in model:
            if isinstance(m, nn.Conv2d):
                m.weight.fill_(0.5)
    x = torch.rand(20, 1, 3, 3) + 0.1
    assert score("linear_regions", model, x, linear_regions_probe="full") == 1.0


def test_linear_regions_counts_distinct_sign_patterns():
    # A bare ReLU on (B, 1, 1, 2) inputs: the pattern of sample i is the sign pattern of x_i.
    x = torch.tensor([[1.0, 2.0], [3.0, 1.0], [-1.0, 2.0], [-2.0, -1.0], [1.0, -5.0], [2.0, -1.0]]).reshape(6, 1, 1, 2)
    assert score("linear_regions", nn.Sequential(nn.ReLU()), x, linear_regions_probe="full") == 4.0


def test_linear_regions_thin_probe_on_zero_cell_is_one_region():
    # All-none cell: the cell output is 0, BN(0) = 0, ReLU off everywhere -> a single region.
    net = tiny_net("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    assert score("linear_regions", net, tiny_batches()[0][0], linear_regions_samples=300) == 1.0


def test_linear_regions_thin_probe_bounds_and_determinism():
    x = tiny_batches()[0][0]
    a = score("linear_regions", tiny_net(), x, linear_regions_samples=400, seed=1)
    b = score("linear_regions", tiny_net(), x, linear_regions_samples=400, seed=1)
    assert a == b and 1 < a <= 400


def test_linear_regions_errors():
    with pytest.raises(ProxyError, match="linear_regions_probe"):
        score("linear_regions", tiny_net(), tiny_batches()[0][0], linear_regions_probe="thick")
    with pytest.raises(ProxyError, match="needs an NB201Network"):
        score("linear_regions", nn.Sequential(nn.ReLU()), torch.randn(4, 1, 3, 3))


def test_random_crops_shape_and_values():
    img = torch.arange(2 * 3 * 5 * 5, dtype=torch.float32).reshape(2, 3, 5, 5)
    crops = random_crops(img, 50, 3, torch.Generator().manual_seed(0))
    assert crops.shape == (50, 1, 3, 3)
    flat = img.reshape(-1)
    for c in crops[:, 0]:  # each crop is a contiguous 3x3 window of one channel of one image
        start = int(c[0, 0])
        assert torch.equal(c, flat[start + torch.arange(3)[:, None] * 5 + torch.arange(3)[None, :]])


def test_count_unique_rows_and_patterns_agree_with_torch_unique():
    g = torch.Generator().manual_seed(0)
    for cols in (5, 62, 63, 130):
        m = torch.rand(200, cols, generator=g) > 0.5
        m[100:150] = m[:50]  # duplicates
        expected = torch.unique(m.to(torch.uint8), dim=0).shape[0]
        assert count_unique_rows(m) == expected
        assert count_unique_patterns(m) == expected
        perm = torch.randperm(200, generator=g)
        assert count_unique_patterns(m[perm]) == expected  # order of rows does not matter
    assert count_unique_patterns(torch.zeros(3, 0, dtype=torch.bool)) == 1
    assert count_unique_rows(torch.zeros(0, 4, dtype=torch.bool)) == 0


# ---- zico -------------------------------------------------------------------------------------------------------

def test_zico_known_answer_and_zero_std():
    # Layer 1: weight a has gradients 1, 3 (mean|g| = 2, std = 1); weight b has 2, 2 (std 0: left out) -> log 2.
    # Layer 2: identical gradients in both batches -> left out entirely.
    layer1 = [torch.tensor([1.0, 2.0]), torch.tensor([3.0, 2.0])]
    layer2 = [torch.tensor([[0.5, -1.0]]), torch.tensor([[0.5, -1.0]])]
    per_batch = [[layer1[0], layer2[0]], [layer1[1], layer2[1]]]
    assert zico_from_gradients(per_batch) == pytest.approx(math.log(2.0))
    # Signs flip |g| but not the ratio; scaling a layer's gradients by c > 0 changes nothing.
    assert zico_from_gradients([[-3 * layer1[0]], [-3 * layer1[1]]]) == pytest.approx(math.log(2.0))


def test_zico_identical_batches_give_zero():
    b = tiny_batches()[0]
    net = tiny_net()
    assert score("zico", net, b[0], b[1], batches=[b, b]) == 0.0
    assert score("zico", net, b[0], b[1], batches=tiny_batches()) != 0.0


def test_zico_batch_order_invariant():
    (x0, y0), (x1, y1) = tiny_batches()
    net = tiny_net()
    a = score("zico", net, x0, y0, batches=[(x0, y0), (x1, y1)])
    b = score("zico", net, x1, y1, batches=[(x1, y1), (x0, y0)])
    assert a == pytest.approx(b, rel=1e-9)


def test_zico_needs_two_batches():
    b = tiny_batches()[0]
    with pytest.raises(ProxyError, match="at least 2 input batches"):
        score("zico", tiny_net(), b[0], b[1])


# ---- meco -------------------------------------------------------------------------------------------------------

def test_meco_correlated_and_uncorrelated_channels():
    base = torch.randn(1, 7, 5)
    correlated = torch.cat([base, 2 * base + 1, -base], dim=0)  # |Pearson| = 1 between every pair
    assert min_corr_eigenvalue(correlated) == pytest.approx(0.0, abs=1e-12)
    # Centered, mutually orthogonal channels: P = I, lambda_min = 1.
    walsh = torch.tensor([[1.0, 1, -1, -1], [1, -1, 1, -1], [1, -1, -1, 1]])
    assert min_corr_eigenvalue(walsh.reshape(3, 2, 2)) == pytest.approx(1.0, abs=1e-12)
    # A constant channel has no correlation: its row/column become 0 and lambda_min = 0.
    assert min_corr_eigenvalue(torch.cat([walsh[:2], torch.ones(1, 4)]).reshape(3, 2, 2)) == pytest.approx(0.0,
                                                                                                          abs=1e-12)


def test_meco_invariant_to_channel_affine_maps():
    f = torch.randn(6, 9, dtype=torch.float64)
    a = torch.rand(6, 1, dtype=torch.float64) + 0.5
    assert min_corr_eigenvalue(a * f + 3.0) == pytest.approx(min_corr_eigenvalue(f), rel=1e-9)


def test_meco_end_to_end_known_answer():
    # nn.Sequential(nn.Identity()) has two modules (the container and the identity), each outputting the input.
    walsh = torch.tensor([[1.0, 1, -1, -1], [1, -1, 1, -1], [1, -1, -1, 1]]).reshape(1, 3, 2, 2)
    x = torch.cat([walsh, torch.randn(3, 3, 2, 2)])  # only the first sample is used
    assert score("meco", nn.Sequential(nn.Identity()), x) == pytest.approx(2.0, abs=1e-12)
    same = walsh[:, :1].expand(1, 3, 2, 2)  # three identical channels
    assert score("meco", nn.Sequential(nn.Identity()), same) == pytest.approx(0.0, abs=1e-12)


def test_meco_opt_option():
    x = tiny_batches()[0][0]
    full = score("meco", tiny_net(), x)
    opt = score("meco", tiny_net(), x, meco_channels=2)
    assert math.isfinite(full) and math.isfinite(opt) and opt != full
    with pytest.raises(ProxyError, match="meco_channels"):
        score("meco", tiny_net(), x, meco_channels=1)


# ---- swap -------------------------------------------------------------------------------------------------------

def test_swap_on_constructed_activations():
    # Bare ReLU on (4 samples, 1, 2, 3): 6 units; their on/off vectors over the 4 samples are, by column:
    # u0 = u1 = 1010, u2 = u5 = 0000, u3 = 1111, u4 = 0101 -> 4 distinct sample-wise patterns.
    on = torch.tensor([[1, 1, 0, 1, 0, 0], [0, 0, 0, 1, 1, 0], [1, 1, 0, 1, 0, 0], [0, 0, 0, 1, 1, 0]])
    x = (on.float() * 2 - 1).reshape(4, 1, 2, 3)
    model = nn.Sequential(nn.ReLU())
    assert relu_sign_matrix(model, x).shape == (6, 4)
    assert score("swap", model, x, swap_batch_size=4, swap_init="keep") == 4.0


def test_swap_regularization():
    x = tiny_batches()[0][0]
    net = tiny_net()
    plain = score("swap", net, x, swap_batch_size=8)
    params = sum(p.numel() for p in net.parameters()) / 1e6
    assert score("swap", net, x, swap_batch_size=8, swap_mu=params, swap_sigma=1.0) == pytest.approx(plain)
    reg = score("swap", net, x, swap_batch_size=8, swap_mu=params + 0.01, swap_sigma=0.001)
    assert reg == pytest.approx(plain * math.exp(-0.1))
    assert regularization_factor(2.0, 1.0, 4.0) == pytest.approx(math.exp(-0.25))
    with pytest.raises(ProxyError, match="go together"):
        score("swap", net, x, swap_batch_size=8, swap_mu=1.0)


def test_swap_init_changes_weights_only_when_asked():
    x = tiny_batches()[0][0]
    net = tiny_net()
    keep = score("swap", net, x, swap_batch_size=8, swap_init="keep")
    gauss = score("swap", net, x, swap_batch_size=8)
    assert keep != gauss
    assert score("swap", tiny_net(seed=5), x, swap_batch_size=8) == gauss  # re-drawn: caller's weights unused
    with pytest.raises(ProxyError, match="swap_init"):
        score("swap", net, x, swap_batch_size=8, swap_init="orthogonal")


# ---- AZ-NAS -----------------------------------------------------------------------------------------------------

def test_spectral_entropy_isotropic_and_rank_one():
    c = 4
    eye = torch.eye(c)
    iso = torch.cat([eye, -eye]).reshape(2 * c, c, 1, 1)  # zero mean, covariance proportional to I
    assert spectral_entropy(iso) == pytest.approx(math.log(c), abs=1e-6)
    assert spectral_entropy(3.0 * iso) == pytest.approx(spectral_entropy(iso), abs=1e-12)  # scale invariant
    rank1 = torch.randn(10, 1, 1, 1) * torch.tensor([1.0, 2.0, -1.0]).reshape(1, 3, 1, 1)
    assert spectral_entropy(rank1) == pytest.approx(0.0, abs=1e-6)
    assert math.isnan(spectral_entropy(torch.ones(4, 3, 2, 2)))


def test_block_trainability_identity_and_scaling():
    g = torch.Generator().manual_seed(0)
    f_in = torch.randn(2, 3, 4, 4, requires_grad=True)
    assert block_trainability(f_in, f_in * 1.0, g) == -math.inf  # the backward is exactly the identity
    one = torch.randn(2, 1, 4, 4, requires_grad=True)
    # One channel, f_out = 2 f_in: M = 2 mean(g^2) = 2 exactly -> 2 - 2 - 1/(2 + 1e-6).
    assert block_trainability(one, 2.0 * one, g) == pytest.approx(-1 / (2 + 1e-6), rel=1e-9)
    # Stride 2: g_in is pixel-unshuffled to the output's resolution before M is formed.
    pooled = nn.functional.avg_pool2d(one, 2)
    assert math.isfinite(block_trainability(one, pooled, g))


def test_aznas_aggregate_known_answer():
    s = aznas_aggregate({"a": [1.0, 2.0, 3.0], "b": [30.0, 20.0, 10.0]})
    expected = np.log(np.array([1, 2, 3]) / 3) + np.log(np.array([3, 2, 1]) / 3)
    np.testing.assert_allclose(s, expected)
    ties = aznas_aggregate({"a": [1.0, 1.0, -math.inf]})
    np.testing.assert_allclose(ties, np.log(np.array([2.5, 2.5, 1.0]) / 3))
    with pytest.raises(ValueError, match="NaN"):
        aznas_aggregate({"a": [1.0, math.nan]})
    with pytest.raises(ValueError, match="lengths"):
        aznas_aggregate({"a": [1.0, 2.0], "b": [1.0]})
    with pytest.raises(ValueError, match="at least one component"):
        aznas_aggregate({})


def test_aznas_components_on_nb201():
    ctx = tiny_context()
    values = {r.proxy: r.score for r in score_many(list(COMPONENTS), ctx, raise_errors=True)}
    assert all(math.isfinite(v) for v in values.values()), values
    assert values["aznas_trainability"] <= 0.0  # 2 - s - 1/s <= 0 for s > 0
    # progressivity is the smallest step of the per-feature entropies whose sum is expressivity
    feats = ctx.pass_("aznas_features")
    assert values["aznas_expressivity"] == pytest.approx(sum(feats.expressivity))
    assert len(feats.expressivity) == 1 + 3 * 1 + 2 and len(feats.trainability) == len(feats.expressivity) - 1
    assert values["aznas_complexity"] > 0


def test_nonfinite_values_carry_a_reason():
    identity = tiny_net("|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|")
    res = {r.proxy: r for r in score_many(list(COMPONENTS), tiny_context(identity))}
    assert res["aznas_trainability"].score == -math.inf and res["aznas_trainability"].status == "nan"
    assert "identity" in res["aznas_trainability"].error
    zero = tiny_net("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    res = {r.proxy: r for r in score_many(["aznas_expressivity", "aznas_progressivity", "ntk_cond"],
                                          tiny_context(zero))}
    for name in ("aznas_expressivity", "aznas_progressivity"):
        assert math.isnan(res[name].score) and "constant" in res[name].error, res[name]
    # All features are 0, so the logits are the classifier bias: no weight moves them and J = 0.
    assert math.isnan(res["ntk_cond"].score) and "zero" in res["ntk_cond"].error


def test_aznas_needs_block_features_and_valid_options():
    with pytest.raises(ProxyError, match="block_features"):
        score("aznas_expressivity", nn.Sequential(nn.Conv2d(3, 2, 1)), torch.randn(2, 3, 4, 4))
    with pytest.raises(ProxyError, match="aznas_input"):
        score("aznas_expressivity", tiny_net(), tiny_batches()[0][0], aznas_input="noise")


# ---- determinism, sharing, the caller's model -------------------------------------------------------------------

def _snapshot(model):
    return ({k: v.clone() for k, v in model.state_dict().items()}, model.training,
            [p.requires_grad for p in model.parameters()])


def test_deterministic_alone_equals_together_and_model_untouched():
    net = tiny_net()
    net.eval()
    net.classifier.weight.requires_grad_(False)
    before = _snapshot(net)
    together = {r.proxy: r for r in score_many(NEWER, tiny_context(net), raise_errors=True)}
    again = {r.proxy: r for r in score_many(NEWER, tiny_context(net), raise_errors=True)}
    for name in NEWER:
        alone = score_many([name], tiny_context(net), raise_errors=True)[0]
        assert alone.score == together[name].score == again[name].score, name
        assert together[name].status == "ok", (name, together[name])
    after = _snapshot(net)
    assert before[1:] == after[1:]
    assert all(torch.equal(before[0][k], after[0][k]) for k in before[0])


def test_seed_changes_random_draws():
    a = score_many(["swap", "linear_regions", "aznas_expressivity"], tiny_context(seed=0), raise_errors=True)
    b = score_many(["swap", "linear_regions", "aznas_expressivity"], tiny_context(seed=1), raise_errors=True)
    assert [r.score for r in a] != [r.score for r in b]


def test_spec_summaries_cite_formulas():
    for name in NEWER:
        doc = get_spec(name).fn.__doc__ or ""
        assert "=" in doc, name
