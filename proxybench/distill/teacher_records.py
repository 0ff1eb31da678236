"""What a KD build says about its teacher: spec files given as ``@FILE`` and the record in ``BUILD/teacher.json``.
Loads torch only to read a checkpoint's record."""

from __future__ import annotations

from pathlib import Path


def read_teacher_spec(text: str | Path) -> str:
    """A teacher given on the command line: ``@FILE`` reads the spec from FILE (the first line that is neither
    empty nor a ``#`` comment; e.g. the ``OUT.ensemble.txt`` that ``kd-bench teacher --members K`` writes), with
    relative ``checkpoint:`` paths taken relative to FILE's folder; anything else is returned unchanged."""
    text = str(text).strip()
    if not text.startswith("@"):
        return text
    path = Path(text[1:])
    if not path.is_file():
        raise FileNotFoundError(f"teacher spec file {str(path)!r} (from {text!r}) does not exist")
    lines = [ln.split("#", 1)[0].strip() for ln in path.read_text().splitlines()]
    lines = [ln for ln in lines if ln]
    if not lines:
        raise ValueError(f"teacher spec file {str(path)} holds no spec")
    if len(lines) > 1:
        raise ValueError(f"teacher spec file {str(path)} holds {len(lines)} specs; put one spec on one line "
                         "(an ensemble: ensemble:<spec>,<spec>,...)")
    return _rebase_checkpoints(lines[0], path.parent)


def _rebase_checkpoints(spec: str, folder: Path) -> str:
    from .teachers import split_ensemble, split_oracle

    if spec.startswith("ensemble:"):
        base = split_oracle(spec)[0]
        suffix = spec.strip()[len(base):]  # an @oracle suffix, kept as given
        return "ensemble:" + ",".join(_rebase_checkpoints(m, folder) for m in split_ensemble(base)) + suffix
    if spec.startswith("checkpoint:"):
        path, at, arch = spec[len("checkpoint:"):].partition("@arch=")
        p = Path(path.strip())
        if not p.is_absolute():
            p = folder / p
        return f"checkpoint:{p}{at}{arch}"
    return spec


def _checkpoint_extra(path: str | Path) -> dict:
    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - a record is best effort; loading the teacher reports real errors
        return {}
    return dict(obj.get("extra") or {}) if isinstance(obj, dict) else {}


def teacher_record(text: str) -> dict:
    """What a build can say about its teacher: the spec it was given, and for checkpoints the architecture and
    test accuracy recorded in them (per member for an ensemble, with the ensemble's own accuracies when saved as
    one checkpoint by :func:`train_teacher_ensemble`)."""
    from .teachers import split_ensemble

    def one(spec: str) -> dict:
        rec: dict = {"teacher": spec}
        if spec.startswith("checkpoint:") or Path(spec).is_file():
            path = spec[len("checkpoint:"):].partition("@arch=")[0] if spec.startswith("checkpoint:") else spec
            extra = _checkpoint_extra(path)
            for key in ("spec", "test_acc", "ensemble_test_acc", "oracle_test_acc", "member_test_acc"):
                if key in extra:
                    rec[key] = extra[key]
            if "members" in extra:
                rec["members"] = [{k: m[k] for k in ("spec", "test_acc", "seed") if k in m} for m in extra["members"]]
        return rec

    if text.startswith("ensemble:"):
        members = [one(m) for m in split_ensemble(text)]
        return {"teacher": text, "members": members,
                "member_test_acc": [m.get("test_acc") for m in members]}
    return one(text)
