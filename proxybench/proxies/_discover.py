"""Import every proxy module under ``proxybench.proxies`` (and its sub-packages) so their decorators run.

A new proxy is a new file: nothing else needs to change. Shared passes register as their modules are imported
(``passes``, and the private modules the proxies import, such as ``kd._teacher``).
"""

from __future__ import annotations

import importlib
import pkgutil
import threading

from . import __name__ as _pkg_name
from . import __path__ as _pkg_path

_INFRASTRUCTURE = {"registry", "pass_registry", "context", "engine", "options", "errors", "hooks", "_discover"}
_lock = threading.RLock()
_done = False


def _import_tree(path, prefix: str) -> None:
    for info in pkgutil.iter_modules(path, prefix):
        short = info.name.rsplit(".", 1)[-1]
        if short in _INFRASTRUCTURE or short.startswith("_"):
            continue
        module = importlib.import_module(info.name)
        if info.ispkg:
            _import_tree(module.__path__, info.name + ".")


def load_all() -> None:
    """Import every proxy and pass module once."""
    global _done
    if _done:
        return
    with _lock:
        if not _done:
            _import_tree(_pkg_path, _pkg_name + ".")
            _done = True
