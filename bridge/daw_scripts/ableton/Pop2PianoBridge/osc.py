"""A minimal OSC 1.0 codec (messages with i, f, s arguments): Live's Python has no python-osc.

Pure functions, tested for interoperability against python-osc in both directions.
"""

from __future__ import annotations

import struct
from typing import List, Tuple, Union

Arg = Union[int, float, str]


class OscError(ValueError):
    """Bytes that are not an OSC message this codec understands."""


def _pad(data: bytes) -> bytes:
    return data + b"\x00" * (4 - len(data) % 4)


def _string(text: str) -> bytes:
    return _pad(text.encode("utf-8"))


def encode(address: str, args: List[Arg]) -> bytes:
    """One OSC message: bools are refused, ints go as i, floats as f, strings as s."""
    tags = ","
    payload = b""
    for arg in args:
        if isinstance(arg, bool):
            raise OscError("booleans are not supported")
        if isinstance(arg, int):
            tags += "i"
            payload += struct.pack(">i", arg)
        elif isinstance(arg, float):
            tags += "f"
            payload += struct.pack(">f", arg)
        elif isinstance(arg, str):
            tags += "s"
            payload += _string(arg)
        else:
            raise OscError("unsupported argument type %s" % type(arg).__name__)
    return _string(address) + _string(tags) + payload


def _read_string(data: bytes, pos: int) -> Tuple[str, int]:
    end = data.find(b"\x00", pos)
    if end < 0:
        raise OscError("unterminated string")
    try:
        text = data[pos:end].decode("utf-8")
    except UnicodeDecodeError:
        raise OscError("string is not UTF-8")
    return text, pos + ((end - pos) // 4 + 1) * 4


def decode(data: bytes) -> Tuple[str, List[Arg]]:
    """Bytes → (address, args). Raises :class:`OscError` on anything else (bundles included)."""
    if not data.startswith(b"/"):
        raise OscError("not an OSC message")
    address, pos = _read_string(data, 0)
    if pos >= len(data):
        return address, []
    tags, pos = _read_string(data, pos)
    if not tags.startswith(","):
        raise OscError("missing type tags")
    args: List[Arg] = []
    for tag in tags[1:]:
        if tag in "if":
            if pos + 4 > len(data):
                raise OscError("truncated message")
            args.append(struct.unpack(">i" if tag == "i" else ">f", data[pos:pos + 4])[0])
            pos += 4
        elif tag == "s":
            text, pos = _read_string(data, pos)
            args.append(text)
        else:
            raise OscError("unsupported type tag %r" % tag)
    return address, args
