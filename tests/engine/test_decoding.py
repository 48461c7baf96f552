"""The fast greedy loop gives generate()'s tokens; batching plans; the opt-in fast precisions run."""

from __future__ import annotations

import copy

import pytest
import torch

from bridge.engine.converter import Converter
from bridge.engine.decoding import greedy, supported
from bridge.engine.planning import Batch, batches, plan
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
    rows = greedy(model, mel, ["composer2"] * mel.shape[0], config)
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


def test_the_plan_streams_doubling_batches_and_regenerates_unreusable_quick_rows():
    assert plan(10, 0, 0, streaming=False, first_batch=2, size=64) == [Batch(0, 10)]
    assert plan(10, 0, 0, streaming=True, first_batch=2, size=4) == [
        Batch(0, 2, True), Batch(2, 6, True), Batch(6, 10, True)]
    # a quick start streamed chunks 0-2 and they can be reused: the rest streams, nothing twice
    assert plan(10, 3, 3, streaming=True, first_batch=2, size=64) == [Batch(3, 9, True), Batch(9, 10, True)]
    # they cannot be reused: generated again for the file, last, unstreamed
    assert plan(10, 3, 0, streaming=True, first_batch=2, size=64)[-1] == Batch(0, 3)


def test_rows_of_several_composers_in_one_batch_are_each_composers_own(converter, song_path):
    """The seam several styles of one clip share: each row is conditioned on its own composer."""
    mel = torch.from_numpy(converter.analyse(ClipRequest(song_path)).mel[:2])
    model, config = converter.loaded.model, copy.deepcopy(converter.loaded.generation_config)
    mixed = greedy(model, torch.cat([mel, mel]), ["composer3"] * 2 + ["composer8"] * 2, config)
    alone = greedy(model, mel, ["composer3"] * 2, config) + greedy(model, mel, ["composer8"] * 2, config)
    assert mixed[:2] != mixed[2:]  # the styles differ (else this would prove nothing)
    assert mixed == alone
