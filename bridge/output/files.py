"""The file sink: ``OUT.mid`` plus ``OUT.notes.json`` for one arrangement, published as a pair.

The rules (docs/protocol.md, "Output files"):

* A file the bridge did not write, or changed since it wrote it, is the producer's and is never
  replaced or deleted (:mod:`bridge.output.manifest` decides). A symlink at a target name counts
  as the producer's: it is never written through nor replaced. Folders may be symlinks.
* Both files are rendered, then written to hidden temporary names and flushed; only when both are
  complete are they published: the manifest first (its records of files not yet visible are
  harmless), then the notes JSON, then the MIDI file *last*, so a visible ``.mid`` always has its
  complete notes JSON beside it (the ``.mid`` is what DAWs and media browsers pick up). On any
  failure every temporary file is removed and nothing half-published stays visible.
* New names are taken with a hard link, which fails rather than replace a file that appeared
  after the name was found free.
* OS errors become :class:`bridge.errors.IOFailure` (``io_error``: "disk full: <folder>" …) or
  :class:`bridge.errors.NotFound` for a folder removed meanwhile.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from dataclasses import dataclass

import numpy as np

from bridge.engine.types import TRACKED, Arrangement
from bridge.errors import BadRequest, IOFailure
from bridge.output.atomic import (
    TEMP_SUFFIX,
    NameTaken,
    fsync_folder,
    io_error,
    publish_new,
    write_temp,
)
from bridge.output.manifest import MANIFEST_NAME, FileRecord, Manifest
from bridge.output.midi_file import TICKS_PER_BEAT, midi_bytes
from bridge.output.midi_timing import TempoMap
from bridge.output.naming import (
    MIDI_SUFFIX,
    OutputRequest,
    request_key,
    stem_for,
    variants,
)
from bridge.output.notes_json import notes_json_bytes, notes_path_for

log = logging.getLogger(__name__)

CLI_REQUEST = ""  # the request key recorded for a name the user chose (convert -o)


def tempo_map_for(arrangement: Arrangement) -> TempoMap | None:
    """A tempo map from the arrangement's beats (session seconds), when there are enough of them."""
    beats = np.asarray(arrangement.beats, dtype=np.float64)
    if beats.size < 2 or np.any(np.diff(beats) <= 0):
        return None
    return TempoMap.from_beats(beats, TICKS_PER_BEAT)


def render(arrangement: Arrangement, midi_path: str, tempo_map: bool = False) -> tuple[bytes, bytes]:
    """The MIDI file and its notes JSON (which names the MIDI file's path) as bytes.

    An arrangement on the session's own grid always carries that grid as the file's tempo map,
    so a DAW importing by beats puts every note on the same grid line as one importing by time.
    """
    tempo_map = tempo_map or arrangement.beat_source != TRACKED
    name = os.path.splitext(os.path.basename(midi_path))[0]
    data = midi_bytes(arrangement.notes, arrangement.tempo, name, tempo_map_for(arrangement) if tempo_map else None)
    return data, notes_json_bytes(arrangement, midi_path, tempo_map=tempo_map)


def write_result(
    arrangement: Arrangement, folder: str, request: OutputRequest, label: str = "the output folder"
) -> tuple[str, str]:
    """Write a conversion result into ``folder`` under the request's own name; return both paths.

    The name is ``stem_for(request)``; if a file there is not the bridge's own unchanged result
    of this same request, the next free variant (``… (2)``) is used. The same request again
    reuses its own unchanged files, untouched when the new result is identical.
    ``label`` names the folder in a "removed while converting" error.
    """
    folder = os.path.abspath(folder)
    key, stem = request_key(request), stem_for(request)
    try:
        manifest = Manifest.load(folder)
        for candidate in variants(stem):
            midi_path = os.path.join(folder, candidate + MIDI_SUFFIX)
            if not all(_free_or_ours(manifest, path, key) for path in (midi_path, notes_path_for(midi_path))):
                log.info("%s is taken by a file the bridge may not replace; trying another name", midi_path)
                continue
            try:
                return _write_pair(arrangement, manifest, midi_path, key, request.tempo_map, owner=key)
            except NameTaken as taken:
                log.info("%s appeared while writing; trying another name", taken)
                manifest = Manifest.load(folder)
    except OSError as exc:
        raise io_error(exc, folder, label) from None
    raise IOFailure(f"no free file name for {stem!r} in {folder}: clear out old results")


def check_target(midi_path: str, overwrite: bool = False) -> Manifest:
    """Refuse (``bad_request``) a ``convert -o`` target the bridge may not replace; the folder's manifest.

    An existing file at either name may be replaced only if it is the bridge's own unchanged
    output, or with ``overwrite``; a symlink there is refused either way (the bridge never writes
    through one, and replacing it would silently break what it points to).
    """
    midi_path = os.path.abspath(midi_path)
    manifest = Manifest.load(os.path.dirname(midi_path))
    for path in (midi_path, notes_path_for(midi_path)):
        if os.path.islink(path):
            raise BadRequest(f"{path} is a symbolic link; the bridge never writes through one: "
                             "give the real file's path")
        if os.path.lexists(path) and not os.path.isfile(path):
            raise BadRequest(f"{path} exists and is not a file")
        if os.path.lexists(path) and not overwrite and not manifest.owns(os.path.basename(path)):
            raise BadRequest(f"{path} exists and was not written by the bridge (or was changed since); "
                             "pass --overwrite to replace it")
    return manifest


def write_outputs(
    arrangement: Arrangement, midi_path: str, tempo_map: bool = False, overwrite: bool = False
) -> tuple[str, str]:
    """Write exactly ``midi_path`` and its notes JSON (``convert -o``); return both absolute paths.

    What may be replaced: see :func:`check_target`, which runs again here (the files may have
    changed while converting).
    """
    midi_path = os.path.abspath(midi_path)
    folder = os.path.dirname(midi_path)
    try:
        manifest = check_target(midi_path, overwrite)
        try:
            return _write_pair(arrangement, manifest, midi_path, CLI_REQUEST, tempo_map, owner=None,
                               overwrite=overwrite)
        except NameTaken as taken:
            raise BadRequest(f"{taken} appeared while converting; it was left alone") from None
    except OSError as exc:
        raise io_error(exc, folder) from None


def _free_or_ours(manifest: Manifest, path: str, key: str) -> bool:
    """A result may go to ``path`` if nothing is there, or this request's own unchanged file."""
    return not os.path.lexists(path) or manifest.owns(os.path.basename(path), key)


def _write_pair(
    arrangement: Arrangement, manifest: Manifest, midi_path: str, key: str, tempo_map: bool,
    owner: str | None, overwrite: bool = False,
) -> tuple[str, str]:
    """Render, write both temporaries, then publish manifest, notes JSON and MIDI file in that order.

    ``key`` is recorded for the new files. An existing file at a name is replaced only when it is
    the bridge's own unchanged file written for ``owner`` (None: for any request), or with
    ``overwrite``; anything else at a name makes publishing fail with :class:`NameTaken`.
    """
    folder = manifest.folder
    notes_path = notes_path_for(midi_path)
    midi_data, notes_data = render(arrangement, midi_path, tempo_map)
    names = {os.path.basename(midi_path): midi_data, os.path.basename(notes_path): notes_data}
    if all(manifest.owns(name, owner) and manifest.records[name].sha256 == hashlib.sha256(data).hexdigest()
           for name, data in names.items()):
        log.info("%s is unchanged: kept as it is", midi_path)
        return midi_path, notes_path
    may_replace = {name: overwrite or manifest.owns(name, owner) for name in names}
    temps: list[str] = []
    published: list[_Published] = []
    try:
        records = {}
        for name, data in names.items():  # the MIDI file first: the larger JSON is what fills a disk
            temps.append(write_temp(folder, name, data))
            records[name] = FileRecord.of(temps[-1], data, key)
        midi_temp, notes_temp = temps
        if manifest.writable:
            temps.append(write_temp(folder, MANIFEST_NAME, manifest.render(records)))
            os.replace(temps[-1], manifest.path)
        try:
            for temp, path in ((notes_temp, notes_path), (midi_temp, midi_path)):
                published.append(_publish(temp, path, may_replace[os.path.basename(path)]))
        except BaseException:
            for item in reversed(published):
                item.undo()
            raise
        fsync_folder(folder)
        log.info("wrote %s and %s", midi_path, notes_path)
        return midi_path, notes_path
    finally:
        for item in published:
            item.discard_backup()
        for temp in temps:
            with contextlib.suppress(OSError):
                os.unlink(temp)


@dataclass
class _Published:
    """One file given its final name, and how to take that back if its partner cannot follow."""

    final: str
    created: bool  # the name was free; else a file of ours was replaced
    backup: str = ""  # a hard link to the replaced file, while the pair is not complete

    def undo(self) -> None:
        with contextlib.suppress(OSError):
            if self.created:
                os.unlink(self.final)
            elif self.backup:
                os.replace(self.backup, self.final)
                self.backup = ""
            else:
                log.warning("%s was replaced but its partner could not be; no copy of the old one to restore",
                            self.final)

    def discard_backup(self) -> None:
        if self.backup:
            with contextlib.suppress(OSError):
                os.unlink(self.backup)


def _publish(temp: str, final: str, may_replace: bool) -> _Published:
    """Give ``temp``'s file the name ``final``: a new name, or (``may_replace``) over the bridge's own old file."""
    if not (may_replace and os.path.lexists(final)):
        publish_new(temp, final)
        return _Published(final, created=True)
    backup = temp.removesuffix(TEMP_SUFFIX) + ".old" + TEMP_SUFFIX
    try:
        os.link(final, backup)  # no data is copied; the old file stays restorable until the pair is out
    except OSError:  # a file system without hard links
        backup = ""
    try:
        os.replace(temp, final)
    except BaseException:
        if backup:
            with contextlib.suppress(OSError):
                os.unlink(backup)
        raise
    return _Published(final, created=False, backup=backup)
