"""NB201 parameter and FLOP counts: reference points, closed form vs. hook measurement, conventions, errors."""

from __future__ import annotations

import random

import pytest
import torch
from torch import nn

from proxybench import nb201
from proxybench.benchmarks.nb201.counts import FLOP_CONVENTIONS, count_flops, count_params, nb201_counts

# NASLib tuple, classes, resolution -> params (M), FLOPs (M); from the design notes (NAS-Bench-Suite-Zero).
REFERENCE = [
    ((0, 2, 3, 2, 3, 1), 10, 32, 0.615386, 88.307392),
    ((4, 0, 4, 1, 2, 0), 10, 32, 0.316346, 46.343872),
    ((3, 4, 4, 4, 4, 4), 10, 32, 0.101306, 18.757312),
    ((0, 2, 3, 2, 3, 1), 120, 16, 0.622536, 22.084672),
]


@pytest.mark.parametrize("naslib, classes, res, params, flops", REFERENCE)
def test_reference_points_closed_form(naslib, classes, res, params, flops):
    p, f = nb201_counts(nb201.naslib_to_arch(naslib), num_classes=classes, resolution=res)
    assert p == pytest.approx(params, abs=1e-6)
    assert f == pytest.approx(flops, abs=1e-6)


@pytest.mark.parametrize("naslib, classes, res, params, flops", REFERENCE)
def test_reference_points_measured(naslib, classes, res, params, flops):
    model = nb201.build_network(nb201.naslib_to_arch(naslib), num_classes=classes, seed=0)
    assert count_params(model) == pytest.approx(params, abs=1e-6)
    assert count_flops(model, (3, res, res)) == pytest.approx(flops, abs=1e-6)


def test_xautodl_convention_gives_nb201_published_range():
    # NB201's API tables (xautodl get_model_infos), CIFAR-10: min (all none) and max (all nor_conv_3x3).
    none, conv3 = (nb201.OPS.index("none"),) * 6, (nb201.OPS.index("nor_conv_3x3"),) * 6
    assert nb201_counts(none, convention="xautodl") == pytest.approx((0.073306, 7.78305), abs=1e-6)
    assert nb201_counts(conv3, convention="xautodl") == pytest.approx((1.531546, 220.11969), abs=1e-6)
    # the naslib convention adds per-element terms, so it is larger for every cell
    assert nb201_counts(none)[1] > 7.78305 and nb201_counts(conv3)[1] > 220.11969


def _random_archs(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [nb201.index_to_arch(i) for i in rng.sample(range(nb201.NUM_ARCHS), n)]


@pytest.mark.parametrize("classes, res, seed", [(10, 32, 1), (120, 16, 2)])
def test_closed_form_equals_hook_count(classes, res, seed):
    archs = _random_archs(28, seed) + [nb201.ops_to_arch((o,) * 6) for o in (2, 4)]
    for k, arch in enumerate(archs):
        model = nb201.build_network(arch, num_classes=classes, seed=k)
        for convention in FLOP_CONVENTIONS:
            p, f = nb201_counts(arch, num_classes=classes, resolution=res, convention=convention)
            assert count_flops(model, (3, res, res), convention) == f, (arch, convention)
        assert count_params(model) == p, arch


def test_closed_form_other_widths_and_depths():
    arch = nb201.naslib_to_arch((0, 2, 3, 2, 3, 1))
    model = nb201.build_network(arch, C=8, N=2, num_classes=7, in_channels=1, seed=0)
    for convention in FLOP_CONVENTIONS:
        p, f = nb201_counts(arch, C=8, N=2, num_classes=7, in_channels=1, resolution=24, convention=convention)
        assert count_flops(model, (1, 24, 24), convention) == f
    assert count_params(model) == p


def test_flops_depend_on_input_size_params_do_not():
    arch = nb201.naslib_to_arch((4, 0, 4, 1, 2, 0))
    model = nb201.build_network(arch, seed=0)
    measured = {r: count_flops(model, (3, r, r)) for r in (16, 32)}
    closed = {r: nb201_counts(arch, resolution=r) for r in (16, 32)}
    assert measured[16] == closed[16][1] and measured[32] == closed[32][1]
    assert 3.5 * measured[16] < measured[32] < 4.5 * measured[16]
    assert closed[16][0] == closed[32][0]


def test_count_flops_rules_on_a_small_model():
    # 3x8x8 input. conv: 9*3*4*64 + 4*64 bias = 7168; BN (affine) 2*256; ReLU 256; MaxPool(2) 64 outputs * 4;
    # AdaptiveAvgPool((2, 3)) on 4x4: windows of 3 rows (+1 rule) x 3 cols (+1 rule) -> 6*9 per channel * 4 = 216;
    # Linear(24, 5): 120, + 5 bias in the xautodl convention.
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.AdaptiveAvgPool2d((2, 3)), nn.Flatten(), nn.Linear(24, 5),
    )
    assert count_flops(model, (3, 8, 8)) * 1e6 == pytest.approx(7168 + 512 + 256 + 256 + 216 + 120, abs=1e-6)
    assert count_flops(model, (3, 8, 8), "xautodl") * 1e6 == pytest.approx(7168 + 125, abs=1e-6)


def test_count_flops_counts_every_call_and_restores_mode():
    lin = nn.Linear(4, 4, bias=False)

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = lin

        def forward(self, x):
            return self.lin(self.lin(x.flatten(1)))

    model = Twice().train()
    assert count_flops(model, (1, 2, 2)) * 1e6 == pytest.approx(32, abs=1e-6)
    assert model.training
    assert not any(m._forward_hooks for m in model.modules())


@pytest.mark.parametrize("bad", [30, 0, -4, 2, 16.0, True, "32"])
def test_invalid_resolution_raises(bad):
    with pytest.raises(ValueError, match="resolution") as err:
        nb201_counts(0, resolution=bad)
    assert repr(bad) in str(err.value)


@pytest.mark.parametrize("bad, named", [
    ("|bogus~0|+|none~0|none~1|+|none~0|none~1|none~2|", "'bogus'"),
    ("hello", "'hello'"),
    ((0, 0, 0, 0, 0, 7), "entry 7 out of range"),
    ((1, 2), "(1, 2)"),
    (15625, "index 15625"),
    (-1, "index -1"),
])
def test_invalid_arch_raises(bad, named):
    with pytest.raises(ValueError) as err:
        nb201_counts(bad)
    assert named in str(err.value)


@pytest.mark.parametrize("kwargs, message", [
    ({"convention": "thop"}, "FLOP convention 'thop'"),
    ({"C": 0}, "C must be an integer >= 1, got 0"),
    ({"N": 2.5}, "N must be an integer >= 1, got 2.5"),
    ({"num_classes": -1}, "num_classes must be an integer >= 1, got -1"),
    ({"in_channels": True}, "in_channels must be an integer >= 1, got True"),
])
def test_invalid_options_raise(kwargs, message):
    with pytest.raises(ValueError) as err:
        nb201_counts(0, **kwargs)
    assert message in str(err.value)


@pytest.mark.parametrize("shape", [(3, 32), (1, 3, 32, 32), (3, 0, 32), (3, 32.0, 32)])
def test_count_flops_invalid_input_shape(shape):
    model = nn.Sequential(nn.Flatten(), nn.Linear(3, 2))
    with pytest.raises(ValueError, match="input_shape"):
        count_flops(model, shape)
    with pytest.raises(ValueError, match="bogus"):
        count_flops(model, (3, 1, 1), convention="bogus")


def test_counts_are_deterministic():
    torch.manual_seed(0)
    arch = nb201.index_to_arch(123)
    a = count_flops(nb201.build_network(arch, seed=3), (3, 32, 32))
    b = count_flops(nb201.build_network(arch, seed=4), (3, 32, 32))
    assert a == b == nb201_counts(arch)[1]
