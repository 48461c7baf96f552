"""OSC API v1 requests: each address described once — its arguments, their types and checks.

:data:`REQUESTS` is the one table. :func:`parse_request` reads it to turn an address and its
arguments into a request object (or a :class:`ProtocolError`); the ``send`` client reads it to
type command-line arguments; a test checks docs/protocol.md's tables against it; the daemon
maps each request type to its handler. Pure: no sockets. Documented in docs/protocol.md.
"""

from __future__ import annotations

import math
import ntpath
import posixpath
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

from bridge.errors import ProtocolError
from bridge.jobs.api import BOTH, FILE, LIVE

PREFIX = "/pop2piano"
# Where the bridge listens, and where the Live Remote Script listens for replies and triggers.
DEFAULT_PORT = 9310
DEFAULT_LISTEN_PORT = 9311
OUTPUTS = (FILE, LIVE, BOTH)  # the job core's output kinds, as the protocol spells them
MAX_STRING = 4096
JOB_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")  # matched whole (fullmatch): no trailing newline


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
    output: str = FILE
    out_dir: str | None = None
    reply_port: int | None = None
    grid_bpm: float | None = None
    grid_offset: float | None = None
    beats_file: str | None = None


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
    composer: str | None = None  # one style of a finished audition
    reply_port: int | None = None


@dataclass(frozen=True)
class Stop:
    reply_port: int | None = None


@dataclass(frozen=True)
class Composers:
    reply_port: int | None = None


Request = Union[Ping, Convert, Cancel, Status, Play, Stop, Composers]

# -- argument checks: (value, job_id) → the value to keep, or ProtocolError ---------------
Check = Callable[[Any, str], Any]


def _kind(value: Any) -> str:
    return {str: "string", int: "integer", float: "float", bytes: "blob", bool: "boolean"}.get(
        type(value), type(value).__name__
    )


def string(what: str) -> Check:
    def check(value: Any, job_id: str) -> str:
        if not isinstance(value, str):
            raise ProtocolError(f"{what} must be a string (OSC type s), got {_kind(value)}", job_id)
        if len(value) > MAX_STRING:
            raise ProtocolError(f"{what} is longer than {MAX_STRING} characters", job_id)
        return value

    return check


def number(what: str, minimum: float | None = None) -> Check:
    def check(value: Any, job_id: str) -> float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ProtocolError(f"{what} must be a number (OSC type f or i), got {_kind(value)}", job_id)
        result = float(value)
        if not math.isfinite(result):
            raise ProtocolError(f"{what} must be finite", job_id)
        if minimum is not None and result < minimum:
            raise ProtocolError(f"{what} must not be negative", job_id)
        return result

    return check


def port(value: Any, job_id: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ProtocolError(f"reply_port must be an integer (OSC type i), got {_kind(value)}", job_id)
    if not 1 <= value <= 65535:
        raise ProtocolError(f"reply_port {value} is not a UDP port", job_id)
    return value


def job_id(value: Any, _job_id: str = "") -> str:
    text: str = string("job_id")(value, "")
    if not JOB_ID.fullmatch(text):
        raise ProtocolError("job_id must be 1–64 characters of letters, digits and . _ : -")
    return text


def absolute_path(what: str) -> Check:
    """Paths must be absolute: the bridge's working directory (and home) are not the client's."""
    as_string = string(what)

    def check(value: Any, job: str) -> str:
        path: str = as_string(value, job)
        if not path:
            raise ProtocolError(f"{what} is empty", job)
        if not (posixpath.isabs(path) or ntpath.isabs(path)):
            raise ProtocolError(f"{what} must be an absolute path (the bridge does not resolve relative paths "
                                f"or ~), got {path!r}", job)
        return path

    return check


def one_of(what: str, choices: Sequence[str]) -> Check:
    as_string = string(what)

    def check(value: Any, job: str) -> str:
        text: str = as_string(value, job)
        if text not in choices:
            raise ProtocolError(f"{what} must be one of {', '.join(choices)}, got {text!r}", job)
        return text

    return check


# -- the table ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Param:
    """One argument: its name (the request field it fills), OSC type, and check."""

    name: str
    kind: str  # "s" string, "f" number, "i" integer
    check: Check
    optional: bool = False


@dataclass(frozen=True)
class Spec:
    """One request address: positional arguments, then (for convert) ``key value`` options."""

    address: str
    request: type
    params: tuple[Param, ...] = ()
    options: Mapping[str, Param] | None = None
    needs: str = ""  # what to say when a required argument is missing
    build: Callable[..., Any] | None = None  # how the checked values become the request (default: its class)
    normalise: Callable[[list[Any]], list[Any]] | None = None  # reshapes older clients' arguments first

    def signature(self) -> str:
        """How docs/protocol.md writes it, e.g. ``/pop2piano/play <job_id:s> [from_seconds:f] [reply_port:i]``."""
        parts = [self.address]
        for p in self.params:
            parts.append(f"[{p.name}:{p.kind}]" if p.optional else f"<{p.name}:{p.kind}>")
        if self.options is not None:
            parts.append("[key value]...")
        return " ".join(parts)

    def kind_at(self, args: Sequence[Any], index: int) -> str | None:
        """The OSC type argument ``index`` takes; None where the table says nothing."""
        if index < len(self.params):
            return self.params[index].kind
        if self.options is None:
            return None
        if (index - len(self.params)) % 2 == 0:
            return "s"  # an option name
        option = self.options.get(str(args[index - 1]))
        return option.kind if option else "s"

    def parse(self, args: Sequence[Any]) -> Any:
        if self.normalise is not None:
            args = self.normalise(list(args))
        values: dict[str, Any] = {}
        job = ""
        required = [p for p in self.params if not p.optional]
        if len(args) < len(required):
            first = args[0] if args else None
            job = job_id(first) if self.params and self.params[0].name == "job_id" and first is not None else ""
            raise ProtocolError(f"{self.address} needs {self.needs}", job)
        positional = args[: len(self.params)] if self.options is None else args[: len(required)]
        for param, value in zip(self.params, positional):
            if value is None:  # an optional argument left out in the middle (see ``normalise``)
                continue
            values[param.name] = param.check(value, job)
            if param.name == "job_id":
                job = values["job_id"]
        rest = args[len(positional):]
        if self.options is None:
            if rest:
                allowed = len(self.params) - len(required)
                raise ProtocolError(f"{self.address} takes at most {_count(allowed)} after its required ones"
                                    if allowed <= 1 else f"{self.address} takes {self.signature()}", job)
        else:
            values.update(_options(self.options, rest, job))
        return (self.build or self.request)(**values)


def _count(n: int) -> str:
    return {0: "no argument", 1: "one argument"}.get(n, f"{n} arguments")


def _options(table: Mapping[str, Param], pairs: Sequence[Any], job: str) -> dict[str, Any]:
    if len(pairs) % 2:
        raise ProtocolError("options must come as key value pairs", job)
    values: dict[str, Any] = {}
    for key, value in zip(pairs[::2], pairs[1::2]):
        key = string("option name")(key, job)
        option = table.get(key)
        if option is None:
            raise ProtocolError(f"unknown option {key!r}; known: {', '.join(table)}", job)
        if option.name in values:
            raise ProtocolError(f"option {key!r} given twice", job)
        values[option.name] = option.check(value, job)
    return values


REPLY_PORT = Param("reply_port", "i", port, optional=True)
JOB = Param("job_id", "s", job_id)
# convert's key value options, in the order docs/protocol.md lists them.
CONVERT_OPTIONS: dict[str, Param] = {p.name: p for p in (
    Param("composer", "s", string("composer")),
    Param("start", "f", number("start")),
    Param("duration", "f", number("duration")),
    Param("playrate", "f", number("playrate")),
    Param("tempo", "f", number("tempo")),
    Param("output", "s", one_of("output", OUTPUTS)),
    Param("out_dir", "s", absolute_path("out_dir")),
    REPLY_PORT,
    Param("grid_bpm", "f", number("grid_bpm")),
    Param("grid_offset", "f", number("grid_offset")),
    Param("beats_file", "s", absolute_path("beats_file")),
)}


ALL_STYLES = "all"


def styles_in(composer: str | None) -> tuple[tuple[str, ...], bool]:
    """What a ``composer`` value asks for: (several styles, every style). Pure.

    ``all`` means every style; a comma-separated list names several (an audition); anything else
    is one style (``((), False)``).
    """
    if composer is None:
        return (), False
    if composer.strip().lower() == ALL_STYLES:
        return (), True
    if "," not in composer:
        return (), False
    names = tuple(dict.fromkeys(name.strip() for name in composer.split(",") if name.strip()))
    return names, False


def _convert(**values: Any) -> Convert:
    tempo = values.pop("tempo", None)
    out_dir = values.pop("out_dir", None)
    job = values["job_id"]
    if values.get("grid_bpm") is not None and values.get("beats_file") is not None:
        raise ProtocolError("give grid_bpm or beats_file, not both", job)
    if values.get("grid_offset") is not None and values.get("grid_bpm") is None:
        raise ProtocolError("grid_offset needs grid_bpm", job)
    styles, every = styles_in(values.get("composer"))
    if (styles or every) and values.get("output", "file") != "file":
        raise ProtocolError("an audition of several styles writes files (output file); play one style afterwards "
                            "with /pop2piano/play <job_id> <from_seconds> <composer>", job)
    # tempo 0 = "no session tempo"; an empty out_dir = the default folder
    return Convert(tempo=tempo or None, out_dir=out_dir or None, **values)


def _v1_play(args: list[Any]) -> list[Any]:
    """v1 clients send ``play <job_id> <from_seconds> <reply_port>``: an integer third argument is the port."""
    if len(args) == 3 and isinstance(args[2], int) and not isinstance(args[2], bool):
        return [args[0], args[1], None, args[2]]
    return args


REQUESTS: dict[str, Spec] = {spec.address: spec for spec in (
    Spec(f"{PREFIX}/ping", Ping, (REPLY_PORT,)),
    Spec(f"{PREFIX}/composers", Composers, (REPLY_PORT,)),
    Spec(f"{PREFIX}/convert", Convert, (JOB, Param("audio_path", "s", absolute_path("audio_path"))),
         options=CONVERT_OPTIONS, needs="job_id and audio_path", build=_convert),
    Spec(f"{PREFIX}/cancel", Cancel, (JOB, REPLY_PORT), needs="a job_id"),
    Spec(f"{PREFIX}/status", Status, (JOB, REPLY_PORT), needs="a job_id"),
    Spec(f"{PREFIX}/play", Play, (JOB, Param("from_seconds", "f", number("from_seconds", minimum=0.0), optional=True),
                                 Param("composer", "s", string("composer"), optional=True), REPLY_PORT),
         needs="a job_id", normalise=_v1_play),
    Spec(f"{PREFIX}/stop", Stop, (REPLY_PORT,)),
)}


def parse_request(address: str, args: Sequence[Any]) -> Request:
    """OSC address + arguments → a request object. Raises :class:`ProtocolError`."""
    spec = REQUESTS.get(address)
    if spec is None:
        raise ProtocolError(f"unknown address {address!r}")
    request: Request = spec.parse(list(args))
    return request
