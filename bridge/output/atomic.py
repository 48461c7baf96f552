"""Atomic, no-clobber file writes: a reader sees no file, the old one or the whole new one, never a half.

Temporary files are created with ``O_CREAT | O_EXCL | O_NOFOLLOW`` and mode 0666, so the kernel
applies the process's umask (and a folder's default ACL) exactly as it does for any other
program's files; nothing here reads or changes the umask (``os.umask`` is process-wide and racy
in a threaded daemon). ``O_EXCL`` also means a temporary file is never opened through a symlink.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import Iterator
from typing import IO, Any

from bridge.errors import BridgeError, IOFailure, NotFound

TEMP_SUFFIX = ".part"
FILE_MODE = 0o666  # before the umask, as open(…, "w") and every editor use
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) \
    | getattr(os, "O_BINARY", 0)
# Errors of os.link on file systems without hard links (FAT, exFAT, some network shares).
_NO_HARD_LINKS = {errno.EPERM, errno.ENOSYS, errno.EMLINK, errno.EXDEV, errno.ENOTSUP,
                  getattr(errno, "EOPNOTSUPP", errno.ENOTSUP)}


class NameTaken(Exception):
    """Somebody created a file at the target name after it was found free."""


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is one of this module's temporary files (``.<final name>.<hex>.part``)."""
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def create_temp(folder: str, final_name: str) -> tuple[int, str]:
    """A new hidden file beside ``final_name`` in ``folder``: its descriptor (open for writing) and path."""
    while True:
        path = os.path.join(folder, f".{final_name}.{secrets.token_hex(4)}{TEMP_SUFFIX}")
        try:
            return os.open(path, _CREATE, FILE_MODE), path
        except FileExistsError:  # a 32-bit random clash, or a leftover: take another
            continue


def write_temp(folder: str, final_name: str, data: bytes) -> str:
    """``data`` in a new temporary file, flushed to disk; its path. On any failure nothing is left."""
    fd, path = create_temp(folder, final_name)
    try:
        view = memoryview(data)
        while view:  # os.write may write less than asked (a nearly full disk, a signal)
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    os.close(fd)  # a network file system may report a full disk only here: the caller cleans up
    return path


def publish_new(temp: str, final: str) -> None:
    """Give ``temp``'s file the name ``final``, which must not exist: never replaces a file.

    A hard link fails when the name is taken, atomically, even if a file appeared after the
    caller checked; ``temp`` stays for the caller to remove. Where the file system has no hard
    links, a check then a rename (a short race) is the best there is.
    """
    try:
        os.link(temp, final)
        return
    except FileExistsError:
        raise NameTaken(final) from None
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise
    if os.path.lexists(final):
        raise NameTaken(final)
    os.rename(temp, final)


def fsync_folder(folder: str) -> None:
    """Make the renames in ``folder`` durable (where the OS lets a folder be opened)."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def io_error(exc: OSError, folder: str, label: str = "the output folder") -> BridgeError:
    """One clear line for an OS error while writing into ``folder`` (never a temporary file's name)."""
    if exc.errno in (errno.ENOENT, errno.ENOTDIR) and not os.path.isdir(folder):
        return NotFound(f"{label} was removed while converting: {folder}")
    if exc.errno == errno.ENOSPC:
        return IOFailure(f"disk full: {folder}")
    if exc.errno == getattr(errno, "EDQUOT", None):
        return IOFailure(f"disk quota exceeded: {folder}")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return IOFailure(f"permission denied writing into {folder}")
    if exc.errno == errno.EROFS:
        return IOFailure(f"read-only file system: {folder}")
    return IOFailure(f"cannot write into {folder}: {exc.strerror or type(exc).__name__}")


@contextlib.contextmanager
def atomic_write(path: str, mode: str = "wb") -> Iterator[IO[Any]]:
    """Write to a hidden temporary file beside ``path``, then rename it over ``path``.

    For files the caller owns outright (tests, tools); conversion results go through
    :mod:`bridge.output.files`, which also decides whether a name may be replaced.
    """
    folder, name = os.path.split(os.path.abspath(path))
    fd, tmp = create_temp(folder, name)
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
