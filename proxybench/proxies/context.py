"""The per-network scoring context: inputs, options and memoized shared passes.

One :class:`ProxyContext` is made per (network, input batch, seed). Proxies ask it for *passes*
(``ctx.pass_("ce_backward")``); a pass runs at most once per context and its result is shared by every proxy
that asks for it, so scoring several proxies together costs the union of their passes, not the sum, and gives
exactly the numbers each proxy gives alone (every pass starts from a fresh copy of the caller's network and
draws any randomness from its own seeded generator).

The caller's model is never touched: passes work on ``ctx.fresh_model()``, a deep copy.
"""

from __future__ import annotations

import copy
import hashlib
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

_PASSES: dict[str, Callable[[ProxyContext], Any]] = {}


def register_pass(name: str) -> Callable:
    """Register ``fn(ctx)`` as a shared pass named ``name`` (computed once per context)."""

    def decorator(fn: Callable) -> Callable:
        _PASSES[name] = fn
        return fn

    return decorator


class ProxyError(ValueError):
    """A proxy cannot run on this model or input; the message names the proxy and the reason."""


class ProxyContext:
    """Everything a proxy may use for one network.

    model      the caller's network (read only; use :meth:`fresh_model`)
    inputs     first batch, float tensor (B, C, H, W)
    targets    labels of the first batch (LongTensor (B,)) or None
    batches    list of (inputs, targets) pairs; ``batches[0]`` is (inputs, targets)
    teacher    a teacher network (KD-aware proxies) or None
    seed       seeds every random draw made inside passes
    options    extra per-proxy options (e.g. ``temperature``)
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
        self.batches = list(batches) if batches is not None else [(inputs, targets)]
        self.teacher = teacher
        self.seed = int(seed)
        self.arch = arch
        self.options = dict(options or {})
        self.device = inputs.device
        self._num_classes = num_classes
        self._cache: dict[str, Any] = {}
        self.pass_seconds: dict[str, float] = {}
        self.current_proxy: str | None = None  # set by the engine while a proxy runs
        self.nan_reasons: dict[str, str] = {}

    # ---- helpers -------------------------------------------------------------------------------------
    @property
    def batch_size(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def num_classes(self) -> int:
        if self._num_classes is not None:
            return self._num_classes
        head = classifier_of(self.model)
        if head is not None:
            return int(head.out_features)
        with torch.no_grad():
            m = self.fresh_model().eval()
            return int(m(self.inputs[:1]).shape[1])

    def option(self, name: str, default: Any) -> Any:
        return self.options.get(name, default)

    def fresh_model(self, dtype: torch.dtype | None = None) -> nn.Module:
        """A deep copy of the caller's model with gradients enabled and cleared."""
        m = copy.deepcopy(self.model)
        if dtype is not None:
            m = m.to(dtype)
        for p in m.parameters():
            p.requires_grad_(True)
            p.grad = None
        return m

    def generator(self, key: str) -> torch.Generator:
        """A CPU generator seeded from (seed, key): independent draws per pass, same draws every time."""
        digest = hashlib.sha256(f"{self.seed}:{key}".encode()).digest()
        return torch.Generator(device="cpu").manual_seed(int.from_bytes(digest[:8], "little") >> 1)

    def randn(self, shape: Sequence[int], key: str, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.randn(tuple(shape), generator=self.generator(key), dtype=dtype).to(self.device)

    # ---- shared passes -------------------------------------------------------------------------------
    def pass_(self, name: str) -> Any:
        """Result of the shared pass ``name``, computed on first use."""
        if name not in self._cache:
            from . import passes  # noqa: F401  (registers the standard passes)

            if name not in _PASSES:
                raise KeyError(f"unknown pass {name!r}; known: {', '.join(sorted(_PASSES))}")
            t0 = time.perf_counter()
            self._cache[name] = _PASSES[name](self)
            self.pass_seconds[name] = time.perf_counter() - t0
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
