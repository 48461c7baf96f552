"""Where inference runs: in this process (:class:`LocalEngine`) or in a child process (:class:`ProcessEngine`).

Both are an :class:`Engine`, the seam the job manager works against.

The daemon uses a child process: beat tracking (essentia), resampling (resampy/numba)
and generation hold Python's GIL for long stretches, and in one process they would
delay the socket thread's replies and the live-MIDI scheduler by tens to hundreds of
milliseconds (measured: bench/daemon_bench.py). The child owns the model and the
analysis cache; the parent sends it one request at a time and relays its progress,
chunks and result. A child that dies fails only its job and is restarted.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from bridge.engine.beats import grid_tempo
from bridge.engine.planning import UNBROKEN
from bridge.engine.types import Arrangement, ChunkNotes, ClipRequest, Progress
from bridge.errors import BridgeError, Cancelled, ModelUnavailable, error_for
from bridge.jobs.cache import LRU

if TYPE_CHECKING:  # the converter pulls in torch and transformers: only the inference process loads it
    from bridge.engine.converter import Analysis, Converter

log = logging.getLogger(__name__)

ProgressCallback = Callable[[Progress], None]
ChunkCallback = Callable[[ChunkNotes], None]
StyleCallback = Callable[[Arrangement], None]


@dataclasses.dataclass(frozen=True)
class EngineSettings:
    """How to build a :class:`Converter` (picklable, for the child process)."""

    model: str
    device: str | None = None
    activation: str = "config"
    recipe: str = "faithful"
    beat_tracker: str = "auto"
    precision: str = "fp32"
    batch_size: int | None = None  # rows per generation batch (None: the converter's default)
    live_start: str = UNBROKEN  # when live playback starts: bridge.engine.planning.LIVE_STARTS

    def build(self) -> Converter:
        from bridge.engine.model import check_local  # light: no torch

        # A missing or incomplete folder fails in milliseconds, not after seconds of importing torch
        # (a bridge without its model tries again on every job).
        check_local(self.model)
        # heavy (torch, transformers): imported in the process that loads the model
        from bridge.engine.converter import Converter

        return Converter(self.model, device=self.device, activation=self.activation, recipe=self.recipe,
                         beat_tracker=self.beat_tracker, precision=self.precision, batch_size=self.batch_size,
                         live_start=self.live_start)


@dataclasses.dataclass(frozen=True)
class EngineInfo:
    composers: list[str]
    model_id: str
    revision: str
    activation: str
    recipe: str
    beat_tracker: str
    precision: str = "fp32"

    @property
    def key(self) -> tuple[str, ...]:
        """Everything about the engine that changes its notes (for result caching)."""
        return (self.revision, self.recipe, self.activation, self.beat_tracker, self.precision)


class Engine(Protocol):
    """What the job manager needs of an engine: its settings, a way to be sure it runs, conversions."""

    @property
    def info(self) -> EngineInfo: ...

    def ready(self) -> EngineInfo:
        """The info, after (re)starting whatever must run; raises ModelUnavailable if it cannot."""
        ...

    def convert(self, clip: ClipRequest, digest: str, progress: ProgressCallback, cancel: threading.Event,
                on_chunk: ChunkCallback | None) -> Arrangement: ...

    def convert_styles(self, clip: ClipRequest, digest: str, composers: Sequence[str], progress: ProgressCallback,
                       cancel: threading.Event, on_style: StyleCallback) -> list[Arrangement]:
        """The clip in each composer's style (an audition): ``on_style`` hears each as soon as it is complete."""
        ...

    def close(self) -> None: ...


class LocalEngine:
    """A converter plus an analysis cache: another composer for a clip costs generation only."""

    def __init__(self, converter: Converter, analyses: int = 4) -> None:
        self.converter = converter
        self._analyses: LRU[Analysis] = LRU(analyses)
        c = converter
        self.info = EngineInfo(c.composers, c.model_id, c.revision, c.loaded.activation, c.recipe, c.beat_tracker,
                               c.loaded.precision)

    def ready(self) -> EngineInfo:
        return self.info

    def convert(self, clip: ClipRequest, digest: str, progress: ProgressCallback, cancel: threading.Event,
                on_chunk: ChunkCallback | None) -> Arrangement:
        analysis, keep = self._analysis(clip, digest)
        # Without a cached analysis the converter analyses (streaming starts from the clip's
        # opening before the whole clip is analysed) and hands the analysis back for the cache.
        return self.converter.convert(clip, progress, cancel, on_chunk, analysis=analysis, on_analysis=keep)

    def convert_styles(self, clip: ClipRequest, digest: str, composers: Sequence[str], progress: ProgressCallback,
                       cancel: threading.Event, on_style: StyleCallback) -> list[Arrangement]:
        analysis, keep = self._analysis(clip, digest)
        return self.converter.convert_styles(clip, composers, progress, cancel, on_style, analysis=analysis,
                                             on_analysis=keep)

    def _analysis(self, clip: ClipRequest, digest: str) -> tuple[Analysis | None, Callable[[Analysis], None] | None]:
        """The cached analysis of this clip (beats, features), or None and how to keep the one about to be made."""
        # another composer for the same clip and grid reuses the analysis (beats, features)
        key = (digest, clip.start, clip.duration, clip.grid.key if clip.grid is not None else None)
        analysis = self._analyses.get(key)
        if analysis is not None and analysis.beats.is_fallback and not math.isclose(
                analysis.beats.bpm, grid_tempo(clip.tempo, clip.playrate)):
            analysis = None  # a fallback grid follows the session tempo: recompute for this one
        if analysis is not None:
            return analysis, None

        def keep(found: Analysis) -> None:
            empty = np.empty(0, np.float32)  # keep beats and features, not the samples
            self._analyses.put(key, dataclasses.replace(found, clip=dataclasses.replace(found.clip, samples=empty)))

        return None, keep

    def close(self) -> None:
        pass


# -- the child process -----------------------------------------------------------------

# Inference is background work: a lower CPU priority keeps the parent's socket thread and
# live-MIDI scheduler on time when both cores are busy generating.
CHILD_NICENESS = 10


# The child says it is alive this often, whatever it is doing (but for stretches where a library
# holds the GIL: essentia's beat tracker held it 2.9 s in one call on a 3-minute clip).
CHILD_HEARTBEAT_S = 1.0
# The parent ends a job whose child showed no sign of life (no message, no CPU time used) for this
# long. Where a process's CPU time cannot be read, only messages count and the wait is longer.
WATCHDOG_S = 20.0
WATCHDOG_WITHOUT_CPU_S = 120.0
# A cancelled job whose child does not stop within this is ended anyway (the child is replaced).
CANCEL_GRACE_S = 1.0
# How long closing waits for the child to quit by itself before killing it.
QUIT_WAIT_S = 2.0


class _Channel:
    """The child's end of the pipe, safe to send on from the heartbeat thread too."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.busy = threading.Event()  # heartbeats only while a job runs: nobody reads them in between
        self._lock = threading.Lock()

    def send(self, message: tuple[Any, ...]) -> None:
        with self._lock:
            self.conn.send(message)

    def heartbeat(self, interval: float = CHILD_HEARTBEAT_S) -> None:
        while True:
            time.sleep(interval)
            if not self.busy.is_set():
                continue
            try:
                self.send(("alive",))
            except (OSError, ValueError):
                return


def _child(settings: EngineSettings, conn: Connection, cancel: Any) -> None:
    logging.basicConfig(level=logging.WARNING)
    channel = _Channel(conn)
    if hasattr(os, "nice"):
        try:
            os.nice(CHILD_NICENESS)
        except OSError:
            pass
    try:
        engine = LocalEngine(settings.build())
    except BridgeError as exc:
        conn.send(("failed", exc.code, exc.message))
        return
    except Exception as exc:  # pragma: no cover - reported to the parent
        conn.send(("failed", "internal", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", engine.info))
    threading.Thread(target=channel.heartbeat, name="heartbeat", daemon=True).start()
    while True:
        try:
            command = conn.recv()
        except (EOFError, OSError):
            return
        if command[0] == "quit":
            return
        kind, clip, digest, extra = command
        channel.busy.set()
        try:
            progress = lambda p: channel.send(("progress", p))  # noqa: E731
            if kind == "styles":  # extra: the composers
                result: Any = engine.convert_styles(clip, digest, extra, progress, cancel,
                                                    lambda a: channel.send(("style", a)))
            else:  # extra: whether to stream
                result = engine.convert(clip, digest, progress, cancel,
                                        (lambda c: channel.send(("chunk", c))) if extra else None)
            channel.send(("done", result))
        except BridgeError as exc:
            channel.send(("error", exc.code, exc.message))
        except Exception as exc:
            log.exception("conversion failed")
            channel.send(("error", "internal", f"{type(exc).__name__}: {exc}"))
        finally:
            channel.busy.clear()


class ProcessEngine:
    """The same interface as :class:`LocalEngine`, with the model in a child process.

    With ``require_model=False`` a model that cannot be loaded does not stop the bridge from
    starting: :attr:`info` then raises :class:`ModelUnavailable` with what to do, and each
    job tries to start the inference process again (the user may have fetched the weights).
    """

    def __init__(self, settings: EngineSettings, start_timeout: float = 600.0, require_model: bool = True,
                 watchdog_s: float | None = None) -> None:
        self.settings = settings
        self.start_timeout = start_timeout
        self.watchdog_s = watchdog_s
        self._ctx = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._proc: Any = None
        self._conn: Connection | None = None
        self._cancel: Any = None
        self._info: EngineInfo | None = None
        self.unavailable: ModelUnavailable | None = None
        try:
            self._launch()
        except ModelUnavailable as exc:
            if require_model:
                raise
            log.warning("the model is not available: %s", exc.message)

    @property
    def info(self) -> EngineInfo:
        if self._info is None:
            raise self.unavailable or ModelUnavailable("the model is not loaded")
        return self._info

    def ready(self) -> EngineInfo:
        """The engine's info, (re)starting the inference process first if it is not running."""
        with self._lock:
            if self._proc is None or not self._proc.is_alive():
                self._launch()
            return self.info

    def _launch(self) -> EngineInfo:
        try:
            info = self._start()
        except ModelUnavailable as exc:
            self.unavailable = exc
            raise
        self._info, self.unavailable = info, None
        return info

    def _start(self) -> EngineInfo:
        parent, child = self._ctx.Pipe()
        self._cancel = self._ctx.Event()
        self._proc = self._ctx.Process(target=_child, args=(self.settings, child, self._cancel),
                                       name="pop2piano-inference", daemon=True)
        self._proc.start()
        child.close()
        self._conn = parent
        if not parent.poll(self.start_timeout):
            self._kill()
            raise error_for("model_unavailable", "the inference process did not start in time")
        try:
            message = parent.recv()
        except (EOFError, OSError):
            code = self._kill()
            raise error_for("internal", f"the inference process died while starting (exit code {code})") from None
        if message[0] == "failed":
            self._kill()
            raise error_for(message[1], message[2])
        log.info("inference process %s ready", self._proc.pid)
        info: EngineInfo = message[1]
        return info

    def convert(self, clip: ClipRequest, digest: str, progress: ProgressCallback, cancel: threading.Event,
                on_chunk: ChunkCallback | None) -> Arrangement:
        arrangement: Arrangement = self._exchange(("convert", clip, digest, on_chunk is not None), progress, cancel,
                                                  on_chunk=on_chunk)
        return arrangement

    def convert_styles(self, clip: ClipRequest, digest: str, composers: Sequence[str], progress: ProgressCallback,
                       cancel: threading.Event, on_style: StyleCallback) -> list[Arrangement]:
        styles: list[Arrangement] = self._exchange(("styles", clip, digest, list(composers)), progress, cancel,
                                                   on_style=on_style)
        return styles

    def _exchange(self, command: tuple[Any, ...], progress: ProgressCallback, cancel: threading.Event,
                  on_chunk: ChunkCallback | None = None, on_style: StyleCallback | None = None) -> Any:
        """Run one job in the child; a cancelled job ends within :data:`CANCEL_GRACE_S` whatever the child does."""
        with self._lock:
            if self._proc is None or not self._proc.is_alive():
                self._launch()
            proc, conn = self._proc, self._conn
            assert conn is not None
            self._cancel.clear()
            watch = _Watchdog(proc.pid, self.watchdog_s)
            cancelled_at: float | None = None
            try:
                conn.send(command)
                while True:
                    now = time.monotonic()
                    if cancel.is_set():
                        self._cancel.set()  # the child stops at its next token
                        cancelled_at = cancelled_at or now
                        if now - cancelled_at > CANCEL_GRACE_S:
                            self._kill()
                            log.warning("the inference process did not stop within %.1f s of a cancel; replaced",
                                        CANCEL_GRACE_S)
                            raise Cancelled("cancelled")
                    if not conn.poll(0.05):
                        if not proc.is_alive():
                            raise EOFError
                        if watch.silent(time.monotonic()):
                            self._kill()
                            raise error_for("internal", f"the inference process showed no sign of life for "
                                            f"{watch.limit:.0f} s and was stopped; it is restarted for the next job")
                        continue
                    message = conn.recv()
                    watch.heard(time.monotonic())
                    kind = message[0]
                    if kind == "progress":
                        progress(message[1])
                    elif kind == "chunk" and on_chunk is not None:
                        on_chunk(message[1])
                    elif kind == "style" and on_style is not None:
                        on_style(message[1])
                    elif kind == "done":
                        return message[1]
                    elif kind == "error":
                        raise error_for(message[1], message[2])
            except (EOFError, OSError):
                code = self._kill()
                raise error_for("internal", f"the inference process died (exit code {code}); "
                                "it is restarted for the next job") from None

    def _kill(self) -> int | None:
        proc, self._proc = self._proc, None
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
        if proc is None:
            return None
        if proc.is_alive():
            proc.kill()
        proc.join(5)
        code: int | None = proc.exitcode
        return code

    def close(self) -> None:
        """Ask the child to quit (after the job in progress, which the caller cancelled); bounded in time."""
        held = self._lock.acquire(timeout=CANCEL_GRACE_S + 1.0)
        try:
            proc, conn = self._proc, self._conn
            if held and conn is not None and proc is not None and proc.is_alive():
                try:
                    conn.send(("quit",))
                    proc.join(QUIT_WAIT_S)
                except (OSError, BrokenPipeError):
                    pass
            self._kill()
            # Its cross-process event is a set of named semaphores: free them now, since serve
            # leaves with os._exit (no atexit clean-up) and the resource tracker would warn of leaks.
            self._cancel = None
        finally:
            if held:
                self._lock.release()


def cpu_seconds(pid: int) -> float | None:
    """CPU time a process has used (Linux ``/proc``); None where that cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


class _Watchdog:
    """Signs of life of the inference process during one job: its messages, and its CPU time moving."""

    def __init__(self, pid: int, limit: float | None) -> None:
        self.pid = pid
        self.cpu = cpu_seconds(pid)
        self.limit = limit if limit is not None else WATCHDOG_S if self.cpu is not None else WATCHDOG_WITHOUT_CPU_S
        self.last = self.checked = time.monotonic()

    def heard(self, now: float) -> None:
        self.last = now

    def silent(self, now: float) -> bool:
        """True once neither a message nor CPU use was seen for ``limit`` seconds."""
        if now - self.checked >= 1.0:
            self.checked = now
            cpu = cpu_seconds(self.pid)
            if cpu is not None and cpu != self.cpu:
                self.cpu, self.last = cpu, now
        return now - self.last > self.limit


__all__ = ["Engine", "EngineInfo", "EngineSettings", "LocalEngine", "ProcessEngine"]
