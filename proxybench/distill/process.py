"""DistPro's process search (Deng et al., ECCV 2022): learn the pathway weights over training by bi-level
meta-optimization, and save them as a reusable *process*.

Search (:func:`search_process`). A student NB201 cell trains under a protocol (its optimizer, schedule, batch size,
augmentation and budget) on a training split of the protocol's training images, with the loss

    L_train(theta, w) = CE + beta * sum_p w_p * l_p        (l_p: the pathway losses, :mod:`.pathways`)

and the pathway weights ``w = normalize(a)`` of learnable logits ``a``. ``softmax`` (default; DistPro's
``alpha_normalization_style`` 1): ``w_p >= 0`` and ``sum_p w_p = 1`` at every step; ``sigmoid`` (style 3): each
``w_p`` in ``[0, 1]`` independently. The logits start equal (1.0, as the reference), i.e. uniform weights.

Every step first takes a meta step on ``a``: a virtual step of the student, ``theta' = theta - lr * SGD(grad_theta
L_train(theta, w))`` (the protocol's SGD update at the current learning rate, momentum buffer, Nesterov and weight
decay included), then the cross-entropy ``L_val`` of the virtually-updated student on a batch of the held-out split
(``val_fraction`` of the training images, never trained on), differentiated with respect to ``a`` and applied by
Adam (lr 0.1, betas (0.5, 0.999), as the reference). Because ``w`` enters only ``L_train``, the hypergradient is
``dL_val/dw_p = -lr_eff * beta * <grad L_val(theta'), grad l_p(theta)>``. Two ways to compute it (``order``):

``2``  exact for the one-step unroll: ``theta'`` is built with ``torch.autograd.grad(..., create_graph=True)`` and
       ``L_val(theta')`` is evaluated with ``torch.func.functional_call``; one backward through the unroll gives
       ``dL_val/da`` (DistPro's reference computes the same quantity with a finite-difference Hessian-vector product).
``1``  first order in the step size: ``L_val(theta') ~ L_val(theta) - lr_eff <grad L_val(theta), g(w)>``, i.e. the
       validation gradient taken at ``theta`` instead of ``theta'``; the inner products with every ``grad l_p`` come
       from a central finite difference of the pathway losses along ``grad L_val(theta)`` (two extra forward passes
       of the student, no second-order graph). DARTS's "first-order" variant (``xi = 0``) would give a zero gradient
       here, because the weights appear only in the training loss.

Then the student and the transforms take the real SGD step with the weights of this step (before its meta update).
The default is order 2 (:data:`DEFAULT_ORDER`), as DistPro's reference (``unrolled=True``). Measured on the shipped
Fashion-MNIST protocol and teacher (``perf/results/distpro_cost.txt``, ``perf/results/distpro_order.txt``): order 2
costs 1.4-1.6x the CPU time per step of order 1; on a tiny budget it reached a slightly lower held-out CE in both
seeds (0.852 vs 0.864 mean) and learned spread weights where order 1 put 84-93% on one pathway; and at the
protocol's learning rates the first-order hypergradient points elsewhere (cosine with the exact one 0.26-0.86), being
exact only as the step size goes to 0. A process is learned once and reused, so the exact hypergradient is worth it.
Other settings: ``val_batch_size`` (default: the protocol's batch size; the reference draws one random held-out batch
of the training batch size per step); ``warmup`` (a fraction of the steps trained with the initial, uniform weights
before the meta-updates start; default 0 as in the reference. Early on, the alignment between a pathway's gradient
and the held-out gradient goes through randomly initialized transforms and classifier, so its sign is noise; a
warm-up lets them learn first); ``fd_radius`` (order 1: the finite-difference step, as a length in parameter space,
0.01 as the reference's Hessian-vector product).

The process file (:class:`Process`, :func:`save_process`, :func:`load_process`) is in :mod:`.process_file`.
"""

from __future__ import annotations

import math
import platform
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .pathways import PATHWAY_SETS, TRANSFORMS, Pathways
from .process_file import (  # noqa: F401  (the process file's names are public here too)
    FORMAT,
    NORMALIZATIONS,
    VERSION,
    Process,
    as_process,
    load_process,
    normalize_weights,
    save_process,
)
from .protocol import Protocol

ORDERS = (1, 2)
DEFAULT_ORDER = 2
DEFAULT_POINTS = 10
ARCH_LR = 0.1
ARCH_BETAS = (0.5, 0.999)
ALPHA_INIT = 1.0


# ---------------------------------------------------------------------------------------------------------------
# the search
# ---------------------------------------------------------------------------------------------------------------
class _Features(nn.Module):
    """``forward`` = the wrapped network's ``forward_features`` (for ``torch.func.functional_call``)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> dict:
        return self.net.forward_features(x)


def _call(module: nn.Module, params: dict[str, torch.Tensor], x: torch.Tensor) -> Any:
    """``module(x)`` with ``params`` in place of its parameters and copies of its buffers (so a train-mode BN
    updates the copies, never the module's running statistics)."""
    buffers = {n: b.clone() for n, b in module.named_buffers()}
    return torch.func.functional_call(module, {**params, **buffers}, (x,), strict=False)


def _virtual_step(p: torch.Tensor, g: torch.Tensor | None, state: dict, group: dict) -> torch.Tensor:
    """``p`` after one step of PyTorch's SGD (``g`` may carry a graph; ``p`` and the momentum buffer are
    constants)."""
    lr, mu, wd = group["lr"], group["momentum"], group["weight_decay"]
    theta = p.detach()
    d = theta * wd if g is None else g + wd * theta
    if mu:
        buf = state.get("momentum_buffer")
        buf = d if buf is None else mu * buf.detach() + d
        d = d + mu * buf if group["nesterov"] else buf
    return theta - lr * d


def _effective_lr(group: dict) -> float:
    """d(theta')/d(grad) of one SGD step: lr, times (1 + momentum) with Nesterov."""
    return group["lr"] * (1.0 + group["momentum"] if group["nesterov"] and group["momentum"] else 1.0)


def _split(n: int, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(int(seed))
    perm = torch.randperm(n, generator=g)
    n_val = max(1, int(round(val_fraction * n)))
    return perm[n_val:].sort().values, perm[:n_val].sort().values


def search_process(protocol: Protocol, data, archs: Sequence[str | int], teacher: nn.Module, *,
                   teacher_label: str | None = None, epochs: float | None = None, points: int = DEFAULT_POINTS,
                   order: int = DEFAULT_ORDER, seed: int = 0, pathways: str = "distpro", transform: str = "distpro",
                   normalization: str = "softmax", beta: float = 1.0, arch_lr: float = ARCH_LR,
                   val_fraction: float = 0.2, val_batch_size: int | None = None, fd_radius: float = 1e-2,
                   warmup: float = 0.0, device: str | None = None, log: Callable[[str], None] | None = None) -> Process:
    """Learn a DistPro process for ``archs`` (NB201 arch strings or indices) under ``protocol`` with ``teacher``
    (see the module docstring). ``data`` is a :class:`~proxybench.distill.trainer.TrainData` (its training images
    are split into search-training and held-out parts; its test images are not used). ``epochs`` defaults to the
    protocol's (passes over the search-training split). Returns the :class:`Process`."""
    from .. import __version__
    from .teachers import is_trained
    from .training_parts import auto_device

    if not isinstance(protocol, Protocol):
        raise ValueError(f"protocol must be a Protocol, got {type(protocol).__name__}")
    if getattr(teacher, "oracle", None) is not None:
        raise ValueError(f"teacher {getattr(teacher, 'teacher_spec', '')!r} is an @oracle ensemble, whose oracle "
                         "target is for the KD-aware proxies; the process search distils features: give the plain "
                         "ensemble: spec")
    archs = list(archs) if isinstance(archs, (list, tuple)) else [archs]
    if not archs:
        raise ValueError("process search needs at least one student arch")
    epochs = float(protocol.epochs if epochs is None else epochs)
    checks = [
        ("points", points, isinstance(points, int) and not isinstance(points, bool) and points >= 1,
         "an integer >= 1"),
        ("order", order, order in ORDERS and not isinstance(order, bool), "1 or 2"),
        ("epochs", epochs, math.isfinite(epochs) and epochs > 0, "> 0"),
        ("pathways", pathways, pathways in PATHWAY_SETS, f"one of {PATHWAY_SETS}"),
        ("transform", transform, transform in TRANSFORMS, f"one of {TRANSFORMS}"),
        ("normalization", normalization, normalization in NORMALIZATIONS, f"one of {NORMALIZATIONS}"),
        ("beta", beta, isinstance(beta, (int, float)) and beta > 0, "> 0"),
        ("arch_lr", arch_lr, isinstance(arch_lr, (int, float)) and arch_lr > 0, "> 0"),
        ("val_fraction", val_fraction, isinstance(val_fraction, (int, float)) and 0 < val_fraction < 1,
         "in (0, 1)"),
        ("val_batch_size", val_batch_size, val_batch_size is None or (isinstance(val_batch_size, int)
                                                                    and not isinstance(val_batch_size, bool)
                                                                    and val_batch_size >= 1), "an integer >= 1"),
        ("fd_radius", fd_radius, isinstance(fd_radius, (int, float)) and fd_radius > 0, "> 0"),
        ("warmup", warmup, isinstance(warmup, (int, float)) and 0 <= warmup < 1, "in [0, 1)"),
        ("seed", seed, isinstance(seed, int) and not isinstance(seed, bool), "an integer"),
    ]
    for name, value, ok, valid in checks:
        if not ok:
            raise ValueError(f"process search: {name}={value!r} is invalid; must be {valid}")
    if bool((data.y_train < 0).any()):
        raise ValueError("process search: the training data holds unlabelled transfer-set images (protocol "
                         f"transfer_set={protocol.transfer_set}); search the process on a protocol without one")
    n = len(data.y_train)
    train_idx, val_idx = _split(n, val_fraction, seed)
    if len(train_idx) < protocol.batch_size:
        raise ValueError(f"process search: the training split has {len(train_idx)} images, fewer than the batch "
                         f"size {protocol.batch_size} (training images {n}, val_fraction {val_fraction})")
    steps_per_epoch = len(train_idx) // protocol.batch_size
    total_steps = max(1, round(epochs * steps_per_epoch))
    if points > total_steps:
        raise ValueError(f"process search: {points} points need at least {points} steps, but {epochs:g} epochs "
                         f"are {total_steps} steps; use fewer points or more epochs")
    dev = auto_device(device)
    teacher = teacher.to(dev).to(memory_format=torch.channels_last).eval()
    with torch.no_grad():
        probe = teacher(data.x_train[:2].to(dev).contiguous(memory_format=torch.channels_last))
    if probe.shape[1] != data.num_classes:
        raise ValueError(f"the teacher has {probe.shape[1]} outputs but the data set has {data.num_classes} classes")
    say = log or (lambda msg: None)

    cpu0, wall0 = time.process_time(), time.perf_counter()
    cells = []
    for arch in archs:
        cells.append(_search_cell(arch, protocol, data, train_idx, val_idx, teacher, dev, total_steps=total_steps,
                                  points=points, order=order, seed=seed, pathways=pathways, transform=transform,
                                  normalization=normalization, beta=float(beta), arch_lr=float(arch_lr),
                                  fd_radius=float(fd_radius), val_batch_size=val_batch_size,
                                  warmup=float(warmup), log=say))
    weights = np.mean([c["weights"] for c in cells], axis=0)
    if normalization == "softmax":
        weights = weights / weights.sum(1, keepdims=True)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    paths = cells[0].pop("_pathways")
    for c in cells[1:]:
        c.pop("_pathways")
    info = {
        "protocol": protocol.to_dict(), "protocol_key": protocol.training_key(),
        "teacher": {"source": teacher_label if teacher_label is not None else getattr(teacher, "teacher_spec", None),
                    "spec": getattr(teacher, "teacher_spec", None), "trained": bool(is_trained(teacher)),
                    "stages": [list(s) for s in paths.teacher_shapes]},
        "student_stages": [list(s) for s in paths.student_shapes],
        "cells": cells,
        "method": {"name": "DistPro process search", "order": order,
                   "approximation": ("exact one-step unrolled hypergradient (create_graph + functional_call)"
                                     if order == 2 else
                                     "first order in the step size, finite-difference inner products"),
                   "loss": "CE + beta * sum_p w_p * multiscale_pooled_mse_p", "beta": float(beta),
                   "normalization": normalization, "alpha_init": ALPHA_INIT,
                   "arch_optimizer": {"name": "adam", "lr": float(arch_lr), "betas": list(ARCH_BETAS),
                                      "weight_decay": 0.0},
                   "val_fraction": float(val_fraction), "train_images": int(len(train_idx)),
                   "val_images": int(len(val_idx)),
                   "val_batch_size": int(min(val_batch_size or protocol.batch_size, len(val_idx))),
                   "epochs": epochs, "steps": total_steps, "points": points,
                   "point_rule": "mean weight over each 1/K of the steps, placed at progress (k + 1/2) / K",
                   "fd_radius": float(fd_radius) if order == 1 else None, "warmup": float(warmup)},
        "seed": seed, "cpu_seconds": round(cpu, 2), "wall_seconds": round(wall, 2),
        "cpu_seconds_per_epoch": round(cpu / (epochs * len(archs)), 2), "threads": torch.get_num_threads(),
        "device": str(dev), "torch": torch.__version__, "proxybench_version": __version__,
        "machine": f"{platform.machine()} {platform.processor()}".strip(),
    }
    return Process(pathways=paths.pathways, progress=[(k + 0.5) / points for k in range(points)],
                   weights=weights.tolist(), transform=transform, normalization=normalization,
                   pathway_set=pathways, info=info)


def hypergradient(student: nn.Module, paths: Pathways, alpha: torch.Tensor, batch, val_batch, teacher_feats,
                  opt: torch.optim.SGD, *, order: int = DEFAULT_ORDER, beta: float = 1.0,
                  normalization: str = "softmax", fd_radius: float = 1e-2, real_step: bool = False):
    """``dL_val / d alpha`` for the pathway logits ``alpha`` at the current student and transform weights (see the
    module docstring for the two orders). ``batch`` and ``val_batch`` are ``(x, y)`` pairs, ``teacher_feats`` the
    teacher's ``forward_features`` on ``batch.x``, ``opt`` the student's SGD (its learning rate, momentum buffers,
    Nesterov flag and weight decay define the virtual step). Returns ``(d_alpha, l_val, train_loss)``.

    Nothing is changed (every BN running statistic is restored) unless ``real_step``; then, with ``order=2``, the
    training forward counts as the step's real one: BN statistics keep its update and the parameters' ``.grad``
    hold the training-loss gradients for ``opt.step()``."""
    if order not in ORDERS:
        raise ValueError(f"order must be 1 or 2, got {order!r}")
    xb, yb = batch
    xv, yv = val_batch
    s_named = list(student.named_parameters())
    s_names = [n for n, _ in s_named]
    s_params = [p for _, p in s_named]
    t_params = list(paths.parameters())
    group_of = {id(p): g for g in opt.param_groups for p in g["params"]}
    keep = order == 2 and real_step
    saved = [] if keep else [b.detach().clone() for b in (*student.buffers(), *paths.buffers())]
    try:
        w = normalize_weights(alpha, normalization)
        if order == 2:
            s_feats = student.forward_features(xb)
            loss = F.cross_entropy(s_feats["logits"], yb) + beta * (w * paths.losses(s_feats, teacher_feats)).sum()
            grads = torch.autograd.grad(loss, s_params + t_params, create_graph=True, allow_unused=True)
            unrolled = {n: _virtual_step(p, gr, opt.state[p], group_of[id(p)])
                        for n, p, gr in zip(s_names, s_params, grads)}
            l_val = F.cross_entropy(_call(student, unrolled, xv), yv)
            (d_alpha,) = torch.autograd.grad(l_val, alpha)
            if real_step:
                for p, gr in zip(s_params + t_params, grads):
                    p.grad = None if gr is None else gr.detach()
            return d_alpha.detach(), l_val.detach(), loss.detach()
        l_val = F.cross_entropy(_call(student, dict(zip(s_names, s_params)), xv), yv)
        v = torch.autograd.grad(l_val, s_params, allow_unused=True)
        v = [torch.zeros_like(p) if vi is None else vi.detach() for p, vi in zip(s_params, v)]
        norm = math.sqrt(sum(float((vi.double() ** 2).sum()) for vi in v))
        d_w = torch.zeros(len(paths), device=alpha.device)
        loss = torch.tensor(float("nan"))
        if norm > 0 and math.isfinite(norm):
            eps = fd_radius / norm
            wrapped = _Features(student)
            side = []
            with torch.no_grad():
                for sign in (1.0, -1.0):
                    moved = {f"net.{n}": p + sign * eps * vi for n, p, vi in zip(s_names, s_params, v)}
                    side.append(paths.losses(_call(wrapped, moved, xb), teacher_feats))
            d_w = -_effective_lr(opt.param_groups[0]) * beta * (side[0] - side[1]) / (2.0 * eps)
        (d_alpha,) = torch.autograd.grad((w * d_w).sum(), alpha)
        return d_alpha.detach(), l_val.detach(), loss
    finally:
        if saved:
            with torch.no_grad():
                for b, s in zip((*student.buffers(), *paths.buffers()), saved):
                    b.copy_(s)


def _search_cell(arch, protocol: Protocol, data, train_idx, val_idx, teacher, dev, *, total_steps, points, order,
                 seed, pathways, transform, normalization, beta, arch_lr, fd_radius, val_batch_size, warmup,
                 log) -> dict:
    from .training_parts import _augment, build_student, lr_factor

    cpu0, wall0 = time.process_time(), time.perf_counter()
    student = build_student(arch, protocol, data.num_classes, seed)
    student.to(dev).to(memory_format=torch.channels_last).train()
    paths = Pathways.for_networks(student, teacher, protocol.resolution, protocol.channels, pathways=pathways,
                                  transform=transform, seed=seed).to(dev).train()
    n_p = len(paths)
    alpha = torch.full((n_p,), ALPHA_INIT, device=dev, requires_grad=True)
    arch_opt = torch.optim.Adam([alpha], lr=arch_lr, betas=ARCH_BETAS, weight_decay=0.0)

    s_params = list(student.parameters())
    t_params = list(paths.parameters())
    decay = [p for p in s_params + t_params if p.dim() > 1]
    no_decay = [p for p in s_params + t_params if p.dim() <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": protocol.weight_decay},
                           {"params": no_decay, "weight_decay": 0.0}],
                          lr=protocol.lr, momentum=protocol.momentum,
                          nesterov=protocol.nesterov and protocol.momentum > 0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor(protocol.schedule, total_steps))

    g = torch.Generator().manual_seed(int(seed))
    x_tr, y_tr = data.x_train[train_idx], data.y_train[train_idx]
    x_va, y_va = data.x_train[val_idx], data.y_train[val_idx]
    bs = protocol.batch_size
    vbs = min(val_batch_size or bs, len(val_idx))
    perm, pos = torch.randperm(len(y_tr), generator=g), 0
    vperm, vpos = torch.randperm(len(y_va), generator=g), 0
    sums = torch.zeros(points, n_p, dtype=torch.float64)
    counts = torch.zeros(points)
    val_ce = torch.zeros(points, dtype=torch.float64)
    val_n = torch.zeros(points)
    warm_steps = int(round(warmup * total_steps))
    bounds = [round(k * total_steps / points) for k in range(points + 1)]
    point = 0
    for step in range(total_steps):
        while step >= bounds[point + 1]:
            point += 1
        if pos + bs > len(y_tr):
            perm, pos = torch.randperm(len(y_tr), generator=g), 0
        idx = perm[pos:pos + bs]
        pos += bs
        if vpos + vbs > len(y_va):
            vperm, vpos = torch.randperm(len(y_va), generator=g), 0
        vidx = vperm[vpos:vpos + vbs]
        vpos += vbs
        xb = x_tr[idx]
        if protocol.augmentation == "crop_flip":
            xb = _augment(xb, g, pad=max(1, protocol.resolution // 8))
        xb = xb.to(dev).contiguous(memory_format=torch.channels_last)
        yb = y_tr[idx].to(dev)
        xv = x_va[vidx].to(dev).contiguous(memory_format=torch.channels_last)
        yv = y_va[vidx].to(dev)
        with torch.no_grad():
            t_feats = teacher.forward_features(xb)

        w = normalize_weights(alpha, normalization)
        sums[point] += w.detach().double().cpu()
        counts[point] += 1
        meta = step >= warm_steps
        if meta:
            d_alpha, l_val, loss = hypergradient(student, paths, alpha, (xb, yb), (xv, yv), t_feats, opt,
                                                 order=order, beta=beta, normalization=normalization,
                                                 fd_radius=fd_radius, real_step=True)
            val_ce[point] += float(l_val)
            val_n[point] += 1
        if not meta or order == 1:  # the real step's gradients (order 2 left them in .grad, from its one forward)
            s_feats = student.forward_features(xb)
            loss = (F.cross_entropy(s_feats["logits"], yb)
                    + beta * (w.detach() * paths.losses(s_feats, t_feats)).sum())
            opt.zero_grad(set_to_none=True)
            loss.backward()
        if meta:
            arch_opt.zero_grad(set_to_none=True)
            alpha.grad = d_alpha
            arch_opt.step()
        opt.step()
        sched.step()
        lv = float(loss.detach())
        if not math.isfinite(lv):
            raise ValueError(f"process search diverged for arch {arch!r} at step {step} (loss {lv:.3g})")
        if (step + 1) % max(1, total_steps // 10) == 0 or step + 1 == total_steps:
            now = normalize_weights(alpha.detach(), normalization).tolist()
            log(f"arch {arch}: step {step + 1}/{total_steps}, loss {lv:.3f}, weights "
                + " ".join(f"{n}={v:.3f}" for n, v in zip(paths.names, now)))
    weights = (sums / counts.unsqueeze(1).double()).tolist()
    final_ce, final_acc = _held_out(student, x_va, y_va, protocol.eval_batch_size, dev)
    from ..benchmarks import nb201

    return {"arch": student.arch, "arch_index": int(nb201.arch_to_index(student.arch)), "weights": weights,
            "held_out_ce": [float(c / k) if k else None for c, k in zip(val_ce.tolist(), val_n.tolist())],
            "final_held_out_ce": final_ce,
            "final_held_out_acc": final_acc, "final_logits": alpha.detach().cpu().tolist(), "steps": total_steps,
            "cpu_seconds": round(time.process_time() - cpu0, 2),
            "wall_seconds": round(time.perf_counter() - wall0, 2), "_pathways": paths}


@torch.no_grad()
def _held_out(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int, dev) -> tuple[float, float]:
    """Cross-entropy and accuracy (%) on the held-out split, eval mode."""
    was = model.training
    model.eval()
    loss = correct = 0.0
    for i in range(0, len(y), batch_size):
        logits = model(x[i:i + batch_size].to(dev).contiguous(memory_format=torch.channels_last))
        yb = y[i:i + batch_size].to(dev)
        loss += F.cross_entropy(logits, yb, reduction="sum").item()
        correct += (logits.argmax(1) == yb).sum().item()
    model.train(was)
    return loss / len(y), 100.0 * correct / len(y)
