"""Weight averaging: exact EMA values, its errors, and the recipe key."""

from __future__ import annotations

import numpy as np
import pytest

from emoedge.train.averaging import WeightAverage


def test_first_update_is_the_weights_then_each_update_blends_by_the_decay():
    average = WeightAverage(0.75)
    first = [np.array([4.0, -8.0], np.float32), np.array([[1.0]], np.float32)]
    second = [np.array([0.0, 8.0], np.float32), np.array([[5.0]], np.float32)]
    average.update(first)
    np.testing.assert_array_equal(average.weights(first)[0], [4.0, -8.0])
    average.update(second)
    # 0.75 * first + 0.25 * second, exactly representable
    got = average.weights(first)
    np.testing.assert_array_equal(got[0], [3.0, -4.0])
    np.testing.assert_array_equal(got[1], [[2.0]])
    assert [g.dtype for g in got] == [np.float32, np.float32]
    average.update(second)
    np.testing.assert_array_equal(average.weights(first)[0], [2.25, -1.0])


def test_the_average_does_not_alias_the_models_arrays():
    weights = [np.array([1.0, 2.0], np.float32)]
    average = WeightAverage(0.5)
    average.update(weights)
    weights[0][:] = 100.0
    np.testing.assert_array_equal(average.weights(weights)[0], [1.0, 2.0])


@pytest.mark.parametrize("decay", [-0.1, 1.0, 1.5])
def test_a_decay_outside_zero_to_one_is_refused(decay):
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        WeightAverage(decay)


def test_a_different_number_of_arrays_and_reading_before_any_update_are_refused():
    average = WeightAverage(0.9)
    with pytest.raises(ValueError, match="update"):
        average.weights([np.zeros(2)])
    average.update([np.zeros(2), np.zeros(3)])
    with pytest.raises(ValueError, match="expected 2 weight arrays, got 1"):
        average.update([np.zeros(2)])


def test_recipe_takes_the_decay_and_refuses_one_out_of_range():
    from emoedge.train.recipe import RecipeError, load_recipe

    assert load_recipe(None, ["training.ema_decay_per_epoch=0.9"]).training.ema_decay_per_epoch == 0.9
    assert load_recipe(None).training.ema_decay_per_epoch == 0.0
    with pytest.raises(RecipeError, match="ema_decay_per_epoch must be in"):
        load_recipe(None, ["training.ema_decay_per_epoch=1.0"])
