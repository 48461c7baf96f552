"""The FIR decimator gives librosa/resampy's kaiser_best output bit for bit."""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from bridge.engine.resample import resample_kaiser_best, whole_factor_taps


def _reference(x: np.ndarray, sr_orig: int, sr_new: int) -> np.ndarray:
    return librosa.resample(x, orig_sr=sr_orig, target_sr=sr_new, res_type="kaiser_best")


@pytest.mark.parametrize("length", [2, 3, 127, 128, 129, 255, 256, 257, 4097, 8192 + 511, 44100 * 2 + 1])
def test_identical_to_resampy_at_every_length(length):
    # lengths around the filter's 128 taps and the 4096-output blocks hit every edge case
    rng = np.random.default_rng(length)
    x = rng.standard_normal(length).astype(np.float32)
    got = resample_kaiser_best(x, 44100, 22050)
    want = _reference(x, 44100, 22050)
    assert got.dtype == want.dtype == np.float32
    assert got.shape == want.shape
    assert got.tobytes() == want.tobytes()


def test_identical_for_music_like_signal_and_other_whole_factors():
    t = np.arange(3 * 48000) / 48000
    x = (0.5 * np.sin(2 * np.pi * 220 * t) + 0.2 * np.sign(np.sin(2 * np.pi * 2 * t))).astype(np.float32)
    x[1000:1100] = 0.0  # exact zeros inside the signal
    for sr_orig, sr_new in ((48000, 24000), (48000, 16000), (44100, 22050)):
        assert resample_kaiser_best(x, sr_orig, sr_new).tobytes() == _reference(x, sr_orig, sr_new).tobytes()


def test_too_short_input_is_refused_like_resampy():
    x = np.ones(1, np.float32)
    with pytest.raises(ValueError, match="too small"):
        _reference(x, 44100, 22050)
    with pytest.raises(ValueError, match="too small"):
        resample_kaiser_best(x, 44100, 22050)


def test_ratios_that_are_not_a_whole_factor_fall_back():
    assert whole_factor_taps(44100, 16000) is None
    assert whole_factor_taps(22050, 44100) is None  # upsampling
    x = np.random.default_rng(1).standard_normal(5000).astype(np.float32)
    assert np.array_equal(resample_kaiser_best(x, 44100, 16000), _reference(x, 44100, 16000))
    assert np.array_equal(resample_kaiser_best(x.astype(np.float64), 44100, 22050),
                          _reference(x.astype(np.float64), 44100, 22050))
