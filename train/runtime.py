"""Compute placement for training: GPU with cuDNN kernels when present, else CPU.

TensorFlow uses cuDNN for convolutions and for the LSTM (its arguments are
kept cuDNN-compatible in :mod:`emoedge.train.models`) whenever a GPU is
visible; nothing else is needed. Mixed precision is only turned on with a GPU:
on CPU float16 is slower.
"""

from __future__ import annotations

from .recipe import RecipeError

STRATEGIES = ("default", "mirrored", "multiworker")


def gpu_available() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def set_precision(mixed: bool) -> str:
    """Set the global Keras policy; returns the policy name in force."""
    import tf_keras as keras

    policy = "mixed_float16" if mixed and gpu_available() else "float32"
    keras.mixed_precision.set_global_policy(policy)
    return policy


def distribution_strategy(name: str):
    """A ``tf.distribute`` strategy by name.

    ``mirrored`` copies the model onto every local GPU; ``multiworker`` spans
    machines described by the ``TF_CONFIG`` environment variable (see
    TensorFlow's multi-worker guide); ``default`` is one device.
    """
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise RecipeError(f"unknown strategy {name!r} (choose {', '.join(STRATEGIES)})")
