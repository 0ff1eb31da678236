"""The proxy registry: one decorator per proxy, declaring what it needs, its options, groups and direction.

The declaration is a contract the engine enforces: ``labels``, ``teacher`` and ``batches`` are checked before the
proxy runs and ``batches`` limits what it sees; ``gradients=False`` runs it without autograd and refuses backward
passes; ``bn`` sets the BN mode of every network copy it makes (``ctx.fresh_model()``); options not declared are
refused and declared ones arrive typed. :mod:`proxybench.testing` checks the rest (``data_free``, labels and
teacher left alone when not declared). ``requires`` names the structure a network must have beyond ``forward`` (a
feature of its search space, :data:`proxybench.benchmarks.spaces.FEATURES`): on a space that lacks it the engine
does not run the proxy and stores its rows as errors saying why (:func:`not_applicable`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..benchmarks.spaces.base import FEATURES
from .errors import OptionError
from .options import Option, at_least, parse_options, unknown_option_message
from .pass_registry import BN_MODES

__all__ = ["BN_MODES", "GROUPS", "TEACHER_OPTIONS", "ProxySpec", "Requirement", "all_specs", "check_options",
           "get_spec", "list_proxies", "not_applicable", "proxy_groups", "register_proxy", "unregister_proxy"]

GROUPS: dict[str, str] = {
    "default": "the proxies 'proxybench eval' scores by default: DisWOT and its parts, the strongest KD losses "
               "and the common zero-cost proxies",
    "standard": "the 12 proxies of NAS-Bench-Suite-Zero",
}
"""Groups a proxy may join from its decorator (``groups=("standard",)``). ``teacher`` (every proxy that needs a
teacher) and ``all`` are computed."""
COMPUTED_GROUPS: dict[str, str] = {"teacher": "every proxy that needs a teacher (KD-aware)",
                                   "all": "every registered proxy"}

TEACHER_OPTIONS = (
    Option("teacher_bn", str, "auto", "BN mode of the teacher: auto (eval for a trained teacher, train for a "
           "random-init one), train or eval", choices=("auto", "train", "eval")),
    Option("teacher_seed", int, 0, "init seed of a teacher given as a spec string", check=at_least(0)),
)
"""Options every proxy with ``teacher=True`` accepts (read by the ``teacher_features`` pass)."""


@dataclass(frozen=True)
class Requirement:
    """A structural feature a proxy needs from the network (one of
    :data:`proxybench.benchmarks.spaces.FEATURES`), ``why`` it needs it, and the option values under which it does
    (``when``; empty: always)."""

    feature: str
    why: str = ""
    when: tuple[tuple[str, Any], ...] = ()

    def applies(self, options: Mapping[str, Any]) -> bool:
        """Whether the requirement holds under the proxy's typed ``options``."""
        return all(options.get(k) == v for k, v in self.when)

    def describe(self) -> str:
        cond = " with " + ", ".join(f"{k}={v}" for k, v in self.when) if self.when else ""
        return f"{self.feature}{cond}" + (f" ({self.why})" if self.why else "")


def _requirement(item: Any, proxy: str) -> Requirement:
    req = Requirement(item) if isinstance(item, str) else item
    if not isinstance(req, Requirement):
        raise ValueError(f"requires of proxy {proxy!r} must hold feature names or Requirement(...), got {item!r}")
    if req.feature not in FEATURES:
        raise ValueError(f"proxy {proxy!r} requires unknown feature {req.feature!r}; known: {', '.join(FEATURES)}")
    if isinstance(req.when, Mapping):
        req = Requirement(req.feature, req.why, tuple(sorted(req.when.items())))
    return req


@dataclass(frozen=True)
class ProxySpec:
    """What a registered proxy is and needs.

    ``fn(ctx) -> float`` returns the *raw* value of the proxy's formula; the engine reports
    ``direction * raw`` so that, for every proxy, a higher score predicts a better network.
    """

    name: str
    fn: Callable
    direction: int = 1
    labels: bool = False  # needs the targets
    gradients: bool = False  # runs a backward pass (False: runs without autograd, backward passes refused)
    bn: str = "train"  # BN mode of ctx.fresh_model(): train | eval | identity (BN replaced) | any (left as is)
    teacher: bool = False  # needs a teacher network (KD-aware proxies)
    batches: int = 1  # number of input batches it reads (ctx.batches holds exactly these)
    data_free: bool = False  # ignores the data values (all-ones input, analytic counts, weights only)
    paper: str = ""
    description: str = ""
    options: tuple[Option, ...] = ()  # every option it accepts (teacher options included when teacher=True)
    groups: tuple[str, ...] = ()  # declared groups it belongs to (see GROUPS)
    requires: tuple[Requirement, ...] = ()  # structure the network must have (features of its search space)

    @property
    def summary(self) -> str:
        return self.description or (self.fn.__doc__ or "").strip().splitlines()[0]

    def parse_options(self, given: Mapping[str, Any], *, strict: bool = True) -> dict[str, Any]:
        """Typed values of every declared option (defaults filled in); ``strict``: refuse undeclared names."""
        return parse_options(self.options, given, f"proxy {self.name!r}", strict=strict)

    def unmet(self, features: Iterable[str], options: Mapping[str, Any] | None = None) -> list[Requirement]:
        """The requirements that networks offering ``features`` do not meet under ``options`` (raw values, as
        given to a run; undeclared ones are ignored)."""
        have = set(features)
        typed = self.parse_options(options or {}, strict=False) if self.requires else {}
        return [r for r in self.requires if r.feature not in have and r.applies(typed)]


_REGISTRY: dict[str, ProxySpec] = {}


def register_proxy(name: str, *, direction: int = 1, labels: bool = False, gradients: bool = False,
                   bn: str = "train", teacher: bool = False, batches: int = 1, data_free: bool = False,
                   paper: str = "", description: str = "", options: Iterable[Option] = (),
                   groups: Iterable[str] = (), requires: Iterable[str | Requirement] = ()) -> Callable:
    """Register ``fn(ctx) -> float`` as proxy ``name``.

    Example::

        @register_proxy("params", bn="any", data_free=True, groups=("standard", "default"), paper="...")
        def params(ctx):
            "Number of trainable parameters (millions)."
            return ...
    """
    if not name.isidentifier():
        raise ValueError(f"proxy name {name!r} must be an identifier (letters, digits, underscores)")
    if name in GROUPS or name in COMPUTED_GROUPS:
        raise ValueError(f"proxy name {name!r} is the name of a proxy group")
    if direction not in (1, -1):
        raise ValueError(f"direction of proxy {name!r} must be +1 or -1, got {direction!r}")
    if bn not in BN_MODES:
        raise ValueError(f"bn mode of proxy {name!r} must be one of {BN_MODES}, got {bn!r}")
    if isinstance(batches, bool) or not isinstance(batches, int) or batches < 1:
        raise ValueError(f"batches of proxy {name!r} must be an integer >= 1, got {batches!r}")
    groups = tuple(groups)
    bad = [g for g in groups if g not in GROUPS]
    if bad:
        raise ValueError(f"proxy {name!r} joins unknown group {bad[0]!r}; groups a proxy can join: "
                         f"{', '.join(GROUPS)}")
    options = tuple(options)
    if teacher:
        options += tuple(o for o in TEACHER_OPTIONS if o not in options)
    if not all(isinstance(o, Option) for o in options):
        raise ValueError(f"options of proxy {name!r} must be Option(...) declarations")
    seen = [o.name for o in options]
    if len(set(seen)) != len(seen):
        raise ValueError(f"proxy {name!r} declares an option twice: {', '.join(seen)}")
    requires = tuple(_requirement(r, name) for r in requires)
    for r in requires:
        bad = [k for k, _ in r.when if k not in seen]
        if bad:
            raise ValueError(f"proxy {name!r} requires {r.feature!r} when option {bad[0]!r} has a value, but declares "
                             f"no such option; its options: {', '.join(seen) or 'none'}")

    def decorator(fn: Callable) -> Callable:
        if name in _REGISTRY and _REGISTRY[name].fn is not fn:
            raise ValueError(f"proxy {name!r} is registered twice ({_REGISTRY[name].fn.__module__} and "
                             f"{fn.__module__})")
        _REGISTRY[name] = ProxySpec(name=name, fn=fn, direction=direction, labels=labels,
                                    gradients=gradients, bn=bn, teacher=teacher, batches=batches,
                                    data_free=data_free, paper=paper, description=description, options=options,
                                    groups=groups, requires=requires)
        return fn

    return decorator


def unregister_proxy(name: str) -> None:
    """Remove proxy ``name`` (for tests that register a throwaway proxy)."""
    _REGISTRY.pop(name, None)


def _load_all() -> None:
    importlib.import_module(f"{__package__}._discover").load_all()


def get_spec(name: str) -> ProxySpec:
    _load_all()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown proxy {name!r}; valid proxies: {', '.join(sorted(_REGISTRY))}") from None


def list_proxies(teacher: bool | None = None) -> list[str]:
    """Names of all registered proxies, sorted (``teacher=True/False`` filters KD-aware ones)."""
    _load_all()
    return sorted(n for n, s in _REGISTRY.items() if teacher is None or s.teacher == teacher)


def all_specs() -> dict[str, ProxySpec]:
    _load_all()
    return dict(sorted(_REGISTRY.items()))


def proxy_groups() -> dict[str, list[str]]:
    """Every group and its members, sorted: ``all``, the declared groups (:data:`GROUPS`) and ``teacher``."""
    specs = all_specs()
    out = {"all": list(specs)}
    out.update({g: [n for n, s in specs.items() if g in s.groups] for g in GROUPS})
    out["teacher"] = [n for n, s in specs.items() if s.teacher]
    return out


def check_options(names: Iterable[str], given: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Check the options of a run scoring ``names``: every given option must be declared by at least one of them
    and valid for each that declares it. Returns each proxy's typed options; raises :class:`OptionError`
    naming the option and listing the valid ones."""
    specs = [get_spec(n) for n in names]
    for key in given:
        if not any(o.name == key for s in specs for o in s.options):
            raise OptionError(_unknown_for_run(key, specs))
    return {s.name: s.parse_options(given, strict=False) for s in specs}


def _unknown_for_run(key: str, specs: list[ProxySpec]) -> str:
    owners = [s.name for s in all_specs().values() if any(o.name == key for o in s.options)]
    if len(specs) == 1:
        text = unknown_option_message(key, f"proxy {specs[0].name!r}", [o.name for o in specs[0].options])
    else:
        valid = sorted({o.name for s in specs for o in s.options})
        who = ", ".join(s.name for s in specs)
        text = unknown_option_message(key, f"the proxies {who}", valid)
    if owners:
        text += f"; {key!r} is an option of {', '.join(owners)}, not scored here"
    return text


def not_applicable(name: str, space: Any, options: Mapping[str, Any] | None = None) -> str | None:
    """Why proxy ``name`` cannot run on the networks of ``space`` (a registered
    :class:`~proxybench.benchmarks.spaces.SearchSpace` or its name) under ``options``; ``None`` when it can."""
    from ..benchmarks.spaces import get_space

    sp = get_space(space)
    unmet = get_spec(name).unmet(sp.features, options)
    if not unmet:
        return None
    return (f"not applicable to search space {sp.name!r}: needs " + "; ".join(r.describe() for r in unmet)
            + f"; {sp.name} offers {', '.join(sorted(sp.features)) or 'no feature'}")
