"""``pop2piano-bridge.json`` beside the script (written by ``pop2piano-bridge install ableton``).

The contract between the bridge and the DAW scripts: every key may be missing (defaults apply),
a missing or unreadable file is not an error (defaults apply, logged once), and the environment
variable ``POP2PIANO_BRIDGE_SECRET`` is used when the file has no secret.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any, Dict, List, NamedTuple, Optional

CONFIG_NAME = "pop2piano-bridge.json"
SECRET_ENV = "POP2PIANO_BRIDGE_SECRET"
DEFAULT_COMMAND = ["pop2piano-bridge"]
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9310
DEFAULT_LISTEN_PORT = 9311

logger = logging.getLogger(__name__)


class BridgeConfig(NamedTuple):
    command: List[str]  # argv prefix of the bridge CLI; [] = never start one from Live
    host: str
    port: int
    secret: str
    listen_port: int  # where the script listens for replies and triggers
    path: str  # the file read ("" when none)
    problems: List[str]  # keys that were unusable, and why (defaults used for them)


def _port(value: Any, allow_zero: bool) -> Optional[int]:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if (0 if allow_zero else 1) <= value <= 65535 else None


def parse_config(data: Dict[str, Any], path: str = "", environ: Optional[Dict[str, str]] = None) -> BridgeConfig:
    """The config from a decoded JSON object; unusable keys fall back to their defaults."""
    environ = dict(os.environ) if environ is None else environ
    problems: List[str] = []
    command = DEFAULT_COMMAND
    if "command" in data:
        raw = data["command"]
        if isinstance(raw, list) and all(isinstance(p, str) and p for p in raw):
            command = list(raw)
        else:
            problems.append("command must be a list of strings")
    host = data.get("host", DEFAULT_HOST)
    if not isinstance(host, str) or not host:
        problems.append("host must be a string")
        host = DEFAULT_HOST
    port = _port(data.get("port", DEFAULT_PORT), allow_zero=False)
    if port is None:
        problems.append("port must be 1-65535")
        port = DEFAULT_PORT
    listen_port = _port(data.get("listen_port", DEFAULT_LISTEN_PORT), allow_zero=True)
    if listen_port is None:
        problems.append("listen_port must be 0-65535")
        listen_port = DEFAULT_LISTEN_PORT
    secret = data.get("secret", "")
    if not isinstance(secret, str):
        problems.append("secret must be a string")
        secret = ""
    if not secret:
        secret = environ.get(SECRET_ENV, "")
    return BridgeConfig(command, host, port, secret, listen_port, path, problems)


def load_config(folder: str, environ: Optional[Dict[str, str]] = None) -> BridgeConfig:
    """``<folder>/pop2piano-bridge.json``, or the defaults when it is missing or unreadable."""
    path = os.path.join(folder, CONFIG_NAME)
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        logger.info("Pop2Piano: no %s; using the defaults", path)
        return parse_config({}, "", environ)
    except (OSError, ValueError) as exc:
        logger.warning("Pop2Piano: cannot read %s (%s); using the defaults", path, exc)
        return parse_config({}, "", environ)._replace(problems=["unreadable: %s" % exc])
    if not isinstance(data, dict):
        logger.warning("Pop2Piano: %s is not a JSON object; using the defaults", path)
        return parse_config({}, "", environ)._replace(problems=["not a JSON object"])
    config = parse_config(data, path, environ)
    if config.problems:
        logger.warning("Pop2Piano: %s: %s (defaults used for those)", path, "; ".join(config.problems))
    return config
