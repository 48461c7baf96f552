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
from collections.abc import Callable, Hashable
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
    JobStyleDone,
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
    styles: dict[str, Arrangement] = field(default_factory=dict)  # an audition's results, by composer
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

    def play(self, job_id: str, from_seconds: float = 0.0, composer: str | None = None) -> Session:
        """Play a finished job on the live port (one style of an audition: ``composer``, default its first)."""
        with self._cond:
            job = self._jobs.get(job_id)
            if job is None:
                raise NotFound(f"no job {job_id!r}")
            if job.state != DONE or job.arrangement is None:
                raise BadRequest(f"job {job_id!r} has no finished arrangement ({job.state})")
            arrangement = job.arrangement
            if composer is not None and composer != arrangement.composer:
                if composer not in job.styles:
                    raise BadRequest(f"job {job_id!r} has no {composer!r} style; it has "
                                     f"{', '.join(job.styles) or arrangement.composer}")
                arrangement = job.styles[composer]
            job.session = self._live().play(playable(arrangement.notes), from_seconds)
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
            if job.cancel.is_set():
                raise Cancelled("cancelled")
            clip, composers = self._clip(job.request)
            out_dir = self._out_dir(job.request) if job.request.to_file else None
            if job.request.audition:
                self._audition(job, clip, composers, out_dir)
                self._finish(job, DONE, JobDone(job.id, "", "", len(job.styles)))
                return
            if job.request.live:
                session = job.session = self._live().stream()
            arrangement = self._arrange(job, clip, session)
            if session is not None:
                session.finish()
            midi_path, notes_path = self._write(clip, arrangement, out_dir) if out_dir is not None else ("", "")
            job.arrangement, job.midi_path, job.notes_path = arrangement, midi_path, notes_path
            self._complete(job, JobDone(job.id, midi_path, notes_path, len(playable(arrangement.notes))), session)
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

    def _clip(self, request: JobRequest) -> tuple[ClipRequest, list[str]]:
        """The request as the engine's clip (checked, its grid built), and the composers it asks for."""
        known = self.engine.ready().composers
        composers = (list(known) if request.all_styles else list(request.styles) if request.styles
                     else [request.composer or known[0]])  # the engine's first style is the default
        clip = ClipRequest(request.audio_path, request.start, request.duration, request.playrate, request.tempo,
                           composers[0])
        for composer in composers:
            validate_request(dataclasses.replace(clip, composer=composer), known)
        info = probe(clip.path)
        first, last = resolve_range(info, clip.start, clip.duration)
        self._check_limits(clip.path, (last - first) / info.sample_rate)
        grid = grid_for(request.grid_bpm, request.grid_offset, request.beats_file, first / info.sample_rate,
                        last / info.sample_rate)
        return dataclasses.replace(clip, grid=grid), composers

    def _write(self, clip: ClipRequest, arrangement: Arrangement, out_dir: str) -> tuple[str, str]:
        """The arrangement's MIDI file and notes JSON in ``out_dir``, named for its request."""
        grid = clip.grid
        name = OutputRequest(os.path.abspath(clip.path), arrangement.composer, clip.start, clip.duration,
                             clip.playrate, clip.tempo, engine=self.engine.info.key,
                             grid=f"{grid.source}:{grid.key}" if grid is not None else "")
        return write_result(arrangement, out_dir, name, label="out_dir")

    def _audition(self, job: Job, clip: ClipRequest, composers: list[str], out_dir: str | None) -> None:
        """Every asked style of the clip: cached ones at once, the rest generated together; each is written
        and announced (JobStyleDone) as soon as it is complete, and cached as if converted alone."""
        digest = self._hasher.digest(clip.path)

        def finished(arrangement: Arrangement) -> None:
            self._results.put(self._result_key(digest, clip, arrangement.composer, arrangement.grid_bpm), arrangement)
            midi_path, notes_path = self._write(clip, arrangement, out_dir) if out_dir is not None else ("", "")
            job.styles[arrangement.composer] = arrangement
            job.arrangement = job.arrangement or arrangement
            self._emit(job.target, JobStyleDone(job.id, arrangement.composer, midi_path, notes_path,
                                                len(playable(arrangement.notes))))

        missing = []
        for composer in composers:
            cached = self._cached(digest, dataclasses.replace(clip, composer=composer))
            if cached is not None:
                finished(cached)
            else:
                missing.append(composer)
        progress = self._progress(job)
        if not missing:
            progress(Progress(1.0, "cached"))
            return
        self.engine.convert_styles(clip, digest, missing, progress, job.cancel, finished)
        job.styles = {composer: job.styles[composer] for composer in composers}  # the order asked for
        job.arrangement = job.styles[composers[0]]

    def _arrange(self, job: Job, clip: ClipRequest, session: Session | None) -> Arrangement:
        digest = self._hasher.digest(clip.path)
        progress = self._progress(job)
        cached = self._cached(digest, clip)
        if cached is not None:
            progress(Progress(1.0, "cached"))
            if session is not None:
                session.add(playable(cached.notes))
            return cached

        def on_chunk(chunk: ChunkNotes) -> None:
            if session is not None:
                session.add(chunk.notes, chunk.horizon)

        arrangement = self.engine.convert(clip, digest, progress, job.cancel, on_chunk if session else None)
        self._results.put(self._result_key(digest, clip, clip.composer, arrangement.grid_bpm), arrangement)
        return arrangement

    def _progress(self, job: Job) -> Callable[[Progress], None]:
        def progress(p: Progress) -> None:
            job.fraction = p.fraction
            self._emit(job.target, JobProgress(job.id, p.fraction, p.stage))

        return progress

    def _result_key(self, digest: str, clip: ClipRequest, composer: str, grid_bpm: float | None) -> Hashable:
        grid = clip.grid.key if clip.grid is not None else None
        return (digest, clip.start, clip.duration, clip.playrate, composer, self.engine.info.key, grid, grid_bpm)

    def _cached(self, digest: str, clip: ClipRequest) -> Arrangement | None:
        """A cached result for this clip and composer, retargeted to this request's path and tempo.

        Beats from a tracker do not depend on the session tempo; a fallback grid does (its
        arrangement says so with its ``grid_bpm``).
        """
        for grid_bpm in (None, grid_tempo(clip.tempo, clip.playrate)):
            cached = self._results.get(self._result_key(digest, clip, clip.composer, grid_bpm))
            if cached is not None:
                return _retarget(cached, clip)
        return None

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

    def _complete(self, job: Job, event: JobDone, session: Session | None) -> None:
        """The job is done; a cancel that came after the engine's last check for one (while the files
        were written or the last notes handed over) is not lost: it is handled as a cancel after done,
        its live playback stopped and cancelled sent to whoever the job answers. Under the lock
        :meth:`cancel` takes, so a cancel is either before this (and handled here) or after (and
        finds the job done)."""
        with self._cond:
            self._finish(job, DONE, event)
            if job.cancel.is_set() and session is not None and session.active and self._player is not None:
                self._player.stop()
                for target in dict.fromkeys([job.target, *job.cancel_targets]):
                    self._emit(target, JobCancelled(job.id))

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
