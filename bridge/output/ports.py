"""The live sink's MIDI port: one object that sends, silences, knows whether it still exists, and closes.

mido's idea of an output port (``BaseOutput``: ``send``, ``reset``, ``panic``), with what a
long-running bridge needs on top: :meth:`MidiPort.healthy` (a JACK or ALSA server that went
away takes the port with it while sends still "work") and :meth:`MidiPort.abandon` (closing a
JACK client whose server died crashes libjack). :func:`open_port` makes one on the first rtmidi
API that works; the API names come from mido's rtmidi backend, and people may type them as
they know them (``jack``, ``alsa``, ``coremidi``, ``winmm``, any case).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from typing import Any

import mido
import rtmidi

from bridge.errors import MidiUnavailable

log = logging.getLogger(__name__)

CHANNEL = 0
# The virtual port's name: what a producer routes to a piano track (on Windows, a loopMIDI port's).
DEFAULT_MIDI_PORT = "Pop2Piano Bridge"
SUSTAIN, ALL_NOTES_OFF = 64, 123
# Names people type → rtmidi's API names (mido.backends.rtmidi's). rtmidi's own names, any case, work too.
API_ALIASES = {
    "alsa": "LINUX_ALSA", "jack": "UNIX_JACK", "coremidi": "MACOSX_CORE", "core": "MACOSX_CORE",
    "macos": "MACOSX_CORE", "winmm": "WINDOWS_MM", "mme": "WINDOWS_MM", "windows": "WINDOWS_MM",
}
API_NAMES = ("LINUX_ALSA", "UNIX_JACK", "MACOSX_CORE", "WINDOWS_MM")
# On these a vanished server takes the port with it, and the port list shows it.
_SERVER_APIS = ("LINUX_ALSA", "UNIX_JACK")


def api_name(text: str) -> str:
    """``jack``, ``ALSA``, ``unix_jack`` … → rtmidi's API name. Raises ValueError for anything else."""
    wanted = text.strip()
    upper = wanted.upper()
    if upper in API_NAMES:
        return upper
    if wanted.lower() in API_ALIASES:
        return API_ALIASES[wanted.lower()]
    raise ValueError(f"unknown MIDI API {text!r}; use one of {', '.join(sorted({*API_ALIASES, *API_NAMES}))}")


class MidiPort:
    """An output port for live playback. Subclasses (or tests) provide :meth:`send`."""

    def send(self, message: mido.Message) -> None:
        raise NotImplementedError

    def panic(self, sounding: Iterable[int] = ()) -> None:
        """Silence: a note-off for each sounding pitch, then sustain off and all-notes-off on the channel."""
        for pitch in sorted(sounding):
            self.send(mido.Message("note_off", channel=CHANNEL, note=pitch, velocity=0))
        self.send(mido.Message("control_change", channel=CHANNEL, control=SUSTAIN, value=0))
        self.send(mido.Message("control_change", channel=CHANNEL, control=ALL_NOTES_OFF, value=0))

    def healthy(self) -> bool:
        """False once the port's backend says the port is gone."""
        return True

    def close(self) -> None:
        pass

    def abandon(self) -> None:
        """Forget the port without closing it (its backend is gone: closing could crash it)."""


class RtMidiPort(MidiPort):
    """A mido rtmidi output port, on the API it was opened with."""

    def __init__(self, port: Any, name: str, api: str) -> None:
        self.port = port
        self.name = name
        self.api = api
        self.abandoned = False

    def send(self, message: mido.Message) -> None:
        self.port.send(message)

    def healthy(self) -> bool:
        if self.api not in _SERVER_APIS:
            return True
        with quiet_native_stderr():
            probe = rtmidi.MidiIn(rtapi=getattr(rtmidi, f"API_{self.api}"), name="pop2piano-probe")
            try:
                return any(self.name in port for port in probe.get_ports())
            finally:
                probe.delete()

    def close(self) -> None:
        if not self.abandoned:
            self.port.close()

    def abandon(self) -> None:
        # Keep the mido port referenced: freeing it closes its rtmidi client, which crashes libjack
        # when the JACK server is gone (measured: SIGSEGV at exit). The bridge keeps abandoned players.
        self.abandoned = True


def compiled_apis() -> list[str]:
    """The rtmidi APIs this python-rtmidi was built with, in rtmidi's order of preference."""
    try:
        backend = mido.Backend("mido.backends.rtmidi", load=True)
        return [name for name in backend.module.get_api_names() if name in API_NAMES]
    except ImportError:
        return []


def open_port(name: str, api: str | None = None) -> RtMidiPort:
    """A virtual output port named ``name`` (an existing one on Windows, e.g. from loopMIDI).

    Without ``api`` every compiled rtmidi API is tried in turn (ALSA, JACK, CoreMIDI, WinMM).
    """
    apis = [api_name(api)] if api else compiled_apis()
    problems = []
    for candidate in apis:
        try:
            backend = mido.Backend(f"mido.backends.rtmidi/{candidate}", load=True)
            with quiet_native_stderr():
                if candidate == "WINDOWS_MM":
                    existing = [n for n in backend.get_output_names() if name.lower() in n.lower()]
                    if not existing:
                        problems.append(f"{candidate}: no port named {name!r} (Windows has no virtual ports)")
                        continue
                    port = backend.open_output(existing[0])
                else:
                    port = backend.open_output(name, virtual=True, client_name=name)
            log.info("live MIDI: %s port %r", candidate, name)
            return RtMidiPort(port, name, candidate)
        except (OSError, RuntimeError, ValueError, ImportError) as exc:  # rtmidi's errors are RuntimeErrors
            problems.append(f"{candidate}: {str(exc).strip() or type(exc).__name__}")
    advice = (
        "install loopMIDI and create a port with this name" if sys.platform == "win32"
        else "start a JACK server or load the ALSA sequencer (snd-seq)"
    )
    raise MidiUnavailable(f"cannot open MIDI port {name!r} ({'; '.join(problems) or 'no MIDI API'}); {advice}")


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Keep what C libraries print to stderr (ALSA's ``seq_hw.c`` lines, JACK's "Cannot connect to
    server socket") off the user's terminal: it goes to the debug log instead (``-v`` shows it).

    The process's file descriptor 2 is redirected for the duration, so this is for short calls
    (opening or probing a port); Python's own logging is unaffected.
    """
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all (pythonw)
        yield
        return
    with tempfile.TemporaryFile() as sink:
        sys.stderr.flush()
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode(errors="replace").strip()
            if text:
                log.debug("MIDI libraries said: %s", text)
