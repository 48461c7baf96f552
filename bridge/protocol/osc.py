"""The OSC 1.0 codec: datagrams to (address, arguments) and back. No sockets, no protocol rules.

Apart from transport (python-osc's ``osc_message_builder``/``osc_message`` split): the daemon's
UDP server and the ``send`` client both use it, so neither imports the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from bridge.errors import ProtocolError

MAX_DATAGRAM = 65535
# (address, arguments): a request or a reply as it travels.
Message = tuple[str, list[Any]]


def encode(message: tuple[str, Sequence[Any]]) -> bytes:
    """An OSC message datagram: ints as i, floats as f, strings as s. Total: any reply can be sent.

    A string that is not valid Unicode text (a file name in a foreign encoding, decoded with
    surrogate escapes) or holds a NUL goes out with those characters escaped: a reply that
    cannot be encoded must never be dropped or garbled, or its client waits forever.
    """
    address, args = message
    builder = OscMessageBuilder(address=address)
    for arg in args:
        if isinstance(arg, bool) or not isinstance(arg, (int, float, str)):
            arg = str(arg)
        if isinstance(arg, str):
            arg = sendable(arg)
        kind = "i" if isinstance(arg, int) else "f" if isinstance(arg, float) else "s"
        builder.add_arg(arg, kind)
    return bytes(builder.build().dgram)


def sendable(text: str) -> str:
    """``text`` as an OSC string can carry it: unencodable characters and NULs (OSC strings end at
    the first NUL, so one inside would corrupt the rest of the message) escaped as ``\\x…``. Pure."""
    text = text.replace("\x00", "\\x00")
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def decode(datagram: bytes) -> Message:
    """Datagram → (address, args); raises :class:`ProtocolError` for anything but one OSC message."""
    if OscBundle.dgram_is_bundle(datagram):
        raise ProtocolError("OSC bundles are not supported: send one message per datagram")
    try:
        message = OscMessage(datagram)
    except Exception as exc:  # python-osc raises ParseError, but also IndexError & co. on garbage
        raise ProtocolError(f"not an OSC message ({type(exc).__name__})") from None
    return message.address, list(message.params)


def split_secret(args: list[Any]) -> tuple[list[Any], str | None]:
    """Remove a trailing ``"secret", <value>`` pair (allowed on every request). Pure."""
    if len(args) >= 2 and args[-2] == "secret" and isinstance(args[-1], str):
        return args[:-2], args[-1]
    return args, None
