"""Which machine trained a model: the facts that change its float arithmetic.

TensorFlow picks its CPU kernels by instruction set (AVX2 or AVX-512 on
x86, NEON on ARM), and kernels that sum in another order round differently.
Over 80 epochs those rounding differences grow into a different model, so
one recipe and seed retrained on another machine moves validation UA by
about as much as another seed (DEFAULT_MODEL.md). Each fold records the
machine that trained it; the cards carry it, and ``seed_compare`` says when
a control and a candidate were trained on machines that compute
differently.
"""

from __future__ import annotations

import json
import os
import pathlib
import platform
from importlib import metadata
from typing import Sequence

from emoedge.cpuinfo import CPUINFO_PATH, cpu_model, read_cpuinfo, vector_extensions

# The machine facts that change the arithmetic; the rest only describe.
ARITHMETIC_FIELDS = ("arch", "vector_extensions", "tensorflow")
MACHINE_FILE = "machine.json"


def describe_machine(cpuinfo_path: str = CPUINFO_PATH) -> dict:
    """This machine: architecture, processor, vector extensions, core count
    and the TensorFlow and numpy versions installed (None if absent)."""
    fields = read_cpuinfo(cpuinfo_path)
    return {"arch": platform.machine(), "cpu": cpu_model(fields),
            "vector_extensions": list(vector_extensions(fields)), "cores": os.cpu_count(),
            "tensorflow": _version("tensorflow"), "numpy": _version("numpy")}


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def write_machine(directory: pathlib.Path) -> None:
    """Record this machine in ``directory`` (a fold being trained)."""
    (directory / MACHINE_FILE).write_text(json.dumps(describe_machine(), indent=1) + "\n")


def read_machine(directory: pathlib.Path) -> dict | None:
    """The machine that trained the fold in ``directory``; None for a fold
    trained before folds recorded it."""
    path = pathlib.Path(directory) / MACHINE_FILE
    return json.loads(path.read_text()) if path.exists() else None


def arithmetic_key(machine: dict | None) -> str:
    """A machine's arithmetic-deciding facts as one comparable string
    ("unknown" for None)."""
    if machine is None:
        return "unknown"
    parts = []
    for name in ARITHMETIC_FIELDS:
        value = machine.get(name)
        parts.append(f"{name}={'+'.join(value) if isinstance(value, list) else value}")
    return ", ".join(parts)


def machines_of(cards: Sequence[dict]) -> set[str]:
    """The :func:`arithmetic_key` of every model in ``cards`` (their
    "models" entries' "trained_on")."""
    return {arithmetic_key(model.get("trained_on")) for card in cards
            for model in card.get("models", [{}])}
