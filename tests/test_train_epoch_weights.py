"""Kept epoch weights and the averages read from them (no TensorFlow)."""

from __future__ import annotations

import numpy as np
import pytest

from emoedge.train.averaging import WeightAverage
from emoedge.train.epoch_weights import (epoch_path, exponential_average, load_epoch_weights,
                                         mean_of_last, save_epoch_weights)
from emoedge.train.reaverage import Averaging, main


def _keep(fold_dir, epochs):
    """Kept weights of a made-up run: two arrays per epoch, exact in binary."""
    kept = []
    for epoch in range(epochs):
        weights = [np.full((2, 3), 4.0 * epoch, np.float32), np.array([epoch, -epoch], np.float32)]
        save_epoch_weights(fold_dir, epoch, weights)
        kept.append(weights)
    return kept


def test_saved_weights_load_back_in_order_and_dtype(tmp_path):
    kept = _keep(tmp_path, 3)
    again = load_epoch_weights(tmp_path, 2)
    assert [a.dtype for a in again] == [np.float32, np.float32]
    for got, want in zip(again, kept[2]):
        np.testing.assert_array_equal(got, want)
    assert epoch_path(tmp_path, 2).name == "epoch_002.npz"
    assert not list(tmp_path.rglob("*.partial.npz"))


def test_the_exponential_average_is_the_trainers_updated_epoch_by_epoch(tmp_path):
    kept = _keep(tmp_path, 4)
    trainer_side = WeightAverage(0.75)
    for weights in kept[:3]:
        trainer_side.update(weights)
    got = exponential_average(tmp_path, decay_per_epoch=0.75, last_epoch=2)
    for a, b in zip(got, trainer_side.weights(kept[0])):
        np.testing.assert_array_equal(a, b)
    # by hand: 0.75 * (0.75 * 0 + 0.25 * 4) + 0.25 * 8 = 2.75
    np.testing.assert_array_equal(got[0], np.full((2, 3), 2.75, np.float32))
    # decay 0 is the last epoch's raw weights
    np.testing.assert_array_equal(exponential_average(tmp_path, decay_per_epoch=0.0,
                                                      last_epoch=3)[1], [3.0, -3.0])


def test_the_mean_of_the_last_epochs(tmp_path):
    _keep(tmp_path, 5)
    got = mean_of_last(tmp_path, epochs=2, last_epoch=4)
    np.testing.assert_array_equal(got[0], np.full((2, 3), 14.0, np.float32))  # (12 + 16) / 2
    np.testing.assert_array_equal(got[1], [3.5, -3.5])
    assert got[0].dtype == np.float32


def test_errors_a_user_can_hit(tmp_path, capsys):
    _keep(tmp_path, 2)
    with pytest.raises(FileNotFoundError, match="--keep-epoch-weights"):
        load_epoch_weights(tmp_path, 2)
    with pytest.raises(FileNotFoundError, match="epoch 2's weights were not kept"):
        exponential_average(tmp_path, decay_per_epoch=0.9, last_epoch=2)
    with pytest.raises(ValueError, match="cannot average the last 3 epochs up to epoch 1"):
        mean_of_last(tmp_path, epochs=3, last_epoch=1)
    with pytest.raises(ValueError, match="decay_per_epoch must be in"):
        exponential_average(tmp_path, decay_per_epoch=1.0, last_epoch=1)
    with pytest.raises(ValueError, match="exactly one of"):
        Averaging(decay_per_epoch=0.9, mean_of_last_epochs=3)
    with pytest.raises(ValueError, match="exactly one of"):
        Averaging()
    assert main([str(tmp_path), str(tmp_path / "copy"), "--decay", "0.9"]) == 2
    assert "not a finished run" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(tmp_path), str(tmp_path / "copy")])  # neither --decay nor --mean-of-last


@pytest.mark.tf
def test_recomputed_batch_norm_holds_the_mean_of_the_batch_statistics(tensorflow_available):
    import tf_keras as keras

    from emoedge.train.reaverage import recompute_batch_norm

    inputs = keras.Input((3,))
    norm = keras.layers.BatchNormalization(momentum=0.9, epsilon=0.0)
    model = keras.Model(inputs, norm(inputs))
    rng = np.random.default_rng(0)
    batches = [rng.normal(loc, 2.0, (16, 3)).astype(np.float32) for loc in (-4.0, 0.0, 10.0)]
    assert recompute_batch_norm(model, iter(batches)) == 3
    np.testing.assert_allclose(norm.moving_mean.numpy(),
                               np.mean([b.mean(axis=0) for b in batches], axis=0), rtol=1e-5)
    # this layer keeps the biased batch variance (divided by the batch size)
    np.testing.assert_allclose(norm.moving_variance.numpy(),
                               np.mean([b.var(axis=0) for b in batches], axis=0), rtol=1e-4)
    assert norm.momentum == 0.9  # given back
    with pytest.raises(ValueError, match="no training batch"):
        recompute_batch_norm(model, iter([]))


def test_batch_norm_is_not_recomputed_for_a_speaker_shifted_run(tmp_path, monkeypatch):
    """Its training features need each speaker's shift, which the recompute
    does not apply: refused before anything is copied."""
    import json
    import types

    from emoedge.train import trainer
    from emoedge.train.reaverage import reaverage_run

    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "run.json").write_text(json.dumps(
        {"folds": [{"directory": "split0_seed0", "split": "fold1", "seed": 0}]}))
    shifted = types.SimpleNamespace(recipe=types.SimpleNamespace(
        model=types.SimpleNamespace(input_norm="speaker-mean")))
    monkeypatch.setattr(trainer, "open_finished_run", lambda run, data_root: shifted)
    with pytest.raises(ValueError, match="not supported for speaker-shifted runs"):
        reaverage_run(tmp_path / "run", tmp_path / "copy", Averaging(decay_per_epoch=0.9),
                      recompute_batch_norm=True)
    assert not (tmp_path / "copy").exists()
