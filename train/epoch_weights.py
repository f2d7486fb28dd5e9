"""Each epoch's trained weights, kept so that averages can be read after the run.

Weight averaging (:mod:`.averaging`) only reads the trained weights; it never
feeds back into training. So the raw weights after every epoch are enough to
compute, once the run has ended, the average at any decay, or the plain mean
of the last epochs, on the very same training run as the recipe's own decay:
a comparison with no seed or machine between its two sides.

``emoedge train --keep-epoch-weights`` writes them; :mod:`.reaverage` reads
them. The files are ``epoch_weights/epoch_NNN.npz`` in the fold's directory,
one per epoch (NNN counts from 000), holding the arrays of the model's
``get_weights()`` in order as ``w0, w1, ...``: float32, so 4 bytes a
parameter (about 1 MB an epoch for the default recipe's model).
"""

from __future__ import annotations

import os
import pathlib
from typing import Sequence

import numpy as np

from .averaging import WeightAverage

DIRECTORY = "epoch_weights"


def epoch_path(fold_dir: str | os.PathLike, epoch: int) -> pathlib.Path:
    return pathlib.Path(fold_dir) / DIRECTORY / f"epoch_{epoch:03d}.npz"


def save_epoch_weights(fold_dir: str | os.PathLike, epoch: int,
                       weights: Sequence[np.ndarray]) -> None:
    """Write epoch ``epoch``'s (0-based) trained weights, beside the final
    name first and renamed into place, so a cut leaves no half file."""
    path = epoch_path(fold_dir, epoch)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.npz")
    np.savez(partial, **{f"w{i}": w for i, w in enumerate(weights)})
    os.replace(partial, path)


def load_epoch_weights(fold_dir: str | os.PathLike, epoch: int) -> list[np.ndarray]:
    """Epoch ``epoch``'s kept weights, in ``get_weights()`` order.

    Raises:
        FileNotFoundError: that epoch was not kept (a run trained without
            ``--keep-epoch-weights``, or not that far).
    """
    path = epoch_path(fold_dir, epoch)
    if not path.exists():
        raise FileNotFoundError(f"{path}: epoch {epoch}'s weights were not kept (train with "
                                "--keep-epoch-weights to keep every epoch's)")
    with np.load(path) as arrays:
        return [arrays[f"w{i}"] for i in range(len(arrays.files))]


def exponential_average(fold_dir: str | os.PathLike, *, decay_per_epoch: float,
                        last_epoch: int) -> list[np.ndarray]:
    """The weights the trainer would have averaged with ``decay_per_epoch``
    after epoch ``last_epoch``: :class:`.averaging.WeightAverage` updated
    with epochs 0 .. ``last_epoch`` in turn, cast to the weights' dtypes."""
    average = WeightAverage(decay_per_epoch)
    weights: list[np.ndarray] = []
    for epoch in range(last_epoch + 1):
        weights = load_epoch_weights(fold_dir, epoch)
        average.update(weights)
    if not weights:
        raise ValueError(f"last_epoch must be 0 or more, got {last_epoch}")
    return average.weights(weights)


def mean_of_last(fold_dir: str | os.PathLike, *, epochs: int,
                 last_epoch: int) -> list[np.ndarray]:
    """The plain mean of the weights of the ``epochs`` epochs ending with
    ``last_epoch`` (summed in float64), cast to the weights' dtypes."""
    first = last_epoch - epochs + 1
    if epochs < 1 or first < 0:
        raise ValueError(f"cannot average the last {epochs} epochs up to epoch {last_epoch}")
    total: list[np.ndarray] = []
    for epoch in range(first, last_epoch + 1):
        weights = load_epoch_weights(fold_dir, epoch)
        if not total:
            total = [np.zeros(w.shape, np.float64) for w in weights]
        for running, w in zip(total, weights):
            running += w
    return [(t / epochs).astype(w.dtype) for t, w in zip(total, weights)]
