"""Marker system calls around benchmark regions, for an instruction counter.

``emoedge bench`` brackets each stage it measures with ``begin(name)`` and
``end(name)``. When the environment variable ``EMOEDGE_BENCH_MARKERS`` is
``1``, each of them makes one system call::

    syscall(MARKER_SYSCALL, op, region)     op: 1 = begin, 2 = end

``MARKER_SYSCALL`` is 0x454D4F (4541775, "EMO" in ASCII), far above every
system call number Linux assigns on aarch64 and x86_64, so a real kernel
(a Raspberry Pi's included) returns ENOSYS and nothing else happens; under
a container's seccomp filter it may return EPERM instead, equally harmless.
Under qemu-user, the TCG plugin in ``scripts/aarch64/insn_count.c`` sees
the call and adds the guest instructions executed between a begin and its
end to that region's total.

``region`` is a small integer from :data:`REGIONS` (fixed numbers, so the
counter's output can be read back without the guest's help). A begin/end
pair itself costs about 5,000 guest instructions (ctypes and libc), which
lands inside the region; ``emoedge bench`` measures it in the
``calibrate`` region.

With the variable unset (the default) ``begin`` and ``end`` return at once
and no system call is made, so ordinary timings are not disturbed.
"""

from __future__ import annotations

import os

MARKER_SYSCALL = 0x454D4F
ENV_VARIABLE = "EMOEDGE_BENCH_MARKERS"
OP_BEGIN, OP_END = 1, 2

REGIONS = {
    "calibrate": 1,     # an empty region: the cost of one begin/end pair
    "decode": 2,
    "resample": 3,
    "frontend": 4,      # frontend features and cutting them into windows
    "quantize": 5,
    "invoke": 6,
    "postprocess": 7,
    "end_to_end": 8,    # one whole EmotionModel.predict_file
}
"""Region name -> the number passed to the marker system call (< 64)."""

REGION_NAMES = {number: name for name, number in REGIONS.items()}


def enabled() -> bool:
    """Whether markers make system calls (``EMOEDGE_BENCH_MARKERS=1``)."""
    return os.environ.get(ENV_VARIABLE) == "1"


def _load_syscall():
    import ctypes

    function = ctypes.CDLL(None, use_errno=True).syscall
    function.restype = ctypes.c_long
    function.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_long]
    return function


class Markers:
    """begin/end for one process; a no-op unless markers are enabled."""

    def __init__(self, active: bool | None = None) -> None:
        self.active = enabled() if active is None else active
        self._call = _load_syscall() if self.active else None

    def begin(self, name: str) -> None:
        if self._call is not None:
            self._call(MARKER_SYSCALL, OP_BEGIN, REGIONS[name])

    def end(self, name: str) -> None:
        if self._call is not None:
            self._call(MARKER_SYSCALL, OP_END, REGIONS[name])


_default: Markers | None = None


def _markers() -> Markers:
    global _default
    if _default is None:
        _default = Markers()
    return _default


def begin(name: str) -> None:
    """Start region ``name`` (a key of :data:`REGIONS`)."""
    _markers().begin(name)


def end(name: str) -> None:
    """End region ``name``."""
    _markers().end(name)
