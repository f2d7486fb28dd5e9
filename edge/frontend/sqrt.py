"""Stage 5: rounded integer square root (``Sqrt32`` / ``Sqrt64``)."""

from __future__ import annotations

import math

import numpy as np

_EXACT_FLOAT = 1 << 52


def rounded_isqrt(values: np.ndarray) -> np.ndarray:
    """Square root rounded to nearest, as the reference's digit-by-digit root.

    The reference finds r = floor(sqrt(x)) and adds 1 when x - r*r > r (the
    root is nearer r + 1), except where r + 1 would overflow its type: below
    2**32 the result is uint16 and 0xFFFF never rounds up; above, the result
    is uint32 and 0xFFFFFFFF never rounds up.

    Args:
        values: uint64 array, any shape.
    Returns:
        uint64 array of roots, same shape.
    """
    x = np.asarray(values, dtype=np.uint64)
    # float64 -> uint64 truncates, which is floor for these non-negative roots.
    root = np.sqrt(x.astype(np.float64)).astype(np.uint64)
    # Below 2**52 the float root is within one of floor(sqrt(x)): correct it.
    # (Booleans add as 0 / 1.)
    root -= root * root > x
    after = root + np.uint64(1)
    root += after * after <= x
    big = x >= _EXACT_FLOAT
    if big.any():  # float64 drops bits here (and (r+1)**2 may wrap): exact roots
        root[big] = [math.isqrt(int(v)) for v in x[big]]
    remainder = x - root * root
    # The cap of the result type: a root of 0xFFFF comes only from x < 2**32
    # (uint16 result) and one of 0xFFFFFFFF only from x >= 2**32 (uint32
    # result), so comparing with both caps is comparing with the right one.
    root += (remainder > root) & (root != np.uint64(0xFFFF)) & (root != np.uint64(0xFFFFFFFF))
    return root
