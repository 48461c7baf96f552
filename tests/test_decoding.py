"""The fast greedy loop gives generate()'s tokens; batching plans; the opt-in fast precisions run."""

from __future__ import annotations

import copy

import pytest
import torch

from bridge.engine.converter import Converter, batches
from bridge.engine.decoding import greedy, supported
from bridge.engine.types import ClipRequest


def test_batch_plan():
    assert batches(0, 2, 32) == []
    assert batches(1, 2, 32) == [(0, 1)]
    assert batches(70, 2, 32) == [(0, 2), (2, 24), (24, 47), (47, 70)]  # equal, not 32+32+4
    assert batches(78, 0, 64) == [(0, 39), (39, 78)]
    assert batches(78, 78, 64) == [(0, 78)]
    assert batches(5, 2, 64) == [(0, 2), (2, 5)]


@pytest.mark.parametrize("settings", [{}, {"min_length": 40}, {"forced_eos_token_id": 1, "max_length": 30}])
def test_greedy_equals_generate(converter, song_path, settings):
    mel = torch.from_numpy(converter.analyse(ClipRequest(song_path)).mel)
    model = converter.loaded.model
    config = copy.deepcopy(converter.loaded.generation_config)
    config.update(**settings)
    assert supported(config)
    with torch.inference_mode():
        expected = model.generate(input_features=mel, composer="composer2", generation_config=copy.deepcopy(config))
    rows = greedy(model, mel, "composer2", config)
    # generate pads ended rows to the batch's length; greedy stops each row at its EOS
    for ours, theirs in zip(rows, expected.tolist()):
        assert theirs[: len(ours)] == ours
        assert all(t == 0 for t in theirs[len(ours):])
    assert any(1 in r for r in rows) and any(1 not in r for r in rows) or settings


def test_unsupported_settings_fall_back_to_generate(converter):
    config = copy.deepcopy(converter.loaded.generation_config)
    config.num_beams = 2
    assert not supported(config)


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_fast_precisions_convert(model_dir, song_path, precision):
    fast = Converter(model_dir, device="cpu", precision=precision)
    arrangement = fast.convert(ClipRequest(song_path, duration=6.0))
    assert arrangement.precision == precision
    assert all(0 <= n.start < n.end for n in arrangement.notes)
