"""Named bit widths of the fixed-point frontend and small integer helpers.

Each constant is the width used by the matching stage of the TFLite Micro
microfrontend; the stage modules say which Q-format it implies.
"""

from __future__ import annotations

import numpy as np

WINDOW_BITS = 12
"""Hann coefficients are Q0.12: 1.0 == 1 << 12."""

FFT_FRAC_BITS = 15
"""kissfft fixed16 samples and twiddles are Q1.15."""

FILTERBANK_BITS = 12
"""Mel weights are Q0.12; channel energies carry 12 extra bits."""

NOISE_REDUCTION_BITS = 14
"""Noise smoothing factors and min_signal_remaining are Q0.14."""

PCAN_SNR_BITS = 12
"""Signal-to-noise ratio inside PCAN is Q.12."""

PCAN_OUTPUT_BITS = 6
"""PCAN output is Q.6."""

WIDE_DYNAMIC_FUNCTION_BITS = 32
"""The PCAN gain lookup covers every 32-bit noise estimate."""

LOG_SCALE_BITS = 16
"""log2 values inside the log stage are Q.16."""

LOG_SEGMENTS_BITS = 7
"""The log2 mantissa correction table has 2**7 linear segments."""

INT16_MAX = 32767

_U32 = np.uint64(0xFFFFFFFF)


def msb32(values: np.ndarray) -> np.ndarray:
    """Position of the highest set bit, 1-based; 0 for 0 (``bits.h``).

    Args:
        values: non-negative integers below 2**32, any shape and integer dtype.
    Returns:
        int64 array of the same shape, values 0..32.
    """
    # Any integer dtype: the values are non-negative and below 2**32, so the
    # float64 conversion is exact, and frexp is exact for integers below
    # 2**53: v == m * 2**e with m in [0.5, 1).
    _, exponent = np.frexp(np.asarray(values).astype(np.float64))
    return exponent.astype(np.int64)


def msb_int(value: int) -> int:
    """Scalar :func:`msb32` for any non-negative Python int."""
    return int(value).bit_length()


def wrap_uint32(values: np.ndarray) -> np.ndarray:
    """Modulo 2**32, kept as uint64 for headroom in later products."""
    return np.asarray(values, dtype=np.uint64) & _U32
