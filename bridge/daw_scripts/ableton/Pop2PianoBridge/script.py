"""The Remote Script: triggers, the conversation with the bridge, and the MIDI clip it makes.

Live calls ``update_display`` about ten times a second; that is where the script polls its
non-blocking UDP socket, the selected clip's name and a bridge it started, so Live's UI never
waits on it. Live must never see an exception from here: every entry point catches and reports.

Triggers: rename an audio clip to include ``[p2p]`` or ``[p2p 7]`` (composer 7), or send
``/pop2piano/live/convert_selected [composer]`` to the listen port (9311 unless the config moves it).
Either may add ``tracked``: beats tracked from the audio even for a warped clip, whose own beat grid
(its warp map) is used otherwise: written to a temp file for the bridge (``beats_file``), removed
when the job ends, however it ends.

Auditions: ``[p2p all]`` or ``[p2p 3,7,11]`` (``convert_selected all`` / ``3,7,11``) converts the clip
in several styles in one request; each style's clip is placed as its ``done_style`` arrives, one undo
step each: in the Session, consecutive slots of one new MIDI track (scenes added at the end when the
column is short); in the Arrangement, a take lane per style on one new track where Live's API has
take lanes (12.2+), else a new track per style at the audio clip's position (see docs/ableton.md).

Runs on the Python each Live embeds: 3.7 (Live 11, 12.0) and 3.11 (12.1+).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import tempfile
import time
from typing import Any, Dict, List, Optional, Tuple

import Live

from . import osc
from .config import BridgeConfig, load_config, parse_config
from .launcher import Launcher
from .placement import (
    ALL_STYLES,
    TRACKED,
    Region,
    audition_styles,
    choose_styles,
    clip_state,
    composer_from_name,
    describe_composers,
    liveobj_valid,
    placed_notes,
    region_for,
    same_beats,
    strip_command,
    tracked_from_name,
    warp_beats,
)

NO_ANSWER_S = 3.0
PREFIX = "Pop2Piano: "
NOT_RUNNING = ("the bridge is not running: start it with `pop2piano-bridge serve`, or run "
               "`pop2piano-bridge install ableton` so Live can start it")
MODEL_UNAVAILABLE = "the bridge has no model: %s"
TRACK_LIMIT = ("Live's track limit is reached (Live Lite/Intro): delete a track, "
               "then convert again")
AUDITION_TRACK_LIMIT = ("Live's track limit is reached (Live Lite/Intro): delete tracks, or audition "
                        "fewer styles ([p2p 3,7,11])")
AUDITION_SCENE_LIMIT = ("Live's scene limit is reached (Live Lite/Intro): delete empty scenes, or audition "
                        "fewer styles ([p2p 3,7,11])")
AUDITION_TRACK_GONE = "its track was deleted"
ON_WARP_GRID = "on the clip's warp grid"
TRACKED_BEATS = "with beats tracked from the audio"
OLD_BRIDGE = ("the running bridge is older than this script and cannot take the clip's warp grid: quit "
              "that `pop2piano-bridge serve` (Live then starts the installed one), or convert with [p2p tracked]")
BEATS_PREFIX = "pop2piano-live-"
BEATS_SUFFIX = ".beats.json"

logger = logging.getLogger(__name__)


class AuditionStopped(Exception):
    """Placing an audition's styles cannot go on (why, for the status bar)."""


class Audition:
    """What an audition has placed so far, and where the next style goes."""

    def __init__(self, styles: List[str]) -> None:
        self.styles = styles  # the styles asked, in order ([] for "all" before the bridge named them)
        self.ready = 0  # done_style replies received
        self.placed: List[str] = []  # the styles whose clip is in the set
        self.track: Optional[Live.Track.Track] = None  # the audition track (Session; take lanes)
        self.tracks: List[Live.Track.Track] = []  # a track per style (Arrangement without take lanes)
        self.where: List[str] = []  # where each placed style went ("scene 3", "take lane 2", a track)
        self.stopped = ""  # why placing stopped ("" while it goes on)
        self.notes: List[str] = []  # what the producer should know about the placement (each once)

    def progress(self) -> str:
        if self.styles:
            return "%d of %d styles ready" % (self.ready, len(self.styles))
        return "%d style%s ready" % (self.ready, "" if self.ready == 1 else "s")

    def note(self, text: str) -> None:
        if text and text not in self.notes:
            self.notes.append(text)


class Pending:
    """A conversion the bridge is working on, and where its MIDI clip will go."""

    def __init__(self, clip: Live.Clip.Clip, track: Live.Track.Track, region: Region, composer: str,
                 name: str, scene: Optional[int], position: float, span: float, note: str,
                 beats: Optional[List[float]] = None, beats_file: str = "",
                 audition: Optional[Audition] = None) -> None:
        self.clip = clip
        self.track = track
        self.region = region
        self.composer = composer
        self.name = name
        self.scene = scene  # Session slot index, or None for an Arrangement clip
        self.position = position  # Arrangement position in beats
        self.span = span  # the audio clip's length in the Arrangement, beats
        self.note = note  # what the producer should know about the placement ("" if nothing)
        self.beats = beats  # the warp grid sent (source seconds), or None: the bridge tracks beats
        self.beats_file = beats_file  # the file holding it ("" when none); removed by discard()
        self.audition = audition  # an audition of several styles, or None for one conversion
        self.state = clip_state(clip)
        self.sent = time.monotonic()
        self.accepted = False
        self.waiting = False  # held until a bridge started from Live answers
        self.retried = False

    def args(self, job_id: str, listen_port: int, tempo: float) -> List[osc.Arg]:
        region = self.region
        chosen: List[osc.Arg] = ["composer", self.composer] if self.composer else []
        grid: List[osc.Arg] = ["beats_file", self.beats_file] if self.beats_file else []
        return [job_id, region.path, *chosen, "start", region.start, "duration",
                region.duration, "playrate", region.playrate, "tempo", float(tempo), "output", "file",
                *grid, "reply_port", listen_port]

    def discard(self) -> None:
        """The job ended (or was given up): remove the beats file it was sent with."""
        path, self.beats_file = self.beats_file, ""
        if path:
            try:
                os.remove(path)
            except OSError:
                pass  # already gone (a temp cleaner), or cannot be removed: nothing Live must see


class Pop2PianoBridge:
    """What Live instantiates; implements the calls Live makes on a control surface."""

    def __init__(self, c_instance: Any, config_dir: Optional[str] = None) -> None:
        self._c = c_instance
        self._jobs: Dict[str, Pending] = {}
        self._counter = 0
        self._sock: Optional[socket.socket] = None
        self.listen_port = 0
        self.composers: Optional[List[str]] = None  # what the bridge said; None before it answered
        self.model_problem = ""
        self._folder = config_dir or os.path.dirname(os.path.abspath(__file__))
        try:
            self.config: BridgeConfig = load_config(self._folder)
        except Exception as exc:  # never fail Live's load of the script over a config file
            self.config = parse_config({})
            self._report("cannot read the config", exc)
        self.launcher = Launcher(self.config, self._folder)
        try:
            self._open_socket()
            self._ask("/pop2piano/composers")
        except Exception as exc:  # Live must never see an exception
            self._report("cannot start", exc)

    # -- what Live calls ---------------------------------------------------------------
    def disconnect(self) -> None:
        try:
            if self._sock is not None:
                self._sock.close()
        except Exception:
            pass
        self._sock = None
        for job_id in list(self._jobs):  # replies can no longer arrive: their beats files go now
            self._forget(job_id)

    def update_display(self) -> None:
        try:
            self._poll_clip_command()
            self._poll_socket()
            self._poll_launcher()
            self._check_unanswered()
        except Exception as exc:  # Live must never see an exception
            self._report("error", exc)

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

    # -- set-up ------------------------------------------------------------------------
    def _open_socket(self) -> None:
        port = self.config.listen_port
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setblocking(False)
            connreset = getattr(socket, "SIO_UDP_CONNRESET", None)  # Windows only
            if connreset is not None:  # else an ICMP "port unreachable" (no bridge yet) resets reads
                getattr(sock, "ioctl")(connreset, False)
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            self._message("cannot listen on UDP %d (%s): another program holds it; set listen_port in %s"
                          % (port, exc, self.config.path or "pop2piano-bridge.json"))
            return
        self._sock = sock
        self.listen_port = sock.getsockname()[1]

    # -- triggers ----------------------------------------------------------------------
    def song(self) -> Live.Song.Song:
        song: Live.Song.Song = self._c.song()
        return song

    def convert_selected(self, composer: str = "", tracked: bool = False) -> Optional[str]:
        """Convert the clip shown in Detail View; returns the job id, or None with a message shown.

        ``composer``: "" (the bridge's first style), one style (``composer7`` or ``7``), or an
        audition: ``all`` or a comma-separated list (``3,7,11``). A warped clip is converted on its
        own beat grid unless ``tracked``; an unwarped one always with beats tracked from the audio."""
        song = self.song()
        clip = song.view.detail_clip
        if clip is None or not liveobj_valid(clip) or not clip.is_audio_clip:
            self._message("select an audio clip first")
            return None
        if not composer:
            composer = self.composers[0] if self.composers else ""  # "": the bridge's default style
        else:
            try:
                composer = choose_styles(composer, self.composers)
            except ValueError as exc:
                self._message(str(exc))
                return None
        styles = audition_styles(composer, self.composers)
        try:
            region, note = region_for(clip, float(song.tempo), self._tempo_automated(song))
        except ValueError as exc:
            self._message(str(exc))
            return None
        track, scene, position, span = self._home_of(clip)
        name = strip_command(clip.name) or "Audio"
        beats, beats_file, why_not = (None, "", "") if tracked or not region.warped else self._warp_grid(clip, region)
        audition = Audition(styles) if styles is not None else None
        pending = Pending(clip, track, region, composer, name, scene, position, span, note, beats, beats_file,
                          audition)
        job_id = self._submit(pending)
        grid = "%s%s" % (ON_WARP_GRID if beats_file else TRACKED_BEATS,
                         " (the clip's warp grid cannot be used: %s)" % why_not if why_not else "")
        if self.model_problem:
            self._message(MODEL_UNAVAILABLE % self.model_problem)
        elif styles is not None:
            if composer != ALL_STYLES:
                asked = "%d styles (%s)" % (len(styles), ", ".join(styles))
            else:  # the bridge's styles, when it has named them
                asked = "every style (%d)" % len(styles) if styles else "every style"
            self._message("auditioning %s in %s %s…" % (name, asked, grid))
        else:
            self._message("converting %s (%s) %s…" % (name, composer or "the default style", grid))
        return job_id

    @staticmethod
    def _warp_grid(clip: Live.Clip.Clip, region: Region) -> Tuple[Optional[List[float]], str, str]:
        """(the warped clip's beats, the file they were written to, why not when there is none)."""
        try:
            beats = warp_beats(clip, region)
        except (ValueError, RuntimeError, ArithmeticError) as exc:  # RuntimeError: Live's own
            return None, "", str(exc)
        try:
            fd, path = tempfile.mkstemp(prefix=BEATS_PREFIX, suffix=BEATS_SUFFIX)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    json.dump(beats, handle)
            except BaseException:
                os.remove(path)
                raise
        except OSError as exc:
            return None, "", "cannot write the temp file (%s)" % exc
        return beats, os.path.abspath(path), ""

    def _submit(self, pending: Pending) -> str:
        self._counter += 1
        job_id = "live-%d-%d" % (int(time.time()) % 100000000, self._counter)
        self._jobs[job_id] = pending
        pending.sent = time.monotonic()
        self._send("/pop2piano/convert", pending.args(job_id, self.listen_port, pending.region.tempo))
        return job_id

    def _forget(self, job_id: str) -> Optional[Pending]:
        """The job is over for this script (ended, given up, or the script unloads)."""
        pending = self._jobs.pop(job_id, None)
        if pending is not None:
            pending.discard()
        return pending

    def _poll_clip_command(self) -> None:
        clip = self.song().view.detail_clip
        if clip is None or not liveobj_valid(clip) or not clip.is_audio_clip:
            return
        name = clip.name
        try:
            composer = composer_from_name(name, self.composers)
        except ValueError as exc:
            clip.name = strip_command(name)  # consume it either way, or it would fire every tick
            self._message(str(exc))
            return
        if composer is None:
            return
        clip.name = strip_command(name)
        self.convert_selected(composer, tracked_from_name(name))

    @staticmethod
    def _tempo_automated(song: Live.Song.Song) -> bool:
        """Whether the song tempo has automation (the main track's Song Tempo parameter)."""
        try:
            return int(song.master_track.mixer_device.song_tempo.automation_state) != 0
        except Exception:  # an older or odd set: assume a steady tempo
            return False

    # -- the bridge conversation -------------------------------------------------------
    def _send(self, address: str, args: List[osc.Arg]) -> None:
        if self.config.secret:  # a bridge started with --secret wants it on every request
            args = list(args) + ["secret", self.config.secret]
        if self._sock is None:
            self._message("no socket; reload the control surface")
            return
        try:
            self._sock.sendto(osc.encode(address, args), (self.config.host, self.config.port))
        except OSError as exc:
            self._message("cannot reach the bridge (%s)" % exc)

    def _ask(self, address: str) -> None:
        """A request answered at our socket's port (the source port: no reply_port needed)."""
        self._send(address, [])

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
            words = [str(a) for a in args if isinstance(a, str)]
            tracked = TRACKED in [w.lower() for w in words]
            chosen = [w for w in words if w.lower() != TRACKED]
            self.convert_selected(",".join(chosen), tracked)  # several words: a list (an audition)
            return
        if address == "/pop2piano/pong":
            self._bridge_answered()
            return
        if address == "/pop2piano/composers":
            self.composers = [str(a) for a in args]
            self.model_problem = ""
            return
        job_id = str(args[0]) if args else ""
        if address == "/pop2piano/error" and job_id == "" and len(args) >= 3:
            if args[1] == "model_unavailable":
                self.model_problem = str(args[2])
                self._message(MODEL_UNAVAILABLE % self.model_problem)
            return
        pending = self._jobs.get(job_id)
        if pending is None:
            return
        audition = pending.audition
        if address == "/pop2piano/accepted":
            pending.accepted = True
        elif address == "/pop2piano/progress" and len(args) >= 3:
            if audition is None:
                self._message("%s %d%% %s" % (pending.name, int(float(args[1]) * 100), args[2]))
            elif not audition.stopped:
                self._message("%s audition %d%% %s (%s)" % (pending.name, int(float(args[1]) * 100), args[2],
                                                            audition.progress()))
        elif address == "/pop2piano/done_style" and len(args) >= 5 and audition is not None:
            self._place_style(job_id, pending, audition, str(args[1]), str(args[3]))
        elif address == "/pop2piano/done" and len(args) >= 4:
            self._forget(job_id)
            if audition is None:
                self._finish(pending, str(args[2]))
            else:
                self._audition_done(pending, audition)
        elif address == "/pop2piano/error" and len(args) >= 3:
            self._forget(job_id)
            self._job_error(pending, str(args[1]), str(args[3]) if len(args) >= 4 else str(args[2]))
        elif address == "/pop2piano/cancelled":
            self._forget(job_id)
            if audition is not None and audition.stopped:
                self._message(self._audition_stop_text(pending, audition))
            elif audition is not None:
                self._message("%s audition cancelled (%d placed)" % (pending.name, len(audition.placed)))
            else:
                self._message("%s cancelled" % pending.name)

    def _job_error(self, pending: Pending, code: str, text: str) -> None:
        audition = pending.audition
        if audition is not None and audition.stopped:
            self._message(self._audition_stop_text(pending, audition))  # the cancel crossed the error
            return
        name = pending.name
        if audition is not None:  # what is placed stays: say how much
            name = "%s audition (%d of %s placed)" % (
                pending.name, len(audition.placed), len(audition.styles) if audition.styles else "the styles")
        if code == "model_unavailable":
            self.model_problem = text
            self._message("%s: %s" % (name, MODEL_UNAVAILABLE % text))
        elif code == "bad_request" and "unknown option 'beats_file'" in text:
            self._message("%s: %s" % (name, OLD_BRIDGE))
        elif code == "unknown_composer":
            styles = describe_composers(self.composers) if self.composers else "see `pop2piano-bridge doctor`"
            self._message("%s: the bridge has no %s (%s)" % (name, pending.composer, styles))
        else:
            self._message("%s: %s" % (name, text))

    def _check_unanswered(self) -> None:
        now = time.monotonic()
        for job_id, pending in list(self._jobs.items()):
            if pending.accepted or pending.waiting or now - pending.sent <= NO_ANSWER_S:
                continue
            if pending.retried:
                self._forget(job_id)
                self._message(NOT_RUNNING)
                continue
            if self.launcher.starting:
                pending.waiting = True
                continue
            reason = self.launcher.why_not()
            if reason:
                self._forget(job_id)
                self._message("%s (%s)" % (NOT_RUNNING, reason))
                continue
            try:
                self.launcher.start()
            except (OSError, ValueError) as exc:
                self._forget(job_id)
                self._message("the bridge command could not be started (%s: %s); run `pop2piano-bridge "
                              "install ableton`" % (" ".join(self.config.command), exc))
                continue
            pending.waiting = True
            self._message("starting the bridge (%s); the model may take a minute to load…"
                          % " ".join(self.config.command))

    def _poll_launcher(self) -> None:
        launcher = self.launcher
        if not launcher.starting:
            return
        failure = launcher.failure()
        if failure:
            for job_id, pending in list(self._jobs.items()):
                if pending.waiting:
                    self._forget(job_id)
            self._message(failure)
            return
        if launcher.ping_due():
            self._ask("/pop2piano/ping")

    def _bridge_answered(self) -> None:
        """A pong: a bridge is up. Retry (once, under a new job id) what waited for it."""
        if self.launcher.starting:
            self.launcher.answered()
            self._message("the bridge is running")
        if self.composers is None:
            self._ask("/pop2piano/composers")
        for job_id, pending in list(self._jobs.items()):
            if pending.waiting:
                del self._jobs[job_id]
                pending.waiting = False
                pending.retried = True
                self._submit(pending)

    # -- the result --------------------------------------------------------------------
    @staticmethod
    def _read_notes(notes_path: str) -> Tuple[Optional[Dict[str, Any]], str]:
        """(the notes JSON, "") or (None, why it cannot be read)."""
        try:
            with open(notes_path, encoding="utf-8") as handle:
                document = json.load(handle)
        except (OSError, ValueError) as exc:
            return None, "cannot read %s (%s)" % (notes_path, exc)
        if not isinstance(document, dict):
            return None, "cannot read %s (not a notes document)" % notes_path
        return document, ""

    def _clip_problem(self, pending: Pending) -> str:
        """Why the notes cannot be placed on the audio clip as it is now ("" when they can)."""
        if not liveobj_valid(pending.clip):
            return "%s was deleted while converting" % pending.name
        if clip_state(pending.clip) != pending.state or not self._same_grid(pending):
            return "%s was changed while converting (warp, markers, loop or pitch); convert it again" % pending.name
        return ""

    def _finish(self, pending: Pending, notes_path: str) -> None:
        document, unreadable = self._read_notes(notes_path)
        if document is None:
            self._message(unreadable)
            return
        clip = pending.clip
        problem = self._clip_problem(pending)
        if problem:
            self._message(problem + ("; the piano part was not placed" if not liveobj_valid(clip) else ""))
            return
        notes = placed_notes(pending.region, clip, document)
        # the style the bridge used: the one asked for, or its default (named in the notes JSON)
        composer = document.get("composer") or pending.composer
        label = "%s - %s (piano)" % (pending.name, composer)
        song = self.song()
        song.begin_undo_step()
        try:
            try:
                track = self._new_track(pending)
            except Live.Base.LimitationError:
                self._message(TRACK_LIMIT)
                return
            track.name = label
            made, note = self._make_clip(pending, track, notes, label)
        finally:
            song.end_undo_step()
        if not liveobj_valid(made):
            self._message("Live did not create the piano clip on '%s'" % label)
            return
        extra = [n for n in (pending.note, note) if n]
        if pending.region.transpose:
            extra.append("transposed %+d to the clip's pitch" % pending.region.transpose)
        self._message("%d notes on '%s'%s" % (len(notes), label, "; " + "; ".join(extra) if extra else ""))

    # -- auditions ----------------------------------------------------------------------
    def _place_style(self, job_id: str, pending: Pending, audition: Audition, composer: str,
                     notes_path: str) -> None:
        """One style of an audition is ready: its clip goes into the set now, as one undo step (the
        first one also makes the track). Anything that stops the placing cancels the audition."""
        audition.ready += 1
        if audition.stopped:
            return  # answered before the bridge saw our cancel
        document, unreadable = self._read_notes(notes_path)
        if document is None:
            audition.note("%s not placed: %s" % (composer, unreadable))
            self._message("%s audition: %s; %s" % (pending.name, audition.progress(), audition.notes[-1]))
            return
        problem = self._clip_problem(pending)
        if problem:
            self._stop_audition(job_id, pending, audition, problem)
            return
        notes = placed_notes(pending.region, pending.clip, document)
        song = self.song()
        where, reason = "", ""
        song.begin_undo_step()
        try:
            where = self._put_style(pending, audition, composer, notes)
        except AuditionStopped as stop:
            reason = str(stop)
        finally:
            song.end_undo_step()
        if reason:
            self._stop_audition(job_id, pending, audition, reason)
            return
        audition.placed.append(composer)
        audition.where.append(where)
        self._message("%s audition: %s (%s: %d notes, %s)" % (pending.name, audition.progress(), composer,
                                                               len(notes), where))

    def _put_style(self, pending: Pending, audition: Audition, composer: str,
                   notes: List[Tuple[int, float, float, int]]) -> str:
        """Make one style's clip; returns where it went. Raises AuditionStopped when it cannot go
        anywhere (a track or scene limit, the audition's track deleted).

        Session: consecutive slots of one new track, from the audio clip's slot. Arrangement: a take
        lane per style on one new track where the API has take lanes (``Track.create_take_lane``,
        12.2+), else a new track per style, each at the audio clip's position."""
        if audition.track is not None:
            if not liveobj_valid(audition.track):
                raise AuditionStopped(AUDITION_TRACK_GONE)
            track = audition.track
        elif audition.tracks:
            return self._put_on_new_track(pending, audition, composer, notes, None)
        else:
            track = self._audition_track(pending, None)
            if pending.scene is None and not hasattr(track, "create_take_lane"):
                return self._put_on_new_track(pending, audition, composer, notes, track)
            track.name = "%s - audition (piano)" % pending.name
            audition.track = track
        if pending.scene is not None:
            return self._put_in_slot(pending, audition, track, composer, notes)
        return self._put_on_lane(pending, audition, track, composer, notes)

    def _audition_track(self, pending: Pending, after: Optional[Live.Track.Track]) -> Live.Track.Track:
        try:
            return self._new_track(pending, after)
        except Live.Base.LimitationError:
            raise AuditionStopped(AUDITION_TRACK_LIMIT)

    def _put_in_slot(self, pending: Pending, audition: Audition, track: Live.Track.Track, composer: str,
                     notes: List[Tuple[int, float, float, int]]) -> str:
        """The next empty slot from the audio clip's slot + the styles placed so far; scenes are
        added at the end while the column is too short (``Song.create_scene(-1)``, every version)."""
        index = (pending.scene or 0) + len(audition.placed)
        while index < len(track.clip_slots) and track.clip_slots[index].has_clip:
            index += 1  # a clip the producer put there meanwhile stays
        song = self.song()
        for _ in range(index + 1 - len(track.clip_slots)):
            try:
                song.create_scene(-1)
            except Live.Base.LimitationError:
                raise AuditionStopped(AUDITION_SCENE_LIMIT)
        if index >= len(track.clip_slots):
            raise RuntimeError("Live added a scene but no clip slot to '%s'" % track.name)
        clip = self._slot_clip(track.clip_slots[index], max(pending.region.length_beats, 0.25))
        self._fill(clip, pending, notes, composer)
        return "scene %d" % (index + 1)

    def _put_on_lane(self, pending: Pending, audition: Audition, track: Live.Track.Track, composer: str,
                     notes: List[Tuple[int, float, float, int]]) -> str:
        """A new take lane named after the style, its clip at the audio clip's position; the first
        style also on the main lane, so the track plays it (as Live puts the newest take there)."""
        region = pending.region
        length = max(region.length_beats, 0.25)
        span = max(pending.span, length) if region.loop is not None else length
        before = list(track.take_lanes)
        track.create_take_lane()  # the dumps say "-> LomObject": the new lane is read from take_lanes
        lanes = list(track.take_lanes)
        fresh = [lane for lane in lanes if lane not in before]
        if not fresh:
            raise RuntimeError("Live made no take lane on '%s'" % track.name)
        lane = fresh[-1]
        lane.name = composer
        made: Optional[Live.Clip.Clip] = lane.create_midi_clip(pending.position, span)
        if made is None or not liveobj_valid(made):
            found = [c for c in lane.arrangement_clips
                     if liveobj_valid(c) and abs(float(c.start_time) - pending.position) < 1e-6]
            made = found[-1] if found else None
        if made is None:
            raise RuntimeError("Live made no clip on the take lane %s" % composer)
        self._fill(made, pending, notes, composer)
        if not audition.placed:
            _main, note = self._make_clip(pending, track, notes, composer)
            audition.note(note)
        return "take lane %d" % (lanes.index(lane) + 1)

    def _put_on_new_track(self, pending: Pending, audition: Audition, composer: str,
                          notes: List[Tuple[int, float, float, int]], track: Optional[Live.Track.Track]) -> str:
        """A track of its own, after the audition's previous one; every style's track but the first
        is switched off (muted), so the piano part sounds like one conversion until the producer
        switches another one on."""
        if track is None:
            after = next((t for t in reversed(audition.tracks) if liveobj_valid(t)), None)
            track = self._audition_track(pending, after)
        label = "%s - %s (piano)" % (pending.name, composer)
        track.name = label
        off = bool(audition.tracks)
        if off:
            track.mute = True
        audition.tracks.append(track)
        made, note = self._make_clip(pending, track, notes, composer)
        audition.note(note)
        if made is None or not liveobj_valid(made):
            raise RuntimeError("Live did not create the piano clip on '%s'" % label)
        return "track '%s'%s" % (label, ", switched off" if off else "")

    def _stop_audition(self, job_id: str, pending: Pending, audition: Audition, reason: str) -> None:
        """Nothing more can be placed: cancel the rest (the styles placed stay)."""
        audition.stopped = reason
        self._send("/pop2piano/cancel", [job_id, self.listen_port])
        self._message(self._audition_stop_text(pending, audition))

    @staticmethod
    def _audition_stop_text(pending: Pending, audition: Audition) -> str:
        asked = len(audition.styles) if audition.styles else audition.ready
        return "%s audition stopped (%d of %d styles placed): %s" % (
            pending.name, len(audition.placed), asked, audition.stopped)

    def _audition_done(self, pending: Pending, audition: Audition) -> None:
        if audition.stopped:
            self._message(self._audition_stop_text(pending, audition))
            return
        count = len(audition.placed)
        extra = [n for n in [pending.note] + audition.notes if n]
        if pending.region.transpose and count:
            extra.append("transposed %+d to the clip's pitch" % pending.region.transpose)
        tail = "; " + "; ".join(extra) if extra else ""
        if not count:
            self._message("%s audition: no style was placed%s" % (pending.name, tail))
            return
        styles = "%d style%s" % (count, "" if count == 1 else "s")
        if audition.track is not None and pending.scene is not None:
            first, last = audition.where[0], audition.where[-1].replace("scene ", "")
            text = "%s in %s%s of '%s': launch one to hear it" % (
                styles, first.replace("scene", "scenes") if count > 1 else first, "-" + last if count > 1 else "",
                audition.track.name if liveobj_valid(audition.track) else "its track")
        elif audition.track is not None:
            text = ("%s on take lanes of '%s', %s also on its main lane: Show Take Lanes (the track's context "
                    "menu) to audition or comp another" % (
                        styles, audition.track.name if liveobj_valid(audition.track) else "its track",
                        audition.placed[0]))
        else:
            text = ("%s on a track each, %s playing and the others switched off: switch one on to hear it"
                    % (styles, audition.placed[0]))
        self._message("%s audition: %s%s" % (pending.name, text, tail))

    @staticmethod
    def _same_grid(pending: Pending) -> bool:
        """Whether a warped clip still has the beat grid it was converted on (no warp marker moved:
        the notes come back through the clip's current warp map)."""
        if pending.beats is None:
            return True
        try:
            return same_beats(warp_beats(pending.clip, pending.region), pending.beats)
        except (ValueError, RuntimeError, ArithmeticError):
            return False

    def _new_track(self, pending: Pending, after: Optional[Live.Track.Track] = None) -> Live.Track.Track:
        """A new MIDI track right after ``after`` (a track this script made) or else the audio's track."""
        song = self.song()
        tracks = list(song.tracks)
        index = len(tracks)  # the audio's track is gone: add at the end
        for anchor in (after, pending.track):
            if anchor is not None and liveobj_valid(anchor) and anchor in tracks:
                index = tracks.index(anchor) + 1
                break
        track: Live.Track.Track = song.create_midi_track(index)
        return track

    def _make_clip(self, pending: Pending, track: Live.Track.Track, notes: List[Tuple[int, float, float, int]],
                   label: str) -> Tuple[Optional[Live.Clip.Clip], str]:
        """The piano clip, filled; and a note for the producer ("" if none).

        Version differences (API dumps): ``ClipSlot.create_clip`` returns None before 11.3.25 and in
        12.0.0 – 12.0.4 (the clip is then ``slot.clip``, as Ableton's own scripts read it);
        ``Track.create_midi_clip`` exists from 12.1.10 and returns None until 12.2 (the clip is then
        found in ``arrangement_clips`` at its position); before 12.1.10 an Arrangement clip is made in
        a Session slot and copied with ``duplicate_clip_to_arrangement``.
        """
        region = pending.region
        length = max(region.length_beats, 0.25)
        if pending.scene is not None:
            slot = track.clip_slots[pending.scene]
            clip = self._slot_clip(slot, length)
            self._fill(clip, pending, notes, label)
            return clip, ""
        span = max(pending.span, length) if region.loop is not None else length
        if hasattr(track, "create_midi_clip"):
            # The stubs say "-> Clip"; the 12.1.10 dump says "-> None" (the clip is made all the same).
            made: Optional[Live.Clip.Clip] = track.create_midi_clip(pending.position, span)
            if made is None or not liveobj_valid(made):
                made = self._arrangement_clip_at(track, pending.position)
            if made is None:
                return None, ""
            self._fill(made, pending, notes, label)
            return made, ""
        slot = track.clip_slots[0]  # the new track's slots are empty
        template = self._slot_clip(slot, length)
        self._fill(template, pending, notes, label)
        copy = track.duplicate_clip_to_arrangement(template, pending.position)
        slot.delete_clip()
        note = ""
        if region.loop is not None:
            one_pass = region.loop.loop_end - region.loop.start_marker
            if pending.span > one_pass + 1e-6:
                note = ("this Live cannot lengthen an Arrangement clip from a script: the piano clip plays "
                        "the loop once; drag its right edge to repeat it")
        return copy, note

    @staticmethod
    def _slot_clip(slot: Live.ClipSlot.ClipSlot, length: float) -> Live.Clip.Clip:
        # The stubs say "-> Clip"; the dumps say "-> None" for 11.0 – 11.3.20 and 12.0.0 – 12.0.4.
        made: Optional[Live.Clip.Clip] = slot.create_clip(length)
        if made is not None and liveobj_valid(made):
            return made
        clip = slot.clip  # create_clip returned None (Live 11.0 – 11.3.20, 12.0.0 – 12.0.4)
        if clip is None or not liveobj_valid(clip):
            raise RuntimeError("Live made no clip in the slot")
        return clip

    @staticmethod
    def _arrangement_clip_at(track: Live.Track.Track, position: float) -> Optional[Live.Clip.Clip]:
        found = [c for c in track.arrangement_clips
                 if liveobj_valid(c) and c.is_midi_clip and abs(float(c.start_time) - position) < 1e-6]
        return found[-1] if found else None

    @staticmethod
    def _fill(clip: Live.Clip.Clip, pending: Pending, notes: List[Tuple[int, float, float, int]], label: str) -> None:
        """Name, loop like the audio clip, notes."""
        clip.name = label
        loop = pending.region.loop
        if loop is None:
            clip.looping = False
        else:
            clip.looping = True
            clip.loop_end = loop.loop_end
            clip.loop_start = loop.loop_start
            clip.end_marker = loop.loop_end
            clip.start_marker = loop.start_marker
        clip.add_new_notes(tuple(
            Live.Clip.MidiNoteSpecification(pitch=p, start_time=t, duration=d, velocity=float(v))
            for p, t, d, v in notes
        ))

    def _home_of(self, clip: Live.Clip.Clip) -> Tuple[Live.Track.Track, Optional[int], float, float]:
        """The clip's track, its Session slot index (None in the Arrangement), position and span."""
        if clip.is_arrangement_clip:
            parent: Any = clip.canonical_parent
            start = float(clip.start_time)
            return parent, None, start, float(clip.end_time) - start
        slot = clip.canonical_parent
        track = slot.canonical_parent
        return track, list(track.clip_slots).index(slot), 0.0, 0.0

    # -- messages ----------------------------------------------------------------------
    def _message(self, text: str) -> None:
        logger.info("%s%s", PREFIX, text)
        try:
            self._c.show_message(PREFIX + text)
        except Exception:  # Live must never see an exception from a status message
            pass

    def _report(self, what: str, exc: BaseException) -> None:
        logger.exception("Pop2Piano: %s", what)
        self._message("%s: %s: %s (see Live's Log.txt)" % (what, type(exc).__name__, exc))
