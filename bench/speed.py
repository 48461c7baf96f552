"""End-to-end speed: the documented reference recipe against this engine, same audio, same weights.

    python bench/speed.py [--audio FILE | --seconds 180] [--model DIR] [--precision fp32|fp32-packed|bf16|int8]
                          [--mean-length 96|160|256]

Without --model it builds a full-size random-weight Pop2Piano (default Pop2PianoConfig, ~59M
parameters). By default both sides decode exactly 256 tokens per chunk (EOS suppressed until, then
forced at, the model's maximum), so the work is equal. With --mean-length N, rows end at realistic,
controlled lengths instead (bench/lengths.py: EOS at a per-row length drawn from a fixed seed, spread
around N), on both sides: the reference keeps computing ended rows until its batch's longest ends,
as the stock recipe does; the engine drops them. Each side runs in its own process with the model loaded and warmed up first
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

from bench_machine import describe  # noqa: E402

from bridge.engine.device import CPU_PRECISIONS, FP32_PACKED  # noqa: E402

# Every row decodes to the model's maximum of 256 tokens and ends with EOS there (the stock
# batch_decode crashes on rows without EOS): EOS is suppressed before, and forced at, the end.
FORCED = {"min_length": 255, "max_length": 256, "forced_eos_token_id": 1}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def generation_for(mean_length: float | None) -> dict:
    """The generation settings of both sides: forced to 256 tokens, or ending at realistic lengths."""
    if mean_length is None:
        return dict(FORCED)
    from lengths import GENERATION

    return dict(GENERATION)


def rule_for(mean_length: float | None):
    from lengths import RowLengths

    return None if mean_length is None else RowLengths(mean_length)


def run_reference(model_dir: str, audio: str, out_dir: str, mean_length: float | None = None) -> dict:
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
        rule = rule_for(mean_length)
        extra = {}
        if rule is not None:
            from transformers import LogitsProcessor, LogitsProcessorList

            class Lengths(LogitsProcessor):  # a logits processor passed to generate(): fair to the recipe
                def __call__(self, input_ids, scores):  # noqa: ANN001 - transformers' signature
                    rule(input_ids.tolist(), scores)
                    return scores

            extra["logits_processor"] = LogitsProcessorList([Lengths()])
        with torch.no_grad():
            ids = model.generate(input_features=inputs["input_features"], composer="composer1",
                                 **generation_for(mean_length), **extra)
        midi = processor.batch_decode(token_ids=ids, feature_extractor_output=inputs)["pretty_midi_objects"][0]
        midi.write(midi_path)
        return [(int(n.pitch), float(n.start), float(n.end), int(n.velocity)) for n in midi.instruments[0].notes]

    once(_warmup_audio(out_dir), os.path.join(out_dir, "warm.mid"))  # JIT and caches, like a warm daemon
    start = time.perf_counter()
    notes = once(audio, os.path.join(out_dir, "reference.mid"))
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "first_notes": seconds, "notes": notes, "rss_mb": peak_rss_mb()}


def run_engine(model_dir: str, audio: str, out_dir: str, precision: str, recipe: str,
               mean_length: float | None = None) -> dict:
    from bridge.engine.converter import Converter
    from bridge.engine.types import ClipRequest
    from bridge.output.files import write_outputs

    generation = generation_for(mean_length)
    rule = rule_for(mean_length)
    steps: list[int] = []  # rows still generating at each decoder step of the timed run

    def counting(rows, scores) -> None:  # noqa: ANN001 - a step rule (bridge.engine.decoding.StepRule)
        steps.append(len(rows))
        if rule is not None:
            rule(rows, scores)

    converter = Converter(model_dir, device="cpu", recipe=recipe, precision=precision, rule=rule)
    converter.convert(ClipRequest(_warmup_audio(out_dir)), generation=generation)
    converter.rule = counting
    start = time.perf_counter()
    arrangement = converter.convert(ClipRequest(audio), generation=generation)
    write_outputs(arrangement, os.path.join(out_dir, "engine.mid"))
    seconds = time.perf_counter() - start
    converter.rule = rule
    # Streaming (live output): notes handed on token by token, the opening analysed first.
    events: list[tuple[float, object]] = []
    start = time.perf_counter()
    converter.convert(ClipRequest(audio), generation=generation,
                      on_chunk=lambda c: events.append((time.perf_counter() - start, c)))
    first = next((t for t, c in events if c.notes), seconds)
    notes = [(n.pitch, n.start, n.end, n.velocity) for n in arrangement.notes]
    floor = matmul_floor(converter, arrangement.chunks, steps)
    return {"seconds": seconds, "first_notes": first, "waits": playback_waits(events, first), "notes": notes,
            "rss_mb": peak_rss_mb(), "floor": floor}


def playback_waits(events: list, first: float) -> float:
    """Seconds a player starting at the first notes spends waiting at the horizon (the notes not there yet)."""
    playhead, last, horizon, waited = 0.0, first, -1.0, 0.0
    for t, chunk in events:
        if t > first:
            advance = t - last
            room = max(0.0, horizon - playhead)
            waited += max(0.0, advance - room)
            playhead += min(advance, room)
            last = t
        horizon = max(horizon, chunk.horizon)
    return waited


def matmul_floor(converter, chunks: int, steps: list[int]) -> dict:
    """Seconds the decoder's and encoder's matrix products alone take for this song, fp32, here.

    Every decoder linear layer runs once per decoder step on that step's rows (``steps``: the
    rows still generating at each step, as the engine ran them; the encoder once over every
    frame). Attention, norms and everything else are left out, so no engine doing the
    reference's arithmetic can be faster than this on this machine: it bounds the exact mode.
    ``packed_seconds``: the same products on weights prepacked for oneDNN, fp32-packed's floor.
    """
    import torch

    model = converter.loaded.model
    if converter.loaded.precision not in ("fp32", FP32_PACKED):  # the bound is for fp32 products
        return {}
    from bridge.engine import stepper

    per_token = stepper.decoder_linears(model)  # the decoder's linear layers and the output head
    once = [m for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and (
        n.startswith("encoder.") or "EncDecAttention.k" in n or "EncDecAttention.v" in n)]
    frames = 51  # encoder positions per chunk (50 mel frames + the composer token)

    def decoder_seconds(run) -> float:  # noqa: ANN001 - run(layer, input): one linear layer's product
        per_step: dict[int, float] = {}
        for rows in sorted(set(steps)):  # time each batch size the decoding used
            wide = {m.in_features: torch.randn(rows, m.in_features) for m in per_token}
            for _ in range(2):
                for m in per_token:
                    run(m, wide[m.in_features])
            t = time.perf_counter()
            reps = 5
            for _ in range(reps):
                for m in per_token:
                    run(m, wide[m.in_features])
            per_step[rows] = (time.perf_counter() - t) / reps
        return sum(per_step[rows] for rows in steps)

    with torch.inference_mode():
        reference = decoder_seconds(lambda m, x: torch.nn.functional.linear(x, m.weight))
        packed = None
        if stepper.packing_available(torch.float32):  # the same products on prepacked weights (fp32-packed)
            runs = {id(m): stepper.prepacked(m) for m in per_token}
            packed = decoder_seconds(lambda m, x: runs[id(m)](x))
        enc_in = {m.in_features: torch.randn(chunks * frames, m.in_features) for m in once}
        t = time.perf_counter()
        for m in once:
            torch.nn.functional.linear(enc_in[m.in_features], m.weight)
        encoder = time.perf_counter() - t
    flops = 2 * (sum(steps) * sum(m.weight.numel() for m in per_token)
                 + chunks * frames * sum(m.weight.numel() for m in once))
    seconds = reference + encoder
    result = {"seconds": seconds, "gflops": flops / 1e9, "rate": flops / seconds / 1e9}
    if packed is not None:
        result["packed_seconds"] = packed + encoder  # the encoder runs the model's own layers either way
    return result


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
    parser.add_argument("--precision", default="fp32", choices=CPU_PRECISIONS)
    parser.add_argument("--side", choices=("reference", "engine"), help=argparse.SUPPRESS)
    parser.add_argument("--recipe", default="reference", choices=("reference", "faithful"))
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--engine-only", action="store_true", help="skip the reference (e.g. a 10-minute memory check)")
    parser.add_argument("--mean-length", type=float, default=None, metavar="TOKENS",
                        help="rows end at realistic lengths spread around this mean (default: all forced to 256)")
    args = parser.parse_args()

    if args.side:  # a child: one side, result as JSON on stdout
        if args.side == "reference":
            result = run_reference(args.model, args.audio, args.work, args.mean_length)
        else:
            result = run_engine(args.model, args.audio, args.work, args.precision, args.recipe, args.mean_length)
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
                   "--precision", args.precision, "--recipe", args.recipe,
                   *(["--mean-length", str(args.mean_length)] if args.mean_length else [])]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            results[side] = json.loads(out)
        eng = results["engine"]
        print(describe())
        lengths = f"rows end at ~{args.mean_length:g} tokens (spread ±50%)" if args.mean_length else \
            "every row forced to 256 tokens"
        print(f"audio: {minutes * 60:.1f} s; model: {'full-size random' if not args.model else args.model}; "
              f"engine: recipe={args.recipe}, precision={args.precision}; {lengths}")
        sides = [("this engine", eng)] if args.engine_only else [("reference recipe", results["reference"]),
                                                                  ("this engine", eng)]
        for name, r in sides:
            print(f"  {name:<17} {r['seconds']:7.2f} s  ({r['seconds'] / minutes:6.2f} s per minute of audio)  "
                  f"first notes after {r['first_notes']:6.2f} s  peak RSS {r['rss_mb']:7.0f} MB  {len(r['notes'])} notes")
        print(f"  live streaming: first notes after {eng['first_notes']:.2f} s; a player starting then waits "
              f"{eng['waits']:.2f} s in all for notes not generated yet")
        floor = eng.get("floor")
        if floor:
            print(f"  matrix products alone (fp32, the engine's batches, {floor['gflops']:.0f} GFLOP for this song): "
                  f"{floor['seconds']:.2f} s at {floor['rate']:.0f} GFLOP/s; the engine takes "
                  f"{eng['seconds'] / floor['seconds']:.2f}x that")
            if "packed_seconds" in floor:
                print(f"  the same products on prepacked weights (fp32-packed's): {floor['packed_seconds']:.2f} s; "
                      f"the engine takes {eng['seconds'] / floor['packed_seconds']:.2f}x that")
        if args.engine_only:
            return
        ref = results["reference"]
        print(f"  speed-up: {ref['seconds'] / eng['seconds']:.2f}x end-to-end")
        if floor:
            print(f"  bound for any engine with the reference's fp32 arithmetic here: "
                  f"{ref['seconds'] / floor['seconds']:.2f}x (reference ÷ matrix products alone)")
        same, differ = same_notes(ref["notes"], eng["notes"])
        print(f"  same notes as the reference: {'yes' if same else f'no ({differ} differ)'}")


if __name__ == "__main__":
    main()
