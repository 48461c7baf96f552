"""Daemon responsiveness and live-MIDI timing, measured against an idle baseline in the same run.

    python bench/daemon_bench.py [--seconds 60] [--full-size | --model DIR]

1. Ping round-trip time to a running daemon, idle (baseline) and while it converts a song
   with a full-size random-weight Pop2Piano (inference runs off the socket thread).
2. Live MIDI send-time error (sent − intended) of the scheduler while the same model
   generates, streamed chunk by chunk to a JACK virtual port (a null port without JACK),
   against the same player with the CPU idle.
3. Live playback at realistic row lengths (bench/lengths.py; --mean-lengths): how long a player
   that starts at the first notes waits at a horizon for notes not generated yet.
4. (needs JACK) Time from a live convert request for a --first-song-seconds song (default 180) to the
   first note-on read back from the daemon's JACK port by a real input, the daemon warmed
   up by one conversion first; against the same daemon's time to ``done`` for a file-only
   conversion of the same song (what a user waits for without live output).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time

import numpy as np
import soundfile as sf

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
sys.path.insert(0, os.path.join(HERE, ".."))

import audio_fixtures  # noqa: E402
import tiny_model  # noqa: E402
from bench_machine import describe  # noqa: E402
from processes import Daemon, Jack, JackListener, Peer  # noqa: E402
from bridge.engine.device import CPU_PRECISIONS  # noqa: E402


def stats(values_ms: list[float]) -> str:
    a = np.asarray(values_ms)
    return f"n={a.size:4d}  p50={np.percentile(a, 50):7.3f} ms  p99={np.percentile(a, 99):7.3f} ms  max={a.max():7.3f} ms"


def ping_rtts(peer: Peer, count: int, until: threading.Event | None = None, interval: float = 0.05) -> list[float]:
    rtts = []
    for _ in range(count):
        if until is not None and until.is_set():
            break
        t0 = time.perf_counter()
        peer.send("/pop2piano/ping")
        while True:
            address, _args = peer.receive(30)
            if address == "/pop2piano/pong":
                break
        rtts.append((time.perf_counter() - t0) * 1000)
        time.sleep(interval)
    return rtts


def bench_ping(model: str, song: str) -> None:
    server = Daemon(model, "--no-live").start()
    peer, jobs = Peer(server.port), Peer(server.port)
    try:
        idle = ping_rtts(peer, 100, interval=0.01)
        done = threading.Event()

        def run_job() -> None:
            jobs.send("/pop2piano/convert", "bench", song, "output", "file", "composer", "composer1")
            jobs.until_final("bench", timeout=3600)
            done.set()

        worker = threading.Thread(target=run_job)
        worker.start()
        time.sleep(1.0)  # into generation
        busy = ping_rtts(peer, 100000, until=done)
        worker.join()
        print("ping round trip, idle daemon     :", stats(idle))
        print("ping round trip, while converting:", stats(busy))
        print(f"ratio p99 busy/idle: {np.percentile(busy, 99) / np.percentile(idle, 99):.2f}")
    finally:
        peer.close()
        jobs.close()
        server.stop()


def bench_live(model: str, song: str) -> None:
    from bridge.engine.types import ClipRequest, Note
    from bridge.errors import Cancelled
    from bridge.jobs.inference import EngineSettings, ProcessEngine
    from bridge.output.live import Player
    from bridge.output.ports import MidiPort, open_port

    class NullPort(MidiPort):
        """Where live MIDI goes without JACK: nowhere (the scheduler's timing is still measured)."""

        def send(self, message: object) -> None:
            pass

    jack = Jack()
    port = None
    if jack.start():
        port, where = open_port("p2p-bench", "UNIX_JACK"), "JACK virtual port"
    else:
        port, where = NullPort(), f"null port ({jack.reason})"
    player = Player(port)
    try:
        grid = [Note(60 + i % 24, i * 0.02, i * 0.02 + 0.1, 80) for i in range(500)]
        player.play(grid)
        player.wait_idle(60)
        idle = [e * 1000 for e in player.last_session.timing_errors]

        # as in the daemon: inference in child processes, the player in this one
        engine = ProcessEngine(EngineSettings(model, "cpu"))
        second = ProcessEngine(EngineSettings(model, "cpu"))
        stop = threading.Event()

        def churn(which, name) -> None:
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    which.convert(ClipRequest(song), f"{name}{n}", lambda p: None, stop, lambda c: None)
                except Cancelled:
                    return

        loads = [threading.Thread(target=churn, args=(e, n)) for e, n in ((engine, "a"), (second, "b"))]
        for load in loads:
            load.start()
        time.sleep(3.0)  # both children are generating now
        session = player.play(grid)
        player.wait_idle(600)
        stop.set()
        for load in loads:
            load.join()
        engine.close()
        second.close()
        busy = [e * 1000 for e in session.timing_errors]
        print(f"live MIDI send-time error on a {where}:")
        print("  idle CPU            :", stats(idle))
        print("  while two inference processes generate:", stats(busy))
    finally:
        player.close()
        if port is not None:
            port.close()
        jack.stop()


def bench_stalls(model_dir: str, song: str, mean_lengths: list[float], precision: str = "fp32") -> None:
    """Live playback that never waits: for rows of each realistic length (bench/lengths.py), a streamed
    conversion feeds a real player from the first notes on; how long the playhead stood at a horizon
    waiting for notes not generated yet, after the first note (and when that first note came)."""
    from lengths import GENERATION, RowLengths

    from bridge.engine.converter import Converter
    from bridge.engine.types import ClipRequest
    from bridge.output.live import Player
    from bridge.output.ports import MidiPort

    class Silent(MidiPort):
        def send(self, message: object) -> None:
            pass

    print(f"live playback of a {args_seconds(song):.0f} s song, streamed while it generates (engine in this process, "
          f"precision {precision}):")
    generation = dict(GENERATION)
    for mean in mean_lengths:
        # The reference recipe, as bench/speed.py: on random weights the faithful recipe's first rows
        # happen to hold no notes at all, which would time the model's luck, not the schedule.
        converter = Converter(model_dir, device="cpu", recipe="reference", rule=RowLengths(mean), precision=precision)
        converter.convert(ClipRequest(song, duration=6.0), generation=generation)  # warm
        player = Player(Silent())
        try:
            session = player.stream()
            started = time.perf_counter()
            first: list[float] = []

            def on_chunk(chunk) -> None:  # noqa: ANN001
                if chunk.notes and not first:
                    first.append(time.perf_counter() - started)
                session.add(chunk.notes, chunk.horizon)

            converter.convert(ClipRequest(song, composer="composer2"), generation=generation, on_chunk=on_chunk)
            generated = time.perf_counter() - started
            session.finish()
            player.wait_idle(3600)
            print(f"  rows ~{mean:g} tokens: first notes after {first[0] if first else float('nan'):.2f} s, "
                  f"all generated after {generated:.1f} s; playback waited {session.waited:.2f} s after the first note")
        finally:
            player.close()


def args_seconds(path: str) -> float:
    info = sf.info(path)
    return info.frames / info.samplerate


def bench_first_note(model: str, song: str, other_song: str, warmup: str) -> None:
    jack = Jack()
    if not jack.start():
        print(f"first live note: skipped ({jack.reason})")
        return
    name = f"p2p-first-{os.getpid()}"
    # the reference recipe, as in bench/speed.py: with random weights the faithful one finds few notes
    server = Daemon(model, "--recipe", "reference", "--midi-api", "UNIX_JACK", "--midi-port-name", name).start()
    listener = JackListener(name)
    peer = Peer(server.port)
    try:
        peer.send("/pop2piano/convert", "warm", warmup, "output", "file")
        peer.until_final("warm", timeout=600)
        start = time.perf_counter()
        peer.send("/pop2piano/convert", "file", song, "output", "file", "composer", "composer2")
        assert peer.until_final("file", timeout=3600)[-1][0] == "/pop2piano/done"
        file_done = time.perf_counter() - start
        # a clip the daemon has not seen (its analysis cache is keyed by content)
        start = time.perf_counter()
        peer.send("/pop2piano/convert", "live", other_song, "output", "both", "composer", "composer3",
                  "out_dir", os.path.dirname(other_song))
        listener.wait_for(lambda l: l.note_ons() >= 1, timeout=600)
        first = next(t for t, m in listener.messages if m.type == "note_on" and m.velocity > 0) - start
        done = peer.until_final("live", timeout=3600)[-1]
        with open(done[1][2], encoding="utf-8") as handle:
            opening = min(n["start"] for n in json.load(handle)["notes"])
        print(f"first live note on the JACK port after {first:.2f} s (a new {args_seconds(song):.0f} s clip, warm "
              f"daemon); it is the arrangement's note at {opening:.2f} s, so playback started {first - opening:.2f} s "
              f"after the request; the same daemon's file-only conversion of a song that long: done after "
              f"{file_done:.2f} s")
    finally:
        peer.close()
        listener.close()
        server.stop()
        jack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the synthetic song")
    parser.add_argument("--model", help="a model folder (default: build a full-size random one)")
    parser.add_argument("--tiny", action="store_true", help="use the tests' tiny model (quick check only)")
    parser.add_argument("--first-song-seconds", type=float, default=180.0, help="song length for the first-note check")
    parser.add_argument("--only-first-note", action="store_true", help="run only the first-note check")
    parser.add_argument("--only-stalls", action="store_true", help="run only the playback-stall check")
    parser.add_argument("--mean-lengths", default="96,160,256", help="row lengths for the playback-stall check")
    parser.add_argument("--precision", default="fp32", choices=CPU_PRECISIONS, help="format for the playback-stall check")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        # Every row decodes to the model's maximum of 256 tokens, as in bench/speed.py (the
        # random weights' own choices give rows without notes).
        model = args.model or tiny_model.build(os.path.join(tmp, "model"), full_size=not args.tiny, eos_scale=0.0,
                                               min_length=255, forced_eos=True)
        song = os.path.join(tmp, "song.wav")
        sf.write(song, audio_fixtures.chord_song(args.seconds, 44100), 44100)
        print(describe())
        print(f"model: {'given ' + args.model if args.model else ('tiny' if args.tiny else 'full-size random')}, "
              f"song: {args.seconds:g} s")
        if args.only_stalls or not args.only_first_note:
            realistic = args.model or tiny_model.build(os.path.join(tmp, "model-realistic"), full_size=not args.tiny,
                                                       eos_scale=0.0)
            long_song = os.path.join(tmp, "stalls.wav")
            sf.write(long_song, audio_fixtures.chord_song(args.first_song_seconds, 44100, bpm=104.0), 44100)
            bench_stalls(realistic, long_song, [float(m) for m in args.mean_lengths.split(",")], args.precision)
            if args.only_stalls:
                return
        if not args.only_first_note:
            bench_ping(model, song)
            bench_live(model, song)
        long_song, other_song = os.path.join(tmp, "long.wav"), os.path.join(tmp, "other.wav")
        sf.write(long_song, audio_fixtures.chord_song(args.first_song_seconds, 44100, bpm=104.0), 44100)
        sf.write(other_song, audio_fixtures.chord_song(args.first_song_seconds, 44100, bpm=98.0, seed=5), 44100)
        warmup = os.path.join(tmp, "warmup.wav")
        sf.write(warmup, audio_fixtures.chord_song(6.0, 44100, seed=9), 44100)
        bench_first_note(model, long_song, other_song, warmup)


if __name__ == "__main__":
    main()
