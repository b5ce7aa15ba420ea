"""Read-ahead of the next page of a paged read.

A client paging through a table asks for page *n+1* only after it has received and parsed page
*n*. While it does, the emulator computes page *n+1* on a worker thread (SQLite releases the GIL
while it runs a statement), so the two processes work in parallel instead of taking turns. A
prepared page is used only when nothing was written since it was computed (the store's
generation is unchanged); otherwise it is thrown away and the page is computed again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

__all__ = ["ReadAhead"]

T = TypeVar("T")
Key = tuple[str, ...]
_MAX_PENDING = 8


class ReadAhead(Generic[T]):
    """Computes results in the background, keyed by request, stamped by data generation."""

    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None
        self._pending: OrderedDict[Key, Future[tuple[int, T]]] = OrderedDict()
        self._lock = threading.Lock()

    def schedule(self, key: Key, compute: Callable[[], tuple[int, T]]) -> None:
        """Start computing ``compute()`` → (generation, result) for a later :meth:`take`."""
        with self._lock:
            if key in self._pending:
                return
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="dataverse-readahead")
            self._pending[key] = self._executor.submit(compute)
            while len(self._pending) > _MAX_PENDING:
                self._pending.popitem(last=False)

    def take(self, key: Key) -> Future[tuple[int, T]] | None:
        """The prepared computation for ``key``, if one was scheduled (removed from the cache)."""
        with self._lock:
            return self._pending.pop(key, None)

    def close(self) -> None:
        with self._lock:
            self._pending.clear()
            if self._executor is not None:
                self._executor.shutdown(wait=True, cancel_futures=True)
                self._executor = None
