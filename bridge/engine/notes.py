"""Note-list clean-up for playback and files. Pure.

The model works in overlapping chunks, so the same pitch can be sounding from one
chunk when the next chunk strikes it again. MIDI cannot hold two notes of one pitch
on one channel, so before writing or playing, each note is cut where the next note
of the same pitch starts (the re-strike wins), and exact duplicates are merged.
"""

from __future__ import annotations

from collections.abc import Iterable

from bridge.engine.types import Note


def playable(notes: Iterable[Note]) -> list[Note]:
    """Notes with no two of one pitch overlapping, sorted by (start, pitch)."""
    by_pitch: dict[int, list[Note]] = {}
    for note in notes:
        if note.end > note.start:
            by_pitch.setdefault(note.pitch, []).append(note)
    result: list[Note] = []
    for pitch_notes in by_pitch.values():
        pitch_notes.sort(key=lambda n: (n.start, -n.end))
        kept: list[Note] = []
        for note in pitch_notes:
            if kept and note.start == kept[-1].start:
                continue  # same strike twice: the longer one is already kept
            if kept and note.start < kept[-1].end:
                prev = kept[-1]
                kept[-1] = Note(prev.pitch, prev.start, note.start, prev.velocity)
            kept.append(note)
        result.extend(kept)
    result.sort(key=lambda n: (n.start, n.pitch, n.end))
    return result
