"""Processes starting the portable beat tracker together on a cold numba cache: with and without jit_lock.

    python bench/numba_race.py [--processes 4] [--trials 3] [--mode both|unlocked|locked]

Each trial starts ``--processes`` Python processes at once, sharing one empty ``NUMBA_CACHE_DIR``
(what a fresh install, or a new librosa, gives), each tracking the beats of an 8 s test song with
librosa's tracker:

- ``unlocked``: ``beats._librosa_track``, the tracker without the bridge's lock (what the bridge ran
  before ``bridge/engine/jit_lock.py``);
- ``locked``: ``beats.track_beats(..., tracker="librosa")``, the bridge's path.

Printed per trial: each process's exit status (-11 or 139: SIGSEGV, numba issue 10128), then the
totals. Takes about a minute a trial on 2 cores (one cold compile is ~33 s).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
sys.path.insert(0, os.path.join(HERE, ".."))

from bench_machine import describe  # noqa: E402

CHILD = """
import sys
sys.path[:0] = [{tests!r}, {root!r}]
import numpy as np
import audio_fixtures
from bridge.engine import beats
song = np.asarray(audio_fixtures.chord_song(8.0, 44100), dtype=np.float32)
if song.ndim > 1:
    song = song.mean(axis=1)
found = beats._librosa_track(song) if {unlocked!r} else beats.track_beats(song, tracker="librosa")
print(found)
"""


def trial(processes: int, unlocked: bool) -> list[int]:
    code = CHILD.format(tests=os.path.join(HERE, "..", "tests"), root=os.path.join(HERE, ".."), unlocked=unlocked)
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        children = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL) for _ in range(processes)]
        return [child.wait() for child in children]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--mode", choices=("both", "unlocked", "locked"), default="both")
    args = parser.parse_args()
    print(describe())
    import numba

    print(f"numba {numba.__version__}; {args.processes} processes per trial, one cold cache each trial")
    modes = ("unlocked", "locked") if args.mode == "both" else (args.mode,)
    for mode in modes:
        crashed = total = 0
        start = time.perf_counter()
        for number in range(args.trials):
            codes = trial(args.processes, mode == "unlocked")
            crashed += sum(1 for code in codes if code in (-11, 139))
            total += len(codes)
            print(f"  {mode:8s} trial {number + 1}: exit statuses {codes}")
        print(f"  {mode:8s} {crashed} of {total} processes crashed (SIGSEGV), "
              f"{(time.perf_counter() - start) / args.trials:.0f} s a trial")


if __name__ == "__main__":
    main()
