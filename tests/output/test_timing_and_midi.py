"""Alignment math (offsets, playrates, tempi) and MIDI files that read back to the engine's times."""

from __future__ import annotations

import mido
import numpy as np
import pretty_midi
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.engine.converter import step_notes_to_session
from bridge.engine.notes import playable
from bridge.engine.timing import chunk_grid, fixed_grid, to_session
from bridge.engine.tokens import StepNote
from bridge.engine.types import Note
from bridge.output.midi_file import TICKS_PER_BEAT, build_midi, write_midi
from bridge.output.midi_timing import TempoMap, seconds_to_ticks, tempo_to_midi

MS = 1e-3


def test_session_time_divides_by_playrate():
    assert to_session(3.0, 1.0) == 3.0
    assert to_session(3.0, 2.0) == 1.5
    assert to_session(3.0, 0.5) == 6.0


def test_step_notes_land_on_beat_times_scaled_by_playrate():
    beats = np.arange(0.3, 10.3, 0.5)  # 120 BPM, first beat 0.3 s into the clip
    grid = chunk_grid(beats, num_bars=2)
    # step 0 is the first beat, every 2 steps one beat
    notes = step_notes_to_session([StepNote(0, 2, 60, 80), StepNote(4, 9, 62, 80)], grid, playrate=2.0)
    assert notes[0].start == pytest.approx(0.3 / 2)
    assert notes[0].end == pytest.approx(0.8 / 2)
    assert notes[1].start == pytest.approx((0.3 + 1.0) / 2)
    assert notes[1].end == pytest.approx((0.3 + 2.25) / 2)


def test_grid_extends_past_the_last_beat_for_the_cutoff():
    grid = chunk_grid(np.arange(0.0, 4.0, 0.5), num_bars=2)
    # 8 beats → 16 half-beat steps plus one extrapolated → chunks of 8 steps: 3
    assert len(grid.beatsteps) == 17 and grid.chunk_count == 3
    # the last chunk's cutoff (12 steps after its start) must be addressable
    assert grid.step_time(grid.chunk_start_step(2) + 12) == pytest.approx(7.0)


def test_fixed_grid_has_at_least_two_beats():
    assert list(fixed_grid(0.1, 120.0)) == [0.0, 0.5]
    assert fixed_grid(10.0, 60.0)[-1] == pytest.approx(10.0)


def test_playable_cuts_overlaps_of_one_pitch():
    notes = [Note(60, 0.0, 2.0, 77), Note(60, 1.0, 1.5, 77), Note(60, 1.0, 3.0, 77), Note(61, 0.5, 0.5, 77)]
    assert playable(notes) == [Note(60, 0.0, 1.0, 77), Note(60, 1.0, 3.0, 77)]


def _read_mido(path):
    """Absolute seconds of note-ons/offs walking mido's tempo-aware iteration (import by time)."""
    now, sounding, notes = 0.0, {}, []
    for msg in mido.MidiFile(path):
        now += msg.time
        if msg.type == "note_on" and msg.velocity > 0:
            sounding[msg.note] = (now, msg.velocity)
        elif msg.type in ("note_off", "note_on"):
            start, vel = sounding.pop(msg.note)
            notes.append(Note(msg.note, start, now, vel))
    return sorted(notes, key=lambda n: (n.pitch, n.start))


def _read_by_beats(path, bpm):
    """Seconds as a DAW importing by beats into a session at ``bpm`` places them."""
    midi = mido.MidiFile(path)
    tick, sounding, notes = 0, {}, []
    for msg in midi.tracks[1]:
        tick += msg.time
        seconds = tick / midi.ticks_per_beat * 60.0 / bpm
        if msg.type == "note_on" and msg.velocity > 0:
            sounding[msg.note] = seconds
        elif msg.type in ("note_off", "note_on"):
            notes.append((msg.note, sounding.pop(msg.note), seconds))
    return sorted(notes, key=lambda n: (n[0], n[1]))


note_lists = st.lists(
    st.tuples(st.integers(21, 108), st.floats(0, 600), st.floats(0.01, 8), st.integers(1, 127)), max_size=60
).map(lambda xs: [Note(p, s, s + d, v) for p, s, d, v in xs])


def _spaced(notes):
    """Notes a file can hold exactly: of one pitch, at least 2 ms apart (closer ones merge into a tick)."""
    kept = []
    for note in playable(notes):
        if kept and note.pitch == kept[-1].pitch and note.start - kept[-1].start < 0.002:
            continue
        if note.end - note.start >= 0.002:
            kept.append(note)
    return kept


@settings(max_examples=60, deadline=None)
@given(notes=note_lists, bpm=st.floats(40, 240))
def test_midi_reads_back_within_a_millisecond_by_time_and_by_beats(tmp_path_factory, notes, bpm):
    path = str(tmp_path_factory.mktemp("midi") / "out.mid")
    notes = _spaced(sorted(notes, key=lambda n: (n.pitch, n.start)))
    write_midi(path, notes, bpm)
    expected = sorted(playable(notes), key=lambda n: (n.pitch, n.start))
    by_time = _read_mido(path)
    assert len(by_time) == len(expected)
    for got, want in zip(by_time, expected):
        assert got.pitch == want.pitch and got.velocity == want.velocity
        assert abs(got.start - want.start) < MS and abs(got.end - want.end) < MS
    for (pitch, start, end), want in zip(_read_by_beats(path, bpm), expected):
        assert pitch == want.pitch and abs(start - want.start) < MS and abs(end - want.end) < MS


def test_pretty_midi_reads_the_same_times(tmp_path):
    notes = [Note(60, 0.123, 0.5, 90), Note(64, 0.25, 1.75, 70), Note(67, 59.9, 61.234, 100)]
    path = str(tmp_path / "x.mid")
    write_midi(path, notes, 97.3)
    pm = pretty_midi.PrettyMIDI(path)
    assert pm.instruments[0].program == 0 and not pm.instruments[0].is_drum
    got = sorted(pm.instruments[0].notes, key=lambda n: n.start)
    for g, w in zip(got, notes):
        assert (g.pitch, g.velocity) == (w.pitch, w.velocity)
        assert abs(g.start - w.start) < MS and abs(g.end - w.end) < MS


def test_tempo_map_follows_beats_and_keeps_note_times(tmp_path):
    rng = np.random.default_rng(0)
    beats = 0.4 + np.cumsum(rng.uniform(0.45, 0.55, 200))
    tempo_map = TempoMap.from_beats(beats, TICKS_PER_BEAT)
    notes = [Note(60 + i % 12, float(t), float(t) + 0.3, 80) for i, t in enumerate(rng.uniform(0, 100, 300))]
    path = str(tmp_path / "map.mid")
    write_midi(path, notes, 120.0, tempo_map=tempo_map)
    pm = pretty_midi.PrettyMIDI(path)
    # every beat of the song is a beat of the file
    file_beats = pm.get_beats()
    for beat in beats[beats < pm.get_end_time() - 0.01]:
        assert np.min(np.abs(file_beats - beat)) < MS
    got = sorted(pm.instruments[0].notes, key=lambda n: (n.start, n.pitch))
    for g, w in zip(got, playable(notes)):
        assert abs(g.start - w.start) < MS and abs(g.end - w.end) < MS


def test_tempo_helpers():
    assert tempo_to_midi(120.0) == 500_000
    assert seconds_to_ticks(1.0, 120.0, 960) == 1920
    assert build_midi([], 120.0).tracks[0][1].type in ("time_signature", "set_tempo")
