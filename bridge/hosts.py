"""The DAWs the bridge serves, and how their scripts get into each one's user folder.

One :class:`Host` per DAW says where its scripts live in this package, what the installed
folder is called and where the DAW looks for it on each OS. The Lua DAWs (REAPER, Ardour) share one
core (``daw_scripts/lua``: settings, the ``send --request`` protocol, note times, messages), copied
into each one's ``pop2piano/`` folder beside its own host module. ``install`` copies the scripts and
writes ``pop2piano-bridge.json`` beside them: the absolute command that runs this bridge (a
DAW started from the Dock or Start menu does not see the shell's PATH), the port and the
secret. The scripts read that file (docs/daw-compat.md). A file the producer changed since
the last install is never replaced silently.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sys
import sysconfig
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge import __version__
from bridge.errors import BadRequest, NotFound
from bridge.protocol import DEFAULT_LISTEN_PORT, DEFAULT_PORT

log = logging.getLogger(__name__)

CONFIG_NAME = "pop2piano-bridge.json"
CONFIG_SCHEMA = "pop2piano-bridge/daw-config"
CONFIG_VERSION = 1
SCRIPTS = Path(__file__).resolve().parent / "daw_scripts"
# The Lua core REAPER and Ardour share, installed as pop2piano/core.lua and pop2piano/json.lua.
SHARED_LUA = SCRIPTS / "lua"
# Files in the script folders that are for developers, not for the DAW.
_NOT_INSTALLED = ("make_index.py", "index.xml", "__pycache__")

Locator = Callable[[str, Mapping[str, str], Path], "Path | None"]


def _reaper_scripts(platform: str, env: Mapping[str, str], home: Path) -> Path | None:
    """REAPER's resource path + ``Scripts`` (REAPER: Options → Show REAPER resource path)."""
    if platform == "win32":
        base = env.get("APPDATA")
        return Path(base) / "REAPER" / "Scripts" if base else None
    if platform == "darwin":
        return home / "Library" / "Application Support" / "REAPER" / "Scripts"
    return home / ".config" / "REAPER" / "Scripts"


def _ardour_scripts(platform: str, env: Mapping[str, str], home: Path) -> Path | None:
    """Ardour 7's user scripts folder: ``user_config_directory()/scripts`` (libs/ardour/filesystem_paths.cc,
    7.3): ``$XDG_CONFIG_HOME/ardour7`` or ``~/.config/ardour7`` on Linux, ``~/Library/Preferences/Ardour7``
    on macOS, ``%LOCALAPPDATA%\\Ardour7`` on Windows. Ardour lists the scripts there (not in subfolders) in
    its Script Manager."""
    if platform == "win32":
        base = env.get("XDG_CONFIG_HOME") or env.get("LOCALAPPDATA")
        return Path(base) / "Ardour7" / "scripts" if base else None
    if platform == "darwin":
        return home / "Library" / "Preferences" / "Ardour7" / "scripts"
    base = env.get("XDG_CONFIG_HOME") or str(home / ".config")
    return Path(base) / "ardour7" / "scripts"


def _live_remote_scripts(platform: str, env: Mapping[str, str], home: Path) -> Path | None:
    """The default User Library's ``Remote Scripts`` (Live 11/12 load control surfaces from there)."""
    if platform == "win32":
        profile = env.get("USERPROFILE")
        return Path(profile) / "Documents" / "Ableton" / "User Library" / "Remote Scripts" if profile else None
    if platform == "darwin":
        return home / "Music" / "Ableton" / "User Library" / "Remote Scripts"
    return None  # Live does not run on Linux: use --path


@dataclass(frozen=True)
class Host:
    """A DAW: where its scripts are here, what the installed folder is called ("": the DAW's folder
    itself), where the DAW looks, and the shared files that go with them (source folder → installed
    subfolder)."""

    name: str
    title: str
    source: Path
    folder: str
    locate: Locator
    where: str  # how a producer finds that folder in the DAW, for messages
    next_steps: str
    shared: tuple[tuple[Path, str], ...] = ()

    def default_parent(self, platform: str | None = None, env: Mapping[str, str] | None = None,
                       home: Path | None = None) -> Path | None:
        return self.locate(platform or sys.platform, os.environ if env is None else env, home or Path.home())


HOSTS: dict[str, Host] = {
    host.name: host
    for host in (
        Host("reaper", "REAPER", SCRIPTS / "reaper", "Pop2Piano", _reaper_scripts,
             "REAPER: Options → Show REAPER resource path, then its Scripts folder",
             "In REAPER: Actions → Show action list → New action → Load ReaScript…, select every "
             "'Pop2Piano - …' .lua file in {folder} (or subscribe with ReaPack).",
             shared=((SHARED_LUA, "pop2piano"),)),
        Host("ardour", "Ardour", SCRIPTS / "ardour", "", _ardour_scripts,
             "Ardour: its user scripts folder is the scripts folder of its configuration folder "
             "(~/.config/ardour7/scripts on Linux)",
             "In Ardour (once per action): Edit → Lua Scripts → Script Manager → Action Scripts, select an "
             "unset slot, Add/Set, pick 'Pop2Piano - Convert selected regions to piano' (and the one with "
             "'(choose composer)' in another slot). Then select audio regions and press the slot's button "
             "in the toolbar (or bind a key to it).",
             shared=((SHARED_LUA, "pop2piano"),)),
        Host("ableton", "Ableton Live", SCRIPTS / "ableton" / "Pop2PianoBridge", "Pop2PianoBridge",
             _live_remote_scripts,
             "Live: Settings → Library → Location of User Library, then its Remote Scripts folder",
             "Restart Live, then Settings → Link, Tempo & MIDI → Control Surface: Pop2PianoBridge."),
    )
}


def bridge_command() -> list[str]:
    """The absolute command that runs this bridge's CLI, for scripts that have no PATH.

    The console script beside this Python (``pop2piano-bridge``; on Windows the window-less
    ``pop2piano-bridgew.exe``, so a DAW's background job opens no console), else
    ``python -m bridge`` with this very interpreter.
    """
    scripts = Path(sysconfig.get_path("scripts"))
    name = "pop2piano-bridgew.exe" if os.name == "nt" else "pop2piano-bridge"
    candidate = scripts / name
    if candidate.is_file():
        return [str(candidate)]
    return [os.path.abspath(sys.executable), "-m", "bridge"]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def package_files(host: Host) -> dict[str, Path]:
    """Relative path (``/``-separated) → file in this package, for everything the DAW needs: the host's
    own scripts, then the shared ones in their subfolder."""
    files = {}
    for source, subfolder in ((host.source, ""), *host.shared):
        for path in sorted(source.rglob("*")):
            rel = path.relative_to(source)
            if path.is_file() and not any(part in _NOT_INSTALLED for part in rel.parts) and path.suffix != ".pyc":
                name = f"{subfolder}/{rel.as_posix()}" if subfolder else rel.as_posix()
                if name in files:
                    raise RuntimeError(f"{host.title}: {name} is both a host script and a shared one")
                files[name] = path
    return files


@dataclass
class InstallReport:
    """What ``install`` did, for the CLI to print."""

    folder: Path
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    backups: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)


def read_config(folder: Path) -> dict[str, Any] | None:
    """The installed ``pop2piano-bridge.json`` of a script folder; None when absent or unreadable."""
    try:
        doc = json.loads((folder / CONFIG_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("schema") == CONFIG_SCHEMA else None


def install(host: Host, parent: Path | None = None, *, port: int = DEFAULT_PORT, secret: str = "",
            listen_port: int = DEFAULT_LISTEN_PORT, command: list[str] | None = None, force: bool = False) -> InstallReport:
    """Copy the host's scripts into ``parent/<folder>`` and write the config beside them.

    A file there that this bridge did not write, or that was changed since (its hash differs
    from the last install's record), is not replaced unless ``force``; then a ``.bak`` copy
    of it is kept.
    """
    if parent is None:
        parent = host.default_parent()
        if parent is None:
            raise BadRequest(f"{host.title} has no default script folder on this system: pass --path DIR")
        if not parent.parent.is_dir():
            raise NotFound(f"{host.title}'s folder {parent.parent} does not exist (has {host.title} run once on "
                           f"this computer?); pass --path DIR ({host.where})")
    folder = parent / host.folder
    old = read_config(folder) or {}
    recorded: dict[str, str] = old.get("files", {}) if isinstance(old.get("files"), dict) else {}
    files = package_files(host)
    conflicts = [rel for rel in files if (folder / rel).is_file() and recorded.get(rel) != _digest(folder / rel)
                 and _digest(folder / rel) != _digest(files[rel])]
    if conflicts and not force:
        raise BadRequest(f"{len(conflicts)} file(s) in {folder} were changed since they were installed, or were not "
                         f"installed by the bridge ({', '.join(conflicts[:3])}); pass --force to replace them "
                         "(a .bak copy of each is kept)")
    report = InstallReport(folder)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for rel, source in files.items():
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_file() and _digest(target) == _digest(source):
            report.unchanged.append(rel)
            continue
        if rel in conflicts:
            backup = target.with_name(f"{target.name}.{stamp}.bak")
            shutil.copy2(target, backup)
            report.backups.append(str(backup))
        shutil.copyfile(source, target)
        report.written.append(rel)
    for rel, digest in recorded.items():  # left over from an older version, and untouched since
        stale = folder / rel
        if rel not in files and stale.is_file() and _digest(stale) == digest:
            stale.unlink()
            report.removed.append(rel)
    report.config = {
        "schema": CONFIG_SCHEMA,
        "schema_version": CONFIG_VERSION,
        "bridge_version": __version__,
        "command": command or bridge_command(),
        "host": "127.0.0.1",
        "port": port,
        "secret": secret,
        "listen_port": listen_port,
        "files": {rel: _digest(path) for rel, path in files.items()},
    }
    _write_private(folder / CONFIG_NAME, json.dumps(report.config, indent=1) + "\n")
    return report


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` readable by the user only (it may hold the secret), replacing atomically."""
    tmp = path.with_name(f".{path.name}.part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


@dataclass(frozen=True)
class InstalledState:
    """What ``doctor`` reports for one DAW."""

    host: Host
    folder: Path | None
    installed: bool
    current: bool = False
    modified: tuple[str, ...] = ()
    version: str = ""
    command_ok: bool = False
    detail: str = ""


def installed_state(host: Host, parent: Path | None = None) -> InstalledState:
    """Whether the scripts are in the DAW's folder, as this version has them, and can run the bridge."""
    parent = parent or host.default_parent()
    if parent is None:
        return InstalledState(host, None, False, detail="no default folder on this system")
    folder = parent / host.folder
    config = read_config(folder)
    if config is None:
        return InstalledState(host, folder, False, detail=f"not installed in {folder}")
    files = package_files(host)
    recorded = config.get("files", {}) if isinstance(config.get("files"), dict) else {}
    modified = tuple(rel for rel, digest in recorded.items() if (folder / rel).is_file()
                     and _digest(folder / rel) != digest)
    current = config.get("bridge_version") == __version__ and all(
        (folder / rel).is_file() and _digest(folder / rel) == _digest(path) for rel, path in files.items())
    command = config.get("command") or []
    command_ok = bool(command) and isinstance(command[0], str) and (
        os.path.isfile(command[0]) or shutil.which(command[0]) is not None)
    return InstalledState(host, folder, True, current, modified, str(config.get("bridge_version", "")), command_ok)
