"""Pure placement math: which part of an audio clip to convert, and where each note goes.

Live's rules this follows (Live manual, "Audio Clips, Tempo, and Warping"; the API dumps' docs):

* Warped clips: markers and loop brace are in beats; source seconds come from
  ``beat_to_sample_time`` and note positions go back through ``sample_to_beat_time``, so notes
  follow the clip's warp markers exactly. Transpose/Detune shift the pitch and keep the tempo,
  except in Re-Pitch warp mode, where "the Transpose and Detune controls have no effect" and the
  pitch follows the playback rate instead (faster = higher, like a turntable).
* Unwarped clips: markers are in seconds; Transpose/Detune repitch: rate and pitch change
  together (+12 semitones plays twice as fast, an octave up). Beats follow one tempo: the Live API
  cannot read the song's tempo map, so under tempo automation the script uses the clip's mean
  tempo where Live tells it (an Arrangement clip's beat span), see ``unwarped_tempo``.
* Loops: only warped audio clips loop. A looped clip plays from its start marker to the loop end,
  then repeats loop start → loop end; the piano clip gets the same brace and start marker.
* The grid: Pop2Piano puts every note on a half-beat of the beats it is given. A warped clip gives
  its own beats (``warp_beats``: every clip beat through ``beat_to_sample_time``, in source
  seconds), so the notes land on the clip's beat grid, tempo changes of the warp map included; an
  unwarped clip has no beat grid of its own, and the bridge tracks beats from the audio.

Python 3.7 compatible (Live 11 and 12.0 embed Python 3.7.3).
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

from .audio_header import sample_rate_of

REPITCH = 3  # Live.Clip.WarpMode.repitch
# What the bridge accepts between neighbouring beats of a grid, and how many beats (docs/protocol.md,
# "The session's grid"; bridge/engine/grid.py): a warp grid outside these is not sent.
MIN_GRID_BPM, MAX_GRID_BPM = 20.0, 400.0
MAX_GRID_BEATS = 100000
TRACKED = "tracked"  # the clip-name word that asks for beats tracked from the audio: [p2p 7 tracked]
ALL_STYLES = "all"  # an audition of every style the bridge has: [p2p all] (docs/protocol.md, "Auditions")


class Loop(NamedTuple):
    """A looped clip's markers in piano-clip beats (0 = the first converted beat)."""

    start_marker: float
    loop_start: float
    loop_end: float


class Region(NamedTuple):
    """The request for one clip, and what the placement needs to map notes back."""

    path: str
    start: float  # source seconds of the piano clip's beat 0
    duration: float  # source seconds converted
    playrate: float  # source seconds per session second (unwarped repitch; 1 when warped)
    warped: bool
    origin: float  # the audio clip's beat (warped) that is the piano clip's beat 0
    length_beats: float  # the piano clip's content length
    tempo: float  # BPM the unwarped placement uses (unused when warped)
    transpose: int  # semitones added to every pitch (what the producer hears)
    heard_semitones: float  # the exact pitch shift the producer hears
    loop: Optional[Loop]


def liveobj_valid(obj: Any) -> bool:
    """Live objects whose C++ side was deleted compare equal to None (Ableton's own
    ``liveobj_valid``); ``is None`` would treat them as alive."""
    return bool(obj != None)  # noqa: E711


def clip_sample_rate(clip: Any) -> float:
    """The audio file's sample rate, in every Live version.

    ``Clip.sample_rate`` exists from Live 11.0.5. Before it: an unwarped clip converts seconds
    itself (``seconds_to_sample_time``, which raises for warped clips); otherwise the file's
    header (WAV, AIFF, FLAC) says it. Anything else is refused with what to do.
    """
    try:
        return float(clip.sample_rate)
    except AttributeError:
        pass
    if not clip.warping:
        try:
            rate = float(clip.seconds_to_sample_time(1.0)) - float(clip.seconds_to_sample_time(0.0))
            if 1000.0 <= rate <= 1000000.0:
                return rate
        except (AttributeError, RuntimeError):
            pass
    path = str(clip.file_path)
    try:
        header = sample_rate_of(path)
    except OSError as exc:
        raise ValueError("cannot read %s (%s)" % (path, exc))
    if header is None:
        raise ValueError("this Live version does not tell a warped clip's sample rate and %s is not "
                         "WAV, AIFF or FLAC: update Live to 11.0.5 or later, or unwarp the clip"
                         % path.replace("\\", "/").rsplit("/", 1)[-1])
    return header


def semitones_of(clip: Any) -> float:
    """Transpose + Detune in semitones (pitch_fine is taken as cents, as the Clip View shows it)."""
    return float(clip.pitch_coarse) + float(clip.pitch_fine) / 100.0


def playrate_for(clip: Any) -> float:
    """Unwarped clips repitch: +12 semitones plays twice as fast."""
    return float(2.0 ** (semitones_of(clip) / 12.0))


def unwarped_tempo(clip: Any, song_tempo: float, automated: bool, duration_s: float,
                   playrate: float) -> Tuple[float, str]:
    """(BPM to place an unwarped clip with, a note for the producer or "").

    The Live API has no read access to the song's tempo map (the arrangement's tempo envelope is not
    reachable from Python in 11.0 – 12.3). Without tempo automation ``song.tempo`` is exact. With
    it, an Arrangement clip still tells its beat span (``end_time - start_time``), which is the
    tempo map integrated over the clip: its mean tempo puts the piano clip's start and end exactly
    where the audio's are, with the notes in between off by the tempo's swing inside the clip.
    A Session clip has no beat span: the current tempo is all there is.
    """
    if not automated:
        return song_tempo, ""
    heard_s = duration_s / playrate
    if clip.is_arrangement_clip and heard_s > 0:
        span = float(clip.end_time) - float(clip.start_time)
        if span > 0:
            mean = span / heard_s * 60.0
            return mean, ("the song tempo is automated: unwarped clip placed at its mean tempo %.2f BPM "
                          "(start and end exact); warp the clip for exact notes" % mean)
    return song_tempo, ("the song tempo is automated: unwarped clip placed at the current %.2f BPM; "
                        "warp the clip for exact notes" % song_tempo)


def region_for(clip: Any, tempo: float, automated: bool = False) -> Tuple[Region, str]:
    """The convert request for an audio clip (Live ``Clip``) and a note for the producer ("" if none).

    Raises ValueError with a message for the status bar when the clip cannot be converted.
    """
    if not clip.is_audio_clip:
        raise ValueError("the selected clip is not an audio clip")
    path = str(clip.file_path)
    if not path:
        raise ValueError("the clip has no audio file")
    rate = clip_sample_rate(clip)
    samples = float(clip.sample_length)
    total = samples / rate if samples > 0 else float("inf")
    semitones = semitones_of(clip)
    note = ""
    loop: Optional[Loop] = None
    if clip.warping:
        start_marker = float(clip.start_marker)
        if clip.looping:
            loop_start, loop_end = float(clip.loop_start), float(clip.loop_end)
            origin, end_beat = min(start_marker, loop_start), loop_end
            loop = Loop(start_marker - origin, loop_start - origin, loop_end - origin)
        else:
            origin, end_beat = start_marker, float(clip.end_marker)
        start = float(clip.beat_to_sample_time(origin)) / rate
        end = float(clip.beat_to_sample_time(end_beat)) / rate
        playrate = 1.0
        length_beats = end_beat - origin
        if int(clip.warp_mode) == REPITCH and end > start and length_beats > 0:
            # Re-Pitch: no stretching; the rate is source seconds per real second at this tempo
            heard_rate = (min(end, total) - max(start, 0.0)) / (length_beats * 60.0 / tempo)
            semitones = 12.0 * math.log2(heard_rate) if heard_rate > 0 else 0.0
    else:
        origin = float(clip.start_marker)
        start, end = origin, float(clip.end_marker)
        playrate = playrate_for(clip)
        tempo, note = unwarped_tempo(clip, tempo, automated, min(end, total) - max(start, 0.0), playrate)
        length_beats = (min(end, total) - max(start, 0.0)) / playrate * tempo / 60.0
    first = max(0.0, start)
    end = min(end, total)
    if end <= first:
        raise ValueError("the clip's markers select no audio")
    transpose = int(round(semitones))
    return Region(path, first, end - first, playrate, bool(clip.warping), origin, length_beats, tempo,
                  transpose, semitones, loop), note


def note_beats(region: Region, clip: Any, rate: float, start_s: float, end_s: float) -> Tuple[float, float]:
    """A note's (start, duration) in piano-clip beats, from session seconds after the converted start."""
    if region.warped:
        b0 = float(clip.sample_to_beat_time((region.start + start_s) * rate)) - region.origin
        b1 = float(clip.sample_to_beat_time((region.start + end_s) * rate)) - region.origin
    else:
        lead = (region.start - region.origin) / region.playrate  # audio missing before the sample start
        b0 = (start_s + lead) * region.tempo / 60.0
        b1 = (end_s + lead) * region.tempo / 60.0
    return b0, max(b1 - b0, 1e-3)


def placed_notes(region: Region, clip: Any, document: Dict[str, Any]) -> List[Tuple[int, float, float, int]]:
    """(pitch, start_beat, duration_beats, velocity) for every note inside the piano clip, transposed
    to what the producer hears; notes pushed outside MIDI's 0 – 127 are dropped."""
    rate = clip_sample_rate(clip) if region.warped else 0.0
    result = []
    for note in document.get("notes", []):
        b0, length = note_beats(region, clip, rate, float(note["start"]), float(note["end"]))
        if b0 >= region.length_beats or b0 < -1e-9:
            continue
        pitch = int(note["pitch"]) + region.transpose
        if not 0 <= pitch <= 127:
            continue
        length = min(length, region.length_beats - b0)
        result.append((pitch, max(0.0, b0), length, int(note["velocity"])))
    return result


def warp_beats(clip: Any, region: Region) -> List[float]:
    """The warped clip's beat grid in source seconds: every whole clip beat (Live's beats are quarter
    notes) from one before the converted range to one after it, through ``beat_to_sample_time``.

    The bridge puts notes on these beats and halfway between two of them (in time); the placement
    maps each note back through ``sample_to_beat_time``. A half-beat is therefore exact wherever
    the warp map keeps one tempo across the beat; a warp marker *inside* a beat (off the beat grid)
    moves that beat's half-beat by a little (0.0125 beat for 120 → 130 BPM at .3 of a beat).
    Raises ValueError when the grid cannot be sent (the bridge would refuse it), with why.
    """
    if not region.warped:
        raise ValueError("the clip is not warped")
    first = int(math.floor(region.origin + 1e-9)) - 1
    last = int(math.ceil(region.origin + region.length_beats - 1e-9)) + 1
    if last - first + 1 > MAX_GRID_BEATS:
        raise ValueError("the clip has more than %d beats" % MAX_GRID_BEATS)
    rate = clip_sample_rate(clip)
    times = [float(clip.beat_to_sample_time(float(beat))) / rate for beat in range(first, last + 1)]
    for i in range(1, len(times)):
        step = times[i] - times[i - 1]
        bpm = 60.0 / step if step > 0 else 0.0
        if not (math.isfinite(bpm) and MIN_GRID_BPM <= bpm <= MAX_GRID_BPM):
            raise ValueError("its beats run at %.0f BPM of the audio in places (the bridge takes %g–%g)"
                             % (bpm, MIN_GRID_BPM, MAX_GRID_BPM))
    return times


def same_beats(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether two warp grids are the same (the clip's warp markers did not move in between)."""
    return len(a) == len(b) and all(abs(x - y) <= 1e-7 for x, y in zip(a, b))


def clip_state(clip: Any) -> Tuple[Any, ...]:
    """What the placement depends on; compared when the result arrives to catch an edited clip."""
    return (bool(clip.warping), int(clip.warp_mode), float(clip.start_marker), float(clip.end_marker),
            bool(clip.looping), float(clip.loop_start), float(clip.loop_end), float(clip.pitch_coarse),
            float(clip.pitch_fine), str(clip.file_path))


def _command_words(name: str) -> Optional[List[str]]:
    """The words inside the clip name's ``[p2p …]`` (lower case), or None without a command."""
    lowered = name.lower()
    start = lowered.find("[p2p")
    if start < 0:
        return None
    end = lowered.find("]", start)
    if end < 0:
        return None
    return lowered[start + 4:end].split()


def choose_styles(text: str, composers: Optional[Sequence[str]] = None) -> str:
    """The ``composer`` value to send for what the producer typed: ``7`` or ``composer7`` (one
    style), ``all`` (an audition of every style), or a comma-separated list ``3,7,11`` (an audition
    of those, in that order; a repeated style counts once, and a list of one style is that style).

    Returns "composer7", "all" or "composer3,composer7,composer11". Raises ValueError (with a
    message) for a word that names no style, or a style the bridge does not have: ``composers`` is
    what the bridge answered, or None before it answered (any number is accepted then, and the
    bridge itself answers ``unknown_composer``).
    """
    inner = text.strip().lower()
    if inner == ALL_STYLES:
        return ALL_STYLES
    names = []  # type: List[str]
    for item in inner.split(","):
        digits = item.replace("composer", "").strip()
        if not item.strip() and "," in inner:
            continue  # "3,7," or "3,,7": an empty entry is no style
        if not digits.isdigit() or int(digits) < 1:
            raise ValueError("'%s' names no style" % text.strip())
        composer = "composer%d" % int(digits)
        if composers is not None and composer not in composers:
            raise ValueError("the bridge has no %s (it has %s)" % (composer, describe_composers(composers)))
        if composer not in names:
            names.append(composer)
    if not names:
        raise ValueError("'%s' names no style" % text.strip())
    return ",".join(names)


def audition_styles(choice: str, composers: Optional[Sequence[str]] = None) -> Optional[List[str]]:
    """The styles an audition converts, in the order the bridge answers them; None when ``choice``
    is one style (or "": the bridge's default). ``all`` before the bridge named its styles: []."""
    if choice == ALL_STYLES:
        return list(composers) if composers is not None else []
    if "," in choice:
        return choice.split(",")
    return None


def composer_from_name(name: str, composers: Optional[Sequence[str]] = None) -> Optional[str]:
    """The clip-name command: ``[p2p]`` (default style), ``[p2p 7]`` / ``[p2p composer7]``, or an
    audition: ``[p2p all]``, ``[p2p 3,7,11]``; each optionally with ``tracked`` (see
    ``tracked_from_name``).

    Returns None without a command, "" for the default style, else the ``composer`` value to send
    (see ``choose_styles``). Raises ValueError (with a message) for a command that names no style
    the bridge has.
    """
    words = _command_words(name)
    if words is None:
        return None
    inner = " ".join(w for w in words if w != TRACKED)
    if not inner:
        return ""
    try:
        return choose_styles(inner, composers)
    except ValueError as exc:
        if "names no style" in str(exc):
            raise ValueError("'[p2p %s]' names no style: use [p2p], [p2p N], [p2p N,M,…] or [p2p all]" % inner)
        raise


def tracked_from_name(name: str) -> bool:
    """Whether the clip-name command asks for beats tracked from the audio (``[p2p tracked]``,
    ``[p2p 7 tracked]``) instead of a warped clip's own beat grid."""
    words = _command_words(name)
    return words is not None and TRACKED in words


def describe_composers(composers: Sequence[str]) -> str:
    if not composers:
        return "no styles"
    if len(composers) > 3:
        return "%s … %s" % (composers[0], composers[-1])
    return ", ".join(composers)


def strip_command(name: str) -> str:
    """The clip name without its ``[p2p …]`` command."""
    lowered = name.lower()
    start = lowered.find("[p2p")
    end = lowered.find("]", start)
    if start < 0 or end < 0:
        return name
    return (name[:start] + name[end + 1:]).strip()
