"""What ``/proc/cpuinfo`` says of the processor: its name and vector extensions.

``emoedge bench`` records them beside its timings, and training records them
for each fold, because both speed and float rounding follow the processor.
"""

from __future__ import annotations

import platform

CPUINFO_PATH = "/proc/cpuinfo"
# ARM's main-ID "CPU part" numbers of the cores Raspberry Pi-class boards use.
ARM_CORES = {0xD03: "Cortex-A53", 0xD04: "Cortex-A35", 0xD05: "Cortex-A55", 0xD07: "Cortex-A57",
             0xD08: "Cortex-A72", 0xD0B: "Cortex-A76", 0xD0C: "Neoverse-N1"}
# The vector extensions that decide which kernels TensorFlow, LiteRT and
# numpy run (x86 "flags", ARM "Features").
VECTOR_EXTENSIONS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni",
                     "amx_tile", "asimd", "asimddp", "sve", "sve2")


def read_cpuinfo(path: str = CPUINFO_PATH) -> dict[str, str]:
    """The first processor's "key : value" fields, keys lower-cased; empty
    where there is no such file (not Linux)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as cpuinfo:
            return parse_cpuinfo(cpuinfo.read())
    except OSError:
        return {}


def parse_cpuinfo(text: str) -> dict[str, str]:
    """:func:`read_cpuinfo` on ``text``: each key's first value."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, colon, value = line.partition(":")
        if colon:
            fields.setdefault(key.strip().lower(), value.strip())
    return fields


def cpu_model(fields: dict[str, str] | None = None) -> str:
    """The processor's name: x86's model name, or ARM's board and core
    (from ``fields``, else this machine's ``/proc/cpuinfo``)."""
    fields = read_cpuinfo() if fields is None else fields
    if fields.get("model name"):
        return fields["model name"]
    parts = []
    if fields.get("model"):
        parts.append(fields["model"])
    if fields.get("cpu part"):
        try:
            parts.append(ARM_CORES.get(int(fields["cpu part"], 16), f"part {fields['cpu part']}"))
        except ValueError:
            parts.append(f"part {fields['cpu part']}")
    return ", ".join(parts) or platform.processor() or "unknown"


def vector_extensions(fields: dict[str, str] | None = None) -> tuple[str, ...]:
    """Which of :data:`VECTOR_EXTENSIONS` the processor lists, in that order."""
    fields = read_cpuinfo() if fields is None else fields
    listed = set(fields.get("flags", fields.get("features", "")).split())
    return tuple(name for name in VECTOR_EXTENSIONS if name in listed)
