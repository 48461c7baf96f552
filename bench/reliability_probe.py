"""Probe a bridge built from any source tree for the reliability classes of docs/reliability.md.

    python bench/reliability_probe.py [TREE]     # TREE: a checkout of any commit (default: this one)

Starts that tree's bridge (``python -m bridge serve``, tiny model) and prints what it does with a
reply-shaped datagram, a ping whose reply port is the bridge's own (its CPU ticks over 3 s), 1000
malformed datagrams, a job id with a trailing newline and a relative path. Used to show that the
tests of these classes describe faults the code before the fixes had (run it on 916e0b4 and on now).
"""
import os
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

import audio_fixtures  # noqa: E402
import soundfile as sf  # noqa: E402
import tiny_model  # noqa: E402
from pythonosc.osc_message import OscMessage  # noqa: E402
from pythonosc.osc_message_builder import OscMessageBuilder  # noqa: E402

tree = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, ".."))


def message(address: str, *args: object) -> bytes:
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    return builder.build().dgram


def main() -> None:
    tmp = tempfile.mkdtemp()
    model = tiny_model.build(os.path.join(tmp, "m"))
    song = os.path.join(tmp, "s.wav")
    sf.write(song, audio_fixtures.chord_song(4.0, 44100), 44100)
    port = 19400 + (os.getpid() % 500)
    log = os.path.join(tmp, "log.txt")
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "bridge", "serve", "--port", str(port), "--model", model,
                                 "--no-live"], cwd=tmp, env=dict(os.environ, PYTHONPATH=tree), stdout=out,
                                stderr=subprocess.STDOUT)
    bridge = ("127.0.0.1", port)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.3)

    def drain(seconds: float) -> list[str]:
        got, end = [], time.time() + seconds
        while time.time() < end:
            try:
                got.append(OscMessage(sock.recvfrom(65535)[0]).address)
            except socket.timeout:
                pass
        return got

    def cpu_ticks() -> int:
        return sum(int(x) for x in open(f"/proc/{proc.pid}/stat").read().split()[13:15])

    try:
        deadline = time.time() + 60
        while time.time() < deadline:  # until the bridge answers
            sock.sendto(message("/pop2piano/ping"), bridge)
            if drain(0.3):
                break
        drain(1.5)  # the start-up pings' answers
        sock.sendto(message("/pop2piano/pong", "x"), bridge)
        print("1 reply-shaped /pop2piano/pong answered with:", drain(1.0))
        ticks, log_size = cpu_ticks(), os.path.getsize(log)
        sock.sendto(message("/pop2piano/ping", port), bridge)
        time.sleep(3)
        print("2 ping with reply_port = the bridge's own: CPU ticks in 3 s:", cpu_ticks() - ticks,
              "log bytes:", os.path.getsize(log) - log_size)
        drain(0.5)
        for i in range(1000):
            sock.sendto(b"garbage%d" % i, bridge)
        print("3 answers to 1000 malformed datagrams:", len(drain(2.0)))
        sock.sendto(message("/pop2piano/convert", "job\n", song, "duration", 2.0), bridge)
        print("4 job id 'job\\n':", drain(1.0)[:3])
        sock.sendto(message("/pop2piano/convert", "rel", "s.wav", "duration", 2.0), bridge)
        print("5 relative path 's.wav':", drain(1.0)[:3])
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
