"""The live port's backend goes away (JACK stopped) and comes back, under a running daemon."""

from __future__ import annotations

import os
import shutil
import time

import mido
import pytest
from processes import Daemon, Jack, Peer

pytestmark = pytest.mark.skipif(not shutil.which("jackd"), reason="needs jackd (Debian package jackd2)")


def _inputs(server: str) -> list[str]:
    previous = os.environ.get("JACK_DEFAULT_SERVER")
    os.environ["JACK_DEFAULT_SERVER"] = server
    try:
        return mido.Backend("mido.backends.rtmidi/UNIX_JACK", load=True).get_input_names()
    except Exception:
        return []
    finally:
        os.environ["JACK_DEFAULT_SERVER"] = previous or ""


def test_jack_stopped_gives_a_clear_error_and_recovers_when_it_returns(model_dir, song_path, tmp_path):
    name = f"p2pfault{os.getpid()}"
    jack = Jack(name, export=False)
    if not jack.start():
        pytest.skip(jack.reason)
    port = f"p2p-fault-{os.getpid()}"
    server = Daemon(model_dir, "--midi-api", "UNIX_JACK", "--midi-port-name", port,
                    env={"JACK_DEFAULT_SERVER": name}).start()
    peer = Peer(server.port)
    try:
        assert f"port {port!r}" in server.banner
        peer.send("/pop2piano/convert", "f1", song_path, "duration", 4.0, "out_dir", str(tmp_path))
        assert peer.until_final("f1")[-1][0] == "/pop2piano/done"
        jack.stop()
        time.sleep(0.5)
        peer.send("/pop2piano/play", "f1")
        address, args = peer.receive(30)
        assert (address, args[:2]) == ("/pop2piano/error", ["f1", "midi_unavailable"]), args
        assert "JACK" in args[2] or "ALSA" in args[2] or "cannot open" in args[2]
        peer.send("/pop2piano/ping")
        assert peer.receive()[0] == "/pop2piano/pong"
        assert jack.start()
        peer.send("/pop2piano/play", "f1")
        assert peer.receive(30)[0] == "/pop2piano/playing"
        assert any(port in n for n in _inputs(name))  # the port is back
        peer.send("/pop2piano/stop")
        assert peer.receive()[0] == "/pop2piano/stopped"
    finally:
        peer.close()
        assert server.stop() == 0
        jack.stop()
