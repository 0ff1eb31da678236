"""Search spaces as plugins: every registered space keeps the contract, NB201's plugin is NB201, DisWOT's S1 has the
networks and counts of the reference, and a third space is one class plus its registration."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from proxybench.benchmarks import nb201
from proxybench.benchmarks.nb201.counts import count_flops, count_params, nb201_counts
from proxybench.benchmarks.resnet_cifar import CifarResNet, resnet
from proxybench.benchmarks.spaces import (
    SearchSpace,
    get_space,
    list_spaces,
    register_space,
    space_of,
    unregister_space,
)
from proxybench.benchmarks.spaces.diswot_s1 import CODES, s1_counts
from proxybench.proxies import Requirement, not_applicable, register_proxy, unregister_proxy
from proxybench.testing import SPACE_CHECKS, check_space, parametrize_with_space_checks

S1 = get_space("diswot-s1")


# ---- the contract, for every registered space ------------------------------------------------------------------------
@parametrize_with_space_checks()
def test_space_contract(name, check):
    check(name)


def test_registry():
    assert {"nb201", "diswot-s1"} <= set(list_spaces())
    assert get_space().name == "nb201" and get_space(None) is get_space("NB201")
    assert space_of({}) is get_space("nb201") and space_of({"space": "diswot-s1"}) is S1
    with pytest.raises(ValueError, match=r"unknown search space 'nope'; valid: diswot-s1, nb201"):
        get_space("nope")
    with pytest.raises(ValueError, match="bad search space name"):
        register_space("Bad Name")


# ---- a third space: one class and its registration ---------------------------------------------------------------
class _WidthSpace(SearchSpace):
    """A toy space: ResNet-8 (one block per stage) at stem widths 4, 8 or 12."""

    title = "toy widths"
    description = "ResNet-8 at three widths"
    arch_form = "'w4', 'w8' or 'w12', or an index 0..2"
    paper = "none (a test of the plugin mechanism)"
    features = frozenset({"stages", "blocks"})
    WIDTHS = (4, 8, 12)

    def all_archs(self):
        return tuple(f"w{w}" for w in self.WIDTHS)

    def parse_arch(self, arch):
        if isinstance(arch, str) and arch.strip() in self.all_archs():
            return arch.strip()
        if not isinstance(arch, bool) and isinstance(arch, int) and 0 <= arch < 3:
            return self.all_archs()[arch]
        raise ValueError(f"bad toy architecture {arch!r}; valid: {self.arch_form}")

    def construct(self, arch, num_classes, in_channels, **network):
        w = int(arch[1:])
        return CifarResNet(widths=(w, w, 2 * w, 4 * w), num_classes=num_classes, in_channels=in_channels,
                           depths=(1, 1, 1))

    def counts(self, arch, *, num_classes=10, in_channels=3, resolution=32, convention="naslib", **network):
        net = self.construct(self.parse_arch(arch), num_classes, in_channels)
        return count_params(net), count_flops(net, (in_channels, resolution, resolution), convention)

    def neighbours(self, index):
        return [j for j in range(3) if j != index]


def test_a_third_space_is_one_class_and_its_registration():
    register_space("toy-widths")(_WidthSpace)
    try:
        assert "toy-widths" in list_spaces()
        check_space("toy-widths")  # every conformance check, proxies included
        net = get_space("toy-widths").build_network("w8", 5, seed=0)
        assert net(torch.randn(2, 3, 16, 16)).shape == (2, 5)
    finally:
        unregister_space("toy-widths")
    assert "toy-widths" not in list_spaces()


def test_the_checks_catch_a_broken_space():
    class Broken(_WidthSpace):
        def counts(self, arch, **kw):
            params, flops = super().counts(arch, **kw)
            return params + 1e-6, flops  # one parameter too many

        def neighbours(self, index):
            return [(index + 1) % 3]  # a mutation that cannot be undone

    register_space("toy-broken")(Broken)
    try:
        with pytest.raises(AssertionError) as err:
            check_space("toy-broken")
        text = str(err.value)
        assert "fails 2 check(s)" in text and "check_space_counts" in text and "check_space_mutation" in text
    finally:
        unregister_space("toy-broken")


def test_a_proxy_requiring_a_feature_is_not_applicable_where_it_is_missing():
    assert [c.__name__ for c in SPACE_CHECKS][-1] == "check_space_proxies"
    assert not_applicable("linear_regions", "nb201") is None
    why = not_applicable("linear_regions", "diswot-s1")
    assert why.startswith("not applicable to search space 'diswot-s1': needs nb201-cell with "
                          "linear_regions_probe=thin") and "linear_regions_probe=full" in why
    assert not_applicable("linear_regions", "diswot-s1", {"linear_regions_probe": "full"}) is None
    for p in ("aznas_expressivity", "aznas_progressivity", "aznas_trainability", "nwot", "diswot", "synflow"):
        assert not_applicable(p, "diswot-s1") is None

    @register_proxy("needs_cell_test", paper="test", requires=(Requirement("nb201-cell", "reads the cell"),))
    def needs_cell_test(ctx):
        "Zero."
        return 0.0

    try:
        assert not_applicable("needs_cell_test", S1).endswith(
            "needs nb201-cell (reads the cell); diswot-s1 offers blocks, stages")
    finally:
        unregister_proxy("needs_cell_test")
    with pytest.raises(ValueError, match="requires unknown feature 'wings'"):
        register_proxy("bad_requirement_test", requires=("wings",))
    with pytest.raises(ValueError, match="declares no such option"):
        register_proxy("bad_requirement_test", requires=(Requirement("nb201-cell", when={"nope": 1}),))


# ---- NB201's plugin is NB201 ----------------------------------------------------------------------------------------
def test_nb201_plugin_delegates_to_nb201():
    sp = get_space("nb201")
    assert sp.num_archs == nb201.NUM_ARCHS == 15_625 and sp.all_archs() is nb201.all_archs()
    for i in (0, 123, 15_624):
        a = nb201.index_to_arch(i)
        assert sp.index_to_arch(i) == a and sp.arch_to_index(a) == i and sp.parse_arch(str(i)) == a
        assert sp.counts(i, num_classes=100) == nb201_counts(i, num_classes=100)
        assert sp.counts(i, resolution=16, convention="xautodl", C=8, N=1) == nb201_counts(
            i, C=8, N=1, resolution=16, convention="xautodl")
        mine = sp.build_network(i, 10, seed=5).state_dict()
        ref = nb201.build_network(i, seed=5).state_dict()
        assert mine.keys() == ref.keys() and all(torch.equal(mine[k], ref[k]) for k in ref)
    flags, reason = sp.excluded()
    assert int(flags.sum()) == 341 and reason.startswith("zero cell")
    assert len(sp.neighbours(0)) == 24


# ---- DisWOT's S1 -----------------------------------------------------------------------------------------------------
def test_s1_parameter_counts_of_the_reference():
    """With 100 classes, '333' (ResNet-20) has 278,324 parameters and '713' 259,892."""
    for code, params in (("333", 278_324), ("713", 259_892)):
        net = S1.build_network(code, 100, 3, seed=0)
        assert sum(p.numel() for p in net.parameters()) == params
        assert S1.counts(code, num_classes=100)[0] * 1e6 == pytest.approx(params, abs=1e-6)
    assert s1_counts((3, 3, 3), 100)[0] == pytest.approx(count_params(resnet("resnet20", 100)), abs=1e-12)


def test_s1_index_order_and_codes():
    assert S1.num_archs == 64 and list(CODES) == sorted(CODES)
    assert CODES[0] == "111" and CODES[1] == "113" and CODES[-1] == "777" and S1.arch_to_index("333") == 21
    assert S1.parse_arch((7, 1, 3)) == "713" and S1.parse_arch(21) == "333" and S1.parse_arch("5") == "133"
    for bad, why in (("334", "stage 3 has 4 blocks"), ("033", "stage 1 has 0 blocks"), ("33a", "not a three-digit"),
                     (64, "out of range"), ((3, 3), "three depths"), (True, "not an architecture")):
        with pytest.raises(ValueError, match=why) as err:
            S1.parse_arch(bad)
        assert repr(bad) in str(err.value) and "'111' .. '777'" in str(err.value)


def test_s1_333_is_resnet20():
    """Code 333 is the CIFAR ResNet-20 of the teachers: the same modules, shapes and, for one seed, weights."""
    mine = S1.build_network("333", 100, 3, seed=1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        ref = resnet("resnet20", 100)
    ref_state = ref.state_dict()
    assert {k: v.shape for k, v in mine.state_dict().items()} == {k: v.shape for k, v in ref_state.items()}
    assert all(torch.equal(v, ref_state[k]) for k, v in mine.state_dict().items())
    assert mine.depths == (3, 3, 3) and mine.depth == 20 and mine.arch == "333"


def test_every_s1_arch_builds_and_runs_at_32px_with_100_classes():
    x = torch.randn(2, 3, 32, 32)
    for code in CODES:
        net = S1.build_network(code, 100, 3, seed=0).eval()
        with torch.no_grad():
            feats = net.forward_features(x)
        assert feats["logits"].shape == (2, 100)
        assert [feats[f"stage{s}"].shape[1:] for s in (1, 2, 3)] == [(16, 32, 32), (32, 16, 16), (64, 8, 8)]
        assert len(net.block_features(x)) == 1 + sum(int(c) for c in code)
        assert S1.counts(code, num_classes=100)[0] == pytest.approx(count_params(net), abs=1e-12)


def test_s1_mutation_changes_one_stage():
    for i in range(64):
        depths = np.array([int(c) for c in S1.index_to_arch(i)])
        nb = S1.neighbours(i)
        assert len(nb) == 9
        for j in nb:
            other = np.array([int(c) for c in S1.index_to_arch(j)])
            assert (other != depths).sum() == 1
    rng = random.Random(0)
    assert sorted({S1.neighbours(21)[rng.randrange(9)] for _ in range(200)}) == sorted(S1.neighbours(21))


def test_resnet_depths_and_teacher_weights_unchanged():
    """Per-stage depths generalize the ResNet; the teachers keep their parameter names (checkpoints load)."""
    net = CifarResNet(depths=(1, 5, 3), num_classes=10)
    assert net.depth == 20 and [len(layer) for layer in (net.layer1, net.layer2, net.layer3)] == [1, 5, 3]
    assert CifarResNet(depth=56).depths == (9, 9, 9)
    with pytest.raises(ValueError, match="depths must be three integers >= 1"):
        CifarResNet(depths=(0, 1, 1))
    assert "layer1.0.conv1.weight" in resnet("resnet56", 100).state_dict()
    relus = [m for m in resnet("resnet20").modules() if isinstance(m, torch.nn.ReLU)]
    assert len(relus) == 1 + 2 * 9  # the stem's and two per block: every activation is a module
