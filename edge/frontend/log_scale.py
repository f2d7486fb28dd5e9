"""Stage 8: fixed-point natural log (``log_scale.c``, ``log_lut.c``).

log2(x) = integer part (position of the leading one) + a Q.16 fraction. The
fraction is the mantissa m in [0, 1) plus a correction log2(1 + m) - m taken
from a 129-point table with linear interpolation (evaluated once for every
Q.16 mantissa into ``LOG2_FRACTION``, so each value needs one lookup). Then
ln(x) = log2(x) * ln(2) with ln(2) in Q.16, and the result is scaled by
2**scale_shift and rounded. The table and ln(2) are computed here from their
definitions; they equal the reference's ``kLogLut`` and ``kLogCoeff`` entry
for entry (``tests/test_frontend_stages.py`` pins a few).
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
        x: int64 values >= 2 and below 2**47, any shape.
        integer: floor(log2(x)) for each value.
    Returns:
        int64 Q.16 fractions in [0, 2**16).
    """
    # The mantissa x / 2**integer - 1 in Q.16. The reference shifts it left
    # when integer < 16 (exact) and right otherwise (floor); shifting x
    # left by 16 first and then right by integer is the same floor in one
    # step (x << 16 < 2**63). The leading one lands on bit 16; the mask
    # drops it.
    mantissa = ((x << LOG_SCALE_BITS) >> integer) & (_ONE - 1)
    return LOG2_FRACTION[mantissa]


def _log2_fraction_table() -> np.ndarray:
    """The Q.16 log2 fraction of every Q.16 mantissa m, as the reference gets it.

    m + c0 + ((c1 - c0) * offset) >> 16, where c0 and c1 are the correction
    table's entries around m's segment and offset is m's position inside
    it; the shift floors, as the reference's int32 ``>>`` does. Evaluated
    here once for all 2**16 mantissas, in integers, so a lookup replaces
    the per-value interpolation.
    """
    m = np.arange(_ONE, dtype=np.int64)
    segment = m >> (LOG_SCALE_BITS - LOG_SEGMENTS_BITS)
    c0 = LOG2_CORRECTION[segment]
    c1 = LOG2_CORRECTION[segment + 1]
    offset = m - segment * (_ONE >> LOG_SEGMENTS_BITS)
    return (m + c0 + (((c1 - c0) * offset) >> LOG_SCALE_BITS)).astype(np.int32)


LOG2_FRACTION = _log2_fraction_table()


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
    x = value.view(np.int64)  # < 2**32: the same value
    safe = np.maximum(x, 2)
    integer = msb32(safe) - 1
    log2 = (integer << LOG_SCALE_BITS) + log2_fraction(safe, integer)  # Q.16, < 2**21
    loge = (LN2_Q16 * log2 + _ONE // 2) >> LOG_SCALE_BITS  # Q.16 * Q.16 -> Q.16, rounded half up
    # Q.16 << scale_shift, rounded to an integer; the reference does this in
    # uint32, so the sum wraps there before the shift.
    scaled = (((loge << scale_shift) + _ONE // 2) & 0xFFFFFFFF) >> LOG_SCALE_BITS
    out = np.where(x > 1, scaled, 0)
    return np.minimum(out, INT16_MAX).astype(np.uint16)
