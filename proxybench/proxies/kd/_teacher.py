"""Shared passes of the KD-aware proxies: the teacher's and the student's forward features.

``teacher_features`` runs the teacher once per input batch. Within one context it is a shared pass; across
contexts (a run over many students on the same batch) its result is kept in a small LRU keyed by the teacher's
identity and the version counters of its weights (an in-place update such as an optimizer step or
``load_state_dict`` makes a new key), the inputs and targets (shape, dtype, device and a digest of the values), the
BN mode and the seed. Entries hold a reference to their teacher, so its id cannot be reused while it is cached.

Teacher BN mode (option ``teacher_bn``: ``auto`` | ``train`` | ``eval``). ``auto``: a trained teacher (one read
from a checkpoint, or any network whose BN layers have tracked data) runs in eval mode with its running
statistics; a random-init teacher runs with train-mode BN, i.e. normalized by the statistics of the batch, which
is how DisWOT scores random-init teacher/student pairs (its students run that way too) and keeps deep random
ResNets from blowing up. Ensemble members are resolved one by one. The teacher is never modified: a train-mode
pass runs on a deep copy (train-mode BN would update the running statistics); an eval-mode pass runs the teacher
itself under ``torch.no_grad`` and restores every module's training flag.

The student runs in train mode (batch statistics), as every standard proxy does: its features are those of the
shared ``train_forward`` pass (:mod:`proxybench.proxies.passes`) when its ``forward`` goes through
``forward_features``, else those of a forward of ``ctx.fresh_model()``.

Both passes return ``forward_features`` dicts, detached, plus ``head_grad`` (the cross-entropy gradient of the
classifier weights, for DisWOT's semantic term) when labels are given. An ensemble teacher gives
``{"logits": mean of the members' logits, "members": [member dicts]}``, which
:func:`proxybench.distill.losses.distill_loss` scores as the mean distance to the members.

An ``ensemble:...@oracle`` teacher (Oracle KD, Kang, Mun & Han, AAAI 2020) needs the batch labels (the context's
targets; a ``ProxyError`` without them) and gives, besides ``members``:

* ``logits``: the per-sample oracle target as logits, ``log(max(p, 1e-30))`` with ``p`` the mean softmax (T=1) of
  the members that classify the sample correctly, or the fallback where none does
  (:func:`proxybench.distill.losses.oracle_logits`); the ``kd`` proxy tempers them with its own temperature, which
  for a single correct member equals tempering that member's logits;
* ``member_weights``: each member's share of the batch's oracle target
  (:func:`proxybench.distill.losses.oracle_member_shares`), by which every feature and relation distance (DisWOT's
  relation and semantic terms, RKD, PKT, ...) averages the members: a batch-level Gram cannot pick a member per
  sample, so the members count as often as the oracle picks them;
* ``oracle``: the fallback (``mean`` or ``label``).

``ctx.teacher`` may be a network or a teacher spec string (built once per (spec, classes, channels, seed) by
:func:`proxybench.distill.teachers.build_teacher`, seed from option ``teacher_seed``, default 0).
"""

from __future__ import annotations

import copy
import hashlib
import threading
from collections import OrderedDict
from typing import Any

import torch
from torch import nn

from ...distill.losses import classifier_ce_gradient, distill_loss, oracle_logits, oracle_member_shares
from ...distill.teachers import build_teacher, ensemble_members, is_trained, oracle_of
from ..context import ProxyContext
from ..errors import ProxyError
from ..options import parse_options
from ..pass_registry import register_pass
from ..registry import TEACHER_OPTIONS

BN_OPTIONS = ("auto", "train", "eval")
CACHE_SIZE = 8

_cache: OrderedDict[tuple, tuple[Any, ...]] = OrderedDict()
_built: OrderedDict[tuple, nn.Module] = OrderedDict()
_stats = {"hits": 0, "misses": 0, "teacher_forwards": 0}
# threaded workers (dask threads) share the caches: one lookup-or-compute at a time, so a teacher batch is run
# once even when several students ask for it together
_lock = threading.RLock()


def clear_teacher_cache() -> None:
    """Forget cached teacher outputs and teachers built from spec strings."""
    with _lock:
        _cache.clear()
        _built.clear()
        for k in _stats:
            _stats[k] = 0


def teacher_cache_info() -> dict[str, int]:
    """Cache statistics: ``hits``, ``misses``, ``teacher_forwards`` (member forward passes run), ``size``."""
    with _lock:
        return dict(_stats, size=len(_cache))


def resolve_teacher(ctx: ProxyContext) -> nn.Module:
    seed = parse_options(TEACHER_OPTIONS, ctx.given_options, "the teacher", strict=False)["teacher_seed"]
    with _lock:
        return _resolve_teacher(ctx, seed)


def _resolve_teacher(ctx: ProxyContext, seed: int) -> nn.Module:
    teacher = ctx.teacher
    if isinstance(teacher, str):
        key = (teacher, ctx.num_classes, int(ctx.inputs.shape[1]), seed)
        if key not in _built:
            try:
                _built[key] = build_teacher(teacher, num_classes=key[1], in_channels=key[2], seed=seed)
            except (ValueError, FileNotFoundError) as exc:
                raise ProxyError(str(exc)) from None
            while len(_built) > CACHE_SIZE:
                _built.popitem(last=False)
        _built.move_to_end(key)
        return _built[key]
    if not isinstance(teacher, nn.Module):
        raise ProxyError(f"teacher must be a torch.nn.Module or a teacher spec string, got {type(teacher).__name__}")
    return teacher


def member_bn_mode(member: nn.Module, option: str) -> str:
    if option not in BN_OPTIONS:
        raise ProxyError(f"teacher_bn must be one of {', '.join(BN_OPTIONS)}, got {option!r}")
    if option != "auto":
        return option
    return "eval" if is_trained(member) else "train"


def _tensor_key(t: torch.Tensor | None) -> tuple | None:
    """Shape, dtype, device and a digest of the values (about 2 ms for a 64 x 3 x 32 x 32 batch), so a batch
    re-created with the same values still hits the cache."""
    if t is None:
        return None
    data = t.detach().contiguous().cpu().numpy().tobytes()
    return (tuple(t.shape), t.dtype, str(t.device), hashlib.blake2b(data, digest_size=16).hexdigest())


def _weights_version(model: nn.Module) -> int:
    return sum(p._version for p in model.parameters()) + sum(b._version for b in model.buffers())


def _features(net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor | None, who: str) -> dict[str, Any]:
    if not callable(getattr(net, "forward_features", None)):
        raise ProxyError(f"the {who} ({type(net).__name__}) has no forward_features(x) method returning a dict of "
                         "features (stage1..3, pre_pool, pooled, logits); NB201 networks and proxybench teachers do")
    with torch.no_grad():
        raw = net.forward_features(inputs)
    return _detached_features(raw, targets, who)


def _detached_features(raw: dict, targets: torch.Tensor | None, who: str) -> dict[str, Any]:
    feats = {k: v.detach() for k, v in raw.items() if torch.is_tensor(v) and k != "stem"}  # no distiller uses stem
    for key in ("pooled", "logits"):
        if key not in feats:
            raise ProxyError(f"the {who}'s forward_features gave no {key!r} (got {', '.join(sorted(feats))})")
    if targets is not None:
        feats["head_grad"] = classifier_ce_gradient(feats["pooled"], feats["logits"], targets)
    return feats


def _run_member(member: nn.Module, mode: str, inputs: torch.Tensor, targets: torch.Tensor | None) -> dict:
    param = next(member.parameters(), None)
    foreign = param is not None and (param.device != inputs.device or param.dtype != inputs.dtype)
    if mode == "train" or foreign:
        net = copy.deepcopy(member)
        if foreign:
            net = net.to(device=inputs.device, dtype=inputs.dtype)
        net.train(mode == "train")
        return _features(net, inputs, targets, "teacher")
    flags = [(m, m.training) for m in member.modules()]
    try:
        member.eval()
        return _features(member, inputs, targets, "teacher")
    finally:
        for m, flag in flags:
            m.training = flag


@register_pass("teacher_features", bn="any", options=TEACHER_OPTIONS)
def teacher_features(ctx: ProxyContext) -> dict[str, Any]:
    """The teacher's features on the context's first batch (see the module docstring)."""
    if ctx.teacher is None:
        raise ProxyError("this proxy needs a teacher network (option teacher=...), none was given")
    with _lock:
        return _teacher_features(ctx)


def _teacher_features(ctx: ProxyContext) -> dict[str, Any]:
    teacher = _resolve_teacher(ctx, ctx.option("teacher_seed"))
    option = ctx.option("teacher_bn")
    oracle = oracle_of(teacher)
    if oracle is not None and ctx.targets is None:
        raise ProxyError(f"the teacher {getattr(teacher, 'teacher_spec', 'ensemble')!r} is an @oracle ensemble, "
                         "whose per-sample target needs the batch labels; none were given")
    members = ensemble_members(teacher)
    modes = tuple(member_bn_mode(m, option) for m in members)
    key = (id(teacher), _weights_version(teacher), modes, _tensor_key(ctx.inputs), _tensor_key(ctx.targets),
           ctx.seed)
    hit = _cache.get(key)
    if hit is not None and hit[0] is teacher:
        _cache.move_to_end(key)
        _stats["hits"] += 1
        return hit[1]
    _stats["misses"] += 1
    outs = []
    for member, mode in zip(members, modes):
        outs.append(_run_member(member, mode, ctx.inputs, ctx.targets))
        _stats["teacher_forwards"] += 1
    if len(members) == 1 and members[0] is teacher:
        result = outs[0]
    elif oracle is not None:
        member_logits = [o["logits"] for o in outs]
        result = {"logits": oracle_logits(member_logits, ctx.targets, fallback=oracle), "members": outs,
                  "member_weights": oracle_member_shares(member_logits, ctx.targets), "oracle": oracle}
    else:
        result = {"logits": torch.stack([o["logits"] for o in outs]).mean(0), "members": outs}
    result["bn_modes"] = modes
    _cache[key] = (teacher, result)
    while len(_cache) > CACHE_SIZE:
        _cache.popitem(last=False)
    return result


@register_pass("kd_student_features", bn="train")
def student_features(ctx: ProxyContext) -> dict[str, Any]:
    """The student's features on the first batch, network in train mode (batch statistics): those the shared
    ``train_forward`` pass kept (one forward serves the standard and the KD-aware proxies; the values are those
    of a forward of its own), or, for a network whose ``forward`` does not go through ``forward_features``, a
    forward of a fresh copy."""
    try:
        fw = ctx.pass_("train_forward")
    except ProxyError:  # e.g. a forward that does not return (batch, classes) logits: features of its own below
        fw = None
    if fw is not None and fw.features is not None:
        return _detached_features(fw.features, ctx.targets, "student")
    model = ctx.fresh_model()
    return _features(model, ctx.inputs, ctx.targets, "student")


def check_classes(name: str, student: dict, teacher: dict) -> None:
    k_s, k_t = student["logits"].shape[1], teacher["logits"].shape[1]
    if k_s != k_t:
        raise ProxyError(f"proxy {name!r}: the teacher has {k_t} classes and the student {k_s}; build the teacher "
                         "for the student's number of classes")


def distill_score(ctx: ProxyContext, name: str, **options) -> float:
    """The raw distance ``distill_loss(name, student, teacher)`` on the first batch (the proxy negates it)."""
    student = ctx.pass_("kd_student_features")
    teacher = ctx.pass_("teacher_features")
    if name in ("kd", "diswot_semantic"):
        check_classes(name, student, teacher)
    try:
        return float(distill_loss(name, student, teacher, **options))
    except ValueError as exc:
        raise ProxyError(f"proxy {name!r}: {exc}") from None
