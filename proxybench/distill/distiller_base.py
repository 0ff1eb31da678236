"""Training distillers, the base: the batch a distiller sees, the base class, the registry and ``kd``.

A distiller is an ``nn.Module`` (it may own learnable parts, e.g. DistPro's transforms, which the trainer
optimizes with the student) called once per step with a :class:`KDBatch`; it returns the whole training loss,
cross-entropy included. Register one with :func:`register_distiller`, in its own module, imported by
:mod:`proxybench.distill.distillers`.

``kd`` (Hinton et al. 2015): ``(1 - alpha) * CE + alpha * T^2 * KL(p_t^T || p_s^T)`` with the teacher's logits (the
mean logits of an ensemble).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .losses import kd_loss, labelled_ce


@dataclass
class KDBatch:
    """What a distiller sees at one training step."""

    x: torch.Tensor  # the (augmented) input batch the student and teacher both saw
    targets: torch.Tensor
    student_logits: torch.Tensor
    teacher_logits: torch.Tensor  # mean over members for an ensemble
    member_logits: list[torch.Tensor]  # one (B, K) tensor per teacher member ([teacher_logits] for one teacher)
    progress: float  # fraction of training done before this step, in [0, 1)
    step: int
    total_steps: int
    student_features: dict[str, Any] | None = None  # forward_features dicts, when the distiller needs features
    teacher_features: dict[str, Any] | None = None


class TrainingDistiller(nn.Module):
    """Base class. Subclasses set ``needs_features`` when they compare intermediate features (the trainer then
    runs the teacher on every batch instead of using cached logits) and implement :meth:`forward`."""

    name = "base"
    needs_features = False
    needs_ensemble = False

    def __init__(self, protocol, student: nn.Module | None = None, teacher: nn.Module | None = None,
                 options: dict | None = None):
        super().__init__()
        self.alpha = float(protocol.alpha)
        self.temperature = float(protocol.temperature)
        self.options = dict(options or {})

    def forward(self, batch: KDBatch) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


_DISTILLERS: dict[str, type[TrainingDistiller]] = {}


def register_distiller(name: str) -> Callable[[type[TrainingDistiller]], type[TrainingDistiller]]:
    def decorator(cls: type[TrainingDistiller]) -> type[TrainingDistiller]:
        if name in _DISTILLERS and _DISTILLERS[name] is not cls:
            raise ValueError(f"training distiller {name!r} is registered twice")
        cls.name = name
        _DISTILLERS[name] = cls
        return cls

    return decorator


@register_distiller("kd")
class LogitKD(TrainingDistiller):
    """Hinton et al. 2015: ``(1 - alpha) * CE + alpha * T^2 * KL(p_t^T || p_s^T)``."""

    def __init__(self, protocol, student=None, teacher=None, options=None):
        super().__init__(protocol, student, teacher, options)
        if self.options:
            raise ValueError(f"distiller 'kd' takes no options, got {sorted(self.options)}")

    def forward(self, batch: KDBatch) -> torch.Tensor:
        ce = labelled_ce(batch.student_logits, batch.targets)
        return (1.0 - self.alpha) * ce + self.alpha * kd_loss(batch.student_logits, batch.teacher_logits,
                                                              self.temperature)
