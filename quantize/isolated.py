"""Run a TFLite conversion in a child process, so a converter crash is an error.

The TFLite converter can die with a segmentation fault rather than raise:
a GRU model does so in TF 2.21 (measured). Converting in a child process
turns that into a :class:`ConversionError` the caller can report, and the
calling process lives on.

    python -m emoedge.quantize.isolated MODEL.h5 REPRESENTATIVE.npy OUT.tflite [--qat]
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile

import numpy as np

from .convert import ConversionError

TIMEOUT_S = 900


def convert_int8_isolated(model, representative: np.ndarray, *, qat: bool = False,
                          timeout_s: float = TIMEOUT_S) -> bytes:
    """:func:`emoedge.quantize.convert.convert_int8` in a child process."""
    with tempfile.TemporaryDirectory(prefix="emoedge-convert-") as folder:
        model_path = os.path.join(folder, "model.h5")
        data_path = os.path.join(folder, "representative.npy")
        out_path = os.path.join(folder, "model.tflite")
        model.save(model_path)
        np.save(data_path, representative.astype(np.float32))
        command = [sys.executable, "-m", "emoedge.quantize.isolated", model_path, data_path,
                   out_path] + (["--qat"] if qat else [])
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise ConversionError(f"int8 conversion did not finish in {timeout_s:.0f} s") from None
        if done.returncode < 0:
            name = signal.Signals(-done.returncode).name
            raise ConversionError(
                f"the TFLite converter crashed ({name}) on this model; GRU layers are a known "
                "cause: use LSTM (emoedge's crnn) instead")
        if done.returncode != 0:
            reason = _last_line(done.stderr) or f"exit status {done.returncode}"
            raise ConversionError(reason)
        with open(out_path, "rb") as handle:
            return handle.read()


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _main(argv: list[str]) -> int:
    model_path, data_path, out_path = argv[:3]
    qat = "--qat" in argv[3:]
    import tf_keras as keras

    from .convert import convert_int8

    if qat:
        import tensorflow_model_optimization as tfmot

        from .optimize import quantize_custom_objects

        with tfmot.quantization.keras.quantize_scope(quantize_custom_objects()):
            model = keras.models.load_model(model_path, compile=False)
    else:
        model = keras.models.load_model(model_path, compile=False)
    try:
        content = convert_int8(model, np.load(data_path))
    except ConversionError as error:
        print(f"{error}", file=sys.stderr)
        return 1
    with open(out_path, "wb") as handle:
        handle.write(content)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
