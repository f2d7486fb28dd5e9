"""Training data sources: the emotional-speech corpora, folders, manifests, pickles.

Every source becomes a list of :class:`Clip` with a label from
:data:`CANONICAL_LABELS` and a globally unique speaker id
(``"<corpus>:<id>"``), so speaker-independent splits work across corpora.
Labels and speakers are parsed from each corpus's own file naming; a name
that does not follow it is an error naming the file, never a silent skip.
Files the task does not use (RAVDESS songs) are skipped and counted in the
list's ``notes``.

No audio is decoded here except for pickle sources, whose audio only exists
in memory; TensorFlow is never imported.
"""

from __future__ import annotations

import csv
import logging
import math
import os
import pathlib
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

import numpy as np

log = logging.getLogger("emoedge.train.data")

CANONICAL_LABELS = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust",
                    "surprised", "boredom")

# The frontend's rate; in-memory (pickle) audio is converted to it once, at load.
PCM_RATE_HZ = 16000

# Extensions looked for in every source: the shared corpora are FLAC, the
# original downloads WAV; compared case-insensitively.
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")

# RAVDESS README, "File naming convention": emotion field EE of
# MM-VC-EE-II-SS-RR-AA.
RAVDESS_EMOTIONS = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry",
                    "06": "fearful", "07": "disgust", "08": "surprised"}
RAVDESS_INTENSITY = {"01": "normal", "02": "strong"}

# TESS (Dupuis & Pichora-Fuller): last part of <speaker>_<word>_<emotion>;
# "ps" is pleasant surprise.
TESS_EMOTIONS = {"angry": "angry", "disgust": "disgust", "fear": "fearful", "happy": "happy",
                 "neutral": "neutral", "ps": "surprised", "sad": "sad"}
# One original file is named OA_bite_neutral; the speaker is OAF.
TESS_SPEAKER_TYPOS = {"OA": "OAF"}

# EMO-DB (Burkhardt et al. 2005): letter E of SSTTTEV, German initials:
# W Wut, L Langeweile, E Ekel, A Angst, F Freude, T Trauer, N neutral.
EMODB_EMOTIONS = {"W": "angry", "L": "boredom", "E": "disgust", "A": "fearful", "F": "happy",
                  "T": "sad", "N": "neutral"}

# SAVEE (Haq & Jackson): prefix of the sentence code in DC_a01.wav.
SAVEE_EMOTIONS = {"a": "angry", "d": "disgust", "f": "fearful", "h": "happy", "n": "neutral",
                  "sa": "sad", "su": "surprised"}
SAVEE_SPEAKERS = ("DC", "JE", "JK", "KL")

# CREMA-D README: third field of ActorID_Sentence_Emotion_Level; level XX is
# "unspecified".
CREMAD_EMOTIONS = {"ANG": "angry", "DIS": "disgust", "FEA": "fearful", "HAP": "happy",
                   "NEU": "neutral", "SAD": "sad"}
CREMAD_INTENSITY = {"LO": "low", "MD": "medium", "HI": "high", "XX": "unspecified"}

# Label names people use for folders and manifests, beyond the canonical ones.
LABEL_ALIASES = {"anger": "angry", "fear": "fearful", "afraid": "fearful",
                 "happiness": "happy", "joy": "happy", "sadness": "sad",
                 "surprise": "surprised", "ps": "surprised", "pleasant_surprise": "surprised",
                 "pleasant_surprised": "surprised", "disgusted": "disgust", "bored": "boredom",
                 "neu": "neutral"}


class DataError(ValueError):
    """A data source that cannot be loaded; the message is one line."""


@dataclass(frozen=True, kw_only=True)
class Clip:
    """One recording with its labels.

    Attributes:
        path: audio file, or "" for in-memory audio (see ``pcm``).
        label: one of :data:`CANONICAL_LABELS`, or "" for a regression-only
            clip (then ``valence`` or ``arousal`` is set).
        speaker: globally unique speaker id, ``"<corpus>:<id>"``.
        corpus: source name ("ravdess", "tess", "emodb", "savee", "cremad",
            "folders", "manifest", "pickle").
        valence, arousal: dimensional labels when the source has them.
        intensity: the corpus's intensity level ("normal", "strong", "low", ...).
        sentence: the corpus's sentence or word id (for text-independent checks).
        pcm: mono int16 samples at 16 kHz, shape (n,), for pickle sources only;
            left out of equality, hashing and repr.
    """

    path: str
    label: str
    speaker: str
    corpus: str
    valence: float | None = None
    arousal: float | None = None
    intensity: str | None = None
    sentence: str | None = None
    pcm: np.ndarray | None = field(default=None, compare=False, hash=False, repr=False)

    def __post_init__(self):
        if self.label and self.label not in CANONICAL_LABELS:
            raise DataError(f"label {self.label!r} is not one of {', '.join(CANONICAL_LABELS)}")
        if not self.label and self.valence is None and self.arousal is None:
            raise DataError(f"clip {self.path or self.speaker!r} has neither a label "
                            "nor valence/arousal")
        if not self.speaker or not self.corpus:
            raise DataError(f"clip {self.path!r} has no speaker or corpus")


class ClipList(list):
    """A list of clips that also carries ``notes``: what loading skipped, merged
    or warned about, one line each, for the run directory's data summary."""

    def __init__(self, clips: Iterable[Clip] = (), notes: Iterable[str] = ()):
        super().__init__(clips)
        self.notes: tuple[str, ...] = tuple(notes)


def canonical_label(name: str) -> str | None:
    """A label name (any case, spaces or dashes) to its canonical form, or None."""
    key = re.sub(r"[\s\-]+", "_", name.strip().lower())
    if key in CANONICAL_LABELS:
        return key
    return LABEL_ALIASES.get(key)


# --- file walking -------------------------------------------------------------

def _audio_files(root: pathlib.Path) -> list[pathlib.Path]:
    """Audio files under ``root``, sorted; hidden files are skipped because
    macOS copies leave ``._name.wav`` metadata files beside the real ones."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [pathlib.Path(folder, name) for name in sorted(files)
                  if not name.startswith(".") and name.lower().endswith(AUDIO_SUFFIXES)]
    return found


def _folder(root: str | os.PathLike, corpus: str) -> pathlib.Path:
    path = pathlib.Path(root)
    if not path.is_dir():
        raise DataError(f"{corpus}: {path} is not a folder")
    return path


def _note(notes: list[str], text: str, *, warning: bool = False) -> None:
    notes.append(text)
    (log.warning if warning else log.info)("%s", text)


# Parsers take an audio file's path and return a Clip, or a reason string for
# a file the task does not use; a name that breaks the corpus's naming raises.
Parser = Callable[[pathlib.Path], "Clip | str"]


def _load_corpus(root: str | os.PathLike, corpus: str, parse: Parser) -> ClipList:
    folder = _folder(root, corpus)
    clips, skipped = [], Counter()
    for path in _audio_files(folder):
        result = parse(path)
        if isinstance(result, str):
            skipped[result] += 1
        else:
            clips.append(result)
    notes: list[str] = []
    for reason, count in sorted(skipped.items()):
        _note(notes, f"{corpus}: skipped {count} file{'s' * (count != 1)}: {reason}")
    if not clips:
        raise DataError(f"{corpus}: no usable {'/'.join(AUDIO_SUFFIXES)} files under {folder}")
    return ClipList(clips, notes)


def _bad_name(corpus: str, path: pathlib.Path, expected: str) -> DataError:
    return DataError(f"{corpus}: {path} does not follow the corpus naming {expected}")


# --- the corpora --------------------------------------------------------------

_RAVDESS_NAME = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")


def _parse_ravdess(path: pathlib.Path) -> Clip | str:
    match = _RAVDESS_NAME.match(path.stem)
    if not match:
        raise _bad_name("ravdess", path, "MM-VC-EE-II-SS-RR-AA")
    modality, channel, emotion, intensity, statement, _repetition, actor = match.groups()
    # Modalities 01 (audio-video) and 02 (video-only) are the .mp4 files.
    if modality != "03":
        return f"not audio-only (modality {modality})"
    if channel == "02":
        return "song (vocal channel 02)"
    if channel != "01" or emotion not in RAVDESS_EMOTIONS or intensity not in RAVDESS_INTENSITY:
        raise _bad_name("ravdess", path, "MM-VC-EE-II-SS-RR-AA (unknown code)")
    return Clip(path=str(path), label=RAVDESS_EMOTIONS[emotion], speaker=f"ravdess:{actor}",
                corpus="ravdess", intensity=RAVDESS_INTENSITY[intensity], sentence=statement)


def load_ravdess(root: str | os.PathLike) -> ClipList:
    """RAVDESS speech, audio-only (``Actor_AA/MM-VC-EE-II-SS-RR-AA.wav|flac``).

    Speakers are the actors (``"ravdess:01"``); songs are skipped and counted
    in ``notes``.
    """
    return _load_corpus(root, "ravdess", _parse_ravdess)


def _parse_tess(path: pathlib.Path) -> Clip:
    parts = path.stem.split("_")
    if len(parts) != 3 or parts[2].lower() not in TESS_EMOTIONS:
        raise _bad_name("tess", path, "<speaker>_<word>_<emotion>")
    speaker, word, emotion = parts
    speaker = TESS_SPEAKER_TYPOS.get(speaker.upper(), speaker.upper())
    return Clip(path=str(path), label=TESS_EMOTIONS[emotion.lower()], speaker=f"tess:{speaker}",
                corpus="tess", sentence=word.lower())


def load_tess(root: str | os.PathLike) -> ClipList:
    """TESS (``<folder>/<speaker>_<word>_<emotion>.wav|flac``); speakers OAF, YAF."""
    return _load_corpus(root, "tess", _parse_tess)


_EMODB_NAME = re.compile(r"^(\d\d)([ab]\d\d)([A-Z])([a-z])$")


def _parse_emodb(path: pathlib.Path) -> Clip:
    match = _EMODB_NAME.match(path.stem)
    if not match or match.group(3) not in EMODB_EMOTIONS:
        raise _bad_name("emodb", path, "SSTTTEV (e.g. 03a01Fa)")
    speaker, text, emotion, _version = match.groups()
    return Clip(path=str(path), label=EMODB_EMOTIONS[emotion], speaker=f"emodb:{speaker}",
                corpus="emodb", sentence=text)


def load_emodb(root: str | os.PathLike) -> ClipList:
    """EMO-DB (Berlin) ``SSTTTEV.wav|flac``; speakers are the two-digit ids."""
    return _load_corpus(root, "emodb", _parse_emodb)


_SAVEE_NAME = re.compile(r"^(?:([A-Za-z]{2})_)?(a|d|f|h|n|sa|su)(\d\d)$")


def _parse_savee(path: pathlib.Path) -> Clip:
    match = _SAVEE_NAME.match(path.stem)
    if not match:
        raise _bad_name("savee", path, "DC_a01 or DC/a01")
    prefix, emotion, number = match.groups()
    # Two layouts: flat DC_a01.wav, or AudioData/DC/a01.wav.
    speaker = (prefix or path.parent.name).upper()
    if speaker not in SAVEE_SPEAKERS:
        raise DataError(f"savee: cannot tell the speaker of {path} "
                        f"(expected one of {', '.join(SAVEE_SPEAKERS)})")
    return Clip(path=str(path), label=SAVEE_EMOTIONS[emotion], speaker=f"savee:{speaker}",
                corpus="savee", sentence=f"{emotion}{number}")


def load_savee(root: str | os.PathLike) -> ClipList:
    """SAVEE, flat ``DC_a01.wav`` or per-speaker ``DC/a01.wav``; speakers DC, JE, JK, KL."""
    return _load_corpus(root, "savee", _parse_savee)


_CREMAD_NAME = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})$")


def _parse_cremad(path: pathlib.Path) -> Clip:
    match = _CREMAD_NAME.match(path.stem)
    if (not match or match.group(3) not in CREMAD_EMOTIONS
            or match.group(4) not in CREMAD_INTENSITY):
        raise _bad_name("cremad", path, "ActorID_Sentence_Emotion_Level (e.g. 1001_DFA_ANG_XX)")
    actor, sentence, emotion, level = match.groups()
    return Clip(path=str(path), label=CREMAD_EMOTIONS[emotion], speaker=f"cremad:{actor}",
                corpus="cremad", intensity=CREMAD_INTENSITY[level], sentence=sentence)


def load_cremad(root: str | os.PathLike) -> ClipList:
    """CREMA-D ``1001_DFA_ANG_XX.wav``; speakers are the actor ids."""
    return _load_corpus(root, "cremad", _parse_cremad)


# --- generic layouts ----------------------------------------------------------

FILE_LEVEL_SPEAKERS = ("{source}: no speaker information, so each file is its own speaker and "
                       "speaker-independent splits are only file-level (a speaker's other "
                       "clips can land in test)")


def load_folders(root: str | os.PathLike) -> ClipList:
    """Folder-per-label layout ``root/<label>/**/*.wav|flac|ogg``.

    Label folders may use aliases (anger, fear, happiness, sadness, surprise,
    ...). Speakers are unknown, so each file is its own speaker
    (``"folders:<label>/<name>"``, its path under ``root`` without the
    extension); ``notes`` carries that warning.
    """
    folder = _folder(root, "folders")
    clips = []
    for path in _audio_files(folder):
        relative = path.relative_to(folder)
        if len(relative.parts) < 2:
            raise DataError(f"folders: {path} is not inside a label folder")
        label = canonical_label(relative.parts[0])
        if label is None:
            raise DataError(f"folders: unknown label folder {relative.parts[0]!r} in {folder} "
                            f"(labels: {', '.join(CANONICAL_LABELS)})")
        speaker = relative.with_suffix("").as_posix()
        clips.append(Clip(path=str(path), label=label, speaker=f"folders:{speaker}",
                          corpus="folders"))
    if not clips:
        raise DataError(f"folders: no {'/'.join(AUDIO_SUFFIXES)} files under {folder}")
    notes: list[str] = []
    _note(notes, FILE_LEVEL_SPEAKERS.format(source="folders"), warning=True)
    return ClipList(clips, notes)


MANIFEST_COLUMNS = ("path", "label", "speaker", "valence", "arousal")


def load_manifest(csv_path: str | os.PathLike) -> ClipList:
    """A CSV with columns ``path,label[,speaker][,valence][,arousal]``.

    Relative paths resolve against the CSV's folder. ``label`` may be empty
    when valence or arousal is given (regression-only rows). Without a
    ``speaker`` value a row is its own speaker, with a warning in ``notes``.
    Errors name the CSV line.
    """
    csv_path = pathlib.Path(csv_path)
    try:
        handle = open(csv_path, newline="", encoding="utf-8-sig")
    except OSError as error:
        raise DataError(f"manifest: cannot read {csv_path} ({error.strerror})") from None
    with handle:
        reader = csv.DictReader(handle)
        _check_manifest_header(csv_path, reader.fieldnames)
        clips = [_manifest_clip(csv_path, reader.line_num, row) for row in reader]
    if not clips:
        raise DataError(f"manifest: {csv_path} has no rows")
    notes: list[str] = []
    unnamed = sum(clip.speaker.startswith("manifest:file:") for clip in clips)
    if unnamed:
        _note(notes, FILE_LEVEL_SPEAKERS.format(source=f"manifest: {unnamed} rows"), warning=True)
    return ClipList(clips, notes)


def _check_manifest_header(csv_path: pathlib.Path, columns: list[str] | None) -> None:
    columns = [name.strip() for name in columns or []]
    unknown = [name for name in columns if name not in MANIFEST_COLUMNS]
    if unknown:
        raise DataError(f"manifest: {csv_path} line 1: unknown column {unknown[0]!r} "
                        f"(columns: {', '.join(MANIFEST_COLUMNS)})")
    if "path" not in columns or "label" not in columns:
        raise DataError(f"manifest: {csv_path} line 1: the header needs columns path and label")


def _manifest_clip(csv_path: pathlib.Path, line: int, row: Mapping[str, str | None]) -> Clip:
    where = f"manifest: {csv_path} line {line}"
    cells = {key.strip(): (value or "").strip() for key, value in row.items() if key}
    if None in row:
        raise DataError(f"{where}: more cells than columns")
    if not cells.get("path"):
        raise DataError(f"{where}: empty path")
    path = pathlib.Path(cells["path"])
    if not path.is_absolute():
        path = csv_path.parent / path
    if not path.is_file():
        raise DataError(f"{where}: audio file {path} not found")
    label = ""
    if cells.get("label"):
        label = canonical_label(cells["label"]) or ""
        if not label:
            raise DataError(f"{where}: unknown label {cells['label']!r}")
    valence = _manifest_number(where, "valence", cells.get("valence", ""))
    arousal = _manifest_number(where, "arousal", cells.get("arousal", ""))
    if not label and valence is None and arousal is None:
        raise DataError(f"{where}: no label and no valence/arousal")
    speaker = cells.get("speaker") or f"file:{cells['path']}"
    return Clip(path=str(path), label=label, speaker=f"manifest:{speaker}", corpus="manifest",
                valence=valence, arousal=arousal)


def _manifest_number(where: str, column: str, text: str) -> float | None:
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{where}: {column} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise DataError(f"{where}: {column} {text!r} is not finite")
    return value


# --- pickles ------------------------------------------------------------------

PICKLE_REFUSAL = ("pickle: {path}: unpickling runs arbitrary code from the file; pass "
                  "--trust-pickle (trust_pickle=True) only for files you trust")


def load_pickle(path: str | os.PathLike, *, trust_pickle: bool) -> ClipList:
    """A pickled list of records (or a dict whose ``"data"`` is that list).

    Each record is a dict: ``audio`` (1-D float in [-1, 1) or int16 array),
    ``sample_rate`` (Hz, default 16000), ``valence`` (float), and optional
    ``arousal``, ``speaker`` and ``label``; a record needs a label or
    valence/arousal. Audio is converted once to mono int16 at 16 kHz
    (``Clip.pcm``). Records without a speaker are their own speaker (warned
    in ``notes``).

    Raises:
        DataError: unless ``trust_pickle`` is True, before the file is opened,
            because unpickling can run any code; also for malformed records.
    """
    if not trust_pickle:
        raise DataError(PICKLE_REFUSAL.format(path=path))
    import pickle

    try:
        with open(path, "rb") as handle:
            data = pickle.load(handle)
    except OSError as error:
        raise DataError(f"pickle: cannot read {path} ({error.strerror})") from None
    except Exception as error:  # a corrupt pickle can raise almost anything
        raise DataError(f"pickle: {path} is not a readable pickle "
                        f"({type(error).__name__}: {error})") from None
    records = data.get("data") if isinstance(data, dict) else data
    if not isinstance(records, (list, tuple)) or not records:
        raise DataError(f"pickle: {path} holds no list of records (a list, or a dict with key "
                        "'data')")
    clips = [_pickle_clip(path, index, record) for index, record in enumerate(records)]
    notes: list[str] = []
    unnamed = sum(clip.speaker.startswith("pickle:record:") for clip in clips)
    if unnamed:
        _note(notes, FILE_LEVEL_SPEAKERS.format(source=f"pickle: {unnamed} records"),
              warning=True)
    return ClipList(clips, notes)


def _pickle_clip(path, index: int, record) -> Clip:
    from emoedge.audio import AudioError, to_model_pcm

    where = f"pickle: {path} record {index}"
    if not isinstance(record, dict) or "audio" not in record:
        raise DataError(f"{where}: expected a dict with key 'audio'")
    audio = np.asarray(record["audio"])
    if audio.ndim != 1 or audio.dtype.kind not in "iuf" or not len(audio):
        raise DataError(f"{where}: audio must be a non-empty 1-D int16 or float array, "
                        f"got {audio.dtype} {audio.shape}")
    rate = record.get("sample_rate", PCM_RATE_HZ)
    if (isinstance(rate, bool) or not isinstance(rate, (int, float, np.number))
            or not rate > 0 or not float(rate).is_integer()):
        raise DataError(f"{where}: sample_rate must be a positive integer (Hz), got {rate!r}")
    try:
        pcm = to_model_pcm(audio, int(rate), PCM_RATE_HZ)
    except AudioError as error:
        raise DataError(f"{where}: {error}") from None
    label = ""
    if record.get("label"):
        label = canonical_label(str(record["label"])) or ""
        if not label:
            raise DataError(f"{where}: unknown label {record['label']!r}")
    valence = _pickle_number(where, record, "valence")
    arousal = _pickle_number(where, record, "arousal")
    if not label and valence is None and arousal is None:
        raise DataError(f"{where}: no label and no valence/arousal")
    speaker = str(record.get("speaker") or f"record:{index}")
    return Clip(path="", label=label, speaker=f"pickle:{speaker}", corpus="pickle",
                valence=valence, arousal=arousal, pcm=pcm)


def _pickle_number(where: str, record: dict, key: str) -> float | None:
    if record.get(key) is None:
        return None
    try:
        value = float(record[key])
    except (TypeError, ValueError):
        raise DataError(f"{where}: {key} {record[key]!r} is not a number") from None
    if not math.isfinite(value):
        raise DataError(f"{where}: {key} is not finite")
    return value


# --- dispatch -----------------------------------------------------------------

LOADERS: dict[str, Callable[[str], ClipList]] = {
    "ravdess": load_ravdess, "tess": load_tess, "emodb": load_emodb, "savee": load_savee,
    "cremad": load_cremad, "folders": load_folders, "manifest": load_manifest,
}
SOURCE_KINDS = (*LOADERS, "pickle")


def load_source(spec: str, *, trust_pickle: bool = False) -> ClipList:
    """Load ``"<kind>:<path>"``, e.g. ``"ravdess:/data/RAVDESS"``, ``"pickle:set.pkl"``.

    Kinds: ravdess, tess, emodb, savee, cremad, folders, manifest, pickle.
    ``trust_pickle`` is passed to :func:`load_pickle`.
    """
    kind, separator, path = spec.partition(":")
    kind = kind.strip().lower()
    if not separator or kind not in SOURCE_KINDS or not path:
        raise DataError(f"data source {spec!r} is not <kind>:<path> with kind one of "
                        f"{', '.join(SOURCE_KINDS)}")
    if kind == "pickle":
        return load_pickle(path, trust_pickle=trust_pickle)
    return LOADERS[kind](path)


def load_sources(specs: Iterable[str], *, trust_pickle: bool = False) -> ClipList:
    """Several :func:`load_source` specs, concatenated; notes are kept in order."""
    clips, notes = [], []
    for spec in specs:
        loaded = load_source(spec, trust_pickle=trust_pickle)
        clips += loaded
        notes += loaded.notes
    if not clips:
        raise DataError("no data sources given")
    return ClipList(clips, notes)


def summarise(clips: Iterable[Clip]) -> dict:
    """Counts for the run directory's data summary.

    Returns:
        ``{"clips": n, "corpora": {corpus: n}, "labels": {label: n},
        "speakers": {speaker: n}, "labels_by_corpus": {corpus: {label: n}},
        "notes": [...]}``; labels in canonical order ("" for regression-only
        clips last), corpora and speakers sorted; notes from a :class:`ClipList`.
    """
    clips = list(clips) if not isinstance(clips, list) else clips
    order = {label: index for index, label in enumerate(CANONICAL_LABELS)}

    def by_label(counts: Counter) -> dict[str, int]:
        return dict(sorted(counts.items(), key=lambda item: order.get(item[0], len(order))))

    per_corpus: dict[str, Counter] = {}
    for clip in clips:
        per_corpus.setdefault(clip.corpus, Counter())[clip.label] += 1
    return {
        "clips": len(clips),
        "corpora": dict(sorted(Counter(clip.corpus for clip in clips).items())),
        "labels": by_label(Counter(clip.label for clip in clips)),
        "speakers": dict(sorted(Counter(clip.speaker for clip in clips).items())),
        "labels_by_corpus": {corpus: by_label(counts)
                             for corpus, counts in sorted(per_corpus.items())},
        "notes": list(getattr(clips, "notes", ())),
    }
