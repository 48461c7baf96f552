"""Timing math, free of I/O: beat grids, chunk boundaries and source → session time.

The beat-grid helpers follow the Pop2Piano recipe step for step (same scipy
interpolation, same integer rounding) so that chunk boundaries, and therefore the
model's inputs, are bit-identical to the reference feature extractor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.interpolate import interp1d

STEPS_PER_BEAT = 2


def interpolate_beats(beat_times: np.ndarray, steps_per_beat: int, n_extend: int) -> np.ndarray:
    """Subdivide ``beat_times`` into ``steps_per_beat`` steps and extend it by ``n_extend`` steps.

    Linear interpolation inside, linear extrapolation past the ends: the recipe's grid.
    """
    beat_times = np.asarray(beat_times, dtype=np.float64)
    if beat_times.size < 2:
        raise ValueError("need at least two beats to build a grid")
    grid = interp1d(np.arange(beat_times.size), beat_times, bounds_error=False, fill_value="extrapolate")
    return np.asarray(
        grid(np.linspace(0, beat_times.size + n_extend - 1, beat_times.size * steps_per_beat + n_extend))
    )


def fixed_grid(length_s: float, bpm: float) -> np.ndarray:
    """A steady beat grid from 0 covering ``length_s`` (at least two beats): the fallback grid."""
    period = 60.0 / bpm
    count = max(2, int(np.floor(length_s / period)) + 1)
    return np.arange(count, dtype=np.float64) * period


def extend_beats(beat_times: np.ndarray, length_s: float) -> np.ndarray:
    """Beats continued at the local period back to at or before 0 and on past ``length_s``.

    The reference grid starts at the first detected beat and stops one step after the
    last, so an intro or pickup before the first beat never reaches the model. Pure.
    """
    beats = np.asarray(beat_times, dtype=np.float64)
    if beats.size < 2:
        return beats
    head = float(np.median(np.diff(beats[:5])))
    tail = float(np.median(np.diff(beats[-5:])))
    before = [] if beats[0] <= 0 or head <= 0 else beats[0] - head * np.arange(int(np.ceil(beats[0] / head)), 0, -1)
    after = [] if beats[-1] >= length_s or tail <= 0 else (
        beats[-1] + tail * np.arange(1, int(np.ceil((length_s - beats[-1]) / tail)) + 1))
    return np.concatenate([before, beats, after])


@dataclass(frozen=True)
class ChunkGrid:
    """Where each model chunk sits on the step grid.

    ``beatsteps`` are the half-beat steps in clip seconds; ``ext_steps`` the same grid
    shifted to start at 0 and extrapolated past the end, as the tokenizer indexes it.
    Note times in clip seconds are ``beatsteps[0] + ext_steps[step]``.
    """

    beatsteps: np.ndarray
    ext_steps: np.ndarray
    steps_per_chunk: int

    @property
    def origin(self) -> float:
        return float(self.beatsteps[0])

    @property
    def chunk_count(self) -> int:
        return len(range(0, len(self.beatsteps), self.steps_per_chunk))

    def chunk_start_step(self, index: int) -> int:
        return index * self.steps_per_chunk

    def sample_ranges(self, sampling_rate: int) -> list[tuple[int, int]]:
        """Sample ranges of each chunk, relative to ``origin``, as the recipe rounds them."""
        n = len(self.beatsteps)
        ranges = []
        for i in range(0, n, self.steps_per_chunk):
            end = min(i + self.steps_per_chunk, n)
            ranges.append((int(self.ext_steps[i] * sampling_rate), int(self.ext_steps[end] * sampling_rate)))
        return ranges

    def step_time(self, step: int) -> float:
        """Clip seconds of a step index (the tokenizer's time unit)."""
        return float(self.ext_steps[step] - self.ext_steps[0]) + self.origin


def chunk_grid(beat_times: np.ndarray, num_bars: int) -> ChunkGrid:
    """Build the recipe's step grid from detected beat times (clip seconds)."""
    beatsteps = interpolate_beats(beat_times, steps_per_beat=STEPS_PER_BEAT, n_extend=1)
    relative = beatsteps - beatsteps[0]
    ext = interpolate_beats(relative, steps_per_beat=1, n_extend=(num_bars + 1) * 4 + 1)
    return ChunkGrid(beatsteps=beatsteps, ext_steps=ext, steps_per_chunk=num_bars * 4)


def to_session(clip_seconds: float, playrate: float) -> float:
    """Clip seconds (source time from the clip start) → session seconds as heard in the DAW."""
    return clip_seconds / playrate
