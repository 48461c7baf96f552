"""The conversion engine: one warm model, many clips, streamed chunk by chunk.

``Converter.convert`` runs the pipeline read → beats → features → generate → decode.
It reports progress, checks a cancel flag between generation batches and hands each
chunk's notes to ``on_chunk`` as soon as they exist, so a caller can stream them.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import librosa
import numpy as np

from bridge.engine.audio import Clip, read_clip
from bridge.engine.beats import TRACKER_SAMPLE_RATE, track_beats
from bridge.engine.features import FeatureExtractor, FeatureSettings
from bridge.engine.model import DEFAULT_MODEL, LoadedModel, load, resolve
from bridge.engine.timing import ChunkGrid, chunk_grid, extend_beats, to_session
from bridge.engine.tokens import DEFAULT_VELOCITY, StepNote, TokenVocab, decode_chunk
from bridge.engine.types import Arrangement, BeatInfo, ChunkNotes, ClipRequest, Note, Progress
from bridge.errors import BadRequest, Cancelled, UnknownComposer

log = logging.getLogger(__name__)

ProgressCallback = Callable[[Progress], None]
ChunkCallback = Callable[[ChunkNotes], None]


@dataclass(frozen=True)
class Analysis:
    """Everything about a clip that does not depend on the composer: re-usable across requests."""

    clip: Clip
    beats: BeatInfo
    grid: ChunkGrid
    mel: np.ndarray


# Chunks per generation batch: bigger batches use the CPU's matrix units better (and
# finished rows leave the batch); the first batch is small so streaming starts early.
DEFAULT_BATCH_SIZE = 64
FIRST_BATCH = 2
DECODERS = ("fast", "hf")
# "faithful": the original Pop2Piano's semantics and the whole clip arranged (default).
# "reference": what the transformers port does, note for note (parity tests, benchmark).
RECIPES = ("faithful", "reference")
MIN_TEMPO, MAX_TEMPO = 1.0, 960.0
MIN_PLAYRATE, MAX_PLAYRATE = 0.01, 100.0
# Progress share of each stage; generation takes the rest.
_READ, _BEATS, _FEATURES = 0.03, 0.12, 0.18


def validate_request(request: ClipRequest, composers: Sequence[str]) -> None:
    """Reject requests that cannot be right, before any work is done. Pure."""
    if not isinstance(request.path, str) or not request.path:
        raise BadRequest("an audio path is required")
    if not (math.isfinite(request.playrate) and MIN_PLAYRATE <= request.playrate <= MAX_PLAYRATE):
        raise BadRequest(f"playrate must be between {MIN_PLAYRATE} and {MAX_PLAYRATE}, got {request.playrate:g}")
    if request.tempo is not None and not (math.isfinite(request.tempo) and MIN_TEMPO <= request.tempo <= MAX_TEMPO):
        raise BadRequest(f"tempo must be between {MIN_TEMPO:g} and {MAX_TEMPO:g} BPM, got {request.tempo:g}")
    if request.composer not in composers:
        raise UnknownComposer(f"unknown composer {request.composer!r}; choose one of {', '.join(composers)}")


def step_notes_to_session(notes: Sequence[StepNote], grid: ChunkGrid, playrate: float) -> list[Note]:
    """Map step-grid notes to session seconds; nothing before the clip start, nothing empty. Pure."""
    result = []
    for n in notes:
        start = max(0.0, to_session(grid.step_time(n.onset), playrate))
        end = to_session(grid.step_time(n.offset), playrate)
        if end > start:
            result.append(Note(n.pitch, start, end, n.velocity))
    return result


def batches(count: int, first: int, size: int) -> list[tuple[int, int]]:
    """(start, end) chunk ranges: a small first batch (early notes), then equal ones of at most ``size``. Pure.

    Equal batches, not full ones and a remainder: a decoder step costs about the same for 14
    rows as for 40 (the matrix units idle), so 78 chunks as 39 + 39 take ~20% less time
    than 64 + 14 (measured, full-size model, 2 cores).
    """
    if count <= 0:
        return []
    head = min(count, max(0, first))
    ranges = [(0, head)] if head else []
    rest = count - head
    if rest:
        parts = -(-rest // size)
        bounds = [head + rest * i // parts for i in range(parts + 1)]
        ranges.extend(zip(bounds[:-1], bounds[1:]))
    return ranges


def within(notes: Sequence[Note], length: float) -> list[Note]:
    """Notes cut to end by ``length``; those starting at or after it dropped. Pure."""
    return [Note(n.pitch, n.start, min(n.end, length), n.velocity) for n in notes if n.start < length]


class Converter:
    """Loads Pop2Piano once and converts many clips with it (not thread-safe: one job at a time)."""

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        device: str | None = None,
        revision: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        activation: str = "config",
        recipe: str = "faithful",
        beat_tracker: str = "auto",
        precision: str = "fp32",
        decoder: str = "fast",
        first_batch: int = FIRST_BATCH,
    ) -> None:
        if recipe not in RECIPES:
            raise ValueError(f"recipe must be one of {RECIPES}, got {recipe!r}")
        if decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {DECODERS}, got {decoder!r}")
        self.recipe = recipe
        self.beat_tracker = beat_tracker
        self.decoder = decoder
        self.first_batch = max(1, int(first_batch))
        self.loaded: LoadedModel = load(resolve(model, revision), device, activation, precision)
        folder = self.loaded.source.folder
        self.features = FeatureExtractor(FeatureSettings.from_model_dir(folder))
        self.vocab = TokenVocab(self.loaded.encoder)
        self.velocity = _default_velocity(folder)
        self.batch_size = max(1, int(batch_size))

    @property
    def composers(self) -> list[str]:
        """Composer style names, in the model's token order (composer1 … composer21)."""
        return sorted(self.loaded.composers, key=lambda name: self.loaded.composers[name])

    @property
    def model_id(self) -> str:
        return self.loaded.source.model_id

    @property
    def revision(self) -> str:
        return self.loaded.source.revision

    def convert(
        self,
        request: ClipRequest,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        on_chunk: ChunkCallback | None = None,
        analysis: Analysis | None = None,
        generation: dict[str, Any] | None = None,
    ) -> Arrangement:
        """Convert one clip. Raises :class:`bridge.errors.BridgeError` subclasses on bad input.

        ``analysis`` (from :meth:`analyse` on the same audio range) skips reading, beat
        tracking and features: another composer for the same clip costs generation only.
        """
        report = progress or (lambda _p: None)
        validate_request(request, self.composers)
        if analysis is None:
            analysis = self.analyse(request, report, cancel)
        clip, beats, grid, mel = analysis.clip, analysis.beats, analysis.grid, analysis.mel
        _check_cancel(cancel)

        count = mel.shape[0]
        notes: list[Note] = []
        report(Progress(_FEATURES, "generating", 0, count))
        # Streaming callers get a small first batch; otherwise equal large batches are fastest.
        opening = self.first_batch if on_chunk is not None else 0
        for first, last in batches(count, opening, self.batch_size):
            _check_cancel(cancel)
            rows = self._generate(mel[first:last], request.composer, generation, cancel)
            _check_cancel(cancel)  # generation stops at the next token once cancel is set
            for offset, row in enumerate(rows):
                index = first + offset
                steps = decode_chunk(
                    row, self.vocab, index, grid.steps_per_chunk, self._cutoff_steps(), self.velocity,
                    port_note_off=self.recipe == "reference",
                )
                chunk_notes = step_notes_to_session(steps, grid, request.playrate)
                if self.recipe == "faithful":  # the arrangement ends where the clip does
                    chunk_notes = within(chunk_notes, to_session(clip.duration, request.playrate))
                notes.extend(chunk_notes)
                if on_chunk:
                    horizon = (
                        max(0.0, to_session(grid.step_time(grid.chunk_start_step(index + 1)), request.playrate))
                        if index + 1 < count else float("inf")
                    )
                    on_chunk(ChunkNotes(index, count, tuple(chunk_notes), horizon))
                done = index + 1
                report(Progress(_FEATURES + (1 - _FEATURES) * done / count * 0.999, "generating", done, count))

        notes.sort(key=lambda n: (n.start, n.pitch, n.end))
        detected = beats.bpm * request.playrate
        arrangement = Arrangement(
            notes=notes,
            beats=[to_session(t, request.playrate) for t in beats.times],
            tempo=request.tempo or detected,
            detected_tempo=detected,
            tracker=beats.tracker,
            composer=request.composer,
            model_id=self.model_id,
            model_revision=self.revision,
            source=os.path.abspath(request.path),
            start=clip.start,
            duration=clip.duration,
            playrate=request.playrate,
            session_length=to_session(clip.duration, request.playrate),
            chunks=count,
            tempo_source="session" if request.tempo else "detected",
            tracker_note=beats.note,
            activation=self.loaded.activation,
            recipe=self.recipe,
            precision=self.loaded.precision,
        )
        report(Progress(1.0, "done", count, count))
        return arrangement

    def analyse(
        self, request: ClipRequest, progress: ProgressCallback | None = None, cancel: threading.Event | None = None
    ) -> Analysis:
        """Read the clip, track its beats and compute the model's features (no generation)."""
        report = progress or (lambda _p: None)
        report(Progress(0.0, "reading"))
        clip = read_clip(request.path, request.start, request.duration)
        _check_cancel(cancel)

        report(Progress(_READ, "beats"))
        audio_44k = clip.samples
        if clip.sample_rate != TRACKER_SAMPLE_RATE:  # the tracker only works at 44.1 kHz
            audio_44k = librosa.resample(clip.samples, orig_sr=clip.sample_rate, target_sr=TRACKER_SAMPLE_RATE)
        fallback_bpm = request.tempo / request.playrate if request.tempo else None
        # Resampling for the model does not need the beats: it runs beside the tracker
        # (resampy's kernel releases the GIL).
        with ThreadPoolExecutor(max_workers=1) as pool:
            resampled = pool.submit(self.features.resample, audio_44k, TRACKER_SAMPLE_RATE)
            beats = track_beats(audio_44k, fallback_bpm=fallback_bpm, tracker=self.beat_tracker)
            model_audio = resampled.result()
        beat_times = np.asarray(beats.times)
        if self.recipe == "faithful":
            beat_times = extend_beats(beat_times, clip.duration)
        grid = chunk_grid(beat_times, self.features.settings.num_bars)
        _check_cancel(cancel)

        report(Progress(_BEATS, "features"))
        mel = self.features.log_mel(self.features.chunk_audio(model_audio, grid))
        return Analysis(clip, beats, grid, mel)

    def _cutoff_steps(self) -> int:
        """Steps after a chunk's start where its notes are cut: the recipe's 12 for 2 bars."""
        return (self.features.settings.num_bars + 1) * 4

    def _generate(
        self,
        mel: np.ndarray,
        composer: str,
        generation: dict[str, Any] | None = None,
        cancel: threading.Event | None = None,
    ) -> list[list[int]]:
        import torch

        from bridge.engine.decoding import greedy, supported

        # A private copy per call: the port's generate() writes its kwargs into the config
        # it is given, which would leak one request's settings into the next.
        config = self.loaded.generation_config_copy()
        if generation:
            config.update(**generation)
        features = torch.from_numpy(mel).to(self.loaded.device, self.loaded.dtype)
        if self.decoder == "fast" and supported(config):
            return greedy(self.loaded.model, features, composer, config, cancel)
        from transformers import StoppingCriteria, StoppingCriteriaList

        class _Cancelled(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):  # noqa: ANN001 - transformers' signature
                return torch.full((input_ids.shape[0],), bool(cancel and cancel.is_set()), dtype=torch.bool)

        with torch.inference_mode():
            ids = self.loaded.model.generate(
                input_features=features,
                composer=composer,
                generation_config=config,
                stopping_criteria=StoppingCriteriaList([_Cancelled()]) if cancel is not None else None,
            )
        return ids.cpu().tolist()


def _check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("the conversion was cancelled")


def _default_velocity(folder: str) -> int:
    """The tokenizer's ``default_velocity`` if its config names one (77 in the recipe)."""
    path = os.path.join(folder, "tokenizer_config.json")
    try:
        with open(path, encoding="utf-8") as handle:
            value = json.load(handle).get("default_velocity", DEFAULT_VELOCITY)
        return int(value) if 1 <= int(value) <= 127 else DEFAULT_VELOCITY
    except (OSError, ValueError, TypeError, AttributeError):
        return DEFAULT_VELOCITY
