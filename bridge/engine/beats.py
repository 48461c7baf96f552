"""Beat tracking for the step grid the model was trained on.

The reference recipe uses essentia's ``RhythmExtractor2013`` (multifeature) on 44.1 kHz
audio. Where it cannot give a usable grid (silence, a clip shorter than a bar, no
beat, an absurd tempo), a steady grid at the session tempo (or 120 BPM) is used and
the result says so, rather than crashing or feeding the model a nonsense grid.
"""

from __future__ import annotations

import logging

import numpy as np

from bridge.engine.timing import fixed_grid
from bridge.engine.types import BeatInfo

log = logging.getLogger(__name__)

TRACKER_SAMPLE_RATE = 44100
FALLBACK_BPM = 120.0
MIN_BPM, MAX_BPM = 30.0, 300.0
SILENCE_PEAK = 1e-4  # -80 dBFS


def essentia_available() -> bool:
    try:
        import essentia.standard  # noqa: F401
    except ImportError:
        return False
    return True


def track_beats(samples_44k: np.ndarray, fallback_bpm: float | None = None) -> BeatInfo:
    """Beats (clip seconds) of mono 44.1 kHz audio, or a documented fallback grid."""
    length = samples_44k.size / TRACKER_SAMPLE_RATE
    grid_bpm = fallback_bpm or FALLBACK_BPM
    if samples_44k.size == 0 or float(np.max(np.abs(samples_44k))) < SILENCE_PEAK:
        return _grid(length, grid_bpm, "the clip is silent")
    if not essentia_available():
        return _grid(length, grid_bpm, "essentia is not installed")
    import essentia.standard as es

    try:
        bpm, beats, _confidence, _estimates, _intervals = es.RhythmExtractor2013(method="multifeature")(
            np.ascontiguousarray(samples_44k, dtype=np.float32)
        )
    except RuntimeError as exc:
        log.warning("essentia beat tracking failed: %s", exc)
        return _grid(length, grid_bpm, "the beat tracker failed on this clip")
    beats = np.asarray(beats, dtype=np.float64)
    if beats.size < 2:
        return _grid(length, grid_bpm, "no beat was detected (clip too short or beatless)")
    if not MIN_BPM <= float(bpm) <= MAX_BPM:
        return _grid(length, grid_bpm, f"the detected tempo {float(bpm):.1f} BPM is implausible")
    return BeatInfo(times=tuple(float(t) for t in beats), bpm=float(bpm), tracker="essentia-multifeature")


def _grid(length: float, bpm: float, reason: str) -> BeatInfo:
    log.info("using a fixed %.2f BPM grid: %s", bpm, reason)
    times = fixed_grid(length, bpm)
    return BeatInfo(times=tuple(float(t) for t in times), bpm=bpm, tracker="fixed-grid", note=reason)
