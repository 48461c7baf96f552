"""Output file names: one name per distinct request, readable and sanitised. Pure: no I/O.

A name is ``<audio name> - <composer> - <range>[ - x<playrate>][ - <tempo>bpm][ - tempo map] - <key>``.
The readable parts are lossy (sanitised, rounded, shortened); ``<key>`` is a short hash of
the *whole* request (the audio's absolute path exactly as given, every parameter that changes
the notes, and the engine's settings), so two different requests never share a name, while
the same request always maps to the same name and may reuse its own earlier, unchanged files.
Which file at a name is the bridge's own is decided by :mod:`bridge.output.manifest`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

_UNSAFE = re.compile(r"[^A-Za-z0-9 ._()+-]+")
MAX_STEM = 80  # longest readable part of a name, in characters
MAX_AUDIO_NAME = 48  # longest share of it the audio's name may take
KEY_LENGTH = 12  # hex digits of the request hash: 48 bits
MAX_VARIANTS = 100  # "name (2)" … "name (100)" when a name is held by someone else's file
DEFAULT_FOLDER = "Pop2Piano"
MIDI_SUFFIX = ".mid"
NOTES_SUFFIX = ".notes.json"
# The longest file name this module returns (stem, variant suffix, longest extension): well under
# the 255 bytes every common file system allows.
MAX_NAME = MAX_STEM + len(" - ") + KEY_LENGTH + len(f" ({MAX_VARIANTS})") + len(NOTES_SUFFIX)

# Windows refuses these as a name's part before its first dot, whatever the extension.
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
_KEY_VERSION = 1  # bump when the request's canonical form changes (old names then stay old files)


def sanitise(name: str, limit: int = MAX_STEM) -> str:
    """A file-name-safe version of ``name``: ASCII, no separators, no dots or spaces at the ends,
    not a Windows device name, at most ``limit`` characters, never empty."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    cleaned = _UNSAFE.sub("_", ascii_name).strip(" ._")
    cleaned = re.sub(r"_+", "_", cleaned)[:limit].strip(" ._")
    if cleaned.split(".", 1)[0].strip().upper() in _RESERVED:
        cleaned = ("_" + cleaned)[:limit]
    return cleaned or "clip"


def _number(value: float) -> float:
    """One canonical float per value: 1 and 1.0 hash alike, and so do -0.0 and 0.0."""
    return float(value) + 0.0


@dataclass(frozen=True)
class OutputRequest:
    """Everything that changes what a conversion writes, i.e. what its output name must tell apart.

    ``audio_path`` should be absolute (the daemon and CLI pass ``os.path.abspath``): two
    different files must never share a name. ``engine`` is the engine's settings that change
    the notes (model revision, recipe, activation, beat tracker, precision). ``grid`` is the
    session grid's source and fingerprint (empty when beats were tracked).
    """

    audio_path: str
    composer: str
    start: float = 0.0
    duration: float = 0.0
    playrate: float = 1.0
    tempo: float | None = None
    tempo_map: bool = False
    engine: Sequence[str] = field(default_factory=tuple)
    grid: str = ""

    def canonical(self) -> str:
        """The request as one canonical JSON text (what :func:`request_key` hashes)."""
        return json.dumps({
            "v": _KEY_VERSION,
            "audio": self.audio_path,
            "composer": self.composer,
            "start": _number(self.start),
            "duration": _number(self.duration),
            "playrate": _number(self.playrate),
            "tempo": _number(self.tempo) if self.tempo else None,  # 0 and None both mean "detected"
            "tempo_map": bool(self.tempo_map),
            "engine": [str(part) for part in self.engine],
            **({"grid": self.grid} if self.grid else {}),  # absent when tracked: earlier names stay the same
        }, sort_keys=True, ensure_ascii=True)


def request_key(request: OutputRequest) -> str:
    """A short hex hash of the whole request: equal requests, equal keys; different ones, different keys."""
    return hashlib.sha256(request.canonical().encode("utf-8")).hexdigest()[:KEY_LENGTH]


def _short(value: float) -> str:
    """A number for people: up to two decimals, no trailing zeros (``1.25``, ``100``)."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def stem_for(request: OutputRequest) -> str:
    """The file name without extension for ``request`` (see the module docstring)."""
    audio = sanitise(os.path.basename(request.audio_path.replace("\\", "/")), MAX_AUDIO_NAME)
    parts = [audio, sanitise(request.composer, 24)]
    start, duration = _number(request.start), _number(request.duration)
    parts.append("full" if start == 0 and duration == 0 else f"{start:.2f}s+{duration:.2f}s")
    if _number(request.playrate) != 1.0:
        parts.append(f"x{_short(request.playrate)}")
    if request.tempo:
        parts.append(f"{_short(request.tempo)}bpm")
    if request.tempo_map:
        parts.append("tempo map")
    if request.grid:
        parts.append("session grid")
    readable = sanitise(" - ".join(parts), MAX_STEM)
    return f"{readable} - {request_key(request)}"


def variants(stem: str) -> Iterator[str]:
    """``stem``, then ``stem (2)`` … ``stem (MAX_VARIANTS)``: where a result goes when its own
    name is held by a file the bridge may not replace."""
    yield stem
    for n in range(2, MAX_VARIANTS + 1):
        yield f"{stem} ({n})"
