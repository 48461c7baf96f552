"""The job core on its own: a real in-process engine (tiny model), a listener that records events.

No sockets and no protocol: this is what the OSC daemon, or any other frontend, builds on.
A gate around the real engine holds a job at its start so queue order, ``busy`` and cancel of
queued and running jobs can be tested deterministically.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from typing import Any

import audio_fixtures
import pytest
import soundfile as sf
from processes import RecordingPort

from bridge.engine.types import Arrangement, ClipRequest
from bridge.errors import BadRequest, Busy, Cancelled, DuplicateId, NotFound
from bridge.jobs.api import (
    JobAccepted, JobCancelled, JobDone, JobEvent, JobFailed, JobProgress, JobRequest, JobStyleDone,
)
from bridge.jobs.inference import EngineInfo, LocalEngine
from bridge.jobs.manager import JobManager
from bridge.output.live import Player

SR = 44100


class Recorder:
    """A JobListener that keeps every event with its target."""

    def __init__(self) -> None:
        self.events: list[tuple[JobEvent, Any]] = []
        self._cond = threading.Condition()

    def on_event(self, event: JobEvent, target: Any) -> None:
        with self._cond:
            self.events.append((event, target))
            self._cond.notify_all()

    def of(self, job_id: str) -> list[JobEvent]:
        with self._cond:
            return [e for e, _t in self.events if e.job_id == job_id]

    def wait_for(self, predicate, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                assert left > 0, self.events[-5:]
                self._cond.wait(left)

    def final(self, job_id: str, timeout: float = 120.0) -> JobEvent:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                finals = [e for e, _t in self.events
                          if e.job_id == job_id and isinstance(e, (JobDone, JobFailed, JobCancelled))]
                if finals:
                    return finals[0]
                left = deadline - time.monotonic()
                assert left > 0, f"no final event for {job_id}: {self.of(job_id)}"
                self._cond.wait(left)


class GatedEngine:
    """The real LocalEngine, but each conversion waits at its start until the test opens its gate."""

    def __init__(self, engine: LocalEngine) -> None:
        self.engine = engine
        self.started: list[str] = []  # clip paths + composer, in the order conversions began
        self.gates: dict[str, threading.Event] = {}
        self.styles_started: list[list[str]] = []  # the composers of each audition, as they began
        self.closed = False

    @property
    def info(self) -> EngineInfo:
        return self.engine.info

    def ready(self) -> EngineInfo:
        return self.engine.ready()

    def gate(self, composer: str) -> threading.Event:
        return self.gates.setdefault(composer, threading.Event())

    def convert(self, clip: ClipRequest, digest: str, progress: Any, cancel: threading.Event,
                on_chunk: Any) -> Arrangement:
        self.started.append(clip.composer)
        gate = self.gate(clip.composer)
        while not gate.wait(0.02):
            if cancel.is_set():
                raise Cancelled("cancelled while held at the gate")
        return self.engine.convert(clip, digest, progress, cancel, on_chunk)

    def convert_styles(self, clip: ClipRequest, digest: str, composers: list[str], progress: Any,
                       cancel: threading.Event, on_style: Any) -> list[Arrangement]:
        self.styles_started.append(list(composers))
        return self.engine.convert_styles(clip, digest, composers, progress, cancel, on_style)

    def close(self) -> None:
        self.closed = True


@pytest.fixture(scope="module")
def local(converter) -> LocalEngine:
    return LocalEngine(converter)


@pytest.fixture()
def song(tmp_path) -> str:
    path = tmp_path / "song.wav"
    sf.write(str(path), audio_fixtures.chord_song(6.0, SR), SR)
    return str(path)


def make(engine, **kw) -> tuple[JobManager, Recorder]:
    recorder = Recorder()
    return JobManager(engine, recorder, **kw), recorder


def request(job_id: str, path: str, composer: str, out_dir: str, **kw) -> JobRequest:
    return JobRequest(job_id, path, composer, out_dir=out_dir, **kw)


def test_a_job_emits_accepted_progress_and_one_final_event_with_its_files(local, song, tmp_path):
    manager, recorder = make(local)
    try:
        manager.submit(request("a1", song, "composer2", str(tmp_path)), "client-1")
        final = recorder.final("a1")
        events = recorder.of("a1")
        assert isinstance(events[0], JobAccepted) and events[-1] is final and isinstance(final, JobDone)
        assert all(t == "client-1" for _e, t in recorder.events)
        fractions = [e.fraction for e in events if isinstance(e, JobProgress)]
        assert fractions and fractions == sorted(fractions)
        assert final.note_count > 0 and os.path.exists(final.midi_path) and os.path.exists(final.notes_path)
        assert manager.status("a1") == ("done", 1.0)
    finally:
        manager.shutdown()


def test_jobs_run_in_arrival_order_and_the_queue_is_bounded(local, song, tmp_path):
    engine = GatedEngine(local)
    manager, recorder = make(engine, max_queue=2)
    try:
        manager.submit(request("q1", song, "composer1", str(tmp_path)), "c")
        while not engine.started:  # q1 runs: it no longer counts as waiting
            time.sleep(0.01)
        for i in (2, 3):
            manager.submit(request(f"q{i}", song, f"composer{i}", str(tmp_path)), "c")
        assert manager.status("q1")[0] == "running" and manager.status("q3")[0] == "queued"
        with pytest.raises(Busy):
            manager.submit(request("q4", song, "composer4", str(tmp_path)), "c")
        with pytest.raises(DuplicateId):
            manager.submit(request("q2", song, "composer9", str(tmp_path)), "c")
        for i in (3, 1, 2):  # opening the gates out of order changes nothing: FIFO
            engine.gate(f"composer{i}").set()
        assert all(isinstance(recorder.final(f"q{i}"), JobDone) for i in (1, 2, 3))
        assert engine.started == ["composer1", "composer2", "composer3"]
        manager.submit(request("q2", song, "composer9", str(tmp_path)), "c")  # an ended job's id may be reused
        engine.gate("composer9").set()
        recorder.wait_for(lambda: sum(isinstance(e, JobDone) for e, _t in recorder.events if e.job_id == "q2") == 2)
    finally:
        manager.shutdown()


def test_queue_zero_runs_a_job_when_idle_and_refuses_one_while_busy(local, song, tmp_path):
    engine = GatedEngine(local)
    manager, recorder = make(engine, max_queue=0)
    try:
        manager.submit(request("z1", song, "composer5", str(tmp_path)), "c")
        with pytest.raises(Busy):
            manager.submit(request("z2", song, "composer6", str(tmp_path)), "c")
        engine.gate("composer5").set()
        assert isinstance(recorder.final("z1"), JobDone)
        manager.submit(request("z3", song, "composer6", str(tmp_path)), "c")  # idle again: accepted at once
        engine.gate("composer6").set()
        assert isinstance(recorder.final("z3"), JobDone)
    finally:
        manager.shutdown()


def test_cancel_a_queued_and_a_running_job_and_everyone_who_asked_hears_it(local, song, tmp_path):
    engine = GatedEngine(local)
    manager, recorder = make(engine)
    try:
        manager.submit(request("c1", song, "composer7", str(tmp_path)), "owner")
        manager.submit(request("c2", song, "composer8", str(tmp_path)), "owner")
        while not engine.started:
            time.sleep(0.01)
        manager.cancel("c2", "someone-else")  # queued: at once
        assert isinstance(recorder.final("c2"), JobCancelled)
        assert [t for e, t in recorder.events if isinstance(e, JobCancelled)] == ["owner", "someone-else"]
        manager.cancel("c1", "owner")  # running (held at the gate): at its next check
        assert isinstance(recorder.final("c1"), JobCancelled)
        assert manager.status("c1")[0] == "cancelled"
        with pytest.raises(BadRequest, match="already ended"):
            manager.cancel("c1")
        with pytest.raises(NotFound):
            manager.cancel("nobody")
        assert engine.started == ["composer7"]  # the cancelled queued job never started
    finally:
        manager.shutdown()


class CancelOnReturn(GatedEngine):
    """The real engine; as it returns its result, a cancel comes in (``cancel()`` is set by the test):
    the moment after the engine's last check for a cancel, while the manager still runs the job."""

    cancel_now: Any = None

    def convert(self, clip: ClipRequest, digest: str, progress: Any, cancel: threading.Event,
                on_chunk: Any) -> Arrangement:
        arrangement = self.engine.convert(clip, digest, progress, cancel, on_chunk)
        self.cancel_now()
        return arrangement


def test_a_cancel_after_the_engines_last_check_stops_the_live_playback_and_is_answered(local, song, tmp_path):
    """It used to be lost: the job went on to done, its playback went on, and the canceller heard
    nothing more (a daemon test caught it once: cancel sent as the first live note sounded)."""
    engine = CancelOnReturn(local)
    port = RecordingPort()
    manager, recorder = make(engine, live=lambda: Player(port))
    engine.cancel_now = lambda: manager.cancel("w1", "canceller")
    try:
        manager.submit(request("w1", song, "composer9", str(tmp_path), output="both"), "owner")
        assert isinstance(recorder.final("w1"), JobDone)  # the result is complete and written
        recorder.wait_for(lambda: any(isinstance(e, JobCancelled) for e in recorder.of("w1")), timeout=10)
        cancelled_to = [t for e, t in recorder.events if isinstance(e, JobCancelled)]
        assert cancelled_to == ["owner", "canceller"]
        assert manager._player is not None and manager._player.wait_idle(2)  # stopped, not playing 6 s
        assert any(m.type == "control_change" and m.control == 123 for _t, m in port.messages)  # all notes off
    finally:
        manager.shutdown()


def test_a_failing_request_ends_with_one_failed_event(local, tmp_path):
    manager, recorder = make(local)
    try:
        manager.submit(request("f1", str(tmp_path / "missing.wav"), "composer1", str(tmp_path)), "c")
        manager.submit(request("f2", str(tmp_path / "missing.wav"), "composer99", str(tmp_path)), "c")
        first, second = recorder.final("f1"), recorder.final("f2")
        assert isinstance(first, JobFailed) and first.code == "not_found"
        assert isinstance(second, JobFailed) and second.code == "unknown_composer"
        assert [type(e) for e in recorder.of("f1")] == [JobAccepted, JobFailed]
    finally:
        manager.shutdown()


def test_results_are_cached_by_content_and_another_composer_reuses_the_analysis(local, tmp_path):
    song = str(tmp_path / "other song.wav")  # audio no other test used: nothing cached yet
    sf.write(song, audio_fixtures.chord_song(6.0, SR, bpm=104.0, seed=5), SR)
    counting = GatedEngine(local)
    manager, recorder = make(counting)
    for composer in ("composer10", "composer11"):
        counting.gate(composer).set()
    try:
        def stages(job_id: str) -> list[str]:
            recorder.final(job_id)
            return [e.stage for e in recorder.of(job_id) if isinstance(e, JobProgress)]

        manager.submit(request("k1", song, "composer10", str(tmp_path)), "c")
        assert "reading" in stages("k1")
        manager.submit(request("k2", song, "composer10", str(tmp_path)), "c")
        assert stages("k2") == ["cached"]
        manager.submit(request("k3", song, "composer11", str(tmp_path)), "c")
        third = stages("k3")
        assert "generating" in third and "reading" not in third  # analysis cached in the engine
        copy = tmp_path / "copy of song.wav"
        shutil.copyfile(song, copy)  # same content elsewhere: the same result, from the cache
        manager.submit(request("k4", str(copy), "composer10", str(tmp_path)), "c")
        assert stages("k4") == ["cached"]
        assert counting.started == ["composer10", "composer11"]
    finally:
        manager.shutdown()


def test_shutdown_cancels_queued_and_running_jobs_and_closes_the_engine(local, song, tmp_path):
    engine = GatedEngine(local)
    manager, recorder = make(engine)
    manager.submit(request("s1", song, "composer12", str(tmp_path)), "c")
    manager.submit(request("s2", song, "composer13", str(tmp_path)), "c")
    while not engine.started:
        time.sleep(0.01)
    started = time.monotonic()
    manager.shutdown()
    assert time.monotonic() - started < 5
    assert isinstance(recorder.final("s1", 1), JobCancelled) and isinstance(recorder.final("s2", 1), JobCancelled)
    assert engine.closed
    with pytest.raises(Busy, match="shutting down"):
        manager.submit(request("s3", song, "composer1", str(tmp_path)), "c")


def test_an_audition_reuses_cached_styles_and_announces_each_in_order(local, tmp_path):
    song = str(tmp_path / "audition.wav")
    sf.write(song, audio_fixtures.chord_song(6.0, SR, bpm=112.0, seed=7), SR)
    counting = GatedEngine(local)
    for composer in ("composer4", "composer6", "composer8"):
        counting.gate(composer).set()
    manager, recorder = make(counting)
    try:
        manager.submit(request("au1", song, "composer6", str(tmp_path)), "c")
        assert isinstance(recorder.final("au1"), JobDone)
        manager.submit(JobRequest("au2", song, styles=("composer4", "composer6", "composer8"), out_dir=str(tmp_path)),
                       "c")
        final = recorder.final("au2")
        styles = [e for e in recorder.of("au2") if isinstance(e, JobStyleDone)]
        assert [s.composer for s in styles] == ["composer6", "composer4", "composer8"]  # the cached one first
        assert isinstance(final, JobDone) and final.note_count == 3 and (final.midi_path, final.notes_path) == ("", "")
        assert all(os.path.exists(s.notes_path) for s in styles)
        assert counting.started == ["composer6"]  # the audition generated the other two together, not one by one
        assert counting.styles_started == [["composer4", "composer8"]]
    finally:
        manager.shutdown()
