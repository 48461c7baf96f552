"""The Remote Script: triggers, the conversation with the bridge, and the MIDI clip it makes.

Live calls ``update_display`` about ten times a second; that is where the script polls its
non-blocking UDP socket and the selected clip's name, so Live's UI never waits on it.

Triggers: rename an audio clip to include ``[p2p]`` or ``[p2p 7]`` (composer 7), or send
``/pop2piano/live/convert_selected [composer]`` to UDP port 9311.
"""

from __future__ import annotations

import json
import os
import socket
import time
from typing import Any, Dict, List, Optional, Tuple

import Live

from . import osc
from .placement import Region, composer_from_name, placed_notes, region_for, strip_command

BRIDGE = ("127.0.0.1", 9310)
LISTEN_PORT = 9311
DEFAULT_COMPOSER = "composer1"
NO_ANSWER_S = 3.0
SECRET_ENV = "POP2PIANO_BRIDGE_SECRET"
NOT_RUNNING = "Pop2Piano: the bridge is not running. Start it with `pop2piano-bridge serve`."


class Pending:
    """A conversion the bridge is working on, and where its MIDI clip will go."""

    def __init__(self, clip: Live.Clip.Clip, track: Live.Track.Track, region: Region, composer: str,
                 name: str, scene: Optional[int], position: float, tempo: float) -> None:
        self.clip = clip
        self.track = track
        self.region = region
        self.composer = composer
        self.name = name
        self.scene = scene  # Session slot index, or None for an Arrangement clip
        self.position = position  # Arrangement position in beats
        self.tempo = tempo
        self.sent = time.monotonic()
        self.accepted = False


class Pop2PianoBridge:
    """What Live instantiates; implements the calls Live makes on a control surface."""

    def __init__(self, c_instance: Any, bridge: Tuple[str, int] = BRIDGE, listen_port: int = LISTEN_PORT) -> None:
        self._c = c_instance
        self._bridge = bridge
        self._jobs: Dict[str, Pending] = {}
        self._counter = 0
        self._sock: Optional[socket.socket] = None
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setblocking(False)
            sock.bind(("127.0.0.1", listen_port))
            self._sock = sock
            self.listen_port = sock.getsockname()[1]
        except OSError as exc:
            self.listen_port = 0
            self._message("Pop2Piano: cannot listen on UDP %d (%s)" % (listen_port, exc))

    # -- what Live calls ---------------------------------------------------------------
    def disconnect(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def update_display(self) -> None:
        self._poll_clip_command()
        self._poll_socket()
        self._check_unanswered()

    def connect_script_instances(self, instances: Any) -> None:
        pass

    def can_lock_to_devices(self) -> bool:
        return False

    def refresh_state(self) -> None:
        pass

    def build_midi_map(self, midi_map_handle: Any) -> None:
        pass

    def receive_midi(self, midi_bytes: Tuple[int, ...]) -> None:
        pass

    def suggest_input_port(self) -> str:
        return ""

    def suggest_output_port(self) -> str:
        return ""

    def suggest_map_mode(self, cc_no: int, channel: int) -> int:
        return -1

    def port_settings_changed(self) -> None:
        pass

    def toggle_lock(self) -> None:
        pass

    # -- triggers ----------------------------------------------------------------------
    def song(self) -> Live.Song.Song:
        song: Live.Song.Song = self._c.song()
        return song

    def convert_selected(self, composer: str = DEFAULT_COMPOSER) -> Optional[str]:
        """Convert the clip shown in Detail View; returns the job id, or None with a message shown."""
        song = self.song()
        clip = song.view.detail_clip
        if clip is None or not clip.is_audio_clip:
            self._message("Pop2Piano: select an audio clip first")
            return None
        try:
            region = region_for(clip, song.tempo)
        except ValueError as exc:
            self._message("Pop2Piano: %s" % exc)
            return None
        track, scene, position = self._home_of(clip)
        self._counter += 1
        job_id = "live-%d-%d" % (int(time.time()) % 100000000, self._counter)
        name = strip_command(clip.name) or "Audio"
        self._jobs[job_id] = Pending(clip, track, region, composer, name, scene, position, song.tempo)
        self._send("/pop2piano/convert", [
            job_id, region.path, "composer", composer, "start", region.start, "duration", region.duration,
            "playrate", region.playrate, "tempo", float(song.tempo), "output", "file",
            "reply_port", self.listen_port,
        ])
        self._message("Pop2Piano: converting %s (%s)…" % (name, composer))
        return job_id

    def _poll_clip_command(self) -> None:
        clip = self.song().view.detail_clip
        if clip is None or not clip.is_audio_clip:
            return
        composer = composer_from_name(clip.name)
        if composer is None:
            return
        clip.name = strip_command(clip.name)  # consume the command so it fires once
        self.convert_selected(composer or DEFAULT_COMPOSER)

    # -- the bridge conversation -------------------------------------------------------
    def _send(self, address: str, args: List[osc.Arg]) -> None:
        secret = os.environ.get(SECRET_ENV, "")
        if secret:  # a bridge started with --secret wants it on every request
            args = list(args) + ["secret", secret]
        if self._sock is None:
            self._message("Pop2Piano: no socket; reload the control surface")
            return
        try:
            self._sock.sendto(osc.encode(address, args), self._bridge)
        except OSError as exc:
            self._message("Pop2Piano: cannot reach the bridge (%s)" % exc)

    def _poll_socket(self) -> None:
        if self._sock is None:
            return
        for _ in range(64):  # bounded work per UI tick
            try:
                data, _source = self._sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # e.g. ICMP port unreachable surfaced on a UDP socket
            try:
                address, args = osc.decode(data)
            except osc.OscError:
                continue
            self._handle(address, args)

    def _handle(self, address: str, args: List[osc.Arg]) -> None:
        if address == "/pop2piano/live/convert_selected":
            composer = str(args[0]) if args and isinstance(args[0], str) else DEFAULT_COMPOSER
            self.convert_selected(composer)
            return
        job_id = str(args[0]) if args else ""
        pending = self._jobs.get(job_id)
        if pending is None:
            return
        if address == "/pop2piano/accepted":
            pending.accepted = True
        elif address == "/pop2piano/progress" and len(args) >= 3:
            self._message("Pop2Piano: %s %d%% %s" % (pending.name, int(float(args[1]) * 100), args[2]))
        elif address == "/pop2piano/done" and len(args) >= 4:
            del self._jobs[job_id]
            self._finish(pending, str(args[2]))
        elif address == "/pop2piano/error" and len(args) >= 3:
            del self._jobs[job_id]
            self._message("Pop2Piano: %s: %s" % (pending.name, args[2] if len(args) < 4 else args[3]))
        elif address == "/pop2piano/cancelled":
            del self._jobs[job_id]
            self._message("Pop2Piano: %s cancelled" % pending.name)

    def _check_unanswered(self) -> None:
        now = time.monotonic()
        for job_id, pending in list(self._jobs.items()):
            if not pending.accepted and now - pending.sent > NO_ANSWER_S:
                del self._jobs[job_id]
                self._message(NOT_RUNNING)

    # -- the result --------------------------------------------------------------------
    def _finish(self, pending: Pending, notes_path: str) -> None:
        try:
            with open(notes_path, encoding="utf-8") as handle:
                document = json.load(handle)
        except (OSError, ValueError) as exc:
            self._message("Pop2Piano: cannot read %s (%s)" % (notes_path, exc))
            return
        notes = placed_notes(pending.region, pending.clip, document, pending.tempo)
        song = self.song()
        song.begin_undo_step()
        try:
            clip = self._make_clip(pending)
            clip.name = "%s - %s (piano)" % (pending.name, pending.composer)
            clip.add_new_notes([
                Live.Clip.MidiNoteSpecification(pitch=p, start_time=t, duration=d, velocity=float(v))
                for p, t, d, v in notes
            ])
        finally:
            song.end_undo_step()
        self._message("Pop2Piano: %d notes on '%s - %s (piano)'" % (len(notes), pending.name, pending.composer))

    def _make_clip(self, pending: Pending) -> Live.Clip.Clip:
        song = self.song()
        tracks = list(song.tracks)
        index = tracks.index(pending.track) + 1 if pending.track in tracks else len(tracks)
        track = song.create_midi_track(index)
        track.name = "%s - %s (piano)" % (pending.name, pending.composer)
        length = max(pending.region.length_beats, 0.25)
        if pending.scene is not None:
            target: Live.ClipSlot.ClipSlot = track.clip_slots[pending.scene]
            made: Live.Clip.Clip = target.create_clip(length)
            return made
        if hasattr(track, "create_midi_clip"):  # Live 12
            arranged: Live.Clip.Clip = track.create_midi_clip(pending.position, length)
            return arranged
        # Live 11: make it in a Session slot, copy it to the Arrangement, remove the slot's clip
        slot: Live.ClipSlot.ClipSlot = track.clip_slots[0]
        clip = track.duplicate_clip_to_arrangement(slot.create_clip(length), pending.position)
        slot.delete_clip()
        return clip

    def _home_of(self, clip: Live.Clip.Clip) -> Tuple[Live.Track.Track, Optional[int], float]:
        """The clip's track, its Session slot index (None in the Arrangement) and position."""
        if clip.is_arrangement_clip:
            parent: Any = clip.canonical_parent
            return parent, None, float(clip.start_time)
        slot = clip.canonical_parent
        track = slot.canonical_parent
        return track, list(track.clip_slots).index(slot), 0.0

    def _message(self, text: str) -> None:
        try:
            self._c.show_message(text)
        except Exception:  # Live must never see an exception from a status message
            pass
