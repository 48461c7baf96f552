"""End-to-end speed: the documented reference recipe against this engine, same audio, same weights.

    python bench/speed.py [--audio FILE | --seconds 180] [--model DIR] [--precision fp32|bf16|int8]

Without --model it builds a full-size random-weight Pop2Piano (default Pop2PianoConfig, ~59M
parameters). Both sides decode exactly 256 tokens per chunk (EOS suppressed until, then forced at, the
model's maximum), so the work is equal. Each side runs in its own process with the model loaded and warmed up first
(the timed part is: audio file in → MIDI file written). Printed: seconds, compute seconds per
minute of audio, the ratio, time to the first chunk of notes, peak RSS, and whether both sides
give the same notes (the engine in the reference recipe, fp32, is the exact mode).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, ROOT)

# Every row decodes to the model's maximum of 256 tokens and ends with EOS there (the stock
# batch_decode crashes on rows without EOS): EOS is suppressed before, and forced at, the end.
FORCED = {"min_length": 255, "max_length": 256, "forced_eos_token_id": 1}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_reference(model_dir: str, audio: str, out_dir: str) -> dict:
    import copy

    import librosa
    import torch
    from transformers import Pop2PianoForConditionalGeneration, Pop2PianoProcessor

    processor = Pop2PianoProcessor.from_pretrained(model_dir)
    model = Pop2PianoForConditionalGeneration.from_pretrained(model_dir).eval()
    config = copy.deepcopy(model.generation_config)

    def once(path: str, midi_path: str) -> list:
        y, sr = librosa.load(path, sr=44100)
        inputs = processor(audio=y, sampling_rate=sr, return_tensors="pt")
        model.generation_config = copy.deepcopy(config)
        with torch.no_grad():
            ids = model.generate(input_features=inputs["input_features"], composer="composer1", **FORCED)
        midi = processor.batch_decode(token_ids=ids, feature_extractor_output=inputs)["pretty_midi_objects"][0]
        midi.write(midi_path)
        return [(int(n.pitch), float(n.start), float(n.end), int(n.velocity)) for n in midi.instruments[0].notes]

    once(_warmup_audio(out_dir), os.path.join(out_dir, "warm.mid"))  # JIT and caches, like a warm daemon
    start = time.perf_counter()
    notes = once(audio, os.path.join(out_dir, "reference.mid"))
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "first_notes": seconds, "notes": notes, "rss_mb": peak_rss_mb()}


def run_engine(model_dir: str, audio: str, out_dir: str, precision: str, recipe: str) -> dict:
    from bridge.engine.converter import Converter
    from bridge.engine.types import ClipRequest
    from bridge.output.files import write_outputs

    converter = Converter(model_dir, device="cpu", recipe=recipe, precision=precision)
    converter.convert(ClipRequest(_warmup_audio(out_dir)), generation=FORCED)
    start = time.perf_counter()
    arrangement = converter.convert(ClipRequest(audio), generation=FORCED)
    write_outputs(arrangement, os.path.join(out_dir, "engine.mid"))
    seconds = time.perf_counter() - start
    # Streaming (live output): a small first batch; when do the first notes exist?
    first: list[float] = []
    start = time.perf_counter()
    converter.convert(ClipRequest(audio), generation=FORCED,
                      on_chunk=lambda c: first.append(time.perf_counter() - start) if not first else None)
    notes = [(n.pitch, n.start, n.end, n.velocity) for n in arrangement.notes]
    return {"seconds": seconds, "first_notes": first[0] if first else seconds, "notes": notes, "rss_mb": peak_rss_mb()}


def _warmup_audio(out_dir: str) -> str:
    import audio_fixtures
    import soundfile as sf

    path = os.path.join(out_dir, "warmup.wav")
    if not os.path.exists(path):
        sf.write(path, audio_fixtures.chord_song(6.0, 44100, seed=9), 44100)
    return path


def same_notes(a: list, b: list, tol: float = 2e-5) -> tuple[bool, int]:
    a, b = sorted(a), sorted(b)
    if len(a) != len(b):
        return False, abs(len(a) - len(b))
    differ = sum(1 for x, y in zip(a, b) if x[0] != y[0] or x[3] != y[3] or abs(x[1] - y[1]) > tol or abs(x[2] - y[2]) > tol)
    return differ == 0, differ


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audio", help="an audio file (default: a synthetic mix of drums, bass and chords)")
    parser.add_argument("--seconds", type=float, default=180.0, help="length of the synthetic audio")
    parser.add_argument("--model", help="model folder (default: a full-size random-weight Pop2Piano)")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "int8"))
    parser.add_argument("--side", choices=("reference", "engine"), help=argparse.SUPPRESS)
    parser.add_argument("--recipe", default="reference", choices=("reference", "faithful"))
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--engine-only", action="store_true", help="skip the reference (e.g. a 10-minute memory check)")
    args = parser.parse_args()

    if args.side:  # a child: one side, result as JSON on stdout
        if args.side == "reference":
            result = run_reference(args.model, args.audio, args.work)
        else:
            result = run_engine(args.model, args.audio, args.work, args.precision, args.recipe)
        print(json.dumps(result))
        return

    import audio_fixtures
    import soundfile as sf
    import tiny_model

    with tempfile.TemporaryDirectory() as work:
        model = args.model or tiny_model.build(os.path.join(work, "model"), full_size=True, eos_scale=0.0)
        audio = args.audio
        if not audio:
            audio = os.path.join(work, "mix.wav")
            sf.write(audio, audio_fixtures.chord_song(args.seconds, 44100, bpm=104.0), 44100)
        info = sf.info(audio)
        minutes = info.frames / info.samplerate / 60
        results = {}
        for side in (("engine",) if args.engine_only else ("reference", "engine")):
            cmd = [sys.executable, __file__, "--side", side, "--model", model, "--audio", audio, "--work", work,
                   "--precision", args.precision, "--recipe", args.recipe]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            results[side] = json.loads(out)
        eng = results["engine"]
        print(f"audio: {minutes * 60:.1f} s; model: {'full-size random' if not args.model else args.model}; "
              f"engine: recipe={args.recipe}, precision={args.precision}; torch threads: {os.cpu_count()}")
        sides = [("this engine", eng)] if args.engine_only else [("reference recipe", results["reference"]),
                                                                  ("this engine", eng)]
        for name, r in sides:
            print(f"  {name:<17} {r['seconds']:7.2f} s  ({r['seconds'] / minutes:6.2f} s per minute of audio)  "
                  f"first notes after {r['first_notes']:6.2f} s  peak RSS {r['rss_mb']:7.0f} MB  {len(r['notes'])} notes")
        if args.engine_only:
            return
        ref = results["reference"]
        print(f"  speed-up: {ref['seconds'] / eng['seconds']:.2f}x end-to-end")
        same, differ = same_notes(ref["notes"], eng["notes"])
        print(f"  same notes as the reference: {'yes' if same else f'no ({differ} differ)'}")


if __name__ == "__main__":
    main()
