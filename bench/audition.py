"""Style audition: a clip in all 21 styles in one request vs 21 single conversions, on a warm bridge.

    python bench/audition.py [--bars 16] [--bpm 100] [--batch-size 256] [--bound-only]

A 16-bar clip (rendered chords and drums) and a full-size random-weight Pop2Piano whose rows are
forced to the same length (every row runs to ``max_length``: what the real weights do at worst,
and the same on both sides). Each side gets its own bridge daemon (so neither side's results are
cached for the other), warmed by a conversion of another clip first. Prints both times, the
ratio, the time until the first complete style, the inference process's peak memory, and
whether every style's notes equal its single conversion's. First it measures what bounds the
speed-up on this CPU: the decoder's throughput (row-steps per second) for one style's rows and for
the audition's batches, generation alone, in this process.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import soundfile as sf

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

import audio_fixtures  # noqa: E402
import tiny_model  # noqa: E402
from bench_machine import describe  # noqa: E402
from processes import Daemon, Peer  # noqa: E402

SR = 44100
COMPOSERS = [f"composer{i}" for i in range(1, 22)]


def peak_rss_mb(daemon: Daemon) -> float:
    """The inference process's peak resident memory (Linux /proc)."""
    children = []
    for task in os.listdir(f"/proc/{daemon.proc.pid}/task"):
        with open(f"/proc/{daemon.proc.pid}/task/{task}/children", encoding="ascii") as handle:
            children += handle.read().split()
    peaks = []
    for pid in children:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            peaks += [int(line.split()[1]) / 1024 for line in handle if line.startswith("VmHWM:")]
    return max(peaks, default=0.0)


def notes_of(path: str) -> list:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)["notes"]


def warm(daemon: Daemon, song: str, out: str) -> Peer:
    peer = Peer(daemon.port)
    peer.send("/pop2piano/convert", "warm", song, "duration", 4.0, "out_dir", out)
    assert peer.until_final("warm", timeout=600)[-1][0] == "/pop2piano/done"
    return peer


def decoder_bound(model: str, song: str, styles: int, steps: int = 48) -> tuple[float, float, int]:
    """Decoder throughput (row-steps per second) for one style's rows and for ``styles`` styles' rows in
    the engine's batches, in this process: the most batching can give on this CPU is their ratio."""
    from bridge.engine.converter import Converter
    from bridge.engine.types import ClipRequest

    converter = Converter(model, device="cpu")
    generation = {"min_length": steps, "max_length": steps}
    converter.convert(ClipRequest(song, composer=COMPOSERS[0]), generation={"min_length": 8, "max_length": 8})
    analysis = converter.analyse(ClipRequest(song))  # read, beats and features once: generation alone is timed
    rates = []
    for count in (1, styles):
        started = time.perf_counter()
        converter.convert_styles(ClipRequest(song), COMPOSERS[:count], generation=generation, analysis=analysis)
        rates.append(count * analysis.mel.shape[0] * (steps - 1) / (time.perf_counter() - started))
    return rates[0], rates[1], min(converter.batch_size, styles * analysis.mel.shape[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=16)
    parser.add_argument("--bpm", type=float, default=100.0)
    parser.add_argument("--batch-size", type=int, default=None, help="rows per generation batch (default: the engine's)")
    parser.add_argument("--bound-only", action="store_true",
                        help="only the decoder throughput that bounds the speed-up (a minute, no daemons)")
    args = parser.parse_args()
    print(describe(), flush=True)
    seconds = args.bars * 4 * 60.0 / args.bpm
    with tempfile.TemporaryDirectory() as tmp:
        model = tiny_model.build(os.path.join(tmp, "model"), full_size=True, forced_eos=True, min_length=255)
        song, other = os.path.join(tmp, "clip.wav"), os.path.join(tmp, "warm.wav")
        sf.write(song, audio_fixtures.chord_song(seconds, SR, bpm=args.bpm), SR)
        sf.write(other, audio_fixtures.chord_song(6.0, SR, seed=3), SR)
        single, batched, batch = decoder_bound(model, song, len(COMPOSERS))
        print(f"decoder throughput: {single:.0f} row-steps/s for one style's rows, {batched:.0f} in batches of "
              f"{batch} rows: batching can give at most {batched / single:.2f}x on this CPU", flush=True)
        if args.bound_only:
            return
        extra = ["--no-live", *(["--batch-size", str(args.batch_size)] if args.batch_size else [])]

        daemon = Daemon(model, *extra).start(timeout=600)
        try:
            peer = warm(daemon, other, tmp)
            started = time.monotonic()
            singles = {}
            for composer in COMPOSERS:
                peer.send("/pop2piano/convert", f"s-{composer}", song, "composer", composer, "out_dir", tmp)
                reply = peer.until_final(f"s-{composer}", timeout=3600)[-1]
                assert reply[0] == "/pop2piano/done", reply
                singles[composer] = notes_of(reply[1][2])
            singles_s = time.monotonic() - started
            singles_peak = peak_rss_mb(daemon)
        finally:
            daemon.stop()

        daemon = Daemon(model, *extra).start(timeout=600)
        try:
            peer = warm(daemon, other, tmp)
            started = time.monotonic()
            first_style, styles = None, {}
            peer.send("/pop2piano/convert", "audition", song, "composer", "all", "out_dir", tmp)
            deadline = started + 3600
            while True:  # each reply as it arrives: the first style's time is when the DAW could place it
                address, reply_args = peer.receive(max(0.1, deadline - time.monotonic()))
                if not reply_args or reply_args[0] != "audition":
                    continue
                if address == "/pop2piano/done_style":
                    first_style = first_style or time.monotonic() - started
                    styles[reply_args[1]] = notes_of(reply_args[3])
                elif address.rsplit("/", 1)[1] in ("done", "error", "cancelled"):
                    break
            audition_s = time.monotonic() - started
            audition_peak = peak_rss_mb(daemon)
        finally:
            daemon.stop()

    same = all(styles[c] == singles[c] for c in COMPOSERS)
    print(f"clip: {args.bars} bars at {args.bpm:g} BPM ({seconds:.1f} s); {len(COMPOSERS)} styles; "
          f"rows forced to max_length on both sides")
    print(f"21 single conversions (one warm bridge): {singles_s:.1f} s; peak RSS of the inference process "
          f"{singles_peak:.0f} MB")
    print(f"one audition of all 21 (another warm bridge): {audition_s:.1f} s; first complete style after "
          f"{first_style:.1f} s; peak RSS {audition_peak:.0f} MB")
    print(f"speed-up: {singles_s / audition_s:.2f}x")
    print(f"same notes as the single conversions: {'yes' if same else 'no'} "
          f"({sum(len(n) for n in styles.values())} notes in all)")


if __name__ == "__main__":
    main()
