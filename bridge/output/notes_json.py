"""``OUT.notes.json``: the arrangement as data, for DAW scripts that insert notes themselves.

The schema is documented in docs/notes-json.md and published as docs/notes.schema.json.
Times are session seconds from the clip start: (source time − start) / playrate.
"""

from __future__ import annotations

import json
import os
from typing import Any

from bridge import __version__
from bridge.engine.notes import playable
from bridge.engine.types import Arrangement
from bridge.output.midi_file import TICKS_PER_BEAT
from bridge.output.midi_timing import tempo_to_midi
from bridge.output.naming import NOTES_SUFFIX

SCHEMA_ID = "pop2piano-bridge/notes"
SCHEMA_VERSION = 1


def notes_path_for(midi_path: str) -> str:
    """``OUT.mid`` → ``OUT.notes.json`` (same folder, same stem)."""
    stem, _ext = os.path.splitext(midi_path)
    return stem + NOTES_SUFFIX


def to_document(arrangement: Arrangement, midi_path: str | None = None, tempo_map: bool = False) -> dict[str, Any]:
    """The JSON document for an arrangement (notes already made playable)."""
    a = arrangement
    notes = playable(a.notes)
    return {
        "schema": SCHEMA_ID,
        "schema_version": SCHEMA_VERSION,
        "generator": f"pop2piano-bridge {__version__}",
        "time_base": "session seconds from the clip start",
        "source": {"path": a.source, "start": a.start, "duration": a.duration, "playrate": a.playrate},
        "length": a.session_length,
        "model": {"id": a.model_id, "revision": a.model_revision, "activation": a.activation, "precision": a.precision},
        "composer": a.composer,
        "recipe": a.recipe,
        "tempo": a.tempo,
        "tempo_source": a.tempo_source,
        "detected_tempo": a.detected_tempo,
        "beat_source": a.beat_source,
        "beat_tracker": a.tracker,
        "beat_tracker_note": a.tracker_note,
        "beats": a.beats,
        "midi": {
            "path": os.path.abspath(midi_path) if midi_path else None,
            "ticks_per_beat": TICKS_PER_BEAT,
            "tempo_us_per_beat": tempo_to_midi(a.tempo),
            "tempo_map": tempo_map,
        },
        "note_count": len(notes),
        "notes": [n.as_dict() for n in notes],
    }


def notes_json_bytes(arrangement: Arrangement, midi_path: str | None = None, tempo_map: bool = False) -> bytes:
    """The document as UTF-8 bytes, one-space indented, ending with a newline."""
    return (json.dumps(to_document(arrangement, midi_path, tempo_map), indent=1) + "\n").encode("utf-8")
