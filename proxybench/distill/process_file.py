"""A DistPro process (Deng et al., ECCV 2022): pathway weights as a function of training progress, as JSON.

Process (:class:`Process`, JSON via :func:`save_process` / :func:`load_process`): the pathway list, the transform
and normalization, and ``K`` points ``progress_k = (k + 1/2) / K``, each with the mean of the weights over the k-th
1/K of the search's steps (a mean of normalized weights, so ``softmax`` rows are non-negative and sum to 1), plus
the protocol and teacher it was learned with, the cells (each cell's own weights and held-out CE), the method,
seed and CPU seconds. :meth:`Process.weights_at` interpolates linearly between points and holds the first (last)
row before the first (after the last) point. Several cells are searched independently; the process is their mean.

:func:`proxybench.distill.process.search_process` learns one; the ``distpro`` distiller and the ``pathway_cka``
proxy read one.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..io import write_text
from .pathways import PATHWAY_SETS, TRANSFORMS, check_pathways, pathway_name

FORMAT = "proxybench-distpro-process"
VERSION = 1
NORMALIZATIONS = ("softmax", "sigmoid")
_SUM_TOL = 1e-4


def normalize_weights(logits: torch.Tensor, normalization: str = "softmax") -> torch.Tensor:
    """Pathway weights from logits: ``softmax`` (sum to 1) or ``sigmoid`` (each in [0, 1])."""
    if normalization == "softmax":
        return torch.softmax(logits, dim=-1)
    if normalization == "sigmoid":
        return torch.sigmoid(logits)
    raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")


# ---------------------------------------------------------------------------------------------------------------
# the process file
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class Process:
    """Pathway weights as a function of training progress (see the module docstring)."""

    pathways: list[tuple[int, int]]
    progress: list[float]
    weights: list[list[float]]  # one row of len(pathways) weights per progress point
    transform: str = "distpro"
    normalization: str = "softmax"
    pathway_set: str = "distpro"  # distpro | all | custom
    info: dict = field(default_factory=dict)  # protocol, teacher, cells, method, seed, cpu_seconds, ...

    def __post_init__(self):
        self.validate()

    def validate(self, where: str = "process") -> None:
        try:
            self.pathways = check_pathways(self.pathways)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        if self.transform not in TRANSFORMS:
            raise ValueError(f"{where}: transform must be one of {TRANSFORMS}, got {self.transform!r}")
        if self.normalization not in NORMALIZATIONS:
            raise ValueError(f"{where}: normalization must be one of {NORMALIZATIONS}, got {self.normalization!r}")
        if self.pathway_set not in (*PATHWAY_SETS, "custom"):
            raise ValueError(f"{where}: pathway_set must be one of {(*PATHWAY_SETS, 'custom')}, "
                             f"got {self.pathway_set!r}")
        prog = self.progress
        if (not isinstance(prog, (list, tuple)) or not prog
                or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in prog)):
            raise ValueError(f"{where}: progress must be a non-empty list of numbers, got {prog!r}")
        if any(not (0.0 <= v <= 1.0) for v in prog) or any(b <= a for a, b in zip(prog, prog[1:])):
            raise ValueError(f"{where}: progress points must increase strictly within [0, 1], got {list(prog)}")
        w = self.weights
        if not isinstance(w, (list, tuple)) or len(w) != len(prog):
            raise ValueError(f"{where}: weights must be a list of {len(prog)} rows (one per progress point), got "
                             f"{len(w) if isinstance(w, (list, tuple)) else type(w).__name__}")
        for k, row in enumerate(w):
            if (not isinstance(row, (list, tuple)) or len(row) != len(self.pathways)
                    or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in row)):
                raise ValueError(f"{where}: weights row {k} must hold {len(self.pathways)} numbers (one per "
                                 f"pathway), got {row!r}")
            if any(not math.isfinite(v) or v < 0 for v in row):
                raise ValueError(f"{where}: weights row {k} has a negative or non-finite weight: {list(row)}")
            if self.normalization == "softmax" and abs(sum(row) - 1.0) > _SUM_TOL:
                raise ValueError(f"{where}: softmax weights row {k} sums to {sum(row):.6f}, not 1")
            if self.normalization == "sigmoid" and any(v > 1.0 for v in row):
                raise ValueError(f"{where}: sigmoid weights row {k} has a weight above 1: {list(row)}")
        self.progress = [float(v) for v in prog]
        self.weights = [[float(v) for v in row] for row in w]

    @property
    def names(self) -> list[str]:
        return [pathway_name(p) for p in self.pathways]

    def weights_at(self, progress: float) -> list[float]:
        """The weights at a training progress in [0, 1]: linear between points, constant outside them."""
        w = np.asarray(self.weights, dtype=np.float64)
        return [float(np.interp(progress, self.progress, w[:, p])) for p in range(w.shape[1])]

    def mean_weights(self) -> list[float]:
        """The weights averaged over the process's points."""
        return np.asarray(self.weights, dtype=np.float64).mean(0).tolist()

    def to_dict(self) -> dict:
        head = {"format": FORMAT, "version": VERSION, "pathways": [list(p) for p in self.pathways],
                "pathway_names": self.names, "pathway_set": self.pathway_set, "transform": self.transform,
                "normalization": self.normalization, "progress": self.progress, "weights": self.weights}
        return {**head, **{k: v for k, v in self.info.items() if k not in head}}

    @classmethod
    def from_dict(cls, data: Any, where: str = "process") -> Process:
        if not isinstance(data, dict):
            raise ValueError(f"{where}: a process must be a JSON object, got {type(data).__name__}")
        if data.get("format") != FORMAT:
            raise ValueError(f"{where}: not a DistPro process file (format {data.get('format')!r}, expected "
                             f"{FORMAT!r}); write one with 'proxybench kd-bench process-search'")
        if data.get("version") != VERSION:
            raise ValueError(f"{where}: process format version {data.get('version')!r} is not supported "
                             f"(this proxybench reads version {VERSION})")
        missing = [k for k in ("pathways", "progress", "weights") if k not in data]
        if missing:
            raise ValueError(f"{where}: missing field(s) {missing}")
        fixed = {"format", "version", "pathways", "pathway_names", "pathway_set", "transform", "normalization",
                 "progress", "weights"}
        proc = cls.__new__(cls)
        proc.pathways = data["pathways"]
        proc.progress = data["progress"]
        proc.weights = data["weights"]
        proc.transform = data.get("transform", "distpro")
        proc.normalization = data.get("normalization", "softmax")
        proc.pathway_set = data.get("pathway_set", "custom")
        proc.info = {k: v for k, v in data.items() if k not in fixed}
        proc.validate(where)
        names = data.get("pathway_names")
        if names is not None and names != proc.names:
            raise ValueError(f"{where}: pathway_names {names} do not match pathways {proc.names}")
        return proc


def save_process(process: Process, path: str | Path) -> Path:
    """Write ``process`` as JSON (validated first)."""
    if not isinstance(process, Process):
        raise ValueError(f"save_process needs a Process, got {type(process).__name__}")
    process.validate()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text(path, json.dumps(process.to_dict(), indent=1) + "\n")


def load_process(path: str | Path) -> Process:
    """Read and validate a process JSON written by :func:`save_process` (or ``kd-bench process-search``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"process file {str(path)!r} does not exist; write one with "
                                "'proxybench kd-bench process-search'")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"process file {str(path)!r} is not valid JSON: {exc}") from None
    return Process.from_dict(data, where=f"process file {str(path)!r}")


def as_process(value: Any) -> Process:
    """A :class:`Process` from a Process, a dict (the JSON object) or a path."""
    if isinstance(value, Process):
        return value
    if isinstance(value, dict):
        return Process.from_dict(value)
    if isinstance(value, (str, Path)) and str(value).strip():
        return load_process(value)
    raise ValueError(f"a process must be a path to a process JSON file (or its object), got {value!r}")

