"""One process at a time compiles, or loads, numba's cached code: a per-user lock around first calls.

Why: numba's on-disk cache is not safe when processes fill it at once. Each ``@guvectorize(cache=True)``
function is saved as two files written separately, and two processes compiling together can leave a
pair from different processes that points at code that is not there; the next call crashes the
process with SIGSEGV (numba issue 10128, open; librosa issue 1998, the same crash in
``librosa.beat.beat_track``). librosa's beat tracker, the bridge's tracker where essentia is not
installed, is such code. Two bridges, a bridge and ``convert``, or a test suite's workers, started
on a fresh install, hit it: measured with ``python bench/numba_race.py`` (docs/reliability.md).

:func:`first_call` runs a process's first call of such code holding an exclusive lock on a file in
the user's cache folder; later calls in the process run without it (numba keeps the compiled code
in memory). The wait is bounded: a holder that dies releases the lock with its process, and one that
is still compiling after :data:`WAIT_SECONDS` is given up on with a warning.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

# A cold compile of librosa's beat tracker took 33 s on one core of this project's 2-core machines;
# 300 s covers a slow laptop compiling it, and bounds a wait behind a wedged process.
WAIT_SECONDS = 300.0
_POLL = 0.1
_ready: set[str] = set()
_threads = threading.Lock()


def lock_path(env: dict[str, str] | None = None, platform: str = sys.platform) -> str:
    """The lock file: in the user's cache folder, where each platform keeps them. Pure."""
    env = dict(os.environ) if env is None else env
    home = env.get("HOME") or os.path.expanduser("~")
    if platform == "win32":
        base = env.get("LOCALAPPDATA") or os.path.join(home, "AppData", "Local")
    elif platform == "darwin":
        base = os.path.join(home, "Library", "Caches")
    else:
        base = env.get("XDG_CACHE_HOME") or os.path.join(home, ".cache")
    return os.path.join(base, "pop2piano-bridge", "numba-compile.lock")


def first_call(name: str, call: Callable[[], T], wait: float = WAIT_SECONDS) -> T:
    """``call()``; the first time this process calls ``name``'s code, holding the per-user lock.

    ``name`` stands for the numba-compiled functions ``call`` reaches, with the argument types it
    passes: later calls in this process find them compiled and take no lock. If ``call`` raises, the
    next call takes the lock again.
    """
    if name in _ready:
        return call()
    with _threads:
        if name in _ready:
            return call()
        with _across_processes(lock_path(), wait):
            result = call()
        _ready.add(name)
        return result


@contextmanager
def _across_processes(path: str, wait: float) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created 0600, never through a symlink) for the block;
    without one after ``wait`` seconds, or where the file cannot be opened, run the block anyway."""
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except OSError as exc:
        log.warning("cannot open %s (%s): compiling without the lock against concurrent compiles", path, exc)
        yield
        return
    try:
        deadline = time.monotonic() + wait
        locked = _try_lock(fd)
        if not locked:
            log.info("another process is compiling numba code; waiting for it (at most %.0f s)", wait)
        while not locked and time.monotonic() < deadline:
            time.sleep(_POLL)
            locked = _try_lock(fd)
        if not locked:
            log.warning("%s still held after %.0f s: compiling without it", path, wait)
        try:
            yield
        finally:
            if locked:
                _unlock(fd)
    finally:
        os.close(fd)


def _try_lock(fd: int) -> bool:
    """An exclusive lock on the file without waiting: flock on POSIX, a one-byte lock on Windows."""
    try:
        if sys.platform == "win32":
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:  # BlockingIOError on POSIX, PermissionError on Windows: held by another process
        return False


def _unlock(fd: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_UN)
