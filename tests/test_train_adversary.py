"""The speaker adversary: its ramp, targets, gradient reversal and recipe checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from emoedge.train.adversary import reversal_ramp, speaker_indices, split_targets
from emoedge.train.recipe import RecipeError, load_recipe


def test_the_ramp_starts_at_zero_and_nears_one_by_half_way():
    assert reversal_ramp(0.0) == 0.0
    assert reversal_ramp(0.5) == pytest.approx(2 / (1 + math.exp(-5)) - 1)  # 0.9866
    assert reversal_ramp(1.0) == pytest.approx(0.99991, abs=1e-5)
    ramp = [reversal_ramp(p / 10) for p in range(11)]
    assert ramp == sorted(ramp)
    for outside in (-0.1, 1.1):
        with pytest.raises(ValueError, match="progress must be in"):
            reversal_ramp(outside)


def test_speakers_are_indexed_in_sorted_order_whatever_order_clips_come_in():
    assert speaker_indices(["emodb:10", "ravdess:01", "emodb:03", "ravdess:01"]) == {
        "emodb:03": 0, "emodb:10": 1, "ravdess:01": 2}


def test_label_and_speaker_pairs_become_two_one_hot_targets():
    emotion, speaker = split_targets(np.array([[2, 0], [0, 3]]), labels=3, speakers=4)
    np.testing.assert_array_equal(emotion, [[0, 0, 1], [1, 0, 0]])
    np.testing.assert_array_equal(speaker, [[1, 0, 0, 0], [0, 0, 0, 1]])
    assert emotion.dtype == speaker.dtype == np.float32
    with pytest.raises(ValueError, match=r"expected \(batch, 2\)"):
        split_targets(np.array([2, 0]), labels=3, speakers=4)


@pytest.mark.parametrize("settings, message", [
    (["training.speaker_adversary_weight=-0.1"], "must be 0 \\(off\\) or positive"),
    (["training.speaker_adversary_weight=nan"], "must be 0 \\(off\\) or positive"),
    (["training.speaker_adversary_weight=0.5", "training.task=regression"],
     "classification only"),
    (["training.speaker_adversary_weight=0.5", "training.mixup_alpha=0.2"],
     "cannot both be on"),
])
def test_recipes_the_adversary_cannot_train_are_refused(settings, message):
    with pytest.raises(RecipeError, match=message):
        load_recipe(None, settings)


@pytest.mark.tf
def test_the_reversal_flips_and_scales_the_gradient_into_the_shared_layers_only(
        tensorflow_available):
    """Forwards nothing changes; backwards the shared layers get the speaker
    loss's gradient times -strength, and the adversary's own layers get theirs
    unchanged, whatever the strength."""
    import tensorflow as tf
    import tf_keras as keras

    from emoedge.train.adversary import set_reversal, with_speaker_adversary

    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    shared = keras.layers.Dense(3, activation="tanh", name="shared")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2, name="logits")(shared))
    training_model, reversal = with_speaker_adversary(model, speakers=3)
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    watched = [model.get_layer("shared").kernel,
               training_model.get_layer("speaker_hidden").kernel]

    def gradients(strength):
        set_reversal(reversal, strength)
        with tf.GradientTape() as tape:
            emotion, speaker = training_model(x)
            speaker_loss = tf.reduce_sum(speaker ** 2)
        return emotion.numpy(), [g.numpy() for g in tape.gradient(speaker_loss, watched)]

    plain_emotion, (plain_shared, plain_head) = gradients(-1.0)  # -(-1): the plain gradient
    emotion, (shared_grad, head_grad) = gradients(0.5)
    np.testing.assert_array_equal(emotion, plain_emotion)
    np.testing.assert_array_equal(emotion, model(x).numpy())
    assert np.abs(plain_shared).max() > 0
    np.testing.assert_allclose(shared_grad, -0.5 * plain_shared, rtol=1e-6)
    np.testing.assert_allclose(head_grad, plain_head, rtol=1e-6)
    _, (off_shared, _) = gradients(0.0)
    np.testing.assert_array_equal(off_shared, np.zeros_like(off_shared))


@pytest.mark.tf
def test_an_adversary_needs_two_speakers(tensorflow_available):
    import tf_keras as keras

    from emoedge.train.adversary import with_speaker_adversary

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2, name="logits")(inputs))
    with pytest.raises(ValueError, match="at least 2 training speakers, got 1"):
        with_speaker_adversary(model, speakers=1)
