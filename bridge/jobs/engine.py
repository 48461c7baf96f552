"""Where inference runs: in this process (:class:`LocalEngine`) or in a child process (:class:`ProcessEngine`).

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
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from bridge.engine.beats import FALLBACK_BPM, GRID
from bridge.engine.converter import DEFAULT_BATCH_SIZE, Analysis, Converter
from bridge.engine.types import Arrangement, ChunkNotes, ClipRequest, Progress
from bridge.errors import BridgeError, Cancelled, ModelUnavailable, error_for
from bridge.jobs.cache import LRU

log = logging.getLogger(__name__)

ProgressCallback = Callable[[Progress], None]
ChunkCallback = Callable[[ChunkNotes], None]


@dataclasses.dataclass(frozen=True)
class EngineSettings:
    """How to build a :class:`Converter` (picklable, for the child process)."""

    model: str
    device: str | None = None
    activation: str = "config"
    recipe: str = "faithful"
    beat_tracker: str = "auto"
    precision: str = "fp32"
    batch_size: int = DEFAULT_BATCH_SIZE

    def build(self) -> Converter:
        return Converter(self.model, device=self.device, activation=self.activation, recipe=self.recipe,
                         beat_tracker=self.beat_tracker, batch_size=self.batch_size, precision=self.precision)


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
    def key(self) -> tuple:
        """Everything about the engine that changes its notes (for result caching)."""
        return (self.revision, self.recipe, self.activation, self.beat_tracker, self.precision)


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

    def convert(self, clip: ClipRequest, digest: str, progress: ProgressCallback, cancel: Any,
                on_chunk: ChunkCallback | None) -> Arrangement:
        grid_bpm = clip.tempo / clip.playrate if clip.tempo else FALLBACK_BPM
        key = (digest, clip.start, clip.duration)
        analysis = self._analyses.get(key)
        if analysis is not None and analysis.beats.tracker == GRID and not math.isclose(analysis.beats.bpm, grid_bpm):
            analysis = None  # a fallback grid follows the session tempo: recompute for this one
        def keep(found: Analysis) -> None:
            empty = np.empty(0, np.float32)  # keep beats and features, not the samples
            self._analyses.put(key, dataclasses.replace(found, clip=dataclasses.replace(found.clip, samples=empty)))

        # Without a cached analysis the converter analyses (streaming starts from the clip's
        # opening before the whole clip is analysed) and hands the analysis back for the cache.
        return self.converter.convert(clip, progress, cancel, on_chunk, analysis=analysis,
                                      on_analysis=keep if analysis is None else None)

    def close(self) -> None:
        pass


# -- the child process -----------------------------------------------------------------

# Inference is background work: a lower CPU priority keeps the parent's socket thread and
# live-MIDI scheduler on time when both cores are busy generating.
CHILD_NICENESS = 10


def _child(settings: EngineSettings, conn: Connection, cancel: Any) -> None:
    logging.basicConfig(level=logging.WARNING)
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
    while True:
        try:
            command = conn.recv()
        except (EOFError, OSError):
            return
        if command[0] == "quit":
            return
        _, clip, digest, streaming = command
        try:
            arrangement = engine.convert(
                clip, digest,
                progress=lambda p: conn.send(("progress", p)),
                cancel=cancel,
                on_chunk=(lambda c: conn.send(("chunk", c))) if streaming else None,
            )
            conn.send(("done", arrangement))
        except BridgeError as exc:
            conn.send(("error", exc.code, exc.message))
        except Exception as exc:
            log.exception("conversion failed")
            conn.send(("error", "internal", f"{type(exc).__name__}: {exc}"))


class ProcessEngine:
    """The same interface as :class:`LocalEngine`, with the model in a child process.

    With ``require_model=False`` a model that cannot be loaded does not stop the bridge from
    starting: :attr:`info` then raises :class:`ModelUnavailable` with what to do, and each
    job tries to start the inference process again (the user may have fetched the weights).
    """

    def __init__(self, settings: EngineSettings, start_timeout: float = 600.0, require_model: bool = True) -> None:
        self.settings = settings
        self.start_timeout = start_timeout
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
        return message[1]

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def convert(self, clip: ClipRequest, digest: str, progress: ProgressCallback, cancel: threading.Event,
                on_chunk: ChunkCallback | None) -> Arrangement:
        with self._lock:
            if self._proc is None or not self._proc.is_alive():
                self._launch()
            assert self._conn is not None
            self._cancel.clear()
            try:
                self._conn.send(("convert", clip, digest, on_chunk is not None))
                while True:
                    if cancel.is_set():
                        self._cancel.set()  # the child stops at its next token
                    if not self._conn.poll(0.05):
                        if not self._proc.is_alive():
                            raise EOFError
                        continue
                    message = self._conn.recv()
                    kind = message[0]
                    if kind == "progress":
                        progress(message[1])
                    elif kind == "chunk" and on_chunk is not None:
                        on_chunk(message[1])
                    elif kind == "done":
                        return message[1]
                    elif kind == "error":
                        raise error_for(message[1], message[2])
            except (EOFError, OSError, BrokenPipeError):
                code = self._kill()
                raise error_for("internal", f"the inference process died (exit code {code}); "
                                "it is restarted for the next job") from None

    def _kill(self) -> int | None:
        proc, self._proc = self._proc, None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if proc is None:
            return None
        if proc.is_alive():
            proc.kill()
        proc.join(5)
        return proc.exitcode

    def close(self) -> None:
        """Ask the child to quit (after the job in progress, which the caller cancelled)."""
        held = self._lock.acquire(timeout=30)
        try:
            if self._conn is not None and self._proc is not None and self._proc.is_alive():
                try:
                    self._conn.send(("quit",))
                    self._proc.join(10)
                except (OSError, BrokenPipeError):
                    pass
            self._kill()
        finally:
            if held:
                self._lock.release()


__all__ = ["Cancelled", "EngineInfo", "EngineSettings", "LocalEngine", "ProcessEngine"]
