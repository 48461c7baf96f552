"""The fast greedy loop gives generate()'s tokens; batching plans; the opt-in fast precisions run."""

from __future__ import annotations

import copy

import pytest
import torch

from bridge.engine.converter import Converter
from bridge.engine.decoding import greedy, supported
from bridge.engine.planning import Batch, Pacer, StartGate, StepCost, batches, even
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


def test_files_go_in_even_batches():
    assert even(10, 64) == [Batch(0, 10)]
    assert even(10, 4) == [Batch(0, 3), Batch(3, 6), Batch(6, 10)]


def test_step_cost_is_learnt_from_the_batches_run():
    cost = StepCost()
    assert cost(4) is None
    cost.observe(2, 0.0220)  # one size seen: the prior slope
    assert cost(2) == pytest.approx(0.022) and cost(10) > cost(2)
    cost.observe(40, 0.0600)  # two sizes: a line through them
    assert cost(2) == pytest.approx(0.022) and cost(40) == pytest.approx(0.060) and cost(21) == pytest.approx(0.041)


def test_the_pacer_takes_the_largest_batch_that_keeps_playback_ahead():
    ends = [4.0 * (i + 1) for i in range(40)]  # 40 chunks of 4 s of music
    pacer = Pacer(ends, first_batch=2, max_size=64, max_steps=255)
    assert pacer.next_size(0, now=0.0, playback_start=None) == 2  # nothing measured yet
    pacer.cost.observe_batch(2, seconds=2.0, steps=100)  # 20 ms a step for 2 rows
    # chunk 2 ends 12 s into playback, which began at 1 s; 100 steps must be done by then
    pacer.cost.observe_batch(20, seconds=3.8, steps=100)  # 38 ms for 20 rows: 1 ms more a step for each row
    size = pacer.next_size(2, now=8.0, playback_start=1.0)
    assert size < 38 and 8.0 + 100 * pacer.cost(size) <= 1.0 + 12.0 < 8.0 + 100 * pacer.cost(size + 1)  # the largest
    # with time to spare, no more than twice the largest batch measured (the cost line is not trusted further)
    roomy = Pacer([4.0 * (i + 1) for i in range(100)], first_batch=2, max_size=64, max_steps=255, cost=pacer.cost)
    assert roomy.next_size(2, now=1.0, playback_start=100.0) == 40
    assert pacer.next_size(38, now=6.0, playback_start=1.0) == 2  # no more than remains
    # far behind: no batch makes the deadline, so the smallest that keeps pace with the music
    late = pacer.next_size(2, now=50.0, playback_start=1.0)
    assert 100 * pacer.cost(late) <= 4.0 * late and (late == 1 or 100 * pacer.cost(late - 1) > 4.0 * (late - 1))


def test_a_warm_converters_step_cost_sizes_a_requests_first_batch():
    """The opening of a live preview is paced too: a measured cost is remembered across requests."""
    ends = [4.6 * (i + 1) for i in range(8)]  # an opening of 8 chunks of 4.6 s
    assert Pacer(ends, first_batch=8, max_size=64, max_steps=255).next_size(0, 0.0, None) == 8  # nothing known
    cost = StepCost()
    cost.observe(1, 0.014, 200)  # 14 ms a step for one row, 26 for eight, rows of 200 steps
    cost.observe(8, 0.026, 200)
    size = Pacer(ends, first_batch=8, max_size=64, max_steps=255, cost=cost).next_size(0, 0.0, None)
    # a row must be done before playback, starting now, passes its chunk's end
    assert 200 * cost(size) <= 4.6 < 200 * cost(size + 1) and size < 8


def test_the_start_gate_holds_playback_until_the_opening_batch_will_end_in_time():
    gate = StartGate(began=10.0, steps=200)  # the opening batch began at 10 s; rows of up to 200 steps
    assert not gate.ready(now=10.2, horizon=3.0)  # no step run yet: nothing to predict from
    for _ in range(50):
        gate.step()
    # 50 steps in 1 s: the batch ends at 14 s. Playback from 11 s would reach 2 s of music at 13 s.
    assert gate.ends(11.0) == pytest.approx(14.0)
    assert not gate.ready(now=11.0, horizon=2.0)
    assert gate.ready(now=11.0, horizon=3.5)  # 3.5 s of final music last until 14.5 s
    for _ in range(100):
        gate.step()
    assert gate.ready(now=13.0, horizon=2.0)  # 150 steps in 3 s: ends at 14 s, playback reaches 2 s at 15 s
    late = StartGate(began=0.0, steps=10)
    for _ in range(30):  # rows longer than expected: the prediction follows the steps actually run
        late.step()
    assert late.ends(3.0) == pytest.approx(3.0)


def test_the_step_cost_remembers_a_bounded_history():
    cost = StepCost()
    for i in range(10 * StepCost.MEMORY):
        cost.observe(1 + i % 3, 0.01, 100 + i)
    assert len(cost.seen) == len(cost.steps) == StepCost.MEMORY
    assert max(cost.steps) == 100 + 10 * StepCost.MEMORY - 1


def test_rows_of_several_composers_in_one_batch_are_each_composers_own(converter, song_path):
    """The seam several styles of one clip share: each row is conditioned on its own composer."""
    mel = torch.from_numpy(converter.analyse(ClipRequest(song_path)).mel[:2])
    model, config = converter.loaded.model, copy.deepcopy(converter.loaded.generation_config)
    mixed = greedy(model, torch.cat([mel, mel]), ["composer3"] * 2 + ["composer8"] * 2, config)
    alone = greedy(model, mel, ["composer3"] * 2, config) + greedy(model, mel, ["composer8"] * 2, config)
    assert mixed[:2] != mixed[2:]  # the styles differ (else this would prove nothing)
    assert mixed == alone
