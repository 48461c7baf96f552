"""Synthetic test audio: chords with noise-burst "drums" on a steady beat, silence, short clips."""

from __future__ import annotations

import numpy as np

CHORDS = ([220.0, 277.2, 329.6], [196.0, 246.9, 293.7], [174.6, 220.0, 261.6], [246.9, 311.1, 370.0])


def chord_song(seconds: float = 12.0, sr: int = 44100, bpm: float = 120.0, seed: int = 1,
               lead_in: float = 0.0) -> np.ndarray:
    """Changing triads, one per bar, a noise burst on every beat; ``lead_in`` s of a soft chord first."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    y = np.zeros_like(t)
    period = 60.0 / bpm
    for i, beat in enumerate(np.arange(lead_in, seconds, period)):
        s, e = int(beat * sr), min(t.size, int((beat + period) * sr))
        for f in CHORDS[(i // 4) % 4]:
            y[s:e] += 0.15 * np.sin(2 * np.pi * f * t[s:e]) * np.exp(-3 * (t[s:e] - beat))
        burst = min(2000, t.size - s)
        y[s : s + burst] += rng.normal(0, 0.5, burst) * np.exp(-np.arange(burst) / 300)
    if lead_in > 0:
        n = int(lead_in * sr)
        y[:n] += 0.2 * np.sin(2 * np.pi * 261.6 * t[:n])
    return (y / max(1.0, np.abs(y).max() * 1.05)).astype(np.float32)


def clicks(seconds: float, sr: int, bpm: float = 120.0, first: float = 0.0) -> np.ndarray:
    """A click track: short decaying bursts at ``first + k * 60 / bpm``."""
    y = np.zeros(int(seconds * sr), dtype=np.float32)
    click = (np.sin(2 * np.pi * 1000 * np.arange(int(0.01 * sr)) / sr) * np.exp(-np.arange(int(0.01 * sr)) / (0.002 * sr)))
    for beat in np.arange(first, seconds, 60.0 / bpm):
        s = int(beat * sr)
        piece = click[: max(0, y.size - s)]
        y[s : s + piece.size] += 0.9 * piece.astype(np.float32)
    return y


def beats_with_tempo_change(seconds: float, bpm: float, new_bpm: float, change_at: float,
                            first: float = 0.0) -> np.ndarray:
    """Beat times at ``bpm`` from ``first``, then at ``new_bpm`` from the first beat after ``change_at``."""
    times, t = [], first
    while t < seconds + 2.0:
        times.append(t)
        t += 60.0 / (bpm if t < change_at else new_bpm)
    return np.asarray(times)


def song_on_beats(beats: np.ndarray, seconds: float, sr: int = 44100, seed: int = 1) -> np.ndarray:
    """Chords changing every four beats and a noise-burst drum on each of ``beats`` (any tempo map)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    y = np.zeros_like(t)
    for i, (beat, after) in enumerate(zip(beats[:-1], beats[1:])):
        if beat >= seconds:
            break
        s, e = int(beat * sr), min(t.size, int(after * sr))
        for f in CHORDS[(i // 4) % 4]:
            y[s:e] += 0.15 * np.sin(2 * np.pi * f * t[s:e]) * np.exp(-3 * (t[s:e] - beat))
        burst = min(2000, t.size - s)
        y[s : s + burst] += rng.normal(0, 0.5, burst) * np.exp(-np.arange(burst) / 300)
    return (y / max(1.0, np.abs(y).max() * 1.05)).astype(np.float32)
