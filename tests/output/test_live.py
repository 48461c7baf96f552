"""Live MIDI: the scheduler on its own, then real JACK ports read back by a real rtmidi input."""

from __future__ import annotations

import os
import time

import mido
import pytest
from processes import Daemon, JackListener, Peer, RecordingPort

from bridge.engine.types import Note
from bridge.output.live import Player
from bridge.output.ports import MidiPort, api_name, open_port


def _notes(messages):
    return [(m.type, m.note) for m in messages if m.type in ("note_on", "note_off")]


@pytest.fixture()
def recorded():
    """A player whose port is a recorder of what it sends, with timestamps; closed afterwards."""
    rec = RecordingPort()
    player = Player(rec)
    yield player, rec
    player.close()


def test_plays_in_time_order_and_ends_clean(recorded):
    player, rec = recorded
    notes = [Note(60, 0.0, 0.10, 80), Note(64, 0.05, 0.15, 90), Note(67, 0.10, 0.12, 70)]
    start = time.perf_counter()
    session = player.play(notes)
    assert player.wait_idle(5)
    assert _notes(m for _t, m in rec.messages) == [
        ("note_on", 60), ("note_on", 64), ("note_off", 60), ("note_on", 67), ("note_off", 67), ("note_off", 64)]
    assert rec.sounding() == set()
    first_on = rec.messages[0][0] - start
    assert 0.0 < first_on < 0.5
    assert len(session.timing_errors) == 6


def test_a_restrike_ends_the_sounding_note_and_its_old_end_does_not_cut_the_new_one(recorded):
    player, rec = recorded
    player.play([Note(60, 0.0, 0.2, 80), Note(60, 0.1, 0.3, 80)])
    assert player.wait_idle(5)
    assert _notes(m for _t, m in rec.messages) == [
        ("note_on", 60), ("note_off", 60), ("note_on", 60), ("note_off", 60)]
    t = [t for t, _m in rec.messages]
    assert t[3] - t[2] > 0.15  # the second note lasts to its own end


def test_stop_silences_every_sounding_note_at_once(recorded):
    player, rec = recorded
    player.play([Note(p, 0.0, 30.0, 80) for p in (60, 64, 67)])
    deadline = time.monotonic() + 5
    while player.sounding != {60, 64, 67} and time.monotonic() < deadline:
        time.sleep(0.01)
    player.stop()
    kinds = [(m.type, getattr(m, "note", None), getattr(m, "control", None)) for _t, m in rec.messages]
    assert kinds[-5:] == [("note_off", 60, None), ("note_off", 64, None), ("note_off", 67, None),
                          ("control_change", None, 64), ("control_change", None, 123)]
    assert rec.sounding() == set() and player.sounding == set()


def test_a_new_play_over_an_old_one_ends_the_old_notes_first(recorded):
    player, rec = recorded
    player.play([Note(50, 0.0, 30.0, 80)])
    while 50 not in player.sounding:
        time.sleep(0.01)
    player.play([Note(70, 0.0, 0.05, 80)])
    assert player.wait_idle(5)
    assert _notes(m for _t, m in rec.messages) == [("note_on", 50), ("note_off", 50), ("note_on", 70), ("note_off", 70)]


def test_streaming_waits_at_the_horizon_instead_of_dropping_notes(recorded):
    player, rec = recorded
    session = player.stream()
    session.add([Note(60, 0.0, 0.05, 80)], horizon=0.1)
    time.sleep(0.4)  # the next chunk is late: the playhead waits at 0.1 s
    session.add([Note(62, 0.1, 0.15, 80)], horizon=float("inf"))
    session.finish()
    assert player.wait_idle(5)
    times = {(m.type, m.note): t for t, m in rec.messages if m.type.startswith("note")}
    # unstalled it would come 0.1 s after the first; it waited for its chunk (0.4 s minus the 0.05 s lead)
    assert times[("note_on", 62)] - times[("note_on", 60)] > 0.3
    # after resuming, the chunk keeps its own timing
    assert times[("note_off", 62)] - times[("note_on", 62)] == pytest.approx(0.05, abs=0.01)
    # the wait is counted: from reaching the horizon (0.15 s after the add) to the late chunk (0.4 s)
    assert session.waited == pytest.approx(0.4 - 0.05 - 0.1, abs=0.05)


class BrokenPort(MidiPort):
    def send(self, message: mido.Message) -> None:
        raise OSError("backend went away")


def test_a_failing_port_is_reported_not_raised():
    player = Player(BrokenPort())
    try:
        player.play([Note(60, 0.0, 0.05, 80)])
        assert player.wait_idle(5)
        assert "backend went away" in (player.failure or "")
    finally:
        player.close()


def test_midi_api_names_people_type():
    assert [api_name(n) for n in ("jack", "ALSA", "CoreMIDI", "winmm", "unix_jack", " Linux_Alsa ")] == [
        "UNIX_JACK", "LINUX_ALSA", "MACOSX_CORE", "WINDOWS_MM", "UNIX_JACK", "LINUX_ALSA"]
    with pytest.raises(ValueError, match="unknown MIDI API"):
        api_name("midi")


# -- real JACK ports -----------------------------------------------------------------

def test_jack_virtual_port_is_read_back_by_a_real_input(jack):
    name = f"p2p-unit-{os.getpid()}"
    port = open_port(name, "UNIX_JACK")
    player = Player(port)
    listener = JackListener(name)
    try:
        # A first note proves the JACK connection carries events before the notes are counted (instead of a
        # fixed sleep; the failures once blamed on that sleep came from the listener: see JackListener).
        player.play([Note(100, 0.0, 0.01, 1)])
        assert player.wait_idle(10)
        listener.wait_for(lambda l: l.note_ons() == 1 and not l.sounding(), timeout=10)
        listener.messages.clear()
        notes = [Note(60 + i % 12, i * 0.01, i * 0.01 + 0.05, 90) for i in range(50)]
        player.play(notes)
        assert player.wait_idle(10)
        listener.wait_for(lambda l: l.note_ons() == 50 and not l.sounding(), timeout=5)
    finally:
        listener.close()
        player.close()


@pytest.fixture(scope="module")
def live_daemon(jack, model_dir):
    name = f"p2p-daemon-{os.getpid()}"
    server = Daemon(model_dir, "--midi-api", "UNIX_JACK", "--midi-port-name", name).start()
    yield server, name
    assert server.stop() == 0


def test_live_output_streams_while_generating_and_ends_clean(live_daemon, song_path, tmp_path):
    server, name = live_daemon
    assert f"port {name!r}" in server.banner
    listener = JackListener(name)
    peer = Peer(server.port)
    try:
        peer.send("/pop2piano/convert", "live1", song_path, "composer", "composer3", "output", "both",
                  "out_dir", str(tmp_path))
        replies = peer.until_final("live1")
        assert replies[-1][0] == "/pop2piano/done"
        count = replies[-1][1][3]
        assert count > 0
        listener.wait_for(lambda l: l.note_ons() >= count and not l.sounding(), timeout=60)
    finally:
        peer.close()
        listener.close()


def test_play_then_stop_silences_and_play_over_play(live_daemon, song_path, tmp_path):
    server, name = live_daemon
    listener = JackListener(name)
    peer = Peer(server.port)
    try:
        peer.send("/pop2piano/convert", "p1", song_path, "composer", "composer4", "out_dir", str(tmp_path))
        assert peer.until_final("p1")[-1][0] == "/pop2piano/done"
        peer.send("/pop2piano/play", "p1", 0.0)
        assert peer.receive() == ("/pop2piano/playing", ["p1", 0.0])
        listener.wait_for(lambda l: l.note_ons() >= 1)
        peer.send("/pop2piano/play", "p1", 2.0)  # a new play over the old one
        assert peer.receive()[0] == "/pop2piano/playing"
        time.sleep(0.5)
        peer.send("/pop2piano/stop")
        assert peer.receive() == ("/pop2piano/stopped", [])
        listener.wait_for(lambda l: any(m.type == "control_change" and m.control == 123 for _t, m in l.messages))
        time.sleep(0.2)
        assert listener.sounding() == set()
        peer.send("/pop2piano/play", "nope")
        assert peer.receive()[1][:2] == ["nope", "not_found"]
    finally:
        peer.close()
        listener.close()


def test_cancel_during_live_streaming_leaves_nothingsounding(live_daemon, long_song_path):
    server, name = live_daemon
    listener = JackListener(name)
    peer = Peer(server.port)
    try:
        peer.send("/pop2piano/convert", "lc1", long_song_path, "output", "live", "composer", "composer2")
        listener.wait_for(lambda l: l.note_ons() >= 1, timeout=60)
        peer.send("/pop2piano/cancel", "lc1")
        # cancelled while generating, or generation already done and the cancel stopped the playback
        replies = peer.until_final("lc1")
        if replies[-1][0] == "/pop2piano/done":
            assert peer.receive() == ("/pop2piano/cancelled", ["lc1"])
        else:
            assert replies[-1] == ("/pop2piano/cancelled", ["lc1"])
        time.sleep(0.3)
        assert listener.sounding() == set()
        heard = listener.note_ons()
        time.sleep(0.5)
        assert listener.note_ons() == heard  # nothing more is played
    finally:
        peer.close()
        listener.close()
