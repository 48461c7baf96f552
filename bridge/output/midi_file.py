"""Standard MIDI files that land on the same times whether a DAW imports by beats or by time.

One tempo for the whole file, the session tempo: ticks are computed from the exact
BPM (what a DAW importing by beats uses), and the file's tempo event is the same BPM
in microseconds per quarter (what a DAW importing by time uses). Both readings agree
to well under a millisecond.
"""

from __future__ import annotations

from collections.abc import Sequence

import mido

from bridge.engine.notes import playable
from bridge.engine.timing import seconds_to_ticks, tempo_to_midi
from bridge.engine.types import Note
from bridge.output.atomic import atomic_write

TICKS_PER_BEAT = 960
PIANO_PROGRAM = 0
CHANNEL = 0


def build_midi(notes: Sequence[Note], bpm: float, name: str = "Pop2Piano") -> mido.MidiFile:
    """A type-1 file: a tempo track and one piano track holding ``playable(notes)``."""
    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    meta = mido.MidiTrack(
        [
            mido.MetaMessage("track_name", name=name, time=0),
            mido.MetaMessage("set_tempo", tempo=tempo_to_midi(bpm), time=0),
            mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0),
            mido.MetaMessage("end_of_track", time=0),
        ]
    )
    events: list[tuple[int, int, mido.Message]] = []
    for note in playable(notes):
        on = seconds_to_ticks(note.start, bpm, TICKS_PER_BEAT)
        off = max(on + 1, seconds_to_ticks(note.end, bpm, TICKS_PER_BEAT))
        velocity = max(1, min(127, int(note.velocity)))
        # At equal ticks note-offs go first, so a re-struck pitch is not cut by its own end.
        events.append((on, 1, mido.Message("note_on", channel=CHANNEL, note=note.pitch, velocity=velocity)))
        events.append((off, 0, mido.Message("note_off", channel=CHANNEL, note=note.pitch, velocity=0)))
    events.sort(key=lambda e: (e[0], e[1], e[2].note))
    piano = mido.MidiTrack()
    piano.append(mido.MetaMessage("track_name", name="Piano", time=0))
    piano.append(mido.Message("program_change", channel=CHANNEL, program=PIANO_PROGRAM, time=0))
    now = 0
    for tick, _order, message in events:
        piano.append(message.copy(time=tick - now))
        now = tick
    piano.append(mido.MetaMessage("end_of_track", time=0))
    midi.tracks.extend([meta, piano])
    return midi


def write_midi(path: str, notes: Sequence[Note], bpm: float, name: str = "Pop2Piano") -> None:
    """Write the file atomically."""
    midi = build_midi(notes, bpm, name)
    with atomic_write(path, "wb") as handle:
        midi.save(file=handle)
