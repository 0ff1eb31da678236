"""A per-process cache of prepared job state (data, teacher, batches), shared by the eval executors and the KD
builder's workers: each worker prepares a job once and reuses it for every later unit of that job."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class KeyedCache(Generic[T]):
    """Thread-safe: ``get(key, make)`` returns the entry of ``key``, building it with ``make()`` the first time;
    keeps the ``size`` most recently created entries."""

    def __init__(self, size: int = 2):
        self.size = size
        self._items: OrderedDict[str, T] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, make: Callable[[], T]) -> T:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                item = self._items[key] = make()
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
            return item
