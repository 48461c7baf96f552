"""A beat grid the DAW gives instead of a tracker's: the session's beats as Pop2Piano's beat steps.

Pop2Piano places every note on a subdivision of the beats it is given. A producer whose clip is
warped to the session (Live) or whose project tempo follows the song (REAPER, Ardour) has a
better grid than any tracker: their own. A request may carry it as a constant grid
(:func:`constant_grid`: BPM and the source second of one beat) or as explicit beat times in
source seconds (any tempo map: warp markers, tempo changes; read by :func:`read_beats_file`).
:func:`clip_beats` checks it and turns it into the clip-relative beats the recipe's step grid
is built from, exactly where tracked beats would go. Pure but for reading the beats file.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence

import numpy as np

from bridge.engine.types import BEATS_FILE, SESSION_GRID, BeatGrid
from bridge.errors import BadRequest, NotFound

# A beat every 0.15 s (400 BPM) to every 3 s (20 BPM): anything else is not a beat grid.
MIN_GRID_BPM, MAX_GRID_BPM = 20.0, 400.0
# A tempo map of a 30-minute clip at 400 BPM has 12 000 beats; far more is a mistake or an attack.
MAX_BEATS = 100_000
MAX_BEATS_FILE_BYTES = 4 * 1024 * 1024


def grid_for(grid_bpm: float | None, grid_offset: float | None, beats_file: str | None, start: float,
             end: float) -> BeatGrid | None:
    """The grid a request asks for, over the clip ``start``–``end`` (source seconds); None: track beats."""
    if beats_file is not None:
        return read_beats_file(beats_file, BEATS_FILE)
    if grid_bpm is not None:
        return constant_grid(grid_bpm, start if grid_offset is None else grid_offset, start, end)
    return None


def constant_grid(bpm: float, offset: float, start: float, end: float) -> BeatGrid:
    """Beats every ``60 / bpm`` source seconds through ``offset``, from a beat before ``start`` to one after ``end``."""
    _check_bpm(bpm, "grid_bpm")
    if not math.isfinite(offset):
        raise BadRequest("grid_offset must be a finite number of seconds")
    period = 60.0 / bpm
    first = math.floor((start - offset) / period) - 1
    last = math.ceil((end - offset) / period) + 1
    if last - first + 1 > MAX_BEATS:
        raise BadRequest(f"a {bpm:g} BPM grid over this clip has more than {MAX_BEATS} beats")
    return BeatGrid(SESSION_GRID, tuple(offset + k * period for k in range(first, last + 1)))


def read_beats_file(path: str, source: str) -> BeatGrid:
    """A JSON array of beat times in source seconds (what a DAW script wrote), checked and bounded."""
    try:
        size = os.path.getsize(path)
        if size > MAX_BEATS_FILE_BYTES:
            raise BadRequest(f"the beats file is {size} bytes; at most {MAX_BEATS_FILE_BYTES} are read: {path}")
        with open(path, encoding="utf-8") as handle:
            times = json.load(handle)
    except FileNotFoundError:
        raise NotFound(f"beats file not found: {path}") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"the beats file is not a UTF-8 JSON array of numbers: {path} ({exc})") from None
    if not isinstance(times, list) or not all(
            isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t) for t in times):
        raise BadRequest(f"the beats file must hold a JSON array of beat times in seconds (finite numbers): {path}")
    if len(times) > MAX_BEATS:
        raise BadRequest(f"the beats file holds {len(times)} beats; at most {MAX_BEATS}: {path}")
    return BeatGrid(source, tuple(float(t) for t in times))


def clip_beats(grid: BeatGrid, clip_start: float, clip_duration: float) -> np.ndarray:
    """The grid's beats in clip seconds, checked, covering the whole clip. Pure.

    Beats must increase and keep a sensible tempo between neighbours. Beats far outside the clip
    are dropped (one is kept on each side); a grid that stops short of an end is extended there
    at its edge tempo, as the recipe extends tracked beats.
    """
    times = np.asarray(grid.times, dtype=np.float64) - clip_start
    if times.size < 2:
        raise BadRequest("a beat grid needs at least two beats")
    steps = np.diff(times)
    if np.any(steps <= 0):
        raise BadRequest(f"beat times must increase (beat {int(np.argmax(steps <= 0)) + 2} does not)")
    _check_bpm(60.0 / float(steps.max()), "the slowest beat of the grid")
    _check_bpm(60.0 / float(steps.min()), "the fastest beat of the grid")
    lo = max(0, int(np.searchsorted(times, 0.0, side="right")) - 1)  # the last beat at or before the start
    hi = min(times.size - 1, int(np.searchsorted(times, clip_duration)))  # the first at or after the end
    if hi == lo:  # every beat on one side of the clip: keep the two nearest
        lo, hi = (times.size - 2, times.size - 1) if lo == times.size - 1 else (lo, lo + 1)
    times = times[lo : hi + 1]
    head, tail = times[1] - times[0], times[-1] - times[-2]
    before = times[0] - head * np.arange(math.ceil(times[0] / head), 0, -1) if times[0] > 0 else np.empty(0)
    after = times[-1] + tail * np.arange(1, math.ceil((clip_duration - times[-1]) / tail) + 1) \
        if times[-1] < clip_duration else np.empty(0)
    return np.concatenate([before, times, after])


def median_bpm(beats: Sequence[float] | np.ndarray) -> float:
    """The grid's typical tempo (median beat length), for reports and the MIDI file's nominal tempo."""
    return float(60.0 / np.median(np.diff(np.asarray(beats, dtype=np.float64))))


def _check_bpm(bpm: float, what: str) -> None:
    if not (math.isfinite(bpm) and MIN_GRID_BPM <= bpm <= MAX_GRID_BPM):
        raise BadRequest(f"{what} is {bpm:.1f} BPM; a beat grid must stay within {MIN_GRID_BPM:g}–{MAX_GRID_BPM:g} BPM")


def off_grid(onsets: Sequence[float] | np.ndarray, beats: Sequence[float] | np.ndarray,
             steps_per_beat: int = 2) -> np.ndarray:
    """How far each onset lies from the nearest subdivision (``steps_per_beat`` per beat) of ``beats``. Pure.

    Beats and onsets in the same time base; subdivisions between beats are linear, as the recipe's
    steps are. What the grid benchmark and tests measure a conversion's alignment with.
    """
    beats = np.asarray(beats, dtype=np.float64)
    fractions = np.arange(steps_per_beat) / steps_per_beat
    steps = np.concatenate([(beats[:-1, None] + np.diff(beats)[:, None] * fractions).ravel(), beats[-1:]])
    onsets = np.asarray(onsets, dtype=np.float64)
    index = np.clip(np.searchsorted(steps, onsets), 1, steps.size - 1)
    distance: np.ndarray = np.minimum(np.abs(onsets - steps[index - 1]), np.abs(onsets - steps[index]))
    return distance
