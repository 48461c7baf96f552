"""The job core's vocabulary: a plain request goes in, typed events come out.

The core (:class:`~bridge.jobs.manager.JobManager`) owns the queue and the job states and knows
no protocol. A frontend hands it a :class:`JobRequest` with an opaque ``target`` (whoever
should hear about the job), and receives the job's events through its :class:`JobListener`,
addressed to that target; the OSC daemon turns them into replies (mopidy's rule: the core
emits typed events, frontends translate). Every job emits :class:`JobAccepted` first and
exactly one final event: :class:`JobDone`, :class:`JobFailed` or :class:`JobCancelled`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Union

FILE, LIVE, BOTH = "file", "live", "both"


@dataclass(frozen=True)
class JobRequest:
    """What to convert and where the result goes. ``composer`` None: the engine's first style."""

    job_id: str
    audio_path: str
    composer: str | None = None
    start: float = 0.0
    duration: float = 0.0
    playrate: float = 1.0
    tempo: float | None = None
    output: str = FILE
    out_dir: str | None = None
    grid_bpm: float | None = None  # a constant session grid: BPM in source time …
    grid_offset: float | None = None  # … and the source second of one beat (None: the clip start)
    beats_file: str | None = None  # or a JSON file of beat times in source seconds
    styles: tuple[str, ...] = ()  # an audition: these composers' styles at once (composer is then ignored) …
    all_styles: bool = False  # … or every style the engine has

    @property
    def audition(self) -> bool:
        return self.all_styles or bool(self.styles)

    @property
    def to_file(self) -> bool:
        return self.output in (FILE, BOTH)

    @property
    def live(self) -> bool:
        return self.output in (LIVE, BOTH)


@dataclass(frozen=True)
class JobAccepted:
    job_id: str


@dataclass(frozen=True)
class JobProgress:
    job_id: str
    fraction: float
    stage: str


@dataclass(frozen=True)
class JobDone:
    """``midi_path`` and ``notes_path`` are empty when the job only played live."""

    job_id: str
    midi_path: str
    notes_path: str
    note_count: int


@dataclass(frozen=True)
class JobStyleDone:
    """One style of an audition is complete and written; the job's own JobDone follows the last."""

    job_id: str
    composer: str
    midi_path: str
    notes_path: str
    note_count: int


@dataclass(frozen=True)
class JobFailed:
    job_id: str
    code: str
    message: str


@dataclass(frozen=True)
class JobCancelled:
    job_id: str


JobEvent = Union[JobAccepted, JobProgress, JobStyleDone, JobDone, JobFailed, JobCancelled]
FINAL_EVENTS = (JobDone, JobFailed, JobCancelled)


class JobListener(Protocol):
    """Hears every event of the jobs it submitted (or asked to cancel), with that request's target."""

    def on_event(self, event: JobEvent, target: Any) -> None: ...
