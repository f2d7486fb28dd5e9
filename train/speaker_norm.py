"""Per-speaker feature offsets: each speaker's channel means moved to the population's.

The window-mean input norm removes each log-mel channel's mean over one
window, which cancels a microphone's colouring but also the window's own
spectral envelope, a cue for emotion. Shifting every frame of a speaker by
one integer offset per channel instead removes what is constant for the
speaker (voice, microphone, level) and keeps how this window differs from
that speaker's usual voice.

Offsets are integers and the shifted features stay uint16, so the device
path can apply them with one integer add per feature. Every speaker's
means, including held-out speakers', come from that speaker's own
unaugmented clips, without labels: in evaluation this is a session that
heard the speaker's whole recording set, an upper bound on what a running
mean on the device can know. An :class:`OffsetClips` scores held-out
speakers with what a device could know instead: the mean of a few of their
other clips, or none (a device before its first utterance, which can only
assume the population's mean: offset zero), or each clip's own mean (a
folder of files from unknown speakers scored one by one). Training can
draw its speakers' offsets from a few clips too (``trained``), so the
model learns from offsets as rough as a device's.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections import defaultdict
from typing import Iterable, Mapping, Sequence

import numpy as np

FEATURE_MAX = np.iinfo(np.uint16).max


@dataclasses.dataclass(frozen=True, kw_only=True)
class OffsetClips:
    """Which of its speaker's clips set a clip's offset. The default,
    neither field set, is all of them: for a held-out speaker, the upper
    bound of what a device can know.

    Fields:
        heard_clips: n: the mean of n of the speaker's other clips, drawn at
            random (seeded by the clip key), as if the device had heard n
            earlier utterances; all of them when the speaker has no more.
            0: no clip, so the clip is not shifted.
        heard_clips_up_to: n: as ``heard_clips``, with the count itself
            drawn per clip from 0 to n (uniform, seeded by the clip key),
            as if each clip came at a random point of a device's first
            n + 1 utterances of its speaker.
        own_clip: the clip's own mean alone.

    Raises:
        ValueError: more than one field set, a negative ``heard_clips`` or a
            ``heard_clips_up_to`` under 1.
    """

    heard_clips: int | None = None
    heard_clips_up_to: int | None = None
    own_clip: bool = False

    def __post_init__(self) -> None:
        given = [self.heard_clips is not None, self.heard_clips_up_to is not None, self.own_clip]
        if sum(given) > 1:
            raise ValueError("heard_clips, heard_clips_up_to and own_clip are ways to shift "
                             "a clip; give one")
        if self.heard_clips is not None and self.heard_clips < 0:
            raise ValueError(f"heard_clips must be 0 or more, got {self.heard_clips}")
        if self.heard_clips_up_to is not None and self.heard_clips_up_to < 1:
            raise ValueError(f"heard_clips_up_to must be 1 or more, "
                             f"got {self.heard_clips_up_to}")

    @property
    def whole_speaker(self) -> bool:
        """True for the default: every clip of the speaker sets the offset."""
        return (self.heard_clips is None and self.heard_clips_up_to is None
                and not self.own_clip)

    def words(self) -> str | None:
        """How held-out clips are shifted, in words for a card; None for the
        default."""
        if self.own_clip:
            return "each held-out clip by its own mean"
        if self.heard_clips == 0:
            return "not at all for held-out speakers (nothing heard)"
        if self.heard_clips is not None:
            return f"each held-out clip by {self.heard_clips} other clips' mean"
        if self.heard_clips_up_to is not None:
            return (f"each held-out clip by the mean of 0 to {self.heard_clips_up_to} "
                    f"other clips, the count drawn per clip")
        return None

    def clips_heard(self, key: str, speaker_keys: Sequence[str]) -> list[str]:
        """The clips of ``speaker_keys`` (all of ``key``'s speaker) whose mean
        shifts ``key``; empty for none. Not for the default."""
        if self.own_clip:
            return [key]
        if self.heard_clips_up_to is not None:
            return _heard_before(key, speaker_keys, _drawn_count(key, self.heard_clips_up_to))
        return _heard_before(key, speaker_keys, self.heard_clips or 0)


def clips_by_speaker(keys: Iterable[str], speaker_of: Mapping[str, str]) -> dict[str, list[str]]:
    """speaker id -> that speaker's clip keys, in the order of ``keys``."""
    grouped: dict[str, list[str]] = defaultdict(list)
    for key in keys:
        grouped[speaker_of[key]].append(key)
    return dict(grouped)


def channel_means(feature_arrays: Iterable[np.ndarray]) -> np.ndarray:
    """Mean of each channel over every frame of the arrays.

    Args:
        feature_arrays: uint16 features, each of shape (frames, channels).
    Returns:
        float64, shape (channels,).
    Raises:
        ValueError: no frame at all.
    """
    stacked = [np.asarray(a, dtype=np.float64) for a in feature_arrays]
    frames = sum(len(a) for a in stacked)
    if frames == 0:
        raise ValueError("no feature frame to take a mean over")
    return np.concatenate(stacked).sum(axis=0) / frames


def population_means(speaker_means: Mapping[str, np.ndarray],
                     speakers: Iterable[str]) -> np.ndarray:
    """The mean of ``speakers``' channel means, each speaker weighing the
    same. float64, shape (channels,)."""
    chosen = [speaker_means[s] for s in sorted(set(speakers))]
    if not chosen:
        raise ValueError("no speaker to take the population mean over")
    return np.mean(chosen, axis=0)


def speaker_offset(speaker_mean: np.ndarray, population_mean: np.ndarray) -> np.ndarray:
    """int32 offset per channel that moves ``speaker_mean`` to
    ``population_mean``, rounded half away from zero (both float64, shape
    (channels,))."""
    difference = population_mean - speaker_mean
    return (np.sign(difference) * np.floor(np.abs(difference) + 0.5)).astype(np.int32)


def heard_offset(heard: Sequence[np.ndarray], population_mean: np.ndarray) -> np.ndarray:
    """int32 offset per channel from the clips heard (uint16, each (frames,
    channels)); with none heard, the population's mean is the best guess,
    so the offset is 0."""
    if not heard:
        return np.zeros(len(population_mean), dtype=np.int32)
    return speaker_offset(channel_means(heard), population_mean)


def apply_offset(features: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """``features + offset`` saturated to the uint16 range.

    Args:
        features: uint16, shape (frames, channels).
        offset: int32, shape (channels,).
    Returns:
        uint16, shape (frames, channels).
    """
    shifted = features.astype(np.int32) + offset.astype(np.int32)
    return np.clip(shifted, 0, FEATURE_MAX).astype(np.uint16)


def normalise_by_speaker(features: Mapping[str, Sequence[np.ndarray]],
                         speaker_of: Mapping[str, str], training_keys: Iterable[str], *,
                         held_out: OffsetClips = OffsetClips(),
                         trained: OffsetClips = OffsetClips()
                         ) -> dict[str, tuple[np.ndarray, ...]]:
    """Every clip's features (all its variants) shifted by its speaker's offset.

    Args:
        features: clip key -> (original, augmented copies...), each uint16
            (frames, channels); the means use the originals only.
        speaker_of: clip key -> speaker id, for every key of ``features``.
        training_keys: the clips whose speakers set the population mean.
        held_out: which clips set a held-out speaker's offsets.
        trained: which clips set a training speaker's offsets; the default,
            all of them.
    Returns:
        clip key -> the shifted arrays, in the same order.
    """
    training_keys = set(training_keys)
    by_speaker = clips_by_speaker(features, speaker_of)
    means = {speaker: channel_means(features[k][0] for k in keys)
             for speaker, keys in by_speaker.items()}
    population = population_means(means, (speaker_of[k] for k in training_keys))
    offsets = {key: speaker_offset(means[speaker_of[key]], population) for key in features}
    trained_speakers = {speaker_of[k] for k in training_keys}
    for key in features:
        shift = trained if speaker_of[key] in trained_speakers else held_out
        if not shift.whole_speaker:
            heard = shift.clips_heard(key, by_speaker[speaker_of[key]])
            offsets[key] = heard_offset([features[k][0] for k in heard], population)
    return {key: tuple(apply_offset(a, offsets[key]) for a in arrays)
            for key, arrays in features.items()}


def offset_errors(features: Mapping[str, np.ndarray], speaker_of: Mapping[str, str],
                  speaker_means: Mapping[str, np.ndarray], population: np.ndarray,
                  offset_clips: OffsetClips) -> np.ndarray:
    """How far each clip's offset from ``offset_clips`` lies from the offset
    its speaker's whole mean gives: what a device's offset gets wrong.

    Args:
        features: clip key -> uint16 features (frames, channels), unshifted;
            every clip of each speaker in it.
        speaker_of: clip key -> speaker id.
        speaker_means: speaker id -> float64 channel means over all of that
            speaker's clips (:func:`channel_means`), shape (channels,).
        population: float64 channel means, shape (channels,).
        offset_clips: which clips set each clip's offset.
    Returns:
        int32, shape (clips, channels), in ``features``' order; feature units.
    """
    by_speaker = clips_by_speaker(features, speaker_of)
    whole = {speaker: speaker_offset(speaker_means[speaker], population)
             for speaker in by_speaker}
    errors = []
    for key in features:
        heard = offset_clips.clips_heard(key, by_speaker[speaker_of[key]])
        errors.append(heard_offset([features[k] for k in heard], population)
                      - whole[speaker_of[key]])
    return np.array(errors, dtype=np.int32).reshape(len(errors), len(population))


def _drawn_count(key: str, up_to: int) -> int:
    """A count from 0 to ``up_to``, uniform, seeded by ``key`` and ``up_to``
    (a seed apart from the one that picks the clips, so the count does not
    follow which clips are picked)."""
    rng = np.random.default_rng([zlib.crc32(key.encode()), up_to])
    return int(rng.integers(0, up_to + 1))


def _heard_before(key: str, speaker_keys: Sequence[str], count: int) -> list[str]:
    """``count`` of ``speaker_keys`` other than ``key``, drawn with a seed
    taken from ``key`` (all of them if there are no more; none for 0)."""
    if count == 0:
        return []
    others = sorted(k for k in speaker_keys if k != key)
    if not others:
        raise ValueError(f"{key}: its speaker has no other clip to take a mean from")
    if len(others) <= count:
        return others
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    return [others[i] for i in sorted(rng.choice(len(others), count, replace=False))]
