"""Pure placement math: which part of an audio clip to convert, and where each note goes.

Warped clips: markers are in beats; source seconds come from ``beat_to_sample_time`` and
note positions go back through ``sample_to_beat_time``, so notes follow the clip's warp
markers exactly. Unwarped clips: markers are in seconds; the clip plays at the rate its
transposition gives (repitch), and beats follow the song tempo.
"""

from __future__ import annotations

from typing import Any, Dict, List, NamedTuple, Optional, Tuple

COMPOSERS = 21


class Region(NamedTuple):
    """The request for one clip, and what the placement needs to map notes back."""

    path: str
    start: float  # source seconds
    duration: float  # source seconds
    playrate: float
    warped: bool
    start_marker: float
    length_beats: float


def playrate_for(clip: Any) -> float:
    """Unwarped clips repitch: +12 semitones plays twice as fast."""
    semitones = float(clip.pitch_coarse) + float(clip.pitch_fine) / 100.0
    return float(2.0 ** (semitones / 12.0))


def region_for(clip: Any, tempo: float) -> Region:
    """The convert request for an audio clip (Live ``Clip``), between its start and end markers."""
    if not clip.is_audio_clip:
        raise ValueError("the selected clip is not an audio clip")
    path = str(clip.file_path)
    if not path:
        raise ValueError("the clip has no audio file")
    rate = float(clip.sample_rate)
    total = float(clip.sample_length) / rate if clip.sample_length > 0 else float("inf")
    if clip.warping:
        start = float(clip.beat_to_sample_time(clip.start_marker)) / rate
        end = float(clip.beat_to_sample_time(clip.end_marker)) / rate
        playrate = 1.0
        length_beats = float(clip.end_marker - clip.start_marker)
    else:
        start, end = float(clip.start_marker), float(clip.end_marker)
        playrate = playrate_for(clip)
        length_beats = (min(end, total) - start) / playrate * tempo / 60.0
    start = max(0.0, start)
    end = min(end, total)
    if end <= start:
        raise ValueError("the clip's markers select no audio")
    return Region(path, start, end - start, playrate, bool(clip.warping), float(clip.start_marker), length_beats)


def note_beats(region: Region, clip: Any, start_s: float, end_s: float, tempo: float) -> Tuple[float, float]:
    """A note's (start, duration) in beats from the MIDI clip's start, from session seconds."""
    if region.warped:
        rate = float(clip.sample_rate)
        b0 = float(clip.sample_to_beat_time((region.start + start_s) * rate)) - region.start_marker
        b1 = float(clip.sample_to_beat_time((region.start + end_s) * rate)) - region.start_marker
    else:
        b0, b1 = start_s * tempo / 60.0, end_s * tempo / 60.0
    return b0, max(b1 - b0, 1e-3)


def placed_notes(region: Region, clip: Any, document: Dict[str, Any], tempo: float) -> List[Tuple[int, float, float, int]]:
    """(pitch, start_beat, duration_beats, velocity) for every note inside the clip."""
    result = []
    for note in document.get("notes", []):
        b0, length = note_beats(region, clip, float(note["start"]), float(note["end"]), tempo)
        if b0 >= region.length_beats or b0 < -1e-9:
            continue
        length = min(length, region.length_beats - b0)
        result.append((int(note["pitch"]), max(0.0, b0), length, int(note["velocity"])))
    return result


def composer_from_name(name: str) -> Optional[str]:
    """The clip-name command: ``[p2p]`` (default style) or ``[p2p 7]`` (composer7); None if absent.

    Returns "" for the default style.
    """
    lowered = name.lower()
    start = lowered.find("[p2p")
    if start < 0:
        return None
    end = lowered.find("]", start)
    if end < 0:
        return None
    inner = lowered[start + 4:end].strip()
    if not inner:
        return ""
    digits = inner.replace("composer", "").strip()
    if digits.isdigit() and 1 <= int(digits) <= COMPOSERS:
        return "composer%d" % int(digits)
    return None


def strip_command(name: str) -> str:
    """The clip name without its ``[p2p …]`` command."""
    lowered = name.lower()
    start = lowered.find("[p2p")
    end = lowered.find("]", start)
    if start < 0 or end < 0:
        return name
    return (name[:start] + name[end + 1:]).strip()
