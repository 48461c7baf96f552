"""Which files in an output folder are the bridge's own, unchanged: ``.pop2piano-bridge.json``.

The bridge may replace a file only if it wrote it and nobody changed it since. When it writes
a result it records, per file name, the size, modification time (ns) and SHA-256 it left on disk,
and the request key (:func:`bridge.output.naming.request_key`) it was written for. A file is the
bridge's own exactly when it is a regular file (not a symlink) whose size, mtime and content hash
all still match its record: an edit, a re-save, ``touch``, a file copied over it or put there
by anyone else makes it the producer's, and it is never replaced or deleted.

Failure is always on the safe side. A missing, unreadable, oversized or corrupt manifest
counts as empty: nothing in the folder is the bridge's, so results take new names (a corrupt
manifest is then rewritten, since its name is the bridge's). A manifest name held by a
symlink or folder disables recording for that folder (nothing is ever the bridge's there).
Two writers racing on one manifest can only lose records, which again makes files look foreign.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import stat
from dataclasses import asdict, dataclass

log = logging.getLogger(__name__)

MANIFEST_NAME = ".pop2piano-bridge.json"
MANIFEST_SCHEMA = "pop2piano-bridge/manifest"
MANIFEST_VERSION = 1
MAX_MANIFEST_BYTES = 8 << 20  # far above any real folder's; a bigger file is not ours
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)


@dataclass(frozen=True)
class FileRecord:
    """What the bridge left at one name: enough to tell whether anyone touched it since."""

    size: int
    mtime_ns: int
    sha256: str
    request: str = ""  # the request key it was written for ("" for a name the user chose: convert -o)

    @classmethod
    def of(cls, path: str, data: bytes, request: str) -> FileRecord:
        """The record for ``path`` just written with ``data`` (its stat as the disk reports it)."""
        info = os.lstat(path)
        return cls(info.st_size, info.st_mtime_ns, hashlib.sha256(data).hexdigest(), request)


def _read_regular(path: str, limit: int) -> bytes | None:
    """The contents of ``path`` if it is a regular file (never through a symlink) of at most ``limit`` bytes."""
    try:
        fd = os.open(path, _READ_FLAGS)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return None
        return handle.read(limit + 1)


class Manifest:
    """The records of one output folder, as loaded; :meth:`render` makes the next version."""

    def __init__(self, folder: str, records: dict[str, FileRecord], writable: bool = True) -> None:
        self.folder = folder
        self.records = records
        self.writable = writable  # False when the manifest's name holds something not ours to replace

    @property
    def path(self) -> str:
        return os.path.join(self.folder, MANIFEST_NAME)

    @classmethod
    def load(cls, folder: str) -> Manifest:
        """The folder's manifest; empty when there is none or it cannot be trusted."""
        path = os.path.join(folder, MANIFEST_NAME)
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return cls(folder, {})
        except OSError as exc:
            log.warning("cannot read %s (%s): no file in that folder counts as the bridge's", path, exc.strerror)
            return cls(folder, {}, writable=False)
        if not stat.S_ISREG(info.st_mode):
            log.warning("%s is not a regular file: left alone; no file in that folder counts as the bridge's", path)
            return cls(folder, {}, writable=False)
        data = _read_regular(path, MAX_MANIFEST_BYTES)
        records = _parse(data) if data is not None else None
        if records is None:
            log.warning("%s is unreadable or corrupt: starting afresh (no file there counts as the bridge's)", path)
            return cls(folder, {})
        return cls(folder, records)

    def owns(self, name: str, request: str | None = None) -> bool:
        """Whether the file at ``name`` is the bridge's, unchanged since written (for ``request``, if given)."""
        record = self.records.get(name)
        if record is None or (request is not None and record.request != request):
            return False
        path = os.path.join(self.folder, name)
        if not self._stat_matches(path, record):
            return False
        data = _read_regular(path, record.size)
        return data is not None and hashlib.sha256(data).hexdigest() == record.sha256

    @staticmethod
    def _stat_matches(path: str, record: FileRecord) -> bool:
        try:
            info = os.lstat(path)
        except OSError:
            return False
        return stat.S_ISREG(info.st_mode) and info.st_size == record.size and info.st_mtime_ns == record.mtime_ns

    def render(self, new: dict[str, FileRecord]) -> bytes:
        """The next manifest: ``new`` plus the old records whose files still look untouched.

        Stale records (file gone or changed) are dropped so the manifest stays the size of the
        folder's own results; checking size and mtime is enough for that (a record kept in error
        still needs its hash to match before anything is replaced).
        """
        kept = {name: record for name, record in self.records.items()
                if name not in new and self._stat_matches(os.path.join(self.folder, name), record)}
        files = {name: asdict(record) for name, record in sorted({**kept, **new}.items())}
        document = {"schema": MANIFEST_SCHEMA, "version": MANIFEST_VERSION,
                    "note": "written by pop2piano-bridge: which files here it wrote and may replace", "files": files}
        return (json.dumps(document, indent=1) + "\n").encode("utf-8")


def _parse(data: bytes) -> dict[str, FileRecord] | None:
    """The records in a manifest's bytes, or None if they are not a manifest this bridge wrote."""
    with contextlib.suppress(ValueError, TypeError, AttributeError, KeyError):
        document = json.loads(data.decode("utf-8"))
        if document.get("schema") != MANIFEST_SCHEMA or document.get("version") != MANIFEST_VERSION:
            return None
        records = {}
        for name, fields in document["files"].items():
            record = FileRecord(int(fields["size"]), int(fields["mtime_ns"]), str(fields["sha256"]),
                                str(fields.get("request", "")))
            if os.path.basename(name) != name or name in ("", ".", ".."):
                return None  # a manifest naming paths elsewhere was not written by this bridge
            records[name] = record
        return records
    return None
