"""The fast precisions against the exact one, on this machine: speed and how many notes change.

    python bench/precision.py [--seconds 60] [--mean-length 160] [--precisions fp32,fp32-packed,bf16,int8]

A full-size random-weight Pop2Piano, rows ending at realistic lengths (bench/lengths.py), the same
clip converted in each precision after a warm-up. Printed per precision: seconds, the speed-up over
fp32, notes that differ from fp32's, and a note-level F1 against fp32 (same pitch, onset within
50 ms). Random weights make note differences a lower bound of nothing: with the real weights the
counts will differ; what transfers is the speed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
sys.path.insert(0, os.path.join(HERE, ".."))

from bench_machine import describe  # noqa: E402

from bridge.engine.device import AUTO_MIN_F1  # noqa: E402

ONSET_TOLERANCE_S = 0.05


def note_f1(reference: list, other: list, tolerance: float = ONSET_TOLERANCE_S) -> float:
    """Note-level F1: a note matches an unmatched reference note of the same pitch within ``tolerance`` of onset."""
    if not reference and not other:
        return 1.0
    unmatched = sorted(reference, key=lambda n: n[1])
    hits = 0
    for pitch, start, *_ in sorted(other, key=lambda n: n[1]):
        for i, (p, s, *_rest) in enumerate(unmatched):
            if p == pitch and abs(s - start) <= tolerance:
                hits += 1
                del unmatched[i]
                break
    precision, recall = hits / max(1, len(other)), hits / max(1, len(reference))
    return 0.0 if hits == 0 else 2 * precision * recall / (precision + recall)


def run_one(model: str, audio: str, precision: str, mean_length: float, warm: str) -> dict:
    from bridge.engine.converter import Converter
    from bridge.engine.types import ClipRequest
    from lengths import GENERATION, RowLengths

    generation = dict(GENERATION)
    # The reference recipe, as bench/speed.py's exact mode: the comparison is about arithmetic only.
    converter = Converter(model, device="cpu", recipe="reference", precision=precision, rule=RowLengths(mean_length))
    converter.convert(ClipRequest(warm), generation=generation)
    start = time.perf_counter()
    arrangement = converter.convert(ClipRequest(audio), generation=generation)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "notes": [(n.pitch, n.start, n.end, n.velocity) for n in arrangement.notes]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--mean-length", type=float, default=160.0)
    parser.add_argument("--precisions", default="fp32,fp32-packed,bf16,int8")
    parser.add_argument("--one", nargs=4, metavar=("MODEL", "AUDIO", "PRECISION", "WARM"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:  # a child: one precision, result as JSON
        model, audio, precision, warm = args.one
        print(json.dumps(run_one(model, audio, precision, args.mean_length, warm)))
        return

    import audio_fixtures
    import soundfile as sf
    import tiny_model

    print(describe(), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        model = tiny_model.build(os.path.join(tmp, "model"), full_size=True, eos_scale=0.0)
        audio, warm = os.path.join(tmp, "clip.wav"), os.path.join(tmp, "warm.wav")
        sf.write(audio, audio_fixtures.chord_song(args.seconds, 44100, bpm=104.0), 44100)
        sf.write(warm, audio_fixtures.chord_song(6.0, 44100, seed=9), 44100)
        results = {}
        for precision in args.precisions.split(","):
            out = subprocess.run([sys.executable, __file__, "--mean-length", str(args.mean_length), "--one", model,
                                  audio, precision, warm], capture_output=True, text=True, check=True)
            results[precision] = json.loads(out.stdout.strip().splitlines()[-1])
    base = results["fp32"]
    print(f"clip: {args.seconds:g} s, rows end at ~{args.mean_length:g} tokens; full-size random-weight model")
    print("| precision | seconds | speed-up over fp32 | notes | notes differing from fp32 | note F1 vs fp32 (onset ±50 ms) "
          f"| within auto's tolerance (F1 ≥ {AUTO_MIN_F1}) |")
    print("|---|---|---|---|---|---|---|")
    for precision, r in results.items():
        differ = len(set(map(tuple, r["notes"])) ^ set(map(tuple, base["notes"])))
        f1 = note_f1(base["notes"], r["notes"])
        print(f"| {precision} | {r['seconds']:.2f} | {base['seconds'] / r['seconds']:.2f}x | {len(r['notes'])} | "
              f"{differ} | {f1:.3f} | {'yes' if f1 >= AUTO_MIN_F1 else 'no'} |")


if __name__ == "__main__":
    main()
