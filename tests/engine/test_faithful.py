"""Findings about the transformers port, each confirmed here before the engine's fix is checked."""

from __future__ import annotations

import json

import audio_fixtures
import numpy as np
import pytest
import soundfile as sf
import tiny_model

from bridge.engine.converter import Converter
from bridge.engine.tokens import TokenVocab, decode_row
from bridge.engine.types import ClipRequest

NOTE0, VEL0, TIME0 = 4, 132, 134


def test_port_tracks_beats_at_the_given_rate_and_48k_stretches_them(tmp_path, converter):
    """Finding: the port's extractor feeds 48 kHz audio to a 44.1 kHz-only tracker."""
    from transformers import Pop2PianoFeatureExtractor

    clicks = audio_fixtures.clicks(12.0, 48000, bpm=120.0, first=0.5)
    _bpm, port_beats, *_ = Pop2PianoFeatureExtractor().extract_rhythm(clicks)
    truth = 0.5 + np.arange(24) * 0.5
    port_period = float(np.median(np.diff(port_beats)))
    assert port_period == pytest.approx(0.5 * 48000 / 44100, rel=0.01)  # every beat ~8.8% late

    path = tmp_path / "clicks48k.wav"
    sf.write(str(path), clicks, 48000)
    arrangement = converter.convert(ClipRequest(str(path), composer="composer2"))
    assert arrangement.detected_tempo == pytest.approx(120.0, abs=1.0)
    for beat in arrangement.beats[3:-2]:
        assert np.min(np.abs(truth - beat)) < 0.05


@pytest.fixture(scope="module")
def intro_song(tmp_path_factory):
    """Three seconds of a sustained chord, then the beat starts."""
    path = tmp_path_factory.mktemp("intro") / "intro.wav"
    sf.write(str(path), audio_fixtures.chord_song(12.0, 44100, lead_in=3.0), 44100)
    return str(path)


def test_port_drops_audio_before_the_first_beat_faithful_keeps_it(intro_song, converter, reference_converter):
    request = ClipRequest(intro_song)
    ref = reference_converter.analyse(request)
    ours = converter.analyse(request)
    first_beat = ref.beats.times[0]
    assert first_beat > 0.3  # the tracker needs a few onsets before its first beat
    lost = ref.clip.samples[: int(first_beat * ref.clip.sample_rate)]
    assert np.sqrt(np.mean(lost**2)) > 0.05  # ...and the intro chord sounds there
    assert ref.grid.beatsteps[0] == pytest.approx(first_beat)  # the port's input starts at the beat
    assert ours.grid.beatsteps[0] <= 0.0  # ours starts at or before the clip start
    assert ours.mel.shape[0] >= ref.mel.shape[0]
    # the first frames of our first chunk hold the intro: loud, not the log floor of padding
    assert ours.mel[0, :4].mean() > ref.mel[0, :4].mean() - 1 and ours.mel[0, :4].max() > np.log(1e-6) + 5


def test_faithful_notes_stay_inside_the_clip(intro_song, converter):
    arrangement = converter.convert(ClipRequest(intro_song, composer="composer4"))
    assert all(0.0 <= n.start < n.end <= arrangement.session_length for n in arrangement.notes)


def test_generate_leaks_settings_into_the_shared_config_but_requests_do_not(model_dir, song_path):
    """Finding: Pop2Piano's generate() updates the config it uses with each call's kwargs."""
    import torch
    from transformers import Pop2PianoForConditionalGeneration

    model = Pop2PianoForConditionalGeneration.from_pretrained(model_dir).eval()
    features = torch.zeros(1, 40, 512)
    model.generate(input_features=features, composer="composer1", max_length=7)
    assert model.generation_config.max_length == 7  # the next caller inherits it

    warm = Converter(model_dir, device="cpu")
    request = ClipRequest(song_path, composer="composer5")
    alone = Converter(model_dir, device="cpu").convert(request).notes
    short = warm.convert(request, generation={"max_length": 8}).notes
    after = warm.convert(request).notes
    assert len(short) < len(alone)
    assert after == alone
    assert warm.loaded.model.generation_config.max_length == 256


def test_orphan_note_off_original_ignores_port_holds():
    """Finding: a note-off for a silent pitch starts a held note in the port, nothing in the original."""
    vocab = TokenVocab(tiny_model.vocab())
    ids = [0, TIME0 + 1, VEL0, NOTE0 + 50, TIME0 + 2, VEL0 + 1, NOTE0 + 60, TIME0 + 3, VEL0, NOTE0 + 60, 1]
    port = decode_row(ids, vocab, 0, 12, port_note_off=True)
    original = decode_row(ids, vocab, 0, 12, port_note_off=False)
    assert [(n.onset, n.offset, n.pitch) for n in original] == [(3, 6, 60)]
    assert (1, 12, 50) in [(n.onset, n.offset, n.pitch) for n in port]  # held to the segment cutoff


def test_activation_option_runs_gated_gelu(model_dir, song_path):
    """The config says relu (Pop2PianoConfig's default); gelu_new is what the original trained with."""
    config = json.load(open(f"{model_dir}/config.json", encoding="utf-8"))
    assert config["dense_act_fn"] == "relu" and config["feed_forward_proj"] == "gated-gelu"
    relu = Converter(model_dir, device="cpu")
    gelu = Converter(model_dir, device="cpu", activation="gelu_new")
    assert relu.loaded.activation == "relu" and gelu.loaded.activation == "gelu_new"
    mel = relu.analyse(ClipRequest(song_path)).mel[:2]
    assert relu._generate(mel, ["composer1"] * 2) != gelu._generate(mel, ["composer1"] * 2)
    arrangement = gelu.convert(ClipRequest(song_path))
    assert arrangement.activation == "gelu_new"


def test_librosa_tracker_is_close_to_essentia_on_the_test_audio():
    """The portable fallback against the tracker the model was trained on (see docs/engine.md)."""
    from bridge.engine.beats import track_beats

    song = audio_fixtures.chord_song(20.0, 44100, bpm=110.0)
    essentia = track_beats(song, tracker="essentia")
    librosa_ = track_beats(song, tracker="librosa")
    assert essentia.tracker == "essentia-multifeature" and librosa_.tracker == "librosa"
    assert librosa_.bpm == pytest.approx(essentia.bpm, rel=0.03)
    e = np.asarray(essentia.times)
    distances = [np.min(np.abs(e - t)) for t in librosa_.times[2:-2]]
    assert np.median(distances) < 0.05


def test_noise_gets_no_librosa_beats():
    from bridge.engine.beats import track_beats

    noise = np.random.default_rng(0).normal(0, 0.1, 44100 * 8).astype(np.float32)
    result = track_beats(noise, grid_bpm=100.0, tracker="librosa")
    assert result.tracker == "fixed-grid" and "pulse" in result.note
