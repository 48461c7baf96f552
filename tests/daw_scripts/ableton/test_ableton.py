"""Ableton Live Remote Script: its OSC codec against python-osc, placement math on fake clips, the
per-version Live API table, mypy against ableton-live-stubs, Python 3.7 compatibility, and the
script on a fake Live host (built from Live's per-version API dumps) against a real bridge or a
scripted one."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import sys
import time

import ableton_fakes as fakes
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st
from live_api import versions
from live_api.versions import MATRIX, live
from processes import ROOT, Peer
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

SCRIPT_PARENT = os.path.join(ROOT, "bridge", "daw_scripts", "ableton")
sys.path.insert(0, SCRIPT_PARENT)
fakes.install_live_module()

import Pop2PianoBridge.script as script_module  # noqa: E402
from Pop2PianoBridge import osc  # noqa: E402
from Pop2PianoBridge.audio_header import rate_from_header, sample_rate_of  # noqa: E402
from Pop2PianoBridge.config import load_config, parse_config  # noqa: E402
from Pop2PianoBridge.launcher import bridge_argv, detached_options  # noqa: E402
from Pop2PianoBridge.placement import (  # noqa: E402
    audition_styles,
    choose_styles,
    clip_sample_rate,
    composer_from_name,
    placed_notes,
    playrate_for,
    region_for,
    strip_command,
    tracked_from_name,
    warp_beats,
)

SR = fakes.SR
LIVE37 = [v for v in MATRIX if live(v).python.startswith("3.7")]

args_strategy = st.lists(st.one_of(
    st.integers(-2**31, 2**31 - 1),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=40),
), max_size=8)


@settings(max_examples=300, deadline=None)
@given(args=args_strategy)
def test_our_encoding_parses_in_python_osc(args):
    message = OscMessage(osc.encode("/pop2piano/convert", args))
    assert message.address == "/pop2piano/convert" and list(message.params) == args


@settings(max_examples=300, deadline=None)
@given(args=args_strategy)
def test_python_osc_encoding_parses_in_ours(args):
    builder = OscMessageBuilder(address="/pop2piano/done")
    for a in args:
        builder.add_arg(a, "i" if isinstance(a, int) else "f" if isinstance(a, float) else "s")
    assert osc.decode(builder.build().dgram) == ("/pop2piano/done", args)


@pytest.mark.parametrize("data", [b"", b"garbage", b"/x\x00\x00,q\x00\x00", b"/x\x00\x00,i\x00\x00\x00\x01", b"#bundle\x00"])
def test_codec_rejects_garbage(data):
    with pytest.raises(osc.OscError):
        osc.decode(data)


# -- the per-version API table ----------------------------------------------------------

MIRROR = "/work/.mirror/PhotonicVelocity+LiveAPI/repo"


def test_table_names_its_source_and_covers_the_matrix():
    table = versions.table()
    assert table["source"]["repository"] == "PhotonicVelocity/LiveAPI"
    assert len(table["source"]["commit"]) == 40
    assert set(MATRIX) <= set(table["versions"])
    assert {live(v).python for v in table["versions"]} == {"3.7.3", "3.11.6"}


@pytest.mark.skipif(not os.path.isdir(MIRROR), reason="no PhotonicVelocity/LiveAPI snapshot (fetch it to re-extract)")
def test_table_is_what_the_extractor_makes_from_the_dumps():
    result = subprocess.run([sys.executable, "tests/daw_scripts/ableton/live_api/extract.py", "--repo", MIRROR], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    with open(versions.TABLE_PATH, encoding="utf-8") as handle:
        assert result.stdout == handle.read()


def test_table_has_the_api_changes_the_script_handles():
    """What the dumps say (and so what the fake does); the script handles each case."""
    returns = {v: live(v).returns("Live.ClipSlot.ClipSlot", "create_clip") for v in MATRIX}
    assert [v for v in MATRIX if returns[v] == "None"] == ["11.0.0", "11.0.5", "11.3.20", "12.0.0"]
    has_midi_clip = [v for v in MATRIX if live(v).has("Live.Track.Track", "create_midi_clip")]
    assert has_midi_clip == ["12.1.10", "12.2.0", "12.3.5"]
    assert live("12.1.10").returns("Live.Track.Track", "create_midi_clip") == "None"
    assert live("12.2.0").returns("Live.Track.Track", "create_midi_clip") == "Clip"
    assert [v for v in MATRIX if not live(v).has("Live.Clip.Clip", "sample_rate")] == ["11.0.0"]
    # the warp grid: every dumped version converts beats to sample time and back
    assert all(live(v).has("Live.Clip.Clip", m) for v in table_versions() for m in ("beat_to_sample_time", "sample_to_beat_time"))
    assert LIVE37 == ["11.0.0", "11.0.5", "11.3.20", "11.3.25", "12.0.0", "12.0.5"]


def test_table_has_what_auditions_rely_on():
    """Auditions (docs/ableton.md): take lanes from 12.2.0 only; scenes can be added and tracks
    switched off in every version; no version lets a script make a group track."""
    every = table_versions()
    lanes = [v for v in every if live(v).has("Live.Track.Track", "create_take_lane")]
    assert lanes == [v for v in every if versions.key(v) >= (12, 2, 0)] and lanes[0] == "12.2.0"
    assert [v for v in MATRIX if live(v).has("Live.Track.Track", "take_lanes")] == ["12.2.0", "12.3.5"]
    assert live("12.2.0").returns("Live.Track.Track", "create_take_lane") == "LomObject"  # not TakeLane
    assert all(live(v).returns("Live.TakeLane.TakeLane", "create_midi_clip") == "Clip" for v in lanes)
    assert all(live(v).has("Live.TakeLane.TakeLane", "name") for v in lanes)
    assert all(live(v).has("Live.Song.Song", "create_scene") and live(v).returns("Live.Song.Song", "create_scene")
               == "Scene" for v in every)
    assert all(live(v).has("Live.Track.Track", "mute") for v in every)
    song_members = versions.table()["classes"]["Live.Song.Song"]
    assert [m for m in song_members if "group" in m] == []  # no create_group_track in any dump
    track_members = versions.table()["classes"]["Live.Track.Track"]
    assert {m for m in track_members if "group" in m} == {"group_track", "is_grouped"}  # read-only properties
    assert all(track_members[m]["kind"] == "property" for m in ("group_track", "is_grouped"))
    assert all(live(v).has("Live.Song.Song", m) for v in every for m in ("begin_undo_step", "end_undo_step"))


def table_versions():
    return list(versions.table()["versions"])


FAKE_CLASSES = [fakes.Song, fakes.SongView, fakes.Track, fakes.ClipSlot, fakes.Clip, fakes.MixerDevice,
                fakes.DeviceParameter, fakes.Scene, fakes.TakeLane]


def _public_members(cls):
    names = set()
    for klass in cls.__mro__:
        if klass in (fakes.LiveObject, object):
            continue
        names |= {n for n in vars(klass) if not n.startswith("_") and not n.startswith("fake_") and n != "LIVE_CLASS"}
    return names


@pytest.mark.parametrize("cls", FAKE_CLASSES, ids=lambda c: c.__name__)
def test_fake_invents_no_api(cls):
    """Every public member of a fake exists in some Live version's dump."""
    invented = [n for n in _public_members(cls) if not live("12.3.5").known(cls.LIVE_CLASS, n)]
    assert invented == []


@pytest.mark.parametrize("version", versions.table()["versions"])
def test_fake_members_exist_exactly_where_the_dump_has_them(version, tmp_path):
    song, clip = fakes.build_host(version, str(tmp_path / "a.wav"))
    track = song.tracks[0]
    objects = {fakes.Song: song, fakes.SongView: song.view, fakes.Track: track, fakes.ClipSlot: track.clip_slots[0],
               fakes.Clip: clip, fakes.MixerDevice: song.master_track.mixer_device,
               fakes.DeviceParameter: song.master_track.mixer_device.song_tempo, fakes.Scene: song.scenes[0],
               fakes.TakeLane: fakes.TakeLane(live(version), track, "Take 1")}
    for cls, obj in objects.items():
        for name in _public_members(cls):
            if live(version).has(cls.LIVE_CLASS, name):
                getattr(obj, name)  # must not raise AttributeError (Live errors are RuntimeErrors)
            else:
                with pytest.raises(AttributeError):
                    getattr(obj, name)


@pytest.mark.parametrize("version", MATRIX)
def test_fake_create_clip_returns_what_the_dump_says(version, tmp_path):
    song, _clip = fakes.build_host(version, str(tmp_path / "a.wav"))
    slot = song.create_midi_track(0).clip_slots[0]
    made = slot.create_clip(4.0)
    assert slot.clip is not None
    assert (made is slot.clip) == (live(version).returns("Live.ClipSlot.ClipSlot", "create_clip") == "Clip")
    assert (made is None) == (live(version).returns("Live.ClipSlot.ClipSlot", "create_clip") == "None")


def test_fake_scenes_and_take_lanes_follow_the_dumps(tmp_path):
    song, _clip = fakes.build_host("11.0.0", str(tmp_path / "a.wav"), scene_limit=5)
    assert len(song.scenes) == 4 and all(len(t.clip_slots) == 4 for t in song.tracks)
    scene = song.create_scene(-1)  # at the end: every track gets a slot there
    assert song.scenes[-1] is scene and all(len(t.clip_slots) == 5 for t in song.tracks)
    assert [s.clip for s in scene.clip_slots] == [None, None]
    with pytest.raises(fakes.LimitationError):
        song.create_scene(-1)
    with pytest.raises(AttributeError):
        song.tracks[0].create_take_lane  # take lanes: 12.2.0+
    song, _clip = fakes.build_host("12.2.0", str(tmp_path / "a.wav"))
    track = song.create_midi_track(2)
    lane = track.create_take_lane()
    assert track.take_lanes == (lane,) and lane.canonical_parent is track
    clip = lane.create_midi_clip(32.0, 16.0)
    assert clip.is_take_lane_clip and clip.is_arrangement_clip and lane.arrangement_clips == (clip,)
    assert track.arrangement_clips == ()  # assumed: the main lane holds only its own clips
    with pytest.raises(RuntimeError):
        song.tracks[0].create_take_lane().create_midi_clip(0.0, 4.0)  # an audio track


def test_fake_deleted_objects_behave_like_lost_weakrefs(tmp_path):
    _song, clip = fakes.build_host("12.3.5", str(tmp_path / "a.wav"))
    assert clip != None  # noqa: E711
    clip.fake_delete()
    assert clip == None  # noqa: E711  (Ableton's liveobj_valid)
    with pytest.raises(RuntimeError):
        clip.name


# -- placement math -------------------------------------------------------------------

def _warped_clip(version="12.3.5", **kw):
    # warp markers: beat 0 at sample 0.5 s, beat 8 at 4.5 s, beat 16 at 8.0 s (tempo changes inside)
    warp = fakes.WarpMap([(0.5 * SR, 0.0), (4.5 * SR, 8.0), (8.0 * SR, 16.0)])
    defaults = dict(audio=True, file_path="/music/song.wav", file_rate=SR, sample_length=int(12 * SR), warping=True,
                    start_marker=2.0, end_marker=14.0, warp=warp, warp_mode=4)
    defaults.update(kw)
    return fakes.Clip(live(version), None, **defaults)


def _unwarped_clip(version="12.3.5", **kw):
    defaults = dict(audio=True, file_path="/music/song.wav", file_rate=SR, sample_length=int(12 * SR), warping=False,
                    start_marker=2.0, end_marker=6.0)
    defaults.update(kw)
    return fakes.Clip(live(version), None, **defaults)


DOC = {"notes": [{"pitch": 60, "start": 0.0, "end": 1.0, "velocity": 80},  # source 1.5–2.5 s
                 {"pitch": 62, "start": 3.0, "end": 3.875, "velocity": 70},  # source 4.5–5.375 s: beat 8–10
                 {"pitch": 64, "start": 5.5, "end": 9.0, "velocity": 70}]}  # runs past the end marker


def test_warped_region_and_notes_follow_the_warp_markers():
    clip = _warped_clip()
    region, note = region_for(clip, tempo=128.0)
    assert note == ""
    assert region.start == pytest.approx(1.5)  # beat 2 → 0.5 + 2 * 0.5 s
    assert region.duration == pytest.approx(7.125 - 1.5)  # beat 14 → 4.5 + 6 * (3.5/8) s
    assert region.playrate == 1.0 and region.length_beats == pytest.approx(12.0) and region.loop is None
    notes = placed_notes(region, clip, DOC)
    assert notes[0][:2] == (60, pytest.approx(0.0)) and notes[0][2] == pytest.approx(2.0)
    assert notes[1][1] == pytest.approx(6.0) and notes[1][2] == pytest.approx(2.0)
    assert notes[2][1] + notes[2][2] == pytest.approx(12.0)  # cut at the clip end


def test_unwarped_region_uses_seconds_tempo_and_repitch():
    clip = _unwarped_clip(pitch_coarse=12)
    region, _note = region_for(clip, tempo=90.0)
    assert playrate_for(clip) == pytest.approx(2.0)
    assert (region.start, region.duration, region.playrate) == (2.0, 4.0, pytest.approx(2.0))
    assert region.length_beats == pytest.approx(4.0 / 2.0 * 90 / 60)
    notes = placed_notes(region, clip, {"notes": [{"pitch": 50, "start": 1.0, "end": 1.5, "velocity": 90}]})
    # repitch: an octave up is heard, so the piano part is an octave up too
    assert notes == [(62, pytest.approx(1.5), pytest.approx(0.75), 90)]


def test_region_errors_are_clear():
    with pytest.raises(ValueError, match="markers select no audio"):
        region_for(_unwarped_clip(sample_length=int(SR), start_marker=2.0, end_marker=3.0), 120.0)
    with pytest.raises(ValueError, match="no audio file"):
        region_for(_unwarped_clip(file_path="", start_marker=0.0, end_marker=1.0), 120.0)


# transposition: what the producer hears (Live manual, "Audio Clips, Tempo, and Warping")

def test_warped_transpose_shifts_pitch_and_keeps_time():
    plain = placed_notes(*_region(_warped_clip()), DOC)
    shifted_clip = _warped_clip(pitch_coarse=3)
    shifted = placed_notes(*_region(shifted_clip), DOC)
    assert [n[0] for n in shifted] == [n[0] + 3 for n in plain]
    assert [n[1:] for n in shifted] == [n[1:] for n in plain]


def test_detune_rounds_to_the_nearest_semitone():
    region, _ = region_for(_warped_clip(pitch_fine=60.0), 120.0)  # +0.6 semitones heard
    assert region.transpose == 1 and region.heard_semitones == pytest.approx(0.6)
    region, _ = region_for(_warped_clip(pitch_coarse=-2, pitch_fine=-40.0), 120.0)
    assert region.transpose == -2


def test_repitch_warp_mode_ignores_transpose_and_follows_the_rate():
    # beats 0–16 over source 0.5–8.0 s (7.5 s); at 100 BPM they last 9.6 s: rate 0.78125, -4.27 semitones
    clip = _warped_clip(warp_mode=fakes.REPITCH, pitch_coarse=7, start_marker=0.0, end_marker=16.0)
    region, _ = region_for(clip, 100.0)
    assert region.heard_semitones == pytest.approx(12 * __import__("math").log2(7.5 / 9.6))
    assert region.transpose == -4
    assert placed_notes(region, clip, DOC)[0][0] == 56


def _region(clip, tempo=128.0):
    return region_for(clip, tempo)[0], clip


# loops

def test_looped_clip_converts_start_to_loop_end_and_keeps_the_brace():
    clip = _warped_clip(looping=True, start_marker=4.0, end_marker=14.0, loop_start=2.0, loop_end=10.0)
    region, _ = region_for(clip, 120.0)
    assert region.origin == 2.0 and region.length_beats == pytest.approx(8.0)
    assert region.start == pytest.approx(1.5)  # beat 2
    assert region.start + region.duration == pytest.approx(4.5 + 2 * 3.5 / 8)  # beat 10
    assert tuple(region.loop) == (2.0, 0.0, 8.0)  # start marker 2 beats into the loop


def test_loop_before_the_start_marker_starts_at_the_start_marker():
    clip = _warped_clip(looping=True, start_marker=2.0, end_marker=14.0, loop_start=6.0, loop_end=12.0)
    region, _ = region_for(clip, 120.0)
    assert region.origin == 2.0 and tuple(region.loop) == (0.0, 4.0, 10.0)


# tempo automation

def test_unwarped_arrangement_clip_under_tempo_automation_uses_its_mean_tempo(tmp_path):
    # 8 s of audio from beat 32: 4 beats at 100 BPM (2.4 s), then 5.6 s at 140 BPM (13.07 beats)
    song, clip = fakes.build_host("12.3.5", str(tmp_path / "a.wav"), arrangement=True, warped=False,
                                  tempo_map=[(0.0, 100.0), (36.0, 140.0)])
    assert clip.end_time - clip.start_time == pytest.approx(4 + 5.6 * 140 / 60)
    region, note = region_for(clip, song.tempo, automated=True)
    assert region.length_beats == pytest.approx(clip.end_time - clip.start_time)
    assert region.tempo == pytest.approx((4 + 5.6 * 140 / 60) / 8 * 60)
    assert "tempo is automated" in note and "mean tempo" in note
    session_region, note = region_for(_unwarped_clip(), 100.0, automated=True)
    assert session_region.tempo == 100.0 and "current 100.00 BPM" in note


# the clip's warp grid (the beats the bridge places notes on)

def _off_half_beat(beat):
    """How far a clip beat lies from the nearest half-beat of the clip's beat grid, in beats."""
    return abs(beat * 2.0 - round(beat * 2.0)) / 2.0



def test_warp_beats_are_every_clip_beat_around_the_range_through_beat_to_sample_time():
    clip = _warped_clip()  # beat 0 at 0.5 s, beat 8 at 4.5 s, beat 16 at 8.0 s: 120 then 137.1 BPM
    region, _ = region_for(clip, 128.0)  # beats 2 - 14
    beats = warp_beats(clip, region)
    assert beats == [pytest.approx(clip._warp.beat_to_sample(b) / SR, abs=1e-12) for b in range(1, 16)]
    assert beats[7] == pytest.approx(4.5) and beats[0] == pytest.approx(1.0) and beats[-1] == pytest.approx(7.5625)
    looped = _warped_clip(looping=True, start_marker=4.0, end_marker=14.0, loop_start=2.5, loop_end=9.5)
    region, _ = region_for(looped, 128.0)  # the loop from beat 2.5 to 9.5: beats 1 - 11 cover it
    assert len(warp_beats(looped, region)) == 11 and warp_beats(looped, region)[0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="not warped"):
        warp_beats(_unwarped_clip(), region_for(_unwarped_clip(), 120.0)[0])


def test_warp_beats_the_bridge_would_refuse_are_not_sent():
    # one beat stretched over 4 s of audio (15 BPM of the audio): outside the bridge's 20 - 400 BPM
    slow = _warped_clip(warp=fakes.WarpMap([(0.0, 0.0), (4.0 * SR, 1.0), (8.0 * SR, 9.0)]), start_marker=0.0,
                        end_marker=8.0)
    with pytest.raises(ValueError, match="run at 15 BPM of the audio"):
        warp_beats(slow, region_for(slow, 120.0)[0])


def _bridge_half_beats(beats, region):
    """What the bridge does with the beats file (bridge/engine/grid.py, the recipe's steps): the
    grid in clip seconds, cut and extended, then two steps per beat, linear in time in between."""
    from bridge.engine.grid import clip_beats
    from bridge.engine.types import BEATS_FILE, BeatGrid

    grid = clip_beats(BeatGrid(BEATS_FILE, tuple(beats)), region.start, region.duration)
    halves = [(a + b) / 2.0 for a, b in zip(grid[:-1], grid[1:])]
    return sorted(t for t in list(grid) + halves if 0.0 <= t < region.duration)


@pytest.mark.parametrize("markers,worst", [
    ([(0.5 * SR, 0.0), (4.5 * SR, 8.0), (8.0 * SR, 16.0)], 1e-9),  # tempo changes on whole beats: exact
    ([(0.3 * SR, 0.0), (5.1 * SR, 12.0), (6.3 * SR, 14.0), (11.5 * SR, 22.0)], 1e-9),
    ([(0.5 * SR, 0.0), (6.65 * SR, 12.3), ((6.65 + 9.7 * 60 / 130) * SR, 22.0)], 0.0126),  # 120 → 130 BPM inside a beat
])
def test_every_half_beat_of_the_sent_grid_is_placed_on_a_half_beat_of_the_clip(markers, worst):
    """The contract between the script and the bridge, for every half-beat the bridge can put a note
    on (not only where a model happens to): through the bridge's own grid code and back through the
    script's placement, each lands on a half-beat of the clip's beat grid. A warp marker inside a
    beat moves that beat's middle (the bridge divides a beat evenly in time): documented."""
    for kw in (dict(start_marker=2.0, end_marker=19.0), dict(start_marker=1.25, end_marker=18.5),
               dict(looping=True, start_marker=4.0, end_marker=19.0, loop_start=3.0, loop_end=17.0)):
        clip = _warped_clip(warp=fakes.WarpMap(markers), **kw)
        region, _ = region_for(clip, 120.0)
        times = _bridge_half_beats(warp_beats(clip, region), region)
        doc = {"notes": [{"pitch": 60, "start": t, "end": t + 0.1, "velocity": 90} for t in times]}
        placed = placed_notes(region, clip, doc)
        assert len(placed) == len(times) > 25
        off = [_off_half_beat(b + region.origin) for _p, b, _d, _v in placed]
        assert max(off) <= worst and (worst < 1e-6 or max(off) > 1e-3), (kw, max(off))


# sample rate in every Live version

def _write(path, rate, fmt, subtype):
    sf.write(str(path), [[0.0, 0.0]] * 64, rate, format=fmt, subtype=subtype)
    return str(path)


@pytest.mark.parametrize("fmt,subtype,ext", [("WAV", "PCM_16", "wav"), ("WAV", "FLOAT", "wav"), ("WAVEX", "PCM_24", "wav"),
                                             ("RF64", "PCM_16", "wav"), ("AIFF", "PCM_24", "aiff"), ("FLAC", "PCM_16", "flac")])
@pytest.mark.parametrize("rate", [22050, 44100, 48000, 96000])
def test_header_sample_rate(tmp_path, fmt, subtype, ext, rate):
    assert sample_rate_of(_write(tmp_path / ("a." + ext), rate, fmt, subtype)) == rate


def test_header_sample_rate_refuses_what_it_cannot_read():
    assert rate_from_header(b"ID3\x03\x00\x00\x00\x00\x00\x00\xff\xfb") is None  # an MP3
    assert rate_from_header(b"RIFF\x00\x00\x00\x00WAVE") is None  # no fmt chunk


def test_live_11_0_0_reads_the_rate_without_clip_sample_rate(tmp_path):
    wav = _write(tmp_path / "a.wav", 48000, "WAV", "FLOAT")
    warped = _warped_clip("11.0.0", file_path=wav, file_rate=48000.0)
    with pytest.raises(AttributeError):
        warped.sample_rate
    assert clip_sample_rate(warped) == 48000.0  # from the header
    unwarped = _unwarped_clip("11.0.0", file_path=str(tmp_path / "missing.mp3"), file_rate=32000.0)
    assert clip_sample_rate(unwarped) == 32000.0  # from seconds_to_sample_time
    mp3 = tmp_path / "a.mp3"
    mp3.write_bytes(b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\xff\xfb" * 100)
    with pytest.raises(ValueError, match="update Live to 11.0.5"):
        region_for(_warped_clip("11.0.0", file_path=str(mp3)), 120.0)


# clip-name command against the bridge's composers

def test_clip_name_command():
    assert composer_from_name("Vocals [p2p]") == ""
    assert composer_from_name("Vocals [P2P 7]") == "composer7"
    assert composer_from_name("Vocals [p2p composer21]") == "composer21"
    assert composer_from_name("Vocals [p2p 40]") == "composer40"  # the bridge has not answered yet
    assert composer_from_name("Vocals") is None
    styles = ["composer%d" % i for i in range(1, 22)]
    assert composer_from_name("Vocals [p2p 21]", styles) == "composer21"
    with pytest.raises(ValueError, match="no composer22"):
        composer_from_name("Vocals [p2p 22]", styles)
    with pytest.raises(ValueError, match="names no style"):
        composer_from_name("Vocals [p2p jazz]", styles)
    assert strip_command("Vocals [p2p 7]") == "Vocals"
    # "tracked": beats tracked from the audio instead of a warped clip's own grid
    assert composer_from_name("Vocals [p2p 7 tracked]", styles) == "composer7"
    assert composer_from_name("Vocals [p2p Tracked]", styles) == ""
    assert tracked_from_name("Vocals [p2p 7 tracked]") and tracked_from_name("[P2P TRACKED]")
    assert not tracked_from_name("Vocals [p2p 7]") and not tracked_from_name("tracked vocals")
    assert strip_command("Vocals [p2p 7 tracked]") == "Vocals"


def test_clip_name_audition_command():
    """[p2p all] and [p2p 3,7,11]: the composer value an audition sends; checked like one style."""
    styles = ["composer%d" % i for i in range(1, 22)]
    assert composer_from_name("Vocals [p2p all]", styles) == "all"
    assert composer_from_name("Vocals [P2P ALL tracked]") == "all"
    assert composer_from_name("Vocals [p2p 3,7,11]", styles) == "composer3,composer7,composer11"
    assert composer_from_name("Vocals [p2p 11, composer3 ,7 tracked]", styles) == "composer11,composer3,composer7"
    assert composer_from_name("Vocals [p2p 3,3]", styles) == "composer3"  # one style: a plain conversion
    assert composer_from_name("Vocals [p2p 3,40]") == "composer3,composer40"  # before the bridge answered
    with pytest.raises(ValueError, match="no composer22"):
        composer_from_name("Vocals [p2p 3,22]", styles)
    for bad in ("[p2p 3 7]", "[p2p 3,jazz]", "[p2p ,]", "[p2p 0,1]"):
        with pytest.raises(ValueError, match="names no style"):
            composer_from_name(bad, styles)
    assert audition_styles("all", styles) == styles and audition_styles("all") == []
    assert audition_styles("composer3,composer7") == ["composer3", "composer7"]
    assert audition_styles("composer3") is None and audition_styles("") is None
    assert choose_styles("7") == "composer7" and choose_styles(" All ") == "all"
    assert strip_command("Vocals [p2p 3,7,11]") == "Vocals"


# config

def test_config_defaults_when_missing_and_keys_when_present(tmp_path):
    config = load_config(str(tmp_path), environ={})
    assert (config.command, config.host, config.port, config.secret, config.listen_port) == \
        (["pop2piano-bridge"], "127.0.0.1", 9310, "", 9311)
    (tmp_path / "pop2piano-bridge.json").write_text(json.dumps({
        "schema": "pop2piano-bridge/daw-config", "schema_version": 1, "command": ["/v/bin/pop2piano-bridge"],
        "port": 9400, "listen_port": 9401}), encoding="utf-8")
    config = load_config(str(tmp_path), environ={"POP2PIANO_BRIDGE_SECRET": "s3"})
    assert (config.command, config.port, config.listen_port, config.secret) == (["/v/bin/pop2piano-bridge"], 9400, 9401, "s3")
    bad = parse_config({"port": "9310", "listen_port": True, "command": "pop2piano-bridge", "secret": 5}, environ={})
    assert (bad.port, bad.listen_port, bad.command, bad.secret) == (9310, 9311, ["pop2piano-bridge"], "")
    assert len(bad.problems) == 4
    (tmp_path / "pop2piano-bridge.json").write_text("{not json", encoding="utf-8")
    assert load_config(str(tmp_path), environ={}).port == 9310


def test_bridge_is_started_detached_with_serve_and_a_log_file(tmp_path):
    config = parse_config({"command": ["/v/bin/python", "-m", "bridge"]}, environ={})
    assert bridge_argv(config, "/tmp/x.log") == ["/v/bin/python", "-m", "bridge", "serve", "--log-file", "/tmp/x.log"]
    assert bridge_argv(config._replace(port=9400), "/l")[-2:] == ["--port", "9400"]
    posix = detached_options("linux")
    assert posix["start_new_session"] is True and posix["stdout"] == subprocess.DEVNULL
    windows = detached_options("win32")
    assert windows["creationflags"] == 0x00000008 | 0x08000000 and "start_new_session" not in windows


def test_mypy_strict_against_live_stubs(tmp_path):
    # Its own settings, not the bridge's (pyproject.toml leaves the Live script out of the bridge's check).
    empty = tmp_path / "mypy.ini"
    empty.write_text("[mypy]\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(empty), "--strict",
                             "bridge/daw_scripts/ableton/Pop2PianoBridge"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


# -- Python 3.7 (Live 11 and 12.0 embed 3.7.3) -----------------------------------------

def _vermin(path):
    return subprocess.run([sys.executable, "-c", "import sys, vermin; sys.exit(vermin.main())", "--target=3.7-",
                           "--no-tips", "--violations", "--eval-annotations", path],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_script_needs_no_more_than_python_3_7(tmp_path):
    """Static: vermin finds the minimum Python version each construct and stdlib API needs."""
    result = _vermin("bridge/daw_scripts/ableton/Pop2PianoBridge")
    assert result.returncode == 0, result.stdout + result.stderr
    newer = tmp_path / "newer.py"
    newer.write_text("import math\nif (n := 3):\n    print(math.prod([n]))\n", encoding="utf-8")
    assert _vermin(str(newer)).returncode != 0  # the check does catch 3.8 code


def _python37():
    candidates = [os.environ.get("PYTHON37", ""), shutil.which("python3.7") or ""]
    pyenv = os.path.expanduser("~/.pyenv/versions")
    if os.path.isdir(pyenv):
        candidates += [os.path.join(pyenv, d, "bin", "python3.7") for d in sorted(os.listdir(pyenv)) if d.startswith("3.7")]
    for candidate in candidates:
        if candidate and os.path.exists(candidate):
            probe = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[:2])"],
                                   capture_output=True, text=True)
            if probe.returncode == 0 and probe.stdout.strip() == "(3, 7)":
                return candidate
    return None


PYTHON37 = _python37()


@pytest.mark.skipif(PYTHON37 is None, reason="no python3.7 found (set PYTHON37 to one)")
def test_script_compiles_imports_and_converts_under_real_python_3_7(tmp_path):
    """The script and the fake host under a real Python 3.7: every Live version that embeds 3.7,
    Session and Arrangement, one conversion and one audition of two styles each, against a scripted
    bridge written with the script's own OSC codec."""
    wav = _write(tmp_path / "song.wav", 44100, "WAV", "PCM_16")
    result = subprocess.run([PYTHON37, "-W", "error::SyntaxWarning", os.path.join(ROOT, "tests", "daw_scripts", "ableton", "live_api", "run37.py"),
                             wav, str(tmp_path), ",".join(LIVE37)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["python"].startswith("3.7")
    assert sorted(report["placed"]) == sorted("%s/%s" % (v, w) for v in LIVE37 for w in ("session", "arrangement"))
    assert all(count > 0 for count in report["placed"].values())
    assert report["beats_files"] == {key: [True, True] for key in report["placed"]}  # warp grid sent, file removed
    assert report["auditions"] == {key: ["composer3,composer7", [["composer3", 2], ["composer7", 2]]]
                                   for key in report["placed"]}


# -- the script on a fake host against a scripted bridge --------------------------------

class ScriptedBridge:
    """The bridge's side of docs/protocol.md, answered by the test: a UDP socket on loopback."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def take(self, address, timeout=3.0, script=None):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if script is not None:
                script.update_display()
            self.sock.settimeout(0.05)
            try:
                data, source = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            message = OscMessage(data)
            if message.address == address:
                return list(message.params), source
        raise AssertionError("no %s arrived" % address)

    def answer(self, source, address, *args):
        builder = OscMessageBuilder(address=address)
        for a in args:
            builder.add_arg(a)
        self.sock.sendto(builder.build().dgram, source)

    def close(self):
        self.sock.close()


def _free_port():
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def _script(song, folder, port, **config):
    settings_ = {"port": port, "listen_port": 0, "command": []}
    settings_.update(config)
    with open(os.path.join(str(folder), "pop2piano-bridge.json"), "w", encoding="utf-8") as handle:
        json.dump(settings_, handle)
    c_instance = fakes.CInstance(song)
    return c_instance, script_module.Pop2PianoBridge(c_instance, config_dir=str(folder))


def _run_until(script, predicate, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        script.update_display()
        time.sleep(0.02)
    assert predicate()


def _notes_file(folder, notes=((60, 0.0, 1.0, 90), (64, 2.0, 3.0, 80)), name="x"):
    path = os.path.join(str(folder), name + ".notes.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"notes": [{"pitch": p, "start": s, "end": e, "velocity": v} for p, s, e, v in notes]}, handle)
    return path


@pytest.fixture
def bridge():
    scripted = ScriptedBridge()
    yield scripted
    scripted.close()


def _convert(script, bridge_, song, notes_path, job_args=None):
    """Trigger a conversion; answer accepted and done; return the convert request's args."""
    job = script.convert_selected()
    assert job is not None, song
    args, source = bridge_.take("/pop2piano/convert", script=script)
    bridge_.answer(source, "/pop2piano/accepted", args[0])
    bridge_.answer(source, "/pop2piano/done", args[0], "/x.mid", notes_path, 2)
    return args, source


def test_ports_come_from_the_config(bridge, tmp_path):
    song, _clip = fakes.build_host("12.3.5", str(tmp_path / "a.wav"))
    listen = _free_port()
    _c, script = _script(song, tmp_path, bridge.port, listen_port=listen)
    try:
        assert script.listen_port == listen
        _args, source = bridge.take("/pop2piano/composers", script=script)  # asked at start, on our port
        assert source[1] == listen
    finally:
        script.disconnect()


def test_composers_come_from_the_bridge_and_limit_the_clip_command(bridge, tmp_path):
    song, clip = fakes.build_host("12.3.5", str(tmp_path / "a.wav"))
    c_instance, script = _script(song, tmp_path, bridge.port)
    try:
        _args, source = bridge.take("/pop2piano/composers", script=script)
        clip.name = "Vocal take [p2p 25]"  # before the bridge answered: accepted, the bridge decides
        args, _src = bridge.take("/pop2piano/convert", script=script)
        assert args[args.index("composer") + 1] == "composer25"
        bridge.answer(source, "/pop2piano/error", args[0], "unknown_composer", "no composer25")
        _run_until(script, lambda: any("no composer25" in m for m in c_instance.messages), timeout=3)
        bridge.answer(source, "/pop2piano/composers", *["composer%d" % i for i in range(1, 22)])
        _run_until(script, lambda: script.composers is not None, timeout=3)
        clip.name = "Vocal take [p2p 22]"
        script.update_display()
        assert clip.name == "Vocal take" and "no composer22" in c_instance.messages[-1]
        with pytest.raises(AssertionError):
            bridge.take("/pop2piano/convert", timeout=0.3, script=script)
        clip.name = "Vocal take [p2p]"  # the default style: the bridge's first
        args, _src = bridge.take("/pop2piano/convert", script=script)
        assert args[args.index("composer") + 1] == "composer1"
    finally:
        script.disconnect()


def test_a_bridge_without_a_model_says_what_to_do(bridge, tmp_path):
    song, _clip = fakes.build_host("12.3.5", str(tmp_path / "a.wav"))
    c_instance, script = _script(song, tmp_path, bridge.port)
    try:
        _args, source = bridge.take("/pop2piano/composers", script=script)
        bridge.answer(source, "/pop2piano/error", "", "model_unavailable", "run `pop2piano-bridge download`")
        _run_until(script, lambda: script.model_problem != "", timeout=3)
        assert c_instance.messages[-1] == "Pop2Piano: the bridge has no model: run `pop2piano-bridge download`"
        script.convert_selected()
        args, _src = bridge.take("/pop2piano/convert", script=script)
        bridge.answer(source, "/pop2piano/error", args[0], "model_unavailable", "weights missing: run X")
        _run_until(script, lambda: "weights missing: run X" in c_instance.messages[-1], timeout=3)
        assert "no model" in c_instance.messages[-1] and len(song.tracks) == 2
    finally:
        script.disconnect()


def test_track_limit_of_live_lite_is_reported_not_raised(bridge, tmp_path):
    song, _clip = fakes.build_host("11.3.20", str(tmp_path / "a.wav"), track_limit=2)  # Lite-like: full
    c_instance, script = _script(song, tmp_path, bridge.port)
    try:
        _convert(script, bridge, song, _notes_file(tmp_path))
        _run_until(script, lambda: "track limit" in c_instance.messages[-1], timeout=3)
        assert len(song.tracks) == 2 and song.fake_undo == (0, 1)  # the undo step was closed
    finally:
        script.disconnect()


@pytest.mark.parametrize("change", ["deleted", "unwarped"])
def test_clip_deleted_or_unwarped_while_converting_is_reported_not_raised(bridge, tmp_path, change):
    song, clip = fakes.build_host("12.3.5", str(tmp_path / "a.wav"))
    c_instance, script = _script(song, tmp_path, bridge.port)
    try:
        script.convert_selected()
        args, source = bridge.take("/pop2piano/convert", script=script)
        if change == "deleted":
            song.tracks[0].clip_slots[2].delete_clip()
        else:
            clip.warping = False
        bridge.answer(source, "/pop2piano/done", args[0], "/x.mid", _notes_file(tmp_path), 2)
        _run_until(script, lambda: ("was %s" % ("deleted" if change == "deleted" else "changed")) in c_instance.messages[-1],
                   timeout=3)
        assert len(song.tracks) == 2
        script.update_display()  # a deleted Detail View clip is no trigger and no error
    finally:
        script.disconnect()


def test_update_display_never_raises(bridge, tmp_path):
    song, _clip = fakes.build_host("12.3.5", str(tmp_path / "a.wav"))
    c_instance, script = _script(song, tmp_path, bridge.port)
    try:
        c_instance.song = lambda: (_ for _ in ()).throw(RuntimeError("Live is closing the set"))
        script.update_display()
        assert "Live is closing the set" in c_instance.messages[-1]
    finally:
        script.disconnect()


@pytest.mark.parametrize("arrangement", [False, True], ids=["session", "arrangement"])
@pytest.mark.parametrize("version", ["11.3.20", "12.1.10", "12.3.5"])
def test_looped_clip_gives_a_piano_clip_that_loops_the_same_way(bridge, tmp_path, version, arrangement):
    song, clip = fakes.build_host(version, str(tmp_path / "a.wav"), looped=True, arrangement=arrangement)
    c_instance, script = _script(song, tmp_path, bridge.port)
    try:
        _convert(script, bridge, song, _notes_file(tmp_path))
        _run_until(script, lambda: len(song.tracks) == 3, timeout=3)
        track = song.tracks[1]
        piano = track.arrangement_clips[0] if arrangement else track.clip_slots[2].clip
        assert piano.looping
        # the audio: start marker 4, loop 2–10 (beats); the piano clip: the same, from beat 2
        assert (piano.start_marker, piano.loop_start, piano.loop_end) == (2.0, 0.0, 8.0)
        if arrangement:
            assert piano.start_time == 32.0
            if version == "12.3.5" or version == "12.1.10":  # create_midi_clip takes the length
                assert piano.end_time - piano.start_time == pytest.approx(clip.end_time - clip.start_time)
            else:  # duplicate_clip_to_arrangement copies one pass: said in the status bar
                assert "drag its right edge" in c_instance.messages[-1]
    finally:
        script.disconnect()


@pytest.mark.parametrize("version", ["11.0.0", "12.0.0", "12.3.5"])
def test_transposed_clip_gives_transposed_notes(bridge, tmp_path, version):
    song, _clip = fakes.build_host(version, _write(tmp_path / "a.wav", 44100, "WAV", "PCM_16"), pitch_coarse=-5)
    c_instance, script = _script(song, tmp_path, bridge.port)
    try:
        _convert(script, bridge, song, _notes_file(tmp_path))
        _run_until(script, lambda: len(song.tracks) == 3, timeout=3)
        assert sorted(n.pitch for n in song.tracks[1].clip_slots[2].clip.fake_notes) == [55, 59]
        assert "transposed -5" in c_instance.messages[-1]
    finally:
        script.disconnect()


def test_unwarped_clip_under_tempo_automation_spans_the_audio(bridge, tmp_path):
    song, clip = fakes.build_host("12.3.5", str(tmp_path / "a.wav"), arrangement=True, warped=False,
                                  tempo_map=[(0.0, 100.0), (36.0, 140.0)])
    c_instance, script = _script(song, tmp_path, bridge.port)
    try:
        _convert(script, bridge, song, _notes_file(tmp_path, ((60, 0.0, 8.0, 90),)))
        _run_until(script, lambda: len(song.tracks) == 3, timeout=3)
        piano = song.tracks[1].arrangement_clips[0]
        span = clip.end_time - clip.start_time
        assert piano.end_time - piano.start_time == pytest.approx(span)
        assert piano.fake_notes[0].start_time == 0.0 and piano.fake_notes[0].duration == pytest.approx(span)
        assert "tempo is automated" in c_instance.messages[-1]
    finally:
        script.disconnect()


# the warp grid in the convert request, and the beats file's life

@pytest.fixture
def beats_dir(tmp_path, monkeypatch):
    """Where the script's beats files go (the system temp folder: tempfile.gettempdir())."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _option(args, key):
    return args[args.index(key) + 1] if key in args else None


def test_a_warped_clip_sends_its_warp_grid_and_the_file_goes_when_the_job_is_done(bridge, tmp_path, beats_dir):
    song, clip = fakes.build_host("12.3.5", str(tmp_path / "a.wav"))
    c_instance, script = _script(song, tmp_path, bridge.port)
    try:
        args, source = _convert(script, bridge, song, _notes_file(tmp_path))
        path = _option(args, "beats_file")
        assert os.path.isabs(path) and os.path.dirname(path) == str(beats_dir)
        with open(path, encoding="utf-8") as handle:
            beats = json.load(handle)
        # beats 1 - 19 around the converted 2 - 18, in source seconds: 0.5 s apart, 0.6 s after beat 12
        assert beats == [pytest.approx(b * 0.5 if b <= 12 else 6.0 + (b - 12) * 0.6, abs=1e-12) for b in range(1, 20)]
        assert c_instance.messages[-1] == "Pop2Piano: converting Vocal take (the default style) on the clip's warp grid…"
        _run_until(script, lambda: len(song.tracks) == 3, timeout=3)
        assert os.listdir(str(beats_dir)) == []
    finally:
        script.disconnect()


@pytest.mark.parametrize("ending", ["error", "cancelled", "no bridge", "unloaded"])
def test_the_beats_file_goes_however_the_job_ends(bridge, tmp_path, beats_dir, monkeypatch, ending):
    monkeypatch.setattr(script_module, "NO_ANSWER_S", 0.2)
    song, _clip = fakes.build_host("12.3.5", str(tmp_path / "a.wav"))
    c_instance, script = _script(song, tmp_path, bridge.port)
    try:
        script.convert_selected()
        args, source = bridge.take("/pop2piano/convert", script=script)
        assert os.listdir(str(beats_dir)) != []
        if ending == "error":
            bridge.answer(source, "/pop2piano/error", args[0], "not_audio", "cannot decode")
        elif ending == "cancelled":
            bridge.answer(source, "/pop2piano/accepted", args[0])
            bridge.answer(source, "/pop2piano/cancelled", args[0])
        elif ending == "unloaded":
            script.disconnect()
        if ending != "unloaded":  # "no bridge": no answer, and the config's command is [] (never start one)
            _run_until(script, lambda: not script._jobs, timeout=3)
        assert os.listdir(str(beats_dir)) == []
    finally:
        script.disconnect()


def test_an_unwarped_clip_or_tracked_asks_the_bridge_to_track_beats(bridge, tmp_path, beats_dir):
    song, clip = fakes.build_host("12.3.5", str(tmp_path / "a.wav"), warped=False)
    c_instance, script = _script(song, tmp_path, bridge.port)
    try:
        args, _source = _convert(script, bridge, song, _notes_file(tmp_path))
        assert "beats_file" not in args and "grid_bpm" not in args
        assert c_instance.messages[-1] == "Pop2Piano: converting Vocal take (the default style) with beats tracked from the audio…"
    finally:
        script.disconnect()
    song, clip = fakes.build_host("12.3.5", str(tmp_path / "a.wav"))  # warped
    c_instance, script = _script(song, tmp_path, bridge.port)
    try:
        clip.name = "Vocal take [p2p 7 tracked]"
        args, _source = bridge.take("/pop2piano/convert", script=script)
        assert "beats_file" not in args and _option(args, "composer") == "composer7" and clip.name == "Vocal take"
        assert c_instance.messages[-1] == "Pop2Piano: converting Vocal take (composer7) with beats tracked from the audio…"
        trigger = Peer(script.listen_port)
        trigger.send("/pop2piano/live/convert_selected", "composer4", "tracked")
        args, _source = bridge.take("/pop2piano/convert", script=script)
        assert "beats_file" not in args and _option(args, "composer") == "composer4"
        trigger.send("/pop2piano/live/convert_selected", "composer5")
        args, _source = bridge.take("/pop2piano/convert", script=script)
        assert _option(args, "beats_file") is not None and _option(args, "composer") == "composer5"
        trigger.close()
        assert os.listdir(str(beats_dir)) != []  # that job is still running
    finally:
        script.disconnect()
    assert os.listdir(str(beats_dir)) == []


def test_a_warp_grid_that_cannot_be_sent_falls_back_to_tracked_beats_and_says_why(bridge, tmp_path, beats_dir):
    # beats 2 - 4 over 8 s of the audio (15 BPM): a grid the bridge would refuse
    song, clip = fakes.build_host("12.3.5", str(tmp_path / "a.wav"),
                                  warp=((0.0, 0.0), (1.0 * SR, 2.0), (9.0 * SR, 4.0), (12.0 * SR, 22.0)))
    c_instance, script = _script(song, tmp_path, bridge.port)
    try:
        args, _source = _convert(script, bridge, song, _notes_file(tmp_path))
        assert "beats_file" not in args
        assert "with beats tracked from the audio (the clip's warp grid cannot be used: its beats run at 15 BPM" \
            in c_instance.messages[-1]
    finally:
        script.disconnect()
    # no temp folder to write to: tracked beats, said, and no exception reaches Live
    tempfile.tempdir = str(beats_dir / "missing")
    song, clip = fakes.build_host("12.3.5", str(tmp_path / "a.wav"))
    c_instance, script = _script(song, tmp_path, bridge.port)
    try:
        clip.name = "Vocal take [p2p]"
        args, _source = bridge.take("/pop2piano/convert", script=script)
        assert "beats_file" not in args and "cannot write the temp file" in c_instance.messages[-1]
    finally:
        script.disconnect()


def test_warp_markers_moved_while_converting_are_reported_not_misplaced(bridge, tmp_path, beats_dir):
    song, clip = fakes.build_host("12.3.5", str(tmp_path / "a.wav"))
    c_instance, script = _script(song, tmp_path, bridge.port)
    try:
        script.convert_selected()
        args, source = bridge.take("/pop2piano/convert", script=script)
        clip.fake_move_warp_markers(((0.0, 0.0), (6.5 * SR, 12.0), (12.0 * SR, 22.0)))
        bridge.answer(source, "/pop2piano/done", args[0], "/x.mid", _notes_file(tmp_path), 2)
        _run_until(script, lambda: "was changed while converting" in c_instance.messages[-1], timeout=3)
        assert len(song.tracks) == 2 and os.listdir(str(beats_dir)) == []
    finally:
        script.disconnect()


def test_a_bridge_older_than_the_warp_grid_gets_a_clear_message(bridge, tmp_path, beats_dir):
    song, _clip = fakes.build_host("12.3.5", str(tmp_path / "a.wav"))
    c_instance, script = _script(song, tmp_path, bridge.port)
    try:
        script.convert_selected()
        args, source = bridge.take("/pop2piano/convert", script=script)
        # what a bridge before the session grid answers (bridge/protocol/requests.py: unknown option)
        bridge.answer(source, "/pop2piano/error", args[0], "bad_request", "unknown option 'beats_file'; known: composer")
        _run_until(script, lambda: "older than this script" in c_instance.messages[-1], timeout=3)
        assert "[p2p tracked]" in c_instance.messages[-1]
    finally:
        script.disconnect()


# -- auditions against a scripted bridge -----------------------------------------------

AUDITION = ("composer3", "composer7", "composer11")
# layout: (Live version, Arrangement clip?). Session: one track's slots; Arrangement: take lanes where
# the API has them (12.2+), else a track per style (made through a Session slot before 12.1.10).
LAYOUTS = {"session": ("12.3.5", False), "session-11.0.0": ("11.0.0", False), "take-lanes": ("12.3.5", True),
           "tracks": ("11.3.20", True), "tracks-12.1.10": ("12.1.10", True)}


def _style_clips(song, layout):
    """The audition's piano clips in the set, in order, for its layout."""
    if layout.startswith("session"):
        return [slot.clip for slot in song.tracks[1].clip_slots if slot.clip is not None]
    if layout == "take-lanes":
        return [c for lane in song.tracks[1].take_lanes for c in lane.arrangement_clips]
    return [c for track in song.tracks[1:-1] for c in track.arrangement_clips]  # between Vocals and Drums


def _start_audition(script, bridge_, clip, command="[p2p 3,7,11]"):
    clip.name = "Vocal take " + command
    args, source = bridge_.take("/pop2piano/convert", script=script)
    bridge_.answer(source, "/pop2piano/accepted", args[0])
    return args, source


def _style_done(bridge_, source, job_id, folder, i, composer):
    notes = _notes_file(folder, ((60 + i, 0.0, 1.0, 90), (72 + i, 2.0, 3.0, 80)), name=composer)
    bridge_.answer(source, "/pop2piano/done_style", job_id, composer, "/x.mid", notes, 2)


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_an_audition_places_each_style_as_its_reply_arrives(bridge, tmp_path, beats_dir, layout):
    """[p2p 3,7,11]: one request; each done_style puts its clip in the set at once (one undo step
    each), named after its style; progress says how many are ready. Fails before auditions (the
    command was refused as naming no style)."""
    version, arrangement = LAYOUTS[layout]
    wav = _write(tmp_path / "a.wav", 44100, "WAV", "PCM_16")  # Live 11.0.0 reads a warped clip's rate from it
    song, clip = fakes.build_host(version, wav, arrangement=arrangement)
    c_instance, script = _script(song, tmp_path, bridge.port)
    try:
        clip.name = "Vocal take [p2p 3,7,11]"
        args, source = bridge.take("/pop2piano/convert", script=script)
        assert _option(args, "composer") == "composer3,composer7,composer11" and _option(args, "output") == "file"
        assert _option(args, "beats_file") is not None and clip.name == "Vocal take"
        assert c_instance.messages[-1] == ("Pop2Piano: auditioning Vocal take in 3 styles (composer3, composer7, "
                                           "composer11) on the clip's warp grid…")
        bridge.answer(source, "/pop2piano/accepted", args[0])
        bridge.answer(source, "/pop2piano/progress", args[0], 0.25, "generating")
        _run_until(script, lambda: "audition 25% generating (0 of 3 styles ready)" in c_instance.messages[-1], timeout=3)
        for i, composer in enumerate(AUDITION):
            _style_done(bridge, source, args[0], tmp_path, i, composer)
            _run_until(script, lambda: len(_style_clips(song, layout)) == i + 1, timeout=3)
            assert "Vocal take audition: %d of 3 styles ready (%s: 2 notes, " % (i + 1, composer) in c_instance.messages[-1]
            assert song.fake_undo == (0, i + 1)  # one undo step per placed style
        assert len(script._jobs) == 1 and os.listdir(str(beats_dir)) != []  # the job goes on until its done
        bridge.answer(source, "/pop2piano/done", args[0], "", "", 3)
        _run_until(script, lambda: not script._jobs, timeout=3)
        assert os.listdir(str(beats_dir)) == []
        clips = _style_clips(song, layout)
        assert [c.name for c in clips] == list(AUDITION)
        for i, piano in enumerate(clips):
            assert sorted((n.pitch, n.start_time) for n in piano.fake_notes) == [(60 + i, 0.0), (72 + i, 4.0)]
            assert not piano.looping
        final = c_instance.messages[-1]
        if layout.startswith("session"):
            track = song.tracks[1]
            assert len(song.tracks) == 3 and track.name == "Vocal take - audition (piano)"
            assert [i for i, slot in enumerate(track.clip_slots) if slot.clip is not None] == [2, 3, 4]
            assert len(song.scenes) == 5  # the column had 4 scenes: one was added at the end
            assert final == "Pop2Piano: Vocal take audition: 3 styles in scenes 3-5 of 'Vocal take - audition (piano)': " \
                            "launch one to hear it"
        elif layout == "take-lanes":
            track = song.tracks[1]
            assert len(song.tracks) == 3 and track.name == "Vocal take - audition (piano)"
            assert [lane.name for lane in track.take_lanes] == list(AUDITION)
            assert all(c.start_time == 32.0 and c.end_time == pytest.approx(48.0) for c in clips)
            (main,) = track.arrangement_clips  # the first style plays from the main lane
            assert main.name == "composer3" and main.start_time == 32.0 and main.end_time == pytest.approx(48.0)
            assert sorted(n.pitch for n in main.fake_notes) == [60, 72]
            assert "3 styles on take lanes of 'Vocal take - audition (piano)', composer3 also on its main lane" in final
        else:
            tracks = song.tracks[1:-1]
            assert [t.name for t in tracks] == ["Vocal take - %s (piano)" % c for c in AUDITION]
            assert [t.mute for t in tracks] == [False, True, True]  # one plays; the others are switched off
            assert all(c.start_time == 32.0 and c.end_time == pytest.approx(48.0) for c in clips)
            assert all(slot.clip is None for t in tracks for slot in t.clip_slots)
            assert "3 styles on a track each, composer3 playing and the others switched off" in final
    finally:
        script.disconnect()


@pytest.mark.parametrize("layout", ["session", "take-lanes", "tracks"])
def test_an_audition_loops_and_transposes_each_style_as_one_conversion_would(bridge, tmp_path, layout):
    """A looped, transposed audio clip: every style's clip gets the loop brace, the transposition and
    the Arrangement length a single conversion gives (one pass before 12.1.10, said once)."""
    version, arrangement = LAYOUTS[layout]
    song, clip = fakes.build_host(version, str(tmp_path / "a.wav"), looped=True, arrangement=arrangement,
                                  pitch_coarse=-5)
    c_instance, script = _script(song, tmp_path, bridge.port)
    try:
        args, source = _start_audition(script, bridge, clip, "[p2p 3,7]")
        for i, composer in enumerate(AUDITION[:2]):
            _style_done(bridge, source, args[0], tmp_path, i, composer)
        bridge.answer(source, "/pop2piano/done", args[0], "", "", 2)
        _run_until(script, lambda: not script._jobs, timeout=3)
        clips = _style_clips(song, layout)
        assert [c.name for c in clips] == ["composer3", "composer7"]
        for i, piano in enumerate(clips):
            assert piano.looping and (piano.start_marker, piano.loop_start, piano.loop_end) == (2.0, 0.0, 8.0)
            assert sorted(n.pitch for n in piano.fake_notes) == [55 + i, 67 + i]
        final = c_instance.messages[-1]
        assert "transposed -5 to the clip's pitch" in final
        if layout == "take-lanes":  # the audio's whole span, as create_midi_clip gives a single conversion
            assert all(c.end_time - c.start_time == pytest.approx(clip.end_time - clip.start_time) for c in clips)
        elif layout == "tracks":
            assert final.count("drag its right edge") == 1
    finally:
        script.disconnect()


def test_an_audition_of_every_style_and_its_triggers(bridge, tmp_path):
    """[p2p all] and the OSC trigger's forms; a list is checked against the bridge's styles. Fails
    before auditions (refused as naming no style / sent as one unknown style)."""
    song, clip = fakes.build_host("12.3.5", str(tmp_path / "a.wav"))
    c_instance, script = _script(song, tmp_path, bridge.port)
    try:
        _args, source = bridge.take("/pop2piano/composers", script=script)
        bridge.answer(source, "/pop2piano/composers", *["composer%d" % i for i in range(1, 22)])
        _run_until(script, lambda: script.composers is not None, timeout=3)
        args, source = _start_audition(script, bridge, clip, "[p2p all]")
        assert _option(args, "composer") == "all"
        assert "auditioning Vocal take in every style (21) on the clip's warp grid" in c_instance.messages[-1]
        _style_done(bridge, source, args[0], tmp_path, 0, "composer1")
        _run_until(script, lambda: "1 of 21 styles ready (composer1" in c_instance.messages[-1], timeout=3)
        clip.name = "Vocal take [p2p 3,22]"  # checked like one style: refused, nothing sent
        script.update_display()
        assert clip.name == "Vocal take" and "no composer22" in c_instance.messages[-1]
        with pytest.raises(AssertionError):
            bridge.take("/pop2piano/convert", timeout=0.3, script=script)
        trigger = Peer(script.listen_port)
        for sent, composer in ((("all",), "all"), (("3,7,11",), "composer3,composer7,composer11"),
                               (("composer5", "composer9", "tracked"), "composer5,composer9")):
            trigger.send("/pop2piano/live/convert_selected", *sent)
            args, _src = bridge.take("/pop2piano/convert", script=script)
            assert _option(args, "composer") == composer and ("tracked" in sent) == ("beats_file" not in args)
        trigger.send("/pop2piano/live/convert_selected", "3,99")
        _run_until(script, lambda: "no composer99" in c_instance.messages[-1], timeout=3)
        trigger.close()
    finally:
        script.disconnect()


def test_a_bridge_error_mid_audition_keeps_the_styles_placed(bridge, tmp_path, beats_dir):
    """Fails before auditions (no request is sent for a list)."""
    song, clip = fakes.build_host("12.3.5", str(tmp_path / "a.wav"))
    c_instance, script = _script(song, tmp_path, bridge.port)
    try:
        args, source = _start_audition(script, bridge, clip)
        _style_done(bridge, source, args[0], tmp_path, 0, "composer3")
        _run_until(script, lambda: len(_style_clips(song, "session")) == 1, timeout=3)
        bridge.answer(source, "/pop2piano/error", args[0], "internal", "the inference process crashed")
        _run_until(script, lambda: not script._jobs, timeout=3)
        assert c_instance.messages[-1] == "Pop2Piano: Vocal take audition (1 of 3 placed): the inference process crashed"
        _style_done(bridge, source, args[0], tmp_path, 1, "composer7")  # a stray reply after the end: ignored
        time.sleep(0.1)
        script.update_display()
        assert [c.name for c in _style_clips(song, "session")] == ["composer3"] and song.fake_undo == (0, 1)
        assert os.listdir(str(beats_dir)) == []
    finally:
        script.disconnect()


@pytest.mark.parametrize("layout,limit,placed", [("session", 2, 0), ("tracks", 3, 1), ("take-lanes", 3, 3)])
def test_the_track_limit_stops_an_audition_and_cancels_the_rest(bridge, tmp_path, beats_dir, layout, limit, placed):
    """Live Lite/Intro: a style that finds no track stops the audition; the styles placed stay, the
    bridge is asked to cancel the rest, the status bar says how far it got and what to do. Take lanes
    need one track for every style. Fails before auditions."""
    version, arrangement = LAYOUTS[layout]
    song, clip = fakes.build_host(version, str(tmp_path / "a.wav"), arrangement=arrangement, track_limit=limit)
    c_instance, script = _script(song, tmp_path, bridge.port)
    try:
        args, source = _start_audition(script, bridge, clip)
        for i, composer in enumerate(AUDITION[:placed + 1]):
            _style_done(bridge, source, args[0], tmp_path, i, composer)
            if i < placed:
                _run_until(script, lambda: len(_style_clips(song, layout)) == i + 1, timeout=3)
        if placed == len(AUDITION):
            bridge.answer(source, "/pop2piano/done", args[0], "", "", 3)
            _run_until(script, lambda: not script._jobs, timeout=3)
            assert len(song.tracks) == limit and len(song.tracks[1].take_lanes) == 3
            return
        cancel, _src = bridge.take("/pop2piano/cancel", script=script)
        assert cancel == [args[0], script.listen_port]
        stopped = ("Vocal take audition stopped (%d of 3 styles placed): Live's track limit is reached (Live "
                   "Lite/Intro): delete tracks, or audition fewer styles ([p2p 3,7,11])" % placed)
        assert c_instance.messages[-1] == "Pop2Piano: " + stopped
        _style_done(bridge, source, args[0], tmp_path, 2, "composer11")  # sent before the bridge saw the cancel
        bridge.answer(source, "/pop2piano/cancelled", args[0])
        _run_until(script, lambda: not script._jobs, timeout=3)
        assert c_instance.messages[-1] == "Pop2Piano: " + stopped
        assert len(_style_clips(song, layout)) == placed and len(song.tracks) == limit
        assert song.fake_undo == (0, placed + 1)  # the failed step was closed too
        assert os.listdir(str(beats_dir)) == []
    finally:
        script.disconnect()


def test_a_short_session_column_gets_scenes_until_the_scene_limit(bridge, tmp_path):
    """The clip is in scene 3 of 4: the third style needs a fifth scene, which a scene limit
    refuses (``create_scene`` raises LimitationError). Fails before auditions."""
    song, clip = fakes.build_host("11.0.0", _write(tmp_path / "a.wav", 44100, "WAV", "PCM_16"), scene_limit=4)
    c_instance, script = _script(song, tmp_path, bridge.port)
    try:
        args, source = _start_audition(script, bridge, clip)
        for i, composer in enumerate(AUDITION):
            _style_done(bridge, source, args[0], tmp_path, i, composer)
        cancel, _src = bridge.take("/pop2piano/cancel", script=script)
        assert cancel[0] == args[0]
        assert c_instance.messages[-1].startswith("Pop2Piano: Vocal take audition stopped (2 of 3 styles placed): "
                                                  "Live's scene limit is reached")
        assert [c.name for c in _style_clips(song, "session")] == ["composer3", "composer7"] and len(song.scenes) == 4
    finally:
        script.disconnect()


@pytest.mark.parametrize("change", ["audio clip unwarped", "audition track deleted"])
def test_an_edit_mid_audition_stops_it(bridge, tmp_path, change):
    """The audio clip changed (its notes would be misplaced) or the producer deleted the audition's
    track: the audition stops and is cancelled, what was placed stays. Fails before auditions."""
    song, clip = fakes.build_host("12.3.5", str(tmp_path / "a.wav"))
    c_instance, script = _script(song, tmp_path, bridge.port)
    try:
        args, source = _start_audition(script, bridge, clip)
        _style_done(bridge, source, args[0], tmp_path, 0, "composer3")
        _run_until(script, lambda: len(_style_clips(song, "session")) == 1, timeout=3)
        if change == "audio clip unwarped":
            clip.warping = False
            why = "Vocal take was changed while converting (warp, markers, loop or pitch); convert it again"
        else:
            song.tracks[1].fake_delete()
            why = "its track was deleted"
        _style_done(bridge, source, args[0], tmp_path, 1, "composer7")
        cancel, _src = bridge.take("/pop2piano/cancel", script=script)
        assert cancel[0] == args[0]
        assert c_instance.messages[-1] == "Pop2Piano: Vocal take audition stopped (1 of 3 styles placed): " + why
        bridge.answer(source, "/pop2piano/cancelled", args[0])
        _run_until(script, lambda: not script._jobs, timeout=3)
        assert len(song.tracks) == (3 if change == "audio clip unwarped" else 2)
    finally:
        script.disconnect()


# -- the script on a fake host against a real bridge ------------------------------------

@pytest.fixture(scope="module")
def daemon(shared_daemon):
    return shared_daemon


def _expected_warped(clip, doc):
    """Independent of the script: the fake's own warp map, the standard markers (beats 2–18)."""
    warp, rate = clip._warp, clip._file_rate
    start_s = warp.beat_to_sample(2.0) / rate
    out = []
    for n in doc["notes"]:
        b0 = warp.sample_to_beat((start_s + n["start"]) * rate) - 2.0
        b1 = warp.sample_to_beat((start_s + n["end"]) * rate) - 2.0
        if 0 <= b0 < 16.0:
            out.append((n["pitch"], b0, min(max(b1 - b0, 1e-3), 16.0 - b0)))
    return sorted(out)


def _notes_doc(song_path, composer):
    notes_dir = os.path.join(os.path.dirname(song_path), "Pop2Piano")
    paths = [p for p in os.listdir(notes_dir) if p.endswith(".notes.json") and composer in p]
    with open(os.path.join(notes_dir, sorted(paths)[-1]), encoding="utf-8") as handle:
        return json.load(handle)


@pytest.mark.parametrize("where", ["session", "arrangement"])
@pytest.mark.parametrize("version", MATRIX)
def test_every_live_version_gets_its_piano_clip(daemon, song_path, tmp_path, beats_dir, version, where):
    song, clip = fakes.build_host(version, song_path, arrangement=(where == "arrangement"))
    c_instance, script = _script(song, tmp_path, daemon.port)
    try:
        clip.name = "Vocal take [p2p 6]"
        _run_until(script, lambda: len(song.tracks) == 3 and any("notes on" in m for m in c_instance.messages), timeout=60)
        assert clip.name == "Vocal take"  # the command was consumed
        new = song.tracks[1]
        assert new.name == "Vocal take - composer6 (piano)" and new.has_midi_input
        if where == "session":
            piano = new.clip_slots[2].clip
            assert piano.end_marker == pytest.approx(16.0)
        else:
            (piano,) = new.arrangement_clips
            assert piano.start_time == 32.0 and piano.end_time == pytest.approx(48.0)
            assert all(slot.clip is None for slot in new.clip_slots)
        assert not piano.looping and song.fake_undo == (0, 1)
        got = sorted((n.pitch, n.start_time, n.duration) for n in piano.fake_notes)
        doc = _notes_doc(song_path, "composer6")
        want = _expected_warped(clip, doc)
        assert len(got) == len(want) > 0
        for g, w in zip(got, want):
            assert g[0] == w[0] and g[1] == pytest.approx(w[1], abs=1e-6) and g[2] == pytest.approx(w[2], abs=1e-6)
        # on the clip's warp grid (a tempo change at beat 12), in every version; the beats file is gone
        assert doc["beat_source"] == "beats_file" and max(_off_half_beat(g[1] + 2.0) for g in got) < 1e-3
        assert os.listdir(str(beats_dir)) == []
    finally:
        script.disconnect()


def _spy_styles(script):
    """The (composer, notes path) of every done_style the script handles, in order."""
    seen = []
    handle = script._handle

    def spy(address, args):
        if address == "/pop2piano/done_style":
            seen.append((str(args[1]), str(args[3])))
        handle(address, args)

    script._handle = spy
    return seen


REAL_AUDITION = ("composer2", "composer5", "composer8")


@pytest.mark.parametrize("where", ["session", "arrangement"])
@pytest.mark.parametrize("version", MATRIX)
def test_every_live_version_auditions_three_styles_from_a_real_bridge(daemon, song_path, tmp_path, beats_dir,
                                                                      version, where):
    """[p2p 2,5,8] against the real bridge: each style's clip holds exactly its notes JSON's notes,
    placed as a single conversion places them (the fake's own warp map, independent of the script);
    Session: consecutive slots of one new track (a scene added); Arrangement: take lanes on one
    track (12.2+) or a track per style (earlier). Fails before auditions ([p2p 2,5,8] was refused)."""
    song, clip = fakes.build_host(version, song_path, arrangement=(where == "arrangement"))
    c_instance, script = _script(song, tmp_path, daemon.port)
    seen = _spy_styles(script)
    try:
        clip.name = "Vocal take [p2p 2,5,8]"
        _run_until(script, lambda: any("Vocal take audition: 3 styles " in m for m in c_instance.messages), timeout=120)
        assert not script._jobs and os.listdir(str(beats_dir)) == []
        assert [c for c, _path in seen] == list(REAL_AUDITION)
        ready = [m.split("audition: ")[1].split(" (")[0] for m in c_instance.messages if "styles ready (composer" in m]
        assert ready == ["1 of 3 styles ready", "2 of 3 styles ready", "3 of 3 styles ready"]
        layout = ("session" if where == "session" else
                  "take-lanes" if live(version).has("Live.Track.Track", "take_lanes") else "tracks")
        clips = _style_clips(song, layout)
        assert [c.name for c in clips] == list(REAL_AUDITION)
        for (composer, notes_path), piano in zip(seen, clips):
            with open(notes_path, encoding="utf-8") as handle:
                doc = json.load(handle)
            assert doc["composer"] == composer and doc["beat_source"] == "beats_file"
            got = sorted((n.pitch, n.start_time, n.duration) for n in piano.fake_notes)
            want = _expected_warped(clip, doc)
            assert len(got) == len(want) > 0
            for g, w in zip(got, want):
                assert g[0] == w[0] and g[1] == pytest.approx(w[1], abs=1e-6) and g[2] == pytest.approx(w[2], abs=1e-6)
            assert not piano.looping
        if layout == "session":
            assert [t.name for t in song.tracks] == ["Vocals", "Vocal take - audition (piano)", "Drums"]
            assert [i for i, slot in enumerate(song.tracks[1].clip_slots) if slot.clip is not None] == [2, 3, 4]
            assert len(song.scenes) == 5
        elif layout == "take-lanes":
            assert [t.name for t in song.tracks] == ["Vocals", "Vocal take - audition (piano)", "Drums"]
            assert [lane.name for lane in song.tracks[1].take_lanes] == list(REAL_AUDITION)
            (main,) = song.tracks[1].arrangement_clips
            assert sorted((n.pitch, n.start_time) for n in main.fake_notes) == \
                sorted((n.pitch, n.start_time) for n in clips[0].fake_notes)
            assert all(c.start_time == 32.0 and c.end_time == pytest.approx(48.0) for c in clips + [main])
        else:
            assert [t.name for t in song.tracks] == ["Vocals"] + ["Vocal take - %s (piano)" % c for c in REAL_AUDITION] \
                + ["Drums"]
            assert [t.mute for t in song.tracks[1:-1]] == [False, True, True]
            assert all(c.start_time == 32.0 and c.end_time == pytest.approx(48.0) for c in clips)
        assert song.fake_undo == (0, 3)
    finally:
        script.disconnect()


def test_an_unwarped_clip_gets_tracked_beats_from_a_real_bridge(daemon, song_path, tmp_path, beats_dir):
    song, _clip = fakes.build_host("12.3.5", song_path, warped=False)
    c_instance, script = _script(song, tmp_path, daemon.port)
    try:
        script.convert_selected("composer11")
        assert "with beats tracked from the audio" in c_instance.messages[-1]
        _run_until(script, lambda: any("notes on" in m for m in c_instance.messages), timeout=60)
        assert _notes_doc(song_path, "composer11")["beat_source"] == "tracked"
        assert os.listdir(str(beats_dir)) == []
    finally:
        script.disconnect()


def test_osc_trigger_and_composers_from_a_real_bridge(daemon, song_path, tmp_path):
    song, _clip = fakes.build_host("12.3.5", song_path)
    c_instance, script = _script(song, tmp_path, daemon.port)
    try:
        _run_until(script, lambda: script.composers is not None, timeout=10)
        asker = Peer(daemon.port)
        asker.send("/pop2piano/composers")
        assert script.composers == asker.receive(10)[1]
        asker.close()
        trigger = Peer(script.listen_port)
        trigger.send("/pop2piano/live/convert_selected", "composer4")
        _run_until(script, lambda: len(song.tracks) == 3, timeout=60)
        assert song.tracks[1].name == "Vocal take - composer4 (piano)"
        trigger.close()
    finally:
        script.disconnect()


def test_bridge_not_running_and_not_startable_says_how_to_start_it(song_path, tmp_path, monkeypatch):
    monkeypatch.setattr(script_module, "NO_ANSWER_S", 0.3)
    song, _clip = fakes.build_host("12.3.5", song_path)
    c_instance, script = _script(song, tmp_path, _free_port(), command=[])
    try:
        script.convert_selected()
        _run_until(script, lambda: any("not running" in m for m in c_instance.messages), timeout=5)
        assert "command is empty" in c_instance.messages[-1] and len(song.tracks) == 2
    finally:
        script.disconnect()


WRAPPER = """import os, sys
args = sys.argv[1:]
assert args[0] == "serve", args
log = args[args.index("--log-file") + 1]
port = args[args.index("--port") + 1]
with open(os.path.join(os.path.dirname(log), "started.txt"), "a") as handle:
    handle.write(" ".join(args) + "\\n")
fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
os.dup2(fd, 1)
os.dup2(fd, 2)
os.chdir(%(root)r)
os.execv(sys.executable, [sys.executable, "-m", "bridge", "serve", "--model", %(model)r, "--port", port, "--no-live"])
"""


def test_bridge_not_running_is_started_from_live_and_the_request_retried(song_path, model_dir, tmp_path, monkeypatch):
    """`<command> serve --log-file <path>` detached; pinged from update_display; one start only."""
    monkeypatch.setattr(script_module, "NO_ANSWER_S", 0.3)
    wrapper = tmp_path / "fake-bridge-command.py"
    wrapper.write_text(WRAPPER % {"root": ROOT, "model": model_dir}, encoding="utf-8")
    song, _clip = fakes.build_host("12.3.5", song_path)
    c_instance, script = _script(song, tmp_path, _free_port(), command=[sys.executable, str(wrapper)])
    started = []
    real_popen = script.launcher._popen
    script.launcher._popen = lambda argv, **kw: started.append((argv, kw)) or real_popen(argv, **kw)
    slowest = 0.0
    try:
        script.convert_selected()
        deadline = time.monotonic() + 90
        while len(song.tracks) < 3 and time.monotonic() < deadline:
            t0 = time.monotonic()
            script.update_display()
            slowest = max(slowest, time.monotonic() - t0)
            if script.launcher.starting and len(script._jobs) == 1:
                script.convert_selected()  # a second request while the bridge comes up: no second start
            time.sleep(0.02)
        assert len(song.tracks) >= 3, c_instance.messages
        assert len(started) == 1
        argv, kw = started[0]
        assert argv[2:5] == ["serve", "--log-file", str(tmp_path / "pop2piano-bridge.log")]
        assert kw["start_new_session"] is True and kw["stdin"] == subprocess.DEVNULL
        assert any(m.startswith("Pop2Piano: starting the bridge") for m in c_instance.messages)
        assert slowest < 0.5  # Live's UI thread never waited on the start
        _run_until(script, lambda: len(song.tracks) == 4, timeout=60)  # the second request too
    finally:
        script.disconnect()
        process = script.launcher.process
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


# -- the clip's warp grid as the bridge's beats (issue 14) --------------------------------

# beats 0 - 6 over 3 s (120 BPM of the audio), then 6 - 22 over 9 s (106.7 BPM): a change inside the loop
LOOP_WARP = ((0.0, 0.0), (3.0 * SR, 6.0), (12.0 * SR, 22.0))


@pytest.mark.parametrize("looped,arrangement,change", [(False, False, 12.0), (True, True, 6.0)],
                         ids=["session", "arrangement-looped"])
def test_warped_clip_notes_land_on_the_warp_grid_through_a_tempo_change(daemon, song_path, tmp_path, beats_dir,
                                                                        looped, arrangement, change):
    """The warp map changes tempo inside the converted range (the standard map: 120 → 100 BPM of the
    audio at beat 12; the looped clip's: 120 → 106.7 at beat 6), while the audio itself stays at
    120: every placed note starts on a half-beat of the clip's beat grid, the bridge says it used
    the beats file, and the file is gone once the piano clip is made. Fails on tracked beats (the
    script before the warp grid: notes 0.18 - 0.23 beat off)."""
    song, clip = fakes.build_host("12.3.5", song_path, looped=looped, arrangement=arrangement,
                                  warp=LOOP_WARP if looped else fakes.STANDARD_WARP)
    c_instance, script = _script(song, tmp_path, daemon.port)
    try:
        clip.name = "Vocal take [p2p 9]"
        _run_until(script, lambda: any("notes on" in m for m in c_instance.messages), timeout=60)
        assert any("converting Vocal take (composer9) on the clip's warp grid" in m for m in c_instance.messages)
        new = song.tracks[1]
        piano = new.arrangement_clips[0] if arrangement else new.clip_slots[2].clip
        origin = 2.0  # the first converted beat of the audio clip (start marker or loop start)
        starts = [n.start_time + origin for n in piano.fake_notes]
        assert len(starts) > 10
        assert max(_off_half_beat(b) for b in starts) < 1e-3, sorted(starts)
        assert any(b > change + 0.25 for b in starts), sorted(set(starts))  # placed through the changed tempo
        assert looped or any(b < change for b in starts)  # (the tiny model's notes sit at beats 8, 12, 16)
        assert _notes_doc(song_path, "composer9")["beat_source"] == "beats_file"
        assert os.listdir(str(beats_dir)) == []
    finally:
        script.disconnect()
