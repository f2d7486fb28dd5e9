"""Stage 3: power spectrum (``FilterbankConvertFftComplexToEnergy``)."""

from __future__ import annotations

import numpy as np


def power_spectrum(real: np.ndarray, imag: np.ndarray) -> np.ndarray:
    """Squared magnitude of each bin.

    ``re*re + im*im`` is computed in int32 as the reference does; it exceeds
    2**31 - 1 only when both parts are -32768, and then wraps negative, which
    the filterbank later reads sign-extended. The wrap is kept, to stay
    bit-equal.

    Args:
        real, imag: int16 FFT output, any shape (frames, bins) typically.
    Returns:
        int32 energies, same shape.
    """
    energy = real.astype(np.int32)
    energy *= energy
    im = imag.astype(np.int32)
    im *= im
    energy += im
    return energy
