"""Oracle KD (Kang, Mun, Han, AAAI 2020): the student imitates, per sample, the ensemble members that classify it
correctly (:func:`proxybench.distill.losses.oracle_target`, which states the rule and its fallback).

Training loss: ``(1 - alpha) * CE + alpha * T^2 * KL(oracle_target || p_s^T)``; needs an ``ensemble:`` teacher of
at least two members. Option (``distiller_options``): ``fallback`` for samples no member classifies correctly,
``"mean"`` (default: the mean of all members) or ``"label"`` (the one-hot label).
"""

from __future__ import annotations

import torch

from .distiller_base import KDBatch, TrainingDistiller, register_distiller
from .losses import ORACLE_FALLBACKS, labelled_ce, oracle_kd_loss


@register_distiller("oracle")
class OracleKD(TrainingDistiller):
    """``(1 - alpha) * CE + alpha * T^2 * KL(oracle target || p_s^T)`` over an ensemble's members."""

    needs_ensemble = True

    def __init__(self, protocol, student=None, teacher=None, options=None):
        super().__init__(protocol, student, teacher, options)
        unknown = sorted(set(self.options) - {"fallback"})
        if unknown:
            raise ValueError(f"distiller 'oracle' takes only the option 'fallback', got {unknown}")
        self.fallback = self.options.get("fallback", "mean")
        if self.fallback not in ORACLE_FALLBACKS:
            raise ValueError(f"distiller 'oracle': fallback must be one of {ORACLE_FALLBACKS}, "
                             f"got {self.fallback!r}")

    def forward(self, batch: KDBatch) -> torch.Tensor:
        if len(batch.member_logits) < 2:
            raise ValueError("distiller 'oracle' needs an ensemble teacher (ensemble:<spec>,<spec>,...); got "
                             f"{len(batch.member_logits)} member")
        ce = labelled_ce(batch.student_logits, batch.targets)
        okd = oracle_kd_loss(batch.student_logits, batch.member_logits, batch.targets, self.temperature,
                             fallback=self.fallback)
        return (1.0 - self.alpha) * ce + self.alpha * okd
