"""Label selection and speaker-independent train/validation/test splits.

Splits are by speaker by default: every speaker's clips go to exactly one
part, so test accuracy measures unseen voices. Speakers are placed by a
stable hash (sha256 of the salt and the speaker id), never by Python's
``hash()``, which is salted per process: the same speakers give the same
split on every machine and for any clip order. A split records itself
(:meth:`Split.to_json`) for the run directory.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Iterable, Literal, Mapping, Sequence

import numpy as np

from emoedge.train.corpora import (CANONICAL_LABELS, Clip, ClipList, DataError, _note,
                                   summarise)

DEFAULT_SALT = "emoedge"
PARTS = ("train", "val", "test")
RANDOM_SPLIT_WARNING = "speakers appear in both train and test: accuracy will be optimistic"
_NO_MERGE: Mapping[str, str] = MappingProxyType({})


# --- labels -------------------------------------------------------------------

def select_labels(clips: Iterable[Clip], labels: Iterable[str], *,
                  merge: Mapping[str, str] = _NO_MERGE,
                  policy: Literal["drop", "error"] = "drop") -> ClipList:
    """Merge labels, then keep the clips whose label is in ``labels``.

    Args:
        clips: loaded clips (a :class:`ClipList`'s notes are carried over).
        labels: canonical labels to keep, e.g. ("neutral", "happy", "sad", "angry").
        merge: label -> label applied first, e.g. {"calm": "neutral"}; every
            target must be among ``labels``.
        policy: "drop" removes other clips (regression-only clips too);
            "error" raises if any clip would be removed.

    Returns:
        The kept clips in input order; ``notes`` gain one line per merge and
        per dropped label with the clip counts.
    """
    clips = list(clips) if not isinstance(clips, list) else clips
    keep = _checked_labels(labels, merge, policy)
    merged, dropped, kept = Counter(), Counter(), []
    for clip in clips:
        if clip.label in merge:
            merged[clip.label] += 1
            clip = replace(clip, label=merge[clip.label])
        if clip.label in keep:
            kept.append(clip)
        else:
            dropped[clip.label or "(no label)"] += 1
    if dropped and policy == "error":
        listed = ", ".join(f"{label} {count}" for label, count in sorted(dropped.items()))
        raise DataError(f"labels: {sum(dropped.values())} clips have labels outside the "
                        f"selection ({listed})")
    notes = list(getattr(clips, "notes", ()))
    for label, count in sorted(merged.items()):
        _note(notes, f"labels: merged {count} {label} clips into {merge[label]}")
    for label, count in sorted(dropped.items()):
        _note(notes, f"labels: dropped {count} {label} clips (not selected)")
    if not kept:
        raise DataError(f"labels: no clips left with labels {', '.join(sorted(keep))}")
    return ClipList(kept, notes)


def _checked_labels(labels: Iterable[str], merge: Mapping[str, str], policy: str) -> set[str]:
    keep = set(labels)
    if not keep:
        raise DataError("labels: select at least one label")
    unknown = sorted((keep | set(merge) | set(merge.values())) - set(CANONICAL_LABELS))
    if unknown:
        raise DataError(f"labels: unknown label {unknown[0]!r} "
                        f"(labels: {', '.join(CANONICAL_LABELS)})")
    stray = sorted(target for target in merge.values() if target not in keep)
    if stray:
        raise DataError(f"labels: merge target {stray[0]!r} is not among the selected labels")
    if policy not in ("drop", "error"):
        raise DataError(f"labels: policy must be 'drop' or 'error', got {policy!r}")
    return keep


# --- the split record ---------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class Split:
    """Train, validation and test clips.

    Attributes:
        name: short and safe in file names: "speaker", "fold2-of-5", "random".
        train, val, test: the clips of each part, sorted by speaker, then path.
        warning: one line for the report when the split is not speaker-independent.
        settings: how the split was made (method, fractions, salt or seed, ...),
            recorded by :meth:`to_dict`.
    """

    name: str
    train: tuple[Clip, ...]
    val: tuple[Clip, ...]
    test: tuple[Clip, ...]
    warning: str | None = None
    settings: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}),
                                           hash=False)

    def parts(self) -> dict[str, tuple[Clip, ...]]:
        """{"train": clips, "val": clips, "test": clips}."""
        return {"train": self.train, "val": self.val, "test": self.test}

    def speakers(self) -> dict[str, list[str]]:
        """The sorted speaker ids of each part."""
        return {part: sorted({clip.speaker for clip in clips})
                for part, clips in self.parts().items()}

    def to_dict(self) -> dict:
        """JSON-ready record: name, settings, warning, whether speakers are
        disjoint, and per part the speakers, label counts and every clip
        (path, label, speaker)."""
        speakers = self.speakers()
        return {
            "name": self.name,
            "settings": dict(self.settings),
            "warning": self.warning,
            "speaker_independent": _shared_speaker(self) is None,
            "parts": {part: {"clips": len(clips), "speakers": speakers[part],
                             "labels": summarise(clips)["labels"],
                             "files": [{"path": clip.path, "label": clip.label,
                                        "speaker": clip.speaker} for clip in clips]}
                      for part, clips in self.parts().items()},
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as indented JSON text."""
        return json.dumps(self.to_dict(), indent=1, ensure_ascii=False)


def check_speaker_independent(split: Split) -> None:
    """Raise DataError if any speaker has clips in two parts of ``split``."""
    shared = _shared_speaker(split)
    if shared:
        speaker, first, second = shared
        raise DataError(f"split {split.name}: speaker {speaker} is in both {first} and {second}")


def _shared_speaker(split: Split) -> tuple[str, str, str] | None:
    speakers = split.speakers()
    for index, first in enumerate(PARTS):
        for second in PARTS[index + 1:]:
            common = sorted(set(speakers[first]) & set(speakers[second]))
            if common:
                return common[0], first, second
    return None


# --- stable placement ---------------------------------------------------------

def speaker_hash(speaker: str, salt: str = DEFAULT_SALT) -> float:
    """The speaker's stable position in [0, 1): the first 8 bytes of
    sha256(salt, NUL, speaker) as a big-endian fraction of 2**64. The NUL keeps
    ("ab", "c") and ("a", "bc") apart."""
    digest = hashlib.sha256(f"{salt}\0{speaker}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0 ** 64


def _by_speaker(clips: Iterable[Clip]) -> dict[str, list[Clip]]:
    groups: dict[str, list[Clip]] = {}
    for clip in clips:
        groups.setdefault(clip.speaker, []).append(clip)
    if not groups:
        raise DataError("split: no clips")
    return groups


def _ordered(clips: Iterable[Clip]) -> tuple[Clip, ...]:
    """Clips in a canonical order, so a split does not depend on load order."""
    return tuple(sorted(clips, key=lambda clip: (clip.speaker, clip.path)))


def _check_fractions(val_fraction: float, test_fraction: float) -> None:
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise DataError(f"split: {name} must be in [0, 1), got {value}")
    if val_fraction + test_fraction >= 1.0:
        raise DataError(f"split: val_fraction + test_fraction must be below 1, got "
                        f"{val_fraction + test_fraction}")


def _assemble(name: str, groups: Mapping[str, list[Clip]], part_of: Mapping[str, str],
              settings: Mapping[str, object]) -> Split:
    parts = {part: _ordered(clip for speaker, clips in groups.items()
                            if part_of[speaker] == part for clip in clips) for part in PARTS}
    return Split(name=name, settings=MappingProxyType(dict(settings)), **parts)


# --- splits -------------------------------------------------------------------

def speaker_split(clips: Iterable[Clip], *, val_fraction: float = 0.15,
                  test_fraction: float = 0.15, salt: str = DEFAULT_SALT) -> Split:
    """One speaker-independent split by stable hash.

    A speaker whose :func:`speaker_hash` h is below ``test_fraction`` goes to
    test, below ``test_fraction + val_fraction`` to validation, else to
    train; the fractions are of speakers, not clips. If that leaves a part
    with a positive fraction empty (few speakers), the speaker whose hash is
    nearest that part's interval, taken from a part with two or more
    speakers, moves there; so train, val and test are non-empty whenever
    there are at least 3 speakers (a zero fraction leaves its part empty).

    Raises:
        DataError: bad fractions, or fewer speakers than non-empty parts.
    """
    _check_fractions(val_fraction, test_fraction)
    groups = _by_speaker(clips)
    intervals = {"test": (0.0, test_fraction),
                 "val": (test_fraction, test_fraction + val_fraction),
                 "train": (test_fraction + val_fraction, 1.0)}
    wanted = [part for part, (low, high) in intervals.items() if high > low]
    if len(groups) < len(wanted):
        raise DataError(f"split: {len(wanted)} speaker-independent parts need at least "
                        f"{len(wanted)} speakers; the data has {len(groups)} "
                        f"({', '.join(sorted(groups))})")
    hashes = {speaker: speaker_hash(speaker, salt) for speaker in groups}
    part_of = {speaker: next(part for part, (low, high) in intervals.items() if low <= h < high)
               for speaker, h in hashes.items()}
    for part in wanted:
        if part not in part_of.values():
            part_of[_nearest_movable(part_of, hashes, intervals[part])] = part
    settings = {"method": "speaker_split", "val_fraction": val_fraction,
                "test_fraction": test_fraction, "salt": salt}
    return _assemble("speaker", groups, part_of, settings)


def _nearest_movable(part_of: Mapping[str, str], hashes: Mapping[str, float],
                     interval: tuple[float, float]) -> str:
    """The speaker nearest ``interval`` by hash among parts that keep at least
    one speaker after the move; ties go to the smaller speaker id."""
    sizes = Counter(part_of.values())
    low, high = interval
    movable = [speaker for speaker, part in part_of.items() if sizes[part] >= 2]
    return min(movable, key=lambda speaker: (max(low - hashes[speaker],
                                                 hashes[speaker] - high, 0.0), speaker))


def speaker_kfold(clips: Iterable[Clip], k: int | None = None, *,
                  folds: Sequence[Sequence[str]] | None = None, salt: str = DEFAULT_SALT,
                  val_fraction: float = 0.15,
                  val_corpora: Sequence[str] | None = None,
                  val_by_corpus: bool = False) -> list[Split]:
    """Leave-speakers-out cross-validation: one Split per test fold.

    Without ``folds``, speakers are sorted by :func:`speaker_hash` and dealt
    round-robin into ``k`` folds (sizes differ by at most one). ``folds``
    gives the test folds explicitly as speaker ids (e.g. RAVDESS actors in
    fours); speakers in no fold are always in training. In each split the
    validation speakers are the ``val_fraction`` of the training speakers
    (rounded to nearest, at least one when the fraction is positive) that
    come first by a second stable hash, so a test fold never chooses a model.
    ``val_corpora`` limits validation to speakers of those corpora (e.g. keep
    TESS, two speakers and trivially separable, always in training).
    ``val_by_corpus`` takes the fraction of each corpus's training speakers
    separately (at least one of each), so a small corpus is not left
    without validation speakers by the draw.

    Raises:
        DataError: k outside [2, speakers], ``k`` disagreeing with
            ``len(folds)``, unknown or repeated speakers in ``folds``, or too
            few training speakers to hold out validation.
    """
    _check_fractions(val_fraction, 0.0)
    groups = _by_speaker(clips)
    test_folds = _test_folds(groups, k, folds, salt)
    splits = []
    for index, test_speakers in enumerate(test_folds):
        training = [speaker for speaker in groups if speaker not in test_speakers]
        validation = _fold_validation(training, val_fraction=val_fraction,
                                      val_corpora=val_corpora, val_by_corpus=val_by_corpus,
                                      salt=salt)
        part_of = {speaker: "test" if speaker in test_speakers
                   else "val" if speaker in validation else "train" for speaker in groups}
        settings = {"method": "speaker_kfold", "fold": index + 1, "folds": len(test_folds),
                    "explicit_folds": folds is not None, "val_fraction": val_fraction,
                    "val_corpora": list(val_corpora) if val_corpora is not None else None,
                    "val_by_corpus": val_by_corpus, "salt": salt}
        splits.append(_assemble(f"fold{index + 1}-of-{len(test_folds)}", groups, part_of,
                                settings))
    return splits


def _test_folds(groups: Mapping[str, list[Clip]], k: int | None,
                folds: Sequence[Sequence[str]] | None, salt: str) -> list[set[str]]:
    """The test speakers of each fold: dealt by hash, or as ``folds`` names them."""
    if folds is None:
        return _dealt_folds(groups, k, salt)
    if k is not None and k != len(folds):
        raise DataError(f"kfold: k={k} but {len(folds)} folds were given")
    return _explicit_folds(groups, folds)


def _fold_validation(training: Sequence[str], *, val_fraction: float,
                     val_corpora: Sequence[str] | None, val_by_corpus: bool,
                     salt: str) -> set[str]:
    """The validation speakers drawn from one fold's ``training`` speakers."""
    candidates = [speaker for speaker in training
                  if val_corpora is None or _corpus_of(speaker) in val_corpora]
    if val_corpora is not None and not candidates:
        raise DataError(f"kfold: no training speaker of {', '.join(val_corpora)} "
                        "is left for validation")
    if val_by_corpus:
        return _validation_by_corpus(candidates, val_fraction, salt)
    return _validation_speakers(candidates, val_fraction, salt)


def _dealt_folds(groups: Mapping[str, list[Clip]], k: int | None, salt: str) -> list[set[str]]:
    if (k is None or isinstance(k, bool) or not isinstance(k, (int, np.integer))
            or not 2 <= k <= len(groups)):
        raise DataError(f"kfold: k must be an integer from 2 to the number of speakers "
                        f"({len(groups)}), got {k}")
    ranked = sorted(groups, key=lambda speaker: (speaker_hash(speaker, salt), speaker))
    return [set(ranked[fold::k]) for fold in range(k)]


def _explicit_folds(groups: Mapping[str, list[Clip]],
                    folds: Sequence[Sequence[str]]) -> list[set[str]]:
    if not folds:
        raise DataError("kfold: folds is empty")
    seen: set[str] = set()
    for number, fold in enumerate(folds, start=1):
        if isinstance(fold, str) or not fold:
            raise DataError(f"kfold: fold {number} must be a non-empty list of speaker ids")
        for speaker in fold:
            if speaker not in groups:
                raise DataError(f"kfold: fold {number} names unknown speaker {speaker!r}")
            if speaker in seen:
                raise DataError(f"kfold: speaker {speaker!r} is in more than one fold")
            seen.add(speaker)
    return [set(fold) for fold in folds]


def _corpus_of(speaker: str) -> str:
    """The corpus part of a ``"<corpus>:<id>"`` speaker id."""
    return speaker.split(":", 1)[0]


def _validation_by_corpus(training: list[str], fraction: float, salt: str) -> set[str]:
    validation: set[str] = set()
    for corpus in sorted({_corpus_of(speaker) for speaker in training}):
        try:
            validation |= _validation_speakers(
                [s for s in training if _corpus_of(s) == corpus], fraction, salt)
        except DataError as error:
            raise DataError(f"{corpus}: {error}") from None
    return validation


def _validation_speakers(training: list[str], fraction: float, salt: str) -> set[str]:
    if not training:
        raise DataError("kfold: a test fold holds every speaker, leaving none to train on")
    if fraction == 0.0:
        count = 0
    else:
        count = min(max(1, int(fraction * len(training) + 0.5)), len(training) - 1)
        if count < 1:
            raise DataError(f"kfold: {len(training)} training speaker(s) cannot spare one for "
                            "validation; use val_fraction=0 or more speakers")
    # A second salt, so validation speakers are not the ones the fold
    # dealing happened to rank first.
    ranked = sorted(training, key=lambda speaker: (speaker_hash(speaker, salt + ":val"), speaker))
    return set(ranked[:count])


def random_split(clips: Iterable[Clip], *, val_fraction: float = 0.15,
                 test_fraction: float = 0.15, seed: int = 0,
                 allow_speaker_overlap: bool = False) -> Split:
    """A clip-level random split, for comparison with published numbers only.

    Clips are put in a canonical order and shuffled by numpy's PCG64 with
    ``seed``; the first round(test_fraction · n) go to test, the next
    round(val_fraction · n) to validation. Speakers leak across parts, so
    the Split carries :data:`RANDOM_SPLIT_WARNING`.

    Raises:
        DataError: unless ``allow_speaker_overlap`` is True; bad fractions; no
            clip left for training.
    """
    if not allow_speaker_overlap:
        raise DataError("split: a random split puts the same speakers in train and test, so "
                        "accuracy is optimistic; pass allow_speaker_overlap=True "
                        "(--allow-speaker-overlap) to accept that")
    _check_fractions(val_fraction, test_fraction)
    ordered = _ordered(clips)
    order = np.random.default_rng(seed).permutation(len(ordered))
    n_test = round(test_fraction * len(ordered))
    n_val = round(val_fraction * len(ordered))
    if n_test + n_val >= len(ordered):
        raise DataError(f"split: {len(ordered)} clips leave none for training")
    parts = {"test": order[:n_test], "val": order[n_test:n_test + n_val],
             "train": order[n_test + n_val:]}
    settings = {"method": "random_split", "val_fraction": val_fraction,
                "test_fraction": test_fraction, "seed": seed}
    return Split(name="random", warning=RANDOM_SPLIT_WARNING,
                 settings=MappingProxyType(settings),
                 **{part: _ordered(ordered[i] for i in indices)
                    for part, indices in parts.items()})
