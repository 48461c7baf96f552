"""The daemon as a real process, over real UDP on loopback (python-osc and liblo's oscsend/oscdump)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time

import pytest
from processes import Daemon, Peer
from pythonosc import dispatcher, osc_server, udp_client


@pytest.fixture(scope="module")
def daemon(shared_daemon):
    return shared_daemon


@pytest.fixture()
def peer(daemon):
    client = Peer(daemon.port)
    yield client
    client.close()


def test_banner_says_where_it_listens(daemon):
    assert f"udp://127.0.0.1:{daemon.port}" in daemon.banner and "live MIDI off" in daemon.banner


def test_ping_and_composers(peer):
    peer.send("/pop2piano/ping")
    assert peer.receive() == ("/pop2piano/pong", ["0.1.0"])
    peer.send("/pop2piano/composers")
    address, names = peer.receive()
    assert address == "/pop2piano/composers" and names == [f"composer{i}" for i in range(1, 22)]


def test_reply_port_with_python_osc_client_and_server(daemon):
    received = []
    routes = dispatcher.Dispatcher()
    routes.map("/pop2piano/*", lambda address, *args: received.append((address, args)))
    server = osc_server.ThreadingOSCUDPServer(("127.0.0.1", 0), routes)
    import threading

    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        udp_client.SimpleUDPClient("127.0.0.1", daemon.port).send_message("/pop2piano/ping", [server.server_address[1]])
        deadline = time.monotonic() + 10
        while not received and time.monotonic() < deadline:
            time.sleep(0.02)
        assert received == [("/pop2piano/pong", ("0.1.0",))]
    finally:
        server.shutdown()
        server.server_close()


def test_convert_replies_and_files(peer, song_path):
    peer.send("/pop2piano/convert", "j-full", song_path, "composer", "composer2", "start", 1.0, "duration", 8.0,
              "tempo", 110.0)
    replies = peer.until_final("j-full")
    assert replies[0] == ("/pop2piano/accepted", ["j-full"])
    progress = [r for r in replies if r[0] == "/pop2piano/progress"]
    generating = [r for r in progress if r[1][2] == "generating"]
    fractions = [r[1][1] for r in progress]
    assert fractions == sorted(fractions)
    address, (job, midi_path, notes_path, count) = replies[-1]
    assert address == "/pop2piano/done"
    doc = json.load(open(notes_path, encoding="utf-8"))
    assert os.path.dirname(midi_path) == os.path.join(os.path.dirname(song_path), "Pop2Piano")
    assert re.fullmatch(r"song\.wav - composer2 - 1\.00s\+8\.00s - 110bpm - [0-9a-f]{12}\.mid",
                        os.path.basename(midi_path)), midi_path
    assert notes_path == midi_path[:-len(".mid")] + ".notes.json"
    assert doc["note_count"] == count and doc["tempo"] == 110.0 and doc["midi"]["path"] == midi_path
    # generating progress starts at the first chunk and ends with every chunk done
    assert len(generating) >= 2 and generating[-1][1][1] > 0.99


def test_same_request_again_is_served_from_the_cache(peer, song_path):
    for job in ("c1", "c2"):
        peer.send("/pop2piano/convert", job, song_path, "composer", "composer8", "duration", 6.0)
        replies = peer.until_final(job)
    stages = [r[1][2] for r in replies if r[0] == "/pop2piano/progress"]
    assert stages == ["cached"] and replies[-1][0] == "/pop2piano/done"


def test_another_composer_reuses_audio_and_beats(peer, song_path):
    peer.send("/pop2piano/convert", "k1", song_path, "composer", "composer10", "duration", 7.0)
    first = [r[1][2] for r in peer.until_final("k1") if r[0] == "/pop2piano/progress"]
    peer.send("/pop2piano/convert", "k2", song_path, "composer", "composer11", "duration", 7.0)
    second = [r[1][2] for r in peer.until_final("k2") if r[0] == "/pop2piano/progress"]
    assert "reading" in first and "beats" in first
    assert "reading" not in second and "beats" not in second and "generating" in second


def test_status_cancel_and_duplicate_of_a_running_job(peer, long_song_path):
    peer.send("/pop2piano/convert", "long1", long_song_path, "output", "file")
    assert peer.receive() == ("/pop2piano/accepted", ["long1"])
    peer.until_generating("long1")
    peer.send("/pop2piano/convert", "long1", long_song_path)
    assert peer.until_final("long1")[-1][1][:2] == ["long1", "duplicate_id"]
    peer.send("/pop2piano/status", "long1")
    address, args = peer.receive()
    while address == "/pop2piano/progress":
        address, args = peer.receive()
    assert address == "/pop2piano/status" and args[:2] == ["long1", "running"] and 0 < args[2] < 1
    peer.send("/pop2piano/cancel", "long1")
    replies = peer.until_final("long1")
    assert replies[-1] == ("/pop2piano/cancelled", ["long1"])
    assert not any(r[0] == "/pop2piano/done" for r in replies)
    folder = os.path.join(os.path.dirname(long_song_path), "Pop2Piano")
    assert not os.path.exists(folder) or not any(n.startswith("long song") for n in os.listdir(folder))
    peer.send("/pop2piano/status", "long1")
    address, args = peer.receive()
    assert (address, args[:2]) == ("/pop2piano/status", ["long1", "cancelled"])


def test_queue_is_bounded_and_queued_jobs_cancel(peer, long_song_path, song_path):
    peer.send("/pop2piano/convert", "q1", long_song_path, "composer", "composer5")
    peer.send("/pop2piano/convert", "q2", song_path, "composer", "composer6", "duration", 5.0)
    peer.send("/pop2piano/convert", "q3", song_path, "composer", "composer7", "duration", 5.0)
    peer.send("/pop2piano/convert", "q4", song_path, "composer", "composer9", "duration", 5.0)
    finals: dict[str, tuple] = {}
    accepted = set()
    cancelled_sent = False
    deadline = time.monotonic() + 120
    while len(finals) < 4 and time.monotonic() < deadline:
        address, args = peer.receive(60)
        if address == "/pop2piano/accepted":
            accepted.add(args[0])
            if args[0] == "q2" and not cancelled_sent:
                peer.send("/pop2piano/cancel", "q2")
                cancelled_sent = True
        if address.rsplit("/", 1)[1] in ("done", "error", "cancelled"):
            assert args[0] not in finals, f"two final replies for {args[0]}"
            finals[args[0]] = (address, args)
        if "q1" in accepted and address == "/pop2piano/progress" and args[0] == "q1" and not finals.get("q1"):
            peer.send("/pop2piano/cancel", "q1")
    assert set(finals) == {"q1", "q2", "q3", "q4"}
    busy = [j for j, (a, args) in finals.items() if a == "/pop2piano/error" and args[1] == "busy"]
    assert busy, finals  # queue depth 2: four at once cannot all wait
    assert finals["q2"][0] == "/pop2piano/cancelled" or "q2" in busy


def test_bad_requests_get_errors_and_the_daemon_keeps_serving(peer, tmp_path):
    not_audio = tmp_path / "x.wav"
    not_audio.write_text("nope")
    cases = [
        (("/pop2piano/nope",), ("", "bad_request")),
        (("/pop2piano/convert", "b1", 42), ("b1", "bad_request")),
        (("/pop2piano/convert", "b2", "/no/such.wav"), ("b2", "not_found")),
        (("/pop2piano/convert", "b3", str(not_audio)), ("b3", "not_audio")),
        (("/pop2piano/convert", "b4", str(not_audio), "composer", "bach"), ("b4", "unknown_composer")),
        (("/pop2piano/convert", "b5", "/a.wav", "out_dir", str(tmp_path / "missing")), ("b5", "not_found")),
        (("/pop2piano/status", "never"), ("never", "not_found")),
        (("/pop2piano/cancel", "never"), ("never", "not_found")),
        (("/pop2piano/play", "never"), ("never", "not_found")),
    ]
    for message, (job, code) in cases:
        peer.send(*message)
        address, args = peer.receive()
        if address == "/pop2piano/accepted":
            address, args = peer.until_final(job)[-1]
        assert address == "/pop2piano/error" and args[:2] == [job, code], (message, args)
    peer.send_raw(b"\x00garbage")
    assert peer.receive()[1][1] == "bad_request"
    peer.send_raw(b"#bundle\x00" + b"\x00" * 8)
    assert peer.receive()[1][1] == "bad_request"
    peer.send("/pop2piano/ping")
    assert peer.receive()[0] == "/pop2piano/pong"


def test_ping_is_answered_while_converting(peer, long_song_path):
    peer.send("/pop2piano/convert", "busy1", long_song_path, "composer", "composer12")
    peer.until_generating("busy1")
    peer.send("/pop2piano/ping")
    replies = []
    while True:
        address, args = peer.receive(60)
        replies.append(address)
        if address == "/pop2piano/pong":
            break
    assert "/pop2piano/done" not in replies  # answered before the job ended
    peer.send("/pop2piano/cancel", "busy1")
    peer.until_final("busy1")


@pytest.mark.skipif(not shutil.which("oscsend"), reason="needs liblo-tools (oscsend/oscdump)")
def test_liblo_oscsend_and_oscdump_interoperate(daemon, song_path):
    import socket

    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    dump_port = probe.getsockname()[1]
    probe.close()
    dump = subprocess.Popen(["oscdump", "-L", str(dump_port)], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.3)
        subprocess.run(["oscsend", "localhost", str(daemon.port), "/pop2piano/ping", "i", str(dump_port)], check=True)
        subprocess.run(["oscsend", "localhost", str(daemon.port), "/pop2piano/convert", "sssssfsi", "lo1", song_path,
                        "composer", "composer4", "duration", "4.0", "reply_port", str(dump_port)], check=True)
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = dump.stdout.readline()
            lines.append(line)
            if "/pop2piano/done" in line or "/pop2piano/error" in line:
                break
    finally:
        dump.send_signal(signal.SIGTERM)
        dump.wait(5)
        dump.stdout.close()
    text = "".join(lines)
    assert '/pop2piano/pong s "0.1.0"' in text
    assert '/pop2piano/accepted s "lo1"' in text and "/pop2piano/done sssi" in text


def test_sigterm_mid_job_cancels_it_and_exits_cleanly(model_dir, long_song_path, tmp_path):
    server = Daemon(model_dir, "--no-live").start()
    client = Peer(server.port)
    try:
        client.send("/pop2piano/convert", "t1", long_song_path, "out_dir", str(tmp_path))
        client.until_generating("t1")
        server.proc.send_signal(signal.SIGTERM)
        assert client.until_final("t1")[-1] == ("/pop2piano/cancelled", ["t1"])
        assert server.stop() == 0
        assert os.listdir(tmp_path) == []
    finally:
        client.close()
        server.stop()


def test_a_burst_of_requests_is_not_dropped(daemon):
    """Pings sent as fast as one socket can: every one answered (the receive buffers hold the
    burst; with Linux's default 208 KiB only 426 of 800 were answered)."""
    with open("/proc/sys/net/core/rmem_max", encoding="utf-8") as handle:  # the OS's cap on SO_RCVBUF
        burst = 800 if int(handle.read()) >= 2 * 1024 * 1024 else 300
    sender = Peer(daemon.port)
    try:
        for _ in range(burst):
            sender.send("/pop2piano/ping")
        pongs = 0
        try:
            while pongs < burst:
                address, _args = sender.receive(5)
                pongs += address == "/pop2piano/pong"
        except TimeoutError:
            pass
        assert pongs == burst
    finally:
        sender.close()


def test_the_sessions_grid_over_osc(peer, tmp_path):
    """A DAW's tempo map as a beats file, then a constant grid: notes on the session's beats, the notes JSON
    says where the beats came from, and another composer on the same grid reuses the analysis."""
    import numpy as np
    import soundfile as sf

    import audio_fixtures
    from bridge.engine.grid import off_grid

    beats = audio_fixtures.beats_with_tempo_change(10.0, 110.0, 90.0, 5.0, first=0.2)
    song = tmp_path / "grid song.wav"
    sf.write(str(song), audio_fixtures.song_on_beats(beats, 10.0), 44100)
    beats_file = tmp_path / "beats.json"
    beats_file.write_text(json.dumps(list(beats)), encoding="utf-8")
    docs = {}
    for job, composer in (("g1", "composer4"), ("g2", "composer9")):
        peer.send("/pop2piano/convert", job, str(song), "composer", composer, "beats_file", str(beats_file),
                  "out_dir", str(tmp_path))
        replies = peer.until_final(job)
        assert replies[-1][0] == "/pop2piano/done", replies[-1]
        docs[job] = (json.load(open(replies[-1][1][2], encoding="utf-8")),
                     [r[1][2] for r in replies if r[0] == "/pop2piano/progress"])
    doc, stages = docs["g1"]
    assert doc["beat_source"] == "beats_file" and doc["notes"]
    onsets = [n["start"] for n in doc["notes"] if n["start"] > 0]
    assert off_grid(onsets, beats).max() < 1e-3
    assert "beats" not in docs["g2"][1] and "generating" in docs["g2"][1]  # the analysis was reused
    peer.send("/pop2piano/convert", "g3", str(song), "grid_bpm", 120.0, "grid_offset", 0.1, "out_dir", str(tmp_path))
    address, args = peer.until_final("g3")[-1]
    doc = json.load(open(args[2], encoding="utf-8"))
    assert doc["beat_source"] == "session_grid" and np.allclose(np.diff(doc["beats"]), 0.5)
    peer.send("/pop2piano/convert", "g4", str(song), "beats_file", str(tmp_path / "none.json"))
    assert peer.until_final("g4")[-1][1][:2] == ["g4", "not_found"]


def test_an_audition_answers_once_per_style_then_once_for_the_job(peer, song_path, tmp_path):
    composers = ["composer3", "composer7", "composer11"]
    peer.send("/pop2piano/convert", "au1", song_path, "composer", ",".join(composers), "duration", 6.0,
              "out_dir", str(tmp_path))
    replies = peer.until_final("au1")
    styles = [r[1] for r in replies if r[0] == "/pop2piano/done_style"]
    assert [s[1] for s in styles] == composers
    for _job, composer, midi_path, notes_path, count in styles:
        doc = json.load(open(notes_path, encoding="utf-8"))
        assert doc["composer"] == composer and doc["note_count"] == count and os.path.exists(midi_path)
        assert composer in os.path.basename(midi_path)
    assert replies[-1] == ("/pop2piano/done", ["au1", "", "", 3])
    # each style was cached as if converted alone
    peer.send("/pop2piano/convert", "au2", song_path, "composer", "composer7", "duration", 6.0, "out_dir", str(tmp_path))
    single = peer.until_final("au2")
    assert [r[1][2] for r in single if r[0] == "/pop2piano/progress"] == ["cached"]
    assert single[-1][1][2] == styles[1][3]  # the same notes file: the same request
    peer.send("/pop2piano/convert", "au3", song_path, "composer", "composer3,composer99")
    assert peer.until_final("au3")[-1][1][:2] == ["au3", "unknown_composer"]
    peer.send("/pop2piano/convert", "au4", song_path, "composer", "all", "output", "live")
    assert peer.until_final("au4")[-1][1][:2] == ["au4", "bad_request"]
