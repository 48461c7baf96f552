"""The conversion engine: one warm model, many clips, streamed chunk by chunk.

``Converter.convert`` runs the pipeline read → beats → features → generate → decode.
It reports progress, checks a cancel flag between generation batches and hands each
chunk's notes to ``on_chunk`` as soon as they exist, so a caller can stream them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import librosa
import numpy as np
import torch
from transformers import LogitsProcessor, LogitsProcessorList, StoppingCriteria, StoppingCriteriaList

from bridge.engine.audio import Clip, read_clip
from bridge.engine.beats import TRACKER_SAMPLE_RATE, grid_tempo, track_beats
from bridge.engine.decoding import StepRule, composer_runs, greedy, supported
from bridge.engine.features import FeatureExtractor, FeatureSettings
from bridge.engine.grid import clip_beats, median_bpm
from bridge.engine.model import DEFAULT_MODEL, LoadedModel, load, resolve
from bridge.engine.planning import LIVE_STARTS, UNBROKEN, Batch, Pacer, StartGate, StepCost, even
from bridge.engine.request import RECIPES, validate_request
from bridge.engine.streaming import ChunkStreamer
from bridge.engine.timing import ChunkGrid, chunk_grid, extend_beats, to_session
from bridge.engine.tokens import (
    DEFAULT_VELOCITY,
    RowDecoder,
    StepNote,
    TokenVocab,
    decode_chunk,
)
from bridge.engine.types import (
    TRACKED,
    Arrangement,
    BeatInfo,
    ChunkNotes,
    ClipRequest,
    Note,
    Progress,
)
from bridge.errors import BadRequest, Cancelled

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


# Chunks per generation batch. A decoder step streams every weight from memory once for
# the whole batch, so bigger batches are much cheaper per row (full-size model, 2 cores:
# 17 ms per step for 1 row, 61 ms for 39 rows, 88 ms for 78 rows); 128 rows keep the
# key/value cache under ~1 GB. The first batch is small when streaming, so notes start early.
DEFAULT_BATCH_SIZE = 128
FIRST_BATCH = 2
DECODERS = ("fast", "hf")
# Streaming a clip longer than QUICK_START_S + QUICK_MARGIN_S starts from an analysis of its
# first QUICK_START_S seconds (essentia: ~0.45 s instead of ~4 s for 3 minutes); its chunks
# that end QUICK_MARGIN_S before that point are generated first.
QUICK_START_S, QUICK_MARGIN_S = 20.0, 4.0
# Progress while generating, at most this often: enough for a progress bar, and few enough
# UDP replies that a client's socket buffer never overflows (an overflow drops replies).
PROGRESS_INTERVAL_S = 0.5
# Progress share of each stage; generation takes the rest.
_READ, _BEATS, _FEATURES = 0.03, 0.12, 0.18


def step_notes_to_session(notes: Sequence[StepNote], grid: ChunkGrid, playrate: float) -> list[Note]:
    """Map step-grid notes to session seconds; nothing before the clip start, nothing empty. Pure."""
    result = []
    for n in notes:
        start = max(0.0, to_session(grid.step_time(n.onset), playrate))
        end = to_session(grid.step_time(n.offset), playrate)
        if end > start:
            result.append(Note(n.pitch, start, end, n.velocity))
    return result


def _same_inputs(quick: Analysis, full: Analysis, chunks: int, cutoff_steps: int) -> bool:
    """True when both analyses give chunks ``[0, chunks)`` the same model input and note times. Pure."""
    steps = quick.grid.chunk_start_step(chunks - 1) + cutoff_steps
    return (
        full.mel.shape[0] >= chunks
        and quick.mel.shape[1:] == full.mel.shape[1:]
        and np.array_equal(quick.grid.ext_steps[: steps + 1], full.grid.ext_steps[: steps + 1])
        and quick.grid.origin == full.grid.origin
        and np.array_equal(quick.mel[:chunks], full.mel[:chunks])
    )


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
        batch_size: int | None = None,
        activation: str = "config",
        recipe: str = "faithful",
        beat_tracker: str = "auto",
        precision: str = "fp32",
        decoder: str = "fast",
        first_batch: int = FIRST_BATCH,
        rule: StepRule | None = None,
        live_start: str = UNBROKEN,
    ) -> None:
        if recipe not in RECIPES:
            raise ValueError(f"recipe must be one of {RECIPES}, got {recipe!r}")
        if decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {DECODERS}, got {decoder!r}")
        if live_start not in LIVE_STARTS:
            raise ValueError(f"live_start must be one of {LIVE_STARTS}, got {live_start!r}")
        self.live_start = live_start
        self.recipe = recipe
        self.beat_tracker = beat_tracker
        self.decoder = decoder
        self.rule = rule  # a logits processor over each step (benchmarks: rows of controlled lengths)
        self.first_batch = max(1, int(first_batch))
        self.loaded: LoadedModel = load(resolve(model, revision), device, activation, precision)
        folder = self.loaded.source.folder
        self.features = FeatureExtractor(FeatureSettings.from_model_dir(folder))
        self.vocab = TokenVocab(self.loaded.encoder)
        self.velocity = _default_velocity(folder)
        # rows generated together: the caller's, else what the device holds (a GPU: the whole song)
        self.batch_size = max(1, int(batch_size or self.loaded.batch_size or DEFAULT_BATCH_SIZE))
        # what a decoder step costs this model here, learnt from every streamed batch (see Pacer)
        self.step_cost = StepCost()

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
        on_analysis: Callable[[Analysis], None] | None = None,
    ) -> Arrangement:
        """Convert one clip. Raises :class:`bridge.errors.BridgeError` subclasses on bad input.

        ``analysis`` (from :meth:`analyse` on the same audio range, or handed to
        ``on_analysis`` by an earlier call) skips reading, beat tracking and features:
        another composer for the same clip costs generation only.
        With ``on_chunk`` notes are handed on while they generate, token by token; a long
        clip then starts from an analysis of its opening alone (see :meth:`_quick_start`).
        """
        report = progress or (lambda _p: None)
        validate_request(request, self.composers)
        playback = _Playback(on_chunk) if on_chunk is not None else None
        prepared = self._prepare(request, report, cancel, playback, analysis, generation, on_analysis)
        count = prepared.analysis.mel.shape[0]
        rows = {i: r for i, r in prepared.rows.items() if i < count}
        _check_cancel(cancel)
        report(Progress(_FEATURES, "generating", len(rows), count))
        if playback is None:
            batches: Iterable[Batch] = even(count, self.batch_size)
            rows.update(self._generate_plan(batches, prepared, request, generation, cancel, None, report, len(rows)))
        else:  # paced for live playback from the first chunk not streamed yet; then what the quick start missed
            streamed = min(prepared.streamed, count)
            pacer = Pacer(self._chunk_ends(prepared.analysis, request), 2 * streamed or self.first_batch,
                          self.batch_size, self._max_steps(), self.step_cost)
            rows.update(self._generate_plan(self._paced(pacer, streamed, count, playback), prepared, request,
                                            generation, cancel, playback, report, len(rows)))
            redo = even(streamed, self.batch_size) if len(rows) < count else []
            rows.update(self._generate_plan(redo, prepared, request, generation, cancel, None, report, len(rows)))
        arrangement = self._assemble(rows, prepared.analysis, request)
        report(Progress(1.0, "done", count, count))
        return arrangement

    def convert_styles(
        self,
        request: ClipRequest,
        composers: Sequence[str],
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        on_style: Callable[[Arrangement], None] | None = None,
        analysis: Analysis | None = None,
        generation: dict[str, Any] | None = None,
        on_analysis: Callable[[Analysis], None] | None = None,
    ) -> list[Arrangement]:
        """Convert one clip in several composers' styles at once (an audition). Each result equals :meth:`convert`'s.

        The clip is read, its beats tracked and its features computed once; the rows of every
        (composer, chunk) pair then share decoder steps, in batches of up to ``batch_size`` rows,
        composer by composer, so a style is complete (and handed to ``on_style``) as soon as its
        last batch ends. The encoder input differs per composer (its style token), nothing else.
        """
        report = progress or (lambda _p: None)
        if not composers:
            raise BadRequest("no composer to convert with")
        for composer in composers:
            validate_request(dataclasses.replace(request, composer=composer), self.composers)
        prepared = self._prepare(request, report, cancel, None, analysis, generation, on_analysis)
        mel, count = prepared.analysis.mel, prepared.analysis.mel.shape[0]
        tasks = [(composer, index) for composer in composers for index in range(count)]
        rows: dict[str, dict[int, list[int]]] = {composer: {} for composer in composers}
        results: list[Arrangement] = []
        _check_cancel(cancel)
        report(Progress(_FEATURES, "generating", 0, len(tasks)))
        for batch in even(len(tasks), self.batch_size):
            _check_cancel(cancel)
            part = tasks[batch.first:batch.last]
            done = batch.first
            on_step = self._stepper(None, report, lambda steps: self._generating(done, batch.size, steps, len(tasks)))
            generated = self._generate(mel[[index for _c, index in part]], [c for c, _i in part], generation,
                                       cancel, on_step)
            _check_cancel(cancel)  # generation stops at the next token once cancel is set
            for (composer, index), row in zip(part, generated):
                rows[composer][index] = row
            for composer in dict.fromkeys(c for c, _i in part):  # those this batch completed, in order
                if len(rows[composer]) == count:
                    arrangement = self._assemble(rows[composer], prepared.analysis,
                                                 dataclasses.replace(request, composer=composer))
                    results.append(arrangement)
                    if on_style is not None:
                        on_style(arrangement)
            report(Progress(_FEATURES + (1 - _FEATURES) * batch.last / len(tasks) * 0.999, "generating",
                            batch.last, len(tasks)))
        report(Progress(1.0, "done", len(tasks), len(tasks)))
        return results

    def _prepare(
        self,
        request: ClipRequest,
        report: ProgressCallback,
        cancel: threading.Event | None,
        playback: _Playback | None,
        analysis: Analysis | None,
        generation: dict[str, Any] | None,
        on_analysis: Callable[[Analysis], None] | None,
    ) -> _Prepared:
        """The clip's analysis, plus rows a quick start already generated and streamed."""
        if analysis is not None:
            return _Prepared(analysis)
        clip = self._read(request, report, cancel)
        quick = self._quick_start(clip, request, generation, cancel, playback, report) if playback is not None else None
        analysis = self._analyse_clip(clip, request, report, cancel)
        if on_analysis is not None:
            on_analysis(analysis)
        if quick is None:
            return _Prepared(analysis)
        quick_analysis, quick_rows = quick
        if _same_inputs(quick_analysis, analysis, len(quick_rows), self._cutoff_steps()):
            return _Prepared(analysis, dict(enumerate(quick_rows)), len(quick_rows))
        # the file gets the whole-clip analysis; live keeps what it played
        log.warning("the opening's quick analysis differs from the whole clip's: chunks 0-%d are "
                    "generated again for the file; live playback used the quick ones", len(quick_rows) - 1)
        return _Prepared(analysis, {}, len(quick_rows))

    def _paced(self, pacer: Pacer, first: int, count: int, playback: _Playback) -> Iterator[Batch]:
        """Streamed batches from chunk ``first`` on, each sized when the one before has run (see :class:`Pacer`)."""
        while first < count:
            size = pacer.next_size(first, time.monotonic(), playback.started)
            yield Batch(first, min(count, first + size), True)
            first = min(count, first + size)

    def _gated(
        self, playback: _Playback, on_step: Callable[[list[int], list[int]], None]
    ) -> Callable[[list[int], list[int]], None]:
        """``on_step`` of a stream's opening batch, counting its steps for the start gate it arms
        (``live_start`` unbroken; at the first notes, ``on_step`` as it is)."""
        if self.live_start != UNBROKEN:
            return on_step
        gate = StartGate(time.monotonic(), max(self.step_cost.steps, default=self._max_steps()))
        playback.arm(gate)

        def counted(rows: list[int], tokens: list[int]) -> None:
            gate.step()
            on_step(rows, tokens)

        return counted

    def _max_steps(self) -> int:
        """Decoder steps in the longest possible row."""
        return int(self.loaded.generation_config.max_length) - 1

    def _chunk_ends(self, analysis: Analysis, request: ClipRequest) -> list[float]:
        """Session seconds from the clip start where each chunk's music ends."""
        grid = analysis.grid
        last = len(grid.ext_steps) - 1
        return [to_session(grid.step_time(min(grid.chunk_start_step(i + 1), last)), request.playrate)
                for i in range(analysis.mel.shape[0])]

    def _generate_plan(
        self,
        batches: Iterable[Batch],
        prepared: _Prepared,
        request: ClipRequest,
        generation: dict[str, Any] | None,
        cancel: threading.Event | None,
        playback: _Playback | None,
        report: ProgressCallback,
        done: int,
    ) -> dict[int, list[int]]:
        """Token rows for every chunk of the plan, batch by batch, streaming the batches that stream.

        ``done``: chunks already generated (for progress). How long each batch took goes into
        :attr:`step_cost`, from which a paced plan sizes its next batch.
        """
        analysis = prepared.analysis
        count = analysis.mel.shape[0]
        rows: dict[int, list[int]] = {}
        for batch in batches:
            started = time.monotonic()
            _check_cancel(cancel)
            streamer = None
            if playback is not None and batch.stream:
                after = batch.last if batch.last < count else None
                streamer = self._streamer(batch.first, batch.size, count, after, analysis.grid, analysis.clip, request,
                                          playback)
            finished = done
            on_step = self._stepper(streamer, report,
                                    lambda steps: self._generating(finished, batch.size, steps, count))
            if playback is not None and batch.stream and batch.first == 0:
                on_step = self._gated(playback, on_step)
            generated = self._generate(analysis.mel[batch.first:batch.last], [request.composer] * batch.size,
                                       generation, cancel, on_step)
            _check_cancel(cancel)  # generation stops at the next token once cancel is set
            if streamer is not None:
                streamer.finish()
            rows.update(zip(range(batch.first, batch.last), generated))
            # every batch teaches the pacing what a step costs here
            self.step_cost.observe_batch(batch.size, time.monotonic() - started, max(len(row) for row in generated) - 1)
            done += batch.size
            report(Progress(_FEATURES + (1 - _FEATURES) * done / count * 0.999, "generating", done, count))
        return rows

    def _assemble(self, rows: dict[int, list[int]], analysis: Analysis, request: ClipRequest) -> Arrangement:
        """Every chunk's row decoded into session notes, and what a DAW needs to place them."""
        clip, beats, grid = analysis.clip, analysis.beats, analysis.grid
        count = analysis.mel.shape[0]
        notes: list[Note] = []
        for index in range(count):
            notes.extend(self._chunk_notes(index, self._decode(rows[index], index, grid), grid, clip, request))
        notes.sort(key=lambda n: (n.start, n.pitch, n.end))
        detected = beats.bpm * request.playrate
        return Arrangement(
            notes=notes,
            beats=[to_session(t, request.playrate) for t in beats.times if t >= 0],
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
            grid_bpm=beats.bpm if beats.is_fallback else None,
            beat_source=request.grid.source if request.grid is not None else TRACKED,
            activation=self.loaded.activation,
            recipe=self.recipe,
            precision=self.loaded.precision,
        )

    def analyse(
        self, request: ClipRequest, progress: ProgressCallback | None = None, cancel: threading.Event | None = None
    ) -> Analysis:
        """Read the clip, track its beats and compute the model's features (no generation)."""
        report = progress or (lambda _p: None)
        return self._analyse_clip(self._read(request, report, cancel), request, report, cancel)

    # -- pipeline steps -----------------------------------------------------------------
    def _read(self, request: ClipRequest, report: ProgressCallback, cancel: threading.Event | None) -> Clip:
        report(Progress(0.0, "reading"))
        clip = read_clip(request.path, request.start, request.duration)
        _check_cancel(cancel)
        return clip

    def _analyse_clip(
        self, clip: Clip, request: ClipRequest, report: ProgressCallback, cancel: threading.Event | None
    ) -> Analysis:
        report(Progress(_READ, "beats"))
        audio_44k = clip.samples
        if clip.sample_rate != TRACKER_SAMPLE_RATE:  # the tracker only works at 44.1 kHz
            audio_44k = librosa.resample(clip.samples, orig_sr=clip.sample_rate, target_sr=TRACKER_SAMPLE_RATE)
        # Resampling for the model does not need the beats: it runs beside the tracker
        # (the resampling kernel releases the GIL).
        with ThreadPoolExecutor(max_workers=1) as pool:
            resampled = pool.submit(self.features.resample, audio_44k, TRACKER_SAMPLE_RATE)
            beats = self._beats(audio_44k, clip, request)
            model_audio = resampled.result()
        beat_times = np.asarray(beats.times)
        if self.recipe == "faithful":
            beat_times = extend_beats(beat_times, clip.duration)
        grid = chunk_grid(beat_times, self.features.settings.num_bars)
        _check_cancel(cancel)

        report(Progress(_BEATS, "features"))
        mel = self.features.log_mel(self.features.chunk_audio(model_audio, grid))
        return Analysis(clip, beats, grid, mel)

    def _beats(self, audio_44k: np.ndarray, clip: Clip, request: ClipRequest) -> BeatInfo:
        """The session's grid where the request brings one (used exactly where tracked beats go), else tracked."""
        if request.grid is None:
            return track_beats(audio_44k, grid_tempo(request.tempo, request.playrate), tracker=self.beat_tracker)
        times = clip_beats(request.grid, clip.start, clip.duration)
        return BeatInfo(times=tuple(float(t) for t in times), bpm=median_bpm(times), tracker=request.grid.source)

    def _quick_start(
        self,
        clip: Clip,
        request: ClipRequest,
        generation: dict[str, Any] | None,
        cancel: threading.Event | None,
        playback: _Playback,
        report: ProgressCallback,
    ) -> tuple[Analysis, list[list[int]]] | None:
        """Analyse and generate the clip's opening alone, streaming its notes; None for short clips.

        Beat tracking the whole clip takes seconds (essentia: ~4 s for 3 minutes), too long
        to wait for before the first live note. The opening's chunks are generated from an
        analysis of its first ``QUICK_START_S`` seconds, while the file waits for the whole
        clip's analysis; ``convert`` reuses these rows when both analyses give the same
        model input for them (the tracker's beats in a steady opening do not depend on
        what follows; checked, never assumed).
        """
        if clip.duration < QUICK_START_S + QUICK_MARGIN_S:
            return None
        head = dataclasses.replace(clip, samples=clip.samples[: int(QUICK_START_S * clip.sample_rate)],
                                   duration=QUICK_START_S)
        analysis = self._analyse_clip(head, request, lambda _p: None, cancel)
        keep = 0
        last_end = QUICK_START_S - QUICK_MARGIN_S
        while keep < analysis.mel.shape[0] and analysis.grid.step_time(
                analysis.grid.chunk_start_step(keep) + self._cutoff_steps()) < last_end:
            keep += 1
        if keep == 0:
            return None
        # One batch for the whole opening: small opening batches (the Pacer's) made the stream fall behind
        # (a 180 s song, rows of ~160 tokens: waits 0.96 → 3.81 s, all generated after 27.9 → 76.7 s).
        # The start gate (StartGate) keeps the time this batch takes out of the playback.
        streamer = self._streamer(0, keep, analysis.mel.shape[0], keep, analysis.grid, clip, request, playback)
        # alive while the opening generates; its share of the whole is not known yet
        alive = self._stepper(streamer, report, lambda _steps: Progress(_READ, "generating", 0, 0))
        on_step = self._gated(playback, alive)
        started = time.monotonic()
        rows = self._generate(analysis.mel[:keep], [request.composer] * keep, generation, cancel, on_step)
        _check_cancel(cancel)
        streamer.finish()
        self.step_cost.observe_batch(keep, time.monotonic() - started, max(len(row) for row in rows) - 1)
        return analysis, rows

    def _streamer(
        self,
        first: int,
        size: int,
        count: int,
        after: int | None,
        grid: ChunkGrid,
        clip: Clip,
        request: ClipRequest,
        on_chunk: ChunkCallback,
    ) -> ChunkStreamer:
        """Row decoders for chunks ``first`` … ``first + size - 1``; ``after``: the next chunk to generate."""
        decoders = [self._row_decoder(first + i, grid) for i in range(size)]
        next_start = (
            to_session(grid.step_time(grid.chunk_start_step(after)), request.playrate)
            if after is not None and after < count else math.inf
        )
        return ChunkStreamer(
            decoders, first, count, next_start,
            to_notes=lambda index, steps: self._chunk_notes(index, steps, grid, clip, request),
            clock=lambda step: to_session(grid.step_time(step), request.playrate),
            emit=on_chunk,
        )

    def _stepper(
        self, streamer: ChunkStreamer | None, report: ProgressCallback, progress_at: Callable[[int], Progress]
    ) -> Callable[[list[int], list[int]], None]:
        """The per-step callback of one batch: streamed notes, and ``progress_at(steps)`` at most every interval."""
        steps = [0]
        due = _Every(PROGRESS_INTERVAL_S)

        def on_step(rows: list[int], tokens: list[int]) -> None:
            if streamer is not None:
                streamer.step(rows, tokens)
            steps[0] += 1
            if due():
                report(progress_at(steps[0]))

        return on_step

    def _generating(self, done: int, size: int, steps: int, count: int) -> Progress:
        """Progress ``steps`` decoder steps into a batch of ``size`` chunks after ``done`` finished ones."""
        limit = max(1, int(self.loaded.generation_config.max_length) - 1)
        share = (done + size * min(steps, limit) / limit) / count
        return Progress(_FEATURES + (1 - _FEATURES) * share * 0.999, "generating", done, count)

    def _row_decoder(self, index: int, grid: ChunkGrid) -> RowDecoder:
        start = grid.chunk_start_step(index)
        return RowDecoder(self.vocab, start, start + self._cutoff_steps(), self.velocity,
                          port_note_off=self.recipe == "reference")

    def _decode(self, row: list[int], index: int, grid: ChunkGrid) -> list[StepNote]:
        return decode_chunk(row, self.vocab, index, grid.steps_per_chunk, self._cutoff_steps(), self.velocity,
                            port_note_off=self.recipe == "reference")

    def _chunk_notes(
        self, index: int, steps: Sequence[StepNote], grid: ChunkGrid, clip: Clip, request: ClipRequest
    ) -> list[Note]:
        notes = step_notes_to_session(steps, grid, request.playrate)
        if self.recipe == "faithful":  # the arrangement ends where the clip does
            notes = within(notes, to_session(clip.duration, request.playrate))
        return notes

    def _cutoff_steps(self) -> int:
        """Steps after a chunk's start where its notes are cut: the recipe's 12 for 2 bars."""
        return (self.features.settings.num_bars + 1) * 4

    def _generate(
        self,
        mel: np.ndarray,
        composers: Sequence[str],
        generation: dict[str, Any] | None = None,
        cancel: threading.Event | None = None,
        on_step: Callable[[list[int], list[int]], None] | None = None,
    ) -> list[list[int]]:
        # A private copy per call: the port's generate() writes its kwargs into the config
        # it is given, which would leak one request's settings into the next.
        config = self.loaded.generation_config_copy()
        if generation:
            config.update(**generation)
        features = torch.from_numpy(mel).to(self.loaded.device, self.loaded.dtype)
        if self.decoder == "fast" and supported(config):
            return greedy(self.loaded.model, features, composers, config, cancel, on_step, self.rule,
                          self.loaded.kernels)

        class _Cancelled(StoppingCriteria):
            def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
                return torch.full((input_ids.shape[0],), bool(cancel and cancel.is_set()), dtype=torch.bool)

        rule = self.rule

        class _Rule(LogitsProcessor):
            def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
                if rule is not None:
                    rule(input_ids.tolist(), scores)
                return scores

        rows: list[list[int]] = []
        with torch.inference_mode():
            for composer, first, last in composer_runs(composers):  # generate() takes one composer per call
                ids = self.loaded.model.generate(
                    input_features=features[first:last],
                    composer=composer,
                    generation_config=config,
                    stopping_criteria=StoppingCriteriaList([_Cancelled()]) if cancel is not None else None,
                    logits_processor=LogitsProcessorList([_Rule()]) if rule is not None else None,
                )
                rows.extend(ids.cpu().tolist())
        if on_step is not None:  # generate() returns whole rows: replay them step by step
            for t in range(1, max(len(r) for r in rows)):
                slots = [i for i, r in enumerate(rows) if t < len(r)]
                on_step(slots, [rows[i][t] for i in slots])
        return rows


@dataclass(frozen=True)
class _Prepared:
    """A clip ready to generate: its analysis, and the rows (by chunk) a quick start already made."""

    analysis: Analysis
    rows: dict[int, list[int]] = field(default_factory=dict)
    streamed: int = 0  # chunks [0, streamed) were streamed to live playback already


class _Playback:
    """The streaming callback, noting when the first notes went out: live playback starts there.

    Armed with a :class:`StartGate`, it holds what the opening streams until the gate says a player
    starting now will not have to wait for the first row; then hands it all on as one hand-over.
    """

    def __init__(self, on_chunk: ChunkCallback) -> None:
        self.on_chunk = on_chunk
        self.started: float | None = None
        self.gate: StartGate | None = None
        self.held: list[ChunkNotes] = []  # at most the opening batch's hand-overs, one per decoder step

    def arm(self, gate: StartGate) -> None:
        if self.started is None:
            self.gate = gate

    def __call__(self, chunk: ChunkNotes) -> None:
        now = time.monotonic()
        if self.started is None and self.gate is not None and not self.gate.ready(now, chunk.horizon):
            self.held.append(chunk)
            return
        self.gate = None
        if self.held:
            notes = [n for each in (*self.held, chunk) for n in each.notes]
            chunk = dataclasses.replace(chunk, notes=tuple(sorted(notes, key=lambda n: (n.start, n.pitch, n.end))))
            self.held = []
        if self.started is None and chunk.notes:
            self.started = now
        self.on_chunk(chunk)


class _Every:
    """Called often, true at most once per ``seconds`` (the first time after ``seconds``)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.last = time.monotonic()

    def __call__(self) -> bool:
        now = time.monotonic()
        if now - self.last < self.seconds:
            return False
        self.last = now
        return True


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
