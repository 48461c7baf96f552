"""The Ardour scripts in the real Ardour 7 (Debian's ``ardour``), under Xvfb, against the real bridge.

No fake host: Ardour itself loads a session, embeds a generated WAV as a region at a known position
with a start offset, runs the installed Pop2Piano actions from their action slots (triggered through
Ardour's own OSC surface, as a key binding would), shows its own dialogs (the test clicks OK), saves
and quits; then ``ardour7-lua`` reopens the saved session and the notes are compared with the
bridge's notes JSON, through the session's tempo map (120 BPM, then 90 BPM from 4 s: the region
3 s – 9 s spans the change). One Ardour start serves every check here (about 40 s in all).

What a producer does by hand once, the test does before Ardour starts: install the scripts
(``bridge.hosts.install``, as ``pop2piano-bridge install ardour``) and assign them to action slots
(``ui_slots.lua`` writes what the Script Manager stores). See ``ardour_gui.py`` for how Ardour runs
with nobody at the keyboard.
"""

from __future__ import annotations

import json
import re
import socket
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from ardour_gui import HERE, JSON_LUA, ArdourGui, missing, run_lua, wait_until

import audio_fixtures
from bridge.engine.grid import off_grid
from bridge.hosts import HOSTS, install

pytestmark = pytest.mark.skipif(bool(missing()), reason=missing() or "-")

RATE = 48000
POSITION, START, LENGTH = 3.0, 1.0, 6.0  # the audio region: at 3 s, playing the file from 1 s, for 6 s
TPB = 1920  # Temporal::ticks_per_beat
# An awkward file name: spaces, quotes, $, non-ASCII (it travels through sh and JSON).
WAV_NAME = "Zoë's \"demo\" $HOME song.wav"
CONVERT, CHOOSE, SETUP, INSPECT, SETUP_LONG = (f"LuaAction/script-{n}" for n in (1, 2, 3, 4, 5))
LONG_POSITION, LONG_LENGTH = 12.0, 50.0  # a second, long region (its own file): converting it takes a while


def session_ticks(seconds: float) -> float:
    """Quarter-note ticks at a session time, from the test session's tempo map (build_session.lua),
    worked out here independently of Ardour."""
    if seconds <= 4.0:
        return seconds * 2 * TPB  # 120 BPM: 2 quarters a second
    return 8 * TPB + (seconds - 4.0) * 1.5 * TPB  # then 90 BPM


def free_udp_port() -> int:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


class Run:
    """Everything one Ardour run produced, for the tests below."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.inspections: dict[str, dict] = {}
        self.saved: dict = {}
        self.log = ""
        self.choices: dict = {}
        self.cache_files: list[str] = []
        self.timings: dict[str, float] = {}
        self.bad_command_log = ""


def notes_documents(log: str) -> list[dict]:
    """The notes JSON of each conversion, in order, from the paths the scripts logged."""
    return [json.loads(Path(path).read_text(encoding="utf-8"))
            for path in re.findall(r"\(notes: (.+\.notes\.json)\)", log)]


@pytest.fixture(scope="module")
def run(tmp_path_factory, shared_daemon) -> Run:
    t0 = time.monotonic()
    work = tmp_path_factory.mktemp("ardour")
    result = Run(work)
    wav, long_wav = work / WAV_NAME, work / "long.wav"
    sf.write(str(wav), audio_fixtures.chord_song(10.0, RATE), RATE)
    sf.write(str(long_wav), audio_fixtures.chord_song(LONG_LENGTH, RATE, seed=2), RATE)
    gui = ArdourGui(work, work / "sess", "sess", free_udp_port())
    run_lua("build_session.lua", str(gui.session_dir), gui.session_name)
    gui.enable_osc_in_session()
    gui.write_user_config()
    # as `pop2piano-bridge install ardour --path <config>/ardour7/scripts --port <the bridge's>`
    install(HOSTS["ardour"], gui.scripts, port=shared_daemon.port, command=[sys.executable, "-m", "bridge"])
    ci_log, inspected = work / "harness.log", work / "inspect.json"
    common = {"log": str(ci_log), "json": JSON_LUA}
    gui.assign_slots([
        {"slot": 1, "script": str(gui.scripts / "Pop2Piano - Convert selected regions to piano.lua")},
        {"slot": 2, "script": str(gui.scripts / "Pop2Piano - Convert selected regions to piano (choose composer).lua")},
        {"slot": 3, "script": str(HERE / "ci_action.lua"),
         "args": {**common, "mode": "setup", "wav": str(wav), "position": str(POSITION), "start": str(START),
                  "length": str(LENGTH)}},
        {"slot": 4, "script": str(HERE / "ci_action.lua"), "args": {**common, "mode": "inspect", "out": str(inspected)}},
        {"slot": 5, "script": str(HERE / "ci_action.lua"),
         "args": {**common, "mode": "setup", "wav": str(long_wav), "position": str(LONG_POSITION), "start": "0",
                  "length": str(LONG_LENGTH)}},
    ])
    scripts_log = gui.cache_home / "ardour7" / "pop2piano.log"
    result.timings["prepared"] = time.monotonic() - t0

    def harness(mode: str, action: str) -> None:
        """Run a harness action until it reports done (setup is sent again: the editor may still be
        coming up; it is idempotent)."""
        done = (ci_log.read_text() if ci_log.exists() else "").count(f"{mode} done") + 1

        def finished():
            text = ci_log.read_text() if ci_log.exists() else ""
            if text.count(f"{mode} done") >= done:
                return True
            if mode == "setup":
                gui.action(action)
            return False

        gui.action(action)
        wait_until(f"the harness action ({mode})", finished, 60, interval=1.0,
                   on_fail=lambda: "\n" + (ci_log.read_text() if ci_log.exists() else "(no harness log)"))

    def inspect(tag: str) -> None:
        harness("inspect", INSPECT)
        result.inspections[tag] = json.loads(inspected.read_text(encoding="utf-8"))

    def conversion(action: str, count: int, dialog: bool = False) -> None:
        gui.action(action)
        if dialog:
            window = wait_until("the choose-composer dialog", lambda: gui.windows("^Pop2Piano: choose composer$"), 60,
                                on_fail=lambda: "\n" + scripts_log.read_text())
            time.sleep(0.5)  # let it draw before clicking OK
            gui.click_bottom_right_button(window[0])
        wait_until(f"conversion {count} to finish", lambda: scripts_log.exists()
                   and scripts_log.read_text().count("finished:") >= count, 120, interval=0.2,
                   on_fail=lambda: "\n" + (scripts_log.read_text() if scripts_log.exists() else "(no log)") + gui.tail())

    try:
        gui.start()
        result.timings["ardour up"] = time.monotonic() - t0
        harness("setup", SETUP)
        conversion(CONVERT, 1)
        result.timings["converted"] = time.monotonic() - t0
        inspect("converted")
        gui.action("Editor/undo")
        time.sleep(0.7)
        inspect("undone")
        gui.action("Editor/redo")
        time.sleep(0.7)
        inspect("redone")
        # Undo/redo cleared the selection: select the region again, then choose composer2 and the
        # session's tempo map. The dialog offers the remembered choices; the test clicks OK.
        harness("setup", SETUP)
        (gui.scripts / "pop2piano-choices.json").write_text(json.dumps({"composer": "composer2", "grid": "project"}))
        conversion(CHOOSE, 2, dialog=True)
        result.timings["chose and converted"] = time.monotonic() - t0
        # Cancel in Ardour's progress window as soon as it shows: before the bridge even has the job,
        # so the script must hold the cancel back until the job is accepted (a cancel that arrives
        # first is answered not_found and the job runs on). Nothing is added.
        harness("setup", SETUP_LONG)
        gui.action(CONVERT)
        progress = wait_until("the progress window", lambda: gui.windows("^Pop2Piano$"), 30)

        def cancel_pressed():
            # The window grows once its text is set, moving the button: give it a moment, and click
            # again (at the button's new place) while the script has not seen the press.
            if "Cancel pressed" in scripts_log.read_text():
                return True
            time.sleep(0.3)
            if gui.windows("^Pop2Piano$") == progress:
                gui.click_bottom_right_button(progress[0])  # its only button: Cancel
            return False

        wait_until("Cancel to be pressed", cancel_pressed, 10, interval=0.3, on_fail=lambda: "\n" + scripts_log.read_text())
        wait_until("the cancelled run to finish", lambda: scripts_log.read_text().count("finished:") >= 3, 30,
                   on_fail=lambda: "\n" + scripts_log.read_text())
        inspect("cancelled")
        harness("setup", SETUP)
        # A bridge command that does not exist: Ardour's own error dialog, nothing added.
        config_path = gui.scripts / "pop2piano-bridge.json"
        config = json.loads(config_path.read_text(encoding="utf-8"))
        config_path.write_text(json.dumps({**config, "command": [str(work / "no such bridge")]}), encoding="utf-8")
        gui.action(CONVERT)
        wait_until("the error message", lambda: "could not be started" in scripts_log.read_text(), 30,
                   on_fail=lambda: "\n" + scripts_log.read_text())
        error_box = wait_until("Ardour's error dialog", lambda: gui.windows("^Pop2Piano$"), 30)
        time.sleep(0.3)
        gui.click_bottom_right_button(error_box[0])
        wait_until("the error dialog to close", lambda: not gui.windows("^Pop2Piano$"), 30)
        config_path.write_text(json.dumps(config), encoding="utf-8")
        inspect("after the error")
        result.log = scripts_log.read_text(encoding="utf-8")
        result.choices = json.loads((gui.scripts / "pop2piano-choices.json").read_text(encoding="utf-8"))
        gui.save_and_quit()
        result.timings["saved"] = time.monotonic() - t0
    except BaseException:
        gui.screenshot(work / "failure.png")
        raise
    finally:
        gui.stop()
    result.cache_files = sorted(p.name for p in (gui.cache_home / "ardour7").iterdir() if p.name.startswith("pop2piano"))
    run_lua("read_session.lua", str(gui.session_dir), gui.session_name, str(work / "saved.json"))
    result.saved = json.loads((work / "saved.json").read_text(encoding="utf-8"))
    result.timings["read back"] = time.monotonic() - t0
    print("timings:", {k: round(v, 1) for k, v in result.timings.items()})
    return result


def regions(dump: dict, kind: str) -> list[tuple[dict, dict]]:
    return [(t, r) for t in dump["tracks"] for r in t["regions"] if r["kind"] == kind]


def song(dump: dict) -> tuple[dict, dict]:
    """The track and region of the embedded song (not the long file of the Cancel check)."""
    [(track, region)] = [(t, r) for t, r in regions(dump, "audio") if r["source"].endswith(WAV_NAME)]
    return track, region


def piano_track(dump: dict, composer: str) -> dict:
    [track] = [t for t in dump["tracks"] if t["name"].endswith(f" - {composer} (piano)")]
    return track


def expected_notes(document: dict) -> list[tuple[int, float, float, int]]:
    """(pitch, on, off, velocity) in session seconds, cut at the region's end, as the DAW plays them."""
    return sorted((n["pitch"], POSITION + n["start"], POSITION + min(n["end"], LENGTH), n["velocity"])
                  for n in document["notes"] if n["start"] < LENGTH)


def test_the_notes_land_where_the_bridge_put_them_in_the_saved_session(run):
    doc = notes_documents(run.log)[0]
    assert doc["source"]["start"] == pytest.approx(START) and doc["source"]["duration"] == pytest.approx(LENGTH)
    assert doc["source"]["path"].endswith(WAV_NAME) and doc["tempo"] == pytest.approx(120.0)
    track = piano_track(run.saved, doc["composer"])
    audio_track, audio = song(run.saved)
    [region] = track["regions"]
    assert (region["position"], region["length"]) == (audio["position"], audio["length"]) == (POSITION * RATE,
                                                                                              LENGTH * RATE)
    expected = expected_notes(doc)
    actual = sorted(region["notes"], key=lambda n: (n["pitch"], n["on_ticks"]))
    assert len(expected) > 3 and len(actual) == len(expected)
    for (pitch, on, off, velocity), got in zip(expected, actual):
        assert (got["pitch"], got["velocity"]) == (pitch, velocity)
        # Within one tick of the tempo map as worked out here...
        assert abs(got["on_ticks"] - session_ticks(on)) <= 1 and abs(got["off_ticks"] - session_ticks(off)) <= 1, \
            (on, off, got)
        # ...and, read back through Ardour's own tempo map, within one tick's time (at 90 BPM the longer).
        one_tick = RATE * 60 / (90 * TPB)
        assert abs(got["on_sample"] - on * RATE) <= one_tick and abs(got["off_sample"] - off * RATE) <= one_tick
    assert any(on > 4.0 for _, on, _, _ in expected), "some notes lie after the tempo change"


def test_the_producers_session_keeps_everything_else(run):
    dump = run.saved
    audio_track, audio = song(dump)
    assert audio["source"].endswith(WAV_NAME)  # embedded: the file where it is
    assert (audio["position"], audio["start"], audio["length"]) == (POSITION * RATE, START * RATE, LENGTH * RATE)
    names = [t["name"] for t in sorted(dump["tracks"], key=lambda t: t["order"])]
    # the new tracks sit right under the audio track (the newest first); the long file's track
    # (embedded after them) got nothing: its conversion was cancelled
    assert names == [audio_track["name"], f"{audio_track['name']} - composer2 (piano)",
                     f"{audio_track['name']} - composer1 (piano)", "long"]
    assert [len(t["regions"]) for t in dump["tracks"]] == [1, 1, 1, 1]
    # the piano tracks sound at once: Ardour's own fallback synth for MIDI audition (ardour-lv2-plugins)
    assert [t.get("instrument") for t in sorted(dump["tracks"], key=lambda t: t["order"])] == [
        None, "ACE Reasonable Synth", "ACE Reasonable Synth", None]
    # the failed and the cancelled runs added nothing
    assert run.inspections["after the error"]["tracks"] == run.inspections["cancelled"]["tracks"]
    assert len(run.inspections["after the error"]["tracks"]) == 4
    # the producer's selection is still the audio region (Ardour selects the tracks it adds)
    assert run.inspections["converted"]["selected"] == [audio["name"]]
    assert run.inspections["after the error"]["selected"] == [audio["name"]]
    # the tempo map is as it was: the region's start still reads as 6 quarter notes
    assert audio["position_ticks"] == session_ticks(POSITION)


def test_one_undo_takes_the_visible_result_away_and_redo_brings_it_back(run):
    converted, undone, redone = (run.inspections[k] for k in ("converted", "undone", "redone"))
    [(_, before)] = regions(converted, "midi")
    assert regions(undone, "midi") == []
    assert [t["name"] for t in undone["tracks"]] == [t["name"] for t in converted["tracks"]]  # tracks are not undone
    assert regions(undone, "audio") == regions(converted, "audio")
    [(_, after)] = regions(redone, "midi")
    assert after == before


def test_choose_composer_and_the_sessions_tempo_map_as_the_grid(run):
    first, second = notes_documents(run.log)
    assert second["composer"] == "composer2" and second["beat_source"] == "beats_file"
    assert first["beat_source"] == "tracked"
    assert run.choices == {"composer": "composer2", "grid": "project"}
    region = piano_track(run.saved, "composer2")["regions"][0]
    expected = expected_notes(second)
    assert len(region["notes"]) == len(expected) > 0
    # Every note starts on the session's grid: a half of one of its quarter notes (960 ticks), to the
    # tick, through the tempo change. And in seconds, as the bridge wrote them.
    assert all(min(n["on_ticks"] % 960, 960 - n["on_ticks"] % 960) <= 1 for n in region["notes"]), region["notes"]
    quarters = [q / 2 for q in range(0, 12)] + [4.0 + q / 1.5 for q in range(1, 12)]  # session seconds
    onsets = np.array([on - POSITION for _, on, _, _ in expected])
    assert off_grid(onsets, np.array(quarters) - POSITION).max() < 1e-3


def test_cancel_in_the_progress_window_stops_the_job_and_adds_nothing(run):
    assert re.search(r"long: converting .*\n(.*\n)*.*Cancel pressed\n(.*\n)*.*cancel sent for ardour-", run.log), run.log
    assert "long: cancelled (the bridge confirmed it)" in run.log
    assert "finished: 0 of 1 regions converted (cancelled)" in run.log
    assert [t["name"] for t in run.inspections["cancelled"]["tracks"]][-1] == "long"


def test_errors_are_shown_in_ardours_way(run):
    assert "It was not found." in run.log and "pop2piano-bridge install ardour" in run.log
    assert run.log.count("finished:") == 4 and run.log.rstrip().splitlines()[-2].endswith(
        "finished: 0 of 1 regions converted")


def test_the_scripts_leave_no_files_behind(run):
    assert run.cache_files == ["pop2piano.log"]
    results = sorted(p.name for p in (run.work / "sess" / "Pop2Piano").iterdir() if not p.name.startswith("."))
    assert len(results) == 4 and sum(name.endswith(".notes.json") for name in results) == 2

