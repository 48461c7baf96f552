"""The real Ardour 7 GUI under Xvfb, driven with no user at the keyboard.

What makes that possible (each checked with Debian's ardour 1:7.3.0; sources at the 7.3 tag):

- A user configuration of its own (``XDG_CONFIG_HOME``): ``.a7`` says Ardour ran before, so no
  welcome wizard (gtk2_ardour/new_user_wizard.cc, ``NewUserWizard::required``); ``config`` makes the
  Dummy backend (hidden by default: ``hide-dummy-backend``) the engine to start at once for an
  existing session, so no audio/MIDI dialog (startup_fsm.cc, ``try-autostart-engine``).
- The session is built headless first (``ardour7-lua``): a *new* session always asks for its audio
  set-up with the Dummy backend.
- Ardour's own OSC control surface, switched on in the session (a session's ``<ControlProtocols>``
  override the user's), answers ``/access_action "LuaAction/script-N"`` by running action slot N, as
  a key binding would (surfaces/osc/osc.cc, ``access_action``), and ``Editor/undo``, ``Common/Save``,
  ``Common/Quit`` the same way.
- The action slots are written into ``ui_scripts`` before Ardour starts (``ui_slots.lua``: what the
  Script Manager stores when a producer assigns a script once).

Everything Ardour starts runs in its own session (process group), which is killed at the end
whatever happened.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

from processes import ROOT

ARDOUR = shutil.which("ardour")
ARDOUR_LUA = shutil.which("ardour7-lua")
XVFB = shutil.which("Xvfb")
XDOTOOL = shutil.which("xdotool")
HERE = Path(ROOT) / "tests" / "daw_scripts" / "ardour"
JSON_LUA = str(Path(ROOT) / "bridge" / "daw_scripts" / "lua" / "json.lua")

# The state Ardour's audio/MIDI set-up saves for the Dummy backend (gtk2_ardour/engine_dialog.cc).
ENGINE_STATE = ('<State backend="None (Dummy)" driver="Normal Speed" device="Silence" input-device="" '
                'output-device="" sample-rate="48000" buffer-size="1024" n-periods="0" input-latency="0" '
                'output-latency="0" active="1" use-buffered-io="0" midi-option="" lru="1"/>')
OSC_ON = ('<Protocol name="Open Sound Control (OSC)" active="1" debugmode="0" address-only="1" remote-port="8000" '
          'banksize="0" striptypes="0" feedback="0" gainmode="0" send-page-size="0" plugin-page-size="0"/>')


def missing() -> str:
    """Why the real Ardour cannot run here ("" when it can)."""
    needed = {"ardour": ARDOUR, "ardour7-lua": ARDOUR_LUA, "Xvfb": XVFB, "xdotool": XDOTOOL}
    absent = [name for name, path in needed.items() if not path]
    return f"needs {', '.join(absent)} (Debian packages ardour, xvfb, xdotool)" if absent else ""


def run_lua(script: str, *args: str, timeout: float = 120) -> str:
    """ardour7-lua (headless libardour, Dummy backend) on one of the test scripts, from ROOT."""
    result = subprocess.run(["stdbuf", "-oL", ARDOUR_LUA, str(HERE / script), *args], cwd=ROOT, capture_output=True,
                            text=True, timeout=timeout, start_new_session=True)
    if result.returncode != 0:
        raise RuntimeError(f"ardour7-lua {script} failed ({result.returncode}):\n{result.stdout[-3000:]}\n"
                           f"{result.stderr[-3000:]}")
    return result.stdout


def wait_until(what: str, predicate, timeout: float, interval: float = 0.1, on_fail=None):
    """Poll ``predicate`` until it returns something true; fail with ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            detail = on_fail() if on_fail else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{detail}")
        time.sleep(interval)


def udp_port_bound(port: int) -> bool:
    """Whether some process has the UDP port (read from /proc: probing it by binding could take it
    away from Ardour)."""
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        if any(int(line.split()[1].rsplit(":", 1)[1], 16) == port for line in lines):
            return True
    return False


class ArdourGui:
    """One Ardour GUI process on one session, under its own Xvfb and user configuration."""

    def __init__(self, work: Path, session_dir: Path, session_name: str, osc_port: int) -> None:
        self.work = work
        self.session_dir = session_dir
        self.session_name = session_name
        self.osc_port = osc_port
        self.config_home = work / "config"
        self.cache_home = work / "cache"
        self.home = work / "home"
        self.scripts = self.config_home / "ardour7" / "scripts"
        self.xvfb: subprocess.Popen | None = None
        self.proc: subprocess.Popen | None = None
        self.display = ""
        self.out = work / "ardour.out"

    # -- before start ------------------------------------------------------------------------
    def write_user_config(self) -> None:
        config = self.config_home / "ardour7"
        config.mkdir(parents=True, exist_ok=True)
        for folder in (self.cache_home, self.home):
            folder.mkdir(parents=True, exist_ok=True)
        (config / ".a7").write_text("")
        (config / "config").write_text(
            '<?xml version="1.0" encoding="UTF-8"?>\n<Ardour>\n  <Config>\n'
            '    <Option name="hide-dummy-backend" value="0"/>\n'
            '    <Option name="try-autostart-engine" value="1"/>\n'
            f'    <Option name="osc-port" value="{self.osc_port}"/>\n'
            '  </Config>\n  <Extra>\n    <AudioMIDISetup>\n      <EngineStates>\n'
            f'        {ENGINE_STATE}\n      </EngineStates>\n    </AudioMIDISetup>\n  </Extra>\n</Ardour>\n')

    def enable_osc_in_session(self) -> None:
        path = self.session_dir / f"{self.session_name}.ardour"
        text, count = re.subn(r'<Protocol name="Open Sound Control \(OSC\)"[^>]*/>', OSC_ON, path.read_text())
        assert count == 1, "the session names no OSC control protocol"
        path.write_text(text)

    def assign_slots(self, slots: list[dict]) -> None:
        """Action slots as the Script Manager keeps them: [{"slot": N, "script": path, "args": {...}}]."""
        slots_json = self.work / "slots.json"
        slots_json.write_text(json.dumps(slots))
        chunk = self.work / "slots.lua"
        run_lua("ui_slots.lua", str(slots_json), str(chunk))
        encoded = base64.b64encode(chunk.read_bytes()).decode("ascii")
        (self.config_home / "ardour7" / "ui_scripts").write_text(
            '<?xml version="1.0" encoding="UTF-8"?>\n<UIScripts>\n'
            f'  <ActionScript lua="Lua 5.3">{encoded}</ActionScript>\n  <ActionHooks/>\n</UIScripts>\n')

    # -- running -----------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        return {**os.environ, "DISPLAY": self.display, "XDG_CONFIG_HOME": str(self.config_home),
                "XDG_CACHE_HOME": str(self.cache_home), "HOME": str(self.home)}

    def start(self, timeout: float = 90) -> None:
        read, write = os.pipe()
        # -displayfd: Xvfb picks a free display and says which; no clash between test workers.
        self.xvfb = subprocess.Popen([XVFB, "-displayfd", str(write), "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                                     pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        os.close(write)
        with os.fdopen(read) as handle:
            number = handle.readline().strip()
        assert number.isdigit(), f"Xvfb did not start (it said {number!r})"
        self.display = f":{number}"
        with open(self.out, "wb") as out:
            self.proc = subprocess.Popen([ARDOUR, str(self.session_dir / f"{self.session_name}.ardour")], cwd=ROOT,
                                         env=self.env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        wait_until("Ardour's OSC surface (the session loaded)", lambda: self.exited() or udp_port_bound(self.osc_port),
                   timeout, on_fail=self.tail)
        assert not self.exited(), f"Ardour exited ({self.proc.returncode}){self.tail()}"

    def exited(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def tail(self) -> str:
        try:
            return "\nArdour's output:\n" + self.out.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def action(self, name: str) -> None:
        """Run an Ardour action (e.g. "LuaAction/script-1", "Editor/undo") through its OSC surface."""
        from pythonosc.udp_client import SimpleUDPClient

        SimpleUDPClient("127.0.0.1", self.osc_port).send_message("/access_action", name)

    def windows(self, name_regex: str) -> list[str]:
        found = subprocess.run([XDOTOOL, "search", "--onlyvisible", "--name", name_regex], env=self.env(),
                               capture_output=True, text=True, timeout=10)
        return found.stdout.split()

    def click_bottom_right_button(self, window: str) -> None:
        """Click the last button of a dialog's button row (GTK puts them bottom right, the last
        added rightmost: OK after Cancel in a LuaDialog.Dialog). No window manager: the pointer
        goes to absolute screen coordinates."""
        geometry = subprocess.run([XDOTOOL, "getwindowgeometry", "--shell", window], env=self.env(),
                                  capture_output=True, text=True, timeout=10).stdout
        values = dict(line.split("=", 1) for line in geometry.split())
        x, y = int(values["X"]) + int(values["WIDTH"]) - 30, int(values["Y"]) + int(values["HEIGHT"]) - 22
        subprocess.run([XDOTOOL, "mousemove", str(x), str(y), "click", "1"], env=self.env(), check=True, timeout=10)

    def screenshot(self, path: Path) -> None:
        """Best effort, for a failure's report (ImageMagick's import, where installed)."""
        if shutil.which("import") and self.display:
            subprocess.run(["import", "-window", "root", str(path)], env=self.env(), capture_output=True, timeout=20)

    def save_and_quit(self, timeout: float = 60) -> None:
        session_file = self.session_dir / f"{self.session_name}.ardour"
        before = session_file.stat().st_mtime_ns
        self.action("Common/Save")
        wait_until("Ardour to save the session", lambda: session_file.stat().st_mtime_ns != before, timeout,
                   on_fail=self.tail)
        time.sleep(0.5)  # the file is written in one go, but let the save finish before quitting
        self.action("Common/Quit")
        wait_until("Ardour to quit", self.exited, timeout, on_fail=self.tail)

    def stop(self) -> None:
        """End Ardour, everything it started (its `send` and shell children) and Xvfb."""
        for proc in (self.proc, self.xvfb):
            if proc is None:
                continue
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
