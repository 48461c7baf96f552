"""Hostile and broken input against the real daemon: thousands of malformed datagrams, bad audio."""

from __future__ import annotations

import os
import random
import struct
import time

import numpy as np
import pytest
import soundfile as sf
from processes import Daemon, Peer
from pythonosc.osc_message_builder import OscMessageBuilder

from bridge.daemon.limits import BURST, RATE


@pytest.fixture(scope="module")
def daemon(model_dir):
    server = Daemon(model_dir, "--no-live", "--max-minutes", "5").start()
    yield server
    assert server.stop() == 0


def _valid(address, *args):
    builder = OscMessageBuilder(address=address)
    for a in args:
        builder.add_arg(a)
    return builder.build().dgram


def _mutations(rng: random.Random, count: int):
    """Random bytes, truncations, flipped bytes, wrong tags, huge strings, bundles, unknown addresses."""
    seeds = [
        _valid("/pop2piano/ping"), _valid("/pop2piano/status", "x1"), _valid("/pop2piano/cancel", "x2", 5),
        _valid("/pop2piano/convert", "f1", "/nonexistent.wav", "start", 1.0),
        _valid("/pop2piano/play", "x3", 1.5), _valid("/pop2piano/composers"),
    ]
    for i in range(count):
        kind = i % 7
        seed = rng.choice(seeds)
        if kind == 0:
            yield bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300)))
        elif kind == 1:
            yield seed[: rng.randint(0, len(seed))]
        elif kind == 2:
            data = bytearray(seed)
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(len(data))] = rng.getrandbits(8)
            yield bytes(data)
        elif kind == 3:
            yield seed.replace(b",s", b",i", 1).replace(b",i", b",f", 1)
        elif kind == 4:
            yield _valid("/pop2piano/convert", "big", "x" * rng.randint(5000, 60000))
        elif kind == 5:
            yield b"#bundle\x00" + struct.pack(">q", 1) + struct.pack(">i", len(seed)) + seed
        else:
            yield _valid("/" + "".join(rng.choice("abcxyz/") for _ in range(rng.randint(1, 40))), rng.random())


def test_thousands_of_malformed_datagrams_then_ping(daemon):
    peer = Peer(daemon.port)
    rng = random.Random(1234)
    sent = well_formed = 0
    replies = 0
    started = time.monotonic()
    try:
        for datagram in _mutations(rng, 3000):
            peer.send_raw(datagram)
            sent += 1
            well_formed += _parses(datagram)
            if sent % 50 == 0:  # drain, so the socket buffers never overflow
                replies += _drain(peer)
        elapsed = time.monotonic() - started
        time.sleep(0.5)
        replies += _drain(peer)
        # Error replies to a flood of malformed datagrams come within the per-peer rate limit; the
        # well-formed ones among the mutations (a truncation can leave a valid ping) are all answered.
        assert 0 < replies <= BURST + RATE * (elapsed + 1.0) + well_formed, (replies, well_formed, elapsed)
        peer.send("/pop2piano/ping")
        assert peer.receive(10) == ("/pop2piano/pong", ["0.1.0"])
        assert daemon.proc.poll() is None
    finally:
        peer.close()


def _parses(datagram: bytes) -> bool:
    """Whether the bridge takes this datagram for a well-formed request (always answered)."""
    from bridge.protocol import ProtocolError, decode, is_reply, parse_request, split_secret

    try:
        address, args = decode(datagram)
        if is_reply(address, args):
            return False
        parse_request(address, split_secret(args)[0])
        return True
    except ProtocolError:
        return False


def _drain(peer) -> int:
    count = 0
    while True:
        try:
            peer.receive(0.2)
            count += 1
        except (TimeoutError, OSError):
            return count


def _bad_audio(folder):
    sr = 44100
    files = {}
    (folder / "empty.wav").write_bytes(b"")
    files["empty.wav"] = {"not_audio"}
    good = folder / "good.wav"
    sf.write(str(good), np.zeros(sr, np.float32), sr)
    data = good.read_bytes()
    (folder / "corrupt.wav").write_bytes(data[:44] + os.urandom(2000))
    files["corrupt.wav"] = {"done", "not_audio"}
    (folder / "text.mp3").write_text("ID3 but not really")
    files["text.mp3"] = {"not_audio"}
    sf.write(str(folder / "silence.wav"), np.zeros(sr * 4, np.float32), sr)
    files["silence.wav"] = {"done"}
    sf.write(str(folder / "short.wav"), (0.3 * np.sin(np.arange(sr // 3) / 10)).astype(np.float32), sr)
    files["short.wav"] = {"done"}
    sf.write(str(folder / "eight-channels.wav"), np.random.default_rng(0).normal(0, 0.1, (sr * 3, 8)).astype(np.float32), sr)
    files["eight-channels.wav"] = {"done"}
    for rate in (8000, 192000):
        sf.write(str(folder / f"rate{rate}.wav"), (0.3 * np.sin(np.arange(rate * 3) / 7)).astype(np.float32), rate)
        files[f"rate{rate}.wav"] = {"done"}
    nan = np.zeros(sr * 3, np.float32)
    nan[1000:5000] = np.nan
    nan[9000] = np.inf
    sf.write(str(folder / "nan.wav"), nan, sr, subtype="FLOAT")
    files["nan.wav"] = {"done"}
    long = folder / "too-long.wav"
    sf.write(str(long), np.zeros(8000 * 60 * 6, np.int16), 8000, subtype="PCM_16")
    files["too-long.wav"] = {"bad_request"}
    os.symlink(str(good), str(folder / "link.wav"))
    files["link.wav"] = {"done"}
    (folder / "a-folder.wav").mkdir()
    files["a-folder.wav"] = {"not_audio"}
    return files


def test_bad_audio_gets_a_result_or_a_documented_error(daemon, tmp_path):
    files = _bad_audio(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    peer = Peer(daemon.port)
    try:
        for i, (name, allowed) in enumerate(sorted(files.items())):
            job = f"bad{i}"
            peer.send("/pop2piano/convert", job, str(tmp_path / name), "out_dir", str(out))
            address, args = peer.until_final(job, timeout=120)[-1]
            outcome = "done" if address.endswith("done") else args[1]
            assert outcome in allowed, (name, address, args)
        peer.send("/pop2piano/ping")
        assert peer.receive()[0] == "/pop2piano/pong"
        assert not [n for n in os.listdir(out) if n.endswith(".part")]
    finally:
        peer.close()
