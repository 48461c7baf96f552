"""The live sink: an arrangement played on a (virtual) MIDI port on a steady clock.

A :class:`Player` owns one scheduling thread. A *session* is one arrangement being played;
it may be fed while it is still being generated (:meth:`Player.stream`): every chunk
comes with a *horizon* (no later chunk has a note starting before it), and when the
playhead reaches the horizon before the next chunk arrives, playback waits there
instead of dropping or rushing notes. Whatever ends a session — stop, a new play,
an error, shutdown — ends every sounding note first: note-offs for each, then
all-notes-off and sustain-off on the channel.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import mido

from bridge.engine.types import Note
from bridge.errors import MidiUnavailable

log = logging.getLogger(__name__)

CHANNEL = 0
LEAD_S = 0.05  # a session starts this far ahead, so its first notes are not late
SPIN_S = 0.002  # the last stretch before an event is busy-waited for sub-millisecond timing
API_NAMES = ("LINUX_ALSA", "UNIX_JACK", "MACOSX_CORE", "WINDOWS_MM")


def open_port(name: str, api: str | None = None) -> mido.ports.BaseOutput:
    """A virtual output port named ``name`` (an existing one on Windows, e.g. from loopMIDI).

    Without ``api`` every compiled rtmidi API is tried in turn (ALSA, JACK, CoreMIDI, WinMM).
    """
    apis = [api] if api else _compiled_apis()
    problems = []
    for candidate in apis:
        try:
            backend = mido.Backend(f"mido.backends.rtmidi/{candidate}", load=True)
            if candidate == "WINDOWS_MM":
                existing = [n for n in backend.get_output_names() if name.lower() in n.lower()]
                if not existing:
                    problems.append(f"{candidate}: no port named {name!r} (Windows has no virtual ports)")
                    continue
                port = backend.open_output(existing[0])
            else:
                port = backend.open_output(name, virtual=True, client_name=name)
            log.info("live MIDI: %s port %r", candidate, name)
            port.api = candidate  # which backend it lives on, for health checks
            return port
        except (OSError, RuntimeError, ValueError, ImportError) as exc:  # rtmidi raises SystemError subclasses of RuntimeError
            problems.append(f"{candidate}: {str(exc).strip() or type(exc).__name__}")
    advice = (
        "install loopMIDI and create a port with this name" if sys.platform == "win32"
        else "start a JACK server or load the ALSA sequencer (snd-seq)"
    )
    raise MidiUnavailable(f"cannot open MIDI port {name!r} ({'; '.join(problems) or 'no MIDI API'}); {advice}")


def _compiled_apis() -> list[str]:
    try:
        import rtmidi
    except ImportError:
        return []
    names = {getattr(rtmidi, f"API_{n}", None): n for n in API_NAMES}
    return [names[a] for a in rtmidi.get_compiled_api() if a in names]


@dataclass(order=True)
class _Event:
    time: float
    order: int  # note-offs (0) before note-ons (1) at the same time
    seq: int
    pitch: int = field(compare=False)
    velocity: int = field(compare=False)
    note_id: int = field(compare=False)


class Session:
    """One arrangement on the timeline; feed it with :meth:`add`, close it with :meth:`finish`."""

    def __init__(self, player: Player, from_seconds: float) -> None:
        self._player = player
        self.from_seconds = from_seconds
        self.events: list[_Event] = []
        self.horizon = -math.inf
        self.finished = False
        self.origin: float | None = None  # clock time of session time 0
        self.sent = 0
        self.timing_errors: list[float] = []  # seconds late (+) or early (-) per event sent

    def add(self, notes: Iterable[Note], horizon: float = math.inf) -> None:
        """Queue notes (session seconds); promise no later note starts before ``horizon``."""
        self._player._add(self, notes, horizon)

    def finish(self) -> None:
        """No more notes will come: play to the end."""
        self._player._add(self, (), math.inf, finish=True)

    @property
    def active(self) -> bool:
        return self._player._session is self


class Player:
    """Plays sessions on ``send`` (a port's send method) with one thread and a steady clock."""

    def __init__(
        self,
        send: Callable[[mido.Message], None],
        clock: Callable[[], float] = time.perf_counter,
        on_close: Callable[[], None] | None = None,
        health: Callable[[], bool] | None = None,
    ) -> None:
        self._send = send
        self._on_close = on_close
        self._health = health
        self._clock = clock
        self._cond = threading.Condition()
        self._session: Session | None = None
        self._owners: dict[int, int] = {}  # sounding pitch → id of the note that owns it
        self._ids = itertools.count()
        self._seq = itertools.count()
        self._closed = False
        self.failure: str | None = None
        self.last_session: Session | None = None
        self._thread = threading.Thread(target=self._run, name="live-midi", daemon=True)
        self._thread.start()

    # -- public API -------------------------------------------------------------------
    def stream(self, from_seconds: float = 0.0) -> Session:
        """Start a new session (ending the current one) to be fed as chunks arrive."""
        with self._cond:
            self._end_locked()
            session = Session(self, from_seconds)
            self._session = self.last_session = session
            self._cond.notify_all()
            return session

    def play(self, notes: Iterable[Note], from_seconds: float = 0.0) -> Session:
        """Play a finished arrangement from ``from_seconds``."""
        session = self.stream(from_seconds)
        session.add(notes)
        session.finish()
        return session

    def stop(self) -> None:
        """Silence at once: every sounding note off, then all-notes-off."""
        with self._cond:
            self._end_locked()
            self._cond.notify_all()

    def healthy(self) -> bool:
        """False once a send failed or the port's backend says the port is gone."""
        if self.failure:
            return False
        if self._health is None:
            return True
        try:
            return bool(self._health())
        except Exception as exc:  # the backend itself is down
            self.failure = f"{type(exc).__name__}: {exc}"
            return False

    @property
    def sounding(self) -> set[int]:
        with self._cond:
            return set(self._owners)

    def wait_idle(self, timeout: float) -> bool:
        """Block until no session is playing; ``False`` on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._session is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def abandon(self) -> None:
        """Stop the thread without touching the port (its backend is gone)."""
        with self._cond:
            self._session = None
            self._owners.clear()
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=2)

    def close(self) -> None:
        with self._cond:
            self._end_locked()
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=2)
        if self._on_close is not None:
            try:
                self._on_close()
            except Exception as exc:  # closing a port whose backend is gone
                log.warning("closing the MIDI port failed: %s", exc)

    # -- internals --------------------------------------------------------------------
    def _add(self, session: Session, notes: Iterable[Note], horizon: float, finish: bool = False) -> None:
        with self._cond:
            if session is not self._session:
                return  # ended meanwhile
            for note in notes:
                if note.end <= session.from_seconds:
                    continue
                start = max(note.start, session.from_seconds) - session.from_seconds
                end = note.end - session.from_seconds
                note_id = next(self._ids)
                velocity = max(1, min(127, int(note.velocity)))
                heapq.heappush(session.events, _Event(start, 1, next(self._seq), note.pitch, velocity, note_id))
                heapq.heappush(session.events, _Event(end, 0, next(self._seq), note.pitch, 0, note_id))
            now = self._clock()
            if session.origin is None:
                session.origin = now + LEAD_S
            elif session.horizon < math.inf and now - session.origin > session.horizon:
                # the playhead waited at the old horizon: resume from there
                session.origin = now - session.horizon
            session.horizon = max(session.horizon, horizon - session.from_seconds)
            session.finished = session.finished or finish
            self._cond.notify_all()

    def _end_locked(self) -> None:
        """Silence and drop the current session (caller holds the lock)."""
        if self._owners or self._session is not None:
            for pitch in sorted(self._owners):
                self._safe_send(mido.Message("note_off", channel=CHANNEL, note=pitch, velocity=0))
            self._owners.clear()
            self._safe_send(mido.Message("control_change", channel=CHANNEL, control=64, value=0))
            self._safe_send(mido.Message("control_change", channel=CHANNEL, control=123, value=0))
        self._session = None

    def _safe_send(self, message: mido.Message) -> bool:
        try:
            self._send(message)
            return True
        except Exception as exc:  # the backend went away: report, never crash the player
            self.failure = f"{type(exc).__name__}: {exc}"
            log.error("live MIDI send failed: %s", self.failure)
            return False

    def _run(self) -> None:
        with self._cond:
            while not self._closed:
                session = self._session
                if session is None or session.origin is None:
                    self._cond.wait()
                    continue
                if not session.events:
                    if session.finished:
                        self._session = None
                        self._cond.notify_all()
                    else:
                        self._cond.wait()
                    continue
                event = session.events[0]
                if event.time > session.horizon:
                    self._cond.wait()  # the next chunk has not arrived: hold the playhead
                    continue
                due = session.origin + event.time
                left = due - self._clock()
                if left > SPIN_S:
                    self._cond.wait(left - SPIN_S)
                    continue  # anything may have changed meanwhile
                # Busy-wait the last stretch without the lock, then send if still current.
                self._cond.release()
                try:
                    while self._clock() < due:
                        pass
                finally:
                    self._cond.acquire()
                if self._session is not session or not session.events or session.events[0] is not event:
                    continue
                heapq.heappop(session.events)
                self._fire(session, event, due)

    def _fire(self, session: Session, event: _Event, due: float) -> None:
        if event.order == 1:  # note-on; a re-strike of a sounding pitch ends it first
            if event.pitch in self._owners:
                self._safe_send(mido.Message("note_off", channel=CHANNEL, note=event.pitch, velocity=0))
            ok = self._safe_send(mido.Message("note_on", channel=CHANNEL, note=event.pitch, velocity=event.velocity))
            self._owners[event.pitch] = event.note_id
        else:
            if self._owners.get(event.pitch) != event.note_id:
                return  # a later strike owns the pitch now
            del self._owners[event.pitch]
            ok = self._safe_send(mido.Message("note_off", channel=CHANNEL, note=event.pitch, velocity=0))
        session.timing_errors.append(self._clock() - due)
        session.sent += 1
        if not ok:
            self._owners.clear()
            self._session = None
            self._cond.notify_all()


def port_player(name: str, api: str | None = None) -> Player:
    """A player on a newly opened port; closing the player closes the port.

    A JACK or ALSA server that goes away takes the port with it while sends still "work"
    (measured with JACK: no error, messages dropped; after a restart the port is missing),
    so the player checks that the port is still listed before each session.
    """
    port = open_port(name, api)
    backend_api = getattr(port, "api", None) or api
    return Player(port.send, on_close=port.close, health=lambda: _port_listed(name, backend_api))


def _port_listed(name: str, api: str | None) -> bool:
    if api in (None, "MACOSX_CORE", "WINDOWS_MM"):
        return True
    import rtmidi

    probe = rtmidi.MidiIn(rtapi=getattr(rtmidi, f"API_{api}"), name="pop2piano-probe")
    try:
        return any(name in port for port in probe.get_ports())
    finally:
        probe.delete()
