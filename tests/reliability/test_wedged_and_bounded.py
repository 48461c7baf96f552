"""A wedged inference process, stale cache entries, hostile audio headers and replies that must always
reach their client: real daemons, real signals, real files."""

from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import sys
import time

import audio_fixtures
import pytest
import soundfile as sf
from processes import ROOT, Daemon, Peer

from bridge.engine.audio import MAX_SAMPLE_RATE

SR = 44100


def inference_pid(daemon: Daemon) -> int:
    """The daemon's inference child (multiprocessing's resource tracker is a child too)."""
    found = []
    for pid in _children(daemon.proc.pid):
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            if b"spawn_main" in handle.read():
                found.append(pid)
    assert len(found) == 1, found
    return found[0]


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.fixture()
def stoppable(model_dir):
    """A daemon with a short watchdog; whatever a test stops is continued before it is stopped."""
    server = Daemon(model_dir, "--no-live", "--watchdog", "3").start()
    yield server
    for pid in _children(server.proc.pid):
        os.kill(pid, signal.SIGCONT)
    server.stop()


def _children(pid: int) -> list[int]:
    """Child processes of ``pid``, whichever of its threads started them."""
    children = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as handle:
                children += [int(p) for p in handle.read().split()]
    except OSError:
        pass
    return children


def test_a_stopped_inference_process_is_replaced_and_the_queue_goes_on(stoppable, long_song_path, song_path,
                                                                       tmp_path):
    peer = Peer(stoppable.port)
    try:
        peer.send("/pop2piano/convert", "w1", long_song_path, "out_dir", str(tmp_path))
        peer.until_generating("w1")
        child = inference_pid(stoppable)
        os.kill(child, signal.SIGSTOP)
        peer.send("/pop2piano/convert", "w2", song_path, "duration", 4.0, "out_dir", str(tmp_path))
        started = time.monotonic()
        address, args = peer.until_final("w1", timeout=60)[-1]
        assert address == "/pop2piano/error" and args[1] == "internal" and "no sign of life" in args[2]
        assert time.monotonic() - started < 15
        assert peer.until_final("w2", timeout=120)[-1][0] == "/pop2piano/done"  # a new process took over
        assert inference_pid(stoppable) != child
    finally:
        peer.close()


def test_cancel_is_answered_within_a_second_whatever_the_worker_does(stoppable, long_song_path, tmp_path):
    peer = Peer(stoppable.port)
    try:
        peer.send("/pop2piano/convert", "w3", long_song_path, "out_dir", str(tmp_path))
        peer.until_generating("w3")
        os.kill(inference_pid(stoppable), signal.SIGSTOP)
        started = time.monotonic()
        peer.send("/pop2piano/cancel", "w3")
        address, _ = peer.until_final("w3", timeout=10)[-1]
        assert address == "/pop2piano/cancelled" and time.monotonic() - started < 2.0
    finally:
        peer.close()


def test_shutdown_with_a_stopped_inference_process_is_bounded(model_dir, long_song_path, tmp_path):
    server = Daemon(model_dir, "--no-live").start()
    peer = Peer(server.port)
    try:
        peer.send("/pop2piano/convert", "w4", long_song_path, "out_dir", str(tmp_path))
        peer.until_generating("w4")
        child = inference_pid(server)
        os.kill(child, signal.SIGSTOP)
        started = time.monotonic()
        assert server.stop(timeout=20) == 0
        assert time.monotonic() - started < 8
        assert peer.until_final("w4", timeout=5)[-1][0] == "/pop2piano/cancelled"
        assert not os.path.exists(f"/proc/{child}") or open(f"/proc/{child}/stat").read().split()[2] == "Z"
    finally:
        peer.close()
        server.stop()


@pytest.fixture(scope="module")
def daemon(model_dir):
    server = Daemon(model_dir, "--no-live", "--queue", "0").start()
    yield server
    assert server.stop() == 0


def _stages(peer, job):
    replies = peer.until_final(job)
    return [r[1][2] for r in replies if r[0] == "/pop2piano/progress"], replies[-1]


def test_a_file_replaced_with_its_mtime_put_back_is_not_served_from_the_cache(daemon, tmp_path):
    """`cp -p` / `rsync -t`: same path, same size, same mtime, other content."""
    path = tmp_path / "take.wav"
    sf.write(str(path), audio_fixtures.chord_song(5.0, SR, seed=1), SR, subtype="PCM_16")
    peer = Peer(daemon.port)
    try:
        peer.send("/pop2piano/convert", "cache1", str(path), "out_dir", str(tmp_path))
        first, done1 = _stages(peer, "cache1")
        stat = os.stat(path)
        other = tmp_path / "other.wav"
        sf.write(str(other), audio_fixtures.chord_song(5.0, SR, bpm=97.0, seed=9), SR, subtype="PCM_16")
        assert os.path.getsize(other) == stat.st_size
        shutil.copyfile(other, path)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        assert (os.stat(path).st_size, os.stat(path).st_mtime_ns) == (stat.st_size, stat.st_mtime_ns)
        peer.send("/pop2piano/convert", "cache2", str(path), "out_dir", str(tmp_path))
        second, done2 = _stages(peer, "cache2")
        assert "cached" not in second and "reading" in second, second
        peer.send("/pop2piano/convert", "cache3", str(path), "out_dir", str(tmp_path))
        stages3, done3 = _stages(peer, "cache3")
        assert stages3 == ["cached"], done3  # unchanged since: the memo still serves it
    finally:
        peer.close()


def _wav_header(path, rate: int, channels: int, bits: int, frames: int) -> None:
    """A RIFF/WAVE PCM file whose header declares ``rate``/``channels``; the data is silence."""
    block = channels * bits // 8
    data = bytes(frames * block) if bits != 8 else b"\x80" * (frames * block)
    header = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * block, block, bits)
    path.write_bytes(header + b"data" + struct.pack("<I", len(data)) + data)


def test_hostile_headers_are_refused_before_decoding_and_memory_stays_flat(daemon, tmp_path):
    """An 8-bit WAV declaring 50 MHz used to decode to 4 bytes per stored byte and resample from there
    (the inference process's peak memory grew by ~8x the file). Now the header alone decides."""
    peer = Peer(daemon.port)
    try:
        warm = tmp_path / "warm.wav"
        sf.write(str(warm), audio_fixtures.chord_song(4.0, SR), SR)
        peer.send("/pop2piano/convert", "hh0", str(warm), "out_dir", str(tmp_path))
        assert peer.until_final("hh0")[-1][0] == "/pop2piano/done"
        child = inference_pid(daemon)
        before = peak_rss_mb(child)
        hostile = {
            "50mhz.wav": dict(rate=50_000_000, channels=1, bits=8, frames=60_000_000),  # 60 MB, 1.2 s
            "too-many-channels.wav": dict(rate=SR, channels=200, bits=8, frames=SR),
            "1hz.wav": dict(rate=1, channels=1, bits=8, frames=1000),
        }
        for i, (name, header) in enumerate(hostile.items()):
            _wav_header(tmp_path / name, **header)
            started = time.monotonic()
            peer.send("/pop2piano/convert", f"hh{i + 1}", str(tmp_path / name), "out_dir", str(tmp_path))
            address, args = peer.until_final(f"hh{i + 1}")[-1]
            assert address == "/pop2piano/error" and args[1] == "not_audio", (name, args)
            assert time.monotonic() - started < 5
        # the largest rate the bridge reads, for real: decoded and resampled within bounds
        high = tmp_path / "high-rate.wav"
        sf.write(str(high), audio_fixtures.chord_song(10.0, MAX_SAMPLE_RATE), MAX_SAMPLE_RATE, subtype="PCM_U8")
        peer.send("/pop2piano/convert", "hh9", str(high), "out_dir", str(tmp_path))
        assert peer.until_final("hh9", timeout=180)[-1][0] == "/pop2piano/done"
        grown = peak_rss_mb(child) - before
        print(f"inference process peak RSS: {before:.0f} MB, grew {grown:.0f} MB")
        assert grown < 60, grown  # the 60 MB hostile file alone used to add ~480 MB
    finally:
        peer.close()


def test_queue_zero_runs_one_job_and_refuses_the_next_while_it_runs(daemon, long_song_path, song_path, tmp_path):
    peer = Peer(daemon.port)
    try:
        peer.send("/pop2piano/convert", "q1", long_song_path, "composer", "composer17", "out_dir", str(tmp_path))
        peer.until_generating("q1")
        peer.send("/pop2piano/convert", "q2", song_path, "out_dir", str(tmp_path))
        assert peer.until_final("q2")[-1][1][:2] == ["q2", "busy"]
        assert peer.until_final("q1", timeout=180)[-1][0] == "/pop2piano/done"
    finally:
        peer.close()


def test_a_job_id_with_a_trailing_newline_is_refused(daemon):
    peer = Peer(daemon.port)
    try:
        peer.send("/pop2piano/status", "job1\n")
        address, args = peer.receive()
        assert address == "/pop2piano/error" and args[1] == "bad_request" and "job_id" in args[2]
    finally:
        peer.close()


def test_relative_paths_are_refused_by_the_bridge_and_resolved_by_send(daemon, song_path, tmp_path):
    """The bridge's working directory is not the client's: from a non-UTF-8 one, a relative path used to
    produce a `done` reply that could not be encoded, so the client waited forever."""
    peer = Peer(daemon.port)
    try:
        for path in ("song.wav", "~/song.wav"):
            peer.send("/pop2piano/convert", "rel1", path)
            address, args = peer.until_final("rel1")[-1]
            assert address == "/pop2piano/error" and args[1] == "bad_request" and "absolute" in args[2]
    finally:
        peer.close()
    folder = tmp_path / "here"
    folder.mkdir()
    shutil.copyfile(song_path, folder / "song.wav")
    result = subprocess.run([sys.executable, "-m", "bridge", "send", "--port", str(daemon.port),
                             "/pop2piano/convert", "rel2", "song.wav", "duration", "4", "out_dir", "."],
                            cwd=folder, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": ROOT})
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"\t{folder}{os.sep}" in result.stdout  # written beside it, reported by absolute path


def test_a_bridge_started_in_a_non_utf8_folder_answers_every_request(model_dir, song_path, tmp_path):
    odd = os.path.join(os.fsencode(str(tmp_path)), b"caf\xe9")  # Latin-1, not UTF-8
    os.mkdir(odd)
    server = Daemon(model_dir, "--no-live", cwd=odd).start()
    peer = Peer(server.port)
    try:
        peer.send("/pop2piano/convert", "u1", "song.wav")
        assert peer.until_final("u1")[-1][1][:2] == ["u1", "bad_request"]
        peer.send("/pop2piano/convert", "u2", song_path, "duration", 4.0, "out_dir", str(tmp_path))
        assert peer.until_final("u2")[-1][0] == "/pop2piano/done"
    finally:
        peer.close()
        assert server.stop() == 0
