"""REAPER scripts: luacheck, Lua unit tests, and the real action against a real bridge on a fake host."""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from processes import ROOT, Daemon

LUA = shutil.which("lua5.4")
pytestmark = pytest.mark.skipif(not LUA, reason="needs lua5.4 (Debian package lua5.4)")
BRIDGE = f"{sys.executable} -m bridge"


@pytest.mark.skipif(not shutil.which("luacheck"), reason="needs luacheck (Debian package lua-check)")
def test_luacheck_is_clean():
    result = subprocess.run(["luacheck", "-q", "bridge/daw_scripts/reaper", "tests/lua"], cwd=ROOT, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout


def test_lua_unit_tests():
    result = subprocess.run([LUA, "tests/lua/test_core.lua"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 failures" in result.stdout


@pytest.fixture(scope="module")
def daemon(model_dir):
    server = Daemon(model_dir, "--no-live").start()
    yield server
    server.stop()


def run_action(port, audio, project, action="convert"):
    result = subprocess.run([LUA, "tests/lua/e2e_reaper.lua", str(port), audio, str(project), BRIDGE, action],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = [line.split("\t") for line in result.stdout.splitlines()]
    return lines, result.stderr


def test_convert_action_inserts_aligned_notes_on_a_new_track(daemon, song_path, tmp_path):
    lines, log = run_action(daemon.port, song_path, tmp_path)
    tracks = [l[2] for l in lines if l[0] == "TRACK"]
    assert tracks == ["Vocals", "Take 1 - composer1 (piano)", "Bass"]
    items = [l for l in lines if l[0] == "ITEM"]
    assert items == [["ITEM", "2", "10.000000000", "6.400000000"]]
    assert [l[1] for l in lines if l[0] == "UNDO"] == ["Pop2Piano: Take 1 - composer1 (piano)"]
    notes_files = glob.glob(str(tmp_path / "Pop2Piano" / "*.notes.json"))
    assert len(notes_files) == 1 and re.fullmatch(
        r"song\.wav - composer1 - 1\.50s\+8\.00s - x1\.25 - 97bpm - [0-9a-f]{12}\.notes\.json",
        os.path.basename(notes_files[0])), notes_files
    doc = json.load(open(notes_files[0], encoding="utf-8"))
    assert doc["source"]["start"] == 1.5 and doc["source"]["playrate"] == 1.25 and doc["tempo"] == 97
    expected = sorted((n["pitch"], 10.0 + n["start"], 10.0 + min(n["end"], 6.4), n["velocity"])
                      for n in doc["notes"] if n["start"] < 6.4)
    inserted = sorted((int(l[1]), float(l[2]), float(l[3]), int(l[4])) for l in lines if l[0] == "NOTE")
    assert len(inserted) == len(expected) > 0
    for got, want in zip(inserted, expected):
        assert got[0] == want[0] and got[3] == want[3]
        assert abs(got[1] - want[1]) < 1e-6 and abs(got[2] - want[2]) < 1e-6
    assert "/pop2piano/convert" in log and "composer1" in log


def test_choose_composer_action_asks_and_remembers(daemon, song_path, tmp_path):
    lines, _log = run_action(daemon.port, song_path, tmp_path, "choose")
    assert [l[2] for l in lines if l[0] == "TRACK"][1] == "Take 1 - composer5 (piano)"


def test_not_running_bridge_is_reported_with_how_to_start_it(song_path, tmp_path):
    import socket

    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    free_port = probe.getsockname()[1]
    probe.close()
    lines, _log = run_action(free_port, song_path, tmp_path)
    messages = [l[1] for l in lines if l[0] == "MESSAGE"]
    assert len(messages) == 1 and "not running" in messages[0] and "pop2piano-bridge serve" in messages[0]
    assert [l[2] for l in lines if l[0] == "TRACK"] == ["Vocals", "Bass"]


def test_reapack_index_lists_every_script_and_module():
    import xml.etree.ElementTree as ET

    tree = ET.parse(os.path.join(ROOT, "bridge", "daw_scripts", "reaper", "index.xml"))
    files = {s.get("file"): s.get("main") for s in tree.iter("source")}
    folder = os.path.join(ROOT, "bridge", "daw_scripts", "reaper")
    on_disk = {n for n in os.listdir(folder) if n.endswith(".lua")}
    on_disk |= {f"pop2piano/{n}" for n in os.listdir(os.path.join(folder, "pop2piano")) if n.endswith(".lua")}
    assert set(files) == on_disk
    assert all(files[name] == "main" for name in on_disk if "/" not in name)
    from bridge import __version__

    assert [v.get("name") for v in tree.iter("version")] == [__version__]
