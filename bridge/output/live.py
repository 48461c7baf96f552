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
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import mido

from bridge.engine.types import Note
from bridge.output.ports import CHANNEL, MidiPort, open_port

log = logging.getLogger(__name__)

LEAD_S = 0.05  # a session starts this far ahead, so its first notes are not late
SPIN_S = 0.002  # the last stretch before an event is busy-waited for sub-millisecond timing


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
        self.waited = 0.0  # seconds the playhead stood at a horizon, waiting for notes not generated yet

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
    """Plays sessions on one :class:`~bridge.output.ports.MidiPort` with one thread and a steady clock."""

    def __init__(self, port: MidiPort, clock: Callable[[], float] = time.perf_counter) -> None:
        self.port = port
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
        try:
            return bool(self.port.healthy())
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
        self.port.abandon()

    def close(self) -> None:
        with self._cond:
            self._end_locked()
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=2)
        try:
            self.port.close()
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
                if session.sent:  # a wait once playback began (before the first note it is only a later start)
                    session.waited += now - session.origin - max(session.horizon, 0.0)
                session.origin = now - session.horizon
            session.horizon = max(session.horizon, horizon - session.from_seconds)
            session.finished = session.finished or finish
            self._cond.notify_all()

    def _end_locked(self) -> None:
        """Silence and drop the current session (caller holds the lock)."""
        if self._owners or self._session is not None:
            owners = set(self._owners)
            self._safely(lambda: self.port.panic(owners))
            self._owners.clear()
        self._session = None

    def _safe_send(self, message: mido.Message) -> bool:
        return self._safely(lambda: self.port.send(message))

    def _safely(self, act: Callable[[], None]) -> bool:
        try:
            act()
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
    """A player on a newly opened port (:func:`~bridge.output.ports.open_port`); closing it closes the port."""
    return Player(open_port(name, api))
