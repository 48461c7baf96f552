"""A tiny OSC client: send one message to the bridge and follow what becomes of it.

Used by ``pop2piano-bridge send`` and, through its ``--request FILE`` form, by the DAW scripts
(which cannot rely on a shell: REAPER's ``ExecProcess`` runs none). Arguments are typed by
the protocol's own table (so ``start 12`` is sent as a float).

A job request (convert, cancel) is *followed*: the client waits as long as the bridge says the
job is alive. When no reply came for :data:`HEARTBEAT_S`, it asks ``/pop2piano/status``; the
answer is reported as an :class:`Alive` event (a heartbeat for whoever reads the output).
A bridge that stops answering ends the wait with :class:`Lost`; a job that ended without its
final reply reaching us ends it with :class:`LostResult`.
"""

from __future__ import annotations

import math
import socket
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from bridge.daemon.udp import grow_receive_buffer
from bridge.protocol import (
    DEFAULT_PORT,
    FINAL_REPLIES,
    PREFIX,
    REQUESTS,
    ProtocolError,
    decode,
    encode,
)

JOB_ADDRESSES = (f"{PREFIX}/convert", f"{PREFIX}/cancel")
# Silence after which the client asks the bridge how the job stands.
HEARTBEAT_S = 5.0
# Status questions in a row without an answer before the bridge counts as gone.
MISSED_HEARTBEATS = 3


class NotRunning(TimeoutError):
    """Nothing answered the first message: no bridge at that address."""


class Lost(TimeoutError):
    """The bridge answered at first, then stopped answering while the job was running."""


class LostResult(RuntimeError):
    """The bridge says the job ended, but its final reply never arrived (UDP dropped it)."""


@dataclass(frozen=True)
class Alive:
    """The bridge's answer to a status question while waiting: the job's state and progress."""

    state: str
    fraction: float


def type_args(address: str, raw: Sequence[str]) -> list[Any]:
    """Command-line strings → OSC values, by the protocol's types. Pure.

    Where the protocol table types a slot, the table decides (a path such as ``f:\\song.wav``
    stays a string). Only for slots it does not know may a ``i:``, ``f:`` or ``s:`` prefix
    force a type; otherwise such text is sent as an int, a float or a string, whichever parses.
    """
    typed: list[Any] = []
    for index, text in enumerate(raw):
        kind = _kind_for(address, raw, index)
        value = text
        if kind is None:
            if len(text) > 2 and text[1] == ":" and text[0] in "ifs":
                kind, value = text[0], text[2:]
            else:
                kind = _guess(text)
        typed.append(_cast(kind, value, index, text))
    return typed


def type_values(address: str, values: Sequence[Any]) -> list[Any]:
    """JSON values (from a request file) → OSC values. Pure.

    Strings are sent exactly as given; numbers take the type the protocol table gives their slot.
    """
    typed: list[Any] = []
    raw = [v if isinstance(v, str) else "" for v in values]
    for index, value in enumerate(values):
        if isinstance(value, str):
            typed.append(value)
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"argument {index + 1} ({value!r}) must be a string or a finite number")
        kind = _kind_for(address, raw, index) or ("i" if isinstance(value, int) else "f")
        if kind == "s":
            raise ValueError(f"argument {index + 1} ({value!r}) should be a string")
        if kind == "i" and value != int(value):
            raise ValueError(f"argument {index + 1} ({value!r}) should be an integer")
        typed.append(int(value) if kind == "i" else float(value))
    return typed


def _cast(kind: str, value: str, index: int, text: str) -> Any:
    try:
        return int(value) if kind == "i" else float(value) if kind == "f" else value
    except ValueError:
        raise ValueError(f"argument {index + 1} ({text!r}) should be {'an integer' if kind == 'i' else 'a number'}") from None


def _guess(text: str) -> str:
    for kind, cast in (("i", int), ("f", float)):
        try:
            cast(text)
            return kind
        except ValueError:
            pass
    return "s"


def _kind_for(address: str, raw: Sequence[Any], index: int) -> str | None:
    """The OSC type the protocol table gives argument ``index`` of ``address``; None where it says nothing."""
    spec = REQUESTS.get(address)
    return spec.kind_at(raw, index) if spec is not None else None


def exchange(
    address: str,
    args: Sequence[Any],
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    timeout: float | None = None,
    idle_timeout: float = 5.0,
    secret: str | None = None,
    heartbeat: float = HEARTBEAT_S,
) -> Iterator[tuple[str, list[Any]] | Alive]:
    """Send one message; yield replies (and heartbeats) until the final one for this request.

    Job requests (convert, cancel) end with done/error/cancelled and are followed for as long as
    the bridge reports the job alive (``timeout`` bounds that, when given); others end with their
    first reply. ``idle_timeout`` bounds the wait for the *first* reply (is the bridge there?).
    ``secret`` is appended to every message sent, heartbeats included.
    Raises :class:`NotRunning`, :class:`Lost`, :class:`LostResult` or :class:`TimeoutError`.
    """
    tail = ["secret", secret] if secret else []
    job_id = str(args[0]) if address in JOB_ADDRESSES and args else ""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        grow_receive_buffer(sock)  # progress and heartbeats come in bursts
        sock.sendto(encode((address, [*args, *tail])), (host, port))
        deadline = math.inf if timeout is None else time.monotonic() + timeout
        first, missed, last_heard = True, 0, time.monotonic()
        while True:
            now = time.monotonic()
            if now >= deadline:
                raise TimeoutError("the job did not finish in time")
            wait = idle_timeout if first else heartbeat
            sock.settimeout(max(0.01, min(deadline - now, last_heard + wait - now)))
            try:
                data, _ = sock.recvfrom(65535)
            except (TimeoutError, socket.timeout):
                if time.monotonic() < last_heard + wait:
                    continue
                if first:
                    raise NotRunning("no reply") from None
                if not job_id or missed >= MISSED_HEARTBEATS:
                    raise Lost("the bridge stopped answering") from None
                missed += 1
                last_heard = time.monotonic()
                sock.sendto(encode((f"{PREFIX}/status", [job_id, *tail])), (host, port))
                continue
            try:
                reply = decode(data)
            except ProtocolError:
                continue
            first, missed, last_heard = False, 0, time.monotonic()
            reply_address, reply_args = reply
            if reply_address == f"{PREFIX}/status" and job_id and reply_args[:1] == [job_id]:
                state = str(reply_args[1]) if len(reply_args) > 1 else ""
                if state in ("done", "error", "cancelled"):
                    raise LostResult(f"the job ended ({state}) but its final reply was lost")
                yield Alive(state, float(reply_args[2]) if len(reply_args) > 2 else 0.0)
                continue
            yield reply
            if address not in JOB_ADDRESSES or reply_address in FINAL_REPLIES:
                return
