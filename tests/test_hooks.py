"""``proxybench.proxies.hooks.forward_hooks``: hooks live for one block, and are gone after it, also after an error."""

import pytest
import torch
from torch import nn

from proxybench.proxies.hooks import forward_hooks


def test_hooks_see_the_block_and_are_removed_after_it_even_on_error():
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    seen = []

    def keep(module, args, output):
        seen.append((type(module).__name__, tuple(output.shape)))

    with forward_hooks((m, keep) for m in net if isinstance(m, nn.Linear)) as n:
        net(torch.zeros(5, 3))
    assert n == 2 and seen == [("Linear", (5, 4)), ("Linear", (5, 2))]
    with pytest.raises(RuntimeError), forward_hooks([(net[0], keep)]):
        net(torch.zeros(5, 7))  # wrong width: the forward raises inside the block
    net(torch.zeros(1, 3))
    assert len(seen) == 2 and all(not m._forward_hooks for m in net)


def test_with_kwargs_hooks_get_the_keyword_arguments():
    net = nn.Linear(3, 2)
    got = []
    with forward_hooks([(net, lambda m, args, kwargs, out: got.append(sorted(kwargs)))], with_kwargs=True):
        net(input=torch.zeros(1, 3))
    assert got == [["input"]]
