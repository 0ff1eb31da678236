"""Pieces of training shared by the KD trainer and DistPro's process search: the device, augmentation, the
learning-rate schedule and the student builder (no distiller here, so both can import it)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .protocol import Protocol


def auto_device(device: str | None = None) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") and not str(device).startswith("cuda:"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    return torch.device(device)


def _augment(x: torch.Tensor, g: torch.Generator, pad: int) -> torch.Tensor:
    """Random crop with zero padding ``pad`` and random horizontal flip (per image)."""
    b, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=g).tolist()
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=g).tolist()
    flip = torch.rand(b, generator=g) < 0.5
    out = torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(b)])
    out[flip] = out[flip].flip(-1)
    return out


def lr_factor(schedule: str, total_steps: int) -> Callable[[int], float]:
    """Learning-rate multiplier per step.

    ``onecycle`` (Smith & Topin 2019): cosine warm-up from lr/25 to lr over the first 25% of the steps, then
    cosine annealing to lr/25,000; ``cosine``: lr -> 0; ``constant``. Defined for any number of steps >= 1.
    """
    warm = max(1, round(0.25 * total_steps))

    def onecycle(step: int) -> float:
        if step < warm:
            return 1 / 25 + (1 - 1 / 25) * (1 - math.cos(math.pi * step / warm)) / 2
        p = min(1.0, (step - warm) / max(1, total_steps - warm))
        final = 1 / 25_000
        return final + (1 - final) * (1 + math.cos(math.pi * p)) / 2

    def cosine(step: int) -> float:
        return (1 + math.cos(math.pi * min(1.0, step / total_steps))) / 2

    return {"onecycle": onecycle, "cosine": cosine, "constant": lambda step: 1.0}[schedule]


def build_student(arch: str, protocol: Protocol, num_classes: int, seed: int) -> nn.Module:
    from ..benchmarks import nb201

    return nb201.build_network(arch, C=protocol.C, N=protocol.N, num_classes=num_classes,
                               in_channels=protocol.channels, seed=seed, init=protocol.init)
