"""An audio file's sample rate from its header: WAV (RIFF/RIFX/RF64), AIFF/AIFC and FLAC.

Live 11.0.0 – 11.0.4 has no ``Clip.sample_rate`` (the API dumps list it from 11.0.5), and the
stdlib cannot stand in: Python 3.7's ``wave`` refuses float and WAVE_FORMAT_EXTENSIBLE files
(most 24-bit and 32-bit WAVs), and ``aifc`` is gone from Python 3.13. The headers are simple
enough to read directly. Pure functions over bytes, plus one bounded file read.
"""

from __future__ import annotations

import struct
from typing import Optional

HEADER_BYTES = 1 << 16  # the fmt/COMM/STREAMINFO chunk is near the start in every sane file


def _wav_rate(data: bytes) -> Optional[float]:
    big = data[:4] == b"RIFX"
    endian = ">" if big else "<"
    pos = 12
    while pos + 8 <= len(data):
        chunk, size = data[pos:pos + 4], struct.unpack(endian + "I", data[pos + 4:pos + 8])[0]
        if chunk == b"fmt " and pos + 16 <= len(data):
            return float(struct.unpack(endian + "I", data[pos + 12:pos + 16])[0])
        pos += 8 + size + (size & 1)
    return None


def _extended(raw: bytes) -> float:
    """An IEEE 754 80-bit extended float (AIFF's sample rate)."""
    exponent = struct.unpack(">H", raw[:2])[0]
    mantissa = struct.unpack(">Q", raw[2:10])[0]
    sign = -1.0 if exponent & 0x8000 else 1.0
    exponent &= 0x7FFF
    if exponent == 0 and mantissa == 0:
        return 0.0
    return float(sign * mantissa * 2.0 ** (exponent - 16383 - 63))


def _aiff_rate(data: bytes) -> Optional[float]:
    pos = 12
    while pos + 8 <= len(data):
        chunk, size = data[pos:pos + 4], struct.unpack(">I", data[pos + 4:pos + 8])[0]
        if chunk == b"COMM" and pos + 26 <= len(data):
            return _extended(data[pos + 16:pos + 26])
        pos += 8 + size + (size & 1)
    return None


def _flac_rate(data: bytes) -> Optional[float]:
    pos = 4
    if data[:3] == b"ID3":  # an ID3v2 tag before "fLaC"
        size = data[6] << 21 | data[7] << 14 | data[8] << 7 | data[9]
        pos = 10 + size
        if data[pos:pos + 4] != b"fLaC":
            return None
        pos += 4
    if pos + 4 + 13 > len(data) or data[pos] & 0x7F != 0:  # STREAMINFO is always the first block
        return None
    info = data[pos + 4:pos + 4 + 18]
    return float((info[10] << 12) | (info[11] << 4) | (info[12] >> 4))


def rate_from_header(data: bytes) -> Optional[float]:
    """The sample rate the header bytes state, or None for a format this does not read."""
    rate: Optional[float] = None
    if data[:4] in (b"RIFF", b"RIFX", b"RF64") and data[8:12] == b"WAVE":
        rate = _wav_rate(data)
    elif data[:4] == b"FORM" and data[8:12] in (b"AIFF", b"AIFC"):
        rate = _aiff_rate(data)
    elif data[:4] == b"fLaC" or (data[:3] == b"ID3" and b"fLaC" in data[:HEADER_BYTES]):
        rate = _flac_rate(data)
    if rate is None or not 1000.0 <= rate <= 1000000.0:
        return None
    return rate


def sample_rate_of(path: str) -> Optional[float]:
    """The sample rate of the audio file at ``path`` from its header; None if not WAV/AIFF/FLAC."""
    with open(path, "rb") as handle:
        return rate_from_header(handle.read(HEADER_BYTES))
