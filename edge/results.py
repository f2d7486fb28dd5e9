"""Frozen results of recognition: one per model window, one per clip."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping


def frozen_mapping(values: Mapping[str, float]) -> Mapping[str, float]:
    """A read-only copy, so result objects stay immutable."""
    return MappingProxyType(dict(values))


@dataclass(frozen=True, kw_only=True)
class WindowResult:
    """The model's answer for one window of audio.

    Attributes:
        start_s: window start, seconds from the start of the stream or clip.
        end_s: window end in seconds (the clip's end for a padded window).
        label: most probable label ("" for regression models).
        confidence: probability of ``label`` (0..1; 0 for regression).
        probabilities: label -> probability, summing to 1 (empty for regression).
        values: regression output name -> value (empty for classification).
        valence: valence in [-1, 1] when the model provides it, else None.
        arousal: arousal in [-1, 1] when the model provides it, else None.
        padded: True when the clip was shorter than a window and was padded.
    """

    start_s: float
    end_s: float
    label: str
    confidence: float
    probabilities: Mapping[str, float]
    values: Mapping[str, float] = field(default_factory=lambda: frozen_mapping({}))
    valence: float | None = None
    arousal: float | None = None
    padded: bool = False


@dataclass(frozen=True, kw_only=True)
class Prediction:
    """The answer for a whole clip: the mean over its windows.

    Attributes:
        label, confidence, probabilities, values, valence, arousal: as in
            :class:`WindowResult`, computed from the mean of the windows'
            probabilities (or values).
        duration_s: clip duration in seconds, at its original sample rate.
        num_windows: windows the clip gave.
        segments: the per-window results when asked for, else None.
    """

    label: str
    confidence: float
    probabilities: Mapping[str, float]
    duration_s: float
    num_windows: int
    values: Mapping[str, float] = field(default_factory=lambda: frozen_mapping({}))
    valence: float | None = None
    arousal: float | None = None
    segments: tuple[WindowResult, ...] | None = None
