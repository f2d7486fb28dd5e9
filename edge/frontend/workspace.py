"""Per-thread scratch arrays that stages reuse from call to call.

A call of the frontend needs several scratch arrays of a few hundred KB.
Fresh arrays that size usually come as fresh pages from the OS (the
allocator hands large blocks back between calls), and the page faults cost
about a quarter of the whole frontend's time; reused buffers are already
mapped. Each thread gets its own buffers, so concurrent calls on shared
tables never see each other's data. Only scratch lives here: no array that
is returned to a caller is ever a workspace buffer.
"""

from __future__ import annotations

import math
import threading

import numpy as np


class Workspace(threading.local):
    """Named, growable scratch buffers of one thread."""

    def __init__(self) -> None:
        self.buffers: dict[tuple[str, np.dtype], np.ndarray] = {}

    def __reduce__(self):
        """Copies and pickles get fresh, empty buffers (scratch is never state)."""
        return (Workspace, ())

    def get(self, name: str, shape: tuple[int, ...], dtype=np.int32) -> np.ndarray:
        """A C-contiguous array of ``shape`` and ``dtype``; contents undefined.

        The array stays valid until the next ``get`` of the same name and
        dtype on the same thread.
        """
        size = math.prod(shape)
        key = (name, np.dtype(dtype))
        buffer = self.buffers.get(key)
        if buffer is None or buffer.size < size:
            buffer = self.buffers[key] = np.empty(size, dtype=dtype)
        return buffer[:size].reshape(shape)
