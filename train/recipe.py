"""Training recipes: a TOML file plus ``--set section.key=value`` overrides.

Sections: ``[data]``, ``[frontend]`` (any :class:`emoedge.FrontendConfig`
field), ``[window]``, ``[model]``, ``[training]`` and ``[augment]`` (any
:class:`emoedge.train.augment.AugmentConfig` field). Every section and key is
checked: a typo is an error, not a silently ignored setting. Source paths
that are not absolute resolve against the data root given at run time
(``--data`` or ``EMOEDGE_DATA``).
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from emoedge.frontend import FrontendConfig
from emoedge.windows import PADDINGS

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

from .augment import AugmentConfig
from .averaging import check_decay
from .dataset import CLASS_BALANCES
from .speaker_norm import OffsetClips


class RecipeError(ValueError):
    """A recipe that cannot be used; the message names the key."""


@dataclass(frozen=True, kw_only=True)
class DataSection:
    """Which clips, which labels, how they are split.

    ``split``: ``speaker`` (one stable speaker-hash split), ``kfold``
    (leave-speakers-out folds) or ``random`` (only with
    ``allow_speaker_overlap``; reported with a warning).
    """

    sources: tuple[str, ...] = ()
    labels: tuple[str, ...] = ("neutral", "calm", "happy", "sad", "angry", "fearful",
                               "disgust", "surprised")
    merge: Mapping[str, str] = field(default_factory=dict)
    split: str = "speaker"
    folds: int = 5
    fold_groups: tuple[tuple[str, ...], ...] = ()
    val_fraction: float = 0.15
    val_corpora: tuple[str, ...] = ()  # kfold: draw validation speakers only from these
    val_by_corpus: bool = False  # kfold: draw val_fraction of each corpus's speakers apart
    test_fraction: float = 0.15
    allow_speaker_overlap: bool = False
    corpus_balance: bool = True
    # Relative weight of each named corpus (others 1.0), applied after the
    # balancing: with corpus_balance on, a corpus's share of the training
    # weight is its weight over the sum of all corpora's weights, exactly
    # when classes are balanced per corpus or not at all (pooled class
    # weights move the shares: see dataset.balancing_weights).
    corpus_weights: Mapping[str, float] = field(default_factory=dict)
    trust_pickle: bool = False

    def __post_init__(self) -> None:
        if self.val_by_corpus and self.split != "kfold":
            raise ValueError(f"val_by_corpus applies to split = \"kfold\" only, "
                             f"not {self.split!r}")
        if not isinstance(self.corpus_weights, Mapping):
            raise ValueError("corpus_weights must be a table of corpus = weight, "
                             f"got {self.corpus_weights!r}")
        for corpus, weight in self.corpus_weights.items():
            if isinstance(weight, bool) or not (isinstance(weight, (int, float))
                                                and math.isfinite(weight) and weight > 0):
                raise ValueError(f"corpus_weights.{corpus} must be a positive number, "
                                 f"got {weight!r}")


@dataclass(frozen=True, kw_only=True)
class WindowSection:
    """Model window and hop, in ms (the hop also paces evaluation windows).

    ``train_window_ms`` > 0 trains on random crops of that length instead of
    whole windows; validation, test and the exported model still take
    ``window_ms`` (the convolutions and global pooling have the same weights
    at any length, and the window-mean step averages whatever length it is
    given). 0 trains on whole windows. ``short_clip_padding`` pads a clip
    shorter than a window, in training and, through the model file, on the
    device (:func:`emoedge.windows.pad_to_window`). Pruning and quantization-aware
    training in ``emoedge quantize`` fine-tune on whole windows.
    """

    window_ms: int = 3000
    hop_ms: int = 1000
    train_window_ms: int = 0
    short_clip_padding: str = "noise-floor"

    def __post_init__(self) -> None:
        if self.short_clip_padding not in PADDINGS:
            raise ValueError(f"short_clip_padding must be one of {', '.join(PADDINGS)}, "
                             f"got {self.short_clip_padding!r}")
        if not 0 <= self.train_window_ms <= self.window_ms:
            raise ValueError(f"train_window_ms must be 0 (whole windows) or at most window_ms "
                             f"({self.window_ms}), got {self.train_window_ms}")


@dataclass(frozen=True, kw_only=True)
class ModelSection:
    """The network and its input. ``speaker_heard_clips`` and
    ``speaker_heard_clips_up_to`` apply to a speaker-shifted ``input_norm``
    (:mod:`emoedge.train.speaker_norm`); with both 0, every training clip is
    shifted by its speaker's mean over all of their clips.
    ``speaker_heard_clips`` n > 0 shifts each by the mean of n other clips of
    its speaker, drawn per clip, so training sees offsets as rough as a
    device's after it has heard n utterances; ``speaker_heard_clips_up_to``
    n > 0 draws that count too, per clip, from 0 (nothing heard) to n, as
    over a device's session from its first utterance on. ``pooling`` is how
    a convolutional model reduces its last feature map
    (:data:`emoedge.train.models.POOLINGS`)."""

    architecture: str = "dscnn"
    width: float = 1.0
    dropout: float = 0.3
    input_norm: str = "global"
    pooling: str = "global-average"
    speaker_heard_clips: int = 0
    speaker_heard_clips_up_to: int = 0

    def __post_init__(self) -> None:
        from .models import SPEAKER_SHIFTED_NORMS, check_pooling

        check_pooling(self.architecture, self.pooling)
        for name in ("speaker_heard_clips", "speaker_heard_clips_up_to"):
            count = getattr(self, name)
            if count < 0:
                raise ValueError(f"{name} must be 0 or more, got {count}")
            if count and self.input_norm not in SPEAKER_SHIFTED_NORMS:
                raise ValueError(f"{name} applies to a speaker-shifted input_norm "
                                 f"({', '.join(SPEAKER_SHIFTED_NORMS)}), "
                                 f"not {self.input_norm!r}")
        if self.speaker_heard_clips and self.speaker_heard_clips_up_to:
            raise ValueError("speaker_heard_clips and speaker_heard_clips_up_to are two ways "
                             "to draw training offsets; give one")

    def training_offset_clips(self) -> OffsetClips:
        """Which clips set a training speaker's offsets, as the recipe asks."""
        if self.speaker_heard_clips_up_to:
            return OffsetClips(heard_clips_up_to=self.speaker_heard_clips_up_to)
        return OffsetClips(heard_clips=self.speaker_heard_clips or None)


@dataclass(frozen=True, kw_only=True)
class TrainingSection:
    """Optimisation. ``min_epochs`` guards early stopping against a noisy
    validation set stopping at epoch 0-5 (measured, see notes).
    ``mixup_alpha`` > 0 blends training batches (see
    :func:`emoedge.train.dataset.mixup_batches`); ``weight_decay`` is
    decoupled from the gradient (AdamW), per step, times the learning rate.
    ``ema_decay_per_epoch`` > 0 scores, selects and ships an exponential
    moving average of the weights, updated once per epoch (see
    :mod:`emoedge.train.averaging`); training itself is unchanged.
    ``class_balance`` says where ``class_weights`` equalises classes (see
    :func:`emoedge.train.dataset.balancing_weights`): ``"pooled"`` over all
    clips, or ``"per-corpus"`` within each corpus.
    ``speaker_adversary_weight`` > 0 trains a classifier of the training
    speakers on the pooled embedding and reverses its gradient into the
    model at up to that weight (see :mod:`emoedge.train.adversary`); the
    exported model is unchanged in shape."""

    task: str = "classification"
    targets: tuple[str, ...] = ("valence", "arousal")
    epochs: int = 30
    min_epochs: int = 8
    patience: int = 8
    batch_size: int = 64
    learning_rate: float = 1e-3
    schedule: str = "cosine"
    label_smoothing: float = 0.0
    mixup_alpha: float = 0.0
    weight_decay: float = 0.0
    ema_decay_per_epoch: float = 0.0
    speaker_adversary_weight: float = 0.0
    class_weights: bool = True
    class_balance: str = "pooled"
    seeds: tuple[int, ...] = (0,)
    mixed_precision: bool = False
    strategy: str = "default"

    def __post_init__(self) -> None:
        check_decay(self.ema_decay_per_epoch, "ema_decay_per_epoch")
        if self.epochs < 1:  # a run with no epoch has no weights to keep
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        self._check_speaker_adversary()
        if self.class_balance not in CLASS_BALANCES:
            raise ValueError(f"class_balance must be one of {', '.join(CLASS_BALANCES)}, "
                             f"got {self.class_balance!r}")


    def _check_speaker_adversary(self) -> None:
        weight = self.speaker_adversary_weight
        if not (math.isfinite(weight) and weight >= 0):
            raise ValueError(f"speaker_adversary_weight must be 0 (off) or positive, got {weight}")
        if weight > 0 and self.task != "classification":
            raise ValueError("speaker_adversary_weight applies to classification only")
        if weight > 0 and self.mixup_alpha > 0:
            # mixup blends two clips' targets; a blend of two speakers' indices means nothing
            raise ValueError("speaker_adversary_weight and mixup_alpha cannot both be on")


@dataclass(frozen=True, kw_only=True)
class ExportSection:
    """What the exported model file says beyond the training itself.

    ``valence_arousal`` maps each label to a point (valence, arousal) in
    [-1, 1]; the runtime reports the probability-weighted point. It is a
    documented mapping, not a measurement.
    """

    valence_arousal: Mapping[str, tuple[float, float]] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Recipe:
    data: DataSection = field(default_factory=DataSection)
    frontend: FrontendConfig = field(default_factory=FrontendConfig)
    window: WindowSection = field(default_factory=WindowSection)
    model: ModelSection = field(default_factory=ModelSection)
    training: TrainingSection = field(default_factory=TrainingSection)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    export: ExportSection = field(default_factory=ExportSection)
    augment_variants: int = 1

    @property
    def output_names(self) -> tuple[str, ...]:
        """What the model's outputs are: the labels, or the regression targets."""
        return self.training.targets if self.training.task == "regression" else self.data.labels

    def to_dict(self) -> dict[str, Any]:
        return _plain(dataclasses.asdict(self))

    def to_toml(self) -> str:
        """The resolved recipe, written back as TOML (for the run directory)."""
        lines = []
        data = self.to_dict()
        top = {k: v for k, v in data.items() if not isinstance(v, dict)}
        for key, value in top.items():
            lines.append(f"{key} = {_toml_value(value)}")
        for section, values in data.items():
            if isinstance(values, dict):
                lines.append(f"\n[{section}]")
                for key, value in values.items():
                    lines.append(f"{key} = {_toml_value(value)}")
        return "\n".join(lines) + "\n"


_SECTIONS = {"data": DataSection, "frontend": FrontendConfig, "window": WindowSection,
             "model": ModelSection, "training": TrainingSection, "augment": AugmentConfig,
             "export": ExportSection}


def load_recipe(path: str | os.PathLike | None, overrides: Sequence[str] = ()) -> Recipe:
    """Read a recipe (None: all defaults) and apply ``section.key=value`` overrides."""
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as handle:
                raw = tomllib.load(handle)
        except OSError as error:
            raise RecipeError(f"cannot read recipe {path}: {error.strerror}") from None
        except tomllib.TOMLDecodeError as error:
            raise RecipeError(f"recipe {path} is not valid TOML: {error}") from None
    for override in overrides:
        section, key, value = _parse_override(override)
        if section is None:
            raw[key] = value
        else:
            raw.setdefault(section, {})[key] = value
    return recipe_from_dict(raw)


def recipe_from_dict(raw: Mapping[str, Any]) -> Recipe:
    sections = {}
    for name, values in raw.items():
        if name == "augment_variants":
            continue
        if name not in _SECTIONS:
            raise RecipeError(f"unknown recipe section [{name}] "
                              f"(known: {', '.join(_SECTIONS)}, augment_variants)")
        if not isinstance(values, Mapping):
            raise RecipeError(f"[{name}] must be a table")
        sections[name] = _build_section(name, _SECTIONS[name], values)
    try:
        return Recipe(**sections, augment_variants=int(raw.get("augment_variants", 1)))
    except (TypeError, ValueError) as error:
        raise RecipeError(f"invalid recipe: {error}") from None


def _build_section(name: str, cls, values: Mapping[str, Any]):
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise RecipeError(f"unknown key(s) in [{name}]: {', '.join(unknown)}")
    converted = {}
    for key, value in values.items():
        default = known[key].default
        if isinstance(default, tuple) or key in ("sources", "labels", "fold_groups", "targets", "seeds", "val_corpora"):
            value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        if key == "valence_arousal":
            value = {label: tuple(float(v) for v in point) for label, point in value.items()}
        converted[key] = value
    try:
        return cls(**converted)
    except (TypeError, ValueError) as error:
        raise RecipeError(f"[{name}]: {error}") from None


def _parse_override(text: str) -> tuple[str | None, str, Any]:
    if "=" not in text:
        raise RecipeError(f"override {text!r} must look like section.key=value")
    dotted, value_text = text.split("=", 1)
    parts = dotted.strip().split(".")
    if len(parts) > 2 or not all(parts):
        raise RecipeError(f"override {text!r}: use section.key=value")
    try:
        value = tomllib.loads(f"v = {value_text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = value_text.strip()  # a bare word: take it as a string
    return (None, parts[0], value) if len(parts) == 1 else (parts[0], parts[1], value)


def resolve_sources(sources: Sequence[str], data_root: str | None) -> list[str]:
    """Make ``kind:relative/path`` specs absolute against the data root."""
    resolved = []
    for spec in sources:
        kind, sep, location = spec.partition(":")
        if not sep:
            raise RecipeError(f"source {spec!r} must look like kind:path")
        if not os.path.isabs(location):
            if not data_root:
                raise RecipeError(f"source {spec!r} is relative: pass --data or set EMOEDGE_DATA")
            location = os.path.join(data_root, location)
        resolved.append(f"{kind}:{location}")
    return resolved


def _plain(value):
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise RecipeError(f"cannot write {value!r} to TOML")
