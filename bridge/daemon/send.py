"""``pop2piano-bridge send``: one message to the bridge, its replies printed or written as JSON lines.

Two forms. On a terminal (``send ADDRESS ARGS…``) replies are printed tab-separated, one per
line. For DAW scripts (``send --request FILE``) everything comes from a JSON request file and
goes to the JSON-lines file it names: a DAW's process launcher may run no shell (REAPER's
``ExecProcess`` splits the line on spaces and honours quotes, nothing else), so nothing but the
command and one file path is ever on the command line, and the output is written by this
process itself, in UTF-8 (a redirected Windows console would write the ANSI code page).
The request and output formats are documented in docs/protocol.md ("DAW scripts").
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from bridge import __version__
from bridge.daemon.client import (
    HEARTBEAT_S,
    Alive,
    Lost,
    LostResult,
    NotRunning,
    exchange,
    type_args,
    type_values,
)
from bridge.protocol import DEFAULT_PORT, PREFIX

log = logging.getLogger(__name__)

EXIT_OK, EXIT_ERROR_REPLY, EXIT_NO_BRIDGE, EXIT_USAGE = 0, 1, 2, 3
# The most a request file may hold: a convert with long paths is under 10 KB.
MAX_REQUEST_BYTES = 1 << 20
MIN_HEARTBEAT_S, MAX_HEARTBEAT_S = 0.2, 60.0

Emit = Callable[[Sequence[Any]], None]


def send_command(address: str, raw_args: Sequence[str], host: str, port: int, secret: str | None,
                 timeout: float | None) -> int:
    """The terminal form: tab-separated replies on stdout, problems on stderr."""
    _utf8_stdout()
    try:
        values = absolute_paths(address, type_args(address, raw_args))
    except ValueError as exc:
        print(f"pop2piano-bridge: error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    def emit(line: Sequence[Any]) -> None:
        if line and str(line[0]).startswith("#"):
            if line[0] == "#error":
                print(f"pop2piano-bridge: error: {line[2]}", file=sys.stderr)
            return
        print("\t".join(str(a) for a in line), flush=True)

    return follow(address, values, host, port, secret, timeout, emit)


def absolute_paths(address: str, values: list[Any]) -> list[Any]:
    """A convert's audio path and out_dir resolved here, where the user typed them.

    The bridge only takes absolute paths (its working directory is not the user's); on a
    terminal, ``send /pop2piano/convert job1 song.wav`` means the song in this folder.
    """
    if address != f"{PREFIX}/convert" or len(values) < 2:
        return values
    resolved = list(values)
    slots = [1] + [i + 1 for i in range(2, len(values) - 1, 2) if values[i] == "out_dir"]
    for i in slots:
        if isinstance(resolved[i], str) and resolved[i]:
            resolved[i] = os.path.abspath(os.path.expanduser(resolved[i]))
    return resolved


def send_request(path: str, fallback_secret: str | None = None) -> int:
    """The DAW form: read the request file (then delete it: it may hold the secret), write JSON lines."""
    try:
        request = _read_request(path)
    except ValueError as exc:
        print(f"pop2piano-bridge: error: {exc}", file=sys.stderr)
        fallback = fallback_out_path(path)
        if fallback:  # the script waits on that file: tell it there, not after its start-up deadline
            with contextlib.suppress(OSError), open(fallback, "w", encoding="utf-8", newline="\n") as out:
                for line in (["#started", __version__], ["#error", "bad_request", str(exc)], ["#exit", EXIT_USAGE]):
                    out.write(json.dumps(line, ensure_ascii=False) + "\n")
        return EXIT_USAGE
    finally:
        with contextlib.suppress(OSError):
            os.remove(path)
    try:
        out = open(request["out"], "w", encoding="utf-8", newline="\n")
    except OSError as exc:
        print(f"pop2piano-bridge: error: cannot write {request['out']}: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    with out:
        def emit(line: Sequence[Any]) -> None:
            out.write(json.dumps(list(line), ensure_ascii=False) + "\n")
            out.flush()

        emit(["#started", __version__])
        try:
            values = type_values(request["address"], request["args"])
        except ValueError as exc:
            emit(["#error", "bad_request", str(exc)])
            emit(["#exit", EXIT_USAGE])
            return EXIT_USAGE
        status = follow(request["address"], values, request["host"], request["port"],
                        request["secret"] or fallback_secret, request["timeout"], emit, request["heartbeat"])
        emit(["#exit", status])
        return status


def fallback_out_path(request_path: str) -> str | None:
    """Where to report an unreadable request: ``X.request.json`` → ``X.out.jsonl``, the DAW scripts'
    naming; None for other names (then only stderr hears of it). Pure."""
    suffix = ".request.json"
    return request_path[: -len(suffix)] + ".out.jsonl" if request_path.endswith(suffix) else None


def follow(address: str, values: list[Any], host: str, port: int, secret: str | None, timeout: float | None,
           emit: Emit, heartbeat: float = HEARTBEAT_S) -> int:
    """Send, hand every reply and heartbeat to ``emit``, and return the exit status."""
    status = EXIT_OK
    try:
        for event in exchange(address, values, host, port, timeout=timeout, secret=secret, heartbeat=heartbeat):
            if isinstance(event, Alive):
                emit(["#alive", event.state, event.fraction])
                continue
            reply_address, reply_args = event
            emit([reply_address, *reply_args])
            if reply_address.endswith("/error"):
                status = EXIT_ERROR_REPLY
    except NotRunning:
        emit(["#error", "not_running", f"no reply from the bridge at {host}:{port}; is it running? "
              "Start it with `pop2piano-bridge serve`"])
        return EXIT_NO_BRIDGE
    except LostResult as exc:
        emit(["#error", "lost_result", f"{exc}; send the request again (a finished conversion is cached)"])
        return EXIT_NO_BRIDGE
    except (Lost, TimeoutError) as exc:
        emit(["#error", "lost", f"{exc} (bridge at {host}:{port})"])
        return EXIT_NO_BRIDGE
    return status


def _read_request(path: str) -> dict[str, Any]:
    """The request file, checked: every field present and of the right type (defaults filled in)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_REQUEST_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"cannot read the request file {path}: {exc.strerror}") from None
    if len(data) > MAX_REQUEST_BYTES:
        raise ValueError(f"the request file {path} is larger than {MAX_REQUEST_BYTES} bytes")
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"the request file {path} is not UTF-8 JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ValueError("the request file must hold a JSON object")
    fields: dict[str, tuple[type | tuple[type, ...], Any]] = {
        "address": (str, None), "args": (list, []), "out": (str, None), "host": (str, "127.0.0.1"),
        "port": (int, DEFAULT_PORT), "secret": (str, ""), "timeout": ((int, float, type(None)), None),
        "heartbeat": ((int, float), HEARTBEAT_S),
    }
    request: dict[str, Any] = {}
    for key, (kind, default) in fields.items():
        value = doc.get(key, default)
        if value is None and default is None and key in ("address", "out"):
            raise ValueError(f"the request file has no {key!r}")
        if isinstance(value, bool) or not isinstance(value, kind):
            raise ValueError(f"{key!r} in the request file has the wrong type")
        request[key] = value
    if not request["address"].startswith("/"):
        raise ValueError("'address' must be an OSC address such as /pop2piano/convert")
    if not MIN_HEARTBEAT_S <= request["heartbeat"] <= MAX_HEARTBEAT_S:
        raise ValueError(f"'heartbeat' must be between {MIN_HEARTBEAT_S} and {MAX_HEARTBEAT_S} seconds")
    if not 1 <= request["port"] <= 65535:
        raise ValueError(f"'port' {request['port']} is not a UDP port")
    return request


def _utf8_stdout() -> None:
    """Replies hold file paths: write them in UTF-8 whatever the console's code page (bpo-30410)."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(ValueError, OSError):
                reconfigure(encoding="utf-8", errors="backslashreplace")
