"""Training one planned run of a KD build, in this process or on a ``dask.distributed`` worker.

:class:`BuildJob` is what a training process needs (picklable); :func:`train_run` trains one run on a worker,
preparing the data, the teacher and its cached logits once per job; :func:`commit` adds a finished run to the store
and rewrites ``runs.csv``.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..worker_cache import KeyedCache
from .protocol import Protocol
from .runstore import RunStore, write_runs_csv
from .trainer import TrainData, auto_device, build_student, load_train_data, teacher_logits, train


@dataclass
class BuildJob:
    """What a process that trains runs needs (picklable): the protocol, the teacher (loaded by the client), the data
    (or where to load it from) and the device. ``key`` names the worker-side state built from it."""

    key: str
    protocol: dict
    teacher: Any = None
    data: TrainData | None = None
    data_root: str | None = None
    device: str | None = None
    threads: int | None = None



def check_teacher_for_distiller(protocol: Protocol, teacher):
    """The protocol's distiller, after checking that ``teacher`` suits it (an ensemble for ``oracle``)."""
    from .distillers import make_distiller
    from .teachers import ensemble_members, oracle_of

    if oracle_of(teacher) is not None:
        raise ValueError(f"teacher {getattr(teacher, 'teacher_spec', '')!r} is an @oracle ensemble: its oracle target "
                         "is for the KD-aware proxies. To train with Oracle KD, give the plain ensemble: spec and "
                         "\"distiller\": \"oracle\" in the protocol (\"distiller_options\": {\"fallback\": ...})")
    distiller = make_distiller(protocol)
    if distiller.needs_ensemble and len(ensemble_members(teacher)) < 2:
        raise ValueError(f"distiller {protocol.distiller!r} needs an ensemble teacher (ensemble:<spec>,<spec>,...; "
                         "e.g. kd-bench teacher --members 3); got one network")
    return distiller


class RunTrainer:
    """Trains runs of one :class:`BuildJob`: loads the data once, checks the teacher against it, and caches the
    teacher's logits on the training set when the protocol allows (no augmentation, logit distiller)."""

    def __init__(self, job: BuildJob):
        self.protocol = Protocol.from_dict(job.protocol)
        self.device = auto_device(job.device)
        self.data = job.data if job.data is not None else load_train_data(self.protocol, root=job.data_root)
        self.teacher = self.soft = None
        if job.teacher is not None:
            teacher = job.teacher.to(self.device).eval()
            with torch.no_grad():
                probe = teacher(self.data.x_train[:2].to(self.device).contiguous(memory_format=torch.channels_last))
            if probe.shape[1] != self.data.num_classes:
                raise ValueError(f"teacher {getattr(teacher, 'teacher_spec', '')} has {probe.shape[1]} outputs but "
                                 f"the data set has {self.data.num_classes} classes")
            distiller = check_teacher_for_distiller(self.protocol, teacher)
            if self.protocol.augmentation == "none" and not distiller.needs_features:
                self.soft = teacher_logits(teacher, self.data.x_train.to(self.device), members=True).cpu()
            else:
                self.teacher = teacher  # run on every (augmented) batch

    def run(self, run: dict) -> dict:
        """Train one planned run; the store row without ``finished_at``."""
        p = self.protocol
        model = build_student(run["arch"], p, self.data.num_classes, run["seed"])
        kd = run["mode"] == "kd"
        if kd and self.soft is None and self.teacher is None:
            raise ValueError("a kd run needs a teacher")
        res = train(model, self.data, p, mode=run["mode"], seed=run["seed"], soft_targets=self.soft if kd else None,
                    teacher=self.teacher if kd else None, device=self.device)
        row = {k: run[k] for k in ("arch_index", "arch", "seed", "mode")}
        row.update({k: getattr(res, k) for k in ("test_acc", "best_test_acc", "train_loss", "train_acc", "seconds",
                                                 "images_per_s", "steps", "images")})
        row.update(diverged=int(res.diverged), device=str(self.device), threads=torch.get_num_threads(),
                   torch=torch.__version__, protocol_key=p.training_key())
        return row


_WORKER_TRAINERS: KeyedCache[RunTrainer] = KeyedCache()


def train_run(job: BuildJob, run: dict) -> dict:
    """Train one run in a worker process (dask); the data, teacher and cached teacher logits of ``job`` are
    prepared once per worker and reused by every later run of the same job."""
    if job.threads:
        torch.set_num_threads(int(job.threads))
    trainer = _WORKER_TRAINERS.get(job.key, lambda: RunTrainer(job))
    row = trainer.run(run)
    row["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    return row


def commit(store: RunStore, build_dir: Path, row: dict) -> dict:
    row = dict(row, finished_at=time.strftime("%Y-%m-%dT%H:%M:%S"))
    store.add(row)
    write_runs_csv(store, build_dir / "runs.csv")
    return row

