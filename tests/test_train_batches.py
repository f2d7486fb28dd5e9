"""Training batches: mixup blends features, targets and weights alike."""

from __future__ import annotations

import numpy as np
import pytest

from emoedge.train.dataset import mixup_batches


def _batches(count=3, size=6, classes=4):
    rng = np.random.default_rng(7)
    for _ in range(count):
        x = rng.integers(0, 1000, (size, 5, 3, 1)).astype(np.float32)
        targets = np.eye(classes, dtype=np.float32)[rng.integers(0, classes, size)]
        weights = rng.uniform(0.5, 2.0, size).astype(np.float32)
        yield x, targets, weights


def test_alpha_zero_passes_batches_through_unchanged():
    for (x, t, w), (mx, mt, mw) in zip(_batches(), mixup_batches(
            _batches(), alpha=0.0, rng=np.random.default_rng(0))):
        for original, passed in ((x, mx), (t, mt), (w, mw)):
            np.testing.assert_array_equal(passed, original)


def test_each_batch_is_one_blend_of_itself_and_a_permutation():
    for (x, t, w), (mx, mt, mw) in zip(_batches(), mixup_batches(
            _batches(), alpha=0.4, rng=np.random.default_rng(0))):
        # targets stay distributions, led by the clip itself
        np.testing.assert_allclose(mt.sum(axis=1), 1.0, rtol=1e-6)
        # own-class weight of each clip: lam, or 1 where the partner shares its class
        lam = float(np.max(mt * t, axis=1).min())
        assert 0.5 <= lam <= 1.0
        # recover the partner of every clip and check all three follow one lam
        residual = (mx - lam * x) / (1 - lam) if lam < 1 else x
        partner = [int(np.argmin(np.abs(x - r).reshape(len(x), -1).sum(axis=1)))
                   for r in residual]
        np.testing.assert_allclose(mx, lam * x + (1 - lam) * x[partner], rtol=1e-5, atol=1e-3)
        np.testing.assert_allclose(mw, lam * w + (1 - lam) * w[partner], rtol=1e-5)
        np.testing.assert_allclose(mt, lam * t + (1 - lam) * t[partner], rtol=1e-5, atol=1e-6)


def test_mixup_is_deterministic_in_its_generator():
    first = list(mixup_batches(_batches(), alpha=0.4, rng=np.random.default_rng(3)))
    again = list(mixup_batches(_batches(), alpha=0.4, rng=np.random.default_rng(3)))
    other = list(mixup_batches(_batches(), alpha=0.4, rng=np.random.default_rng(4)))
    for a, b in zip(first, again):
        for left, right in zip(a, b):
            np.testing.assert_array_equal(left, right)
    assert any(not np.array_equal(a[0], b[0]) for a, b in zip(first, other))


def test_recipe_takes_mixup_weight_decay_and_input_norm():
    from emoedge.train.recipe import load_recipe

    recipe = load_recipe(None, ["training.mixup_alpha=0.2", "training.weight_decay=0.01",
                                "model.input_norm=window-mean"])
    assert recipe.training.mixup_alpha == 0.2
    assert recipe.training.weight_decay == 0.01
    assert recipe.model.input_norm == "window-mean"


def test_recipe_refuses_an_unknown_training_key():
    from emoedge.train.recipe import RecipeError, load_recipe

    with pytest.raises(RecipeError, match="unknown key"):
        load_recipe(None, ["training.mixup=0.2"])


def test_recipe_refuses_a_run_of_no_epochs():
    from emoedge.train.recipe import RecipeError, load_recipe

    with pytest.raises(RecipeError, match="epochs must be at least 1, got 0"):
        load_recipe(None, ["training.epochs=0"])
    assert load_recipe(None, ["training.epochs=1"]).training.epochs == 1


@pytest.mark.parametrize("padding", ["noise-floor", "repeat"])
def test_training_and_evaluation_pad_short_clips_as_the_runtime_does(padding):
    """A clip shorter than the window reaches the model padded exactly as
    the device pads it (emoedge.windows.pad_to_window with the same
    padding), in training batches and in evaluation windows alike."""
    from emoedge.train.augment import AugmentConfig
    from emoedge.train.dataset import ClipFeatures, evaluation_windows, training_batches
    from emoedge.windows import pad_to_window

    features = np.random.default_rng(0).integers(0, 900, (37, 4)).astype(np.uint16)
    expected = pad_to_window(features, 50, padding)
    (x, _, _), = training_batches([ClipFeatures("a", (features,), 0)], window_frames=50,
                                  batch_size=4, augment=AugmentConfig(time_masks=0, freq_masks=0),
                                  seed=0, epoch=0, regression=False, padding=padding)
    assert x[0, ..., 0].tolist() == expected.tolist()
    (window,) = evaluation_windows(features, 50, 25, padding)
    assert window.tolist() == expected.tolist()
    assert (padding == "repeat") == (window[37:40].tolist() == features[:3].tolist())
