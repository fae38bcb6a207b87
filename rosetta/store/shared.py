"""Take turns on the embedded store: open it on use, release it when idle.

The embedded engine admits one process. A long-lived process that only needs the store now
and then (the web UI) wraps it in `IdleReleasingStore`: the store is opened by the first call,
shared by every thread of the process, and closed once no call has run for `idle_s` seconds —
so `rosetta index` can take it in between, and the UI gets the holder's name
(StoreLockedError) while the index run has it. Each reopening costs the open time
(bench/results/query.json, "open": about a second at 100k passages).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from rosetta.store.base import VectorStore

_METHODS = {
    "collections",
    "exists",
    "ensure_collection",
    "identity",
    "info",
    "drop",
    "upsert",
    "delete",
    "delete_ids",
    "query",
    "recommend",
    "retrieve",
    "scroll",
    "count",
    "facet",
    "optimize",
}


class IdleReleasingStore:
    """A `VectorStore` that opens its backend on demand and closes it after `idle_s` idle seconds."""

    def __init__(
        self, opener: Callable[[], VectorStore], *, kind: str, location: str, idle_s: float = 5.0
    ) -> None:
        self._opener = opener
        self.kind = kind
        self.location = location
        self.idle_s = idle_s
        self._store: VectorStore | None = None
        self._lock = threading.RLock()
        self._active = 0
        self._last_used = time.monotonic()
        self._closed = False
        self._reaper = threading.Thread(target=self._reap, name="rosetta-store-release", daemon=True)
        self._reaper.start()

    @contextlib.contextmanager
    def hold(self) -> Iterator[VectorStore]:
        """Keep the store open for a whole operation (an ingest), not only for single calls."""
        with self._lock:
            if self._closed:
                raise RuntimeError("store wrapper is closed")
            if self._store is None:
                self._store = self._opener()
            self._active += 1
        try:
            yield self._store
        finally:
            with self._lock:
                self._active -= 1
                self._last_used = time.monotonic()

    @property
    def is_open(self) -> bool:
        return self._store is not None

    def __getattr__(self, name: str) -> Any:
        if name not in _METHODS:
            raise AttributeError(name)

        def call(*args: Any, **kwargs: Any) -> Any:
            with self.hold() as store:
                return getattr(store, name)(*args, **kwargs)

        call.__name__ = name
        return call

    def iterate(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        with self.hold() as store:
            yield from store.iterate(*args, **kwargs)

    def release(self) -> None:
        """Close the backend now if no call is running (it reopens on the next call)."""
        with self._lock:
            if self._store is not None and self._active == 0:
                store, self._store = self._store, None
                store.close()

    def _reap(self) -> None:
        while not self._closed:
            time.sleep(min(self.idle_s / 4, 1.0))
            with self._lock:
                if (
                    self._store is not None
                    and self._active == 0
                    and time.monotonic() - self._last_used >= self.idle_s
                ):
                    self.release()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._store is not None:
                store, self._store = self._store, None
                store.close()

    def __enter__(self) -> IdleReleasingStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
