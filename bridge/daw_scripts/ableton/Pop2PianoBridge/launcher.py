"""Starting a bridge from Live when none answers (contract §5).

``<command> serve --log-file <path>`` runs detached (its own session on macOS/Linux, no console
window on Windows, stdio to the null device), so it outlives neither Live's UI thread nor a
console. The script then pings it from ``update_display`` until it answers (model loading can
take about a minute) and never starts a second one while the first is coming up. Nothing here
blocks: ``start`` returns once the process is spawned.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional

from .config import DEFAULT_PORT, SECRET_ENV, BridgeConfig

LOG_NAME = "pop2piano-bridge.log"
STARTING_TIMEOUT_S = 90.0  # the bridge may need ~60 s to load its model
PING_EVERY_S = 1.0
LOOPBACK = ("127.0.0.1", "localhost", "::1")
# Windows process creation flags (subprocess has them as constants on Windows only)
DETACHED_PROCESS = 0x00000008
CREATE_NO_WINDOW = 0x08000000


def log_path(folder: str) -> str:
    """Beside the script when its folder is writable, else in the user's temp folder."""
    if folder and os.path.isdir(folder) and os.access(folder, os.W_OK):
        return os.path.join(folder, LOG_NAME)
    return os.path.join(tempfile.gettempdir(), LOG_NAME)


def bridge_argv(config: BridgeConfig, log_file: str) -> List[str]:
    """``<command> serve --log-file <path>``, plus ``--port`` when the config moved the port."""
    argv = list(config.command) + ["serve", "--log-file", log_file]
    if config.port != DEFAULT_PORT:
        argv += ["--port", str(config.port)]
    return argv


def detached_options(platform: str = sys.platform) -> Dict[str, Any]:
    """Popen keyword arguments that detach the bridge from Live on this platform."""
    options: Dict[str, Any] = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL,
                               "stderr": subprocess.DEVNULL, "close_fds": True}
    if platform.startswith("win"):
        options["creationflags"] = DETACHED_PROCESS | CREATE_NO_WINDOW
    else:
        options["start_new_session"] = True
    return options


class Launcher:
    """One bridge process started from Live, from spawn until it answers a ping (or fails)."""

    def __init__(self, config: BridgeConfig, folder: str, popen: Callable[..., Any] = subprocess.Popen,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.folder = folder
        self.log_file = log_path(folder)
        self._popen = popen
        self._clock = clock
        self.process: Optional[Any] = None
        self.started_at = 0.0
        self.starting = False
        self._last_ping = -1e9

    def why_not(self) -> str:
        """"" when a bridge may be started now, else the reason for the producer."""
        if not self.config.command:
            return "the config asks not to start a bridge from Live (command is empty)"
        if self.config.host not in LOOPBACK:
            return "the bridge is configured on %s, not this computer" % self.config.host
        if self.starting:
            return "a bridge is already starting"
        if self.process is not None and self.process.poll() is None:
            return "the bridge started from Live (process %s) is running but not answering; see %s" % (
                getattr(self.process, "pid", "?"), self.log_file)
        return ""

    def start(self) -> None:
        """Spawn the bridge; raises OSError (e.g. the command is not found) with Popen's reason."""
        environ = dict(os.environ)
        if self.config.secret:
            environ[SECRET_ENV] = self.config.secret  # the started bridge requires what we send
        self.process = self._popen(bridge_argv(self.config, self.log_file), env=environ, **detached_options())
        self.started_at = self._clock()
        self.starting = True
        self._last_ping = -1e9

    def ping_due(self) -> bool:
        """Whether to send the next ping now (at most one a second while starting)."""
        now = self._clock()
        if self.starting and now - self._last_ping >= PING_EVERY_S:
            self._last_ping = now
            return True
        return False

    def failure(self) -> str:
        """"" while starting normally; else why the start failed (and it stops starting)."""
        if not self.starting:
            return ""
        code = self.process.poll() if self.process is not None else None
        if code is not None:
            self.starting = False
            return "the bridge exited with status %s while starting; see %s" % (code, self.log_file)
        if self._clock() - self.started_at > STARTING_TIMEOUT_S:
            self.starting = False
            return "the bridge did not answer within %d s of starting; see %s" % (STARTING_TIMEOUT_S, self.log_file)
        return ""

    def answered(self) -> None:
        self.starting = False
