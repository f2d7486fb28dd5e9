"""A speaker adversary, for training only (Ganin & Lempitsky 2015).

A small classifier learns to tell the training speakers apart from the
emotion model's pooled embedding (the input of its ``logits`` layer), while
the gradient that reaches the embedding from it is reversed and scaled by
``weight * ramp(progress)``. The shared layers are so pushed to keep what
separates emotions and drop what separates speakers, the error a new
speaker's voice causes (DEFAULT_MODEL.md: each speaker's baseline decides
much of EMO-DB's happy/angry). The adversary is not in the exported model:
the device runs the emotion model alone, unchanged in size and cost.

TensorFlow is imported inside the functions, so this module loads without it.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

# Hidden units of the adversary: enough to read speakers from a pooled
# embedding of 72-144 channels, small beside the model it trains against.
HIDDEN_UNITS = 64


def reversal_ramp(progress: float) -> float:
    """The reversal's share of its full weight at ``progress`` (0 at the first
    epoch, 1 at the end), as DANN ramps it: 2 / (1 + exp(-10 p)) - 1. It
    starts at 0, so the adversary first learns to read speakers before its
    reversed gradient moves the shared layers, and is 0.99 by p = 0.5."""
    if not 0.0 <= progress <= 1.0:
        raise ValueError(f"progress must be in [0, 1], got {progress}")
    return 2.0 / (1.0 + math.exp(-10.0 * progress)) - 1.0


def speaker_indices(speakers: Sequence[str]) -> dict[str, int]:
    """Each training speaker's class index for the adversary, in sorted order,
    so a run's indices do not depend on the order its clips were read in."""
    return {speaker: index for index, speaker in enumerate(sorted(set(speakers)))}


def with_speaker_adversary(model, speakers: int):
    """A training model around ``model``: (emotion logits, speaker logits).

    Args:
        model: the emotion model (``build_model``), whose layers it shares.
        speakers: how many training speakers the adversary tells apart.

    Returns:
        (training model, reversal layer). Set the reversal's strength each
        epoch with :func:`set_reversal`; at 0 the adversary learns and the
        emotion model trains exactly as without it.
    """
    import tf_keras as keras

    if speakers < 2:
        raise ValueError(f"a speaker adversary needs at least 2 training speakers, got {speakers}")
    embedding = model.get_layer("logits").input
    reversal = _gradient_reversal_layer(keras)(name="speaker_reversal")
    hidden = keras.layers.Dense(HIDDEN_UNITS, activation="relu",
                                name="speaker_hidden")(reversal(embedding))
    speaker_logits = keras.layers.Dense(speakers, name="speaker_logits",
                                        dtype="float32")(hidden)
    training_model = keras.Model(model.input, [model.output, speaker_logits],
                                 name=f"{model.name}_with_speaker_adversary")
    return training_model, reversal


def set_reversal(reversal, strength: float) -> None:
    """Scale the gradient the reversal sends back by ``-strength``."""
    reversal.strength.assign(float(strength))


def _gradient_reversal_layer(keras):
    import tensorflow as tf

    class GradientReversal(keras.layers.Layer):
        """Identity forwards; backwards, the gradient times ``-strength``."""

        def build(self, input_shape):
            # a weight, not a constant: set each epoch, kept with the model
            self.strength = self.add_weight(name="strength", shape=(), trainable=False,
                                            initializer="zeros", dtype="float32")

        def call(self, inputs):
            strength = tf.cast(tf.convert_to_tensor(self.strength), inputs.dtype)

            @tf.custom_gradient
            def reverse(x):
                return tf.identity(x), lambda upstream: -strength * upstream

            return reverse(inputs)

    return GradientReversal


def split_targets(targets: np.ndarray, labels: int, speakers: int) -> list[np.ndarray]:
    """One-hot (emotion, speaker) targets from a batch of (label, speaker)
    index pairs, shape (b, 2), as the training model's two outputs take them."""
    targets = np.asarray(targets)
    if targets.ndim != 2 or targets.shape[1] != 2:
        raise ValueError(f"expected (batch, 2) label and speaker indices, got {targets.shape}")
    return [np.eye(labels, dtype=np.float32)[targets[:, 0]],
            np.eye(speakers, dtype=np.float32)[targets[:, 1]]]
