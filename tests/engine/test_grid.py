"""The session's own beat grid instead of a tracker's: checks, and every note on the session grid."""

from __future__ import annotations

import json

import mido
import numpy as np
import pytest
import soundfile as sf

import audio_fixtures
from bridge.engine.grid import clip_beats, constant_grid, grid_for, off_grid, read_beats_file
from bridge.engine.types import BEATS_FILE, SESSION_GRID, BeatGrid, ClipRequest
from bridge.errors import BadRequest, NotFound
from bridge.output.files import write_outputs
from bridge.output.midi_file import TICKS_PER_BEAT

SR = 44100


def test_a_constant_grid_runs_through_its_offset_and_covers_the_clip():
    grid = constant_grid(120.0, 10.25, 10.0, 14.0)
    assert grid.source == SESSION_GRID and 10.25 in grid.times
    assert grid.times[0] < 10.0 and grid.times[-1] > 14.0
    assert np.allclose(np.diff(grid.times), 0.5)


def test_bad_grids_are_refused_clearly(tmp_path):
    with pytest.raises(BadRequest, match="increase"):
        clip_beats(BeatGrid(BEATS_FILE, (0.0, 1.0, 0.9, 2.0)), 0.0, 2.0)
    with pytest.raises(BadRequest, match="BPM"):
        clip_beats(BeatGrid(BEATS_FILE, (0.0, 0.01, 0.02)), 0.0, 2.0)  # 6000 BPM
    with pytest.raises(BadRequest, match="at least two"):
        clip_beats(BeatGrid(BEATS_FILE, (1.0,)), 0.0, 2.0)
    with pytest.raises(BadRequest, match="BPM"):
        constant_grid(2000.0, 0.0, 0.0, 1.0)
    bad = tmp_path / "beats.json"
    for text in ('{"beats": [1, 2]}', "[1, 2, \"x\"]", "[1, NaN]", "not json"):
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(BadRequest, match="beats file"):
            read_beats_file(str(bad), BEATS_FILE)
    with pytest.raises(NotFound):
        read_beats_file(str(tmp_path / "missing.json"), BEATS_FILE)


def test_a_grid_is_cut_to_the_clip_and_extended_at_its_edge_tempo():
    times = np.arange(0.0, 100.0, 0.5)  # a long tempo map; the clip is 20 s–24 s of it
    beats = clip_beats(BeatGrid(BEATS_FILE, tuple(times)), 20.0, 4.0)
    assert beats[0] <= 0.0 and beats[-1] >= 4.0 and len(beats) <= 12
    short = clip_beats(BeatGrid(BEATS_FILE, (1.0, 1.5)), 0.0, 4.0)  # two beats, extended both ways
    assert short[0] <= 0.0 and short[-1] >= 4.0 and np.allclose(np.diff(short), 0.5)


def test_off_grid_measures_the_distance_to_the_nearest_half_beat():
    assert np.allclose(off_grid([0.0, 0.25, 0.3, 0.9], [0.0, 0.5, 1.0]), [0.0, 0.0, 0.05, 0.1])


@pytest.fixture(scope="module")
def tempo_change(tmp_path_factory):
    """A song at 100 BPM that changes to 130 BPM at 6 s, and its beat times (what the session knows)."""
    beats = audio_fixtures.beats_with_tempo_change(14.0, 100.0, 130.0, 6.0, first=0.37)
    path = tmp_path_factory.mktemp("grid") / "tempo change.wav"
    sf.write(str(path), audio_fixtures.song_on_beats(beats, 14.0, SR), SR)
    return str(path), beats


@pytest.mark.parametrize("playrate", [1.0, 1.25])
def test_every_note_lands_on_the_session_grid_through_a_tempo_change(converter, tempo_change, tmp_path, playrate):
    path, beats = tempo_change
    start, duration = 1.3, 11.0  # the clip starts between beats and spans the tempo change
    grid = grid_for(None, None, None, start, start + duration) or BeatGrid(BEATS_FILE, tuple(beats))
    arrangement = converter.convert(ClipRequest(path, start, duration, playrate, composer="composer3", grid=grid))
    assert arrangement.notes, "no notes: this would prove nothing"
    assert arrangement.beat_source == BEATS_FILE
    session_beats = (beats - start) / playrate
    onsets = [n.start for n in arrangement.notes if n.start > 0]  # the faithful recipe clamps at the clip start
    assert onsets and off_grid(onsets, session_beats).max() < 1e-3
    # the MIDI file carries the session's tempo map: each note-on sits on a half-beat line of the file
    midi_path, notes_path = write_outputs(arrangement, str(tmp_path / "grid.mid"))
    ticks, now = [], 0
    for message in mido.MidiFile(midi_path).tracks[1]:
        now += message.time
        if message.type == "note_on" and message.velocity > 0 and now > 0:
            ticks.append(now)
    assert ticks and all(min(t % (TICKS_PER_BEAT // 2), -t % (TICKS_PER_BEAT // 2)) <= 1 for t in ticks)
    doc = json.load(open(notes_path, encoding="utf-8"))
    assert doc["beat_source"] == "beats_file" and doc["midi"]["tempo_map"] is True
