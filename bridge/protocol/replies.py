"""OSC API v1 replies: what the bridge sends, each address described once. Pure.

The builders make ``(address, arguments)`` pairs a frontend encodes; :data:`REPLIES` lists every
reply address with its arguments (docs/protocol.md is checked against it), and
:func:`is_reply` tells a datagram shaped like one of them from a request, so the bridge never
answers a reply — answering replies is how two programs end up answering each other forever.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bridge.protocol.requests import MAX_STRING, PREFIX, REQUESTS

# (address, arguments). Floats are sent as OSC f, ints as i, strings as s.
Reply = tuple[str, list[Any]]

# Every reply address and its arguments as docs/protocol.md writes them ("..." repeats the last).
REPLIES: dict[str, tuple[str, ...]] = {f"{PREFIX}/{name}": args for name, args in (
    ("pong", ("version:s",)),
    ("accepted", ("job_id:s",)),
    ("progress", ("job_id:s", "fraction:f", "stage:s")),
    ("done_style", ("job_id:s", "composer:s", "midi_path:s", "notes_path:s", "note_count:i")),
    ("done", ("job_id:s", "midi_path:s", "notes_path:s", "note_count:i")),
    ("error", ("job_id:s", "code:s", "message:s")),
    ("cancelled", ("job_id:s",)),
    ("status", ("job_id:s", "state:s", "fraction:f")),
    ("composers", ("name:s", "...")),
    ("stopped", ()),
    ("playing", ("job_id:s", "from_seconds:f")),
)}
FINAL_REPLIES = (f"{PREFIX}/done", f"{PREFIX}/error", f"{PREFIX}/cancelled")
# Replies whose address no request shares: whatever their arguments, they are replies.
REPLY_ONLY = frozenset(address for address in REPLIES if address not in REQUESTS)


def is_reply(address: str, args: Sequence[Any]) -> bool:
    """True for a datagram shaped like one of the bridge's own replies.

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


def pong(version: str) -> Reply:
    return f"{PREFIX}/pong", [version]


def accepted(job_id: str) -> Reply:
    return f"{PREFIX}/accepted", [job_id]


def progress(job_id: str, fraction: float, stage: str) -> Reply:
    return f"{PREFIX}/progress", [job_id, float(min(1.0, max(0.0, fraction))), stage]


def done(job_id: str, midi_path: str, notes_path: str, note_count: int) -> Reply:
    return f"{PREFIX}/done", [job_id, midi_path, notes_path, int(note_count)]


def done_style(job_id: str, composer: str, midi_path: str, notes_path: str, note_count: int) -> Reply:
    return f"{PREFIX}/done_style", [job_id, composer, midi_path, notes_path, int(note_count)]


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
