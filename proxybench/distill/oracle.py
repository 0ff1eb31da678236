"""Oracle KD (Kang, Mun, Han, AAAI 2020): the student imitates, per sample, the ensemble members that classify it
correctly (:func:`proxybench.distill.losses.oracle_target`).

Training loss: ``(1 - alpha) * CE + alpha * T^2 * KL(oracle_target || p_s^T)``; needs an ``ensemble:`` teacher.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .distillers import KDBatch, TrainingDistiller, register_distiller
from .losses import oracle_kd_loss


@register_distiller("oracle")
class OracleKD(TrainingDistiller):
    """``(1 - alpha) * CE + alpha * T^2 * KL(oracle target || p_s^T)`` over an ensemble's members."""

    needs_ensemble = True

    def __init__(self, protocol, student=None, teacher=None, options=None):
        super().__init__(protocol, student, teacher, options)
        if self.options:
            raise ValueError(f"distiller 'oracle' takes no options, got {sorted(self.options)}")

    def forward(self, batch: KDBatch) -> torch.Tensor:
        ce = F.cross_entropy(batch.student_logits, batch.targets)
        okd = oracle_kd_loss(batch.student_logits, batch.member_logits, batch.targets, self.temperature)
        return (1.0 - self.alpha) * ce + self.alpha * okd
