"""The epoch state a cut training run leaves behind: written, read back, replaced whole."""

from __future__ import annotations

import numpy as np
import pytest

from emoedge.train.averaging import WeightAverage
from emoedge.train.epoch_state import (FILE_NAME, EpochState, discard_epoch_state,
                                       has_epoch_state, load_epoch_state, save_epoch_state)


def _state(*, epoch=3, best_score=0.625, average=True) -> EpochState:
    rng = np.random.default_rng(7)
    weights = [rng.standard_normal((3, 4)).astype(np.float32), np.zeros(4, np.float32)]
    return EpochState(
        stopped=False, split_json='{"name": "fold1-of-3"}',
        history=[{"epoch": e, "loss": 1.0 / (e + 1), "val": 0.5} for e in range(epoch + 1)],
        best_score=best_score, best_epoch=epoch - 1,
        best_weights=[w + 1 for w in weights], model_weights=weights,
        optimizer_variables=[np.array(40, np.int64)] + [w * 0.1 for w in weights],
        average=[w.astype(np.float64) / 3 for w in weights] if average else None)


def _assert_equal(loaded: EpochState, written: EpochState) -> None:
    for field in ("epoch", "stopped", "split_json", "history", "best_epoch"):
        assert getattr(loaded, field) == getattr(written, field)
    for field in ("best_weights", "model_weights", "optimizer_variables"):
        pairs = list(zip(getattr(loaded, field), getattr(written, field), strict=True))
        assert all(a.dtype == b.dtype and np.array_equal(a, b) for a, b in pairs)


def test_a_state_reads_back_as_written(tmp_path):
    written = _state()
    save_epoch_state(tmp_path, written)
    loaded = load_epoch_state(tmp_path)
    _assert_equal(loaded, written)
    assert loaded.best_score == written.best_score
    assert all(np.array_equal(a, b) for a, b in zip(loaded.average, written.average, strict=True))
    assert loaded.average[0].dtype == np.float64


def test_no_validation_score_and_no_average_read_back_as_such(tmp_path):
    save_epoch_state(tmp_path, _state(best_score=np.nan, average=False))
    loaded = load_epoch_state(tmp_path)
    assert np.isnan(loaded.best_score) and loaded.average is None


def test_each_epoch_replaces_the_last_and_a_cut_write_leaves_it_whole(tmp_path):
    save_epoch_state(tmp_path, _state(epoch=3))
    save_epoch_state(tmp_path, _state(epoch=4))
    # a write cut before its rename leaves only the partial file behind
    (tmp_path / (FILE_NAME + ".partial")).write_bytes(b"PK\x03\x04 cut mid-write")
    assert load_epoch_state(tmp_path).epoch == 4
    assert [p.name for p in tmp_path.glob("*.npz")] == [FILE_NAME]


def test_no_state_is_none_and_a_discarded_one_is_gone(tmp_path):
    assert load_epoch_state(tmp_path) is None and not has_epoch_state(tmp_path)
    save_epoch_state(tmp_path, _state())
    assert has_epoch_state(tmp_path)
    discard_epoch_state(tmp_path)
    assert load_epoch_state(tmp_path) is None
    discard_epoch_state(tmp_path)  # nothing left to delete is no error


def test_a_restored_average_goes_on_as_the_uninterrupted_one():
    steps = [[np.full(2, float(i))] for i in range(5)]
    whole, first, resumed = WeightAverage(0.5), WeightAverage(0.5), WeightAverage(0.5)
    for weights in steps:
        whole.update(weights)
    for weights in steps[:3]:
        first.update(weights)
    resumed.restore(first.state())
    for weights in steps[3:]:
        resumed.update(weights)
    assert np.array_equal(resumed.weights(steps[0])[0], whole.weights(steps[0])[0])
    assert WeightAverage(0.5).state() is None
    with pytest.raises(ValueError, match="no weights averaged yet"):
        restored_empty = WeightAverage(0.5)
        restored_empty.restore(None)
        restored_empty.weights(steps[0])
