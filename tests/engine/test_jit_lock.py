"""jit_lock: a process's first call of numba-cached code waits for another process compiling it.

The crash it prevents needs cold caches and minutes of compiling (``python bench/numba_race.py``:
4 of 12 processes crashed without the lock, none with it); these tests check the lock itself with
real processes holding it, and that the bridge's numba paths take it.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import time

import pytest

from bridge.engine import jit_lock

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the holder below uses fcntl")

HOLDER = textwrap.dedent("""
    import fcntl, os, sys
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    print("held", flush=True)
    sys.stdin.read()  # held until the test closes our stdin (or kills us)
""")


class Holder:
    """Another process holding the per-user lock (the path this process's environment gives)."""

    def __init__(self) -> None:
        path = jit_lock.lock_path()
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.process = subprocess.Popen([sys.executable, "-c", HOLDER, path], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        assert self.process.stdout.readline().strip() == "held"

    def release(self) -> float:
        """Let go; the clock time just before (the lock cannot be free earlier than this)."""
        letting_go = time.monotonic()
        self.process.stdin.close()
        self.process.wait(10)
        return letting_go

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    """A private lock file for this test: the user's cache folder moved to ``tmp_path``."""
    monkeypatch.setenv("HOME", str(tmp_path))  # macOS: ~/Library/Caches
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return str(tmp_path)


def test_the_lock_file_is_in_each_platforms_cache_folder():
    assert jit_lock.lock_path({"HOME": "/h"}, "linux") == "/h/.cache/pop2piano-bridge/numba-compile.lock"
    assert jit_lock.lock_path({"HOME": "/h", "XDG_CACHE_HOME": "/x"}, "linux").startswith("/x/pop2piano-bridge/")
    assert jit_lock.lock_path({"HOME": "/h"}, "darwin").startswith("/h/Library/Caches/pop2piano-bridge/")
    assert jit_lock.lock_path({"HOME": "/h", "LOCALAPPDATA": "/l"}, "win32").startswith(os.path.join("/l", "pop2"))


def test_a_first_call_waits_for_the_holder_and_later_calls_do_not(cache_home):
    holder = Holder()
    released = {}

    def later_release() -> None:
        time.sleep(1.0)
        released["at"] = holder.release()

    import threading

    thread = threading.Thread(target=later_release)
    thread.start()
    ran_at = jit_lock.first_call("test: waits", time.monotonic)
    thread.join()
    assert ran_at >= released["at"]

    again = Holder()
    try:
        start = time.monotonic()
        jit_lock.first_call("test: waits", time.monotonic)
        assert time.monotonic() - start < 0.5  # compiled in this process already: no lock taken
    finally:
        again.release()


def test_the_wait_is_bounded_and_says_so(cache_home, caplog):
    holder = Holder()
    try:
        start = time.monotonic()
        with caplog.at_level(logging.INFO, logger=jit_lock.__name__):
            assert jit_lock.first_call("test: bounded", lambda: 7, wait=0.5) == 7
        assert 0.5 <= time.monotonic() - start < 3
        assert "still held" in caplog.text
    finally:
        holder.release()


def test_a_holder_that_dies_releases_the_lock(cache_home):
    holder = Holder()
    holder.kill()
    start = time.monotonic()
    jit_lock.first_call("test: died", lambda: None, wait=30)
    assert time.monotonic() - start < 1


def test_a_failed_first_call_takes_the_lock_again(cache_home):
    def fails() -> None:
        raise RuntimeError("compile failed")

    with pytest.raises(RuntimeError):
        jit_lock.first_call("test: fails", fails)
    holder = Holder()
    try:
        start = time.monotonic()
        jit_lock.first_call("test: fails", lambda: None, wait=0.5)
        assert time.monotonic() - start >= 0.5
    finally:
        holder.release()


BRIDGE_PATH = textwrap.dedent("""
    import sys, time
    import librosa, numba, numpy as np
    from bridge.engine import beats, resample
    song = beats._click_track(3.0, 100.0)
    print("start", flush=True)
    if sys.argv[1] == "beats":
        print(beats.track_beats(song, tracker="librosa").tracker)
    else:
        print(resample.resample_kaiser_best(song, 44100, 22050).shape[0])
    print(time.monotonic())
""")
HOLD = 6.0  # after the child's imports; its call alone takes ~3 s with numba's cache warm


@pytest.mark.parametrize("path", ["beats", "decimator"])
def test_the_bridges_numba_paths_wait_for_the_lock(cache_home, path):
    """The portable beat tracker and the kaiser_best decimator, called first in a process, finish only
    after another process holding the lock lets go (CLOCK_MONOTONIC is one clock for all processes)."""
    holder = Holder()
    child = subprocess.Popen([sys.executable, "-c", BRIDGE_PATH, path], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "start"
        time.sleep(HOLD)
        released = holder.release()
        out, _ = child.communicate(timeout=120)
        assert child.returncode == 0
        result, finished = out.split()
        assert result == ("librosa" if path == "beats" else str(3 * 22050))
        assert float(finished) >= released
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if holder.process.poll() is None:
            holder.kill()
