"""Unit tests of the frontend stages: exact values and float equivalences."""

from __future__ import annotations

import math

import numpy as np
import pytest

from emoedge import FrontendConfig
from emoedge.frontend.bits import msb32
from emoedge.frontend.fft import FixedRealFft, kissfft_factors
from emoedge.frontend.log_scale import LN2_Q16, LOG2_CORRECTION, log_scale
from emoedge.frontend.pcan import PcanGainControl, shrink
from emoedge.frontend.pipeline import build_tables
from emoedge.frontend.sqrt import rounded_isqrt
from emoedge.frontend.window import hann_coefficients


def test_log_tables_equal_the_reference_constants():
    # kLogCoeff and entries of kLogLut from TFLM's log_lut.h / log_lut.c.
    assert LN2_Q16 == 45426
    assert LOG2_CORRECTION[:8].tolist() == [0, 224, 442, 654, 861, 1063, 1259, 1450]
    assert LOG2_CORRECTION[55:59].tolist() == [5637, 5640, 5641, 5638]
    assert LOG2_CORRECTION[-4:].tolist() == [282, 142, 0, 0]
    assert len(LOG2_CORRECTION) == 130


def test_log_scale_tracks_the_natural_log():
    values = np.array([2, 3, 10, 1000, 123456, 2**31 - 1], dtype=np.uint64)
    out = log_scale(values, correction_bits=0, scale_shift=6, enable_log=True).astype(float)
    np.testing.assert_allclose(out, 64 * np.log(values.astype(float)), atol=1.0)
    low = log_scale(np.array([0, 1], dtype=np.uint64), correction_bits=0, scale_shift=6,
                    enable_log=True)
    assert low.tolist() == [0, 0]


def test_log_scale_saturates_and_passes_through_when_off():
    big = np.array([2**31, 2**30], dtype=np.uint64)
    assert log_scale(big, correction_bits=0, scale_shift=11, enable_log=True).tolist() == [32767, 32767]
    assert log_scale(big, correction_bits=3, scale_shift=6, enable_log=False).tolist() == [32767, 32767]


@pytest.mark.parametrize("value", [0, 1, 2, 3, 4, 15, 16, 17, 2**16 - 1, 2**32 - 1, 2**32,
                                   2**32 + 1, 2**52 + 3, 2**53 + 1, 2**63 + 12345, 2**64 - 1])
def test_rounded_isqrt_edges(value):
    root = int(rounded_isqrt(np.array([value], dtype=np.uint64))[0])
    floor_root = math.isqrt(value)
    cap = 0xFFFF if value < 2**32 else 0xFFFFFFFF
    expected = floor_root + (value - floor_root**2 > floor_root and floor_root != cap)
    assert root == expected


def test_rounded_isqrt_random_against_math():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.integers(0, 2**32, 5000, dtype=np.uint64),
                             rng.integers(0, 2**62, 5000, dtype=np.uint64)])
    roots = rounded_isqrt(values)
    for value, root in zip(values.tolist(), roots.tolist()):
        assert abs(root - math.sqrt(value)) <= 0.5 + 1e-9 or root in (0xFFFF,)


def test_msb32():
    values = np.array([0, 1, 2, 3, 255, 256, 2**31, 2**32 - 1], dtype=np.uint64)
    assert msb32(values).tolist() == [0, 1, 2, 2, 8, 9, 32, 32]


def test_hann_window_is_symmetric_q12():
    coefficients = hann_coefficients(400)
    assert coefficients.dtype == np.int16
    np.testing.assert_array_equal(coefficients, coefficients[::-1])
    assert coefficients.max() == 4096 and coefficients[0] == 0
    reference = 4096 * (0.5 - 0.5 * np.cos(2 * np.pi * (np.arange(400) + 0.5) / 400))
    assert np.abs(coefficients - reference).max() <= 0.5


@pytest.mark.parametrize("n, factors", [(256, [4, 4, 4, 4]), (128, [4, 4, 4, 2]),
                                        (512, [4, 4, 4, 4, 2]), (2, [2])])
def test_kissfft_factor_order(n, factors):
    assert [p for p, _ in kissfft_factors(n)] == factors


@pytest.mark.parametrize("fft_size", [64, 256, 512, 1024])
def test_fixed_fft_matches_float_fft(fft_size):
    """Fixed-point vs float reference: Q15 output * fft_size ~ numpy's rfft."""
    rng = np.random.default_rng(fft_size)
    frames = rng.integers(-16000, 16000, (20, fft_size)).astype(np.int16)
    real, imag = FixedRealFft.build(fft_size)(frames)
    ours = (real.astype(float) + 1j * imag.astype(float)) * fft_size
    expected = np.fft.rfft(frames.astype(float), axis=1)
    # Each of log2(n) stages rounds by at most ~1 LSB, scaled back by n.
    error = np.abs(ours - expected).max()
    assert error <= fft_size * (2 * math.log2(fft_size) + 2), error


def test_fft_rejects_sizes_kissfft_real_cannot_do():
    with pytest.raises(ValueError, match="power of two"):
        FixedRealFft.build(480)


def test_filterbank_covers_the_band_contiguously():
    tables = build_tables(FrontendConfig())
    fb = tables.filterbank
    assert fb.start_bin == 5 and fb.end_bin == 241  # 125 Hz and 7500 Hz at 31.25 Hz/bin
    assert np.all(np.diff(fb.band_starts) >= 0)
    assert (fb.weights <= 4096).all() and (fb.unweights <= 4096).all()


@pytest.mark.parametrize("config", [FrontendConfig(), FrontendConfig(num_channels=1),
                                    FrontendConfig(window_size_ms=64, window_step_ms=32,
                                                   num_channels=64)])
@pytest.mark.parametrize("frames", [1, 256, 257, 512])
def test_filterbank_equals_the_reference_accumulation(config, frames):
    """Prefix-sum band sums == filterbank.c's per-channel uint64 accumulators,
    including wrapped (negative) energies, read sign-extended, and
    power-of-two frame counts."""
    fb = build_tables(config).filterbank
    bins = fb.end_bin - fb.start_bin
    rng = np.random.default_rng(frames)
    energy = rng.integers(-2**31, 2**31, (frames, bins), dtype=np.int64).astype(np.int32)
    energy[:, ::7] = -2**31
    energy[0] = 2**31 - 1
    starts = fb.band_starts.tolist() + [bins]
    expected = np.zeros((frames, fb.num_channels), dtype=np.uint64)
    extended = energy.astype(np.int64).view(np.uint64)  # sign-extended, as the C reads it
    with np.errstate(over="ignore"):
        for channel in range(fb.num_channels):
            for b in range(starts[channel + 1], starts[channel + 2]):
                expected[:, channel] += extended[:, b] * fb.weights[b]
            for b in range(starts[channel], starts[channel + 1]):
                expected[:, channel] += extended[:, b] * fb.unweights[b]
    np.testing.assert_array_equal(fb.apply(energy), expected)
    np.testing.assert_array_equal(fb.apply(np.asfortranarray(energy)), expected)


def test_pcan_gain_falls_with_noise_and_shrink_is_continuous():
    pcan = PcanGainControl.build(strength=0.95, offset=80.0, gain_bits=21,
                                 smoothing_bits=10, correction_bits=3)
    noise = np.array([0, 1, 2, 10, 1000, 10**5, 10**7, 2**32 - 1], dtype=np.uint64)
    gains = pcan.gain(noise)
    assert np.all(np.diff(gains) <= 0) and gains[0] > gains[-1]
    knee = 2 << 12
    around = shrink(np.array([knee - 1, knee, knee + 64], dtype=np.uint64)).astype(int)
    assert around.tolist() == [63, 64, 65]


@pytest.mark.parametrize("field, value, message", [
    ("num_channels", 0, "num_channels"),
    ("window_step_ms", 30, "window_step_ms"),
    ("upper_band_limit_hz", 9000.0, "Nyquist"),
    ("lower_band_limit_hz", 8000.0, "lower_band_limit_hz"),
    ("min_signal_remaining", 1.5, "min_signal_remaining"),
    ("sample_rate_hz", 0, "sample_rate_hz"),
    ("magnitude_floor", -1, "magnitude_floor"),
    ("magnitude_floor", 1 << 16, "magnitude_floor"),
    ("magnitude_floor", 2.5, "magnitude_floor"),
    ("magnitude_floor", True, "magnitude_floor"),
])
def test_config_rejects_bad_values(field, value, message):
    with pytest.raises(ValueError, match=message):
        FrontendConfig(**{field: value})


def test_config_is_frozen_keyword_only_and_round_trips():
    config = FrontendConfig.micro_speech()
    with pytest.raises(Exception):
        config.num_channels = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        FrontendConfig(16000)  # type: ignore[misc]
    assert FrontendConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown FrontendConfig fields: bogus"):
        FrontendConfig.from_dict({**config.to_dict(), "bogus": 1})


def test_derived_sizes():
    config = FrontendConfig()
    assert (config.window_samples, config.step_samples) == (400, 160)
    assert [config.num_frames(n) for n in (0, 399, 400, 559, 560, 16000)] == [0, 0, 1, 1, 2, 98]
