"""Training the teachers of a KD build: one network, or an ensemble of K members (``kd-bench teacher``).

An ensemble is written as one checkpoint per member (``OUT.m0.pt``, ...), the ensemble as one checkpoint at ``OUT``
and a spec file ``OUT.ensemble.txt`` (``ensemble:checkpoint:OUT.m0.pt,...``), with each member's accuracy, the
ensemble's (mean logits) and the oracle accuracy (some member right; Oracle KD, Kang, Mun & Han, AAAI 2020).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import torch

from ..io import write_text
from .protocol import Protocol
from .trainer import TrainData, auto_device, teacher_logits, train


def train_teacher(spec: str, protocol: Protocol, data: TrainData, *, epochs: float, lr: float | None = None,
                  augmentation: str = "crop_flip", seed: int = 0, device: str | None = None,
                  out: str | Path | None = None, progress: Callable[[int, int], None] | None = None):
    """Train a teacher on ``data`` (the full training set), save it (with its test accuracy) to ``out``."""
    from .teachers import build_teacher, save_teacher

    model = build_teacher(spec, num_classes=data.num_classes, in_channels=protocol.channels, seed=seed)
    result = train(model, data, protocol, mode="vanilla", seed=seed, epochs=epochs, lr=lr,
                   augmentation=augmentation, device=device, progress=progress)
    info = {"spec": spec, "test_acc": result.test_acc, "epochs": epochs, "lr": lr or protocol.lr,
            "augmentation": augmentation, "seed": seed, "train": asdict(result),
            "dataset": data.dataset, "resolution": protocol.resolution, "channels": protocol.channels,
            "train_images": int(len(data.y_train))}
    if out is not None:
        info["checkpoint"] = Path(out).name
        save_teacher(model.cpu(), spec, out, extra=info)
    return model, info


def member_checkpoint_path(out: str | Path, i: int) -> Path:
    """Where ensemble member ``i`` of a teacher written to ``out`` is saved: ``teacher.pt`` -> ``teacher.m0.pt``."""
    out = Path(out)
    return out.with_name(f"{out.stem}.m{i}{out.suffix or '.pt'}")


def ensemble_spec_path(out: str | Path) -> Path:
    """The ensemble spec file written next to ``out``: ``teacher.pt`` -> ``teacher.ensemble.txt``."""
    out = Path(out)
    return out.with_name(f"{out.stem}.ensemble.txt")


def ensemble_accuracies(member_logits: torch.Tensor, labels: torch.Tensor) -> dict:
    """From ``(M, N, K)`` member logits: each member's accuracy, the ensemble's (arg-max of the mean logits, as
    :class:`~proxybench.distill.teachers.TeacherEnsemble` predicts) and the oracle accuracy (some member right),
    all in %."""
    labels = labels.to(member_logits.device)
    right = member_logits.argmax(2) == labels.unsqueeze(0)  # (M, N)
    return {"member_test_acc": [round(100.0 * float(r.float().mean()), 4) for r in right],
            "ensemble_test_acc": round(100.0 * float((member_logits.mean(0).argmax(1) == labels).float().mean()), 4),
            "oracle_test_acc": round(100.0 * float(right.any(0).float().mean()), 4)}


def train_teacher_ensemble(specs: Sequence[str], protocol: Protocol, data: TrainData, *, epochs: float,
                           lr: float | None = None, augmentation: str = "crop_flip", seed: int = 0,
                           device: str | None = None, out: str | Path,
                           progress: Callable[[int, int], None] | None = None,
                           log: Callable[[str], None] | None = None):
    """Train one teacher per spec (member ``i`` with seed ``seed + i``) and write, next to ``out``:

    * each member's checkpoint (:func:`member_checkpoint_path`: ``OUT.m0.pt``, ``OUT.m1.pt``, ...);
    * the ensemble as one checkpoint at ``out`` (``build_teacher("checkpoint:OUT")`` is the ensemble);
    * the ensemble spec file (:func:`ensemble_spec_path`: ``OUT.ensemble.txt``) holding
      ``ensemble:checkpoint:OUT.m0.pt,checkpoint:OUT.m1.pt,...``, with paths relative to the file's folder (read it
      with :func:`read_teacher_spec`, or ``kd-bench build --teacher @OUT.ensemble.txt``).

    Returns ``(ensemble, info)``; ``info`` holds every member's record, the ensemble's test accuracy (mean logits)
    as ``test_acc``/``ensemble_test_acc`` and its oracle accuracy (some member right) as ``oracle_test_acc``."""
    from .teachers import TeacherEnsemble, save_teacher

    specs = list(specs)
    if len(specs) < 2:
        raise ValueError(f"an ensemble teacher needs at least 2 members, got {len(specs)}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    members, records = [], []
    for i, spec in enumerate(specs):
        path = member_checkpoint_path(out, i)
        model, info = train_teacher(spec, protocol, data, epochs=epochs, lr=lr, augmentation=augmentation,
                                    seed=seed + i, device=device, out=path, progress=progress)
        if log is not None:
            log(f"member {i}: {spec} seed {seed + i}: {info['test_acc']:.2f}% -> {path}")
        members.append(model.cpu().eval())
        records.append(info)
    ensemble = TeacherEnsemble(members).eval()
    arch_spec = "ensemble:" + ",".join(m.teacher_spec for m in members)
    dev = auto_device(device)
    ensemble.to(dev)
    logits = teacher_logits(ensemble, data.x_test.to(dev), protocol.eval_batch_size, members=True)
    accs = ensemble_accuracies(logits, data.y_test)
    ensemble.cpu()
    spec_file = ensemble_spec_path(out)
    member_spec = "ensemble:" + ",".join(f"checkpoint:{member_checkpoint_path(out, i).name}"
                                         for i in range(len(specs)))
    info = {"spec": arch_spec, "members": records, "test_acc": accs["ensemble_test_acc"], **accs,
            "checkpoint": out.name, "ensemble_spec_file": spec_file.name, "ensemble_spec": member_spec,
            "epochs": epochs, "lr": lr or protocol.lr, "augmentation": augmentation, "seed": seed,
            "dataset": data.dataset, "resolution": protocol.resolution, "channels": protocol.channels,
            "train_images": int(len(data.y_train))}
    save_teacher(ensemble, arch_spec, out, extra=info)
    write_text(spec_file, "# proxybench ensemble teacher; checkpoint paths are relative to this file's "
                                  "folder\n" + member_spec + "\n")
    return ensemble, info
