"""Beat tracking for the step grid the model was trained on.

The model was trained on essentia's ``RhythmExtractor2013`` (multifeature) beats, computed
on 44.1 kHz audio (the only rate that algorithm supports), so that is the first choice.
essentia is an optional extra (AGPL; no Windows or Linux ARM wheels): without it,
librosa's dynamic-programming tracker runs, with a pulse-strength check. Where neither
gives a usable grid (silence, a clip shorter than a bar, no beat, an absurd tempo), a
steady grid at the session tempo (or 120 BPM) is used and the result says why.
"""

from __future__ import annotations

import logging

import numpy as np

from bridge.engine.jit_lock import first_call
from bridge.engine.optional import essentia_available, essentia_standard
from bridge.engine.request import TRACKERS
from bridge.engine.timing import fixed_grid
from bridge.engine.types import FIXED_GRID, BeatInfo

log = logging.getLogger(__name__)

TRACKER_SAMPLE_RATE = 44100
FALLBACK_BPM = 120.0
MIN_BPM, MAX_BPM = 30.0, 300.0
SILENCE_PEAK = 1e-4  # -80 dBFS
ESSENTIA, LIBROSA = "essentia-multifeature", "librosa"
# librosa: onset strength on beats must exceed the clip's mean by this factor to count as a pulse.
MIN_PULSE_RATIO = 1.5
# Onset strength (mean log-mel flux) below this inside the clip: a steady sound, no onsets.
MIN_ONSET_STRENGTH = 0.1
_EDGE_FRAMES = 8  # the clip's first/last ~90 ms: a cut into sound is an onset, not a beat
_HOP = 512


def grid_tempo(tempo: float | None, playrate: float) -> float:
    """The one rule for the steady grid used where no beat can be tracked: the session tempo in
    source time (a take at rate 2 plays its source twice as fast), else :data:`FALLBACK_BPM`. Pure."""
    return tempo / playrate if tempo else FALLBACK_BPM


def track_beats(samples_44k: np.ndarray, grid_bpm: float = FALLBACK_BPM, tracker: str = "auto") -> BeatInfo:
    """Beats (clip seconds) of mono 44.1 kHz audio, or a steady ``grid_bpm`` grid that says why."""
    if tracker not in TRACKERS:
        raise ValueError(f"tracker must be one of {TRACKERS}, got {tracker!r}")
    length = samples_44k.size / TRACKER_SAMPLE_RATE
    if samples_44k.size == 0 or float(np.max(np.abs(samples_44k))) < SILENCE_PEAK:
        return _grid(length, grid_bpm, "the clip is silent")
    use_essentia = tracker == "essentia" or (tracker == "auto" and essentia_available())
    if use_essentia and not essentia_available():
        return _grid(length, grid_bpm, "essentia was asked for but is not installed")
    found = _essentia(samples_44k) if use_essentia else _librosa(samples_44k)
    if isinstance(found, str):
        return _grid(length, grid_bpm, found)
    bpm, beats, name = found
    if beats.size < 2:
        return _grid(length, grid_bpm, "no beat was detected (clip too short or beatless)")
    if not MIN_BPM <= bpm <= MAX_BPM:
        return _grid(length, grid_bpm, f"the detected tempo {bpm:.1f} BPM is implausible")
    return BeatInfo(times=tuple(float(t) for t in beats), bpm=bpm, tracker=name)


def _essentia(samples: np.ndarray) -> tuple[float, np.ndarray, str] | str:
    es = essentia_standard()
    try:
        bpm, beats, _confidence, _estimates, _intervals = es.RhythmExtractor2013(method="multifeature")(
            np.ascontiguousarray(samples, dtype=np.float32)
        )
    except RuntimeError as exc:
        log.warning("essentia beat tracking failed: %s", exc)
        return "the beat tracker failed on this clip"
    return float(bpm), np.asarray(beats, dtype=np.float64), ESSENTIA


LIBROSA_CODE = "librosa beat tracker"  # jit_lock's name for the numba code _librosa_track reaches
_WARM_UP_BPM = 120.0


def _librosa(samples: np.ndarray) -> tuple[float, np.ndarray, str] | str:
    """librosa's tracker; a process's first use runs it on a click track under :mod:`jit_lock`, so
    that every numba function it reaches is compiled or loaded while no other bridge process is
    (the clip itself may stop early, at "no onsets", and leave some to compile unlocked later)."""
    first_call(LIBROSA_CODE, lambda: _librosa_track(_click_track(4.0, _WARM_UP_BPM)))
    return _librosa_track(samples)


def _click_track(seconds: float, bpm: float) -> np.ndarray:
    """Decaying 1 kHz clicks on the beat at :data:`TRACKER_SAMPLE_RATE`: a clip every tracker path runs
    to the end on. Pure."""
    t = np.arange(int(seconds * TRACKER_SAMPLE_RATE)) / TRACKER_SAMPLE_RATE
    since_beat = np.mod(t, 60.0 / bpm)
    return (np.sin(2 * np.pi * 1000.0 * t) * np.exp(-since_beat * 60.0)).astype(np.float32)


def _librosa_track(samples: np.ndarray) -> tuple[float, np.ndarray, str] | str:
    import librosa  # a second of import time (numba), paid only when essentia is missing

    y = np.ascontiguousarray(samples, dtype=np.float32)
    envelope = librosa.onset.onset_strength(y=y, sr=TRACKER_SAMPLE_RATE, hop_length=_HOP)
    if envelope.size <= 2 * _EDGE_FRAMES or float(envelope[_EDGE_FRAMES:-_EDGE_FRAMES].mean()) < MIN_ONSET_STRENGTH:
        return "no onsets were found (clip too short or a steady sound)"
    tempo, frames = librosa.beat.beat_track(onset_envelope=envelope, sr=TRACKER_SAMPLE_RATE, hop_length=_HOP)
    frames = np.asarray(frames, dtype=int)
    if frames.size < 2:
        return "no beat was detected (clip too short or beatless)"
    pulse = pulse_ratio(envelope, frames)
    if pulse < MIN_PULSE_RATIO:
        return f"no clear beat (pulse ratio {pulse:.2f} < {MIN_PULSE_RATIO})"
    times = librosa.frames_to_time(frames, sr=TRACKER_SAMPLE_RATE, hop_length=_HOP)
    bpm = float(np.atleast_1d(tempo)[0])
    return bpm, np.asarray(times, dtype=np.float64), LIBROSA


def pulse_ratio(envelope: np.ndarray, frames: np.ndarray) -> float:
    """Mean onset strength on the beats (±1 frame) over the clip's mean: ~1 means no pulse. Pure.

    The clip's edges are left out: starting or stopping inside a sound reads as a strong onset.
    """
    inner = envelope.copy()
    inner[:_EDGE_FRAMES] = 0.0
    inner[-_EDGE_FRAMES:] = 0.0
    padded = np.pad(inner, 1)
    on_beats = np.maximum.reduce([padded[frames], padded[frames + 1], padded[frames + 2]])
    return float(on_beats.mean() / max(float(inner.mean()), 1e-12))


def _grid(length: float, bpm: float, reason: str) -> BeatInfo:
    log.info("using a fixed %.2f BPM grid: %s", bpm, reason)
    times = fixed_grid(length, bpm)
    return BeatInfo(times=tuple(float(t) for t in times), bpm=bpm, tracker=FIXED_GRID, note=reason)
