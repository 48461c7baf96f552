"""The caches' parts: a small thread-safe LRU and the content hash their keys start with.

The job manager keeps arrangements in an :class:`LRU` keyed by (audio content, range,
playrate, composer, engine settings); the inference engine keeps analyses (beats and
features, which do not depend on the composer) keyed by (audio content, range). Audio
content is a SHA-256 of the file, memoised by what identifies one version of one file: path, device, inode, size,
and both mtime and ctime. A file replaced by another of the same size with its mtime put
back (``cp -p``, ``rsync -t``) still gets a new ctime, so it is hashed again. Where ctime is
not a change time (Windows: creation time) nothing is memoised: every request hashes.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

V = TypeVar("V")
# POSIX ctime moves on every content or metadata change; Windows' st_ctime is the creation time.
CTIME_IS_CHANGE_TIME = os.name == "posix"


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
    """SHA-256 of a file's bytes, recomputed whenever the file may have changed."""

    def __init__(self, capacity: int = 256) -> None:
        self._memo: LRU[str] = LRU(capacity)

    def digest(self, path: str) -> str:
        real = os.path.realpath(path)
        stat = os.stat(real)
        key = (real, stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
        cached = self._memo.get(key) if CTIME_IS_CHANGE_TIME else None
        if cached is not None:
            return cached
        digest = hashlib.sha256()
        with open(real, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        value = digest.hexdigest()
        self._memo.put(key, value)
        return value
