"""Shared fixtures: a tiny random Pop2Piano in the hub layout, synthetic audio, a warm converter."""

from __future__ import annotations

import logging
import os
import sys

# One compute thread per process, here and in every bridge process the tests start (they inherit
# the environment): the suite runs on every core at once (pytest-xdist), and OpenMP threads that
# spin-wait for each other across processes made a 3-second conversion take 50 (measured).
for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import pytest  # noqa: E402
import soundfile as sf  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))

import audio_fixtures  # noqa: E402
import tiny_model  # noqa: E402

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
logging.getLogger("transformers").setLevel(logging.ERROR)

SR = 44100


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> str:
    """Mixed rows: some end with EOS, some run to max_length."""
    return tiny_model.build(str(tmp_path_factory.mktemp("tiny-pop2piano")))


@pytest.fixture(scope="session")
def forced_eos_model_dir(tmp_path_factory) -> str:
    """Every row ends with EOS: the case the stock batch_decode handles."""
    return tiny_model.build(str(tmp_path_factory.mktemp("tiny-forced-eos")), forced_eos=True, eos_scale=1.0)


@pytest.fixture(scope="session")
def song_path(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("audio") / "song.wav"
    sf.write(str(path), audio_fixtures.chord_song(12.0, SR), SR)
    return str(path)


@pytest.fixture(scope="session")
def converter(model_dir):
    from bridge.engine.converter import Converter

    return Converter(model_dir, device="cpu")


@pytest.fixture(scope="session")
def reference_converter(model_dir):
    """The engine in "reference" mode: the transformers port's semantics, note for note."""
    from bridge.engine.converter import Converter

    return Converter(model_dir, device="cpu", recipe="reference")


@pytest.fixture(scope="session")
def jack():
    """A private JACK server (dummy driver) for live-MIDI tests; skips with the reason if none starts."""
    from processes import Jack

    server = Jack()
    if not server.start():
        pytest.skip(f"live MIDI tests need JACK: {server.reason}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def shared_daemon(model_dir):
    """One plain bridge daemon (file output, queue of 2) for every test module that needs nothing
    special of it: each daemon start loads torch and the model in a new process (~5 s)."""
    from processes import Daemon

    server = Daemon(model_dir, "--no-live", "--queue", "2").start()
    yield server
    assert server.stop() == 0


@pytest.fixture(scope="session")
def long_song_path(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("audio-long") / "long song.wav"
    sf.write(str(path), audio_fixtures.chord_song(60.0, SR), SR)
    return str(path)


# The longest test files, longest first (seconds of test time each, measured 2026-11-29 with four
# workers on two cores: 185, 177, 112, 97, 73, 60, 59, 55, 54, 52, 52, 51, 43). pytest-xdist hands out
# whole files (--dist loadfile) in collection order, so a long file collected last ends the run alone;
# started first, the short files fill the other workers around it.
LONGEST_FIRST = (
    "reliability/test_wedged_and_bounded.py", "daw_scripts/reaper/test_reaper.py", "test_cli.py",
    "reliability/test_faults.py", "reliability/test_disk_and_ownership.py", "daemon/test_send.py",
    "jobs/test_inference.py", "output/test_live.py", "daemon/test_daemon.py", "reliability/test_reply_loops.py",
    "daw_scripts/ableton/test_ableton.py", "reliability/test_hostile_input.py", "daw_scripts/ardour/test_ardour.py",
)


def pytest_collection_modifyitems(config, items) -> None:
    here = os.path.dirname(os.path.abspath(__file__))

    def rank(item) -> int:
        name = os.path.relpath(str(item.path), here).replace(os.sep, "/")
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the order within a file, and of the other files, is kept
