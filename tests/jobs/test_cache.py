"""The caches' keys: an LRU that forgets the least recently used, and a content hash that never
serves another file's digest (same path, same size, mtime put back)."""

from __future__ import annotations

import hashlib
import os

from bridge.jobs.cache import CTIME_IS_CHANGE_TIME, LRU, ContentHasher


def test_lru_keeps_the_most_recently_used():
    cache: LRU[int] = LRU(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now the most recent
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and cache.get("c") == 3 and len(cache) == 2
    empty: LRU[int] = LRU(0)
    empty.put("a", 1)
    assert empty.get("a") is None


def test_digest_is_the_files_sha256_and_follows_its_content(tmp_path):
    path = tmp_path / "take.wav"
    path.write_bytes(b"A" * 4096)
    hasher = ContentHasher()
    assert hasher.digest(str(path)) == hashlib.sha256(b"A" * 4096).hexdigest()
    stat = os.stat(path)
    path.write_bytes(b"B" * 4096)  # same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # mtime put back, as cp -p and rsync -t do
    assert hasher.digest(str(path)) == hashlib.sha256(b"B" * 4096).hexdigest()


def test_an_unchanged_file_is_hashed_once(tmp_path, monkeypatch):
    path = tmp_path / "take.wav"
    path.write_bytes(b"C" * 4096)
    hasher = ContentHasher()
    first = hasher.digest(str(path))
    opened = []
    real_open = open
    monkeypatch.setattr("builtins.open", lambda *a, **k: opened.append(a[0]) or real_open(*a, **k))
    assert hasher.digest(str(path)) == first
    assert opened == ([] if CTIME_IS_CHANGE_TIME else [os.path.realpath(path)])
