"""Training NB201 students (vanilla or distilled) and teachers under a :class:`Protocol`.

CPU or GPU (auto-detected), channels_last. Without augmentation, the teacher's logits on the training set are
computed once and reused by every student (:func:`teacher_logits`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .distillers import KDBatch, make_distiller
from .protocol import MODES, Protocol
from .training_parts import _augment, auto_device, build_student, lr_factor  # noqa: F401  (public here too)

UNLABELLED = -1  # the label of a transfer-set image (seen by KD runs only, through the teacher)


@dataclass
class TrainData:
    """Normalized tensors for training and testing (N, C, H, W) and their labels."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    dataset: str

    def to(self, device: torch.device) -> TrainData:
        return TrainData(self.x_train.to(device), self.y_train.to(device), self.x_test.to(device),
                         self.y_test.to(device), self.num_classes, self.dataset)


def load_train_data(protocol: Protocol, root: str | None = None) -> TrainData:
    """Load the protocol's dataset, resized and channel-replicated as it says, with its training subset."""
    from ..benchmarks.datasets import load_images, to_tensor

    train = load_images(protocol.dataset, split="train", root=root)
    test = load_images(protocol.dataset, split="test", root=root)
    x_train = to_tensor(train, resolution=protocol.resolution, channels=protocol.channels)
    y_train = torch.tensor(train.labels, dtype=torch.long)
    num_classes = int(train.num_classes)
    transfer = None
    if protocol.train_subset is not None:
        if protocol.train_subset > len(y_train):
            raise ValueError(f"train_subset={protocol.train_subset} exceeds the {len(y_train)} training images")
        idx = _balanced_subset(y_train, protocol.train_subset, protocol.data_seed)
        if protocol.transfer_set:
            rest = torch.ones(len(y_train), dtype=torch.bool)
            rest[idx] = False
            rest = rest.nonzero().flatten()
            if protocol.transfer_set > len(rest):
                raise ValueError(f"transfer_set={protocol.transfer_set} exceeds the {len(rest)} training images "
                                 f"outside train_subset={protocol.train_subset}")
            transfer = rest[_balanced_subset(y_train[rest], protocol.transfer_set, protocol.data_seed + 1)]
        x_pool = x_train
        x_train, y_train = x_train[idx], y_train[idx]
    elif protocol.transfer_set:
        raise ValueError(f"transfer_set={protocol.transfer_set} needs a train_subset: the transfer images are drawn "
                         "from the training images outside it")
    if protocol.label_noise:
        y_train = _noisy_labels(y_train, protocol.label_noise, num_classes, protocol.data_seed + 2)
    if transfer is not None:  # unlabelled for the student: label -1, seen only through the teacher's soft labels
        x_train = torch.cat([x_train, x_pool[transfer]])
        y_train = torch.cat([y_train, torch.full((len(transfer),), UNLABELLED, dtype=torch.long)])
    x_test = to_tensor(test, resolution=protocol.resolution, channels=protocol.channels)
    y_test = torch.tensor(test.labels, dtype=torch.long)
    return TrainData(x_train.contiguous(), y_train, x_test.contiguous(), y_test, num_classes, protocol.dataset)


def _noisy_labels(labels: torch.Tensor, fraction: float, num_classes: int, seed: int) -> torch.Tensor:
    """``labels`` with ``round(fraction * n)`` of them, drawn with ``seed``, replaced by a uniformly drawn other
    class (symmetric label noise: a replaced label is always wrong)."""
    g = torch.Generator().manual_seed(seed)
    n = len(labels)
    flip = torch.randperm(n, generator=g)[:round(fraction * n)]
    out = labels.clone()
    out[flip] = (labels[flip] + torch.randint(1, num_classes, (len(flip),), generator=g)) % num_classes
    return out


def _balanced_subset(labels: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """``n`` indices with (as far as possible) equal counts per class, drawn with ``seed``, sorted."""
    g = torch.Generator().manual_seed(seed)
    classes = labels.unique()
    per = [n // len(classes) + (1 if i < n % len(classes) else 0) for i in range(len(classes))]
    picked = []
    for c, k in zip(classes.tolist(), per):
        members = (labels == c).nonzero().flatten()
        picked.append(members[torch.randperm(len(members), generator=g)[:k]])
    return torch.cat(picked).sort().values


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    """Top-1 accuracy (%) in eval mode."""
    was = model.training
    model.eval()
    correct = 0
    for i in range(0, len(y), batch_size):
        xb = x[i:i + batch_size].contiguous(memory_format=torch.channels_last)
        correct += (model(xb).argmax(1) == y[i:i + batch_size]).sum().item()
    model.train(was)
    return 100.0 * correct / len(y)


@torch.no_grad()
def teacher_logits(teacher: nn.Module, x: torch.Tensor, batch_size: int = 1000, *,
                   members: bool = False) -> torch.Tensor:
    """The teacher's logits on ``x`` in eval mode (computed once, reused by every student): ``(N, K)``, or with
    ``members=True`` one slice per ensemble member, ``(M, N, K)`` (``M = 1`` for a single teacher)."""
    from .teachers import ensemble_members

    nets = ensemble_members(teacher) if members else [teacher]
    was = teacher.training
    teacher.eval()
    out = torch.stack([torch.cat([net(x[i:i + batch_size].contiguous(memory_format=torch.channels_last)).float()
                                  for i in range(0, len(x), batch_size)]) for net in nets])
    teacher.train(was)
    return out if members else out[0]


def _member_logits(teacher: nn.Module, xb: torch.Tensor) -> list[torch.Tensor]:
    from .teachers import ensemble_members

    return [m(xb).float() for m in ensemble_members(teacher)]


@dataclass
class RunResult:
    test_acc: float  # accuracy (%) on the full test set after the last step
    best_test_acc: float  # best per-epoch test accuracy (%) (equal to test_acc when evaluated once)
    train_loss: float  # mean training loss over the last 10% of steps
    train_acc: float  # training accuracy (%) over the last 10% of steps
    seconds: float  # training wall time (evaluation excluded)
    images_per_s: float  # training throughput
    steps: int
    images: int  # training images processed
    diverged: bool = False


def train(model: nn.Module, data: TrainData, protocol: Protocol, *, mode: str = "vanilla", seed: int = 0,
          soft_targets: torch.Tensor | None = None, teacher: nn.Module | None = None,
          epochs: float | None = None, lr: float | None = None, augmentation: str | None = None,
          device: torch.device | str | None = None, eval_each_epoch: bool = False,
          progress: Callable[[int, int], None] | None = None) -> RunResult:
    """Train ``model`` in place. ``mode='kd'`` trains with the protocol's distiller
    (:mod:`proxybench.distill.distillers`) and needs ``soft_targets`` (the teacher's logits on ``data.x_train``,
    same order: ``(N, K)``, or ``(M, N, K)`` per ensemble member) or ``teacher`` (run on every batch: needed with
    augmentation, where the teacher sees the student's augmented view, and by distillers that compare features)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if mode == "kd" and soft_targets is None and teacher is None:
        raise ValueError("mode='kd' needs soft_targets (cached teacher logits) or a teacher network")
    device = auto_device(device if isinstance(device, str) or device is None else str(device))
    epochs = protocol.epochs if epochs is None else epochs
    lr = protocol.lr if lr is None else lr
    augmentation = protocol.augmentation if augmentation is None else augmentation
    if augmentation != "none" and mode == "kd" and teacher is None:
        raise ValueError("with augmentation the teacher must run on each augmented batch: pass teacher=")
    distiller = make_distiller(protocol, model, teacher) if mode == "kd" else None
    if distiller is not None:
        if distiller.needs_features and teacher is None:
            raise ValueError(f"distiller {protocol.distiller!r} compares features: pass teacher=")
        if soft_targets is not None and soft_targets.dim() == 2:
            soft_targets = soft_targets.unsqueeze(0)
        n_members = len(_ensemble(teacher)) if teacher is not None else len(soft_targets)
        if distiller.needs_ensemble and n_members < 2:
            raise ValueError(f"distiller {protocol.distiller!r} needs an ensemble teacher "
                             f"(ensemble:<spec>,<spec>,...); got {n_members} member")

    bs = protocol.batch_size
    labelled = data.y_train >= 0
    n_labelled = int(labelled.sum())
    # vanilla runs see the labelled images only; KD runs also the transfer set (if any). The budget counts
    # passes over the labelled images in both modes.
    pool = None if (mode == "kd" or n_labelled == len(labelled)) else labelled.nonzero().flatten()
    n = len(data.y_train) if pool is None else len(pool)
    steps_per_epoch = max(1, n_labelled // bs)  # drop the last partial batch
    total_steps = max(1, round(epochs * steps_per_epoch))
    g = torch.Generator().manual_seed(seed)

    model.to(device).to(memory_format=torch.channels_last).train()
    if teacher is not None:
        teacher.to(device).to(memory_format=torch.channels_last).eval()
    decay, no_decay = [], []
    params = list(model.parameters())
    if distiller is not None:
        distiller.to(device).train()
        params += list(distiller.parameters())
    for p in params:
        (no_decay if p.dim() <= 1 else decay).append(p)
    opt = torch.optim.SGD([{"params": decay, "weight_decay": protocol.weight_decay},
                           {"params": no_decay, "weight_decay": 0.0}],
                          lr=lr, momentum=protocol.momentum, nesterov=protocol.nesterov and protocol.momentum > 0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor(protocol.schedule, total_steps))

    x_all, y_all = data.x_train, data.y_train
    soft = soft_targets
    tail = max(1, total_steps // 10)
    tail_loss = tail_correct = tail_seen = 0.0
    best = -1.0
    diverged = False
    def shuffled() -> torch.Tensor:
        perm = torch.randperm(n, generator=g)
        return perm if pool is None else pool[perm]

    perm = shuffled()
    pos = 0
    t_train = 0.0
    for step in range(total_steps):
        t0 = time.perf_counter()
        if pos + bs > n:
            perm = shuffled()
            pos = 0
        idx = perm[pos:pos + bs]
        pos += bs
        xb = x_all[idx]
        if augmentation == "crop_flip":
            xb = _augment(xb, g, pad=max(1, protocol.resolution // 8))
        xb = xb.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        yb = y_all[idx].to(device, non_blocking=True)
        if distiller is None:
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
        else:
            s_feats = t_feats = None
            if distiller.needs_features:
                s_feats = model.forward_features(xb)
                logits = s_feats["logits"]
                with torch.no_grad():
                    t_feats = teacher.forward_features(xb)
                    members = ([f["logits"].float() for f in t_feats["members"]] if "members" in t_feats
                               else [t_feats["logits"].float()])
            else:
                logits = model(xb)
                if teacher is not None and (soft is None or augmentation != "none"):
                    with torch.no_grad():
                        members = _member_logits(teacher, xb)
                else:
                    members = list(soft[:, idx].to(device, non_blocking=True))
            t_mean = members[0] if len(members) == 1 else torch.stack(members).mean(0)
            loss = distiller(KDBatch(x=xb, targets=yb, student_logits=logits, teacher_logits=t_mean,
                                     member_logits=members, progress=step / total_steps, step=step,
                                     total_steps=total_steps, student_features=s_feats, teacher_features=t_feats))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step >= total_steps - tail:
            lv = loss.item()
            if not math.isfinite(lv):
                diverged = True
            tail_loss += lv
            tail_correct += (logits.detach().argmax(1) == yb).sum().item()  # a transfer image never counts
            tail_seen += int((yb >= 0).sum())
        t_train += time.perf_counter() - t0
        if progress is not None:
            progress(step + 1, total_steps)
        if eval_each_epoch and (step + 1) % steps_per_epoch == 0 and step + 1 < total_steps:
            best = max(best, evaluate(model, data.x_test.to(device), data.y_test.to(device),
                                      protocol.eval_batch_size))
    acc = evaluate(model, data.x_test.to(device), data.y_test.to(device), protocol.eval_batch_size)
    return RunResult(test_acc=acc, best_test_acc=max(best, acc), train_loss=tail_loss / tail,
                     train_acc=100.0 * tail_correct / max(1, tail_seen), seconds=t_train,
                     images_per_s=total_steps * bs / max(t_train, 1e-9), steps=total_steps,
                     images=total_steps * bs, diverged=diverged or not math.isfinite(tail_loss))


def _ensemble(teacher: nn.Module) -> list[nn.Module]:
    from .teachers import ensemble_members

    return ensemble_members(teacher)
