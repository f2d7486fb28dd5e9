"""Stage 4: triangular mel filterbank (``filterbank.c``, ``filterbank_util.c``).

The reference accumulates, for each output channel, Q0.12 ``weights`` over
the bins of the channel's upper band and Q0.12 ``unweights`` (1 - weight)
over the bins of its lower band, in uint64. Here the same integer weights
form a dense (channels, bins) matrix. Tables are built in float32 exactly as
the reference builds them, so the integer weights are identical.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from .bits import FILTERBANK_BITS

_F32 = np.float32
_EXACT_FLOAT = 1 << 53


def freq_to_mel(freq_hz) -> np.float32:
    """``FreqToMel``: 1127 * ln(1 + f / 700), in double, stored as float32."""
    return _F32(1127.0 * math.log1p(float(freq_hz) / 700.0))


@dataclass(frozen=True)
class MelFilterbank:
    """Integer mel weights over the power-spectrum bins ``start..end-1``.

    Attributes:
        start_bin: first spectrum bin used (DC is always excluded).
        end_bin: one past the last bin used.
        weights: uint64 matrix, shape (num_channels, end_bin - start_bin),
            each entry a Q0.12 weight, zero outside the channel's triangle.
    """

    start_bin: int
    end_bin: int
    weights: np.ndarray

    @classmethod
    def build(cls, *, num_channels: int, lower_hz: float, upper_hz: float,
              sample_rate_hz: int, spectrum_size: int) -> "MelFilterbank":
        bands = num_channels + 1
        mel_low, mel_high = freq_to_mel(_F32(lower_hz)), freq_to_mel(_F32(upper_hz))
        spacing = _F32((mel_high - mel_low) / _F32(bands))
        centers = [_F32(mel_low + _F32(spacing * _F32(i + 1))) for i in range(bands)]
        hz_per_bin = _F32(0.5 * sample_rate_hz / float(_F32(spectrum_size) - _F32(1)))
        start_bin = int(1.5 + float(_F32(_F32(lower_hz) / hz_per_bin)))

        band_start, band_width = [], []
        first = start_bin
        for center in centers:
            last = first
            while freq_to_mel(_F32(_F32(last) * hz_per_bin)) <= center:
                last += 1
            band_start.append(first)
            band_width.append(last - first)
            first = last
        end_bin = max([start_bin] + [s + w for s, w in zip(band_start, band_width)])
        if end_bin >= spectrum_size:
            raise ValueError("filterbank reaches past the spectrum: lower upper_band_limit_hz")

        matrix = np.zeros((num_channels, end_bin - start_bin), dtype=np.uint64)
        for band, center in enumerate(centers):
            lower_edge = mel_low if band == 0 else centers[band - 1]
            for freq in range(band_start[band], band_start[band] + band_width[band]):
                mel = freq_to_mel(_F32(_F32(freq) * hz_per_bin))
                weight = _F32(_F32(center - mel) / _F32(center - lower_edge))
                col = freq - start_bin
                if band > 0:  # this band's weights feed channel band-1
                    matrix[band - 1, col] = _quantize_weight(weight)
                if band < num_channels:  # its unweights feed channel band
                    matrix[band, col] = _quantize_unweight(weight)
        return cls(start_bin, end_bin, matrix)

    @functools.cached_property
    def max_row_sum(self) -> int:
        """Largest sum of one channel's weights, bounding its accumulator."""
        return int(self.weights.sum(axis=1).max(initial=0))

    def apply(self, energy: np.ndarray) -> np.ndarray:
        """Weighted channel sums, as the reference's uint64 accumulators.

        Args:
            energy: int32 power spectrum of bins start..end-1, (frames, bins).
        Returns:
            uint64 array, shape (frames, num_channels): sum of Q0.12 weight
            times energy, i.e. channel energy with 12 fractional bits.
        """
        peak = int(energy.min(initial=0)), int(energy.max(initial=0))
        if peak[0] >= 0 and peak[1] * self.max_row_sum < _EXACT_FLOAT:
            # Every partial sum is an integer below 2**53, so float64 BLAS
            # gives the exact integer result, much faster than integer matmul.
            exact = energy.astype(np.float64) @ self.weights.T.astype(np.float64)
            return exact.astype(np.uint64)
        # Wrapped energies are read sign-extended into uint64 by the reference;
        # modular uint64 arithmetic reproduces that.
        wrapped = energy.astype(np.int64).astype(np.uint64)
        return wrapped @ self.weights.T


def _quantize_weight(weight: np.float32) -> int:
    return math.floor(float(_F32(weight * _F32(1 << FILTERBANK_BITS))) + 0.5)


def _quantize_unweight(weight: np.float32) -> int:
    return math.floor((1.0 - float(weight)) * (1 << FILTERBANK_BITS) + 0.5)
