"""The model layer: one window of uint16 features in, real-valued outputs out.

Integer all the way to the int8 output: the int8 bridge quantizes features
with the multiplier and shift fixed from the model's own input quantization,
and the interpreter runs the int8 graph. Only the output is dequantized, for
the decision layer.
"""

from __future__ import annotations

import numpy as np

from .interpreter import load_interpreter
from .metadata import ModelConfigError, ModelMetadata
from .quantization import InputQuantization


class ModelRunner:
    """Runs the interpreter on feature windows of one model."""

    def __init__(self, content: bytes, metadata: ModelMetadata, *, num_threads: int | None = None):
        self.metadata = metadata
        self.interpreter, self.backend = load_interpreter(content, num_threads=num_threads)
        (self._input,) = self.interpreter.get_input_details()
        self._output = self.interpreter.get_output_details()[0]
        self._check_tensors()
        spec = metadata.input
        self._quantize = (InputQuantization.from_scale(spec.scale, spec.zero_point)
                          if spec.dtype == "int8" else None)
        self._input_shape = tuple(int(d) for d in self._input["shape"])

    def __call__(self, window: np.ndarray) -> np.ndarray:
        """Model outputs for one window.

        Args:
            window: uint16 features, shape (window_frames, channels).
        Returns:
            float64 outputs, shape (len(labels),): logits, probabilities or
            values as ``metadata.output_kind`` says.
        """
        return self.dequantize_output(self.invoke(self.quantize_input(window)))

    # The three steps of a call, separate so ``emoedge bench`` times each one
    # on this same path.
    def quantize_input(self, window: np.ndarray) -> np.ndarray:
        """The input tensor for one window: int8 through the bridge (float32
        for a float model), in the input's shape."""
        if self._quantize is not None:
            model_input = self._quantize(window)
        else:
            model_input = window.astype(np.float32)
        return model_input.reshape(self._input_shape)

    def invoke(self, model_input: np.ndarray) -> np.ndarray:
        """Run the interpreter; the raw output row (int8 or float)."""
        self.interpreter.set_tensor(self._input["index"], model_input)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self._output["index"])[0]

    def dequantize_output(self, raw: np.ndarray) -> np.ndarray:
        """Raw outputs as float64 real values."""
        scale, zero_point = self.metadata.output.scale, self.metadata.output.zero_point
        if self.metadata.output.dtype == "int8":
            return scale * (raw.astype(np.float64) - zero_point)
        return raw.astype(np.float64)

    def _check_tensors(self) -> None:
        """Refuse a file whose real tensors disagree with its metadata."""
        for role, actual, spec in (("input", self._input, self.metadata.input),
                                   ("output", self._output, self.metadata.output)):
            shape = tuple(int(d) for d in actual["shape"])
            dtype = np.dtype(actual["dtype"]).name
            scale, zero_point = actual.get("quantization", (0.0, 0))
            if shape != spec.shape or dtype != spec.dtype:
                raise ModelConfigError(
                    f"model {role} is {dtype} {list(shape)} but its metadata says "
                    f"{spec.dtype} {list(spec.shape)}")
            if dtype == "int8" and (not np.isclose(scale, spec.scale, rtol=1e-6)
                                    or zero_point != spec.zero_point):
                raise ModelConfigError(
                    f"model {role} quantization ({scale}, {zero_point}) differs from its "
                    f"metadata ({spec.scale}, {spec.zero_point})")
