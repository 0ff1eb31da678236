"""Teacher networks from spec strings: NB201 cells, CIFAR ResNets, saved checkpoints and ensembles.

Spec forms (see :func:`list_teachers`)::

    nb201:<arch string or official index>[@C=16,N=5]
    resnet20 | resnet32 | resnet44 | resnet56 | resnet110 (also resnet8, resnet14, resnet8x4, resnet32x4)
                                            [@shortcut=B|A]
    checkpoint:<path>[@arch=<spec>]
    ensemble:<spec>,<spec>,...[@oracle[=mean|label]]

Every teacher has the interface of :class:`~proxybench.benchmarks.nb201.network.NB201Network`: ``forward(x)`` ->
logits, ``forward_features(x)`` -> dict with ``stage1..3``, ``pre_pool``, ``pooled``, ``logits``; ``.classifier``
(``nn.Linear``) and ``.feature_dim``. Built teachers also carry ``teacher_spec`` (the architecture spec that
rebuilds them) and ``trained`` (False for a fresh random init, True for weights read from a checkpoint whose BN
layers have seen data; see :func:`is_trained`).

Ensembles (:class:`TeacherEnsemble`) average their members' logits. ``forward_features`` returns the mean
logits, the members' own feature dicts under ``members``, and, for convenience, the channel-wise concatenation of
the members' feature maps (each resized to the smallest member map by average pooling). The concatenated
``pooled`` features and the derived ``classifier`` (weights ``[W_1 .. W_M] / M``, bias ``mean(b_m)``) reproduce the
mean logits exactly. The KD-aware proxies and the distillation losses do not use the concatenation: for an
ensemble, logit losses (``kd``) use the mean logits, and every feature or relation distance is the mean of the
distances to each member (:func:`proxybench.distill.losses.distill_loss`). An ensemble of one therefore scores
exactly like its member.

``ensemble:...@oracle`` (Oracle KD, Kang, Mun & Han, AAAI 2020) is an ensemble whose ``oracle`` attribute names the
fallback for samples no member gets right (``mean``, the default, or ``label``; plain ensembles have ``None``). Its
networks compute what a plain ensemble's do; the oracle needs the batch labels, so it is the KD-aware proxies' teacher
pass (:mod:`proxybench.proxies.kd._teacher`) that turns the members' logits into the per-sample oracle target, as
logits (:func:`proxybench.distill.losses.oracle_logits`), and weighs the members' feature and relation distances by
their share of that target (:func:`proxybench.distill.losses.oracle_member_shares`). KD training takes the plain
``ensemble:`` spec with the ``oracle`` distiller instead; ``kd-bench build`` refuses an ``@oracle`` teacher.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..initialization import INIT_SCHEMES, initialize
from .losses import ORACLE_FALLBACKS
from .resnet_cifar import RESNETS, SHORTCUTS, CifarResNet, resnet

CHECKPOINT_FORMAT = "proxybench-teacher"
CHECKPOINT_VERSION = 1
_MEMBER_PREFIX = re.compile(r"^\s*(nb201:|resnet\d|checkpoint:|ensemble:)")
_ORACLE_SUFFIX = re.compile(r"@oracle(?:=([^@,]*))?\s*$")

_FORMS: list[tuple[str, str]] = [
    ("nb201:<arch>[@C=16,N=5]",
     "NAS-Bench-201 network for an arch string |op~0|+...| or an official index 0..15624; C channels, N cells"),
    ("resnet20|resnet32|resnet44|resnet56|resnet110[@shortcut=B|A]",
     "CIFAR ResNet (He et al. 2016), widths 16/32/64; shortcut B = Conv1x1+BN (RepDistiller, default), "
     "A = zero-padding"),
    ("resnet8|resnet14|resnet8x4|resnet32x4[@shortcut=B|A]",
     "RepDistiller's other CIFAR ResNets (x4: widths 64/128/256)"),
    ("checkpoint:<path>[@arch=<spec>]",
     "weights saved by proxybench.distill.teachers.save_teacher (architecture read from the file), or a plain "
     "state_dict of the architecture named by @arch="),
    ("ensemble:<spec>,<spec>,...",
     "average of the members' logits; feature distances are averaged over members"),
    ("ensemble:<spec>,<spec>,...@oracle[=mean|label]",
     "for the KD-aware proxies (needs labels): per sample the oracle target of Oracle KD (Kang et al., AAAI "
     "2020), the mean softmax of the members that classify it correctly (none right: all members, or with "
     "=label the one-hot label), given as logits log(max(p, 1e-30)); feature distances weighted by each "
     "member's share of the batch's target. Not for kd-bench build (use the oracle distiller)"),
]


def list_teachers() -> list[tuple[str, str]]:
    """The accepted teacher spec forms, as (pattern, description) pairs."""
    return list(_FORMS)


def _valid_forms() -> str:
    return "; ".join(p for p, _ in _FORMS)


def _bad_spec(spec: Any, why: str) -> ValueError:
    return ValueError(f"bad teacher spec {spec!r}: {why}. Valid forms: {_valid_forms()}")


# ---- ensembles --------------------------------------------------------------------------------------------------
class TeacherEnsemble(nn.Module):
    """Several teachers whose logits are averaged (see the module docstring for what features mean here)."""

    def __init__(self, members: list[nn.Module], oracle: str | None = None):
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        if oracle is not None and oracle not in ORACLE_FALLBACKS:
            raise ValueError(f"oracle must be None or one of {ORACLE_FALLBACKS}, got {oracle!r}")
        self.oracle = oracle
        classes = {int(m.classifier.out_features) for m in members}
        if len(classes) != 1:
            raise ValueError(f"ensemble members disagree on the number of classes: {sorted(classes)}")
        self.members = nn.ModuleList(members)
        self.num_classes = classes.pop()
        self.feature_dim = sum(int(m.feature_dim) for m in members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(x) for m in self.members]).mean(0)

    def forward_features(self, x: torch.Tensor) -> dict[str, Any]:
        feats = [m.forward_features(x) for m in self.members]
        out: dict[str, Any] = {"members": feats, "logits": torch.stack([f["logits"] for f in feats]).mean(0)}
        for key in ("stem", "stage1", "stage2", "stage3", "pre_pool", "pooled"):
            if all(key in f for f in feats):
                out[key] = concat_features([f[key] for f in feats])
        return out

    @property
    def classifier(self) -> nn.Linear:
        """A derived linear head on the concatenated ``pooled`` features that gives the mean logits:
        weight ``[W_1 .. W_M] / M``, bias ``mean(b_m)``. It is a detached copy; training it changes nothing."""
        heads = [m.classifier for m in self.members]
        head = nn.Linear(self.feature_dim, self.num_classes, bias=True)
        with torch.no_grad():
            head.weight.copy_(torch.cat([h.weight.detach() for h in heads], dim=1) / len(heads))
            biases = [h.bias.detach() if h.bias is not None else torch.zeros(self.num_classes) for h in heads]
            head.bias.copy_(torch.stack(biases).mean(0))
        return head.to(heads[0].weight.device)


def concat_features(maps: list[torch.Tensor]) -> torch.Tensor:
    """Concatenate feature tensors along channels; 4-D maps are average-pooled to the smallest spatial size."""
    if maps[0].dim() == 4:
        h = min(m.shape[2] for m in maps)
        w = min(m.shape[3] for m in maps)
        maps = [m if m.shape[2:] == (h, w) else F.adaptive_avg_pool2d(m, (h, w)) for m in maps]
    return torch.cat(maps, dim=1)


def ensemble_members(teacher: nn.Module) -> list[nn.Module]:
    """The members of an ensemble teacher, or ``[teacher]``."""
    members = getattr(teacher, "members", None)
    return list(members) if isinstance(members, nn.ModuleList) else [teacher]


# ---- spec parsing ------------------------------------------------------------------------------------------------
def _parse_options(spec: str, text: str, allowed: dict[str, type]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in text.split(","):
        key, eq, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or key not in allowed:
            raise _bad_spec(spec, f"unknown option {item!r} (valid options here: {', '.join(allowed)})")
        try:
            out[key] = allowed[key](value)
        except ValueError:
            raise _bad_spec(spec, f"option {key} must be {allowed[key].__name__}, got {value!r}") from None
    return out


def split_oracle(spec: str) -> tuple[str, str | None]:
    """``(spec without its @oracle suffix, fallback)``; fallback ``None`` when the spec has no ``@oracle``.

    ``@oracle`` and ``@oracle=mean`` give ``mean``, ``@oracle=label`` gives ``label``; it is valid only at the end
    of an ``ensemble:`` spec (a ``ValueError`` naming the valid forms otherwise)."""
    text = str(spec).strip()
    m = _ORACLE_SUFFIX.search(text)
    if m is None:
        if "@oracle" in text:
            raise _bad_spec(spec, "@oracle must end the spec, after the last ensemble member")
        return text, None
    fallback = "mean" if m.group(1) is None else m.group(1).strip()
    if fallback not in ORACLE_FALLBACKS:
        raise _bad_spec(spec, f"@oracle={fallback} is not a fallback; valid: @oracle, "
                              + ", ".join(f"@oracle={f}" for f in ORACLE_FALLBACKS))
    base = text[:m.start()].strip()
    if not base.startswith("ensemble:"):
        raise _bad_spec(spec, "@oracle applies only to an ensemble: spec (the oracle picks, per sample, the members "
                              "that classify it correctly)")
    return base, fallback


def oracle_of(teacher: Any) -> str | None:
    """The oracle fallback of an ``@oracle`` ensemble teacher (``mean`` or ``label``), else ``None``."""
    return getattr(teacher, "oracle", None)


def split_ensemble(spec: str) -> list[str]:
    """The member specs of ``ensemble:<spec>,<spec>,...`` (commas inside a member's ``@k=v,k=v`` are kept; an
    ``@oracle`` suffix is not part of the last member, see :func:`split_oracle`)."""
    body = split_oracle(spec)[0].split(":", 1)[1]
    members: list[str] = []
    for chunk in body.split(","):
        if _MEMBER_PREFIX.match(chunk):
            members.append(chunk.strip())
        elif members:
            members[-1] += "," + chunk
        else:
            raise _bad_spec(spec, f"ensemble member {chunk.strip()!r} is not a teacher spec")
    if not members:
        raise _bad_spec(spec, "an ensemble needs at least one member")
    return members


def _build_nb201(spec: str, num_classes: int, in_channels: int) -> nn.Module:
    from ..benchmarks import nb201

    body = spec.split(":", 1)[1].strip()
    arch_text, _, opts = body.partition("@")
    cfg = {"C": 16, "N": 5}
    if opts:
        cfg.update(_parse_options(spec, opts, {"C": int, "N": int}))
    arch_text = arch_text.strip()
    if not arch_text:
        raise _bad_spec(spec, "no NB201 arch given")
    arch: str | int = int(arch_text) if arch_text.lstrip("-").isdigit() else arch_text
    try:
        model = nb201.build_network(arch, C=cfg["C"], N=cfg["N"], num_classes=num_classes, in_channels=in_channels)
    except (ValueError, IndexError, KeyError) as exc:
        raise _bad_spec(spec, str(exc)) from None
    suffix = "" if (cfg["C"], cfg["N"]) == (16, 5) else f"@C={cfg['C']},N={cfg['N']}"
    model.teacher_spec = f"nb201:{model.arch}{suffix}"
    return model


def _build_resnet(spec: str, num_classes: int, in_channels: int) -> CifarResNet:
    name, _, opts = spec.strip().partition("@")
    shortcut = "B"
    if opts:
        shortcut = _parse_options(spec, opts, {"shortcut": str})["shortcut"].upper()
        if shortcut not in SHORTCUTS:
            raise _bad_spec(spec, f"shortcut must be one of {', '.join(SHORTCUTS)}, got {shortcut!r}")
    if name not in RESNETS:
        raise _bad_spec(spec, f"unknown ResNet {name!r} (valid: {', '.join(RESNETS)})")
    model = resnet(name, num_classes=num_classes, in_channels=in_channels, shortcut=shortcut)
    model.teacher_spec = name if shortcut == "B" else f"{name}@shortcut={shortcut}"
    return model


def _build_architecture(spec: str, num_classes: int, in_channels: int, seed: int, init: str) -> nn.Module:
    """Build a random-init network for an architecture spec (nb201:, resnet*, ensemble: of those)."""
    text = spec.strip()
    if text.startswith("nb201:"):
        model = _build_nb201(text, num_classes, in_channels)
    elif text.startswith("resnet"):
        model = _build_resnet(text, num_classes, in_channels)
    elif text.startswith("ensemble:"):
        return _build_ensemble(text, num_classes, in_channels, seed, init)
    elif text.startswith("checkpoint:"):
        raise _bad_spec(spec, "a checkpoint is not an architecture")
    else:
        raise _bad_spec(spec, "unrecognized form")
    initialize(model, init, seed)
    model.trained = False
    return model


def _build_ensemble(spec: str, num_classes: int, in_channels: int, seed: int, init: str) -> TeacherEnsemble:
    oracle = split_oracle(spec)[1]
    members = []
    for i, member in enumerate(split_ensemble(spec)):
        if member.startswith("ensemble:"):
            raise _bad_spec(spec, "nested ensembles are not supported; list the members in one ensemble")
        # member i is seeded with seed + i, so an ensemble of one equals that teacher built with the same seed
        members.append(build_teacher(member, num_classes, in_channels, seed=seed + i, init=init))
    ensemble = TeacherEnsemble(members, oracle=oracle)
    suffix = "" if oracle is None else "@oracle" if oracle == "mean" else f"@oracle={oracle}"
    ensemble.teacher_spec = "ensemble:" + ",".join(m.teacher_spec for m in members) + suffix
    ensemble.trained = all(getattr(m, "trained", False) for m in members)
    return ensemble


def build_teacher(spec: str, num_classes: int = 10, in_channels: int = 3, *, seed: int = 0,
                  init: str = "default") -> nn.Module:
    """The teacher network for ``spec`` (see :func:`list_teachers`), randomly initialized by ``init`` (one of
    :data:`~proxybench.initialization.INIT_SCHEMES`) from ``seed``, or loaded from a checkpoint.

    For ``checkpoint:`` specs the number of classes and input channels stored in the file are used (a plain
    state_dict: read from its first convolution and classifier weights). Raises ``ValueError`` naming the valid
    forms for a bad spec.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise _bad_spec(spec, "a teacher spec must be a non-empty string")
    if init not in INIT_SCHEMES:
        raise ValueError(f"unknown init scheme {init!r}; valid: {', '.join(INIT_SCHEMES)}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    for name, value in (("num_classes", num_classes), ("in_channels", in_channels)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    text = spec.strip()
    split_oracle(text)  # a misplaced or malformed @oracle fails here, naming the valid forms
    if text.startswith("checkpoint:"):
        path, _, arch = text[len("checkpoint:"):].partition("@arch=")
        return load_teacher(path.strip(), arch=arch.strip() or None, num_classes=num_classes,
                            in_channels=in_channels)
    return _build_architecture(text, num_classes, in_channels, seed, init)


# ---- checkpoints ---------------------------------------------------------------------------------------------------
def _check_plain(value: Any, where: str) -> None:
    if value is None or isinstance(value, (str, int, float, bool)):
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_plain(v, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValueError(f"{where} keys must be strings, got {k!r}")
            _check_plain(v, f"{where}[{k!r}]")
        return
    raise ValueError(f"{where} must hold only str/int/float/bool/None/list/dict values, got "
                     f"{type(value).__name__}")


def _first_conv(model: nn.Module) -> nn.Conv2d | None:
    return next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)


def bn_has_seen_data(model: nn.Module) -> bool:
    """True when some BatchNorm layer of ``model`` has tracked at least one batch."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.num_batches_tracked is not None:
            if int(m.num_batches_tracked) > 0:
                return True
    return False


def is_trained(model: nn.Module) -> bool:
    """Whether a teacher counts as trained: marked ``trained = True`` (a checkpoint), or its BN layers have tracked
    data (e.g. it was trained after :func:`build_teacher` marked it untrained)."""
    return bool(getattr(model, "trained", False)) or bn_has_seen_data(model)


def save_teacher(model: nn.Module, spec: str | None, path: str | Path, extra: dict | None = None) -> Path:
    """Save ``model`` with its architecture ``spec`` (default: ``model.teacher_spec``), number of classes, input
    channels and state_dict, so that ``build_teacher("checkpoint:<path>")`` restores it. ``extra`` is a dict of
    plain values (str/int/float/bool/None/list/dict), e.g. training accuracy and protocol."""
    spec = spec if spec is not None else getattr(model, "teacher_spec", None)
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError("save_teacher needs the architecture spec (e.g. 'resnet56' or 'nb201:<arch>'); the model "
                         "has no teacher_spec attribute")
    if spec.strip().startswith("checkpoint:"):
        raise ValueError(f"save_teacher needs an architecture spec, not a checkpoint: {spec!r}")
    extra = dict(extra or {})
    _check_plain(extra, "extra")
    head = getattr(model, "classifier", None)
    conv = _first_conv(model)
    if not isinstance(head, nn.Linear) or conv is None:
        raise ValueError("save_teacher needs a network with a .classifier nn.Linear and a convolution")
    num_classes, in_channels = int(head.out_features), int(conv.in_channels)
    template = _build_architecture(spec, num_classes, in_channels, 0, "default")
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    expected = {k: tuple(v.shape) for k, v in template.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state.items()}
    if expected != got:
        diff = sorted(set(expected.items()) ^ set(got.items()))[:4]
        raise ValueError(f"the model's weights do not fit architecture {spec!r} (first differences: {diff})")
    payload = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "spec": template.teacher_spec,
               "num_classes": num_classes, "in_channels": in_channels, "trained": is_trained(model),
               "member_trained": [is_trained(m) for m in ensemble_members(model)], "state_dict": state,
               "extra": extra}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, path)
    return path


def _plain_state_dict(obj: Any) -> dict | None:
    if isinstance(obj, dict):
        if obj and all(isinstance(k, str) and torch.is_tensor(v) for k, v in obj.items()):
            return obj
        for key in ("state_dict", "model"):
            if key in obj:
                return _plain_state_dict(obj[key])
    return None


def load_teacher(path: str | Path, arch: str | None = None, num_classes: int = 10,
                 in_channels: int = 3) -> nn.Module:
    """A teacher from a checkpoint: a file written by :func:`save_teacher` (its architecture, classes and input
    channels come from the file), or a plain state_dict (``{name: tensor}``, or one under a ``model`` or
    ``state_dict`` key) of the architecture ``arch``. The teacher is returned in eval mode."""
    path = Path(path)
    if not str(path):
        raise _bad_spec("checkpoint:", "no checkpoint path given")
    if not path.is_file():
        raise FileNotFoundError(f"teacher checkpoint {str(path)!r} does not exist")
    if path.stat().st_size == 0:
        raise ValueError(f"teacher checkpoint {str(path)!r} is empty (0 bytes); write one with "
                         "'proxybench kd-bench teacher' or proxybench.distill.teachers.save_teacher")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        # say what is wrong in one line: torch's own message appends advice about weights_only that does not apply
        import zipfile

        if not zipfile.is_zipfile(path):
            reason = "not a zip archive as torch.save writes: truncated, or another kind of file"
        elif "weights_only" in str(exc) or "Weights only load failed" in str(exc):
            reason = "it holds Python objects other than tensors and plain containers"
        else:
            reason = (str(exc).strip().split(". ")[0] or type(exc).__name__)[:160]
        raise ValueError(f"teacher checkpoint {str(path)!r} is not a readable PyTorch checkpoint ({reason}). "
                         "Write one with 'proxybench kd-bench teacher' or save_teacher") from None
    if isinstance(obj, dict) and obj.get("format") == CHECKPOINT_FORMAT:
        stored = obj.get("spec")
        if arch is not None and arch != stored:
            raise ValueError(f"checkpoint {str(path)!r} holds architecture {stored!r}, but @arch={arch!r} was given")
        try:
            model = _build_architecture(str(stored), int(obj["num_classes"]), int(obj["in_channels"]), 0, "default")
        except ValueError as exc:
            raise ValueError(f"checkpoint {str(path)!r} holds an architecture proxybench cannot build "
                             f"({stored!r}): {exc}") from None
        state = obj["state_dict"]
        trained = bool(obj.get("trained", True))
        member_trained = list(obj.get("member_trained") or [])
    else:
        state = _plain_state_dict(obj)
        if state is None:
            raise ValueError(f"{str(path)!r} is neither a proxybench teacher checkpoint (save_teacher) nor a "
                             "state_dict of tensors")
        if arch is None:
            raise ValueError(f"{str(path)!r} is a plain state_dict without an architecture; name it with "
                             f"'checkpoint:{path}@arch=<spec>'. Valid forms: {_valid_forms()}")
        model = _build_architecture(arch, num_classes, in_channels, 0, "default")
        names = {id(p): n for n, p in model.named_parameters()}
        head_key = names.get(id(model.classifier.weight))
        conv = _first_conv(model)
        conv_key = names.get(id(conv.weight)) if conv is not None else None
        k = int(state[head_key].shape[0]) if head_key in state else num_classes
        c = int(state[conv_key].shape[1]) if conv_key in state else in_channels
        if (k, c) != (num_classes, in_channels):
            model = _build_architecture(arch, k, c, 0, "default")
        trained = bn_has_seen_data_state(state)
        member_trained = []
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"checkpoint {str(path)!r} does not fit architecture {model.teacher_spec!r}: {exc}") from None
    members = ensemble_members(model)
    if len(member_trained) != len(members):
        member_trained = [trained] * len(members)
    for m, flag in zip(members, member_trained):
        m.trained = bool(flag)
    model.trained = trained
    return model.eval()


def bn_has_seen_data_state(state: dict) -> bool:
    """Whether a state_dict's BN ``num_batches_tracked`` counters are positive (True when it has none)."""
    counters = [v for k, v in state.items() if k.endswith("num_batches_tracked")]
    return not counters or any(int(v) > 0 for v in counters)


def describe(model: nn.Module) -> str:
    """One line: spec, parameters (M), trained or random init."""
    params = sum(p.numel() for p in model.parameters()) / 1e6
    state = "trained" if is_trained(model) else "random init"
    return f"{getattr(model, 'teacher_spec', type(model).__name__)} ({params:.3f} M params, {state})"

