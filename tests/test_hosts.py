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


def test_install_ardour_puts_the_actions_in_ardours_scripts_folder_and_the_core_beside_them(tmp_path):
    # Ardour lists the .lua files of $XDG_CONFIG_HOME/ardour7/scripts (not its subfolders) in the
    # Script Manager: the two actions go there, their library and the shared core in pop2piano/.
    config = tmp_path / "xdg"
    (config / "ardour7").mkdir(parents=True)
    env = {"HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(config)}
    result = run("install", "ardour", env=env)
    assert result.returncode == 0, result.stderr
    scripts = config / "ardour7" / "scripts"
    out = result.stdout.decode()
    assert f"Ardour: installed into {scripts} " in out and "Script Manager" in out and "Add/Set" in out
    assert sorted(p.name for p in scripts.glob("*.lua")) == [
        "Pop2Piano - Convert selected regions to piano (choose composer).lua",
        "Pop2Piano - Convert selected regions to piano.lua"]
    assert sorted(p.name for p in (scripts / "pop2piano").iterdir()) == ["ardour.lua", "core.lua", "json.lua"]
    assert (scripts / "pop2piano" / "core.lua").read_bytes() == (
        Path(ROOT) / "bridge" / "daw_scripts" / "lua" / "core.lua").read_bytes()
    assert json.loads((scripts / CONFIG_NAME).read_text(encoding="utf-8"))["port"] == 9310
    doctor = run("doctor", "--model", str(tmp_path / "none"), env=env).stdout.decode()
    assert "Ardour scripts" in doctor and "installed and current" in doctor
    # a producer's own scripts and remembered choices in that folder are never touched
    (scripts / "my script.lua").write_text("-- mine\n", encoding="utf-8")
    (scripts / "pop2piano-choices.json").write_text('{"composer": "composer3"}', encoding="utf-8")
    assert run("install", "ardour", env=env).returncode == 0
    assert (scripts / "my script.lua").read_text(encoding="utf-8") == "-- mine\n"
    assert json.loads((scripts / "pop2piano-choices.json").read_text(encoding="utf-8")) == {"composer": "composer3"}
    # another Ardour (a version folder of its own): --path
    other = tmp_path / "ardour8 scripts"
    assert run("install", "ardour", "--path", str(other), env=env).returncode == 0
    assert (other / "pop2piano" / "ardour.lua").is_file() and (other / CONFIG_NAME).is_file()
    missing = run("install", "ardour", env={"HOME": str(tmp_path / "nobody"), "XDG_CONFIG_HOME": ""})
    assert missing.returncode == 1 and b"has Ardour run once" in missing.stderr


@pytest.mark.parametrize(("platform", "env", "expected"), [
    ("linux", {}, "/home/p/.config/ardour7/scripts"),
    ("linux", {"XDG_CONFIG_HOME": "/x/cfg"}, "/x/cfg/ardour7/scripts"),
    ("darwin", {}, "/home/p/Library/Preferences/Ardour7/scripts"),
    ("win32", {"LOCALAPPDATA": "C:/Users/p/AppData/Local"}, "C:/Users/p/AppData/Local/Ardour7/scripts"),
])
def test_ardours_scripts_folder_follows_its_user_config_directory(platform, env, expected):
    # libs/ardour/filesystem_paths.cc (7.3), user_config_directory()
    assert HOSTS["ardour"].default_parent(platform, env, Path("/home/p")) == Path(expected)
