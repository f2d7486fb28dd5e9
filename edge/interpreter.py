"""Finding a TFLite interpreter: LiteRT, then tflite-runtime, then TensorFlow.

ai-edge-litert is the maintained runtime. tflite-runtime stopped at 2.14 and
needs numpy < 2, so it is only a fallback; TensorFlow works too but is far
heavier than a device needs.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from dataclasses import dataclass
from typing import Any, Callable

INSTALL_HINT = "pip install 'emoedge[litert]'  (installs ai-edge-litert)"

# (module, attribute holding the Interpreter class, distribution for version)
_CANDIDATES = (
    ("ai_edge_litert.interpreter", "Interpreter", "ai-edge-litert"),
    ("tflite_runtime.interpreter", "Interpreter", "tflite-runtime"),
    ("tensorflow.lite.python.interpreter", "Interpreter", "tensorflow"),
)


class InterpreterUnavailable(ImportError):
    """No TFLite interpreter could be imported."""


@dataclass(frozen=True)
class InterpreterBackend:
    """The interpreter class found and where it came from."""

    name: str
    version: str
    factory: Callable[..., Any]


def find_interpreter() -> InterpreterBackend:
    """Import the first interpreter available, in the documented order.

    Raises:
        InterpreterUnavailable: none imports; the message names the extra to
            install, and the last import error is chained.
    """
    last_error: Exception | None = None
    for module_name, attribute, distribution in _CANDIDATES:
        try:
            module = importlib.import_module(module_name)
            factory = getattr(module, attribute)
        except Exception as error:  # noqa: BLE001 - a broken install is as good as none
            last_error = error
            continue
        return InterpreterBackend(distribution, _version(distribution), factory)
    raise InterpreterUnavailable(
        f"no TFLite interpreter is installed; {INSTALL_HINT}") from last_error


def load_interpreter(model_content: bytes, *, num_threads: int | None = None):
    """An allocated interpreter for a model held in memory.

    Args:
        model_content: the ``.tflite`` bytes.
        num_threads: interpreter threads; None lets the backend decide.
    Returns:
        (interpreter, backend).
    """
    backend = find_interpreter()
    with _native_stderr_silenced():
        interpreter = backend.factory(model_content=model_content, num_threads=num_threads)
        interpreter.allocate_tensors()
    return interpreter, backend


@contextlib.contextmanager
def _native_stderr_silenced():
    """LiteRT's C++ logs an INFO line per interpreter on fd 2; keep the CLI's
    stderr for our own messages. Python exceptions still propagate."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _version(distribution: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown"
