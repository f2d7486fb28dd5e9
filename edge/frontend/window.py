"""Stage 1: framing and the fixed-point Hann window (``window.c``)."""

from __future__ import annotations

import math

import numpy as np

from .bits import WINDOW_BITS


def hann_coefficients(window_samples: int) -> np.ndarray:
    """Q0.12 periodic-offset Hann window, built as the reference builds it.

    The reference evaluates ``0.5 - 0.5*cos(arg*(i+0.5))`` in double with
    ``arg`` rounded to float32, stores the result as float32, then scales by
    2**12 in float32 and rounds half up.

    Args:
        window_samples: window length in samples.
    Returns:
        int16 array, shape (window_samples,), values 0..4096.
    """
    arg = float(np.float32(math.pi * 2.0 / float(np.float32(window_samples))))
    i = np.arange(window_samples, dtype=np.float64)
    value = (0.5 - 0.5 * np.cos(arg * (i + 0.5))).astype(np.float32)
    scaled = (value * np.float32(1 << WINDOW_BITS)).astype(np.float64)
    return np.floor(scaled + 0.5).astype(np.int16)


def frame_signal(pcm: np.ndarray, window_samples: int, step_samples: int) -> np.ndarray:
    """Overlapping frames of a signal, without copying.

    Args:
        pcm: 1-D int16 samples.
        window_samples: frame length in samples.
        step_samples: hop in samples.
    Returns:
        read-only int16 view, shape (frames, window_samples); frames is 0
        when the signal is shorter than one window.
    """
    if pcm.shape[0] < window_samples:
        return np.zeros((0, window_samples), dtype=np.int16)
    count = (pcm.shape[0] - window_samples) // step_samples + 1
    stride = pcm.strides[0]
    return np.lib.stride_tricks.as_strided(pcm, (count, window_samples),
                                           (stride * step_samples, stride), writeable=False)


def apply_window(frames: np.ndarray, coefficients: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Multiply frames by the window and find each frame's peak magnitude.

    ``(int32 sample * Q0.12 coefficient) >> 12`` (arithmetic shift, i.e.
    floor) gives a Q1.15 int16 again; the product of two int16 fits in int32.

    The work runs in (window_samples, frames) memory order, frames on the
    contiguous axis, which is the order the FFT reads; the result is that
    array's transpose.

    Args:
        frames: int16, shape (frames, window_samples).
        coefficients: int16 Q0.12, shape (window_samples,).
    Returns:
        (windowed int16 (frames, window_samples), Fortran-ordered,
         peak |value| per frame as int64 (frames,)). As in the reference, the
        magnitude of -32768 is taken in int16, so it never counts as a peak.
    """
    product = np.multiply(frames.T, coefficients.astype(np.int32)[:, None])
    product >>= WINDOW_BITS  # Q1.15 * Q0.12 -> Q1.15, floor; in -32768..32767, so int16 holds it
    windowed = product.astype(np.int16)
    magnitude = np.abs(windowed)  # int16 abs: -32768 stays -32768, as in C
    peak = np.maximum(magnitude.max(axis=0, initial=0), 0).astype(np.int64)
    return windowed.T, peak
