"""Output file names derived from the audio's name, composer and range. Pure but for ``exists`` checks."""

from __future__ import annotations

import json
import os
import re
import unicodedata

_UNSAFE = re.compile(r"[^A-Za-z0-9 ._()+-]+")
MAX_STEM = 80
DEFAULT_FOLDER = "Pop2Piano"


def sanitise(name: str) -> str:
    """A file-name-safe version of ``name``: no separators, no dots at the ends, not empty."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    cleaned = _UNSAFE.sub("_", ascii_name).strip(" ._")
    cleaned = re.sub(r"_+", "_", cleaned)[:MAX_STEM].strip(" ._")
    return cleaned or "clip"


def stem_for(audio_path: str, composer: str, start: float, duration: float) -> str:
    """``<audio stem> - <composer> - <start>s-<end>s`` (``full`` when the whole file was used)."""
    audio = sanitise(os.path.splitext(os.path.basename(audio_path))[0])
    span = "full" if start == 0 and duration == 0 else f"{start:.2f}s+{duration:.2f}s"
    return sanitise(f"{audio} - {composer} - {span}")


def written_by_bridge(midi_path: str) -> bool:
    """A MIDI file counts as ours when its notes JSON beside it says our generator wrote it."""
    from bridge.output.notes_json import SCHEMA_ID, notes_path_for

    try:
        with open(notes_path_for(midi_path), encoding="utf-8") as handle:
            doc = json.load(handle)
        return isinstance(doc, dict) and doc.get("schema") == SCHEMA_ID and doc.get("midi", {}).get("path") == midi_path
    except (OSError, ValueError, AttributeError):
        return False


def free_midi_path(folder: str, stem: str) -> str:
    """``folder/stem.mid``, or ``stem (2).mid``…: never a file (or notes JSON) the bridge did not write."""
    from bridge.output.notes_json import notes_path_for

    for n in range(1, 1000):
        name = stem if n == 1 else f"{stem} ({n})"
        path = os.path.join(folder, name + ".mid")
        taken = os.path.lexists(path) or os.path.lexists(notes_path_for(path))
        if not taken or (os.path.isfile(path) and not os.path.islink(path) and written_by_bridge(path)):
            return path
    raise OSError(f"no free file name for {stem!r} in {folder}")
