"""`pop2piano-bridge install <daw>` and `doctor`: the DAW scripts copied into each DAW's user folder with a
config that says how to run this bridge, and never over a file the producer changed."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from processes import ROOT

from bridge.hosts import CONFIG_NAME, HOSTS, install, installed_state, package_files


def run(*args, env=None, timeout=120):
    full_env = {**os.environ, "HF_HUB_DISABLE_PROGRESS_BARS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "bridge", *args], capture_output=True, timeout=timeout,
                          env=full_env, cwd=ROOT)


@pytest.mark.parametrize("daw", sorted(HOSTS))
def test_install_copies_the_scripts_and_records_how_to_run_the_bridge(daw, tmp_path):
    host = HOSTS[daw]
    report = install(host, tmp_path, port=9411, secret="s3cret!", listen_port=9412)
    folder = tmp_path / host.folder
    assert report.folder == folder and sorted(report.written) == sorted(package_files(host))
    for rel, source in package_files(host).items():
        assert (folder / rel).read_bytes() == source.read_bytes()
    assert not list(folder.rglob("make_index.py")) and not list(folder.rglob("index.xml"))
    config = json.loads((folder / CONFIG_NAME).read_text(encoding="utf-8"))
    assert config["schema"] == "pop2piano-bridge/daw-config" and config["port"] == 9411
    assert config["secret"] == "s3cret!" and config["listen_port"] == 9412
    assert os.path.isabs(config["command"][0]) and os.path.exists(config["command"][0])
    assert stat.S_IMODE(os.stat(folder / CONFIG_NAME).st_mode) == 0o600  # it holds the secret
    # the recorded command really runs this bridge, with no PATH at all (a DAW started from the Dock)
    version = subprocess.run([*config["command"], "--version"], capture_output=True, text=True, env={}, timeout=60)
    assert version.stdout.strip() == "pop2piano-bridge 0.1.0"
    state = installed_state(host, tmp_path)
    assert state.installed and state.current and state.command_ok and not state.modified


def test_reinstall_never_replaces_a_file_the_producer_changed(tmp_path):
    host = HOSTS["reaper"]
    install(host, tmp_path)
    again = install(host, tmp_path)
    assert again.written == [] and len(again.unchanged) == len(package_files(host))
    core = tmp_path / host.folder / "pop2piano" / "core.lua"
    core.write_text(core.read_text(encoding="utf-8") + "-- my tweak\n", encoding="utf-8")
    assert installed_state(host, tmp_path).modified == ("pop2piano/core.lua",)
    with pytest.raises(Exception, match="changed since they were installed"):
        install(host, tmp_path)
    assert core.read_text(encoding="utf-8").endswith("-- my tweak\n")
    forced = install(host, tmp_path, force=True)
    assert forced.written == ["pop2piano/core.lua"] and len(forced.backups) == 1
    assert Path(forced.backups[0]).read_text(encoding="utf-8").endswith("-- my tweak\n")


def test_install_into_a_folder_holding_someone_elses_files_refuses(tmp_path):
    host = HOSTS["ableton"]
    (tmp_path / host.folder).mkdir()
    (tmp_path / host.folder / "script.py").write_text("# another script\n", encoding="utf-8")
    with pytest.raises(Exception, match="not installed by the bridge"):
        install(host, tmp_path)


def test_install_cli_and_doctor_use_the_daws_default_folder(tmp_path):
    home = tmp_path / "home"
    (home / ".config" / "REAPER").mkdir(parents=True)
    env = {"HOME": str(home)}
    result = run("install", "reaper", env=env)
    assert result.returncode == 0, result.stderr
    assert str(home / ".config" / "REAPER" / "Scripts" / "Pop2Piano") in result.stdout.decode()
    doctor = run("doctor", "--model", str(tmp_path / "none"), env=env).stdout.decode()
    assert "REAPER scripts" in doctor and "installed and current" in doctor
    missing = run("install", "reaper", env={"HOME": str(tmp_path / "nobody")})
    assert missing.returncode == 1 and b"has REAPER run once" in missing.stderr
