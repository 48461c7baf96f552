"""The lean decoder step: the model's own logits bit for bit with its kernels, checked at load; the
prepacked kernels close to them and giving well-formed rows (not the same tokens: other arithmetic)."""

from __future__ import annotations

import copy

import pytest
import torch

from bridge.engine import stepper
from bridge.engine.decoding import greedy
from bridge.engine.device import FP32_PACKED, Machine, choose
from bridge.engine.model import load, resolve
from bridge.engine.types import ClipRequest


@pytest.fixture(scope="module")
def mel(converter, song_path):
    return torch.from_numpy(converter.analyse(ClipRequest(song_path)).mel)


def test_a_loaded_model_decodes_with_the_lean_step_after_checking_it(converter):
    assert converter.loaded.kernels is not None and converter.loaded.kernels.kind == stepper.MODULE
    assert stepper.verify(converter.loaded.model)


def test_the_check_refuses_a_step_that_computes_differently(converter, monkeypatch):
    exact = stepper.Kernels.attend

    def other_rounding(self, *args):  # the lean step's attention off by one part in a million; the forward's not
        return exact(self, *args) * (1 + 1e-6)

    monkeypatch.setattr(stepper.Kernels, "attend", other_rounding)
    assert not stepper.verify(converter.loaded.model)


@pytest.mark.parametrize("settings", [{}, {"min_length": 40}, {"forced_eos_token_id": 1, "max_length": 30}])
def test_lean_rows_are_the_forwards_rows_token_for_token(converter, mel, settings):
    config = copy.deepcopy(converter.loaded.generation_config)
    config.update(**settings)
    composers = ["composer2"] * mel.shape[0]
    forward = greedy(converter.loaded.model, mel, composers, config)
    lean = greedy(converter.loaded.model, mel, composers, config, kernels=converter.loaded.kernels)
    assert lean == forward
    assert len({len(r) for r in lean}) > 1 or settings  # rows left the batch at different steps


def test_lean_greedy_stops_when_cancelled(converter, mel):
    class Flag:
        calls = 0

        def is_set(self) -> bool:
            self.calls += 1
            return self.calls > 3

    rows = greedy(converter.loaded.model, mel, ["composer1"] * mel.shape[0], converter.loaded.generation_config,
                  cancel=Flag(), kernels=converter.loaded.kernels)
    assert all(len(r) == 4 for r in rows)


@pytest.mark.skipif(not stepper.packing_available(torch.float32), reason="oneDNN cannot prepack weights here")
def test_packed_kernels_stay_within_rounding_and_give_well_formed_rows(model_dir, converter, mel):
    packed = load(resolve(model_dir), "cpu", precision=FP32_PACKED)
    assert packed.kernels.kind == stepper.PACKED
    hidden = torch.randn(3, 7, packed.model.config.d_model, generator=torch.Generator().manual_seed(1))
    tokens = torch.tensor([[0], [5], [140]])
    with torch.inference_mode():
        exact = converter.loaded.kernels.start(hidden, 4)
        fast = packed.kernels.start(hidden, 4)
        for _ in range(3):
            a, b = exact.step(tokens), fast.step(tokens)
            # Other summation order: equal to rounding, not bit for bit (which bits differ depends on the CPU).
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4)
    config = converter.loaded.generation_config
    rows = greedy(packed.model, mel, ["composer2"] * mel.shape[0], config, kernels=packed.kernels)
    eos = int(config.eos_token_id)
    assert len(rows) == mel.shape[0]
    for row in rows:
        assert row[0] == config.decoder_start_token_id and 1 < len(row) <= config.max_length
        assert row[-1] == eos or len(row) == config.max_length
        assert all(0 <= t < packed.model.config.vocab_size for t in row)


def test_fp32_packed_is_a_cpu_format():
    assert choose("cpu", FP32_PACKED, Machine()).precision == FP32_PACKED
    with pytest.raises(ValueError):
        choose("cuda", FP32_PACKED, Machine(cuda=True))
