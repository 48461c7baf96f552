"""Caches that make repeated requests instant.

``AnalysisCache`` keeps what does not depend on the composer (decoded audio, beats,
features) per (audio content, range); ``ResultCache`` keeps arrangements per (audio
content, range, playrate, composer, engine revision). Audio content is a SHA-256 of
the file, memoised by (path, size, mtime) so an unchanged file is hashed once.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class LRU(Generic[V]):
    """A small thread-safe least-recently-used map."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(0, capacity)
        self._items: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: Hashable, value: V) -> None:
        if self.capacity == 0:
            return
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


class ContentHasher:
    """SHA-256 of a file's bytes, recomputed only when its size or mtime changes."""

    def __init__(self, capacity: int = 256) -> None:
        self._memo: LRU[str] = LRU(capacity)

    def digest(self, path: str) -> str:
        real = os.path.realpath(path)
        stat = os.stat(real)
        key = (real, stat.st_size, stat.st_mtime_ns)
        cached = self._memo.get(key)
        if cached is not None:
            return cached
        digest = hashlib.sha256()
        with open(real, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        value = digest.hexdigest()
        self._memo.put(key, value)
        return value
