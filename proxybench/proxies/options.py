"""Declared options of proxies and passes: :class:`Option` and the parsing every proxy gets for free.

A proxy declares its options in its decorator; the engine checks the options a caller gives against the
declarations (unknown names and ill-typed values raise :class:`~proxybench.proxies.errors.OptionError`, a
``ValueError``) and hands the proxy typed values with the defaults filled in (``ctx.option(name)``)::

    @register_proxy("zen", options=(Option("zen_repeat", int, 1, "independent draws averaged",
                                           check=at_least(1)),))
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import OptionError

TYPES = (int, float, bool, str)
CONTEXT_KEYS = ("batches", "teacher", "seed", "num_classes", "arch")
"""Keyword arguments of ``score``/``make_context`` that set up the context; no option may take these names."""

_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")
_TYPE_WORDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


@dataclass(frozen=True)
class Bound:
    """A check ``value >= low`` (or ``> low`` when ``strict``), printable in error messages."""

    low: float
    strict: bool = False

    def __call__(self, value: Any) -> bool:
        return value > self.low if self.strict else value >= self.low

    def __str__(self) -> str:
        return f"{'>' if self.strict else '>='} {self.low:g}"


def at_least(low: float) -> Bound:
    return Bound(low)


def greater_than(low: float) -> Bound:
    return Bound(low, strict=True)


@dataclass(frozen=True)
class Option:
    """One option: ``name``, ``type`` (int, float, bool or str), ``default`` (``None``: unset, the doc says what
    that means), a short ``doc``, and what is valid: ``choices`` (a tuple of values) and/or ``check`` (a
    predicate; a :class:`Bound` such as ``at_least(1)`` prints itself in errors)."""

    name: str
    type: type
    default: Any = None
    doc: str = ""
    choices: tuple = ()
    check: Callable[[Any], bool] | None = None

    def __post_init__(self) -> None:
        if not self.name.isidentifier() or self.name in CONTEXT_KEYS:
            raise ValueError(f"bad option name {self.name!r}: use an identifier other than {', '.join(CONTEXT_KEYS)}")
        if self.type not in TYPES:
            raise ValueError(f"option {self.name!r}: type must be one of int, float, bool, str, got {self.type!r}")
        object.__setattr__(self, "choices", tuple(self.choices))
        if self.default is not None:
            self.parse(self.default, "its declaration")

    @property
    def expects(self) -> str:
        """What a valid value is, in words."""
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        text = _TYPE_WORDS[self.type]
        if self.check is not None:
            text += f" {self.check}" if isinstance(self.check, Bound) else f" ({self.check.__doc__ or 'checked'})"
        return text

    def parse(self, value: Any, owner: str) -> Any:
        """``value`` converted to the option's type (strings such as ``"2"`` or ``"true"`` are read), checked;
        raises :class:`OptionError` naming ``owner`` (e.g. ``"proxy 'kd'"``), the option and what is valid."""
        if value is None and self.default is None:
            return None
        out = _convert(value, self.type)
        ok = out is not _BAD and (not self.choices or out in self.choices)
        if ok and self.check is not None:
            ok = bool(self.check(out))
        if not ok:
            raise OptionError(f"{owner}: option {self.name!r} must be {self.expects}, got {value!r}")
        return out

    def describe(self) -> str:
        """``name (type, default value): doc``."""
        kind = "|".join(map(str, self.choices)) if self.choices else self.type.__name__
        if self.check is not None and isinstance(self.check, Bound):
            kind += f" {self.check}"
        return f"{self.name} ({kind}, default {self.default!r}): {self.doc}".rstrip(": ")


_BAD = object()


def _convert(value: Any, kind: type) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE
        return _BAD
    if isinstance(value, bool):
        return _BAD
    if kind is str:
        return value if isinstance(value, str) else _BAD
    if isinstance(value, str):
        try:
            return kind(value.strip())
        except ValueError:
            return _BAD
    if kind is int:
        return value if isinstance(value, int) else _BAD
    return float(value) if isinstance(value, (int, float)) else _BAD


def parse_options(declared: Iterable[Option], given: Mapping[str, Any], owner: str, *,
                  strict: bool = True) -> dict[str, Any]:
    """Typed values of every ``declared`` option: the ``given`` value parsed, else the default. ``strict``:
    a given name that is not declared raises :class:`OptionError` listing the valid names (otherwise it is left
    to the proxies that declare it)."""
    declared = tuple(declared)
    names = {o.name for o in declared}
    if strict:
        unknown = [k for k in given if k not in names]
        if unknown:
            raise OptionError(unknown_option_message(unknown[0], owner, sorted(names)))
    return {o.name: o.parse(given[o.name], owner) if o.name in given else o.default for o in declared}


def unknown_option_message(name: str, owner: str, valid: Iterable[str]) -> str:
    valid = list(valid)
    text = f"unknown option {name!r} for {owner}; "
    text += f"valid options: {', '.join(valid)}" if valid else "it takes no options"
    close = difflib.get_close_matches(name, valid, n=1)
    return text + (f" (did you mean {close[0]!r}?)" if close else "")
