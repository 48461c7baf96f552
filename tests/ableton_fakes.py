"""Fakes of the Live objects the Remote Script touches, shaped by ableton-live-stubs (same names,
same units): Song (tempo, tracks, view.detail_clip, create_midi_track, undo steps), Track,
ClipSlot, audio Clip (markers, warping, beat↔sample conversion) and MIDI Clip (add_new_notes).
Also installs a fake ``Live`` module (only ``Live.Clip.MidiNoteSpecification`` is used at run time).
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field

import numpy as np


@dataclass
class MidiNoteSpecification:
    pitch: int
    start_time: float
    duration: float
    velocity: float = 100.0
    mute: bool = False


def install_live_module() -> None:
    live = types.ModuleType("Live")
    for name in ("Clip", "Song", "Track", "ClipSlot", "Application"):
        setattr(live, name, types.ModuleType(f"Live.{name}"))
    live.Clip.MidiNoteSpecification = MidiNoteSpecification
    sys.modules["Live"] = live


class WarpMap:
    """Piecewise-linear warp markers: (sample_time, beat_time) pairs, as Live's WarpMarker."""

    def __init__(self, markers: list[tuple[float, float]]) -> None:
        self.samples = np.array([m[0] for m in markers], dtype=float)
        self.beats = np.array([m[1] for m in markers], dtype=float)

    def sample_to_beat(self, sample: float) -> float:
        return float(np.interp(sample, self.samples, self.beats, left=None, right=None)) if self._inside(sample) else \
            self._extrapolate(sample, self.samples, self.beats)

    def beat_to_sample(self, beat: float) -> float:
        if self.beats[0] <= beat <= self.beats[-1]:
            return float(np.interp(beat, self.beats, self.samples))
        return self._extrapolate(beat, self.beats, self.samples)

    def _inside(self, sample: float) -> bool:
        return self.samples[0] <= sample <= self.samples[-1]

    @staticmethod
    def _extrapolate(x: float, xs: np.ndarray, ys: np.ndarray) -> float:
        i = 0 if x < xs[0] else -2
        slope = (ys[i + 1] - ys[i]) / (xs[i + 1] - xs[i])
        return float(ys[i] + (x - xs[i]) * slope)


@dataclass
class AudioClip:
    file_path: str
    sample_rate: float
    sample_length: int
    warping: bool
    start_marker: float
    end_marker: float
    name: str = "Vocal"
    warp: WarpMap | None = None
    pitch_coarse: int = 0
    pitch_fine: float = 0.0
    is_arrangement_clip: bool = False
    start_time: float = 0.0
    canonical_parent: object = None
    is_audio_clip: bool = True
    is_midi_clip: bool = False

    def sample_to_beat_time(self, sample_time: float) -> float:
        if not self.warping or self.warp is None:
            raise RuntimeError("the sample is not warped")
        return self.warp.sample_to_beat(sample_time)

    def beat_to_sample_time(self, beat_time: float) -> float:
        if not self.warping or self.warp is None:
            raise RuntimeError("the sample is not warped")
        return self.warp.beat_to_sample(beat_time)


@dataclass
class MidiClip:
    length: float
    name: str = ""
    notes: list[MidiNoteSpecification] = field(default_factory=list)
    is_audio_clip: bool = False
    is_midi_clip: bool = True
    is_arrangement_clip: bool = False
    start_time: float = 0.0

    def add_new_notes(self, notes) -> list[int]:
        start = len(self.notes)
        self.notes.extend(notes)
        return list(range(start, len(self.notes)))


class ClipSlot:
    def __init__(self, track: Track) -> None:
        self.canonical_parent = track
        self.clip = None

    @property
    def has_clip(self) -> bool:
        return self.clip is not None

    def create_clip(self, length: float) -> MidiClip:
        if self.clip is not None:
            raise RuntimeError("slot is not empty")
        if not self.canonical_parent.has_midi_input:
            raise RuntimeError("not a MIDI track")
        self.clip = MidiClip(length)
        return self.clip

    def delete_clip(self) -> None:
        self.clip = None


class Track:
    def __init__(self, name: str, scenes: int, midi: bool, live12: bool = True) -> None:
        self.name = name
        self.has_midi_input = midi
        self.clip_slots = [ClipSlot(self) for _ in range(scenes)]
        self.arrangement_clips: list[object] = []
        if live12:
            self.create_midi_clip = self._create_midi_clip

    def _create_midi_clip(self, start_time: float, length: float) -> MidiClip:
        clip = MidiClip(length, is_arrangement_clip=True, start_time=start_time)
        self.arrangement_clips.append(clip)
        return clip

    def duplicate_clip_to_arrangement(self, clip: MidiClip, destination_time: float) -> MidiClip:
        copy = MidiClip(clip.length, clip.name, list(clip.notes), is_arrangement_clip=True, start_time=destination_time)
        self.arrangement_clips.append(copy)
        return copy


class SongView:
    def __init__(self) -> None:
        self.detail_clip = None


class Song:
    def __init__(self, tempo: float = 120.0, scenes: int = 4, live12: bool = True) -> None:
        self.tempo = tempo
        self.scenes = scenes
        self.live12 = live12
        self.tracks: list[Track] = []
        self.view = SongView()
        self.undo_steps = 0
        self._open_undo = 0

    def add_audio_track(self, name: str) -> Track:
        track = Track(name, self.scenes, midi=False, live12=self.live12)
        self.tracks.append(track)
        return track

    def create_midi_track(self, index: int | None = None) -> Track:
        track = Track("MIDI", self.scenes, midi=True, live12=self.live12)
        self.tracks.insert(len(self.tracks) if index is None or index < 0 else index, track)
        return track

    def begin_undo_step(self) -> None:
        self._open_undo += 1

    def end_undo_step(self) -> None:
        self._open_undo -= 1
        self.undo_steps += 1


class CInstance:
    """The ``c_instance`` Live hands to ``create_instance``."""

    def __init__(self, song: Song) -> None:
        self._song = song
        self.messages: list[str] = []

    def song(self) -> Song:
        return self._song

    def show_message(self, text: str) -> None:
        self.messages.append(text)
