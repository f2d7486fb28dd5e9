"""Stage 4: triangular mel filterbank (``filterbank.c``, ``filterbank_util.c``).

The reference accumulates, for each output channel, Q0.12 ``weights`` over
the bins of the channel's upper band and Q0.12 ``unweights`` (1 - weight)
over the bins of its lower band, in uint64. Here the same integer weights
form a dense (channels, bins) matrix. Tables are built in float32 exactly as
the reference builds them, so the integer weights are identical.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .bits import FILTERBANK_BITS

_F32 = np.float32


def freq_to_mel(freq_hz) -> np.float32:
    """``FreqToMel``: 1127 * ln(1 + f / 700), in double, stored as float32."""
    return _F32(1127.0 * math.log1p(float(freq_hz) / 700.0))


@dataclass(frozen=True)
class MelFilterbank:
    """Integer mel weights over the power-spectrum bins ``start..end-1``.

    The bins are cut into ``num_channels + 1`` consecutive bands. Output
    channel j sums, over band j + 1, ``weight * energy`` and, over band j,
    ``unweight * energy`` (the falling edge of its triangle).

    Attributes:
        start_bin: first spectrum bin used (DC is always excluded).
        end_bin: one past the last bin used.
        num_channels: output channels.
        weights: Q0.12 rising-edge weight of each bin, uint64 (bins,).
        unweights: Q0.12 falling-edge weight of each bin, uint64 (bins,).
        band_starts: first bin (relative to start_bin) of each band, (bands,).
    """

    start_bin: int
    end_bin: int
    num_channels: int
    weights: np.ndarray
    unweights: np.ndarray
    band_starts: np.ndarray

    @classmethod
    def build(cls, *, num_channels: int, lower_hz: float, upper_hz: float,
              sample_rate_hz: int, spectrum_size: int) -> "MelFilterbank":
        bands = num_channels + 1
        mel_low, mel_high = freq_to_mel(_F32(lower_hz)), freq_to_mel(_F32(upper_hz))
        spacing = _F32((mel_high - mel_low) / _F32(bands))
        centers = [_F32(mel_low + _F32(spacing * _F32(i + 1))) for i in range(bands)]
        hz_per_bin = _F32(0.5 * sample_rate_hz / float(_F32(spectrum_size) - _F32(1)))
        start_bin = int(1.5 + float(_F32(_F32(lower_hz) / hz_per_bin)))

        band_starts = []
        weights = []
        freq = start_bin
        for band, center in enumerate(centers):
            band_starts.append(freq - start_bin)
            lower_edge = mel_low if band == 0 else centers[band - 1]
            while (mel := freq_to_mel(_F32(_F32(freq) * hz_per_bin))) <= center:
                weights.append(_F32(_F32(center - mel) / _F32(center - lower_edge)))
                freq += 1
        end_bin = freq
        if end_bin >= spectrum_size:
            raise ValueError("filterbank reaches past the spectrum: lower upper_band_limit_hz")
        return cls(
            start_bin=start_bin,
            end_bin=end_bin,
            num_channels=num_channels,
            weights=np.array([_quantize_weight(w) for w in weights], dtype=np.uint64),
            unweights=np.array([_quantize_unweight(w) for w in weights], dtype=np.uint64),
            band_starts=np.array(band_starts, dtype=np.int64),
        )

    def apply(self, energy: np.ndarray) -> np.ndarray:
        """Weighted channel sums, as the reference's uint64 accumulators.

        Args:
            energy: int32 power spectrum of bins start..end-1, (frames, bins).
        Returns:
            uint64 array, shape (frames, num_channels): sum of Q0.12 weight
            times energy, i.e. channel energy with 12 fractional bits.
        """
        # The reference reads a wrapped (negative) int32 energy sign-extended
        # into uint64 and accumulates modulo 2**64; so does this. Bins go
        # first so each band sum adds contiguous rows.
        bins_first = energy.T.astype(np.int64).view(np.uint64)
        rising = self._band_sums(bins_first * self.weights[:, None])
        falling = self._band_sums(bins_first * self.unweights[:, None])
        return np.ascontiguousarray((rising[1:] + falling[:-1]).T)

    def _band_sums(self, values: np.ndarray) -> np.ndarray:
        """Sum rows of (bins, frames) ``values`` within each band; empty bands give 0."""
        sums = np.zeros((len(self.band_starts), values.shape[1]), dtype=np.uint64)
        if values.shape[0] == 0:
            return sums
        widths = np.diff(self.band_starts, append=values.shape[0])
        filled = widths > 0
        sums[filled] = np.add.reduceat(values, self.band_starts[filled], axis=0)
        return sums


def _quantize_weight(weight: np.float32) -> int:
    return math.floor(float(_F32(weight * _F32(1 << FILTERBANK_BITS))) + 0.5)


def _quantize_unweight(weight: np.float32) -> int:
    return math.floor((1.0 - float(weight)) * (1 << FILTERBANK_BITS) + 0.5)
