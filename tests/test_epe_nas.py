"""EPE-NAS's class-count rule (option ``epe_nas_rule``) on a network whose input Jacobians are known by hand."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import proxybench

K = 1e-5


class SquareThenLinear(nn.Module):
    """f(x) = W (x * x) with every W entry 1/outputs, so sum_j f_j(x) = sum_i x_i^2 and the input Jacobian of an
    image is 2x: the correlations of the Jacobians are those of the images."""

    def __init__(self, inputs: int, outputs: int):
        super().__init__()
        self.fc = nn.Linear(inputs, outputs, bias=False)
        with torch.no_grad():
            self.fc.weight.fill_(1.0 / outputs)

    def forward(self, x):
        return self.fc(x * x)


# class 0: e1, e2 (correlation -1/3); class 1: e1, e2, e3 (each pair -1/3); class 2: one image
X = torch.tensor([[1.0, 0, 0, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [1, 2, 3, 4]])
Y = torch.tensor([0, 0, 1, 1, 1, 2])
A, B = math.log(1 + K), math.log(1 / 3 + K)  # log(|Sigma| + k) on the diagonal and off it
S0, S1, S2 = 2 * A + 2 * B, 3 * A + 6 * B, A  # s_c = sum of log(|Sigma_c| + k)
SUM_RULE = abs(S0) + abs(S1) + abs(S2)  # = -4A - 8B, about 8.79
PAIRWISE_RULE = 2 * abs(S0 / 2 - S1 / 3) / 2  # class 2 (seen once) skipped; = |B|, about 1.10


def test_hand_values_of_the_two_rules():
    assert SUM_RULE == pytest.approx(-4 * A - 8 * B) and PAIRWISE_RULE == pytest.approx(-B)
    assert SUM_RULE == pytest.approx(8.7888, abs=1e-3) and PAIRWISE_RULE == pytest.approx(1.0986, abs=1e-3)


@pytest.mark.parametrize("outputs, auto", [(3, SUM_RULE), (100, SUM_RULE), (101, PAIRWISE_RULE)])
def test_rule_by_class_count_and_forced(outputs, auto):
    net = SquareThenLinear(4, outputs)
    assert proxybench.score("epe_nas", net, X, Y) == pytest.approx(auto, rel=1e-9)
    assert proxybench.score("epe_nas", net, X, Y, epe_nas_rule="auto") == pytest.approx(auto, rel=1e-9)
    assert proxybench.score("epe_nas", net, X, Y, epe_nas_rule="sum") == pytest.approx(SUM_RULE, rel=1e-9)
    assert proxybench.score("epe_nas", net, X, Y, epe_nas_rule="pairwise") == pytest.approx(PAIRWISE_RULE,
                                                                                             rel=1e-9)


def test_pairwise_rule_needs_a_class_seen_twice():
    net = SquareThenLinear(4, 3)
    x, y = X[[0, 1, 5]], torch.tensor([0, 1, 2])  # every class seen once
    assert proxybench.score("epe_nas", net, x, y, epe_nas_rule="sum") == pytest.approx(3 * A, rel=1e-9)
    assert math.isnan(proxybench.score("epe_nas", net, x, y, epe_nas_rule="pairwise"))


def test_unknown_rule_is_refused():
    with pytest.raises(ValueError, match="epe_nas_rule"):
        proxybench.score("epe_nas", SquareThenLinear(4, 3), X, Y, epe_nas_rule="mean")
