"""Seeded weight initialization schemes used by zero-cost proxies.

``default``          PyTorch's own ``reset_parameters`` of every layer (kaiming-uniform(a=sqrt(5)) for conv and
                     linear weights, BN weight 1 / bias 0).
``kaiming_fan_in``   He et al. 2015 normal init, fan-in mode, ReLU gain; biases 0; BN weight 1 / bias 0.
``kaiming_fan_out``  the same in fan-out mode (xautodl's and torchvision's ResNet choice).
``xavier``           Glorot normal; biases 0; BN weight 1 / bias 0.
``gaussian``         every conv/linear weight ~ N(0, 1), biases 0, BN weight 1 / bias 0 (Zen-NAS, DisWOT).

All schemes draw from a private ``torch.Generator`` seeded with ``seed``, so the global RNG is untouched and the
same seed gives bitwise-identical weights on CPU.
"""

from __future__ import annotations

import math

import torch
from torch import nn

INIT_SCHEMES: tuple[str, ...] = ("default", "kaiming_fan_in", "kaiming_fan_out", "xavier", "gaussian")

_WEIGHTED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.GroupNorm, nn.LayerNorm)


def _fans(weight: torch.Tensor) -> tuple[int, int]:
    receptive = weight[0][0].numel() if weight.dim() > 2 else 1
    return weight.size(1) * receptive, weight.size(0) * receptive


@torch.no_grad()
def initialize(model: nn.Module, scheme: str = "default", seed: int = 0) -> nn.Module:
    """Re-initialize ``model`` in place with ``scheme`` and ``seed``; returns the model."""
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"unknown init scheme {scheme!r}; valid: {', '.join(INIT_SCHEMES)}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    if scheme == "default":
        # reset_parameters draws from the global RNG: run it inside a forked, seeded RNG state.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for m in model.modules():
                if hasattr(m, "reset_parameters") and m is not model or (
                    m is model and hasattr(m, "reset_parameters") and not list(m.children())
                ):
                    m.reset_parameters()
                if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats:
                    m.reset_running_stats()
        return model
    gen = torch.Generator(device="cpu").manual_seed(seed)
    for m in model.modules():
        if isinstance(m, _WEIGHTED):
            w = m.weight
            fan_in, fan_out = _fans(w)
            if scheme == "gaussian":
                std = 1.0
            elif scheme == "xavier":
                std = math.sqrt(2.0 / (fan_in + fan_out))
            else:
                fan = fan_in if scheme == "kaiming_fan_in" else fan_out
                std = math.sqrt(2.0) / math.sqrt(fan)
            w.copy_(torch.randn(w.shape, generator=gen, dtype=w.dtype) * std)
            if m.bias is not None:
                m.bias.zero_()
        elif isinstance(m, _NORMS):
            if getattr(m, "weight", None) is not None:
                m.weight.fill_(1.0)
            if getattr(m, "bias", None) is not None:
                m.bias.zero_()
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats:
                m.reset_running_stats()
    return model
