"""Full-int8 post-training conversion and the integer-only check.

The converter is fed a concrete function with a fixed batch of 1, which is
what an LSTM needs to become one fused int8 op, and is what the device runs
anyway. Input and output are int8; the representative features are the raw
uint16 features of training windows, as float32, because the models
normalise inside the graph.
"""

from __future__ import annotations

import numpy as np

MIN_REPRESENTATIVE = 200


class ConversionError(RuntimeError):
    """The converter failed or produced a model that is not integer-only."""


def convert_int8(model, representative: np.ndarray) -> bytes:
    """Convert a tf_keras model to a full-int8 ``.tflite``.

    Args:
        model: tf_keras model with input (batch, frames, channels, 1).
        representative: float32 windows, shape (n, frames, channels, 1), drawn
            from the training features; n >= 200.
    Returns:
        the flatbuffer bytes, int8 input and output.
    """
    import tensorflow as tf

    if len(representative) < MIN_REPRESENTATIVE:
        raise ConversionError(f"need at least {MIN_REPRESENTATIVE} representative windows, "
                              f"got {len(representative)}")
    shape = [1, *model.input_shape[1:]]
    function = tf.function(lambda x: model(x, training=False))
    concrete = function.get_concrete_function(tf.TensorSpec(shape, tf.float32))
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    samples = representative.astype(np.float32)
    converter.representative_dataset = lambda: ([window[None]] for window in samples)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    try:
        return converter.convert()
    except Exception as error:  # noqa: BLE001 - the converter raises many kinds
        message = " ".join(str(error).split())[:400]
        raise ConversionError(f"int8 conversion failed: {message}") from None


def convert_float(model) -> bytes:
    """The float32 ``.tflite`` of the same graph (batch 1), for comparison."""
    import tensorflow as tf

    shape = [1, *model.input_shape[1:]]
    function = tf.function(lambda x: model(x, training=False))
    concrete = function.get_concrete_function(tf.TensorSpec(shape, tf.float32))
    return tf.lite.TFLiteConverter.from_concrete_functions([concrete], model).convert()
