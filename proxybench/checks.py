"""Validation of simple arguments, shared by the API, the command line and the builders.

Errors are ``ValueError`` naming the argument, what it must be and the value given, e.g.
``--seeds must be an integer >= 1, got 0``; the command line turns them into exit status 2.
"""

from __future__ import annotations

import numbers
from typing import Any


def check_int(value: Any, what: str, minimum: int | None = None, *, parse: bool = False,
              expected: str | None = None) -> int:
    """``value`` as a Python ``int``, at least ``minimum`` when given.

    Integers of any kind (numpy's too) are accepted and ``bool`` never is. ``parse=True`` also accepts what a
    command line or a settings file may hold: a string of digits (``"5"``, ``"+5"``) or a float with an integral
    value (``5.0``). ``expected`` replaces the default wording of the requirement (``an integer >= minimum``).
    """
    need = expected or ("an integer" if minimum is None else f"an integer >= {minimum}")
    error = ValueError(f"{what} must be {need}, got {value!r}")
    if isinstance(value, bool):
        raise error
    if isinstance(value, numbers.Integral):
        v = int(value)
    elif parse and isinstance(value, str) and value.strip().lstrip("+").isdigit():
        v = int(value.strip())
    elif parse and isinstance(value, numbers.Real) and float(value).is_integer():
        v = int(value)
    else:
        raise error
    if minimum is not None and v < minimum:
        raise error
    return v


def check_choice(value: Any, valid: tuple[str, ...] | list[str], what: str) -> str:
    """``value`` when it is one of ``valid``; else ``ValueError`` listing them."""
    if value not in valid:
        raise ValueError(f"unknown {what} {value!r}; valid: {', '.join(valid)}")
    return value


__all__ = ["check_choice", "check_int"]
