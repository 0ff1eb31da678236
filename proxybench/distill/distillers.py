"""Training distillers: the loss a KD student is trained with, chosen by a protocol's ``distiller`` field.

The base class, the per-step :class:`KDBatch` and ``kd`` live in :mod:`proxybench.distill.distiller_base`; each other
distiller registers itself from its own module (``oracle``, ``distpro``), which :func:`make_distiller` imports.
"""

from __future__ import annotations

from torch import nn

from .distiller_base import _DISTILLERS, KDBatch, LogitKD, TrainingDistiller, register_distiller

__all__ = ["KDBatch", "LogitKD", "TrainingDistiller", "list_distillers", "make_distiller", "register_distiller"]


def _load_all() -> None:
    # distillers that live in their own modules register on import
    from . import oracle  # noqa: F401
    try:
        from . import distpro  # noqa: F401
    except ImportError as exc:  # pragma: no cover - only when the module itself is missing
        if "distpro" not in str(exc):
            raise


def list_distillers() -> list[str]:
    _load_all()
    return sorted(_DISTILLERS)


def make_distiller(protocol, student: nn.Module | None = None, teacher: nn.Module | None = None) -> TrainingDistiller:
    """The protocol's distiller (``protocol.distiller``, options ``protocol.distiller_options``)."""
    _load_all()
    name = protocol.distiller
    if name not in _DISTILLERS:
        raise ValueError(f"unknown distiller {name!r} in the protocol; valid: {', '.join(sorted(_DISTILLERS))}")
    return _DISTILLERS[name](protocol, student=student, teacher=teacher, options=protocol.distiller_options)
