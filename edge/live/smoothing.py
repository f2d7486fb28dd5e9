"""Smoothing of window scores over recent speech, so the shown emotion does not flicker.

An exponential moving average with a time constant: a hop of ``hop_s``
weighs the new window by ``alpha = 1 - exp(-hop_s / time_constant_s)``, so
the memory is the same in seconds whatever the hop. Only speech windows
enter the average; after ``reset_after_no_speech_s`` of no speech it starts
afresh, so an emotion from minutes ago does not colour the next sentence.

The averaged vector holds the label scores and, when the model has them,
valence and arousal. Valence/arousal are linear in the probabilities, so
their average equals the valence/arousal of the averaged probabilities.
"""

from __future__ import annotations

import math

import numpy as np

from .config import SmoothingConfig


class EmaSmoother:
    """EMA over score vectors of speech windows."""

    def __init__(self, config: SmoothingConfig, *, hop_s: float) -> None:
        if config.time_constant_s < 0:
            raise ValueError("smoothing time constant must be >= 0")
        self.config = config
        self.hop_s = hop_s
        self.alpha = (1.0 if config.time_constant_s == 0
                      else 1.0 - math.exp(-hop_s / config.time_constant_s))
        self.reset()

    def reset(self) -> None:
        self._state: np.ndarray | None = None
        self._no_speech_s = 0.0

    @property
    def value(self) -> np.ndarray | None:
        """The current average, or None before the first speech window."""
        return None if self._state is None else self._state.copy()

    def update(self, scores: np.ndarray) -> np.ndarray:
        """Add a speech window's vector; return the new average."""
        scores = np.asarray(scores, dtype=np.float64)
        if self._state is None or self._no_speech_s >= self.config.reset_after_no_speech_s:
            self._state = scores.copy()
        else:
            self._state += self.alpha * (scores - self._state)
        self._no_speech_s = 0.0
        return self._state.copy()

    def skip(self) -> None:
        """A hop without speech: the average waits (and expires after a while)."""
        self._no_speech_s += self.hop_s
