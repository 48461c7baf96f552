"""Reading a clip range of an audio file as mono float32, without decoding the rest.

libsndfile (through ``soundfile``) reads WAV, AIFF, FLAC, OGG/Vorbis, Opus and MP3 and
seeks by frames, so only the requested range is decoded.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from bridge.errors import BadRange, NotAudio, NotFound

log = logging.getLogger(__name__)

# Ranges may overshoot the file end by this much (DAW item lengths are rounded).
RANGE_TOLERANCE_S = 0.05
# libsndfile's MP3 decoding is only right in one read from the top: a seek lands a few
# milliseconds off (measured: 224 samples at 44.1 kHz) and block-wise reads drift
# (see tests/test_engine.py). MP3 ranges are decoded from 0 in one call and sliced.
INEXACT_SEEK_FORMATS = frozenset({"MP3"})
_BLOCK_FRAMES = 1 << 16
# What a file may declare before anything is decoded: the header alone decides the memory a
# decode takes (an 8-bit WAV claiming 50 MHz decodes to 4 bytes per stored byte, then resamples).
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 1_000, 384_000
MAX_CHANNELS = 64
# The mono float32 clip a decode may produce (1 GiB: 100 minutes at 44.1 kHz, 23 at 192 kHz).
MAX_DECODED_BYTES = 1 << 30


@dataclass(frozen=True)
class AudioInfo:
    """What the file header says."""

    path: str
    sample_rate: int
    channels: int
    frames: int
    format: str

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


@dataclass(frozen=True)
class Clip:
    """Mono samples of the requested range, and where they came from."""

    samples: np.ndarray
    sample_rate: int
    start: float
    duration: float
    info: AudioInfo


def probe(path: str) -> AudioInfo:
    """Open ``path`` and read its header, mapping failures to clear errors."""
    if not os.path.exists(path):
        raise NotFound(f"audio file not found: {path}")
    if not os.path.isfile(path):
        raise NotAudio(f"not a regular file: {path}")
    try:
        info = sf.info(path)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise NotAudio(f"not a readable audio file: {path} ({_short(exc)})") from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise NotAudio(f"audio file holds no samples: {path}")
    if not MIN_SAMPLE_RATE <= info.samplerate <= MAX_SAMPLE_RATE:
        raise NotAudio(f"the file declares a sample rate of {info.samplerate} Hz; the bridge reads "
                       f"{MIN_SAMPLE_RATE}–{MAX_SAMPLE_RATE} Hz: {path}")
    if info.channels > MAX_CHANNELS:
        raise NotAudio(f"the file declares {info.channels} channels; the bridge reads at most {MAX_CHANNELS}: {path}")
    return AudioInfo(path, int(info.samplerate), int(info.channels), int(info.frames), str(info.format))


def resolve_range(info: AudioInfo, start: float, duration: float) -> tuple[int, int]:
    """Frame range for ``start``/``duration`` seconds (duration 0 = to the end); checks bounds."""
    if not np.isfinite(start) or not np.isfinite(duration):
        raise BadRange("start and duration must be finite numbers")
    if start < 0 or duration < 0:
        raise BadRange(f"start ({start:g} s) and duration ({duration:g} s) must not be negative")
    total = info.duration
    if start >= total:
        raise BadRange(f"start {start:g} s is past the end of the file ({total:.3f} s)")
    end = total if duration == 0 else start + duration
    if end > total + RANGE_TOLERANCE_S:
        raise BadRange(f"range {start:g}–{end:g} s runs past the end of the file ({total:.3f} s)")
    first = int(round(start * info.sample_rate))
    last = min(info.frames, int(round(end * info.sample_rate)))
    if last <= first:
        raise BadRange(f"range {start:g}–{end:g} s holds no samples")
    # MP3 decodes from the top (see INEXACT_SEEK_FORMATS), every channel at once.
    decoded = last * info.channels if info.format in INEXACT_SEEK_FORMATS else last - first
    if decoded * 4 > MAX_DECODED_BYTES:
        raise BadRange(f"the range would decode to {decoded * 4 / 2**20:.0f} MB of samples; the bridge decodes at "
                       f"most {MAX_DECODED_BYTES / 2**20:.0f} MB per clip: convert a shorter range")
    return first, last


def read_clip(path: str, start: float = 0.0, duration: float = 0.0) -> Clip:
    """Decode only the requested range and mix it down to mono (mean of channels)."""
    info = probe(path)
    first, last = resolve_range(info, start, duration)
    try:
        with sf.SoundFile(path) as handle:
            if info.format in INEXACT_SEEK_FORMATS:
                data = handle.read(last, dtype="float32", always_2d=True)[first:]
                mono = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
            else:
                if first:
                    handle.seek(first)
                mono = _read_mono(handle, last - first, info.channels)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise NotAudio(f"could not decode {path}: {_short(exc)}") from None
    if mono.shape[0] == 0:
        raise NotAudio(f"could not decode any samples from {path}")
    mono = np.ascontiguousarray(mono, dtype=np.float32)
    if not np.all(np.isfinite(mono)):
        log.warning("replacing NaN/inf samples in %s with silence", path)
        mono = np.nan_to_num(mono, nan=0.0, posinf=0.0, neginf=0.0)
    return Clip(mono, info.sample_rate, first / info.sample_rate, (last - first) / info.sample_rate, info)


def _read_mono(handle: sf.SoundFile, frames: int, channels: int) -> np.ndarray:
    """Decode ``frames`` frames block by block, mixing down as it goes: memory stays at the
    mono result plus one block, however many channels the file has."""
    if channels == 1:
        samples: np.ndarray = handle.read(frames, dtype="float32", always_2d=True)[:, 0]
        return samples
    mono = np.empty(frames, dtype=np.float32)
    done = 0
    while done < frames:
        block = handle.read(min(_BLOCK_FRAMES, frames - done), dtype="float32", always_2d=True)
        if block.shape[0] == 0:
            break
        mono[done : done + block.shape[0]] = block.mean(axis=1, dtype=np.float32)
        done += block.shape[0]
    return mono[:done]


def _short(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
