"""The command line, run as a real subprocess: outputs, JSON schema, and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jsonschema
import numpy as np
import mido
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCHEMA = json.load(open(os.path.join(ROOT, "docs", "notes.schema.json"), encoding="utf-8"))


def run(*args, env=None, timeout=300, umask=-1):
    full_env = {**os.environ, "HF_HUB_DISABLE_PROGRESS_BARS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "bridge", *args], capture_output=True, text=True,
                          timeout=timeout, env=full_env, cwd=ROOT, umask=umask)


def _assert_one_line_error(result, *words):
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("pop2piano-bridge: error: ")
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0]


@pytest.fixture(scope="module")
def converted(model_dir, song_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "take 1.mid"
    result = run("convert", song_path, "-o", str(out), "--model", model_dir, "--composer", "composer7",
                 "--start", "1.5", "--duration", "8", "--playrate", "1.25", "--tempo", "100")
    assert result.returncode == 0, result.stderr
    return out, result


def test_convert_writes_midi_and_notes_json(converted):
    out, result = converted
    notes_path = str(out)[:-4] + ".notes.json"
    assert os.path.exists(out) and os.path.exists(notes_path)
    doc = json.load(open(notes_path, encoding="utf-8"))
    jsonschema.validate(doc, SCHEMA)
    assert doc["composer"] == "composer7" and doc["tempo"] == 100 and doc["tempo_source"] == "session"
    assert doc["source"] == {"path": doc["source"]["path"], "start": 1.5, "duration": 8.0, "playrate": 1.25}
    assert doc["length"] == pytest.approx(8.0 / 1.25)
    assert doc["note_count"] == len(doc["notes"]) > 0
    assert doc["model"]["revision"].startswith("sha256:")
    assert str(out) in result.stdout
    # the MIDI file holds the same notes at the same times (within 1 ms)
    midi = mido.MidiFile(str(out))
    assert midi.tracks[0][1].type == "time_signature" or any(m.type == "set_tempo" for m in midi.tracks[0])
    now, starts = 0.0, []
    for msg in midi:
        now += msg.time
        if msg.type == "note_on" and msg.velocity:
            starts.append((msg.note, now))
    want = sorted((n["pitch"], n["start"]) for n in doc["notes"])
    got = sorted(starts)
    assert len(got) == len(want)
    assert max(abs(a[1] - b[1]) for a, b in zip(got, want)) < 1e-3
    # the notes stay inside the clip as heard in the DAW
    assert all(0 <= n["start"] < doc["length"] + 3 for n in doc["notes"])


def test_no_progress_bar_when_not_a_terminal(converted):
    _out, result = converted
    assert "%" not in result.stderr


def test_missing_file(tmp_path, model_dir):
    _assert_one_line_error(run("convert", str(tmp_path / "nope.wav"), "-o", str(tmp_path / "o.mid"),
                               "--model", model_dir), "not found")


def test_not_audio(tmp_path, model_dir):
    bogus = tmp_path / "notes.wav"
    bogus.write_text("this is not audio")
    _assert_one_line_error(run("convert", str(bogus), "-o", str(tmp_path / "o.mid"), "--model", model_dir),
                           "not a readable audio file")


def test_range_outside_the_file(tmp_path, song_path, model_dir):
    _assert_one_line_error(run("convert", song_path, "-o", str(tmp_path / "o.mid"), "--model", model_dir,
                               "--start", "10", "--duration", "5"), "past the end")
    assert not list(tmp_path.iterdir())


def test_unknown_composer(tmp_path, song_path, model_dir):
    _assert_one_line_error(run("convert", song_path, "-o", str(tmp_path / "o.mid"), "--model", model_dir,
                               "--composer", "mozart"), "unknown composer 'mozart'", "composer21")
    assert not list(tmp_path.iterdir())


def test_model_not_available_offline(tmp_path, song_path):
    result = run("convert", song_path, "-o", str(tmp_path / "o.mid"), "--model", "nobody/no-such-pop2piano",
                 env={"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")})
    _assert_one_line_error(result, "not available", "HF_HUB_OFFLINE", "--model DIR")


def test_model_folder_incomplete(tmp_path, song_path):
    (tmp_path / "weights").mkdir()
    _assert_one_line_error(run("convert", song_path, "-o", str(tmp_path / "o.mid"), "--model",
                               str(tmp_path / "weights")), "incomplete")


def test_doctor_reports_packages_model_and_midi(model_dir):
    result = run("doctor", "--model", model_dir)
    assert "transformers" in result.stdout and "torch" in result.stdout
    assert f"local folder {model_dir}" in result.stdout
    assert "midi api" in result.stdout
    assert "beat tracker" in result.stdout


def test_doctor_says_what_to_do_when_model_is_missing(tmp_path):
    result = run("doctor", "--model", "nobody/no-such-pop2piano",
                 env={"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")})
    assert result.returncode == 1
    assert "huggingface-cli download nobody/no-such-pop2piano" in result.stdout


def test_convert_never_replaces_a_file_it_did_not_write(tmp_path, song_path, model_dir):
    out = tmp_path / "take.mid"
    out.write_bytes(b"the producer's own MIDI")
    convert = ("convert", song_path, "-o", str(out), "--model", model_dir, "--duration", "4")
    _assert_one_line_error(run(*convert), str(out), "not written by the bridge", "--overwrite")
    assert out.read_bytes() == b"the producer's own MIDI" and sorted(os.listdir(tmp_path)) == ["take.mid"]
    assert run(*convert, "--overwrite").returncode == 0
    assert out.read_bytes().startswith(b"MThd")
    assert run(*convert).returncode == 0  # its own unchanged result: replaced without asking
    with open(out, "ab") as handle:  # edited since: the producer's again
        handle.write(b"edit")
    edited = out.read_bytes()
    _assert_one_line_error(run(*convert), "changed since", "--overwrite")
    assert out.read_bytes() == edited
    notes = tmp_path / "take.notes.json"  # the JSON beside it counts as much as the MIDI file
    (tmp_path / "other.notes.json").write_text("{}")
    _assert_one_line_error(run("convert", song_path, "-o", str(tmp_path / "other.mid"), "--model", model_dir),
                           "other.notes.json", "--overwrite")
    assert (tmp_path / "other.notes.json").read_text() == "{}" and notes.exists()
    assert not (tmp_path / "other.mid").exists()


def test_convert_never_writes_through_a_symlink(tmp_path, song_path, model_dir):
    target = tmp_path / "real.mid"
    target.write_bytes(b"what the link points to")
    link = tmp_path / "link.mid"
    os.symlink(target, link)
    for extra in ((), ("--overwrite",)):
        _assert_one_line_error(run("convert", song_path, "-o", str(link), "--model", model_dir, *extra),
                               "symbolic link")
    assert os.path.islink(link) and target.read_bytes() == b"what the link points to"


# 027 tells every earlier behaviour apart: mkstemp's fixed 0600 and a fixed 0644 alike.
@pytest.mark.parametrize("umask, mode", [(0o027, 0o640)])
def test_output_files_follow_the_umask(tmp_path, song_path, model_dir, umask, mode):
    out = tmp_path / "take.mid"
    result = run("convert", song_path, "-o", str(out), "--model", model_dir, "--duration", "4", umask=umask)
    assert result.returncode == 0, result.stderr
    for path in (out, tmp_path / "take.notes.json"):
        assert os.stat(path).st_mode & 0o777 == mode, (path, oct(os.stat(path).st_mode))


def test_convert_on_the_sessions_grid(tmp_path, song_path, model_dir):
    out = tmp_path / "grid.mid"
    result = run("convert", song_path, "-o", str(out), "--model", model_dir, "--duration", "6", "--grid-bpm", "120",
                 "--grid-offset", "0.02")
    assert result.returncode == 0, result.stderr
    doc = json.load(open(tmp_path / "grid.notes.json", encoding="utf-8"))
    jsonschema.validate(doc, SCHEMA)
    assert doc["beat_source"] == "session_grid" and doc["midi"]["tempo_map"] is True
    assert doc["beats"][0] == pytest.approx(0.02) and np.allclose(np.diff(doc["beats"]), 0.5)
    _assert_one_line_error(run("convert", song_path, "-o", str(tmp_path / "x.mid"), "--model", model_dir,
                               "--grid-offset", "1"), "--grid-offset needs --grid-bpm")
    beats = tmp_path / "beats.json"
    beats.write_text("[3, 2, 1]", encoding="utf-8")
    _assert_one_line_error(run("convert", song_path, "-o", str(tmp_path / "y.mid"), "--model", model_dir,
                               "--beats", str(beats)), "increase")


def test_convert_an_audition_writes_one_file_pair_per_style(tmp_path, song_path, model_dir):
    out = tmp_path / "take.mid"
    result = run("convert", song_path, "-o", str(out), "--model", model_dir, "--duration", "5",
                 "--composer", "composer2,composer5")
    assert result.returncode == 0, result.stderr
    for composer in ("composer2", "composer5"):
        doc = json.load(open(tmp_path / f"take - {composer}.notes.json", encoding="utf-8"))
        assert doc["composer"] == composer and (tmp_path / f"take - {composer}.mid").exists()
    assert not out.exists() and [line.split("\t")[-1] for line in result.stdout.splitlines()] == ["composer2",
                                                                                                "composer5"]
