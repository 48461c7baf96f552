"""A fake Ableton Live host whose objects behave like a chosen Live version's API.

Every fake object names the Live class it stands for. A public member exists only where that Live
version's API dump lists it (``tests/daw_scripts/ableton/live_api/members.json``, extracted from the public dumps in
PhotonicVelocity/LiveAPI, ``build/<version>/Live.xml``): elsewhere it raises ``AttributeError``
exactly as Live's Boost.Python objects do. Methods return what the dump's signature says that
version returns (``ClipSlot.create_clip`` → None before 11.3.25 and in 12.0.0 – 12.0.4).

Behaviour that the dumps do not show is taken from, and cited to:
- the dumps' doc strings (``Live.xml`` <Doc> of the member, quoted where used);
- Ableton's Live manual ("Audio Clips, Tempo, and Warping"; "Clip View");
- the Max for Live LOM reference (docs.cycling74.com/apiref/lom/clip);
- Ableton's own MIDI Remote Scripts (decompiled, gluon/AbletonLive12_MIDIRemoteScripts):
  ``ableton/v2/base/live_api_utils.py`` (a deleted object is a "lost weakref" that compares equal
  to None), ``Push/actions.py`` (``except Live.Base.LimitationError`` around ``create_midi_track``),
  ``Blackstar_Live_Logic/track_util.py`` (``song.create_scene(-1)`` then ``track.clip_slots[-1]``, in a
  ``try … except Live.Base.LimitationError``);
- the Max for Live LOM reference for take lanes (docs.cycling74.com/apiref/lom/takelane);
- ableton-live-stubs (PyPI) for enum values (``WarpMode``, ``AutomationState``).
Where no source says what Live does, the comment says "assumed" and the docs list it as unverified.

Pure Python and Python 3.7 compatible: the same host runs the script under a real Python 3.7.
"""

from __future__ import annotations

import bisect
import math
import sys
import types
from typing import Any, List, Optional, Sequence, Tuple

from live_api.versions import LiveVersion, live

REPITCH = 3  # Live.Clip.WarpMode.repitch (ableton-live-stubs Clip.pyi)
BEATS_MODE = 0  # Live.Clip.WarpMode.beats


class LimitationError(Exception):
    """``Live.Base.LimitationError``: the dumps list the class in every version; ableton-live-stubs
    (Base.pyi) declare it an Exception subclass."""


class MidiNoteSpecification(object):
    """``Live.Clip.MidiNoteSpecification`` (dumps: 11.0.0+): keyword construction as in Ableton's
    scripts (pitch, start_time, duration, velocity, mute)."""

    def __init__(self, pitch: int, start_time: float, duration: float, velocity: float = 100.0,
                 mute: bool = False, **_extra: Any) -> None:
        self.pitch = pitch
        self.start_time = start_time
        self.duration = duration
        self.velocity = velocity
        self.mute = mute


def install_live_module() -> None:
    """A ``Live`` module with what the script reaches at import time and in ``except`` clauses."""
    module = types.ModuleType("Live")
    for name in ("Application", "Base", "Clip", "ClipSlot", "DeviceParameter", "MixerDevice", "Song", "Track"):
        sub = types.ModuleType("Live.%s" % name)
        setattr(module, name, sub)
        sys.modules["Live.%s" % name] = sub
    module.Base.LimitationError = LimitationError
    module.Clip.MidiNoteSpecification = MidiNoteSpecification
    sys.modules["Live"] = module


class DeletedObjectError(RuntimeError):
    """Touching a Live object whose C++ object is gone. Ableton's live_api_utils.liveobj_valid says
    such a "lost weakref" compares equal to None; the exception raised on access is assumed to be a
    RuntimeError (Live's API errors are RuntimeErrors); the script must not depend on its type."""


class FakeGap(NotImplementedError):
    """The dump says this version has the member, but the fake does not model it: a test bug."""


class LiveObject(object):
    """Base of every fake: version-gated members, deleted-object semantics."""

    LIVE_CLASS = ""

    def __init__(self, version: LiveVersion) -> None:
        object.__setattr__(self, "_version", version)
        object.__setattr__(self, "_deleted", False)

    def _check(self, name: str) -> None:
        cls = type(self).LIVE_CLASS
        version = object.__getattribute__(self, "_version")
        if not version.has(cls, name):
            # Boost.Python's message for a missing attribute (what Live 11.0.0 gives for sample_rate)
            raise AttributeError("'%s' object has no attribute '%s'" % (cls.rsplit(".", 1)[1], name))
        if object.__getattribute__(self, "_deleted"):
            raise DeletedObjectError("the %s was deleted" % cls.rsplit(".", 1)[1])

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("_") or name.startswith("fake_") or name == "LIVE_CLASS":
            return object.__getattribute__(self, name)
        type(self)._check(self, name)
        try:
            return object.__getattribute__(self, name)
        except AttributeError:
            raise FakeGap("Live %s has %s.%s but the fake does not model it" % (
                object.__getattribute__(self, "_version").name, type(self).LIVE_CLASS, name))

    def __setattr__(self, name: str, value: Any) -> None:
        if not (name.startswith("_") or name.startswith("fake_")):
            type(self)._check(self, name)
        object.__setattr__(self, name, value)

    def __eq__(self, other: object) -> bool:
        # live_api_utils.liveobj_valid: "return obj != None" ... "False both if obj represents a lost
        # weakref or is None"
        if other is None:
            return bool(object.__getattribute__(self, "_deleted"))
        return self is other

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = object.__hash__

    def fake_delete(self) -> None:
        object.__setattr__(self, "_deleted", True)


class TempoMap(object):
    """The song's tempo automation as steps: [(beat, bpm), ...] from beat 0. Live's arrangement has
    one tempo envelope (manual, "Tempo automation"); the Python API cannot read it (no Envelope for
    the arrangement: Clip.automation_envelope "Returns None for Arrangement clips")."""

    def __init__(self, steps: Sequence[Tuple[float, float]]) -> None:
        self.steps = sorted((float(b), float(t)) for b, t in steps)
        assert self.steps and self.steps[0][0] == 0.0

    def tempo_at(self, beat: float) -> float:
        i = bisect.bisect_right([b for b, _t in self.steps], beat) - 1
        return self.steps[max(i, 0)][1]

    def seconds_at(self, beat: float) -> float:
        total = 0.0
        for i, (b, t) in enumerate(self.steps):
            end = self.steps[i + 1][0] if i + 1 < len(self.steps) else math.inf
            if beat <= b:
                break
            total += (min(beat, end) - b) * 60.0 / t
        return total

    def beat_at(self, seconds: float) -> float:
        elapsed = 0.0
        for i, (b, t) in enumerate(self.steps):
            end = self.steps[i + 1][0] if i + 1 < len(self.steps) else math.inf
            span = (end - b) * 60.0 / t
            if seconds <= elapsed + span:
                return b + (seconds - elapsed) * t / 60.0
            elapsed += span
        raise AssertionError("unreachable")


class WarpMap(object):
    """Piecewise-linear warp markers [(sample_time, beat_time)], extrapolated past both ends with the
    nearest segment's slope (the manual: audio before the first / after the last marker plays at the
    neighbouring segment's rate)."""

    def __init__(self, markers: Sequence[Tuple[float, float]]) -> None:
        self.samples = [float(m[0]) for m in markers]
        self.beats = [float(m[1]) for m in markers]

    @staticmethod
    def _map(x: float, xs: List[float], ys: List[float]) -> float:
        i = bisect.bisect_right(xs, x) - 1
        i = min(max(i, 0), len(xs) - 2)
        return ys[i] + (x - xs[i]) * (ys[i + 1] - ys[i]) / (xs[i + 1] - xs[i])

    def sample_to_beat(self, sample: float) -> float:
        return self._map(sample, self.samples, self.beats)

    def beat_to_sample(self, beat: float) -> float:
        return self._map(beat, self.beats, self.samples)


class DeviceParameter(LiveObject):
    LIVE_CLASS = "Live.DeviceParameter.DeviceParameter"

    def __init__(self, version: LiveVersion, name: str, value: float, automated: bool = False) -> None:
        super().__init__(version)
        self._name = name
        self._value = value
        self._automated = automated

    @property
    def name(self) -> str:
        return self._name

    @property
    def value(self) -> float:
        return self._value

    @property
    def automation_state(self) -> int:
        # "Returns state of type AutomationState" (dump); stubs: none=0, playing=1, overridden=2
        return 1 if self._automated else 0


class MixerDevice(LiveObject):
    LIVE_CLASS = "Live.MixerDevice.MixerDevice"

    def __init__(self, version: LiveVersion, song: Optional["Song"] = None) -> None:
        super().__init__(version)
        self._song = song

    @property
    def song_tempo(self) -> DeviceParameter:
        # "MasterTrack only: Const access to the Song's Tempo." (dump 11.0.0)
        if self._song is None:
            raise RuntimeError("MasterTrack only")
        song = self._song
        return DeviceParameter(self._version, "Song Tempo", song._tempo_now(),
                               automated=len(song._tempo_map.steps) > 1)


class Clip(LiveObject):
    """``Live.Clip.Clip`` (audio or MIDI). Units per the dump: markers "in beats/seconds (unit
    depends on warping)"; sample times in samples (``sample_length``: "the sample length in sample
    time")."""

    LIVE_CLASS = "Live.Clip.Clip"

    def __init__(self, version: LiveVersion, parent: Any, audio: bool, name: str = "",
                 file_path: str = "", file_rate: float = 44100.0, sample_length: int = -1,
                 warping: bool = False, warp: Optional[WarpMap] = None, warp_mode: int = BEATS_MODE,
                 start_marker: float = 0.0, end_marker: float = 4.0, looping: bool = False,
                 loop_start: Optional[float] = None, loop_end: Optional[float] = None,
                 pitch_coarse: int = 0, pitch_fine: float = 0.0, start_time: float = 0.0,
                 arrangement_length: Optional[float] = None) -> None:
        super().__init__(version)
        if looping and audio and not warping:
            # dump: looping "Only Warped Audio Clips or MIDI Clip can be looped."
            raise RuntimeError("unwarped audio clips cannot loop")
        self._parent = parent
        self._audio = audio
        self._name = name
        self._file_path = file_path
        self._file_rate = float(file_rate)
        self._sample_length = sample_length
        self._warping = warping
        self._warp = warp
        self._warp_mode = warp_mode
        self._start_marker = float(start_marker)
        self._end_marker = float(end_marker)
        self._looping = looping
        self._loop_start = float(start_marker if loop_start is None else loop_start)
        self._loop_end = float(end_marker if loop_end is None else loop_end)
        self._pitch_coarse = pitch_coarse
        self._pitch_fine = pitch_fine
        self._start_time = float(start_time)
        self._arrangement_length = arrangement_length
        self._notes = []  # type: List[MidiNoteSpecification]

    # -- identity ------------------------------------------------------------------------
    @property
    def canonical_parent(self) -> Any:
        return self._parent

    @property
    def is_audio_clip(self) -> bool:
        return self._audio

    @property
    def is_midi_clip(self) -> bool:
        return not self._audio

    @property
    def is_arrangement_clip(self) -> bool:
        # dump 12.2.0 (is_take_lane_clip): "A Take Lane Clip is also always an Arrangement Clip."
        return isinstance(self._parent, (Track, TakeLane))

    @property
    def is_take_lane_clip(self) -> bool:
        """dumps: 12.2.0+, "return true if this Clip is a Take Lane Clip." """
        return isinstance(self._parent, TakeLane)

    @property
    def name(self) -> str:
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        self._name = str(value)

    # -- audio --------------------------------------------------------------------------
    def _audio_only(self) -> None:
        if not self._audio:
            raise RuntimeError("Available for AudioClips only")  # the dumps' wording

    @property
    def file_path(self) -> str:
        self._audio_only()
        return self._file_path

    @property
    def sample_rate(self) -> float:
        self._audio_only()  # dumps: 11.0.5+; "Read-only access to the Clip's sampling rate."
        return self._file_rate

    @property
    def sample_length(self) -> int:
        self._audio_only()  # "the sample length in sample time or -1 if there is no sample available"
        return self._sample_length

    @property
    def warping(self) -> bool:
        self._audio_only()
        return self._warping

    @warping.setter
    def warping(self, value: bool) -> None:
        """Turning Warp off: the markers change unit from beats to seconds (dump: "unit depends on
        warping"); a clip that was looped stops looping (unwarped audio cannot loop)."""
        self._audio_only()
        if bool(value) == self._warping:
            return
        if not value:
            assert self._warp is not None
            to_s = lambda b: self._warp.beat_to_sample(b) / self._file_rate  # noqa: E731
            self._start_marker, self._end_marker = to_s(self._start_marker), to_s(self._end_marker)
            self._loop_start, self._loop_end = self._start_marker, self._end_marker
            self._looping = False
        self._warping = bool(value)

    @property
    def warp_mode(self) -> int:
        self._audio_only()
        return self._warp_mode

    @property
    def pitch_coarse(self) -> int:
        self._audio_only()  # "pitch (in halftones) ... ranging from -48 to 48"
        return self._pitch_coarse

    @property
    def pitch_fine(self) -> float:
        # The dumps say "ranging from -500 to 500"; the LOM reference and the Clip View's Detune say
        # cents, -50 ... 49. Modelled as cents; unverified which a real Live returns.
        self._audio_only()
        return self._pitch_fine

    def beat_to_sample_time(self, beat_time: float) -> float:
        self._audio_only()
        if not self._warping:
            raise RuntimeError("Raises an error if the sample is not warped.")  # dump text
        assert self._warp is not None
        return self._warp.beat_to_sample(beat_time)

    def sample_to_beat_time(self, sample_time: float) -> float:
        self._audio_only()
        if not self._warping:
            raise RuntimeError("Raises an error if the sample is not warped.")
        assert self._warp is not None
        return self._warp.sample_to_beat(sample_time)

    def seconds_to_sample_time(self, seconds: float) -> float:
        """dump 11.0.0: "Converts the given seconds to sample time. Raises an error if the sample is
        warped." Sample time of an unwarped clip = seconds x the file's rate (assumed linear)."""
        self._audio_only()
        if self._warping:
            raise RuntimeError("Raises an error if the sample is warped.")
        return seconds * self._file_rate

    def fake_move_warp_markers(self, markers: Sequence[Tuple[float, float]]) -> None:
        """Test set-up: the producer drags warp markers (in Live's UI, or ``move_warp_marker``): the
        clip's beat ↔ sample mapping changes, its start/end markers (in beats) do not."""
        self._warp = WarpMap(markers)

    # -- markers and loop ----------------------------------------------------------------
    @property
    def start_marker(self) -> float:
        return self._start_marker

    @start_marker.setter
    def start_marker(self, value: float) -> None:
        if value > self._end_marker:  # LOM: markers cannot cross
            raise RuntimeError("start marker cannot be behind the end marker")
        self._start_marker = float(value)
        if not self._looping:
            self._loop_start = self._start_marker

    @property
    def end_marker(self) -> float:
        return self._end_marker

    @end_marker.setter
    def end_marker(self, value: float) -> None:
        if value < self._start_marker:  # LOM: "Cannot be set before the start marker."
            raise RuntimeError("end marker cannot be before the start marker")
        self._end_marker = float(value)
        if not self._looping:
            self._loop_end = self._end_marker

    @property
    def looping(self) -> bool:
        return self._looping

    @looping.setter
    def looping(self, value: bool) -> None:
        if value and self._audio and not self._warping:
            raise RuntimeError("Only Warped Audio Clips or MIDI Clip can be looped.")
        self._looping = bool(value)

    @property
    def loop_start(self) -> float:
        # LOM: "For looped clips: loop start. For unlooped clips: clip start."
        return self._loop_start if self._looping else self._start_marker

    @loop_start.setter
    def loop_start(self, value: float) -> None:
        if value >= self._loop_end:
            raise RuntimeError("loop start must be before loop end")
        self._loop_start = float(value)

    @property
    def loop_end(self) -> float:
        # LOM: "For looped clips: loop end. For unlooped clips: clip end."
        return self._loop_end if self._looping else self._end_marker

    @loop_end.setter
    def loop_end(self, value: float) -> None:
        if value <= self._loop_start:
            raise RuntimeError("loop end must be after loop start")
        self._loop_end = float(value)

    @property
    def length(self) -> float:
        # LOM: "For looped clips: loop length. For unlooped clips: the clip's length" (start→end)
        if self._looping:
            return self._loop_end - self._loop_start
        return self._end_marker - self._start_marker

    @property
    def start_time(self) -> float:
        # dump: "For Arrangement View clips, this is the offset within the arrangement."
        return self._start_time if self.is_arrangement_clip else 0.0

    @property
    def end_time(self) -> float:
        """LOM: "For Session View clips, if Loop is on, this is the Loop End, otherwise it's the End
        Marker. For Arrangement View clips, this is always the position of the clip's rightmost
        edge in the Arrangement." An unwarped arrangement clip plays in real time, so its edge
        follows the song's tempo map (manual: unwarped clips ignore the tempo)."""
        if not self.is_arrangement_clip:
            return self.loop_end if self._looping else self._end_marker
        if self._arrangement_length is not None:
            return self._start_time + self._arrangement_length
        if self._audio and not self._warping:
            song = self._parent._song
            rate = 2.0 ** ((self._pitch_coarse + self._pitch_fine / 100.0) / 12.0)  # repitch
            seconds = (self._end_marker - self._start_marker) / rate
            start_s = song._tempo_map.seconds_at(self._start_time)
            return song._tempo_map.beat_at(start_s + seconds)
        return self._start_time + (self._end_marker - self._start_marker)

    # -- MIDI ---------------------------------------------------------------------------
    def add_new_notes(self, notes: Sequence[MidiNoteSpecification]) -> Any:
        """dump: add_new_notes returns None in 11.0.x, IntU64Vector (the new note ids) from 11.1."""
        if self._audio:
            raise RuntimeError("MIDI clips only")
        start = len(self._notes)
        for note in notes:
            if not (0 <= note.pitch <= 127) or note.duration <= 0:
                raise RuntimeError("invalid note")  # assumed: Live refuses notes outside the MIDI range
            self._notes.append(note)
        if self._version.returns(self.LIVE_CLASS, "add_new_notes") == "None":
            return None
        return list(range(start, len(self._notes)))

    @property
    def fake_notes(self) -> List[MidiNoteSpecification]:
        return list(self._notes)


class ClipSlot(LiveObject):
    LIVE_CLASS = "Live.ClipSlot.ClipSlot"

    def __init__(self, version: LiveVersion, track: "Track") -> None:
        super().__init__(version)
        self._track = track
        self._clip = None  # type: Optional[Clip]

    @property
    def canonical_parent(self) -> "Track":
        return self._track

    @property
    def clip(self) -> Optional[Clip]:
        return self._clip

    @property
    def has_clip(self) -> bool:
        return self._clip is not None

    def create_clip(self, length: float) -> Optional[Clip]:
        """dump: "Creates an empty clip with the given length in the slot. Throws an error when called
        on non-empty slots or slots in non-MIDI tracks." Returns None where the signature says
        ``-> None`` (11.0.0 – 11.3.20, 12.0.0 – 12.0.4), the Clip elsewhere. A new Session MIDI clip
        loops over its length (assumed: Live's default for new MIDI clips)."""
        if self._clip is not None:
            raise RuntimeError("the clip slot is not empty")
        if not self._track._midi:
            raise RuntimeError("not a MIDI track")
        self._clip = Clip(self._version, self, audio=False, start_marker=0.0, end_marker=length,
                          looping=True, loop_start=0.0, loop_end=length)
        return self._clip if self._version.returns(self.LIVE_CLASS, "create_clip") == "Clip" else None

    def delete_clip(self) -> None:
        if self._clip is not None:
            self._clip.fake_delete()
        self._clip = None

    def fake_put(self, clip: Clip) -> Clip:
        self._clip = clip
        return clip


class Track(LiveObject):
    LIVE_CLASS = "Live.Track.Track"

    def __init__(self, version: LiveVersion, song: "Song", name: str, midi: bool, scenes: int) -> None:
        super().__init__(version)
        self._song = song
        self._name = name
        self._midi = midi
        self._slots = tuple(ClipSlot(version, self) for _ in range(scenes))
        self._arrangement = []  # type: List[Clip]
        self._mixer = MixerDevice(version)
        self._mute = False
        self._lanes = []  # type: List[TakeLane]

    @property
    def canonical_parent(self) -> "Song":
        return self._song

    @property
    def name(self) -> str:
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        self._name = str(value)

    @property
    def has_midi_input(self) -> bool:
        return self._midi

    @property
    def has_audio_input(self) -> bool:
        return not self._midi

    @property
    def clip_slots(self) -> Tuple[ClipSlot, ...]:
        return self._slots

    @property
    def arrangement_clips(self) -> Tuple[Clip, ...]:
        return tuple(c for c in self._arrangement if not c._deleted)

    @property
    def mixer_device(self) -> MixerDevice:
        return self._mixer

    @property
    def mute(self) -> bool:
        # dump: "Mute/unmute the track." (the Track Activator switched off)
        return self._mute

    @mute.setter
    def mute(self, value: bool) -> None:
        self._mute = bool(value)

    @property
    def take_lanes(self) -> Tuple["TakeLane", ...]:
        # dumps: 12.2.0+, "returns the take lanes."
        return tuple(lane for lane in self._lanes if not lane._deleted)

    def create_take_lane(self) -> "TakeLane":
        """dumps: 12.2.0+, "Create a new TakeLane for this track." The signature says ``-> LomObject``
        (C++ ``TWeakPtr<TPyHandleBase>``), ableton-live-stubs say ``-> TakeLane`` (a LomObject
        subclass): the fake returns the TakeLane. Assumed: the new lane goes after the existing
        ones in ``take_lanes`` and is named like Live's UI names takes ("Take N")."""
        lane = TakeLane(self._version, self, "Take %d" % (len(self._lanes) + 1))
        self._lanes.append(lane)
        return lane

    def create_midi_clip(self, start_time: float, length: float) -> Optional[Clip]:
        """dumps: exists from 12.1.10 (absent in 12.1.0); ``-> None`` in 12.1.10, ``-> Clip`` from
        12.2.0. "Creates an empty MIDI clip and inserts it into the arrangement at the specified time.
        Throws an error when called on a non-MIDI track ... or when the specified time is outside the
        [0., 1576800.] range". Loop state of the new clip: assumed off."""
        if not self._midi:
            raise RuntimeError("not a MIDI track")
        if not 0.0 <= start_time <= 1576800.0:
            raise RuntimeError("time out of range")
        clip = Clip(self._version, self, audio=False, start_marker=0.0, end_marker=length,
                    start_time=start_time, arrangement_length=length)
        self._arrangement.append(clip)
        return clip if self._version.returns(self.LIVE_CLASS, "create_midi_clip") == "Clip" else None

    def duplicate_clip_to_arrangement(self, clip: Clip, destination_time: float) -> Clip:
        """dump: "Duplicate the given clip into the arrangement of this track at the provided
        destination time and return it. When the type of the clip and the type of the track are
        incompatible, a runtime error is raised." Passing None (what a None from create_clip gives)
        is a Boost.Python argument error: ``Boost.Python.ArgumentError``, a TypeError subclass.
        The copy's arrangement length is assumed to be one pass: start marker to loop end (looped)
        or to end marker."""
        if not isinstance(clip, Clip):
            raise TypeError("Python argument types in Track.duplicate_clip_to_arrangement(Track, %s) "
                            "did not match C++ signature" % type(clip).__name__)
        if clip._audio == self._midi:
            raise RuntimeError("the clip and the track types are incompatible")
        end = clip.loop_end if clip.looping else clip.end_marker
        copy = Clip(self._version, self, audio=clip._audio, name=clip.name, start_marker=clip.start_marker,
                    end_marker=clip.end_marker, looping=clip.looping, loop_start=clip._loop_start,
                    loop_end=clip._loop_end, start_time=destination_time,
                    arrangement_length=end - clip.start_marker)
        copy._notes = list(clip._notes)
        self._arrangement.append(copy)
        return copy

    def fake_add_arrangement_clip(self, clip: Clip) -> Clip:
        self._arrangement.append(clip)
        return clip


class TakeLane(LiveObject):
    """``Live.TakeLane.TakeLane`` (dumps: 12.2.0+): "This class represents a take lane in Live." The
    Max for Live LOM reference: take lanes are the Arrangement's comping lanes of a track."""

    LIVE_CLASS = "Live.TakeLane.TakeLane"

    def __init__(self, version: LiveVersion, track: Track, name: str) -> None:
        super().__init__(version)
        self._track = track
        self._name = name
        self._clips = []  # type: List[Clip]

    @property
    def canonical_parent(self) -> Track:
        # "Get the canonical parent of the take lane."
        return self._track

    @property
    def name(self) -> str:
        # "Read/write access to the name of the TakeLane, as visible in the take lane header."
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        self._name = str(value)

    @property
    def arrangement_clips(self) -> Tuple[Clip, ...]:
        # "Read-only access to the arrangement clips in the take lane."
        return tuple(c for c in self._clips if not c._deleted)

    def create_midi_clip(self, start_time: float, length: float) -> Optional[Clip]:
        """dumps 12.2.0+: ``-> Clip``; "Creates an empty MIDI clip and inserts it into the arrangement
        at the specified time. Throws an error when called on a non-MIDI track or a frozen track,
        when the specified time is outside the [0., 1576800.] range, or when the track is currently
        being recorded into." Loop state of the new clip: assumed off (as Track.create_midi_clip's).
        Assumed: a take lane's clip is not among the track's own ``arrangement_clips`` (the main lane)."""
        if not self._track._midi:
            raise RuntimeError("not a MIDI track")
        if not 0.0 <= start_time <= 1576800.0:
            raise RuntimeError("time out of range")
        clip = Clip(self._version, self, audio=False, start_marker=0.0, end_marker=length,
                    start_time=start_time, arrangement_length=length)
        self._clips.append(clip)
        return clip if self._version.returns(self.LIVE_CLASS, "create_midi_clip") == "Clip" else None


class Scene(LiveObject):
    """``Live.Scene.Scene``: a row of the Session; a scene covers one clip slot of every track
    (dump: clip_slots "return a list of clipslots ... that this scene covers")."""

    LIVE_CLASS = "Live.Scene.Scene"

    def __init__(self, version: LiveVersion, song: "Song") -> None:
        super().__init__(version)
        self._song = song
        self._name = ""

    @property
    def canonical_parent(self) -> "Song":
        return self._song

    @property
    def name(self) -> str:
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        self._name = str(value)

    @property
    def clip_slots(self) -> Tuple[ClipSlot, ...]:
        index = self._song._scenes.index(self)
        return tuple(track.clip_slots[index] for track in self._song.tracks)


class SongView(LiveObject):
    LIVE_CLASS = "Live.Song.Song.View"

    def __init__(self, version: LiveVersion) -> None:
        super().__init__(version)
        self._detail_clip = None  # type: Optional[Clip]

    @property
    def detail_clip(self) -> Optional[Clip]:
        return self._detail_clip

    @detail_clip.setter
    def detail_clip(self, clip: Optional[Clip]) -> None:
        self._detail_clip = clip


class Song(LiveObject):
    """``Live.Song.Song``. ``track_limit`` models Live Lite (8 tracks) / Intro (16 tracks);
    ``scene_limit`` a scene limit of those editions (the number is not modelled on a real one)."""

    LIVE_CLASS = "Live.Song.Song"

    def __init__(self, version: LiveVersion, tempo: float = 120.0, scenes: int = 4,
                 tempo_map: Optional[Sequence[Tuple[float, float]]] = None,
                 track_limit: Optional[int] = None, scene_limit: Optional[int] = None) -> None:
        super().__init__(version)
        self._tempo_map = TempoMap(tempo_map or [(0.0, tempo)])
        self._playhead = 0.0
        self._scenes = [Scene(version, self) for _ in range(scenes)]  # type: List[Scene]
        self._scene_limit = scene_limit
        self._tracks = []  # type: List[Track]
        self._view = SongView(version)
        self._track_limit = track_limit
        self._undo_open = 0
        self._undo_steps = 0
        self._master = Track(version, self, "Main", midi=False, scenes=0)
        self._master._mixer = MixerDevice(version, song=self)

    def _tempo_now(self) -> float:
        return self._tempo_map.tempo_at(self._playhead)

    @property
    def tempo(self) -> float:
        # "Get/Set the global project tempo." With tempo automation, the tempo field shows the
        # automation's value at the current song position (manual, tempo automation).
        return self._tempo_now()

    @property
    def current_song_time(self) -> float:
        return self._playhead

    @current_song_time.setter
    def current_song_time(self, beat: float) -> None:
        self._playhead = float(beat)

    @property
    def tracks(self) -> Tuple[Track, ...]:
        return tuple(t for t in self._tracks if not t._deleted)

    @property
    def view(self) -> SongView:
        return self._view

    @property
    def scenes(self) -> Tuple[Scene, ...]:
        # "Const access to a list of all Scenes in the Live Song."
        return tuple(self._scenes)

    def create_scene(self, index: int) -> Scene:
        """dump (every version, ``-> Scene``): "Create a new scene at the given index. If the index is
        -1, the new scene is added at the end. If the index is invalid or the new scene would exceed
        the limitations, a limitation error is raised." Every track gets an empty clip slot at that
        index (a scene covers a slot of every track; Ableton's Blackstar_Live_Logic/track_util.py reads
        ``track.clip_slots[-1]`` right after ``create_scene(-1)``)."""
        count = len(self._scenes)
        if index == -1:
            index = count
        if not 0 <= index <= count:
            raise LimitationError("invalid index")
        if self._scene_limit is not None and count >= self._scene_limit:
            raise LimitationError("scene limit reached")
        scene = Scene(self._version, self)
        self._scenes.insert(index, scene)
        for track in self._tracks:
            slots = list(track._slots)
            slots.insert(index, ClipSlot(self._version, track))
            track._slots = tuple(slots)
        return scene

    @property
    def master_track(self) -> Track:
        return self._master

    def create_midi_track(self, index: Optional[int] = None) -> Track:
        """dump: "Create a new midi track at the optional given index and return it. If the index
        is -1, the new track is added at the end ... If the index is invalid or the new track would
        exceed the limitations, a limitation error is raised." """
        tracks = self.tracks
        if index is None or index == -1:
            index = len(tracks)
        if not 0 <= index <= len(tracks):
            raise LimitationError("invalid index")
        if self._track_limit is not None and len(tracks) >= self._track_limit:
            raise LimitationError("track limit reached")
        track = Track(self._version, self, "MIDI", midi=True, scenes=len(self._scenes))
        self._tracks.insert(self._tracks.index(tracks[index]) if index < len(tracks) else len(self._tracks), track)
        return track

    def begin_undo_step(self) -> None:
        self._undo_open += 1

    def end_undo_step(self) -> None:
        self._undo_open -= 1
        self._undo_steps += 1

    # -- test set-up ---------------------------------------------------------------------
    def fake_add_track(self, name: str, midi: bool = False) -> Track:
        track = Track(self._version, self, name, midi=midi, scenes=len(self._scenes))
        self._tracks.append(track)
        return track

    @property
    def fake_undo(self) -> Tuple[int, int]:
        return self._undo_open, self._undo_steps


class CInstance(object):
    """The ``c_instance`` Live hands to ``create_instance`` (not a Live.* class, so not gated):
    Ableton's _Framework/ControlSurface.py calls ``song()``, ``show_message()`` and
    ``log_message()`` on it."""

    def __init__(self, song: Song) -> None:
        self._song = song
        self.messages = []  # type: List[str]
        self.log = []  # type: List[str]

    def song(self) -> Song:
        return self._song

    def show_message(self, text: str) -> None:
        self.messages.append(text)

    def log_message(self, text: str) -> None:
        self.log.append(text)


def new_song(version: str, **kw: Any) -> Song:
    return Song(live(version), **kw)


SR = 44100.0
# The standard test clip's warp markers: beat 0 at 0 s, beat 12 at 6 s, beat 22 at 12 s (two tempos)
STANDARD_WARP = ((0.0, 0.0), (6.0 * SR, 12.0), (12.0 * SR, 22.0))


def build_host(version: str, song_path: str, arrangement: bool = False, warped: bool = True,
               looped: bool = False, tempo: float = 100.0,
               tempo_map: Optional[Sequence[Tuple[float, float]]] = None,
               track_limit: Optional[int] = None, scene_limit: Optional[int] = None,
               pitch_coarse: int = 0, pitch_fine: float = 0.0,
               warp_mode: int = 4, file_rate: float = SR,
               warp: Sequence[Tuple[float, float]] = STANDARD_WARP) -> Tuple[Song, Clip]:
    """A song with tracks "Vocals" (audio, the clip) and "Drums": the clip is in Session slot 2 or
    in the Arrangement at beat 32, and is the Detail View clip. Warped: beats 2 - 18 of the warp
    markers ``warp`` (looped: start marker 4, loop 2 - 10). Unwarped: seconds 1 - 9."""
    song = Song(live(version), tempo=tempo, tempo_map=tempo_map, track_limit=track_limit, scene_limit=scene_limit)
    audio = song.fake_add_track("Vocals")
    song.fake_add_track("Drums")
    parent = audio if arrangement else audio.clip_slots[2]  # type: Any
    kw = dict(name="Vocal take", file_path=song_path, file_rate=file_rate, sample_length=int(12 * file_rate),
              pitch_coarse=pitch_coarse, pitch_fine=pitch_fine, warp_mode=warp_mode,
              start_time=32.0 if arrangement else 0.0)  # type: Dict[str, Any]
    if warped and looped:
        kw.update(warping=True, warp=WarpMap([(s * file_rate / SR, b) for s, b in warp]),
                  start_marker=4.0, end_marker=18.0, looping=True, loop_start=2.0, loop_end=10.0)
        if arrangement:
            kw["arrangement_length"] = 22.0  # the loop brace dragged out: 6 beats, then 2 more passes
    elif warped:
        kw.update(warping=True, warp=WarpMap([(s * file_rate / SR, b) for s, b in warp]),
                  start_marker=2.0, end_marker=18.0)
    else:
        kw.update(warping=False, start_marker=1.0, end_marker=9.0)
    clip = Clip(live(version), parent, audio=True, **kw)
    if arrangement:
        audio.fake_add_arrangement_clip(clip)
    else:
        audio.clip_slots[2].fake_put(clip)
    song.view.detail_clip = clip
    return song, clip
