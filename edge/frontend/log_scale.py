"""Stage 8: fixed-point natural log (``log_scale.c``, ``log_lut.c``).

log2(x) = integer part (position of the leading one) + a Q.16 fraction. The
fraction is the mantissa m in [0, 1) plus a correction log2(1 + m) - m taken
from a 129-point table with linear interpolation. Then ln(x) = log2(x) *
ln(2) with ln(2) in Q.16, and the result is scaled by 2**scale_shift and
rounded. The table and ln(2) are computed here from their definitions; they
equal the reference's ``kLogLut`` and ``kLogCoeff`` entry for entry
(``tests/test_frontend_stages.py`` pins a few).
"""

from __future__ import annotations

import math

import numpy as np

from .bits import INT16_MAX, LOG_SCALE_BITS, LOG_SEGMENTS_BITS, msb32, wrap_uint32

_ONE = 1 << LOG_SCALE_BITS
_SEGMENTS = 1 << LOG_SEGMENTS_BITS


def log2_correction_table() -> np.ndarray:
    """round(2**16 * (log2(1 + i/128) - i/128)) for i = 0..128, plus a 0 pad."""
    values = [math.floor(_ONE * (math.log2(1 + i / _SEGMENTS) - i / _SEGMENTS) + 0.5)
              for i in range(_SEGMENTS + 1)]
    return np.array(values + [0], dtype=np.int64)


LOG2_CORRECTION = log2_correction_table()
LN2_Q16 = math.floor(_ONE * math.log(2) + 0.5)  # 45426


def log2_fraction(x: np.ndarray, integer: np.ndarray) -> np.ndarray:
    """Q.16 fractional part of log2(x), given floor(log2(x)).

    Args:
        x: int64 values >= 2, any shape.
        integer: floor(log2(x)) for each value.
    Returns:
        int64 Q.16 fractions in [0, 2**16).
    """
    frac = x - (np.int64(1) << integer)  # mantissa, integer bits wide
    frac = np.where(integer < LOG_SCALE_BITS,
                    frac << np.maximum(LOG_SCALE_BITS - integer, 0),
                    frac >> np.maximum(integer - LOG_SCALE_BITS, 0))  # now Q.16
    segment = frac >> (LOG_SCALE_BITS - LOG_SEGMENTS_BITS)
    c0 = LOG2_CORRECTION[segment]
    c1 = LOG2_CORRECTION[segment + 1]
    offset = frac - segment * (_ONE >> LOG_SEGMENTS_BITS)
    interpolated = ((c1 - c0) * offset) >> LOG_SCALE_BITS  # floor, as int32 >>
    return frac + c0 + interpolated


def log_scale(signal: np.ndarray, *, correction_bits: int, scale_shift: int,
              enable_log: bool) -> np.ndarray:
    """Scaled natural log of channel values, saturated to 0..32767.

    Args:
        signal: uint64 channel values (< 2**32), any shape.
        correction_bits: left shift (right if negative) applied before the
            log, undoing the FFT's 1/fft_size scaling in part.
        scale_shift: output is ln(value) * 2**scale_shift, rounded.
        enable_log: when False, the values are only saturated.
    Returns:
        uint16 array, same shape.
    """
    if not enable_log:
        return np.minimum(signal, INT16_MAX).astype(np.uint16)
    if correction_bits < 0:
        value = signal >> np.uint64(-correction_bits)
    else:
        value = wrap_uint32(signal << np.uint64(correction_bits))
    x = value.astype(np.int64)
    safe = np.maximum(x, 2)
    integer = msb32(safe) - 1
    log2 = (integer << LOG_SCALE_BITS) + log2_fraction(safe, integer)
    loge = (LN2_Q16 * log2 + _ONE // 2) >> LOG_SCALE_BITS
    scaled = wrap_uint32(((loge << scale_shift) + _ONE // 2).astype(np.uint64)) >> np.uint64(LOG_SCALE_BITS)
    scaled = scaled.astype(np.int64)
    out = np.where(x > 1, scaled, 0)
    return np.minimum(out, INT16_MAX).astype(np.uint16)
