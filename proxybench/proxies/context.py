"""The per-network scoring context: inputs, options and memoized shared passes.

One :class:`ProxyContext` is made per (network, input batch, seed). Proxies ask it for *passes*
(``ctx.pass_("ce_backward")``); a pass runs at most once per context and its result is shared by every proxy
that asks for it, so scoring several proxies together costs the union of their passes, not the sum, and gives
exactly the numbers each proxy gives alone (every pass starts from a fresh copy of the caller's network and
draws any randomness from its own seeded generator).

The caller's model is never touched: passes work on ``ctx.fresh_model()``, a deep copy (made by
:func:`clone_module`, which equals ``copy.deepcopy`` at a fraction of its cost) in the BN mode that the running
proxy or pass declares.

While a proxy runs, the context applies its declaration (:class:`~proxybench.proxies.registry.ProxySpec`):
``ctx.batches`` holds the batches it declares, ``ctx.option(name)`` its typed options, autograd is on only when
it declares ``gradients=True`` (a backward pass is refused otherwise), and ``fresh_model()`` sets its ``bn`` mode.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import time
import types
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .errors import OptionError, ProxyError
from .pass_registry import get_pass, register_pass

__all__ = ["OptionError", "ProxyContext", "ProxyError", "apply_bn_mode", "classifier_of", "clone_module",
           "register_pass", "weighted_layers"]


@dataclass
class _Frame:
    """A proxy or pass that is running: its declaration as the context applies it."""

    kind: str  # "proxy" | "pass"
    name: str
    bn: str
    gradients: bool
    options: dict = field(default_factory=dict)
    batches: int | None = None  # proxies only


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


_ATOMIC = (type(None), bool, int, float, complex, str, bytes, torch.dtype, torch.device, torch.layout,
           torch.memory_format, types.FunctionType, types.BuiltinFunctionType, type)
"""Attribute types that ``copy.deepcopy`` returns as they are (it treats them as atomic)."""


@functools.cache
def _plain_module_class(cls: type) -> bool:
    """Whether ``copy.deepcopy`` copies instances of ``cls`` the way :class:`torch.nn.Module` defines it (its
    ``__getstate__``, no ``__deepcopy__`` or ``__reduce__`` of its own: a new instance, then ``__setstate__`` with
    a deep copy of the state), so that :func:`clone_module` may build that state attribute by attribute."""
    import copyreg

    return (getattr(cls, "__deepcopy__", None) is None and cls.__reduce_ex__ is object.__reduce_ex__
            and cls.__reduce__ is object.__reduce__ and cls.__getstate__ is nn.Module.__getstate__
            and cls not in copyreg.dispatch_table)


def clone_module(model: nn.Module) -> nn.Module:
    """``copy.deepcopy(model)``, about ten times faster on a network of a few hundred modules.

    ``deepcopy`` spends its time in Python on every module's dozen bookkeeping dicts (hooks, state-dict hooks),
    nearly all empty. This copies each module whose class copies like a plain :class:`torch.nn.Module` (see
    :func:`_plain_module_class`) attribute by attribute: parameters and buffers through their own ``__deepcopy__``
    (the same tensors ``deepcopy`` makes, shared ones shared once), submodules recursively, values ``deepcopy``
    treats as atomic kept, empty dicts and sets made anew, and anything else given to ``copy.deepcopy`` with the
    same memo; any other module is given to ``copy.deepcopy`` whole. The copy equals ``deepcopy``'s: same classes,
    attributes, tensors (values, dtypes, ``requires_grad``) and sharing."""
    return _clone(model, {})


def _clone(m: nn.Module, memo: dict) -> nn.Module:
    key = id(m)
    if key in memo:
        return memo[key]
    cls = type(m)
    if not _plain_module_class(cls):
        return copy.deepcopy(m, memo)
    new = cls.__new__(cls)
    memo[key] = new
    state = {}
    for k, v in m.__dict__.items():
        if k == "_compiled_call_impl":  # dropped by nn.Module.__getstate__
            continue
        t = type(v)
        if k == "_modules" and t in (dict, OrderedDict):
            state[k] = t((n, None if c is None else _clone(c, memo)) for n, c in v.items())
        elif k in ("_parameters", "_buffers") and t in (dict, OrderedDict):
            state[k] = t((n, None if x is None else _clone_tensor(x, memo)) for n, x in v.items())
        elif t in _ATOMIC or (t is tuple and all(type(x) in _ATOMIC for x in v)):
            state[k] = v
        elif t in (dict, OrderedDict, set) and not v:
            state[k] = t()
        elif t is set and all(type(x) is str for x in v):
            state[k] = set(v)
        else:
            state[k] = copy.deepcopy(v, memo)
    new.__setstate__(state)
    return new


def _clone_tensor(x: torch.Tensor, memo: dict) -> torch.Tensor:
    """``copy.deepcopy(x, memo)``; a plain tensor that owns its whole storage (no view, no autograd state) is
    cloned directly, which gives the same tensor."""
    key = id(x)
    if key in memo:
        return memo[key]
    if (type(x) is torch.Tensor and x.is_leaf and not x.requires_grad and x.grad is None
            and x.layout == torch.strided and not x.is_quantized and x._base is None and x.is_contiguous()
            and x.storage_offset() == 0 and x.untyped_storage().nbytes() == x.numel() * x.element_size()):
        out = x.clone()
        memo[key] = out
        return out
    return copy.deepcopy(x, memo)


def apply_bn_mode(model: nn.Module, mode: str) -> nn.Module:
    """Put ``model`` in BN ``mode`` (in place): ``train`` / ``eval`` (``model.train()`` / ``.eval()``),
    ``identity`` (eval, and every BN layer's forward replaced by the identity), ``any`` (left as it is)."""
    if mode == "train":
        model.train()
    elif mode in ("eval", "identity"):
        model.eval()
        if mode == "identity":
            for m in model.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.forward = _identity  # the instance attribute shadows the class method
    elif mode != "any":
        raise ValueError(f"unknown BN mode {mode!r}")
    return model


class ProxyContext:
    """Everything a proxy may use for one network.

    model          the caller's network (read only; use :meth:`fresh_model`)
    inputs         first batch, float tensor (B, C, H, W)
    targets        labels of the first batch (LongTensor (B,)) or None
    batches        list of (inputs, targets) pairs; ``batches[0]`` is (inputs, targets); while a proxy runs,
                   only the first ``spec.batches`` of them
    teacher        a teacher network (KD-aware proxies) or None
    seed           seeds every random draw made inside passes
    given_options  the caller's options, checked against the declarations by the engine
    options        the typed options of the running proxy or pass (defaults filled in); read with :meth:`option`
    """

    def __init__(self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor | None = None, *,
                 batches: Sequence[tuple[torch.Tensor, torch.Tensor | None]] | None = None,
                 teacher: nn.Module | None = None, seed: int = 0, num_classes: int | None = None,
                 arch: str | None = None, options: dict | None = None):
        if not isinstance(model, nn.Module):
            raise ProxyError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if not torch.is_tensor(inputs) or inputs.dim() < 2 or not inputs.is_floating_point():
            raise ProxyError("inputs must be a floating-point tensor with a batch dimension, got "
                             f"{getattr(inputs, 'shape', type(inputs).__name__)}")
        if targets is not None:
            if not torch.is_tensor(targets) or targets.dim() != 1 or targets.shape[0] != inputs.shape[0]:
                raise ProxyError(f"targets must be a 1-D tensor of {inputs.shape[0]} labels, got "
                                 f"{getattr(targets, 'shape', type(targets).__name__)}")
            targets = targets.long()
        self.model = model
        self.inputs = inputs
        self.targets = targets
        self._batches = list(batches) if batches is not None else [(inputs, targets)]
        self.teacher = teacher
        self.seed = int(seed)
        self.arch = arch
        self.given_options = dict(options or {})
        self.device = inputs.device
        self._num_classes = num_classes
        self._cache: dict[str, Any] = {}
        self._frames: list[_Frame] = []
        self.pass_seconds: dict[str, float] = {}  # wall seconds per pass, the passes it asked for included
        self.pass_cpu_seconds: dict[str, float] = {}  # CPU seconds of this thread per pass, its own work only
        self._nested_cpu: list[float] = []
        self.current_proxy: str | None = None  # set by the engine while a proxy runs
        self.nan_reasons: dict[str, str] = {}

    # ---- helpers -------------------------------------------------------------------------------------
    @property
    def batch_size(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def batches(self) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
        proxy = next((f for f in reversed(self._frames) if f.kind == "proxy"), None)
        return self._batches if proxy is None else self._batches[:proxy.batches]

    @property
    def options(self) -> dict[str, Any]:
        return dict(self._frames[-1].options) if self._frames else dict(self.given_options)

    def option(self, name: str) -> Any:
        """The typed value of the running proxy's (or pass's) declared option ``name``."""
        if not self._frames:
            raise OptionError(f"option {name!r} is read outside a proxy or pass; options are declared by them")
        frame = self._frames[-1]
        if name not in frame.options:
            raise OptionError(f"{frame.kind} {frame.name!r} reads option {name!r}, which it does not declare; "
                              f"declared: {', '.join(frame.options) or 'none'}")
        return frame.options[name]

    @property
    def num_classes(self) -> int:
        if self._num_classes is not None:
            return self._num_classes
        head = classifier_of(self.model)
        if head is not None:
            return int(head.out_features)
        with torch.no_grad():
            m = copy.deepcopy(self.model).eval()
            return int(m(self.inputs[:1]).shape[1])

    def fresh_model(self, dtype: torch.dtype | None = None) -> nn.Module:
        """A deep copy of the caller's model with gradients enabled and cleared, in the BN mode declared by the
        running proxy or pass (see :func:`apply_bn_mode`; outside them, the caller's modes)."""
        m = clone_module(self.model)
        if dtype is not None:
            m = m.to(dtype)
        for p in m.parameters():
            p.requires_grad_(True)
            p.grad = None
        if self._frames:
            apply_bn_mode(m, self._frames[-1].bn)
        return m

    def generator(self, key: str) -> torch.Generator:
        """A CPU generator seeded from (seed, key): independent draws per pass, same draws every time."""
        digest = hashlib.sha256(f"{self.seed}:{key}".encode()).digest()
        return torch.Generator(device="cpu").manual_seed(int.from_bytes(digest[:8], "little") >> 1)

    def randn(self, shape: Sequence[int], key: str, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.randn(tuple(shape), generator=self.generator(key), dtype=dtype).to(self.device)

    # ---- running proxies and passes ------------------------------------------------------------------
    @contextmanager
    def running(self, spec, options: dict[str, Any]) -> Iterator[None]:
        """Apply proxy ``spec``'s declaration while it runs (used by the engine)."""
        previous = self.current_proxy
        self.current_proxy = spec.name
        self._frames.append(_Frame("proxy", spec.name, spec.bn, spec.gradients, dict(options), spec.batches))
        try:
            with torch.set_grad_enabled(bool(spec.gradients)):
                yield
        finally:
            self._frames.pop()
            self.current_proxy = previous

    def pass_(self, name: str) -> Any:
        """Result of the shared pass ``name``, computed on first use."""
        spec = get_pass(name)
        asker = self._frames[-1] if self._frames else None
        if spec.gradients and asker is not None and not asker.gradients:
            raise ProxyError(f"{asker.kind} {asker.name!r} declares gradients=False but asks for {name!r}, a pass "
                             "that runs a backward pass; declare gradients=True")
        if name not in self._cache:
            options = spec.parse_options(self.given_options)
            self._frames.append(_Frame("pass", name, spec.bn, spec.gradients, options))
            self._nested_cpu.append(0.0)
            t0, c0 = time.perf_counter(), time.thread_time()
            try:
                with torch.enable_grad():  # a shared result must not depend on who asked first
                    self._cache[name] = spec.fn(self)
            finally:
                self._frames.pop()
                cpu = time.thread_time() - c0
                nested = self._nested_cpu.pop()
                if self._nested_cpu:
                    self._nested_cpu[-1] += cpu
            self.pass_seconds[name] = time.perf_counter() - t0
            self.pass_cpu_seconds[name] = cpu - nested
        return self._cache[name]

    def nonfinite(self, reason: str, value: float = float("nan")) -> float:
        """Return a non-finite ``value`` (NaN by default, or +-inf) from a proxy with the reason recorded;
        ``score_many`` reports it in the result's ``error``."""
        self.nan_reasons[self.current_proxy or "?"] = str(reason)
        return float(value)

    def cached(self, key: str, fn: Callable[[], Any]) -> Any:
        """Memoize a value private to one proxy module (``key`` should start with the proxy name)."""
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]


def classifier_of(model: nn.Module) -> nn.Linear | None:
    """The final linear layer: ``model.classifier`` if present, else the last ``nn.Linear``."""
    head = getattr(model, "classifier", None)
    if isinstance(head, nn.Linear):
        return head
    last = None
    for m in model.modules():
        if isinstance(m, nn.Linear):
            last = m
    return last


def weighted_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Conv and linear layers, in module order (the layers the zero-cost literature scores)."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
