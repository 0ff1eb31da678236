"""Forward hooks that live exactly as long as one forward pass: registered on entry, removed on exit (also when
the forward raises), so a proxy never leaves a hook on a network."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from torch import nn


@contextmanager
def forward_hooks(hooks: Iterable[tuple[nn.Module, Callable]], *, with_kwargs: bool = False) -> Iterator[int]:
    """Register ``hook`` on ``module`` for every ``(module, hook)`` pair (``torch.nn.Module.register_forward_hook``,
    with ``with_kwargs`` passed on) while the block runs; yields how many were registered."""
    handles = []
    try:
        for module, hook in hooks:
            handles.append(module.register_forward_hook(hook, with_kwargs=with_kwargs))
        yield len(handles)
    finally:
        for h in handles:
            h.remove()
