"""The int8 bridge: integer quantization of features against its float definition."""

from __future__ import annotations

import numpy as np
import pytest

from emoedge import InputQuantization, features_to_int8

ALL_FEATURES = np.arange(65536, dtype=np.uint16)


def _float_reference(features, scale, zero_point):
    steps = np.floor(features.astype(np.float64) / scale + 0.5)
    return np.clip(steps + zero_point, -128, 127).astype(np.int8)


@pytest.mark.parametrize("scale, zero_point", [(4.0, -128), (1.0, 0), (0.5, -100), (64.0, 3)])
def test_power_of_two_scales_are_exact(scale, zero_point):
    np.testing.assert_array_equal(features_to_int8(ALL_FEATURES, scale, zero_point),
                                  _float_reference(ALL_FEATURES, scale, zero_point))


@pytest.mark.parametrize("scale, zero_point", [(5.4321, -128), (3.3, -17), (0.7777, 5),
                                               (12.34567, -128), (1e-3, 0), (1e6, 0)])
def test_any_scale_matches_float_rounding_except_near_ties(scale, zero_point):
    ours = features_to_int8(ALL_FEATURES, scale, zero_point).astype(int)
    expected = _float_reference(ALL_FEATURES, scale, zero_point).astype(int)
    differ = ours != expected
    assert np.abs(ours - expected).max() <= 1
    # A difference is only allowed where u / scale sits on a rounding tie.
    fraction = (ALL_FEATURES[differ] / scale) % 1.0
    assert np.all(np.abs(fraction - 0.5) < 2.0**-14)


def test_clamps_to_int8_range():
    out = features_to_int8(np.array([0, 65535], dtype=np.uint16), 0.01, 0)
    assert out.tolist() == [0, 127]


def test_multiplier_and_shift_are_integers_fixed_once():
    q = InputQuantization.from_scale(5.5, -128)
    assert isinstance(q.multiplier, int) and 2**30 <= q.multiplier < 2**31
    assert q(np.array([11], dtype=np.uint16)).tolist() == [-126]


@pytest.mark.parametrize("scale, zero_point, message", [
    (0.0, 0, "positive"), (-1.0, 0, "positive"), (float("nan"), 0, "positive"),
    (1.0, 200, "zero point"),
])
def test_rejects_bad_quantization(scale, zero_point, message):
    with pytest.raises(ValueError, match=message):
        features_to_int8(ALL_FEATURES[:4], scale, zero_point)


def test_rejects_non_uint16_features():
    with pytest.raises(TypeError, match="uint16"):
        features_to_int8(np.zeros(3, dtype=np.float32), 1.0, 0)
