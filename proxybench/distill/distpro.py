"""``distpro``: distillation along a learned DistPro process (Deng et al., ECCV 2022).

Protocol fields::

    "distiller": "distpro",
    "distiller_options": {"process": "PROCESS.json", "beta": 1.0, "logit_kd": false, "transform": null, "seed": 0}

Training loss at training progress ``u`` (fraction of the steps done)::

    CE + beta * sum_p w_p(u) * l_p                                   (logit_kd false, the default)
    (1 - alpha) * CE + alpha * T^2 * KL(p_t^T || p_s^T) + beta * sum_p w_p(u) * l_p    (logit_kd true)

``w(u)`` is the process's weights interpolated linearly between its points (:meth:`Process.weights_at`), ``l_p``
the multi-scale pooled MSE of pathway ``p`` between the transformed student stage map and the teacher stage map
(:mod:`proxybench.distill.pathways`; an ``ensemble:`` teacher contributes its channel-concatenated stage maps).
DistPro's reference trains with CE plus the weighted feature losses and no logit term, hence the default; the
protocol's ``alpha`` and ``temperature`` are used only with ``logit_kd``.

Options: ``process`` (required): a process JSON path (relative to the current directory) or its object;
``beta`` (default 1.0, the reference's weight: softmax weights sum to 1, so the feature losses count as much as one
CE term); ``logit_kd`` (default false); ``transform`` (default: the one the process was learned with;
``distpro`` or ``conv1x1``); ``seed`` (default 0): the transforms' initial weights, drawn from a private RNG
state so that a run is deterministic for (student seed, this seed). The transforms are new for every student and
are trained with it (the trainer optimizes a distiller's parameters with the student's); only the weights come from
the process, which may have been learned with another cell or teacher (widths and sizes are read from the
networks at hand).
"""

from __future__ import annotations

import torch

from .distiller_base import KDBatch, TrainingDistiller, register_distiller
from .losses import kd_loss, labelled_ce
from .pathways import TRANSFORMS, Pathways
from .process_file import as_process

OPTIONS = {"process", "beta", "logit_kd", "transform", "seed"}


@register_distiller("distpro")
class DistProDistiller(TrainingDistiller):
    """``CE + beta * sum_p w_p(progress) * l_p`` along a learned process (see the module docstring)."""

    needs_features = True

    def __init__(self, protocol, student=None, teacher=None, options=None):
        super().__init__(protocol, student, teacher, options)
        unknown = sorted(set(self.options) - OPTIONS)
        if unknown:
            raise ValueError(f"distiller 'distpro' got unknown option(s) {unknown}; valid: {sorted(OPTIONS)}")
        if "process" not in self.options:
            raise ValueError("distiller 'distpro' needs the option 'process' (a process JSON file from "
                             "'proxybench kd-bench process-search')")
        self.process = as_process(self.options["process"])
        beta = self.options.get("beta", 1.0)
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not beta >= 0:
            raise ValueError(f"distiller 'distpro': beta must be a number >= 0, got {beta!r}")
        self.beta = float(beta)
        logit_kd = self.options.get("logit_kd", False)
        if not isinstance(logit_kd, bool):
            raise ValueError(f"distiller 'distpro': logit_kd must be true or false, got {logit_kd!r}")
        self.logit_kd = logit_kd
        transform = self.options.get("transform") or self.process.transform
        if transform not in TRANSFORMS:
            raise ValueError(f"distiller 'distpro': transform must be one of {TRANSFORMS}, got {transform!r}")
        self.transform = transform
        seed = self.options.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"distiller 'distpro': seed must be an integer, got {seed!r}")
        self.seed = seed
        self.register_buffer("_progress", torch.tensor(self.process.progress, dtype=torch.float32),
                             persistent=False)
        self.register_buffer("_weights", torch.tensor(self.process.weights, dtype=torch.float32), persistent=False)
        self.pathways: Pathways | None = None
        if student is not None and teacher is not None:
            self.pathways = Pathways.for_networks(student, teacher, protocol.resolution, protocol.channels,
                                                  pathways=self.process.pathways, transform=transform, seed=seed)

    def weights_at(self, progress: float) -> torch.Tensor:
        """The process weights at ``progress``: linear between points, constant outside them."""
        p, w = self._progress, self._weights
        if progress <= float(p[0]):
            return w[0]
        if progress >= float(p[-1]):
            return w[-1]
        k = int(torch.searchsorted(p, torch.tensor(float(progress), device=p.device), right=True)) - 1
        t = (progress - float(p[k])) / (float(p[k + 1]) - float(p[k]))
        return w[k] * (1.0 - t) + w[k + 1] * t

    def forward(self, batch: KDBatch) -> torch.Tensor:
        if self.pathways is None:
            raise ValueError("distiller 'distpro' was built without the student and teacher networks; build it "
                             "with make_distiller(protocol, student, teacher)")
        if batch.student_features is None or batch.teacher_features is None:
            raise ValueError("distiller 'distpro' compares features: the trainer must pass both feature dicts")
        ce = labelled_ce(batch.student_logits, batch.targets)
        if self.logit_kd:
            base = (1.0 - self.alpha) * ce + self.alpha * kd_loss(batch.student_logits, batch.teacher_logits,
                                                                  self.temperature)
        else:
            base = ce
        if self.beta == 0:
            return base
        losses = self.pathways.losses(batch.student_features, batch.teacher_features)
        return base + self.beta * (self.weights_at(batch.progress).to(losses.dtype) * losses).sum()
