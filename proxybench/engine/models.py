"""The networks of a run: the students' config in their search space (:func:`resolve_network`) and the teacher of
the KD-aware proxies (:func:`teacher_spec_from_metadata`, :func:`resolve_teacher`)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .settings import _DEFAULT_NETWORK, NETWORK_KEYS, _positive_int


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def resolve_network(metadata: Mapping, overrides: Mapping | None, space: Any = None) -> dict:
    """The students' network config: the benchmark's ``metadata["network"]`` with ``overrides``, for networks of
    ``space`` (default: the benchmark's space, NB201 when its metadata names none).

    NB201: ``{"C", "N", "init"}`` as always. Another space: ``{"space": NAME, **its settings, "init"}``, so that the
    config names what to build (and a run's identity tells the spaces apart)."""
    from ..benchmarks.spaces import get_space, space_of
    from ..initialization import INIT_SCHEMES

    sp = space_of(metadata) if space is None else get_space(space)
    if sp.name == "nb201":
        keys, net = NETWORK_KEYS, dict(_DEFAULT_NETWORK)
    else:
        keys, net = (*sp.network_keys, "init"), {"space": sp.name, **sp.network_defaults, "init": "default"}
    meta = metadata.get("network") if isinstance(metadata.get("network"), Mapping) else {}
    net.update({k: meta[k] for k in keys if k in meta})
    for key, value in dict(overrides or {}).items():
        if key not in keys:
            raise ValueError(f"unknown network setting {key!r}; valid: {', '.join(keys)}")
        net[key] = value
    if sp.name == "nb201":
        net["C"] = _positive_int(net["C"], "network C (channels of the first stage)")
        net["N"] = _positive_int(net["N"], "network N (cells per stage)")
    else:
        net.update(sp.check_network({k: net[k] for k in sp.network_keys}))
    if net["init"] not in INIT_SCHEMES:
        raise ValueError(f"unknown network init {net['init']!r}; valid: {', '.join(INIT_SCHEMES)}")
    return net


def network_space(network: Mapping):
    """The search space whose networks a network config (from :func:`resolve_network`) describes."""
    from ..benchmarks.spaces import get_space

    return get_space(network.get("space"))


def build_student(network: Mapping, arch: Any, num_classes: int, in_channels: int, seed: int | None):
    """The student network of ``arch`` for a network config (from :func:`resolve_network`), seeded."""
    sp = network_space(network)
    settings = {k: network[k] for k in sp.network_keys}
    return sp.build_network(arch, num_classes, in_channels, seed=seed, init=network.get("init", "default"),
                            **settings)


_CHECKPOINT_KEYS = ("checkpoint", "weights", "path", "file")


def teacher_spec_from_metadata(metadata: Mapping, gt_path: Path | None) -> str | None:
    """The benchmark's teacher as a spec string.

    ``metadata["teacher"]`` may be a spec string, or a dict with the trained weights under ``checkpoint``
    (a path relative to the benchmark file or the bundled data folder) and/or the architecture under
    ``spec`` / ``arch``. Without a ``checkpoint`` key, a file ``<benchmark file stem>.teacher.pt`` next to the
    benchmark file is used when present; otherwise the teacher is the architecture, randomly initialized."""
    from ..benchmarks.groundtruth import BUNDLED_DIR

    t = metadata.get("teacher")
    if not t:
        return None
    if isinstance(t, str):
        return t
    if not isinstance(t, Mapping):
        return None
    ckpt = next((t[k] for k in _CHECKPOINT_KEYS if t.get(k)), None)
    if ckpt is None and gt_path is not None and (gt_path.parent / f"{gt_path.stem}.teacher.pt").is_file():
        ckpt = gt_path.parent / f"{gt_path.stem}.teacher.pt"
    if ckpt:
        p = Path(str(ckpt)).expanduser()
        if not p.is_absolute():
            for base in ([gt_path.parent] if gt_path is not None else []) + [BUNDLED_DIR]:
                if (base / p).is_file():
                    p = base / p
                    break
        if not p.is_file():
            raise FileNotFoundError(f"the benchmark's teacher checkpoint {str(ckpt)!r} was found neither next to "
                                    "the benchmark file nor in the bundled data; pass --teacher SPEC")
        return f"checkpoint:{p}"
    spec = t.get("spec") or t.get("arch")
    return str(spec) if spec else None


def resolve_teacher(spec: str | None, num_classes: int, in_channels: int, seed: int):
    """Build the teacher once; returns (module or None, spec, identity dict, info dict)."""
    if spec is None or str(spec).strip().lower() in ("", "none"):
        return None, None, None, {"spec": None}
    from ..distill.teachers import build_teacher, describe, is_trained

    model = build_teacher(str(spec), num_classes=num_classes, in_channels=in_channels, seed=seed)
    model.eval()
    ident: dict[str, Any] = {"spec": getattr(model, "teacher_spec", str(spec))}
    text = str(spec).strip()
    if text.startswith("checkpoint:"):
        path = Path(text[len("checkpoint:"):].partition("@arch=")[0].strip()).expanduser()
        ident["checkpoint_sha256"] = _sha256(path)[:16]
        ident["checkpoint"] = path.name
    else:
        ident["seed"] = int(seed)
    info = {"spec": str(spec), "architecture": ident["spec"], "trained": bool(is_trained(model)),
            "description": describe(model)}
    return model, str(spec), ident, info
