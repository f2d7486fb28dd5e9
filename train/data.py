"""The data layer of ``emoedge train`` in one import: sources, labels, splits.

The code lives in :mod:`emoedge.train.corpora` (loading) and
:mod:`emoedge.train.splits` (label selection and splits).
"""

from emoedge.train.corpora import (AUDIO_SUFFIXES, CANONICAL_LABELS, CREMAD_EMOTIONS,
                                   EMODB_EMOTIONS, LABEL_ALIASES, PCM_RATE_HZ,
                                   RAVDESS_EMOTIONS, SAVEE_EMOTIONS, SOURCE_KINDS,
                                   TESS_EMOTIONS, Clip, ClipList, DataError, canonical_label,
                                   load_cremad, load_emodb, load_folders, load_manifest,
                                   load_pickle, load_ravdess, load_savee, load_source,
                                   load_sources, load_tess, summarise)
from emoedge.train.splits import (DEFAULT_SALT, RANDOM_SPLIT_WARNING, Split,
                                  check_speaker_independent, random_split, select_labels,
                                  speaker_hash, speaker_kfold, speaker_split)

__all__ = [
    "AUDIO_SUFFIXES", "CANONICAL_LABELS", "CREMAD_EMOTIONS", "DEFAULT_SALT", "EMODB_EMOTIONS",
    "LABEL_ALIASES", "PCM_RATE_HZ", "RANDOM_SPLIT_WARNING", "RAVDESS_EMOTIONS",
    "SAVEE_EMOTIONS", "SOURCE_KINDS", "TESS_EMOTIONS", "Clip", "ClipList", "DataError",
    "Split", "canonical_label", "check_speaker_independent", "load_cremad", "load_emodb",
    "load_folders", "load_manifest", "load_pickle", "load_ravdess", "load_savee",
    "load_source", "load_sources", "load_tess", "random_split", "select_labels",
    "speaker_hash", "speaker_kfold", "speaker_split", "summarise",
]
