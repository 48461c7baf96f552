"""The file sink: ``OUT.mid`` plus ``OUT.notes.json`` for one arrangement, both atomic."""

from __future__ import annotations

import os

import numpy as np

from bridge.engine.timing import TempoMap
from bridge.engine.types import Arrangement
from bridge.output.midi_file import TICKS_PER_BEAT, write_midi
from bridge.output.notes_json import notes_path_for, write_notes_json


def tempo_map_for(arrangement: Arrangement) -> TempoMap | None:
    """A tempo map from the detected beats (session seconds), when there are enough of them."""
    beats = np.asarray(arrangement.beats, dtype=np.float64)
    if beats.size < 2 or np.any(np.diff(beats) <= 0):
        return None
    return TempoMap.from_beats(beats, TICKS_PER_BEAT)


def write_outputs(arrangement: Arrangement, midi_path: str, tempo_map: bool = False) -> tuple[str, str]:
    """Write the MIDI file and its notes JSON beside it; return both absolute paths."""
    midi_path = os.path.abspath(midi_path)
    notes_path = notes_path_for(midi_path)
    name = os.path.splitext(os.path.basename(midi_path))[0]
    write_midi(midi_path, arrangement.notes, arrangement.tempo, name, tempo_map_for(arrangement) if tempo_map else None)
    write_notes_json(notes_path, arrangement, midi_path, tempo_map=tempo_map)
    return midi_path, notes_path
