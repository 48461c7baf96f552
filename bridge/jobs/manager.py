"""The job manager: a FIFO queue, one inference at a time, cancel, status, caches, live play.

Core logic owns all state (mopidy's rule): frontends call ``submit``/``cancel``/``status``/
``play``/``stop`` with plain :class:`~bridge.jobs.api.JobRequest` values and hear typed events
(:mod:`bridge.jobs.api`) through their :class:`~bridge.jobs.api.JobListener`, addressed by the
opaque ``target`` they passed in. Every job ends with exactly one final event: done, failed or
cancelled. No protocol here: the OSC daemon is one frontend, tests drive the core directly.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bridge.engine.audio import probe, resolve_range
from bridge.engine.beats import grid_tempo
from bridge.engine.grid import grid_for
from bridge.engine.notes import playable
from bridge.engine.request import validate_request
from bridge.engine.types import Arrangement, ChunkNotes, ClipRequest, Progress
from bridge.errors import (
    BadRequest,
    BridgeError,
    Busy,
    Cancelled,
    DuplicateId,
    MidiUnavailable,
    NotFound,
)
from bridge.jobs.api import (
    JobAccepted,
    JobCancelled,
    JobDone,
    JobEvent,
    JobFailed,
    JobListener,
    JobProgress,
    JobRequest,
)
from bridge.jobs.cache import LRU, ContentHasher
from bridge.jobs.inference import Engine
from bridge.output.files import write_result
from bridge.output.live import Player, Session
from bridge.output.naming import DEFAULT_FOLDER, OutputRequest

log = logging.getLogger(__name__)

QUEUED, RUNNING, DONE, ERROR, CANCELLED = "queued", "running", "done", "error", "cancelled"
ACTIVE = (QUEUED, RUNNING)


@dataclass(frozen=True)
class Limits:
    """What a request may ask for: file size in bytes, clip length in source seconds."""

    max_file_bytes: float = 2048e6
    max_seconds: float = 1800.0


@dataclass
class Job:
    id: str
    request: JobRequest
    target: Any
    state: str = QUEUED
    fraction: float = 0.0
    cancel: threading.Event = field(default_factory=threading.Event)
    arrangement: Arrangement | None = None
    midi_path: str = ""
    notes_path: str = ""
    cancel_targets: list[Any] = field(default_factory=list)
    session: Session | None = None  # its live playback, when output is live or both
    created: float = field(default_factory=time.monotonic)


class JobManager:
    """One worker thread runs jobs in order; everything else returns at once."""

    def __init__(
        self,
        engine: Engine,
        listener: JobListener,
        live: Callable[[], Player] | None = None,
        max_queue: int = 8,
        keep_finished: int = 256,
        cache_size: int = 64,
        limits: Limits | None = None,
    ) -> None:
        self.limits = limits or Limits()
        self.engine = engine
        self._listener = listener
        self._live_factory = live
        self._player: Player | None = None
        self._dead_players: list[Player] = []
        self.max_queue = max_queue
        self.keep_finished = keep_finished
        self._jobs: collections.OrderedDict[str, Job] = collections.OrderedDict()
        self._queue: collections.deque[Job] = collections.deque()
        self._cond = threading.Condition()
        self._closing = False
        self._running: Job | None = None
        self._hasher = ContentHasher()
        self._results: LRU[Arrangement] = LRU(cache_size)
        self._worker = threading.Thread(target=self._work, name="jobs", daemon=True)
        self._worker.start()

    # -- requests ---------------------------------------------------------------------
    def submit(self, request: JobRequest, target: Any) -> Job:
        with self._cond:
            if self._closing:
                raise Busy("the bridge is shutting down")
            old = self._jobs.get(request.job_id)
            if old is not None and old.state in ACTIVE:
                raise DuplicateId(f"job {request.job_id!r} is already {old.state}")
            # A running job has finished once its final reply is out (its state changes before
            # the reply is sent), even if the worker has not picked up the next job yet.
            running = self._running is not None and self._running.state in ACTIVE
            idle = not running and not self._queue  # the new job starts at once: it does not wait
            if not idle and len(self._queue) >= self.max_queue:
                raise Busy(f"{len(self._queue)} jobs are waiting (the limit is {self.max_queue}); try again later")
            job = Job(request.job_id, request, target)
            self._jobs.pop(request.job_id, None)
            self._jobs[job.id] = job
            self._emit(job.target, JobAccepted(job.id))  # before the worker can report anything
            self._queue.append(job)
            self._forget_old()
            self._cond.notify_all()
            return job

    def cancel(self, job_id: str, target: Any = None) -> None:
        """Cancel a queued job now or a running one at its next token; its final event is cancelled.

        A finished job whose live playback is still going has its playback stopped and the
        canceller hears cancelled (the job's own final event was already done).
        """
        with self._cond:
            job = self._jobs.get(job_id)
            if job is None:
                raise NotFound(f"no job {job_id!r}")
            if job.state == DONE and job.session is not None and job.session.active and self._player is not None:
                self._player.stop()
                self._emit(target if target is not None else job.target, JobCancelled(job.id))
                return
            if job.state not in ACTIVE:
                raise BadRequest(f"job {job_id!r} already ended ({job.state})")
            if target is not None and target != job.target:
                job.cancel_targets.append(target)
            job.cancel.set()
            if job.state == QUEUED:
                self._queue.remove(job)
                self._finish(job, CANCELLED, JobCancelled(job.id))

    def status(self, job_id: str) -> tuple[str, float]:
        with self._cond:
            job = self._jobs.get(job_id)
            if job is None:
                raise NotFound(f"no job {job_id!r}")
            return job.state, job.fraction

    def play(self, job_id: str, from_seconds: float = 0.0) -> Session:
        with self._cond:
            job = self._jobs.get(job_id)
            if job is None:
                raise NotFound(f"no job {job_id!r}")
            if job.state != DONE or job.arrangement is None:
                raise BadRequest(f"job {job_id!r} has no finished arrangement ({job.state})")
            notes = job.arrangement.notes
            job.session = self._live().play(playable(notes), from_seconds)
            return job.session

    def stop(self) -> None:
        if self._player is not None:
            self._player.stop()

    def open_live(self) -> None:
        """Open the live MIDI port now (so a DAW can route it before the first job); raises MidiUnavailable."""
        self._live()

    @property
    def composers(self) -> list[str]:
        return self.engine.info.composers

    def shutdown(self, timeout: float = 30.0) -> None:
        """Refuse new jobs, cancel queued and running ones, silence and close the live port."""
        with self._cond:
            self._closing = True
            while self._queue:
                job = self._queue.popleft()
                job.cancel.set()
                self._finish(job, CANCELLED, JobCancelled(job.id))
            if self._running is not None:
                self._running.cancel.set()
            self._cond.notify_all()
        self._worker.join(timeout)
        self.engine.close()
        if self._player is not None:
            self._player.close()

    # -- worker -----------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    return
                job = self._queue.popleft()
                job.state = RUNNING
                self._running = job
            try:
                self._run(job)
            finally:
                with self._cond:
                    self._running = None

    def _run(self, job: Job) -> None:
        session: Session | None = None
        try:
            request = job.request
            if job.cancel.is_set():
                raise Cancelled("cancelled")
            composers = self.engine.ready().composers
            composer = request.composer or composers[0]  # the engine's first style is the default
            clip = ClipRequest(request.audio_path, request.start, request.duration, request.playrate,
                               request.tempo, composer)
            validate_request(clip, composers)
            info = probe(clip.path)
            first, last = resolve_range(info, clip.start, clip.duration)
            self._check_limits(clip.path, (last - first) / info.sample_rate)
            grid = grid_for(request.grid_bpm, request.grid_offset, request.beats_file, first / info.sample_rate,
                            last / info.sample_rate)
            clip = dataclasses.replace(clip, grid=grid)
            out_dir = self._out_dir(request) if request.to_file else None
            if request.live:
                session = job.session = self._live().stream()
            arrangement = self._arrange(job, clip, session)
            if session is not None:
                session.finish()
            midi_path = notes_path = ""
            if out_dir is not None:
                name = OutputRequest(os.path.abspath(clip.path), composer, clip.start, clip.duration, clip.playrate,
                                     clip.tempo, engine=self.engine.info.key,
                                     grid=f"{grid.source}:{grid.key}" if grid is not None else "")
                midi_path, notes_path = write_result(arrangement, out_dir, name, label="out_dir")
            job.arrangement, job.midi_path, job.notes_path = arrangement, midi_path, notes_path
            self._finish(job, DONE, JobDone(job.id, midi_path, notes_path, len(playable(arrangement.notes))))
        except Cancelled:
            self._silence(session)
            self._finish(job, CANCELLED, JobCancelled(job.id))
        except BridgeError as exc:
            self._silence(session)
            if job.cancel.is_set():  # it was asked to stop: whatever stopped it, it ends cancelled
                self._finish(job, CANCELLED, JobCancelled(job.id))
            else:
                self._finish(job, ERROR, JobFailed(job.id, exc.code, exc.message))
        except Exception as exc:  # never let one request take the daemon down
            log.exception("job %s failed", job.id)
            self._silence(session)
            self._finish(job, ERROR, JobFailed(job.id, "internal", f"{type(exc).__name__}: {exc}"))

    def _arrange(self, job: Job, clip: ClipRequest, session: Session | None) -> Arrangement:
        digest = self._hasher.digest(clip.path)
        grid = clip.grid.key if clip.grid is not None else None
        base = (digest, clip.start, clip.duration, clip.playrate, clip.composer, self.engine.info.key, grid)

        def progress(p: Progress) -> None:
            job.fraction = p.fraction
            self._emit(job.target, JobProgress(job.id, p.fraction, p.stage))

        # Beats from a tracker do not depend on the session tempo; a fallback grid does (its
        # arrangement says so with its ``grid_bpm``).
        cached = self._results.get((*base, None)) or self._results.get((*base, grid_tempo(clip.tempo, clip.playrate)))
        if cached is not None:
            progress(Progress(1.0, "cached"))
            if session is not None:
                session.add(playable(cached.notes))
            return _retarget(cached, clip)

        def on_chunk(chunk: ChunkNotes) -> None:
            if session is not None:
                session.add(chunk.notes, chunk.horizon)

        arrangement = self.engine.convert(clip, digest, progress, job.cancel, on_chunk if session else None)
        self._results.put((*base, arrangement.grid_bpm), arrangement)
        return arrangement

    # -- helpers ----------------------------------------------------------------------
    def _check_limits(self, path: str, seconds: float) -> None:
        size = os.path.getsize(path)
        if size > self.limits.max_file_bytes:
            raise BadRequest(f"the audio file is {size / 1e6:.0f} MB; this bridge accepts up to "
                             f"{self.limits.max_file_bytes / 1e6:.0f} MB (serve --max-file-mb)")
        if seconds > self.limits.max_seconds:
            raise BadRequest(f"the clip is {seconds / 60:.1f} minutes; this bridge accepts up to "
                             f"{self.limits.max_seconds / 60:.1f} (serve --max-minutes)")

    def _out_dir(self, request: JobRequest) -> str:
        if request.out_dir:
            folder = os.path.abspath(request.out_dir)
            if not os.path.isdir(folder):
                raise NotFound(f"out_dir does not exist or is not a folder: {folder}")
        else:
            folder = os.path.join(os.path.dirname(os.path.abspath(request.audio_path)), DEFAULT_FOLDER)
            try:
                os.makedirs(folder, exist_ok=True)
            except OSError as exc:
                raise BadRequest(f"cannot create {folder}: {exc.strerror}") from None
        if not os.access(folder, os.W_OK):
            raise BadRequest(f"out_dir is not writable: {folder}")
        return folder

    def _live(self) -> Player:
        if self._player is None or not self._player.healthy():
            if self._live_factory is None:
                raise MidiUnavailable("live MIDI output is not enabled in this bridge")
            if self._player is not None:
                # Its backend is gone: closing or freeing its client crashes libjack, so stop
                # the player's thread and keep the port object alive, unclosed.
                self._player.abandon()
                self._dead_players.append(self._player)
                self._player = None
            self._player = self._live_factory()
        return self._player

    def _silence(self, session: Session | None) -> None:
        if session is not None and session.active and self._player is not None:
            self._player.stop()

    def _finish(self, job: Job, state: str, event: JobEvent) -> None:
        job.state = state  # before the event goes out: a client may act on it at once
        if state == DONE:
            job.fraction = 1.0
        self._emit(job.target, event)
        for target in job.cancel_targets:  # whoever asked to cancel learns how the job ended
            self._emit(target, event)

    def _emit(self, target: Any, event: JobEvent) -> None:
        try:
            self._listener.on_event(event, target)
        except Exception:  # an event that cannot be delivered must not end the job
            log.exception("could not deliver %s", type(event).__name__)

    def _forget_old(self) -> None:
        finished = [k for k, j in self._jobs.items() if j.state not in ACTIVE]
        for key in finished[: max(0, len(finished) - self.keep_finished)]:
            del self._jobs[key]


def _retarget(cached: Arrangement, clip: ClipRequest) -> Arrangement:
    """A cached arrangement for this request's path and session tempo."""
    return dataclasses.replace(
        cached,
        source=os.path.abspath(clip.path),
        tempo=clip.tempo or cached.detected_tempo,
        tempo_source="session" if clip.tempo else "detected",
    )
