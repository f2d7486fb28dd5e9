"""``emoedge train``: one run = load data, split by speaker, train each fold, report.

The run directory records everything needed to trust and repeat the result:
the resolved recipe, the emoedge version, the data summary, every split's
speakers, per-epoch history, test metrics and, per fold, the Keras weights
and the int8 model file with its embedded metadata.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import shutil
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from .adversary import (reversal_ramp, set_reversal, speaker_indices, split_targets,
                        with_speaker_adversary)
from .augment import AugmentConfig
from .averaging import WeightAverage
from .epoch_weights import save_epoch_weights
from .epoch_state import FILE_NAME as EPOCH_STATE_FILE
from .epoch_state import (EpochState, discard_epoch_state, has_epoch_state, load_epoch_state,
                          restore_optimizer, save_epoch_state)
from .dataset import (ClipFeatures, balancing_weights, evaluation_windows, mixup_batches,
                      random_window, training_batches)
from .features import FeatureCache, FeatureJob, default_cache_dir, extract
from .machine import write_machine
from .metrics import classification_report, mean_and_std, regression_report
from .models import reseed_dropout
from .recipe import Recipe, RecipeError, load_recipe, resolve_sources
from .resume import (check_kept_epoch_weights, check_run_directory, check_same_split,
                     finished_metrics)
from .speaker_norm import OffsetClips, normalise_by_speaker

EpochCallback = Callable[[int, float], None]


@dataclass
class FoldResult:
    """What one fold (and seed) produced."""

    name: str
    seed: int
    metrics: dict
    best_val: float
    best_epoch: int
    history: list[dict]
    predictions: list[dict] = field(repr=False, default_factory=list)
    directory: str = ""


@dataclass
class RunSummary:
    run_dir: str
    folds: list[FoldResult]
    summary: dict


# --- data ------------------------------------------------------------------
def load_clips(recipe: Recipe, data_root: str | None):
    """Clips of the recipe's sources, restricted to its labels (or targets)."""
    from .corpora import load_sources
    from .splits import select_labels

    sources = resolve_sources(recipe.data.sources, data_root)
    if not sources:
        raise RecipeError("the recipe has no [data] sources")
    clips = load_sources(sources, trust_pickle=recipe.data.trust_pickle)
    corpora = {c.corpus for c in clips}
    check_corpora_named("[data] corpus_weights", recipe.data.corpus_weights, corpora)
    check_corpora_named("[augment] gate_corpora", recipe.augment.gate_corpora, corpora)
    if recipe.training.task == "regression":
        targets = recipe.training.targets
        kept = [c for c in clips if all(getattr(c, t, None) is not None for t in targets)]
        if not kept:
            raise RecipeError(f"no clip has all regression targets {', '.join(targets)}")
        return kept
    # A ClipList: its notes (skipped files, merges) reach data_summary.json.
    return select_labels(clips, recipe.data.labels, merge=recipe.data.merge)


def check_corpora_named(setting: str, names, corpora: set[str]) -> None:
    """A recipe ``setting`` (e.g. "[data] corpus_weights") naming a corpus no
    source provides is a typo, not a no-op: a weight or gate that would
    apply to nothing without a word."""
    unknown = sorted(set(names) - corpora)
    if unknown:
        raise RecipeError(f"{setting} names {', '.join(unknown)}, which no source "
                          f"provides (the sources give: {', '.join(sorted(corpora))})")


def make_splits(recipe: Recipe, clips) -> list:
    from . import splits

    data = recipe.data
    if data.split == "speaker":
        return [splits.speaker_split(clips, val_fraction=data.val_fraction,
                                     test_fraction=data.test_fraction)]
    if data.split == "kfold":
        validation = {"val_fraction": data.val_fraction, "val_corpora": data.val_corpora or None,
                      "val_by_corpus": data.val_by_corpus}
        if data.fold_groups:  # explicit folds set their own number
            return list(splits.speaker_kfold(clips, folds=data.fold_groups, **validation))
        return list(splits.speaker_kfold(clips, data.folds, **validation))
    if data.split == "random":
        return [splits.random_split(clips, val_fraction=data.val_fraction,
                                    test_fraction=data.test_fraction, seed=0,
                                    allow_speaker_overlap=data.allow_speaker_overlap)]
    raise RecipeError(f"unknown split {data.split!r} (speaker, kfold, random)")


def _job(clip, variant: int = 0, augment: AugmentConfig | None = None, seed: int = 0) -> FeatureJob:
    return FeatureJob(path=clip.path, pcm=clip.pcm, variant=variant, augment=augment, seed=seed)


def clip_key(clip) -> str:
    return clip.path or f"{clip.corpus}:{clip.speaker}:{id(clip)}"


def compute_all_features(recipe: Recipe, clips, training_keys: set[str], cache: FeatureCache,
                         *, workers: int, progress: bool) -> dict[str, tuple[np.ndarray, ...]]:
    """Original features of every clip, plus augmented copies of training clips."""
    originals = extract([_job(c) for c in clips], cache, workers=workers, progress=progress,
                        description="features")
    variants: dict[str, list[np.ndarray]] = {clip_key(c): [f] for c, f in zip(clips, originals)}
    if recipe.augment.waveform_enabled and recipe.augment_variants > 0:
        train_clips = [c for c in clips if clip_key(c) in training_keys]
        augment_by_corpus = {c.corpus: recipe.augment.for_corpus(c.corpus) for c in clips}
        jobs = [_job(c, v, augment_by_corpus[c.corpus], recipe.training.seeds[0])
                for c in train_clips for v in range(1, recipe.augment_variants + 1)]
        augmented = extract(jobs, cache, workers=workers, progress=progress,
                            description="augmented")
        for job, features in zip(jobs, augmented):
            key = job.path or next(clip_key(c) for c in train_clips if c.pcm is job.pcm)
            variants[key].append(features)
    return shifted_by_speaker(recipe, clips, {key: tuple(value) for key, value in variants.items()},
                              training_keys)


def shifted_by_speaker(recipe: Recipe, clips, features: dict[str, tuple[np.ndarray, ...]],
                       training_keys: set[str], *, held_out: OffsetClips = OffsetClips()
                       ) -> dict[str, tuple[np.ndarray, ...]]:
    """``features`` shifted per speaker when the recipe's input norm asks for
    it (:data:`.models.SPEAKER_SHIFTED_NORMS`, :mod:`.speaker_norm`), else
    ``features`` itself; ``held_out`` says which clips shift held-out
    speakers."""
    from .models import SPEAKER_SHIFTED_NORMS

    if recipe.model.input_norm not in SPEAKER_SHIFTED_NORMS:
        return features
    speaker_of = {clip_key(c): c.speaker for c in clips}
    return normalise_by_speaker(features, speaker_of, training_keys, held_out=held_out,
                                trained=recipe.model.training_offset_clips())


# --- one fold ------------------------------------------------------------------
class FoldTrainer:
    """Trains and evaluates one split with one seed."""

    def __init__(self, recipe: Recipe, labels: Sequence[str], directory: pathlib.Path,
                 *, seed: int, progress: bool = True, keep_epoch_weights: bool = False) -> None:
        self.recipe = recipe
        self.keep_epoch_weights = keep_epoch_weights
        self.labels = tuple(labels)
        self.directory = directory
        self.seed = seed
        self.progress = progress
        self.window_frames = recipe.frontend.frames_in_ms(recipe.window.window_ms)
        self.train_frames = recipe.frontend.frames_in_ms(
            recipe.window.train_window_ms or recipe.window.window_ms)
        self.spec = None  # set by training or by load_saved_model
        self._models_by_frames = {}
        self.padding = recipe.window.short_clip_padding
        self.hop_frames = recipe.window.hop_ms // recipe.frontend.window_step_ms
        self.regression = recipe.training.task == "regression"
        # the model train_on_batch trains: the emotion model, or (with a
        # speaker adversary) a model around it with a second output
        self.fitted = None
        self.adversary_speakers = 0
        self.reversal = None

    # targets -------------------------------------------------------------
    def target(self, clip):
        if self.regression:
            return [float(getattr(clip, t)) for t in self.recipe.training.targets]
        return self.labels.index(clip.label)

    def clip_features(self, clips, features: dict, *, with_variants: bool) -> list[ClipFeatures]:
        weights = balancing_weights(
            [c.label for c in clips], [c.corpus for c in clips],
            by_class=self.recipe.training.class_weights and not self.regression,
            by_corpus=self.recipe.data.corpus_balance,
            corpus_weights=self.recipe.data.corpus_weights,
            class_balance=self.recipe.training.class_balance)
        return [ClipFeatures(clip_key(c), features[clip_key(c)] if with_variants
                             else features[clip_key(c)][:1], self.target(c), float(w))
                for c, w in zip(clips, weights)]

    def with_speaker_targets(self, clips, train: list[ClipFeatures]) -> list[ClipFeatures]:
        """``train`` with (label, speaker index) targets for the speaker
        adversary; ``clips`` are the split's training clips, in ``train``'s order."""
        index = speaker_indices([c.speaker for c in clips])
        self.adversary_speakers = len(index)
        return [dataclasses.replace(f, target=(f.target, index[c.speaker]))
                for c, f in zip(clips, train, strict=True)]

    # model -----------------------------------------------------------------
    def model_spec(self, train: list[ClipFeatures]):
        from .models import spec_from_recipe

        frames = np.concatenate([c.variants[0] for c in train]).astype(np.float64)
        outputs = len(self.recipe.training.targets) if self.regression else len(self.labels)
        return spec_from_recipe(self.recipe, frames=self.window_frames, outputs=outputs,
                                feature_mean=float(frames.mean()),
                                feature_std=float(frames.std()))

    def build(self, spec, steps_per_epoch: int, init_weights: str | None):
        import tf_keras as keras

        from .models import build_model
        from .runtime import distribution_strategy, set_precision

        set_precision(self.recipe.training.mixed_precision)
        keras.utils.set_random_seed(self.seed)
        with distribution_strategy(self.recipe.training.strategy).scope():
            model = build_model(spec)
            if init_weights:
                model.load_weights(init_weights, by_name=True, skip_mismatch=True)
            total = max(1, steps_per_epoch * self.recipe.training.epochs)
            rate = self.recipe.training.learning_rate
            if self.recipe.training.schedule == "cosine":
                rate = keras.optimizers.schedules.CosineDecay(rate, total, alpha=0.05)
            loss = (keras.losses.MeanSquaredError() if self.regression else
                    keras.losses.CategoricalCrossentropy(
                        from_logits=True, label_smoothing=self.recipe.training.label_smoothing))
            decay = self.recipe.training.weight_decay or None  # decoupled, as AdamW
            optimizer = keras.optimizers.Adam(rate, weight_decay=decay)
            self.fitted = model
            if self.adversary_speakers:
                self.fitted, self.reversal = with_speaker_adversary(model, self.adversary_speakers)
                loss = [loss, keras.losses.CategoricalCrossentropy(from_logits=True)]
            self.fitted.compile(optimizer=optimizer, loss=loss)
        return model

    # evaluation --------------------------------------------------------------
    def whole_window(self, model):
        """``model`` if it takes whole windows; else (a model trained on
        shorter crops) a whole-window model of the same spec holding its
        current weights, which are the same arrays at any window length."""
        return self.at_frames(model, self.window_frames)

    def at_frames(self, model, frames: int):
        """``model``'s current weights in a graph taking windows of
        ``frames`` frames: ``model`` itself if it already does. The graph is
        built once per length and refilled on every call, since training
        moves the weights between calls."""
        if model.input_shape[1] == frames:
            return model
        from .models import build_model

        if frames not in self._models_by_frames:
            self._models_by_frames[frames] = build_model(dataclasses.replace(
                self.spec, frames=frames))
        graph = self._models_by_frames[frames]
        graph.set_weights(model.get_weights())
        return graph

    def clip_windows(self, clip: ClipFeatures) -> np.ndarray:
        """The windows the device takes from ``clip``'s unaugmented features:
        this run's window, hop and short-clip padding. uint16, shape
        (windows, window_frames, channels)."""
        return evaluation_windows(clip.variants[0], self.window_frames, self.hop_frames,
                                  self.padding)

    def predict_clips(self, model, clips: list[ClipFeatures]) -> np.ndarray:
        """Clip-level outputs: mean softmax (or mean value) over runtime windows."""
        return clip_outputs(self.whole_window(model), [self.clip_windows(c) for c in clips],
                            regression=self.regression)

    def score(self, clips: list[ClipFeatures], outputs: np.ndarray) -> dict:
        if self.regression:
            truth = np.asarray([c.target for c in clips])
            return {name: regression_report(truth[:, i], outputs[:, i])
                    for i, name in enumerate(self.recipe.training.targets)}
        report = classification_report([c.target for c in clips], outputs.argmax(axis=1),
                                        self.labels)
        return report.to_dict()

    def score_held_out(self, model, test: list[ClipFeatures]) -> tuple[dict, list[dict]]:
        """The test metrics and per-clip predictions of ``model``; none of
        either when every speaker trained and ``test`` is empty."""
        if not test:
            return {}, []
        outputs = self.predict_clips(model, test)
        predictions = [{"clip": c.key, "target": c.target, "output": o.tolist()}
                       for c, o in zip(test, outputs)]
        return self.score(test, outputs), predictions

    def headline(self, metrics: dict) -> float:
        """The number model selection maximises: UA, or mean CCC."""
        if self.regression:
            return float(np.mean([m["ccc"] for m in metrics.values()]))
        return float(metrics["ua"])

    # the loop ------------------------------------------------------------------
    def run(self, split, features: dict, *, init_weights: str | None = None,
            on_epoch: EpochCallback | None = None, resume: bool = False) -> FoldResult:
        """Train, select, score and save the fold. With ``resume``, go on from
        the epoch state a cut run left in the directory (:mod:`.epoch_state`),
        if there is one."""
        self.directory.mkdir(parents=True, exist_ok=True)
        state = self.resumable_state(split) if resume else None
        train = self.clip_features(split.train, features, with_variants=True)
        if self.recipe.training.speaker_adversary_weight > 0:
            train = self.with_speaker_targets(split.train, train)
        val = self.clip_features(split.val, features, with_variants=False)
        test = self.clip_features(split.test, features, with_variants=False)
        spec = self.spec = self.model_spec(train)
        steps = -(-len(train) // self.recipe.training.batch_size)
        model = self.build(dataclasses.replace(spec, frames=self.train_frames), steps, init_weights)
        history, best = self._train_epochs(split, model, train, val, state, on_epoch)
        model.set_weights(best[2])
        model = self.whole_window(model)  # what is scored, saved and exported
        self.model, self.train, self.test = model, train, test
        metrics, predictions = self.score_held_out(model, test)
        self._save(model, spec, split, metrics, history, predictions, best[:2])
        discard_epoch_state(self.directory)
        return FoldResult(split.name, self.seed, metrics, best[0], best[1], history,
                          predictions, str(self.directory))

    def _train_epochs(self, split, model, train: list, val: list, state,
                      on_epoch: EpochCallback | None) -> tuple[list[dict], tuple]:
        """Train from ``state`` (a cut run's, or None for the first epoch) to
        the last epoch or early stop, keeping the epoch state after each.
        Returns the history and the best (validation UA, epoch, weights)."""
        from tqdm import tqdm

        writer = _summary_writer(self.directory / "tensorboard")
        history, best = [], (-np.inf, -1, None)
        decay = self.recipe.training.ema_decay_per_epoch
        average = WeightAverage(decay) if decay > 0 else None
        first_epoch, stopped = 0, False
        if state is not None:
            history, best = self.restore(state, average)
            first_epoch, stopped = state.epoch + 1, state.stopped
            _say(self.progress, f"{split.name} (seed {self.seed}): resumed after epoch "
                                f"{state.epoch + 1} of {self.recipe.training.epochs}")
        total = self.recipe.training.epochs
        epochs = tqdm(range(first_epoch, 0 if stopped else total), desc=split.name,
                      unit="epoch", initial=first_epoch, total=total, disable=not self.progress)
        for epoch in epochs:
            record, raw_weights = self._train_epoch(model, train, val, average, epoch)
            val_score = record.get("val", np.nan)
            history.append(record)
            _log_scalars(writer, epoch, record)
            epochs.set_postfix({"loss": f"{record['loss']:.3f}",
                                **({"val": f"{val_score:.3f}"} if val else {})})
            # Without validation speakers nothing can choose an epoch: the
            # last one is kept (the averaged weights, with averaging on).
            if not val or val_score > best[0]:
                best = (val_score, epoch, model.get_weights())
                model.save_weights(str(self.directory / "best.weights.h5"))
            if raw_weights is not None:
                model.set_weights(raw_weights)
            if self.keep_epoch_weights:
                save_epoch_weights(self.directory, epoch, model.get_weights())
            if on_epoch is not None:
                on_epoch(epoch, val_score)
            stop = (epoch + 1 >= self.recipe.training.min_epochs
                    and epoch - best[1] >= self.recipe.training.patience)
            self.keep_state(split, average, stopped=stop, history=history, best=best)
            if stop:
                break
        return history, best

    def _train_epoch(self, model, train: list, val: list, average: WeightAverage | None,
                     epoch: int) -> tuple[dict, list | None]:
        """One pass over the training batches, then validation: the epoch's
        record (loss, validation scores, seconds) and the raw weights to
        train on from, when validation ran on the averaged ones."""
        started = time.perf_counter()
        if self.reversal is not None:
            set_reversal(self.reversal, self.recipe.training.speaker_adversary_weight
                         * reversal_ramp(epoch / self.recipe.training.epochs))
        reseed_dropout(self.fitted, seed=self.seed, epoch=epoch)
        losses = self.train_batches(train, epoch)
        scores, raw_weights = self.validate(model, val, average)
        return ({"epoch": epoch, **losses, **scores,
                 "seconds": time.perf_counter() - started}, raw_weights)

    def train_batches(self, train: list[ClipFeatures], epoch: int) -> dict:
        """Train on one epoch's batches; the mean emotion loss, and with a
        speaker adversary its loss too (near ln(speakers) while it can tell
        no training speaker apart)."""
        if self.reversal is None:
            return {"loss": float(np.mean([
                self.fitted.train_on_batch(x, y, sample_weight=w)
                for x, y, w in self.epoch_batches(train, epoch)]))}
        # (total, emotion, speaker) per batch; the emotion loss alone stays
        # comparable with runs without the adversary
        losses = np.asarray([self.fitted.train_on_batch(x, y, sample_weight=[w, w])
                             for x, y, w in self.epoch_batches(train, epoch)], dtype=np.float64)
        return {"loss": float(losses[:, 1].mean()), "speaker_loss": float(losses[:, 2].mean())}

    # a cut run -----------------------------------------------------------------
    def keep_state(self, split, average: WeightAverage | None, *, stopped: bool,
                   history: list[dict], best: tuple) -> None:
        """Write where training stands after the last epoch in ``history``
        (see :mod:`.epoch_state`)."""
        save_epoch_state(self.directory, EpochState(
            stopped=stopped, split_json=split.to_json(), history=history,
            best_score=float(best[0]), best_epoch=best[1], best_weights=best[2],
            model_weights=self.fitted.get_weights(),
            optimizer_variables=[v.numpy() for v in self.fitted.optimizer.variables],
            average=None if average is None else average.state()))

    def resumable_state(self, split) -> EpochState | None:
        """The epoch state in this fold's directory, if any.

        Raises:
            RecipeError: it was written on another split (the data changed).
        """
        state = load_epoch_state(self.directory)
        if state is not None:
            check_same_split(self.directory, state.split_json, split.to_json(),
                             stage="cut while training",
                             kept_in=f"'split' in the meta of its {EPOCH_STATE_FILE}")
        return state

    def restore(self, state: EpochState, average: WeightAverage | None):
        """Put ``state`` back into the freshly built model and ``average``;
        returns the (history, best) the loop goes on with."""
        self.fitted.set_weights(state.model_weights)
        restore_optimizer(self.fitted.optimizer, self.fitted.trainable_variables,
                          state.optimizer_variables)
        if average is not None:
            average.restore(state.average)
        return list(state.history), (state.best_score, state.best_epoch, state.best_weights)

    def validate(self, model, val: list[ClipFeatures],
                 average: WeightAverage | None) -> tuple[dict, list | None]:
        """The epoch's validation scores, and the trained weights to restore
        before training goes on (None without averaging).

        With weight averaging, ``val`` (the score model selection maximises)
        is the averaged weights' and ``val_raw`` the trained weights'; the
        model is left holding the averaged weights, so the caller can save
        them as the best. Without validation clips the scores are empty and
        the weights are still averaged."""
        raw_score = self.validation_score(model, val)
        if average is None:
            return _present(val=raw_score), None
        raw = model.get_weights()
        average.update(raw)
        model.set_weights(average.weights(raw))
        return _present(val=self.validation_score(model, val), val_raw=raw_score), raw

    def validation_score(self, model, val: list[ClipFeatures]) -> float | None:
        """The headline score on the validation clips; None if there are none."""
        if not val:
            return None
        return self.headline(self.score(val, self.predict_clips(model, val)))

    def epoch_batches(self, train: list[ClipFeatures], epoch: int):
        """One epoch of (x, encoded targets, weights), mixed up if asked."""
        batches = ((x, self._encode(y), w) for x, y, w in training_batches(
            train, window_frames=self.train_frames, batch_size=self.recipe.training.batch_size,
            augment=self.recipe.augment, seed=self.seed, epoch=epoch,
            regression=self.regression, padding=self.padding))
        # its own stream, so turning mixup on leaves the windows drawn unchanged
        rng = np.random.default_rng([self.seed, epoch, 1])
        return mixup_batches(batches, alpha=self.recipe.training.mixup_alpha, rng=rng)

    def _encode(self, y: np.ndarray):
        if self.regression:
            return y
        if self.adversary_speakers:
            return split_targets(y, len(self.labels), self.adversary_speakers)
        return np.eye(len(self.labels), dtype=np.float32)[y]

    def _save(self, model, spec, split, metrics, history, predictions,
              kept: tuple[float, int]) -> None:
        """Write the fold's files; ``kept`` is the (validation score, epoch)
        of the weights kept, the score NaN without validation speakers."""
        model.save_weights(str(self.directory / "model.weights.h5"))
        write_json(self.directory / "history.json", history)
        write_json(self.directory / "predictions.json", predictions)
        write_json(self.directory / "spec.json", spec.__dict__)
        score, epoch = kept
        write_json(self.directory / "best.json",
                   {"epoch": epoch, "val": None if np.isnan(score) else score})
        (self.directory / "split.json").write_text(split.to_json())
        write_machine(self.directory)
        # last: a fold with metrics.json is finished (resume.finished_metrics)
        write_json(self.directory / "metrics.json", metrics)

    def load_saved_model(self):
        """The (spec, model) that :meth:`_save` wrote to this fold's directory;
        the spec becomes this trainer's, so :meth:`at_frames` can rebuild it."""
        self.spec, model = load_fold_model(self.directory)
        return self.spec, model

    def saved_result(self, name: str, metrics: dict, predictions: list[dict]) -> FoldResult:
        """A FoldResult from this fold's saved history, with the given metrics
        and predictions (recomputed by the caller)."""
        best = json.loads((self.directory / "best.json").read_text())
        history = json.loads((self.directory / "history.json").read_text())
        best_val = np.nan if best["val"] is None else best["val"]
        return FoldResult(name, self.seed, metrics, best_val, best["epoch"], history,
                          predictions, str(self.directory))

    def finished_result(self, split, *, exported: bool) -> FoldResult | None:
        """What this fold's directory holds if an earlier, stopped run of the
        same recipe finished it (see :mod:`.resume`); None if it did not."""
        metrics = finished_metrics(self.directory, split.to_json(), exported=exported)
        if metrics is None:
            return None
        predictions = json.loads((self.directory / "predictions.json").read_text())
        return self.saved_result(split.name, metrics, predictions)

    def representative(self, train: list[ClipFeatures], count: int = 256) -> np.ndarray:
        rng = np.random.default_rng(self.seed)
        picks = rng.integers(0, len(train), count)
        return np.stack([random_window(train[i].variants[0], self.window_frames, rng, self.padding)
                         for i in picks]).astype(np.float32)[..., None]


def clip_outputs(model, windows_per_clip: list[np.ndarray], *,
                 regression: bool = False) -> np.ndarray:
    """Clip-level outputs of ``model``: the mean softmax (or, for
    regression, the mean value) over each clip's windows.

    Args:
        model: a Keras model taking (batch, frames, channels, 1) float32.
        windows_per_clip: per clip, its windows as (windows, frames,
            channels), every clip with the frame count ``model`` takes.
    Returns:
        float64 (clips, outputs).
    """
    owners = np.repeat(np.arange(len(windows_per_clip)), [len(w) for w in windows_per_clip])
    stacked = np.concatenate(windows_per_clip).astype(np.float32)[..., None]
    outputs = np.concatenate([model.predict_on_batch(stacked[i:i + 256])
                              for i in range(0, len(stacked), 256)]).astype(np.float64)
    if not regression:
        outputs = np.exp(outputs - outputs.max(axis=1, keepdims=True))
        outputs /= outputs.sum(axis=1, keepdims=True)
    return np.stack([outputs[owners == i].mean(axis=0) for i in range(len(windows_per_clip))])


def fold_spec(fold_dir: str | os.PathLike):
    """The ModelSpec a fold's directory keeps (``spec.json``, whole windows)."""
    from .models import ModelSpec

    return ModelSpec(**json.loads((pathlib.Path(fold_dir) / "spec.json").read_text()))


def load_fold_model(fold_dir: str | os.PathLike):
    """The (spec, model) a finished fold saved in its directory: the model
    built from ``spec.json`` holding ``model.weights.h5``."""
    from .models import build_model

    spec = fold_spec(fold_dir)
    model = build_model(spec)
    model.load_weights(str(pathlib.Path(fold_dir) / "model.weights.h5"))
    return spec, model


def _present(**scores: float | None) -> dict[str, float]:
    return {name: score for name, score in scores.items() if score is not None}


def _summary_writer(path: pathlib.Path):
    import tensorflow as tf

    return tf.summary.create_file_writer(str(path))


def _log_scalars(writer, epoch: int, record: dict) -> None:
    import tensorflow as tf

    with writer.as_default():
        for name in ("loss", "speaker_loss", "val", "val_raw"):
            if name in record:
                tf.summary.scalar(name, record[name], step=epoch)
        writer.flush()


def write_json(path: pathlib.Path, data) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(json.dumps(data, indent=1, default=_json_default) + "\n")
    os.replace(temporary, path)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


# --- the whole run -------------------------------------------------------------
def run_training(recipe: Recipe, run_dir: str | os.PathLike, *, data_root: str | None,
                 cache_dir: str | os.PathLike | None = None, workers: int = 1,
                 init_weights: str | None = None, export: bool = True, progress: bool = True,
                 on_epoch: EpochCallback | None = None, seeds: Sequence[int] | None = None,
                 resume: bool = False, keep_epoch_weights: bool = False) -> RunSummary:
    """Train every split of ``recipe`` with every seed; write the run directory.

    With ``resume``, a directory holding an earlier run of the same recipe
    keeps the folds that run finished and trains the others; without it, a
    directory holding a run is refused (:func:`.resume.check_run_directory`).
    With ``keep_epoch_weights``, each fold also keeps every epoch's trained
    weights (:mod:`.epoch_weights`), for averages read after the run.
    """
    run = pathlib.Path(run_dir)
    if export:
        from .export import check_exportable

        check_exportable(recipe)
    check_run_directory(run, recipe, resume=resume)
    check_kept_epoch_weights(run, keep_epoch_weights)
    splits, features, cache = _start_run(run, recipe, data_root, cache_dir, workers, progress,
                                         keep_epoch_weights)
    labels = recipe.output_names
    results = []
    for seed in seeds or recipe.training.seeds:
        for index, split in enumerate(splits):
            trainer = FoldTrainer(recipe, labels, run / f"split{index}_seed{seed}", seed=seed,
                                  progress=progress, keep_epoch_weights=keep_epoch_weights)
            results.append(_finished_or_trained_fold(
                trainer, split, features, recipe, labels, export=export,
                init_weights=init_weights, on_epoch=on_epoch, resume=resume))
    summary = summarise_results(results, recipe)
    summary["cache"] = {"hits": cache.stats.hits, "misses": cache.stats.misses}
    summary["warnings"] = [getattr(s, "warning", "") for s in splits if getattr(s, "warning", "")]
    _finish_run(run, recipe, results, summary, features)
    return RunSummary(str(run), results, summary)


def _start_run(run: pathlib.Path, recipe: Recipe, data_root: str | None,
               cache_dir: str | os.PathLike | None, workers: int, progress: bool,
               keep_epoch_weights: bool):
    """Write the run's recipe, record and data summary; returns its splits,
    every clip's features (augmented copies of the training clips too) and
    the feature cache."""
    import emoedge

    from .corpora import summarise

    run.mkdir(parents=True, exist_ok=True)
    (run / "recipe.toml").write_text(recipe.to_toml())
    clips = load_clips(recipe, data_root)
    splits = make_splits(recipe, clips)
    write_json(run / "run.json", {"emoedge_version": emoedge.__version__,
                                  "recipe": recipe.to_dict(), "data_root": data_root,
                                  "keep_epoch_weights": keep_epoch_weights,
                                  "splits": [s.name for s in splits]})
    write_json(run / "data_summary.json", summarise(clips))
    training_keys = {clip_key(c) for s in splits for c in s.train}
    cache = FeatureCache(cache_dir or default_cache_dir(), recipe.frontend)
    features = compute_all_features(recipe, clips, training_keys, cache, workers=workers,
                                    progress=progress)
    return splits, features, cache


def _finished_or_trained_fold(trainer: FoldTrainer, split, features: dict, recipe: Recipe,
                              labels, *, export: bool, init_weights: str | None,
                              on_epoch: EpochCallback | None, resume: bool) -> FoldResult:
    """The fold as an earlier, stopped run finished it (with ``resume``), or
    trained now (from its last whole epoch, if one was cut)."""
    result = trainer.finished_result(split, exported=export) if resume else None
    if result is not None:
        _say(trainer.progress, f"{split.name} (seed {trainer.seed}): finished by the earlier run, kept")
        return result
    if resume and trainer.directory.exists() and not has_epoch_state(trainer.directory):
        shutil.rmtree(trainer.directory)  # cut before its first epoch ended: start afresh
    return _train_fold(trainer, split, features, recipe, labels, export=export,
                       init_weights=init_weights, on_epoch=on_epoch, resume=resume)


def _finish_run(run: pathlib.Path, recipe: Recipe, results: list[FoldResult], summary: dict,
                features: dict) -> None:
    """List the finished folds in ``run.json`` (which marks the run finished),
    then write the summary and the report."""
    from .report import write_report

    run_record = json.loads((run / "run.json").read_text())
    run_record["folds"] = [{"directory": pathlib.Path(r.directory).name, "split": r.name,
                            "seed": r.seed} for r in results]
    write_json(run / "run.json", run_record)
    write_json(run / "summary.json", summary)
    write_report(run, recipe, results, summary, features)


def _train_fold(trainer: FoldTrainer, split, features: dict, recipe: Recipe, labels, *,
                export: bool, init_weights: str | None,
                on_epoch: EpochCallback | None, resume: bool) -> FoldResult:
    result = trainer.run(split, features, init_weights=init_weights, on_epoch=on_epoch,
                         resume=resume)
    if export:
        from .export import export_fold

        export_fold(trainer, split, recipe, labels, result)
    return result


def test_figures(summary: dict) -> dict:
    """The summary's figures on test speakers (mean, std and values each):
    none when every speaker trained."""
    return {name: value for name, value in summary.items()
            if name != "best_val" and isinstance(value, dict) and "mean" in value}


def held_out_metrics(metrics: dict) -> bool:
    """Whether a fold's metrics score held-out speakers: a fold that held
    none out has none, only its (empty) int8 entry once exported."""
    return any(key != "int8" for key in metrics)


def _say(progress: bool, message: str) -> None:
    if progress:
        from tqdm import tqdm

        tqdm.write(message)


@dataclass(frozen=True)
class FinishedRun:
    """A run directory whose training ended, reopened: its record, recipe,
    clips and splits (rebuilt from the recipe; they are deterministic)."""

    directory: pathlib.Path
    record: dict
    recipe: Recipe
    clips: list
    splits: dict  # split name -> Split

    def training_features(self, cache_dir: str | os.PathLike | None, *,
                          progress: bool) -> dict[str, tuple[np.ndarray, ...]]:
        """The features training had: every clip's, plus augmented copies of
        the training clips (from the cache when it holds them)."""
        training_keys = {clip_key(c) for s in self.splits.values() for c in s.train}
        cache = FeatureCache(cache_dir or default_cache_dir(), self.recipe.frontend)
        return compute_all_features(self.recipe, self.clips, training_keys, cache, workers=1,
                                    progress=progress)


def open_finished_run(run_dir: str | os.PathLike, data_root: str | None) -> FinishedRun:
    """Reopen a run that :func:`run_training` finished.

    Raises:
        RecipeError: no ``run.json``, or no finished fold in it (it lists the
            folds only when training ends).
    """
    run = pathlib.Path(run_dir)
    record_path = run / "run.json"
    if not record_path.exists():
        raise RecipeError(f"{run} is not a run directory (no run.json)")
    record = json.loads(record_path.read_text())
    if not record.get("folds"):
        raise RecipeError(f"{run} has no finished fold yet (run.json lists them when training "
                          "ends): is it still training, or did it stop early?")
    recipe = load_recipe(run / "recipe.toml")
    clips = load_clips(recipe, data_root or record.get("data_root"))
    splits = {split.name: split for split in make_splits(recipe, clips)}
    return FinishedRun(run, record, recipe, clips, splits)


def summarise_results(results: list[FoldResult], recipe: Recipe) -> dict:
    """Mean ± std over folds and seeds of each headline metric; none for a
    run that held out no test speakers (every speaker trained)."""
    scored = [r for r in results if held_out_metrics(r.metrics)]
    values = {}
    if scored and recipe.training.task == "regression":
        keys = [(t, m) for t in recipe.training.targets for m in ("mse", "mae", "ccc")]
        values = {f"{t}_{m}": [r.metrics[t][m] for r in scored] for t, m in keys}
    elif scored:
        values = {m: [r.metrics[m] for r in scored] for m in ("ua", "wa", "macro_f1")}
    if not all(np.isnan(r.best_val) for r in results):  # all NaN: no validation speakers
        values["best_val"] = [r.best_val for r in results]
    return {name: dict(zip(("mean", "std"), mean_and_std(v)), values=v)
            for name, v in values.items()}
