"""Ableton Live Remote Script: its OSC codec against python-osc, placement math on fake clips,
mypy against ableton-live-stubs, and the script on a fake Live host against a real bridge."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

import ableton_fakes as fakes
from processes import ROOT, Daemon, Peer

sys.path.insert(0, os.path.join(ROOT, "bridge", "daw_scripts", "ableton"))
fakes.install_live_module()

from Pop2PianoBridge import osc  # noqa: E402
from Pop2PianoBridge.placement import (  # noqa: E402
    composer_from_name, placed_notes, playrate_for, region_for, strip_command,
)

SR = 44100.0

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


def _warped_clip(**kw):
    # warp markers: beat 0 at sample 0.5 s, beat 8 at 4.5 s, beat 16 at 8.0 s (tempo changes inside)
    warp = fakes.WarpMap([(0.5 * SR, 0.0), (4.5 * SR, 8.0), (8.0 * SR, 16.0)])
    defaults = dict(file_path="/music/song.wav", sample_rate=SR, sample_length=int(12 * SR), warping=True,
                    start_marker=2.0, end_marker=14.0, warp=warp)
    defaults.update(kw)
    return fakes.AudioClip(**defaults)


def test_warped_region_and_notes_follow_the_warp_markers():
    clip = _warped_clip()
    region = region_for(clip, tempo=128.0)
    assert region.start == pytest.approx(1.5)  # beat 2 → 0.5 + 2 * 0.5 s
    assert region.duration == pytest.approx(7.125 - 1.5)  # beat 14 → 4.5 + 6 * (3.5/8) s
    assert region.playrate == 1.0 and region.length_beats == pytest.approx(12.0)
    doc = {"notes": [{"pitch": 60, "start": 0.0, "end": 1.0, "velocity": 80},  # source 1.5–2.5 s
                     {"pitch": 62, "start": 3.0, "end": 3.875, "velocity": 70},  # source 4.5–5.375 s: beat 8–10
                     {"pitch": 64, "start": 5.5, "end": 9.0, "velocity": 70}]}  # runs past the end marker
    notes = placed_notes(region, clip, doc, 128.0)
    assert notes[0][:2] == (60, pytest.approx(0.0)) and notes[0][2] == pytest.approx(2.0)
    assert notes[1][1] == pytest.approx(6.0) and notes[1][2] == pytest.approx(2.0)
    assert notes[2][1] + notes[2][2] == pytest.approx(12.0)  # cut at the clip end


def test_unwarped_region_uses_seconds_tempo_and_repitch():
    clip = fakes.AudioClip("/music/song.wav", SR, int(12 * SR), warping=False, start_marker=2.0, end_marker=6.0,
                           pitch_coarse=12)
    region = region_for(clip, tempo=90.0)
    assert playrate_for(clip) == pytest.approx(2.0)
    assert (region.start, region.duration, region.playrate) == (2.0, 4.0, pytest.approx(2.0))
    assert region.length_beats == pytest.approx(4.0 / 2.0 * 90 / 60)
    notes = placed_notes(region, clip, {"notes": [{"pitch": 50, "start": 1.0, "end": 1.5, "velocity": 90}]}, 90.0)
    assert notes == [(50, pytest.approx(1.5), pytest.approx(0.75), 90)]


def test_region_errors_are_clear():
    with pytest.raises(ValueError, match="markers select no audio"):
        region_for(fakes.AudioClip("/a.wav", SR, int(SR), warping=False, start_marker=2.0, end_marker=3.0), 120.0)
    with pytest.raises(ValueError, match="no audio file"):
        region_for(fakes.AudioClip("", SR, int(SR), warping=False, start_marker=0.0, end_marker=1.0), 120.0)


def test_clip_name_command():
    assert composer_from_name("Vocals [p2p]") == ""
    assert composer_from_name("Vocals [P2P 7]") == "composer7"
    assert composer_from_name("Vocals [p2p composer21]") == "composer21"
    assert composer_from_name("Vocals [p2p 22]") is None and composer_from_name("Vocals") is None
    assert strip_command("Vocals [p2p 7]") == "Vocals"


def test_mypy_strict_against_live_stubs():
    result = subprocess.run([sys.executable, "-m", "mypy", "--strict", "bridge/daw_scripts/ableton/Pop2PianoBridge"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


# -- the script on a fake host against a real bridge -----------------------------------

@pytest.fixture(scope="module")
def daemon(model_dir):
    server = Daemon(model_dir, "--no-live").start()
    yield server
    server.stop()


def _host(song_path, daemon_port, live12=True, arrangement=False):
    from Pop2PianoBridge import create_instance

    song = fakes.Song(tempo=100.0, live12=live12)
    audio = song.add_audio_track("Vocals")
    song.add_audio_track("Drums")
    warp = fakes.WarpMap([(0.0, 0.0), (6.0 * SR, 12.0), (12.0 * SR, 22.0)])
    clip = fakes.AudioClip(song_path, SR, int(12 * SR), warping=True, start_marker=2.0, end_marker=18.0,
                           name="Vocal take", warp=warp)
    if arrangement:
        clip.is_arrangement_clip, clip.start_time, clip.canonical_parent = True, 32.0, audio
    else:
        slot = audio.clip_slots[2]
        slot.clip, clip.canonical_parent = clip, slot
    song.view.detail_clip = clip
    c_instance = fakes.CInstance(song)
    script = create_instance(c_instance)
    script._bridge = ("127.0.0.1", daemon_port)
    return song, clip, c_instance, script


def _run_until(script, predicate, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        script.update_display()
        time.sleep(0.05)
    assert predicate()


def _expected(clip, doc):
    region = region_for(clip, 100.0)
    return placed_notes(region, clip, doc, 100.0)


def test_osc_trigger_makes_a_session_clip_beside_the_audio(daemon, song_path):
    song, clip, c_instance, script = _host(song_path, daemon.port)
    try:
        trigger = Peer(script.listen_port)
        trigger.send("/pop2piano/live/convert_selected", "composer4")
        _run_until(script, lambda: len(song.tracks) == 3)
        new = song.tracks[1]
        assert new.name == "Vocal take - composer4 (piano)" and new.has_midi_input
        midi = new.clip_slots[2].clip
        assert midi is not None and midi.length == pytest.approx(16.0)
        assert song.undo_steps == 1
        done = [m for m in c_instance.messages if "notes on" in m]
        assert done, c_instance.messages
        notes_dir = os.path.join(os.path.dirname(song_path), "Pop2Piano")
        doc_path = [p for p in os.listdir(notes_dir) if p.endswith(".notes.json") and "composer4" in p]
        doc = json.load(open(os.path.join(notes_dir, doc_path[0]), encoding="utf-8"))
        got = sorted((n.pitch, n.start_time, n.duration, n.velocity) for n in midi.notes)
        want = sorted((p, t, d, float(v)) for p, t, d, v in _expected(clip, doc))
        assert len(got) == len(want) > 0
        for g, w in zip(got, want):
            assert g[0] == w[0] and g[1] == pytest.approx(w[1], abs=1e-6) and g[2] == pytest.approx(w[2], abs=1e-6)
        trigger.close()
    finally:
        script.disconnect()


@pytest.mark.parametrize("live12", [True, False])
def test_clip_name_command_makes_an_arrangement_clip(daemon, song_path, live12):
    song, clip, c_instance, script = _host(song_path, daemon.port, live12=live12, arrangement=True)
    try:
        clip.name = "Vocal take [p2p 6]"
        _run_until(script, lambda: len(song.tracks) == 3 and song.tracks[1].arrangement_clips)
        assert clip.name == "Vocal take"  # the command was consumed
        midi = song.tracks[1].arrangement_clips[0]
        assert midi.start_time == 32.0 and midi.length == pytest.approx(16.0) and midi.notes
        assert all(slot.clip is None for slot in song.tracks[1].clip_slots)
    finally:
        script.disconnect()


def test_bridge_not_running_shows_how_to_start_it(song_path):
    import socket

    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    song, _clip, c_instance, script = _host(song_path, port)
    try:
        import Pop2PianoBridge.script as script_module

        script_module.NO_ANSWER_S, old = 0.3, script_module.NO_ANSWER_S
        try:
            script.convert_selected()
            _run_until(script, lambda: any("not running" in m for m in c_instance.messages), timeout=5)
        finally:
            script_module.NO_ANSWER_S = old
        assert len(song.tracks) == 2
    finally:
        script.disconnect()
