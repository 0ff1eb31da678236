"""Import every proxy module under ``proxybench.proxies`` (and its sub-packages) so their decorators run.

A new proxy is a new file: nothing else needs to change.
"""

from __future__ import annotations

import importlib
import pkgutil

from . import __name__ as _pkg_name
from . import __path__ as _pkg_path

_INFRASTRUCTURE = {"registry", "context", "engine", "passes", "_discover"}


def _import_tree(path, prefix: str) -> None:
    for info in pkgutil.iter_modules(path, prefix):
        short = info.name.rsplit(".", 1)[-1]
        if short in _INFRASTRUCTURE or short.startswith("_"):
            continue
        module = importlib.import_module(info.name)
        if info.ispkg:
            _import_tree(module.__path__, info.name + ".")


_import_tree(_pkg_path, _pkg_name + ".")
