"""Standard MIDI files that land on the same times whether a DAW imports by beats or by time.

By default one tempo for the whole file, the session tempo: ticks are computed from the
exact BPM (what a DAW importing by beats uses), and the file's tempo event is the same
BPM in microseconds per quarter (what a DAW importing by time uses). Both readings
agree to well under a millisecond. With a :class:`TempoMap` (``--tempo-map``) the
file instead carries one tempo event per detected beat, so bar lines follow the song;
such a file keeps its note times only when imported by time (or with its tempo map).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

import mido

from bridge.engine.notes import playable
from bridge.engine.types import Note
from bridge.output.atomic import atomic_write
from bridge.output.midi_timing import TempoMap, seconds_to_ticks, tempo_to_midi

TICKS_PER_BEAT = 960
PIANO_PROGRAM = 0
CHANNEL = 0


def build_midi(
    notes: Sequence[Note], bpm: float, name: str = "Pop2Piano", tempo_map: TempoMap | None = None
) -> mido.MidiFile:
    """A type-1 file: a tempo track and one piano track holding ``playable(notes)``."""
    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    meta = mido.MidiTrack([mido.MetaMessage("track_name", name=name, time=0)])
    if tempo_map is None:
        meta.append(mido.MetaMessage("set_tempo", tempo=tempo_to_midi(bpm), time=0))
    else:
        previous = 0
        for tick, tempo in zip(tempo_map.ticks, tempo_map.us_per_beat):
            meta.append(mido.MetaMessage("set_tempo", tempo=tempo, time=tick - previous))
            previous = tick
    meta.insert(1, mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0))
    meta.append(mido.MetaMessage("end_of_track", time=0))

    def ticks(seconds: float) -> int:
        if tempo_map is None:
            return seconds_to_ticks(seconds, bpm, TICKS_PER_BEAT)
        return tempo_map.seconds_to_ticks(seconds)

    events: list[tuple[int, int, mido.Message]] = []
    for pitch, on, off, velocity in _tick_notes(playable(notes), ticks):
        # At equal ticks note-offs go first, so a re-struck pitch is not cut by its own end.
        events.append((on, 1, mido.Message("note_on", channel=CHANNEL, note=pitch, velocity=velocity)))
        events.append((off, 0, mido.Message("note_off", channel=CHANNEL, note=pitch, velocity=0)))
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


def _tick_notes(notes: Sequence[Note], ticks: Callable[[float], int]) -> list[tuple[int, int, int, int]]:
    """(pitch, on, off, velocity) in ticks, at least one tick long, never overlapping per pitch.

    Notes closer than a tick collapse onto one tick; of those the later strike wins.
    """
    by_pitch: dict[int, list[tuple[int, int, int]]] = {}
    for note in notes:
        on = ticks(note.start)
        off = max(on + 1, ticks(note.end))
        by_pitch.setdefault(note.pitch, []).append((on, off, max(1, min(127, int(note.velocity)))))
    result = []
    for pitch, items in by_pitch.items():
        items.sort()
        for i, (on, off, velocity) in enumerate(items):
            if i + 1 < len(items):
                off = min(off, items[i + 1][0])
            if off > on:
                result.append((pitch, on, off, velocity))
    return result


def midi_bytes(
    notes: Sequence[Note], bpm: float, name: str = "Pop2Piano", tempo_map: TempoMap | None = None
) -> bytes:
    """The Standard MIDI File as bytes (results are rendered whole before anything touches the disk)."""
    buffer = io.BytesIO()
    build_midi(notes, bpm, name, tempo_map).save(file=buffer)
    return buffer.getvalue()


def write_midi(
    path: str, notes: Sequence[Note], bpm: float, name: str = "Pop2Piano", tempo_map: TempoMap | None = None
) -> None:
    """Write the file atomically (replacing ``path``: for callers that own it; results use bridge.output.files)."""
    data = midi_bytes(notes, bpm, name, tempo_map)
    with atomic_write(path, "wb") as handle:
        handle.write(data)
