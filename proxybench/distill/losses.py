"""Distillation losses. One implementation serves two uses: the KD trainer (as distillers) and the KD-aware
zero-cost proxies (score = -loss between a teacher and a random-init student)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 4.0) -> torch.Tensor:
    """Hinton et al. 2015: T^2 * KL(softmax(t/T) || softmax(s/T)), averaged over the batch."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    t = float(temperature)
    log_p_s = F.log_softmax(student_logits / t, dim=1)
    log_p_t = F.log_softmax(teacher_logits / t, dim=1)
    return F.kl_div(log_p_s, log_p_t, reduction="batchmean", log_target=True) * (t * t)
