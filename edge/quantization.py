"""The int8 bridge: frontend features to a model's int8 input, in integers.

A full-int8 model takes real input ``x`` as ``q = round(x / scale) + zero_point``
clamped to int8. emoedge models take the uint16 frontend features as ``x``
unchanged (any normalisation lives inside the model), so the bridge only needs
the input tensor's ``scale`` and ``zero_point``. To keep the device path
integer-only, ``1 / scale`` becomes a 31-bit multiplier and a right shift,
fixed once per model:

    q = clamp(zero_point + ((u * multiplier + 2**(shift-1)) >> shift), -128, 127)

Rounding is half up (u >= 0). This differs from float ``round(u / scale)`` only
where ``u / scale`` lies within 2**-15 of a half step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

INT8_MIN, INT8_MAX = -128, 127
MULTIPLIER_BITS = 31
_MAX_SHIFT = 62  # keeps u * multiplier + rounding inside int64


@dataclass(frozen=True, kw_only=True)
class InputQuantization:
    """Integer form of a model input's (scale, zero_point).

    Attributes:
        scale: real value of one int8 step (from the model file).
        zero_point: int8 value of real 0.
        multiplier: round(2**shift / scale), below 2**31.
        shift: right shift applied after the multiplication.
    """

    scale: float
    zero_point: int
    multiplier: int
    shift: int

    @classmethod
    def from_scale(cls, scale: float, zero_point: int) -> "InputQuantization":
        """Derive the multiplier and shift of ``1 / scale``."""
        if not (math.isfinite(scale) and scale > 0):
            raise ValueError(f"input scale must be a positive finite number, got {scale!r}")
        if not INT8_MIN <= int(zero_point) <= INT8_MAX:
            raise ValueError(f"int8 zero point out of range: {zero_point}")
        mantissa, exponent = math.frexp(1.0 / scale)  # 1/scale = mantissa * 2**exponent
        multiplier = round(mantissa * (1 << MULTIPLIER_BITS))
        shift = MULTIPLIER_BITS - exponent
        if multiplier == 1 << MULTIPLIER_BITS:
            multiplier, shift = multiplier >> 1, shift - 1
        if shift < 1:
            raise ValueError(f"input scale {scale!r} is too small to represent")
        if shift > _MAX_SHIFT:  # every uint16 feature maps to zero_point
            multiplier, shift = 0, 1
        return cls(scale=float(scale), zero_point=int(zero_point), multiplier=multiplier, shift=shift)

    def __call__(self, features: np.ndarray) -> np.ndarray:
        """Quantize uint16 features; see :func:`features_to_int8`."""
        u = np.asarray(features)
        if u.dtype != np.uint16:
            raise TypeError(f"expected uint16 frontend features, got dtype {u.dtype}")
        rounding = np.int64(1) << np.int64(self.shift - 1)
        steps = (u.astype(np.int64) * np.int64(self.multiplier) + rounding) >> np.int64(self.shift)
        return np.clip(steps + self.zero_point, INT8_MIN, INT8_MAX).astype(np.int8)


def features_to_int8(features: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Map uint16 frontend features to a model's int8 input.

    Args:
        features: uint16 array from :func:`emoedge.compute_features`, any shape.
        scale: the model input tensor's quantization scale.
        zero_point: the model input tensor's zero point.
    Returns:
        int8 array of the same shape.
    """
    return InputQuantization.from_scale(scale, zero_point)(features)
