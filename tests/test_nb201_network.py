import pytest
import torch
from torch import nn

import proxybench
from proxybench import nb201
from proxybench.initialization import INIT_SCHEMES, initialize

ALL_CONV = nb201.ops_to_arch((3,) * 6)


def test_structure_and_shapes():
    m = nb201.build_network(ALL_CONV, C=16, N=5, num_classes=10, seed=0)
    cells = [mod for mod in m.modules() if isinstance(mod, nb201.Cell)]
    assert len(cells) == 15
    assert [len(s) for s in m.stages] == [5, 6, 6]  # reduction block + 5 cells in stages 2, 3
    feats = m.forward_features(torch.randn(2, 3, 32, 32))
    assert feats["stem"].shape == (2, 16, 32, 32)
    assert feats["stage1"].shape == (2, 16, 32, 32)
    assert feats["stage2"].shape == (2, 32, 16, 16)
    assert feats["stage3"].shape == (2, 64, 8, 8)
    assert feats["pre_pool"].shape == (2, 64, 8, 8) and (feats["pre_pool"] >= 0).all()
    assert feats["pooled"].shape == (2, 64)
    assert feats["logits"].shape == (2, 10)
    assert isinstance(m.classifier, nn.Linear) and m.feature_dim == 64
    assert torch.equal(m(torch.zeros(1, 3, 32, 32)), m.forward_features(torch.zeros(1, 3, 32, 32))["logits"])


def test_ops_semantics():
    # none outputs zeros; skip is identity; pooling excludes padding from the count
    x = torch.randn(2, 4, 6, 6)
    cell_none = nb201.Cell((0,) * 6, 4)
    assert torch.count_nonzero(cell_none(x)) == 0
    skip_only = nb201.Cell(nb201.arch_to_ops("|skip_connect~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|"), 4)
    assert torch.equal(skip_only(x), torch.zeros_like(x))  # node 2 is zero, so node 3 = skip(node2) = 0
    direct = nb201.Cell(nb201.arch_to_ops("|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"), 4)
    assert torch.equal(direct(x), x)
    pool = nb201.Cell(nb201.arch_to_ops("|none~0|+|none~0|none~1|+|avg_pool_3x3~0|none~1|none~2|"), 4)
    ones = torch.ones(1, 4, 5, 5)
    assert torch.allclose(pool(ones), ones)  # count_include_pad=False keeps borders at 1


def test_counts_match_reference_points():
    m = nb201.build_network(nb201.naslib_to_arch((0, 2, 3, 2, 3, 1)), seed=0)
    assert nb201.count_params(m) == pytest.approx(0.615386, abs=1e-9)
    assert nb201.count_flops(m, (3, 32, 32)) == pytest.approx(88.307392, abs=1e-6)


def test_seeded_init_bitwise_identical():
    x = torch.randn(4, 3, 16, 16)
    for scheme in INIT_SCHEMES:
        a = nb201.build_network(ALL_CONV, C=8, N=1, seed=7, init=scheme)
        b = nb201.build_network(ALL_CONV, C=8, N=1, seed=7, init=scheme)
        c = nb201.build_network(ALL_CONV, C=8, N=1, seed=8, init=scheme)
        for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
            assert ka == kb and torch.equal(va, vb)
        assert torch.equal(a(x), b(x))
        assert not torch.equal(a.classifier.weight, c.classifier.weight)


def test_seeded_init_leaves_global_rng_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    nb201.build_network(ALL_CONV, C=8, N=1, seed=3)
    nb201.build_network(ALL_CONV, C=8, N=1, seed=3, init="gaussian")
    assert torch.equal(torch.rand(3), expected)


def test_init_schemes_statistics():
    conv = nn.Conv2d(64, 64, 3)
    initialize(conv, "gaussian", 0)
    assert abs(conv.weight.std().item() - 1.0) < 0.02
    initialize(conv, "kaiming_fan_in", 0)
    assert abs(conv.weight.std().item() - (2.0 / (64 * 9)) ** 0.5) < 0.003
    lin = nn.Linear(100, 10)
    initialize(lin, "kaiming_fan_out", 0)
    assert abs(lin.weight.std().item() - (2.0 / 10) ** 0.5) < 0.05 and torch.count_nonzero(lin.bias) == 0
    bn = nn.BatchNorm2d(4)
    with torch.no_grad():
        bn.weight.fill_(3.0)
    initialize(bn, "xavier", 0)
    assert torch.equal(bn.weight, torch.ones(4))


def test_build_errors():
    with pytest.raises(ValueError, match="unknown init scheme 'he'; valid: default, kaiming_fan_in"):
        nb201.build_network(0, init="he")
    with pytest.raises(ValueError, match="C must be an integer >= 1, got 0"):
        nb201.build_network(0, C=0)
    with pytest.raises(ValueError, match="arch index 99999 out of range"):
        nb201.build_network(99999)
    with pytest.raises(ValueError, match="seed must be an integer"):
        initialize(nn.Linear(2, 2), "gaussian", seed="a")


def test_public_names():
    assert proxybench.nb201.index_to_arch(5) == nb201.index_to_arch(5)
    import proxybench.nb201 as mod
    assert mod.build_network is nb201.build_network
