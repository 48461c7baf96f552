"""How a Python JACK input reads the bridge's live port: an input callback against RtMidi's queue.

    python bench/jack_reader.py [--rounds 20] [--busy 4] [--hold-ms 0]

Starts a private ``jackd -d dummy`` (256 frames at 48 kHz), opens the bridge's port with its Player,
and plays 50 notes 10 ms apart per round (the read-back test's notes) into one reader of each kind:

- ``callback``: mido's rtmidi input with a callback, which RtMidi runs inside JACK's process thread
  (RtMidi 5.0.0, ``jackProcessIn``); ``--hold-ms`` keeps every third call busy that long, as a
  callback waiting on the GIL would;
- ``queue``: ``tests/processes.py``'s ``JackListener``, the tests' reader: python-rtmidi's ``MidiIn``
  without a callback (RtMidi copies into its C++ queue in the process thread), drained by a Python thread.

``--busy N`` runs N busy-looping processes alongside, as the test workers do. A round is bad when the
reader did not get exactly 50 note-ons and 50 note-offs within 3 s of the Player's end. Printed: the
machine, then bad rounds per reader and the first bad rounds' counts.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
sys.path.insert(0, os.path.join(HERE, ".."))

from bench_machine import describe  # noqa: E402
from processes import Jack, JackListener  # noqa: E402

from bridge.engine.types import Note  # noqa: E402
from bridge.output.live import Player  # noqa: E402
from bridge.output.ports import open_port  # noqa: E402

NOTES = 50


class CallbackReader:
    """mido's rtmidi input with a callback (run by RtMidi in JACK's process thread), with the listener's
    ``messages`` and ``close``; the callback is held ``hold`` seconds every third message."""

    def __init__(self, name: str, hold: float) -> None:
        import mido

        self.messages: list = []
        backend = mido.Backend("mido.backends.rtmidi/UNIX_JACK", load=True)
        port_name = next(n for n in backend.get_input_names() if name in n)

        def received(message: mido.Message) -> None:
            self.messages.append((time.perf_counter(), message))
            if hold and len(self.messages) % 3 == 0:
                start = time.perf_counter()
                while time.perf_counter() - start < hold:
                    pass

        self.close = backend.open_input(port_name, callback=received).close


def run(kind: str, reader, player: Player, rounds: int) -> None:  # noqa: ANN001 - messages and close()
    time.sleep(0.5)
    bad = []
    try:
        for round_ in range(rounds):
            reader.messages.clear()
            player.play([Note(60 + i % 12, i * 0.01, i * 0.01 + 0.05, 90) for i in range(NOTES)])
            player.wait_idle(10)
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline and len(reader.messages) < 2 * NOTES:
                time.sleep(0.02)
            got = [m for _t, m in reader.messages]
            ons = sum(1 for m in got if m.type == "note_on" and m.velocity > 0)
            offs = sum(1 for m in got if m.type == "note_off" or (m.type == "note_on" and m.velocity == 0))
            if (ons, offs) != (NOTES, NOTES):
                bad.append((round_, ons, offs))
    finally:
        reader.close()
    shown = ", ".join(f"round {r}: {on} on / {off} off" for r, on, off in bad[:3])
    print(f"  {kind:9s} bad rounds {len(bad)} of {rounds}" + (f"  ({shown})" if bad else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--busy", type=int, default=4)
    parser.add_argument("--hold-ms", type=float, default=0.0)
    args = parser.parse_args()
    print(describe())
    jack = Jack(name=f"p2pbench{os.getpid()}")
    if not jack.start():
        sys.exit(f"no JACK: {jack.reason}")
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    name = f"p2p-reader-{os.getpid()}"
    player = Player(open_port(name, "UNIX_JACK"))
    try:
        print(f"{NOTES} notes 10 ms apart per round, {args.busy} busy processes, callback held "
              f"{args.hold_ms:g} ms every third message")
        run("callback", CallbackReader(name, args.hold_ms / 1000), player, args.rounds)
        run("queue", JackListener(name), player, args.rounds)
    finally:
        player.close()
        for process in busy:
            process.kill()
            process.wait()
        jack.stop()


if __name__ == "__main__":
    main()
