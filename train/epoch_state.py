"""Where a fold's training stood after its last whole epoch.

A fold of the default recipe trains for an hour or more on a 2-core machine,
and a machine that stops (a session's end, a power cut) used to cost the
whole fold: ``--resume`` kept only finished folds. Now the trainer writes
this state after every epoch, so a resumed fold loses at most the epoch it
was in.

What the next epoch depends on, and so what is kept:

- the trained weights (with averaging on, the raw ones, not the average);
- the optimiser's variables (its step count, which also drives the learning
  rate schedule, and Adam's moments);
- the weight average, the best weights so far with their score and epoch,
  and the history;
- whether early stopping ended training after this epoch.

The random draws need nothing kept: each epoch's windows, augmentation,
mixup and dropout masks come from (seed, epoch) alone, so a resumed fold
ends where the fold never stopped ends. Dropout was the last to join
(``models.reseed_dropout``): its masks used to come from TensorFlow's
legacy random op, whose state restarts in every new process, and a
resumed fold with dropout ended where another seed might.

The file is ``epoch_state.npz`` in the fold's directory, written beside
itself and renamed into place, so a cut during the write leaves the previous
epoch's state whole. The trainer deletes it once the fold is saved.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
from typing import Sequence

import numpy as np

FILE_NAME = "epoch_state.npz"
# the groups of arrays kept, each stored as "<group>/<index>"
ARRAY_GROUPS = ("model", "optimizer", "best", "average")


@dataclasses.dataclass(frozen=True, kw_only=True)
class EpochState:
    """A fold's training after its last epoch in ``history`` finished.

    Attributes:
        stopped: early stopping ended training after it.
        split_json: the split trained on (``Split.to_json()``), so a state is
            never resumed on other speakers.
        history: one record per finished epoch, as the trainer keeps them.
        best_score: the selected weights' validation score; NaN without
            validation speakers.
        best_epoch: the epoch that produced them.
        best_weights, model_weights, optimizer_variables: arrays in the
            model's (and the optimiser's) own order.
        average: the weight average (float64), None without averaging.
    """

    stopped: bool
    split_json: str
    history: list[dict]
    best_score: float
    best_epoch: int
    best_weights: list[np.ndarray]
    model_weights: list[np.ndarray]
    optimizer_variables: list[np.ndarray]
    average: list[np.ndarray] | None

    @property
    def epoch(self) -> int:
        """The last finished epoch (0-based); -1 before the first."""
        return len(self.history) - 1


def save_epoch_state(directory: pathlib.Path, state: EpochState) -> None:
    """Write ``state`` to ``directory``, replacing the previous epoch's at once."""
    meta = {"stopped": state.stopped, "split": state.split_json,
            "history": state.history, "best_epoch": state.best_epoch,
            "best_score": None if np.isnan(state.best_score) else state.best_score,
            "averaged": state.average is not None}
    arrays = {"meta": np.array(json.dumps(meta))}
    groups = (state.model_weights, state.optimizer_variables, state.best_weights,
              state.average or [])
    for group, values in zip(ARRAY_GROUPS, groups):
        arrays.update({f"{group}/{i}": np.asarray(v) for i, v in enumerate(values)})
    final = directory / FILE_NAME
    partial = directory / (FILE_NAME + ".partial")
    with open(partial, "wb") as stream:
        np.savez(stream, **arrays)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(partial, final)


def load_epoch_state(directory: pathlib.Path) -> EpochState | None:
    """The state :func:`save_epoch_state` left in ``directory``; None if none."""
    path = directory / FILE_NAME
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as stored:
        meta = json.loads(str(stored["meta"]))
        groups = {group: _group(stored, group) for group in ARRAY_GROUPS}
    score = meta["best_score"]
    return EpochState(stopped=meta["stopped"], split_json=meta["split"],
                      history=meta["history"], best_epoch=meta["best_epoch"],
                      best_score=np.nan if score is None else float(score),
                      best_weights=groups["best"], model_weights=groups["model"],
                      optimizer_variables=groups["optimizer"],
                      average=groups["average"] if meta["averaged"] else None)


def has_epoch_state(directory: pathlib.Path) -> bool:
    """Whether a cut run left an epoch state in ``directory``."""
    return (directory / FILE_NAME).exists()


def discard_epoch_state(directory: pathlib.Path) -> None:
    """Delete the state once the fold it belongs to is saved."""
    (directory / FILE_NAME).unlink(missing_ok=True)


def _group(stored, group: str) -> list[np.ndarray]:
    count = sum(1 for name in stored.files if name.startswith(group + "/"))
    return [stored[f"{group}/{i}"] for i in range(count)]


def restore_optimizer(optimizer, trainable_variables: Sequence, values: list[np.ndarray]) -> None:
    """Give a freshly compiled optimiser the variables it had.

    Raises:
        ValueError: ``values`` does not match the optimiser's variables (the
            model changed since the state was written).
    """
    optimizer.build(trainable_variables)
    if len(optimizer.variables) != len(values):
        raise ValueError(f"the epoch state holds {len(values)} optimiser variables, "
                         f"the model's optimiser has {len(optimizer.variables)}")
    optimizer.set_weights(values)
