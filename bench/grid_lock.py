"""How well notes sit on the session's grid: tracked beats vs the session's own grid.

    python bench/grid_lock.py [--model DIR] [--seconds 40]

Audio with a known beat grid is rendered (chords and a drum on every beat): a steady 100 BPM
song, and one that changes from 100 to 130 BPM halfway. Each is converted twice with the same
model: beats tracked (essentia, the recipe's tracker) and beats given as the session's grid (the
known beat times, as a DAW script passes them in a beats file). For each note onset, the distance
to the nearest half-beat (Pop2Piano's step) of the *session* grid is measured, in session time:
the share of onsets within 1 ms, and the largest drift. The model is a tiny random one (the real
weights cannot be downloaded here): which notes come out differs, where they can sit does not.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import numpy as np
import soundfile as sf

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

import audio_fixtures  # noqa: E402
import tiny_model  # noqa: E402
from bridge.engine.converter import Converter  # noqa: E402
from bridge.engine.grid import off_grid  # noqa: E402
from bridge.engine.types import BEATS_FILE, BeatGrid, ClipRequest  # noqa: E402
from bench_machine import describe  # noqa: E402

SR = 44100
TOLERANCE_S = 0.001


def measure(converter: Converter, path: str, beats: np.ndarray, grid: BeatGrid | None) -> tuple[float, float, int]:
    """(share of onsets within 1 ms of a session half-beat, largest distance in ms, onsets counted)."""
    onsets: list[float] = []
    for composer in ("composer1", "composer5", "composer9"):  # more notes, the same grid
        arrangement = converter.convert(ClipRequest(path, composer=composer, grid=grid))
        onsets += [n.start for n in arrangement.notes if n.start > 0]  # the recipe clamps at the clip start
    distance = off_grid(onsets, beats)
    return float(np.mean(distance <= TOLERANCE_S)), float(distance.max() * 1000), len(onsets)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a Pop2Piano folder (default: a tiny random model built here)")
    parser.add_argument("--seconds", type=float, default=40.0)
    args = parser.parse_args()
    print(describe())
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or tiny_model.build(os.path.join(tmp, "model"))
        converter = Converter(model, device="cpu", beat_tracker="essentia")
        songs = {
            "steady 100 BPM": audio_fixtures.beats_with_tempo_change(args.seconds, 100.0, 100.0, args.seconds, 0.25),
            "100 → 130 BPM at half": audio_fixtures.beats_with_tempo_change(args.seconds, 100.0, 130.0,
                                                                             args.seconds / 2, 0.25),
        }
        print(f"| audio | beats | onsets within {TOLERANCE_S * 1000:g} ms of a session half-beat | largest drift | onsets |")
        print("|---|---|---|---|---|")
        for name, beats in songs.items():
            path = os.path.join(tmp, f"{name}.wav")
            sf.write(path, audio_fixtures.song_on_beats(beats, args.seconds, SR), SR)
            for label, grid in (("tracked (essentia)", None), ("session grid", BeatGrid(BEATS_FILE, tuple(beats)))):
                share, drift, count = measure(converter, path, beats, grid)
                print(f"| {name} | {label} | {share * 100:.1f}% | {drift:.1f} ms | {count} |", flush=True)


if __name__ == "__main__":
    main()
