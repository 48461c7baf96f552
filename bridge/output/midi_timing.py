"""MIDI time: seconds to ticks at a tempo, and tempo maps whose beats fall on given times. Pure.

The MIDI writer's arithmetic (:mod:`bridge.output.midi_file`), kept apart from the engine's
beat-grid math: the engine works in seconds, only a MIDI file has ticks.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np


def tempo_to_midi(bpm: float) -> int:
    """Microseconds per quarter note, the MIDI set-tempo value, for ``bpm``."""
    return max(1, min(0xFFFFFF, int(round(60_000_000 / bpm))))


def seconds_to_ticks(seconds: float, bpm: float, ticks_per_beat: int) -> int:
    """Ticks at a constant tempo that both DAW readings place within a millisecond of ``seconds``.

    A DAW importing by beats uses the exact session ``bpm``; one importing by time uses the
    file's tempo, rounded to whole microseconds per quarter. The two differ by up to about
    1e-6 of the time, so ticks are computed for the mean of both tick lengths: each
    reading is then off by half the difference (under 0.4 ms at ten minutes) plus rounding.
    """
    exact = 60.0 / bpm / ticks_per_beat
    stored = tempo_to_midi(bpm) / 1e6 / ticks_per_beat
    return int(round(seconds / ((exact + stored) / 2)))


@dataclass(frozen=True)
class TempoMap:
    """A MIDI tempo map whose beats fall on given times (seconds), for bar lines that follow the song.

    Segment ``i`` starts at ``ticks[i]`` with ``us_per_beat[i]``. Tick positions are
    derived from the *rounded* microsecond tempos the file stores, so a reader that
    walks the tempo events gets back the seconds the writer meant, to a tick.
    """

    ticks: tuple[int, ...]
    us_per_beat: tuple[int, ...]
    ticks_per_beat: int

    @classmethod
    def from_beats(cls, beats: np.ndarray, ticks_per_beat: int) -> TempoMap:
        beats = np.asarray(beats, dtype=np.float64)
        if beats.size < 2:
            raise ValueError("a tempo map needs at least two beats")
        periods = [max(1, min(0xFFFFFF, int(round(p * 1e6)))) for p in np.diff(beats)]
        # Before the first beat: whole beats of about the first period, so beat 0 is a file beat.
        lead_beats = int(np.ceil(beats[0] / (periods[0] / 1e6) - 1e-9)) if beats[0] > 0 else 0
        ticks, us = [], []
        if lead_beats:
            ticks.append(0)
            us.append(max(1, min(0xFFFFFF, int(round(beats[0] / lead_beats * 1e6)))))
        lead_ticks = lead_beats * ticks_per_beat
        ticks += [lead_ticks + i * ticks_per_beat for i in range(len(periods))]
        us += periods
        return cls(tuple(ticks), tuple(us), ticks_per_beat)

    @cached_property
    def segment_seconds(self) -> list[float]:
        """Start of each segment in seconds, as a reader walking the tempo events gets it."""
        starts = [0.0]
        for i in range(1, len(self.ticks)):
            span = self.ticks[i] - self.ticks[i - 1]
            starts.append(starts[-1] + span * self.us_per_beat[i - 1] / (self.ticks_per_beat * 1e6))
        return starts

    def seconds_to_ticks(self, seconds: float) -> int:
        starts = self.segment_seconds
        i = max(0, int(np.searchsorted(starts, seconds, side="right")) - 1)
        return self.ticks[i] + int(round((seconds - starts[i]) * 1e6 / self.us_per_beat[i] * self.ticks_per_beat))
