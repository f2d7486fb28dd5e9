"""Stage 5b: a floor under the mel magnitudes (emoedge's own; not in the reference).

Digital silence (the exact zeros a noise gate or an audio editor writes)
gives magnitude 0 in every channel, which the log stage turns into
feature 0. No microphone gives that: ±1 LSB of white noise (about
-90 dBFS) already gives magnitudes of 1-4 (median 2), i.e. features
133-222. So without a floor, gated silence sits 130 feature units below
the quietest sound a microphone can make, a cliff a model can learn as a
corpus cue (RAVDESS is gated; docs/DEFAULT_MODEL.md, the measurement
after the thirty-fifth round) and then meets on a device whose input is
gated. Raising every magnitude below the floor to the floor removes the
cliff in training and on the device alike, and leaves louder input as it
was.

The floor is an integer in the stage-5 magnitude units (the rounded square
root of the Q.12 mel energy, after the block-floating shift is taken
off), so the comparison is exact. It is stateless and per frame, so it
cannot break streaming against batch.
"""

from __future__ import annotations

import numpy as np


def apply_magnitude_floor(magnitudes: np.ndarray, floor: int) -> np.ndarray:
    """Raise every magnitude below ``floor`` to ``floor``.

    Args:
        magnitudes: uint64 mel magnitudes (< 2**32), shape (frames, channels).
        floor: the floor, 0 <= floor < 2**16; 0 returns the input unchanged.
    Returns:
        uint64 magnitudes, same shape.
    """
    if floor == 0:
        return magnitudes
    return np.maximum(magnitudes, np.uint64(floor))
