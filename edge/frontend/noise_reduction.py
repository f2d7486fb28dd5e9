"""Stage 6: per-channel noise estimation and subtraction (``noise_reduction.c``).

Fixed point: the signal is shifted up by ``smoothing_bits`` before the
estimate is updated, so the estimate keeps that many fractional bits.
Smoothing factors and ``min_signal_remaining`` are Q0.14 and were truncated
from float when the config was made. Every product is uint64 and every
stored value uint32, as in the reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .bits import NOISE_REDUCTION_BITS, wrap_uint32

_ONE = 1 << NOISE_REDUCTION_BITS
_SHIFT = np.uint64(NOISE_REDUCTION_BITS)


@dataclass(frozen=True)
class NoiseReduction:
    """Q0.14 tables of the noise-reduction stage.

    Attributes:
        smoothing_bits: fractional bits of the noise estimate.
        smoothing: per-channel update rate, Q0.14, uint64 (channels,).
        min_signal_remaining: Q0.14 floor on the kept fraction.
    """

    smoothing_bits: int
    smoothing: np.ndarray
    min_signal_remaining: int

    @classmethod
    def build(cls, *, num_channels: int, smoothing_bits: int, even_smoothing: float,
              odd_smoothing: float, min_signal_remaining: float) -> "NoiseReduction":
        even = int(np.float32(even_smoothing) * np.float32(_ONE))
        odd = int(np.float32(odd_smoothing) * np.float32(_ONE))
        smoothing = np.where(np.arange(num_channels) % 2 == 0, even, odd).astype(np.uint64)
        floor = int(np.float32(min_signal_remaining) * np.float32(_ONE))
        return cls(smoothing_bits, smoothing, floor)

    def track(self, signal: np.ndarray, estimate: np.ndarray) -> np.ndarray:
        """Run the noise-estimate recurrence over frames.

        estimate[t] = (signal[t] << bits) * s + estimate[t-1] * (1 - s), in
        Q0.14 and truncated (>> 14); the shifted signal wraps at 32 bits.

        Args:
            signal: uint64 channel magnitudes (< 2**32), (frames, channels).
            estimate: uint64 estimate before the first frame, (channels,).
        Returns:
            uint64 estimates after each frame, (frames, channels).
        """
        scaled_times_rate = self.scaled(signal) * self.smoothing
        keep = np.uint64(_ONE) - self.smoothing
        out = np.empty_like(signal, dtype=np.uint64)
        current = estimate
        for t in range(signal.shape[0]):  # recurrence: one step per frame
            current = wrap_uint32((scaled_times_rate[t] + current * keep) >> _SHIFT)
            out[t] = current
        return out

    def scaled(self, signal: np.ndarray) -> np.ndarray:
        """``signal << smoothing_bits`` as a uint32 store (wraps)."""
        return wrap_uint32(signal << np.uint64(self.smoothing_bits))

    def subtract(self, signal: np.ndarray, estimates: np.ndarray) -> np.ndarray:
        """Remove the estimated noise, keeping at least the configured floor.

        Args:
            signal: uint64 channel magnitudes, (frames, channels).
            estimates: output of :meth:`track` for the same frames.
        Returns:
            uint64 denoised magnitudes (< 2**32), same shape.
        """
        scaled = self.scaled(signal)
        estimate = np.minimum(estimates, scaled)
        floor = wrap_uint32((signal * np.uint64(self.min_signal_remaining)) >> _SHIFT)
        subtracted = (scaled - estimate) >> np.uint64(self.smoothing_bits)
        return np.maximum(subtracted, floor)
