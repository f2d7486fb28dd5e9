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
    root = np.floor(np.sqrt(x.astype(np.float64))).astype(np.uint64)
    # Below 2**52 the float root is within one of floor(sqrt(x)): correct it.
    root -= (root * root > x).astype(np.uint64)
    root += ((root + 1) * (root + 1) <= x).astype(np.uint64)
    big = x >= _EXACT_FLOAT
    if big.any():  # float64 drops bits here (and (r+1)**2 may wrap): exact roots
        root[big] = [math.isqrt(int(v)) for v in x[big]]
    remainder = x - root * root
    cap = np.where(x >> np.uint64(32) == 0, np.uint64(0xFFFF), np.uint64(0xFFFFFFFF))
    root += ((remainder > root) & (root != cap)).astype(np.uint64)
    return root
