"""Weight averaging: an exponential moving average of a model's weights.

The average is updated once per epoch, after the epoch's last step, and never
feeds back into training: the optimiser's trajectory is the same with or
without it, so one run scores both the raw and the averaged weights on the
same validation speakers (a paired comparison, free of seed noise).

BatchNorm's moving mean and variance are weights too and are averaged with
the rest, as the non-trainable state of the averaged model.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def check_decay(decay_per_epoch: float, name: str) -> None:
    """Raise ValueError unless the decay is in [0, 1); ``name`` is the
    setting's name for the message."""
    if not 0.0 <= decay_per_epoch < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {decay_per_epoch}")


class WeightAverage:
    """EMA of a list of weight arrays, one update per epoch.

    After updates w_1 .. w_n the average is w_1 for n = 1 and
    decay * average + (1 - decay) * w_n after that: starting from the first
    weights rather than from zeros, so no bias correction is needed.

    Args:
        decay_per_epoch: in [0, 1); the weight of the previous average. About
            1 / (1 - decay) recent epochs dominate (0.9: the last ~10).
    """

    def __init__(self, decay_per_epoch: float) -> None:
        check_decay(decay_per_epoch, "decay_per_epoch")
        self.decay_per_epoch = decay_per_epoch
        self._average: list[np.ndarray] | None = None

    def update(self, weights: Sequence[np.ndarray]) -> None:
        """Fold in one epoch's weights (float arrays, the model's order)."""
        if self._average is None:
            self._average = [np.asarray(w, dtype=np.float64).copy() for w in weights]
            return
        if len(weights) != len(self._average):
            raise ValueError(f"expected {len(self._average)} weight arrays, got {len(weights)}")
        for average, current in zip(self._average, weights):
            average *= self.decay_per_epoch
            average += (1.0 - self.decay_per_epoch) * np.asarray(current, dtype=np.float64)

    def weights(self, like: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The average, cast to the dtypes of ``like`` (the model's weights)."""
        if self._average is None:
            raise ValueError("no weights averaged yet: call update() first")
        return [a.astype(np.asarray(w).dtype) for a, w in zip(self._average, like)]

    def state(self) -> list[np.ndarray] | None:
        """The running average as kept (float64), None before the first update:
        what a resumed run gives :meth:`restore`."""
        return self._average

    def restore(self, average: Sequence[np.ndarray] | None) -> None:
        """Continue from an average that :meth:`state` returned."""
        self._average = (None if average is None else
                         [np.asarray(a, dtype=np.float64).copy() for a in average])
