"""Stage 4: triangular mel filterbank (``filterbank.c``, ``filterbank_util.c``).

The reference accumulates, for each output channel, Q0.12 ``weights`` over
the bins of the channel's upper band and Q0.12 ``unweights`` (1 - weight)
over the bins of its lower band, in uint64. Here the same integer weights
multiply every bin of every frame at once, and each band's sum is the
difference of two prefix sums over bins. Tables are built in float32 exactly
as the reference builds them, so the integer weights are identical.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .bits import FILTERBANK_BITS
from .workspace import Workspace

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
    workspace: Workspace = field(default_factory=Workspace, compare=False, repr=False)

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
        count, bins = energy.shape
        space = self.workspace
        # Prefix sums over bins, in int64, bins first (each step adds one
        # contiguous row of frames): row i holds the sum over bins < i, so a
        # band's sum is the difference of two rows and an empty band gives 0.
        # numpy's cumsum walks each frame's column down the bins; an odd row
        # pitch keeps those walks off a single cache set (with a pitch of
        # 256 or 512 frames they thrashed it, 10x slower).
        pitch = count | 1
        rising = space.get("rising", (bins + 1, pitch), np.int64)[:, :count]
        falling = space.get("falling", (bins + 1, pitch), np.int64)[:, :count]
        rising[0] = 0
        falling[0] = 0
        # The reference reads a wrapped (negative) int32 energy sign-extended
        # into uint64 and accumulates modulo 2**64. Here the energy is
        # sign-extended to int64; |energy| <= 2**31 and weights <= 2**12, so
        # every product is below 2**43 and every prefix sum below
        # bins * 2**43 < 2**63: all exact, and the int64 result read as
        # uint64 is the reference's sum modulo 2**64.
        np.copyto(falling[1:], energy.T)
        np.multiply(falling[1:], self.weights.view(np.int64)[:, None], out=rising[1:])
        np.multiply(falling[1:], self.unweights.view(np.int64)[:, None], out=falling[1:])
        np.cumsum(rising[1:], axis=0, out=rising[1:])
        np.cumsum(falling[1:], axis=0, out=falling[1:])
        # Channel j: band j + 1 rising plus band j falling. Bands run from
        # edges[k] to edges[k + 1].
        edges = np.append(self.band_starts, bins)
        sums = rising[edges[2:]] - rising[edges[1:-1]]
        sums += falling[edges[1:-1]]
        sums -= falling[edges[:-2]]
        return np.ascontiguousarray(sums.T).view(np.uint64)


def _quantize_weight(weight: np.float32) -> int:
    return math.floor(float(_F32(weight * _F32(1 << FILTERBANK_BITS))) + 0.5)


def _quantize_unweight(weight: np.float32) -> int:
    return math.floor((1.0 - float(weight)) * (1 << FILTERBANK_BITS) + 0.5)
