"""Training protocols: every setting that decides a trained accuracy, recorded with every result."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

SCHEDULES = ("onecycle", "cosine", "constant")
AUGMENTATIONS = ("none", "crop_flip")
MODES = ("vanilla", "kd")
KD_ONLY_FIELDS = ("alpha", "temperature", "distiller", "distiller_options", "teacher", "transfer_set")
# fields added after the first builds: left out of the hashes at their defaults, so earlier protocols keep their keys
_LATER_DEFAULTS = (("distiller", "kd"), ("distiller_options", {}), ("label_noise", 0.0), ("transfer_set", 0))


@dataclass(frozen=True)
class Protocol:
    """How students (and the teacher) are trained and evaluated.

    The student budget is ``epochs`` passes over ``train_subset`` training images (all when ``None``). The KD
    loss is ``(1 - alpha) * CE + alpha * T^2 * KL(p_t^T || p_s^T)`` (Hinton et al. 2015); vanilla is CE alone
    under the same optimizer, schedule and budget. ``distiller`` names the KD loss
    (:func:`proxybench.distill.distillers.list_distillers`: ``kd``, ``oracle``, ``distpro``), with its options in
    ``distiller_options``. With ``augmentation`` the teacher sees the student's augmented view (consistent teaching).

    ``label_noise`` replaces that fraction of the students' training labels by a uniformly drawn *other* class
    (fixed by ``data_seed``; the test set and a checkpoint teacher stay clean). ``transfer_set`` adds that many
    further training images, outside the labelled subset, that only KD runs see and only through the teacher's
    soft labels (Hinton et al.'s transfer set): the cross-entropy term covers the labelled images of a batch, the
    KD term all of them. The step budget is ``epochs`` passes over the labelled images in both modes.
    """

    name: str = "custom"
    dataset: str = "fashion-mnist"
    resolution: int = 16
    channels: int = 3
    train_subset: int | None = None
    epochs: float = 1.0
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    schedule: str = "onecycle"
    augmentation: str = "none"
    alpha: float = 0.9
    temperature: float = 4.0
    distiller: str = "kd"
    distiller_options: dict = field(default_factory=dict)
    C: int = 16
    N: int = 5
    init: str = "default"
    eval_batch_size: int = 1000
    data_seed: int = 0
    teacher: dict = field(default_factory=dict)
    label_noise: float = 0.0
    transfer_set: int = 0
    notes: str = ""

    def __post_init__(self):
        checks = [
            ("resolution", self.resolution, lambda v: isinstance(v, int) and v >= 4 and v % 4 == 0,
             "a positive multiple of 4"),
            ("channels", self.channels, lambda v: v in (1, 3), "1 or 3"),
            ("train_subset", self.train_subset, lambda v: v is None or (isinstance(v, int) and v > 0),
             "a positive integer or null"),
            ("epochs", self.epochs, lambda v: isinstance(v, (int, float)) and v > 0, "> 0"),
            ("batch_size", self.batch_size, lambda v: isinstance(v, int) and v > 0, "a positive integer"),
            ("lr", self.lr, lambda v: isinstance(v, (int, float)) and v > 0, "> 0"),
            ("momentum", self.momentum, lambda v: 0 <= v < 1, "in [0, 1)"),
            ("weight_decay", self.weight_decay, lambda v: v >= 0, ">= 0"),
            ("schedule", self.schedule, lambda v: v in SCHEDULES, f"one of {SCHEDULES}"),
            ("augmentation", self.augmentation, lambda v: v in AUGMENTATIONS, f"one of {AUGMENTATIONS}"),
            ("alpha", self.alpha, lambda v: 0 <= v <= 1, "in [0, 1]"),
            ("temperature", self.temperature, lambda v: v > 0, "> 0"),
            ("distiller", self.distiller, lambda v: isinstance(v, str) and bool(v.strip()), "a distiller name"),
            ("distiller_options", self.distiller_options, lambda v: isinstance(v, dict), "a JSON object"),
            ("label_noise", self.label_noise, lambda v: isinstance(v, (int, float)) and 0 <= v < 1, "in [0, 1)"),
            ("transfer_set", self.transfer_set, lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
             "an integer >= 0"),
        ]
        for name, value, ok, valid in checks:
            try:
                good = ok(value)
            except TypeError:
                good = False
            if not good:
                raise ValueError(f"protocol field {name}={value!r} is invalid; must be {valid}")

    # ---- (de)serialization -------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Protocol:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown protocol field(s) {unknown}; valid fields: {sorted(names)}")
        return cls(**data)

    @classmethod
    def from_file(cls, path: str | Path) -> Protocol:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"protocol file {path} does not exist")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"protocol file {path} is not valid JSON: {exc}") from None
        return cls.from_dict(data)

    def save(self, path: str | Path) -> None:
        """Write the protocol as JSON (atomically: a build directory never holds a half-written protocol)."""
        from ..io import write_text

        write_text(path, json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    def training_key(self) -> str:
        """Hash of every field that changes a trained accuracy (``name`` and ``notes`` excluded)."""
        d = _without_later_defaults({k: v for k, v in self.to_dict().items() if k not in ("name", "notes")})
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    def vanilla_key(self) -> str:
        """Hash of the fields that change a *vanilla* run's accuracy: the training key without the KD-only fields
        (alpha, temperature, distiller, its options, teacher). Two protocols with equal vanilla keys train
        identical vanilla students, so one build can reuse the other's vanilla runs."""
        d = _without_later_defaults({k: v for k, v in self.to_dict().items()
                                     if k not in ("name", "notes", *KD_ONLY_FIELDS)})
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    def replace(self, **changes) -> Protocol:
        return dataclasses.replace(self, **changes)


def _without_later_defaults(d: dict) -> dict:
    for key, default in _LATER_DEFAULTS:
        if key in d and d[key] == default:
            d.pop(key)
    return d
