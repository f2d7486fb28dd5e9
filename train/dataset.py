"""From cached clip features to training batches and evaluation windows.

Evaluation cuts each clip exactly as the device runtime does (same windows,
same hop, the same padding of short clips, see
:mod:`emoedge.windows`), so a run's clip-level metrics describe what
``emoedge score`` will do. Training takes one random window per clip per
epoch, from the original audio or one of its augmented copies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from emoedge.windows import FrameWindower, pad_to_window

from .augment import AugmentConfig, spec_augment


@dataclass(frozen=True)
class ClipFeatures:
    """One clip's features: the original and its augmented copies.

    ``target`` is a label index (classification) or a float vector (regression);
    ``weight`` combines class and corpus balancing (mean 1 over the set).
    """

    key: str
    variants: tuple[np.ndarray, ...]  # uint16 (frames, channels) each
    target: object
    weight: float = 1.0


def evaluation_windows(features: np.ndarray, window_frames: int, hop_frames: int,
                       padding: str) -> np.ndarray:
    """The runtime's windows of one clip (a short clip padded by ``padding``).

    ``padding`` has no default: it must be the run's, the one its model file
    records, or clip metrics would describe a device that pads differently.

    Returns:
        uint16 array (windows, window_frames, channels); at least one window
        when the clip has a frame.
    """
    windower = FrameWindower(window_frames=window_frames, hop_frames=hop_frames,
                             num_channels=features.shape[1], padding=padding)
    windows = [w for _, w in windower.push(features)]
    padded = windower.pad_remaining()
    if padded is not None:
        windows.append(padded[1])
    return np.stack(windows) if windows else np.zeros((0, window_frames, features.shape[1]),
                                                      dtype=np.uint16)


def random_window(features: np.ndarray, window_frames: int, rng: np.random.Generator,
                  padding: str) -> np.ndarray:
    """A random full window, or the whole clip padded by ``padding``."""
    if len(features) <= window_frames:
        return pad_to_window(features, window_frames, padding)
    start = int(rng.integers(0, len(features) - window_frames + 1))
    return features[start:start + window_frames]


# Where class balancing equalises classes: over the pooled clips of all
# corpora, or within each corpus.
CLASS_BALANCES = ("pooled", "per-corpus")


def balancing_weights(labels: Sequence[str], corpora: Sequence[str], *, by_class: bool,
                      by_corpus: bool, corpus_weights: Mapping[str, float] | None = None,
                      class_balance: str = "pooled") -> np.ndarray:
    """Per-clip weights, shape (clips,), mean 1: classes and/or corpora
    balanced, then each clip of a corpus named in ``corpus_weights`` scaled
    by its weight (unnamed corpora 1.0).

    ``class_balance="pooled"`` multiplies a class factor (inverse class count
    over all clips) by a corpus factor (inverse corpus count). A class that
    only one corpus has, such as RAVDESS's calm, is rare in the pool, so it
    takes a large share of its corpus's weight and the corpora's shares
    drift from equal. ``"per-corpus"`` fixes each corpus's share first
    (equal with ``by_corpus``, else its share of the clips) and splits it
    equally among the classes that corpus has.

    Corpus balancing matters: TESS alone is two thirds of the clips of the
    three corpora and trivially separable.
    """
    labels, corpora = np.asarray(labels), np.asarray(corpora)
    if by_class and class_balance == "per-corpus":
        weights = _per_corpus_class_weights(labels, corpora, by_corpus=by_corpus)
    else:
        weights = np.ones(len(labels))
        for enabled, groups in ((by_class, labels), (by_corpus, corpora)):
            if enabled:
                weights *= _inverse_count(groups)
    if corpus_weights:
        weights *= np.array([corpus_weights.get(corpus, 1.0) for corpus in corpora])
    return weights / weights.mean() if len(weights) else weights


def _inverse_count(groups: np.ndarray) -> np.ndarray:
    """Per item, (items / (groups * items in its group)): each group's total 1/groups of items."""
    values, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    return (len(groups) / (len(values) * counts))[inverse]


def _per_corpus_class_weights(labels: np.ndarray, corpora: np.ndarray, *,
                              by_corpus: bool) -> np.ndarray:
    """Per clip: its corpus's share, over (classes in that corpus * clips of its class there)."""
    weights = np.zeros(len(labels))
    names = np.unique(corpora)
    for corpus in names:
        members = corpora == corpus
        share = 1.0 / len(names) if by_corpus else members.mean()
        weights[members] = share * _inverse_count(labels[members]) / members.sum()
    return weights


def training_batches(clips: Sequence[ClipFeatures], *, window_frames: int, batch_size: int,
                     augment: AugmentConfig, seed: int, epoch: int, regression: bool,
                     padding: str):
    """One epoch of batches: (x float32 (b, frames, ch, 1), y, sample weights).

    Deterministic in (seed, epoch): the same run gives the same batches.
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(clips))
    for start in range(0, len(order), batch_size):
        chosen = [clips[i] for i in order[start:start + batch_size]]
        windows = []
        for clip in chosen:
            variant = clip.variants[int(rng.integers(0, len(clip.variants)))]
            window = random_window(variant, window_frames, rng, padding)
            if augment.time_masks or augment.freq_masks:
                window = spec_augment(window, augment, rng)
            windows.append(window)
        x = np.stack(windows).astype(np.float32)[..., None]
        dtype = np.float32 if regression else np.int64
        y = np.asarray([clip.target for clip in chosen], dtype=dtype)
        weights = np.asarray([clip.weight for clip in chosen], dtype=np.float32)
        yield x, y, weights


def mixup_batches(batches, *, alpha: float, rng: np.random.Generator):
    """Mixup (Zhang et al. 2018) over batches of (x, targets, weights).

    Each batch is blended with a shuffled copy of itself by one factor
    lam ~ Beta(alpha, alpha), folded to lam >= 0.5 so the first clip
    dominates. Features are mixed in the log-mel domain the model sees;
    targets (one-hot or values, shape (b, k)) and sample weights follow the
    same blend. alpha <= 0 passes the batches through unchanged.
    """
    for x, targets, weights in batches:
        if alpha <= 0 or len(x) < 2:
            yield x, targets, weights
            continue
        lam = float(rng.beta(alpha, alpha))
        lam = max(lam, 1.0 - lam)
        partner = rng.permutation(len(x))
        yield (lam * x + (1 - lam) * x[partner],
               lam * targets + (1 - lam) * targets[partner],
               lam * weights + (1 - lam) * weights[partner])
