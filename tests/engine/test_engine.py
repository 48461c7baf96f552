"""The engine's Python API on real files: formats, ranges, beats fallbacks, progress, cancel, streaming."""

from __future__ import annotations

import math
import threading
import time

import audio_fixtures
import numpy as np
import pytest
import soundfile as sf

from bridge.engine.audio import probe, read_clip
from bridge.engine.beats import track_beats
from bridge.engine.types import ClipRequest
from bridge.errors import BadRange, BadRequest, Cancelled, NotAudio, NotFound, UnknownComposer

SR = 44100
FORMATS = [("wav", "WAV", "PCM_16"), ("aiff", "AIFF", "PCM_24"), ("flac", "FLAC", "PCM_16"),
           ("ogg", "OGG", "VORBIS"), ("opus", "OGG", "OPUS"), ("mp3", "MP3", "MPEG_LAYER_III")]


@pytest.mark.parametrize("ext,fmt,subtype", FORMATS)
def test_reads_every_format_as_mono_range(tmp_path, ext, fmt, subtype):
    sr = 48000 if ext == "opus" else SR
    stereo = np.stack([audio_fixtures.clicks(4.0, sr), np.zeros(int(4.0 * sr), np.float32)], axis=1)
    path = tmp_path / f"clip.{ext}"
    sf.write(str(path), stereo, sr, format=fmt, subtype=subtype)
    clip = read_clip(str(path), start=1.0, duration=2.0)
    assert clip.samples.ndim == 1 and clip.sample_rate == sr
    assert clip.duration == pytest.approx(2.0, abs=1e-3)
    # the mono mix is half the left channel: clicks at 1.0, 1.5, 2.0, 2.5 s of the source → 0, .5, 1, 1.5 s
    env = np.abs(clip.samples)
    peaks = [i / sr for i in range(0, env.size, int(0.5 * sr))]
    for t in peaks:
        # lossy codecs smear the click and MP3 adds its encoder delay (~25 ms)
        window = env[int(t * sr): int((t + 0.06) * sr)]
        assert window.max() > 0.1, (ext, t)
    assert env.max() < 0.7  # 0.9 click averaged with a silent channel


def test_read_errors_are_clear(tmp_path):
    with pytest.raises(NotFound):
        read_clip(str(tmp_path / "missing.wav"))
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(NotAudio):
        read_clip(str(tmp_path / "empty.wav"))
    with pytest.raises(NotAudio):
        read_clip(str(tmp_path))
    path = tmp_path / "ok.wav"
    sf.write(str(path), np.zeros(SR, np.float32), SR)
    for start, duration in [(-1, 0), (2, 0), (0.5, 0.6), (0, float("nan"))]:
        with pytest.raises(BadRange):
            read_clip(str(path), start, duration)
    assert probe(str(path)).duration == pytest.approx(1.0)


def test_nan_samples_become_silence(tmp_path):
    data = np.zeros(SR, np.float32)
    data[100:200] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(str(path), data, SR, subtype="FLOAT")
    assert np.all(np.isfinite(read_clip(str(path)).samples))


def test_beats_fall_back_to_a_grid_on_silence_and_short_clips():
    silent = track_beats(np.zeros(SR * 4, np.float32), grid_bpm=90.0)
    assert silent.tracker == "fixed-grid" and silent.bpm == 90.0 and "silent" in silent.note
    assert np.allclose(np.diff(silent.times), 60 / 90)
    short = track_beats(audio_fixtures.clicks(0.6, SR))
    assert short.tracker == "fixed-grid" and len(short.times) >= 2


def test_beats_follow_a_click_track():
    beats = track_beats(audio_fixtures.clicks(12.0, SR, bpm=100.0, first=0.25))
    assert beats.tracker != "fixed-grid"
    assert beats.bpm == pytest.approx(100.0, abs=2.0)
    expected = 0.25 + np.arange(0, 20) * 0.6
    # essentia settles after a few beats and runs ~30 ms early on clicks (its frame hop)
    for t in beats.times[3:-2]:
        assert np.min(np.abs(expected - t)) < 0.05


def test_validation_happens_before_work(converter, song_path):
    with pytest.raises(UnknownComposer):
        converter.convert(ClipRequest(song_path, composer="composer22"))
    with pytest.raises(BadRequest):
        converter.convert(ClipRequest(song_path, playrate=0.0))
    with pytest.raises(BadRequest):
        converter.convert(ClipRequest(song_path, tempo=float("inf")))


def test_progress_is_monotonic_and_notes_stream_within_their_horizons(converter, song_path, monkeypatch):
    # every hand-over as it comes (an unbroken start may merge the opening's: tested on its own)
    monkeypatch.setattr(converter, "live_start", "first-note")
    progress, chunks = [], []
    arrangement = converter.convert(ClipRequest(song_path, composer="composer3"), progress=progress.append,
                                    on_chunk=chunks.append)
    fractions = [p.fraction for p in progress]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    indices = [c.index for c in chunks]
    assert indices == sorted(indices) and indices[-1] == arrangement.chunks - 1
    # handed on step by step, not chunk by chunk: some promised horizons fall inside a chunk
    from bridge.engine.timing import to_session

    analysis = converter.analyse(ClipRequest(song_path, composer="composer3"))
    starts = [to_session(analysis.grid.step_time(analysis.grid.chunk_start_step(i)), 1.0) for i in range(arrangement.chunks)]
    inside = [c.horizon for c in chunks if 0 < c.horizon < float("inf") and min(abs(c.horizon - s) for s in starts) > 1e-6]
    assert inside, [c.horizon for c in chunks]
    streamed = sorted((n for c in chunks for n in c.notes), key=lambda n: (n.start, n.pitch, n.end))
    assert streamed == arrangement.notes  # the same notes the file gets
    promised = -float("inf")
    for chunk in chunks:  # nothing handed on starts before a horizon already promised
        assert all(n.start >= promised - 1e-9 for n in chunk.notes)
        assert chunk.horizon >= promised
        promised = chunk.horizon
    assert promised == float("inf")
    generating = [p for p in progress if p.stage == "generating"]
    assert generating[-1].chunk == generating[-1].chunks == arrangement.chunks  # after each batch: chunks done


def test_cancel_between_chunks(model_dir, song_path):
    from bridge.engine.converter import Converter

    # first-note: every hand-over goes on as it comes (an unbroken start may hold chunk 0's and hand them
    # on with chunk 1's index; the gate is tested on its own)
    converter = Converter(model_dir, device="cpu", batch_size=1, first_batch=1, live_start="first-note")
    cancel = threading.Event()
    seen = []

    def on_chunk(chunk):
        seen.append(chunk.index)
        cancel.set()

    with pytest.raises(Cancelled):
        converter.convert(ClipRequest(song_path), cancel=cancel, on_chunk=on_chunk)
    assert seen == [0]


def test_silent_clip_converts_on_a_grid(converter, tmp_path):
    path = tmp_path / "silence.wav"
    sf.write(str(path), np.zeros(SR * 5, np.float32), SR)
    arrangement = converter.convert(ClipRequest(str(path), tempo=96.0))
    assert arrangement.tracker == "fixed-grid" and arrangement.tempo == 96.0
    assert arrangement.beats[1] - arrangement.beats[0] == pytest.approx(60 / 96)


def test_offsets_and_playrate_shift_and_scale_note_times(converter, tmp_path):
    """The same audio placed 3 s into a file, converted from 3 s, gives the same notes;
    at playrate 2 every time halves."""
    song = audio_fixtures.chord_song(8.0, SR)
    plain, padded = tmp_path / "plain.wav", tmp_path / "padded.wav"
    sf.write(str(plain), song, SR)
    sf.write(str(padded), np.concatenate([audio_fixtures.clicks(3.0, SR, 77), song]), SR)
    a = converter.convert(ClipRequest(str(plain), composer="composer9"))
    b = converter.convert(ClipRequest(str(padded), start=3.0, duration=8.0, composer="composer9"))
    c = converter.convert(ClipRequest(str(plain), playrate=2.0, composer="composer9"))
    # The three conversions feed the model the same samples, so they do the same arithmetic:
    # exact comparisons hold on any CPU. Empty results would make them meaningless.
    assert a.notes, "the tiny model gave no notes: this comparison would prove nothing"
    assert [(n.pitch, round(n.start, 4)) for n in a.notes] == [(n.pitch, round(n.start, 4)) for n in b.notes]
    assert [n.pitch for n in a.notes] == [n.pitch for n in c.notes]
    halved = [t / 2 for n in a.notes for t in (n.start, n.end)]  # pytest.approx refuses nested tuples
    assert halved == pytest.approx([t for n in c.notes for t in (n.start, n.end)])
    assert c.session_length == pytest.approx(4.0) and c.detected_tempo == pytest.approx(2 * a.detected_tempo)


def test_odd_length_clip_converts(converter, tmp_path):
    """An odd number of 44.1 kHz samples needs the resampled clip padded by one sample
    (librosa used to be handed a keyword np.pad refuses there)."""
    path = tmp_path / "odd.wav"
    sf.write(str(path), audio_fixtures.chord_song(6.0, SR)[: SR * 6 - 1], SR)
    assert sf.info(str(path)).frames % 2 == 1
    arrangement = converter.convert(ClipRequest(str(path)))
    assert arrangement.duration == pytest.approx((SR * 6 - 1) / SR)


def test_long_clip_streams_its_opening_first_and_the_file_is_unchanged(converter, long_song_path, caplog):
    """A clip longer than the quick-start window: the opening is analysed alone and streamed
    first; the file (whole-clip analysis) is what a non-streaming conversion gives."""
    from bridge.engine import converter as converter_module

    request = ClipRequest(long_song_path, composer="composer5")
    plain = converter.convert(request)
    assert plain.notes, "no notes: the comparisons below would prove nothing"
    chunks, stages = [], []
    streamed_run = converter.convert(request, on_chunk=chunks.append,
                                     progress=lambda p: stages.append((p.stage, len(chunks))))
    assert streamed_run.notes == plain.notes
    # notes were handed on before the whole clip's beats were tracked
    first_beats = next(count for stage, count in stages if stage == "beats")
    assert first_beats > 0
    quick_chunks = max(c.index for c in chunks[:first_beats]) + 1
    assert 1 <= quick_chunks < plain.chunks
    assert quick_chunks * 2.0 < converter_module.QUICK_START_S
    streamed = sorted((n for c in chunks for n in c.notes), key=lambda n: (n.start, n.pitch, n.end))
    assert streamed == plain.notes  # the opening's analysis matched: nothing generated twice
    assert "quick analysis differs" not in caplog.text


def test_when_the_quick_analysis_differs_the_file_is_generated_from_the_whole_clip(converter, long_song_path,
                                                                                   monkeypatch, caplog):
    """Padding to the clip's longest chunk usually makes the opening's model input differ in its last
    frames; then the file's chunks come from the whole-clip analysis and a warning says so."""
    from bridge.engine import converter as converter_module

    request = ClipRequest(long_song_path, composer="composer6")
    plain = converter.convert(request)
    assert plain.notes, "no notes: the comparisons below would prove nothing"
    monkeypatch.setattr(converter_module, "_same_inputs", lambda *args: False)
    chunks, stages = [], []
    with caplog.at_level("WARNING"):
        streamed_run = converter.convert(request, on_chunk=chunks.append,
                                         progress=lambda p: stages.append((p.stage, len(chunks))))
    assert streamed_run.notes == plain.notes
    assert "quick analysis differs" in caplog.text
    assert chunks[-1].horizon == float("inf")
    # after the opening, live playback goes on with the file's notes, none missing
    quick = next(count for stage, count in stages if stage == "beats")
    later = [n for c in chunks[quick:] for n in c.notes]
    assert set(later) <= set(plain.notes)
    assert {n for n in plain.notes if n.start >= converter_module.QUICK_START_S} <= set(later)


def test_an_unbroken_live_start_holds_the_opening_then_hands_it_on_whole():
    """The stream's first notes wait at the start gate; nothing held is lost, and it goes on in one hand-over."""
    from bridge.engine.converter import _Playback
    from bridge.engine.planning import StartGate
    from bridge.engine.types import ChunkNotes, Note

    handed: list[ChunkNotes] = []
    playback = _Playback(handed.append)
    gate = StartGate(began=time.monotonic() - 1.0, steps=10_000)  # one step a second of 10 000: hours to go
    playback.arm(gate)
    gate.step()
    early = [ChunkNotes(0, 4, (Note(60, 1.0, 1.5, 80),), 1.5), ChunkNotes(0, 4, (), 1.6),
             ChunkNotes(1, 4, (Note(64, 0.9, 2.0, 80),), 1.8)]
    for chunk in early:
        playback(chunk)
    assert handed == [] and playback.started is None
    playback(ChunkNotes(2, 4, (Note(67, 3.0, 3.5, 80),), math.inf))  # the opening is done: open
    assert len(handed) == 1 and playback.started is not None
    assert [n.pitch for n in handed[0].notes] == [64, 60, 67] and handed[0].horizon == math.inf
    playback(ChunkNotes(3, 4, (Note(72, 5.0, 5.5, 80),), math.inf))  # after that, as they come
    assert len(handed) == 2 and handed[1].notes[0].pitch == 72


def test_a_live_start_at_the_first_notes_arms_no_gate(converter, monkeypatch):
    from bridge.engine.converter import _Playback
    from bridge.engine.planning import FIRST_NOTE

    monkeypatch.setattr(converter, "live_start", FIRST_NOTE)
    playback = _Playback(lambda chunk: None)
    step = converter._gated(playback, lambda rows, tokens: None)
    step([0], [5])
    assert playback.gate is None
    with pytest.raises(ValueError, match="live_start"):
        from bridge.engine.converter import Converter

        Converter("/nonexistent", live_start="whenever")
