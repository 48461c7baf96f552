"""A tiny OSC client: send one message to the bridge and collect its replies.

Used by ``pop2piano-bridge send`` (and through it by the REAPER script). Arguments are
typed by the protocol's own table (so ``start 12`` is sent as a float), or explicitly
with an ``i:``, ``f:`` or ``s:`` prefix.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator, Sequence
from typing import Any

from bridge.daemon.server import decode, encode
from bridge.protocol.messages import CONVERT_KEYS, FINAL_REPLIES, PREFIX, ProtocolError

JOB_ADDRESSES = (f"{PREFIX}/convert", f"{PREFIX}/cancel")


def type_args(address: str, raw: Sequence[str]) -> list[Any]:
    """Command-line strings → OSC values, by the protocol's types. Pure."""
    typed: list[Any] = []
    for index, text in enumerate(raw):
        if len(text) > 2 and text[1] == ":" and text[0] in "ifs":
            kind, value = text[0], text[2:]
        else:
            kind, value = _kind_for(address, raw, index), text
        try:
            typed.append(int(value) if kind == "i" else float(value) if kind == "f" else value)
        except ValueError:
            raise ValueError(f"argument {index + 1} ({text!r}) should be {'an integer' if kind == 'i' else 'a number'}") from None
    return typed


def _kind_for(address: str, raw: Sequence[str], index: int) -> str:
    if address == f"{PREFIX}/convert":
        if index < 2:
            return "s"
        if (index - 2) % 2 == 0:
            return "s"  # an option name
        return CONVERT_KEYS.get(raw[index - 1], "s")
    if address in (f"{PREFIX}/cancel", f"{PREFIX}/status", f"{PREFIX}/play"):
        if index == 0:
            return "s"
        if address.endswith("play") and index == 1:
            return "f"
        return "i"
    if address in (f"{PREFIX}/ping", f"{PREFIX}/stop", f"{PREFIX}/composers"):
        return "i"
    text = raw[index]
    for kind, cast in (("i", int), ("f", float)):
        try:
            cast(text)
            return kind
        except ValueError:
            pass
    return "s"


def exchange(
    address: str, args: Sequence[Any], host: str = "127.0.0.1", port: int = 9310, timeout: float = 600.0,
    idle_timeout: float = 5.0,
) -> Iterator[tuple[str, list[Any]]]:
    """Send one message; yield replies until the final one for this request (or time out).

    Job requests (convert, cancel) end with done/error/cancelled; others with their first
    reply. ``idle_timeout`` bounds the wait for the *first* reply (is the bridge there?).
    Raises :class:`TimeoutError`.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.sendto(encode((address, list(args))), (host, port))
        deadline = time.monotonic() + timeout
        first = True
        while True:
            left = min(deadline - time.monotonic(), idle_timeout if first else deadline - time.monotonic())
            if left <= 0:
                raise TimeoutError("no reply" if first else "the job did not finish in time")
            sock.settimeout(left)
            try:
                data, _ = sock.recvfrom(65535)
            except (TimeoutError, socket.timeout):
                if first:
                    raise TimeoutError("no reply") from None
                continue
            try:
                reply = decode(data)
            except ProtocolError:
                continue
            first = False
            yield reply
            if address not in JOB_ADDRESSES or reply[0] in FINAL_REPLIES:
                return
