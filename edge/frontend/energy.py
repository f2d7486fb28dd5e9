"""Stage 3: power spectrum (``FilterbankConvertFftComplexToEnergy``)."""

from __future__ import annotations

import numpy as np


def power_spectrum(real: np.ndarray, imag: np.ndarray, start: int, end: int) -> np.ndarray:
    """Squared magnitude of bins ``start..end-1``.

    ``re*re + im*im`` is computed in int32 as the reference does; it exceeds
    2**31 - 1 only when both parts are -32768, and then wraps negative, which
    the filterbank later reads sign-extended. The wrap is kept, to stay
    bit-equal.

    Args:
        real, imag: int16 FFT output, shape (frames, bins).
        start, end: bin range used by the filterbank.
    Returns:
        int32 energies, shape (frames, end - start).
    """
    re = real[:, start:end].astype(np.int32)
    im = imag[:, start:end].astype(np.int32)
    return re * re + im * im
