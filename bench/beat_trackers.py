"""How far the portable librosa tracker's beats are from essentia's (the model's training tracker).

    python bench/beat_trackers.py [AUDIO ...]

Without files it uses the tests' synthetic songs at several tempi. Prints, per clip, both
tempi and the distance from each librosa beat to the nearest essentia beat.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))


def clips(paths):
    if paths:
        import librosa

        for path in paths:
            yield os.path.basename(path), librosa.load(path, sr=44100, mono=True)[0]
        return
    import audio_fixtures

    for bpm in (84.0, 100.0, 120.0, 140.0):
        yield f"chords+drums {bpm:g} BPM", audio_fixtures.chord_song(30.0, 44100, bpm=bpm, seed=int(bpm))
        yield f"clicks {bpm:g} BPM", audio_fixtures.clicks(30.0, 44100, bpm=bpm, first=0.3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("audio", nargs="*")
    args = parser.parse_args()
    from bridge.engine.beats import track_beats

    print(f"{'clip':<24} {'essentia BPM':>12} {'librosa BPM':>11} {'median ms':>9} {'p90 ms':>7} {'max ms':>7}")
    for name, y in clips(args.audio):
        e = track_beats(y, tracker="essentia")
        l = track_beats(y, tracker="librosa")
        ebeats = np.asarray(e.times)
        d = np.array([np.min(np.abs(ebeats - t)) for t in l.times]) * 1000
        print(f"{name:<24} {e.bpm:>12.2f} {l.bpm:>11.2f} {np.median(d):>9.1f} {np.percentile(d, 90):>7.1f} {d.max():>7.1f}")


if __name__ == "__main__":
    main()
