"""The inference process contract: what ProcessEngine promises the job manager, with a real child
process and the tiny model (LocalEngine is the same engine in this process)."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time

import pytest

from bridge.engine.types import ClipRequest
from bridge.errors import BridgeError, Cancelled, ModelUnavailable
from bridge.jobs.cache import ContentHasher
from bridge.jobs.inference import EngineSettings, LocalEngine, ProcessEngine


@pytest.fixture(scope="module")
def child(model_dir):
    engine = ProcessEngine(EngineSettings(model_dir, device="cpu"))
    yield engine
    engine.close()


def _run(engine, clip, cancel=None, chunks=None):
    progress = []
    arrangement = engine.convert(clip, ContentHasher().digest(clip.path), progress.append,
                                 cancel or threading.Event(), chunks.append if chunks is not None else None)
    return arrangement, progress


def test_the_child_converts_like_the_engine_in_this_process(child, converter, song_path):
    clip = ClipRequest(song_path, duration=6.0, composer="composer4")
    assert child.ready().composers == [f"composer{i}" for i in range(1, 22)]
    here, _ = _run(LocalEngine(converter), clip)
    chunks: list = []
    there, progress = _run(child, clip, chunks=chunks)
    assert here.notes, "no notes: the comparison would prove nothing"
    assert there.notes == here.notes  # the same code and model on the same machine: the same arithmetic
    fractions = [p.fraction for p in progress]
    assert fractions == sorted(fractions) and progress[-1].stage == "done"
    assert sorted((n for c in chunks for n in c.notes), key=lambda n: (n.start, n.pitch, n.end)) == there.notes


def test_cancel_ends_a_job_in_the_child_and_the_child_serves_the_next(child, long_song_path, song_path):
    cancel = threading.Event()
    threading.Timer(1.0, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        _run(child, ClipRequest(long_song_path, composer="composer5"), cancel=cancel)
    assert time.monotonic() - started < 1.0 + 2.0
    assert _run(child, ClipRequest(song_path, duration=4.0, composer="composer5"))[0].chunks > 0


def test_a_killed_child_fails_its_job_and_is_restarted(child, long_song_path, song_path):
    cancel = threading.Event()
    pid = child._proc.pid
    threading.Timer(1.0, lambda: os.kill(pid, signal.SIGKILL)).start()
    with pytest.raises(BridgeError, match="died"):
        _run(child, ClipRequest(long_song_path, composer="composer6"), cancel=cancel)
    assert _run(child, ClipRequest(song_path, duration=4.0, composer="composer6"))[0].chunks > 0
    assert child._proc.pid != pid


def test_a_missing_model_is_reported_and_loaded_once_it_is_there(model_dir, tmp_path):
    folder = tmp_path / "weights later"
    engine = ProcessEngine(EngineSettings(str(folder), device="cpu"), require_model=False)
    try:
        with pytest.raises(ModelUnavailable, match="not found"):
            engine.info
        with pytest.raises(ModelUnavailable):
            engine.ready()
        shutil.copytree(model_dir, folder)
        assert engine.ready().composers[0] == "composer1"
    finally:
        engine.close()
