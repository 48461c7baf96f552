"""Small value objects shared by the engine, the output sinks and the frontends."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

DEFAULT_COMPOSER = "composer1"
# BeatInfo.tracker of a steady grid that stood in for tracked beats.
FIXED_GRID = "fixed-grid"
# Where a conversion's beats came from (Arrangement.beat_source, the notes JSON's beat_source):
# a beat tracker, a constant session grid (BPM + offset), or a file of beat times (a tempo map).
TRACKED, SESSION_GRID, BEATS_FILE = "tracked", "session_grid", "beats_file"


@dataclass(frozen=True)
class BeatGrid:
    """Beats a DAW gives instead of tracking: beat times in source seconds, and how they were given."""

    source: str  # SESSION_GRID or BEATS_FILE
    times: tuple[float, ...]

    @property
    def key(self) -> str:
        """A short fingerprint of the grid: the same beats, the same key (caches, file names)."""
        text = self.source + ":" + ",".join(repr(t) for t in self.times)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Note:
    """One piano note in session seconds (time as heard in the DAW, from the clip start)."""

    pitch: int
    start: float
    end: float
    velocity: int

    def as_dict(self) -> dict[str, float | int]:
        return {"pitch": self.pitch, "start": self.start, "end": self.end, "velocity": self.velocity}


@dataclass(frozen=True)
class ClipRequest:
    """What to convert: a range of a source file, and how the DAW plays it.

    ``start`` and ``duration`` are seconds of the *source file*; ``duration`` 0 means
    "to the end of the file". ``playrate`` is the DAW take's rate: one source second
    lasts ``1 / playrate`` session seconds. ``tempo`` is the session tempo (BPM) the
    MIDI file is written for; ``None`` means "use the detected tempo". ``grid``: the session's
    own beats, used instead of a beat tracker (see :mod:`bridge.engine.grid`).
    """

    path: str
    start: float = 0.0
    duration: float = 0.0
    playrate: float = 1.0
    tempo: float | None = None
    composer: str = DEFAULT_COMPOSER
    grid: BeatGrid | None = None  # the session's beats; None: track them


@dataclass(frozen=True)
class Progress:
    """A progress report: ``fraction`` in [0, 1] of the whole job, and the stage name."""

    fraction: float
    stage: str
    chunk: int = 0
    chunks: int = 0


@dataclass(frozen=True)
class ChunkNotes:
    """Notes that just finished generating, ready to stream (session seconds, sorted by start).

    Handed on step by step while a batch generates; ``index`` is the first chunk still
    generating (of ``count``).
    """

    index: int
    count: int
    notes: tuple[Note, ...]
    # No later chunk has a note starting before this session time: safe to play up to here.
    horizon: float = float("inf")


@dataclass(frozen=True)
class BeatInfo:
    """Beats of the clip in clip seconds (source time from the clip start)."""

    times: tuple[float, ...]
    bpm: float
    tracker: str
    note: str = ""

    @property
    def is_fallback(self) -> bool:
        """A steady grid stood in for tracked beats (silence, no beat): it follows the session tempo."""
        return self.tracker == FIXED_GRID


@dataclass
class Arrangement:
    """The result of one conversion: notes plus everything a DAW script needs to place them."""

    notes: list[Note]
    beats: list[float]
    tempo: float
    detected_tempo: float
    tracker: str
    composer: str
    model_id: str
    model_revision: str
    source: str
    start: float
    duration: float
    playrate: float
    session_length: float
    chunks: int
    tempo_source: str = "detected"
    tracker_note: str = ""
    activation: str = "relu"
    recipe: str = "faithful"
    precision: str = "fp32"
    # The BPM of the steady grid that stood in for tracked beats, None when beats were tracked: such
    # an arrangement depends on the session tempo (see bridge.engine.beats.grid_tempo).
    grid_bpm: float | None = None
    beat_source: str = TRACKED
