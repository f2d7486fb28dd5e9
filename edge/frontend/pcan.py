"""Stage 7: per-channel amplitude normalisation, PCAN (``pcan_gain_control.c``).

Each channel is divided by a power of its own noise estimate:
``snr = signal * gain(noise) >> snr_shift`` with a Q.(gain_bits) gain, then
compressed by ``PcanShrink`` into Q.6. The gain comes from a piecewise
quadratic lookup over the 32 octaves of the noise estimate
(``WideDynamicFunction``), whose table is built once in float32.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .bits import (INT16_MAX, PCAN_OUTPUT_BITS, PCAN_SNR_BITS, WIDE_DYNAMIC_FUNCTION_BITS,
                   msb32, wrap_uint32)

_F32 = np.float32
_LUT_SIZE = 4 * WIDE_DYNAMIC_FUNCTION_BITS - 3


@dataclass(frozen=True)
class PcanGainControl:
    """Tables of the PCAN stage.

    Attributes:
        gain_lut: int64 copy of the reference's int16 lookup table (125,).
        snr_shift: right shift from signal*gain to Q.12 SNR.
    """

    gain_lut: np.ndarray
    snr_shift: int

    @classmethod
    def build(cls, *, strength: float, offset: float, gain_bits: int,
              smoothing_bits: int, correction_bits: int) -> "PcanGainControl":
        input_bits = smoothing_bits - correction_bits
        snr_shift = gain_bits - correction_bits - PCAN_SNR_BITS
        if input_bits < 0 or snr_shift < 0:
            raise ValueError("PCAN: smoothing_bits or pcan_gain_bits too small for this FFT size")

        def gain(x: int) -> int:
            x_scaled = _F32(_F32(x) / _F32(1 << input_bits))
            # powf via double then rounded to float32, as glibc's powf rounds.
            power = _F32((float(x_scaled + _F32(offset))) ** float(-_F32(strength)))
            value = _F32(_F32(1 << gain_bits) * power)
            return INT16_MAX if value > INT16_MAX else int(_F32(value + _F32(0.5)))

        lut = np.zeros(_LUT_SIZE, dtype=np.int64)
        lut[0], lut[1] = gain(0), gain(1)
        for interval in range(2, WIDE_DYNAMIC_FUNCTION_BITS + 1):
            x0 = 1 << (interval - 1)
            x1 = x0 + (x0 >> 1)
            x2 = x0 + (x0 - 1) if interval == WIDE_DYNAMIC_FUNCTION_BITS else 2 * x0
            y0, y1, y2 = gain(x0), gain(x1), gain(x2)
            a1 = 4 * (y1 - y0) - (y2 - y0)
            a2 = (y2 - y0) - a1
            base = 4 * interval - 6
            lut[base:base + 3] = [y0, _int16(a1), _int16(a2)]
        return cls(lut, snr_shift)

    def gain(self, noise: np.ndarray) -> np.ndarray:
        """``WideDynamicFunction``: Q.gain_bits gain for each noise estimate.

        Args:
            noise: uint64 estimates (< 2**32), any shape.
        Returns:
            int64 gains, already wrapped to int16 as the reference returns them.
        """
        x = noise.astype(np.int64)
        interval = msb32(noise)
        base = np.maximum(4 * interval - 6, 0)
        # Mantissa: the 10 bits below the leading one.
        frac = np.where(interval < 11, x << np.maximum(11 - interval, 0),
                        x >> np.maximum(interval - 11, 0)) & 0x3FF
        result = (self.gain_lut[base + 2] * frac) >> 5
        result = _int32(result + self.gain_lut[base + 1] * 32)
        result = _int32(result * frac)
        result = (result + (1 << 14)) >> 15
        result = _int16(result + self.gain_lut[base])
        small = np.minimum(x, 2)
        return np.where(x <= 2, self.gain_lut[small], result)

    def apply(self, signal: np.ndarray, noise: np.ndarray) -> np.ndarray:
        """Normalise channel magnitudes by their noise estimates.

        Args:
            signal: uint64 magnitudes after noise reduction, (frames, channels).
            noise: uint64 noise estimates of the same frames.
        Returns:
            uint64 PCAN output in Q.6 (< 2**32), same shape.
        """
        gain = wrap_uint32(self.gain(noise).astype(np.uint64))  # int16 -> uint32 sign-extends
        snr = wrap_uint32((signal * gain) >> np.uint64(self.snr_shift))
        return shrink(snr)


def shrink(snr: np.ndarray) -> np.ndarray:
    """``PcanShrink``: quadratic below SNR 2.0, linear above, into Q.6."""
    knee = np.uint64(2 << PCAN_SNR_BITS)
    quadratic = wrap_uint32(snr * snr) >> np.uint64(2 + 2 * PCAN_SNR_BITS - PCAN_OUTPUT_BITS)
    linear = (snr >> np.uint64(PCAN_SNR_BITS - PCAN_OUTPUT_BITS)) - np.uint64(1 << PCAN_OUTPUT_BITS)
    return np.where(snr < knee, quadratic, wrap_uint32(linear))


def _int16(value):
    return np.asarray(value).astype(np.int64).astype(np.int16).astype(np.int64)


def _int32(value):
    return np.asarray(value).astype(np.int64).astype(np.int32).astype(np.int64)
