"""Real processes for integration tests: a JACK server, the bridge daemon, an OSC peer.

Each helper starts its process, waits until it is ready, and stops it again; tests that
cannot get a process skip with the reason.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from bridge.daemon.udp import grow_receive_buffer
from bridge.output.ports import MidiPort

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JACK_SERVER = f"p2ptest{os.getpid()}"


class Jack:
    """``jackd -d dummy`` under a private server name (JACK_DEFAULT_SERVER for clients)."""

    def __init__(self, name: str = JACK_SERVER, export: bool = True) -> None:
        self.name = name
        self.export = export
        self.proc: subprocess.Popen | None = None
        self.reason = ""

    def start(self) -> bool:
        jackd = shutil.which("jackd")
        if not jackd:
            self.reason = "jackd is not installed (Debian package jackd2)"
            return False
        if self.export:
            os.environ["JACK_DEFAULT_SERVER"] = self.name
        os.environ.setdefault("JACK_NO_AUDIO_RESERVATION", "1")
        self.proc = subprocess.Popen(
            [jackd, "--no-realtime", "-n", self.name, "-d", "dummy", "-r", "48000", "-p", "256"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.reason = "jackd exited: " + self.proc.stderr.read().decode(errors="replace")[-300:]
                return False
            if self._ready():
                return True
            time.sleep(0.2)
        self.reason = "jackd did not become ready in 10 s"
        self.stop()
        return False

    def _ready(self) -> bool:
        import rtmidi

        previous = os.environ.get("JACK_DEFAULT_SERVER")
        os.environ["JACK_DEFAULT_SERVER"] = self.name
        try:
            probe = rtmidi.MidiIn(rtapi=rtmidi.API_UNIX_JACK, name="p2p-probe")
            probe.get_ports()
            probe.delete()
            return True
        except Exception:
            return False
        finally:
            if previous is None:
                os.environ.pop("JACK_DEFAULT_SERVER", None)
            else:
                os.environ["JACK_DEFAULT_SERVER"] = previous

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class Daemon:
    """``pop2piano-bridge serve`` on an ephemeral port; stopped with SIGTERM."""

    def __init__(self, model_dir: str, *extra: str, env: dict[str, str] | None = None,
                 cwd: str | bytes = ROOT, umask: int = -1) -> None:
        self.model_dir = model_dir
        self.extra = list(extra)
        self.umask = umask  # the daemon's umask (-1: this process's)
        self.env = {**os.environ, "HF_HUB_DISABLE_PROGRESS_BARS": "1", **(env or {})}
        self.cwd = cwd
        if cwd != ROOT:  # still this checkout's bridge, whatever the working directory
            self.env["PYTHONPATH"] = ROOT
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.banner = ""
        self.stderr_text = ""  # what it wrote to stderr, read when it is stopped

    def start(self, timeout: float = 120.0) -> Daemon:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bridge", "serve", "--model", self.model_dir, "--port", "0", *self.extra],
            cwd=self.cwd, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, umask=self.umask,
        )
        log_file = self.extra[self.extra.index("--log-file") + 1] if "--log-file" in self.extra else None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if log_file is not None:  # its stdout goes to the log file
                line = open(log_file, encoding="utf-8").read() if os.path.exists(log_file) else ""
                if self.proc.poll() is not None:
                    raise RuntimeError("daemon exited: " + line[-2000:])
                if "listening on" not in line:
                    time.sleep(0.1)
                    continue
            else:
                line = self.proc.stdout.readline()
                if not line:
                    if self.proc.poll() is not None:
                        raise RuntimeError("daemon exited: " + self.proc.stderr.read()[-2000:])
                    continue
            match = re.search(r"listening on udp://[^ ]+:(\d+)", line)
            if match:
                self.port = int(match.group(1))
                self.banner = line.strip()
                return self
        raise RuntimeError("daemon did not start in time")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        self.stderr_text = self.proc.stderr.read()
        self.proc.stdout.close()
        self.proc.stderr.close()
        self.proc = None
        return code


def answers_ping(port: int, timeout: float = 10.0) -> bool:
    """Whether a daemon on ``port`` answers a ping from a fresh socket."""
    peer = Peer(port)
    try:
        peer.send("/pop2piano/ping")
        return peer.receive(timeout)[0] == "/pop2piano/pong"
    finally:
        peer.close()


class Peer:
    """An OSC client socket on loopback (python-osc messages over a real UDP socket)."""

    def __init__(self, port: int) -> None:
        self.target = ("127.0.0.1", port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        grow_receive_buffer(self.sock)  # as the daemon does: a client of many jobs gets bursts of replies
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def send(self, address: str, *args: Any) -> None:
        builder = OscMessageBuilder(address=address)
        for arg in args:
            builder.add_arg(arg)
        self.sock.sendto(builder.build().dgram, self.target)

    def send_raw(self, data: bytes) -> None:
        self.sock.sendto(data, self.target)

    def receive(self, timeout: float = 10.0) -> tuple[str, list[Any]]:
        self.sock.settimeout(timeout)
        data, _ = self.sock.recvfrom(65535)
        message = OscMessage(data)
        return message.address, list(message.params)

    def until_generating(self, job_id: str, timeout: float = 120.0) -> None:
        """Read replies until ``job_id`` reports progress in its generating stage."""
        deadline = time.monotonic() + timeout
        while True:
            address, args = self.receive(max(0.1, deadline - time.monotonic()))
            if address == "/pop2piano/progress" and args[0] == job_id and args[2] == "generating":
                return

    def until_final(self, job_id: str, timeout: float = 120.0) -> list[tuple[str, list[Any]]]:
        """Replies for ``job_id`` up to and including its done/error/cancelled."""
        replies = []
        deadline = time.monotonic() + timeout
        while True:
            address, args = self.receive(max(0.1, deadline - time.monotonic()))
            if args and args[0] == job_id:
                replies.append((address, args))
                if address.rsplit("/", 1)[1] in ("done", "error", "cancelled"):
                    return replies

    def close(self) -> None:
        self.sock.close()


def sounding(messages) -> set[int]:
    """Pitches left sounding by a stream of MIDI messages (note-offs, velocity-0 note-ons, CC 123)."""
    on: set[int] = set()
    for m in messages:
        if m.type == "note_on" and m.velocity > 0:
            on.add(m.note)
        elif m.type == "note_off" or (m.type == "note_on" and m.velocity == 0):
            on.discard(m.note)
        elif m.type == "control_change" and m.control == 123:
            on.clear()
    return on


class RecordingPort(MidiPort):
    """A bridge MIDI port that keeps what a player sends, with the time it was sent: the player's own
    logic, without a MIDI device."""

    def __init__(self) -> None:
        self.messages: list[tuple[float, Any]] = []  # (perf_counter, mido.Message)
        self.lock = threading.Lock()

    def send(self, message: Any) -> None:
        with self.lock:
            self.messages.append((time.perf_counter(), message))

    def sounding(self) -> set[int]:
        return sounding(m for _t, m in self.messages)


class JackListener:
    """A real rtmidi JACK input connected to the bridge's virtual output, read through RtMidi's own queue.

    Why not a callback: RtMidi runs an input callback inside JACK's process thread (RtMidi 5.0.0,
    ``jackProcessIn``: ``jack_midi_get_event_count`` once, then ``callback(...)`` per event), and
    python-rtmidi's callback must take the GIL there. A process thread waiting on the GIL of a busy
    test worker overruns its period; the writer's next cycle then clears and refills the port buffer
    that the late reader is still walking, so it reads the new cycle's events in place of the old ones
    (note-ons read as note-offs: ``python bench/jack_reader.py``, docs/reliability.md). In queue mode
    ``jackProcessIn`` only copies into RtMidi's C++ queue, and a Python thread drains it; a receive
    time is therefore late by at most one poll (``POLL`` seconds).
    """

    POLL = 0.002
    QUEUE = 4096  # messages RtMidi holds between polls before it drops ("message queue limit reached")

    def __init__(self, port_name: str, timeout: float = 10.0) -> None:
        import threading

        import mido
        import rtmidi

        self.messages: list[tuple[float, mido.Message]] = []
        self.input = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name="p2p-listener", queue_size_limit=self.QUEUE)
        deadline = time.monotonic() + timeout
        while True:
            ports = [i for i, n in enumerate(self.input.get_ports()) if port_name in n]
            if ports or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert ports, f"no JACK port named {port_name!r}: {self.input.get_ports()}"
        self.input.open_port(ports[0])
        self._stop = threading.Event()
        self._pump = threading.Thread(target=self._drain, name="jack-listener", daemon=True)
        self._pump.start()

    def _drain(self) -> None:
        import mido

        while not self._stop.is_set():
            message = self.input.get_message()
            if message is None:
                self._stop.wait(self.POLL)
            else:
                self.messages.append((time.perf_counter(), mido.Message.from_bytes(message[0])))

    def wait_for(self, predicate, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert predicate(self), [m for _t, m in self.messages][-10:]

    def sounding(self) -> set[int]:
        return sounding(m for _t, m in self.messages)

    def note_ons(self) -> int:
        return sum(1 for _t, m in self.messages if m.type == "note_on" and m.velocity > 0)

    def close(self) -> None:
        self._stop.set()
        self._pump.join(5)
        self.input.close_port()
        self.input.delete()
