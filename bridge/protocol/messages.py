"""OSC API v1 requests and replies as small typed objects, and the pure parsing between them.

No sockets here: :func:`parse_request` turns an OSC address and its argument list into a
request object or raises :class:`ProtocolError`; the ``reply_*`` helpers build the
(address, arguments) pairs a frontend sends. Documented in docs/protocol.md.
"""

from __future__ import annotations

import math
import ntpath
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Union

from bridge.errors import BadRequest

PREFIX = "/pop2piano"
# Where the bridge listens, and where the Live Remote Script listens for replies and triggers.
DEFAULT_PORT = 9310
DEFAULT_LISTEN_PORT = 9311
OUTPUTS = ("file", "live", "both")
MAX_STRING = 4096
JOB_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")  # matched whole (fullmatch): no trailing newline

# Value kinds of convert's key/value options: "s" string, "f" number, "i" integer.
CONVERT_KEYS = {
    "composer": "s",
    "start": "f",
    "duration": "f",
    "playrate": "f",
    "tempo": "f",
    "output": "s",
    "out_dir": "s",
    "reply_port": "i",
}


class ProtocolError(BadRequest):
    """A request that is not valid OSC API v1; ``job_id`` is set when one could be read."""

    def __init__(self, message: str, job_id: str = "") -> None:
        super().__init__(message)
        self.job_id = job_id


@dataclass(frozen=True)
class Ping:
    reply_port: int | None = None


@dataclass(frozen=True)
class Convert:
    job_id: str
    audio_path: str
    composer: str | None = None
    start: float = 0.0
    duration: float = 0.0
    playrate: float = 1.0
    tempo: float | None = None
    output: str = "file"
    out_dir: str | None = None
    reply_port: int | None = None


@dataclass(frozen=True)
class Cancel:
    job_id: str
    reply_port: int | None = None


@dataclass(frozen=True)
class Status:
    job_id: str
    reply_port: int | None = None


@dataclass(frozen=True)
class Play:
    job_id: str
    from_seconds: float = 0.0
    reply_port: int | None = None


@dataclass(frozen=True)
class Stop:
    reply_port: int | None = None


@dataclass(frozen=True)
class Composers:
    reply_port: int | None = None


Request = Union[Ping, Convert, Cancel, Status, Play, Stop, Composers]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _string(value: Any, what: str, job_id: str = "") -> str:
    if not isinstance(value, str):
        raise ProtocolError(f"{what} must be a string (OSC type s), got {_kind(value)}", job_id)
    if len(value) > MAX_STRING:
        raise ProtocolError(f"{what} is longer than {MAX_STRING} characters", job_id)
    return value


def _number(value: Any, what: str, job_id: str = "") -> float:
    if not _is_number(value):
        raise ProtocolError(f"{what} must be a number (OSC type f or i), got {_kind(value)}", job_id)
    number = float(value)
    if not math.isfinite(number):
        raise ProtocolError(f"{what} must be finite", job_id)
    return number


def _port(value: Any, job_id: str = "") -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ProtocolError(f"reply_port must be an integer (OSC type i), got {_kind(value)}", job_id)
    if not 1 <= value <= 65535:
        raise ProtocolError(f"reply_port {value} is not a UDP port", job_id)
    return value


def _job_id(value: Any) -> str:
    job_id = _string(value, "job_id")
    if not JOB_ID.fullmatch(job_id):
        raise ProtocolError("job_id must be 1–64 characters of letters, digits and . _ : -")
    return job_id


def _absolute(path: str, what: str, job_id: str) -> None:
    """Paths must be absolute: the bridge's working directory (and home) are not the client's."""
    if not (posixpath.isabs(path) or ntpath.isabs(path)):
        raise ProtocolError(f"{what} must be an absolute path (the bridge does not resolve relative paths or ~), "
                            f"got {path!r}", job_id)


def _kind(value: Any) -> str:
    return {str: "string", int: "integer", float: "float", bytes: "blob", bool: "boolean"}.get(
        type(value), type(value).__name__
    )


def _optional_port(args: Sequence[Any], address: str, job_id: str = "") -> int | None:
    if len(args) > 1:
        raise ProtocolError(f"{address} takes at most one argument after its required ones", job_id)
    return _port(args[0], job_id) if args else None


def parse_request(address: str, args: Sequence[Any]) -> Request:
    """OSC address + arguments → a request object. Raises :class:`ProtocolError`."""
    args = list(args)
    if address == f"{PREFIX}/ping":
        return Ping(_optional_port(args, address))
    if address == f"{PREFIX}/stop":
        return Stop(_optional_port(args, address))
    if address == f"{PREFIX}/composers":
        return Composers(_optional_port(args, address))
    if address in (f"{PREFIX}/cancel", f"{PREFIX}/status"):
        if not args:
            raise ProtocolError(f"{address} needs a job_id")
        job_id = _job_id(args[0])
        port = _optional_port(args[1:], address, job_id)
        return Cancel(job_id, port) if address.endswith("cancel") else Status(job_id, port)
    if address == f"{PREFIX}/play":
        if not args:
            raise ProtocolError(f"{address} needs a job_id")
        job_id = _job_id(args[0])
        if len(args) > 3:
            raise ProtocolError(f"{address} takes job_id [from_seconds] [reply_port]", job_id)
        start = _number(args[1], "from_seconds", job_id) if len(args) > 1 else 0.0
        if start < 0:
            raise ProtocolError("from_seconds must not be negative", job_id)
        return Play(job_id, start, _port(args[2], job_id) if len(args) > 2 else None)
    if address == f"{PREFIX}/convert":
        return _parse_convert(args)
    raise ProtocolError(f"unknown address {address!r}")


def _parse_convert(args: list[Any]) -> Convert:
    if len(args) < 2:
        raise ProtocolError("/pop2piano/convert needs job_id and audio_path", _job_id(args[0]) if args else "")
    job_id = _job_id(args[0])
    path = _string(args[1], "audio_path", job_id)
    if not path:
        raise ProtocolError("audio_path is empty", job_id)
    _absolute(path, "audio_path", job_id)
    options = args[2:]
    if len(options) % 2:
        raise ProtocolError("options must come as key value pairs", job_id)
    values: dict[str, Any] = {}
    for key, value in zip(options[::2], options[1::2]):
        key = _string(key, "option name", job_id)
        kind = CONVERT_KEYS.get(key)
        if kind is None:
            raise ProtocolError(f"unknown option {key!r}; known: {', '.join(CONVERT_KEYS)}", job_id)
        if key in values:
            raise ProtocolError(f"option {key!r} given twice", job_id)
        if kind == "s":
            values[key] = _string(value, key, job_id)
        elif kind == "f":
            values[key] = _number(value, key, job_id)
        else:
            values[key] = _port(value, job_id)
    if values.get("out_dir"):
        _absolute(values["out_dir"], "out_dir", job_id)
    output = values.get("output", "file")
    if output not in OUTPUTS:
        raise ProtocolError(f"output must be one of {', '.join(OUTPUTS)}, got {output!r}", job_id)
    tempo = values.get("tempo")
    return Convert(
        job_id=job_id,
        audio_path=path,
        composer=values.get("composer"),
        start=values.get("start", 0.0),
        duration=values.get("duration", 0.0),
        playrate=values.get("playrate", 1.0),
        tempo=tempo if tempo else None,  # 0 = "no session tempo"
        output=output,
        out_dir=values.get("out_dir") or None,
        reply_port=values.get("reply_port"),
    )


# Replies: (address, arguments). Floats are sent as OSC f, ints as i, strings as s.
Reply = tuple[str, list[Any]]


def pong(version: str) -> Reply:
    return f"{PREFIX}/pong", [version]


def accepted(job_id: str) -> Reply:
    return f"{PREFIX}/accepted", [job_id]


def progress(job_id: str, fraction: float, stage: str) -> Reply:
    return f"{PREFIX}/progress", [job_id, float(min(1.0, max(0.0, fraction))), stage]


def done(job_id: str, midi_path: str, notes_path: str, note_count: int) -> Reply:
    return f"{PREFIX}/done", [job_id, midi_path, notes_path, int(note_count)]


def error(job_id: str, code: str, message: str) -> Reply:
    return f"{PREFIX}/error", [job_id, code, message[:MAX_STRING]]


def cancelled(job_id: str) -> Reply:
    return f"{PREFIX}/cancelled", [job_id]


def status(job_id: str, state: str, fraction: float) -> Reply:
    return f"{PREFIX}/status", [job_id, state, float(fraction)]


def composers(names: Sequence[str]) -> Reply:
    return f"{PREFIX}/composers", list(names)


def stopped() -> Reply:
    return f"{PREFIX}/stopped", []


def playing(job_id: str, from_seconds: float) -> Reply:
    return f"{PREFIX}/playing", [job_id, float(from_seconds)]


FINAL_REPLIES = (f"{PREFIX}/done", f"{PREFIX}/error", f"{PREFIX}/cancelled")
# Every address the bridge sends from. A datagram that is one of these replies (another bridge's,
# or our own sent back) is never answered: answering it is how reply loops start.
REPLY_ONLY = frozenset(f"{PREFIX}/{name}" for name in (
    "pong", "accepted", "progress", "done", "error", "cancelled", "stopped", "playing"))


def is_reply(address: str, args: Sequence[Any]) -> bool:
    """True for a datagram shaped like one of the bridge's own replies. Pure.

    ``status`` and ``composers`` are both requests and replies; their replies carry strings
    where the requests carry at most a job id and an integer reply port.
    """
    if address in REPLY_ONLY:
        return True
    if address == f"{PREFIX}/status":  # reply: job_id, state, fraction
        return len(args) >= 2 and isinstance(args[1], str)
    if address == f"{PREFIX}/composers":  # reply: the names
        return any(isinstance(a, str) for a in args)
    return False
