"""``emoedge evaluate``: recompute a run's test metrics from its saved weights.

The splits are rebuilt from the recipe (they are deterministic: stable
speaker hashing), each fold's model is rebuilt from its ``spec.json`` and
``model.weights.h5``, and the report is written again.
"""

from __future__ import annotations

import json
from typing import Callable, Mapping, Sequence

import numpy as np

from .recipe import RecipeError
from .speaker_norm import OffsetClips


def evaluate_run(run_dir: str, *, data_root: str | None, cache_dir: str | None = None,
                 progress: bool = True) -> dict:
    from .report import write_report
    from .trainer import FoldTrainer, open_finished_run, summarise_results, write_json

    finished = open_finished_run(run_dir, data_root)
    run, recipe = finished.directory, finished.recipe
    features = run_features(finished, cache_dir, progress=progress)
    labels = recipe.output_names
    results = []
    for fold in finished.record["folds"]:
        directory = run / fold["directory"]
        split = finished.splits.get(fold["split"])
        if split is None:
            raise RecipeError(f"split {fold['split']} no longer comes out of the recipe's data")
        trainer = FoldTrainer(recipe, labels, directory, seed=fold["seed"], progress=False)
        _, model = trainer.load_saved_model()
        test = trainer.clip_features(split.test, features, with_variants=False)
        metrics, predictions = trainer.score_held_out(model, test)
        previous = json.loads((directory / "metrics.json").read_text())
        if "int8" in previous:
            metrics["int8"] = previous["int8"]
        write_json(directory / "metrics.json", metrics)
        results.append(trainer.saved_result(split.name, metrics, predictions))
    summary = summarise_results(results, recipe)
    write_json(run / "summary.json", summary)
    write_report(run, recipe, results, summary, features)
    return summary


def float_card(run_dir: str, *, held_out: str, data_root: str | None, seed: int | None = None,
               speaker_shift: OffsetClips = OffsetClips(), gates_dbfs: Sequence[float] = (),
               fill_zeros: bool = False, cache_dir: str | None = None,
               progress: bool = True) -> dict:
    """A card of a run's float fold models on each fold's ``held_out``
    speakers ("val", "test", or "train": the fold's own training speakers,
    the only ones a run that held out none has), in the layout of ``model_card``'s
    ``card.json`` with the clean condition only, so ``card_compare`` and
    ``seed_compare`` read it. It needs no exported model: a recipe the
    device cannot run yet (a speaker-mean run) is scored this way. With
    ``seed``, only that seed's folds (one card per seed, as ``seed_compare``
    takes them). ``speaker_shift``, a :class:`.speaker_norm.OffsetClips`,
    says which clips shift a speaker-shifted run's held-out speakers (its
    default: all of each speaker's clips, as in training). Each of
    ``gates_dbfs`` adds a condition ``gate-60`` (for -60), as ``model_card``
    names it: the held-out clips with every sample under that level, in
    dB below int16 full scale, set to zero. ``fill_zeros`` adds a condition
    ``fill-zeros``: the held-out clips with every exact zero set to +-1
    (a gate undone, as far as int16 can).

    Raises:
        RecipeError: not a finished run, no fold of ``seed``, a fold
            without ``held_out`` speakers, or gates or filled zeros asked
            of a speaker-shifted run (its shifts come from unchanged clips).
    """
    from .model_card import combine, corpus_entries, perturbations
    from .models import SPEAKER_SHIFTED_NORMS
    from .trainer import open_finished_run

    if held_out not in ("val", "test", "train"):
        raise ValueError(f"held_out must be 'val', 'test' or 'train', got {held_out!r}")
    finished = open_finished_run(run_dir, data_root)
    folds = [f for f in finished.record["folds"] if seed is None or f["seed"] == seed]
    if not folds:
        raise RecipeError(f"{run_dir} has no fold trained with seed {seed}")
    recipe = finished.recipe
    shift = speaker_shift.words()
    if shift is not None and recipe.model.input_norm not in SPEAKER_SHIFTED_NORMS:
        raise RecipeError(f"heard_clips and own_clip apply to a speaker-shifted run; {run_dir} "
                          f"was trained with input_norm = {recipe.model.input_norm!r}")
    if (gates_dbfs or fill_zeros) and recipe.model.input_norm in SPEAKER_SHIFTED_NORMS:
        raise RecipeError(f"gates and filled zeros apply to a window-normalised run; {run_dir} "
                          f"shifts its features per speaker "
                          f"(input_norm = {recipe.model.input_norm!r})")
    root = data_root or finished.record.get("data_root") or ""
    features = run_features(finished, cache_dir, progress=progress, held_out=speaker_shift)
    labels = list(recipe.output_names)
    clips = _held_out_clips(finished, folds, held_out)
    # the int8 card's gate and fill conditions, under the same names
    changes = perturbations(snrs=(), gains=(), tilts=(), gates=gates_dbfs, fill=fill_zeros)
    conditions = {name: perturbed_features(finished, clips, name, change, cache_dir,
                                           progress=progress)
                  for name, change in changes.items()}
    models, per_model = [], []
    for fold in folds:
        rows, model = _score_fold(finished, fold, features, labels, held_out, root, conditions)
        per_model.append(corpus_entries(rows, labels, ("clean", *conditions)))
        models.append(model)
    speakers = "training speakers (heard in training)" if held_out == "train" else \
        f"{held_out} speakers"
    # the root its clip paths are relative to, so another card's clips can be matched
    card = {"models": models, "held_out": f"each fold's {speakers} (float models)",
            "data_root": root, "per_model": per_model, "summary": combine(per_model)}
    if shift is not None:
        # beside "held_out", not in it: the same speakers and clips, so the
        # compare tools still pair this card with one scored without it
        card["speaker_shift"] = shift
    return card


def _score_fold(finished, fold: dict, features: dict, labels: list[str], held_out: str,
                root: str, conditions: Mapping[str, dict] = {}
                ) -> tuple[dict[str, list[dict]], dict]:
    """One fold's float model on its ``held_out`` speakers: the card rows per
    corpus (path, true label, "clean" prediction, and one prediction per
    entry of ``conditions``: name -> that condition's features by clip key)
    and the model's entry (directory, seed, the machine that trained it)."""
    chosen, outputs, model = _fold_predictions(finished, fold, {"clean": features, **conditions},
                                               labels, held_out)
    clean = outputs.pop("clean")
    return card_rows(chosen, clean, labels, root, conditions=outputs), model


def _held_out_clips(finished, folds: Sequence[dict], held_out: str) -> list:
    """The ``held_out`` clips of ``folds``, each once, in a stable order."""
    from .trainer import clip_key

    chosen = {clip_key(c): c for fold in folds
              for c in getattr(finished.splits[fold["split"]], held_out)}
    return [chosen[key] for key in sorted(chosen)]


def perturbed_features(finished, clips, name: str,
                       change: Callable[[np.ndarray, str], np.ndarray],
                       cache_dir: str | None, *, progress: bool) -> dict[str, tuple]:
    """Clip key -> (features of the clip's samples after ``change``,) for
    each of ``clips``, computed by the run's frontend and kept in the
    feature cache (keyed by the changed samples); ``name`` labels progress.
    ``change`` is a :func:`.model_card.perturbations` entry, given the
    samples and the clip's path."""
    from emoedge.audio import read_pcm

    from .features import FeatureCache, FeatureJob, default_cache_dir, extract
    from .trainer import clip_key

    rate = finished.recipe.frontend.sample_rate_hz
    jobs = [FeatureJob(path=c.path, pcm=change(
        c.pcm if c.pcm is not None else read_pcm(c.path, rate)[1], c.path)) for c in clips]
    cache = FeatureCache(cache_dir or default_cache_dir(), finished.recipe.frontend)
    arrays = extract(jobs, cache, progress=progress, description=name)
    return {clip_key(c): (a,) for c, a in zip(clips, arrays)}


def fold_outputs(finished, fold: dict, features: dict, labels: list[str],
                 held_out: str) -> tuple[list, np.ndarray, dict]:
    """One fold's float model on its ``held_out`` speakers: their clips, the
    model's clip-level probabilities (clips, labels) and the model's entry
    (directory, seed, the machine that trained it).

    Raises:
        RecipeError: the fold has no ``held_out`` speakers.
    """
    chosen, outputs, model = _fold_predictions(finished, fold, {"clean": features}, labels,
                                               held_out)
    return chosen, outputs["clean"], model


def _fold_predictions(finished, fold: dict, feature_sets: Mapping[str, dict],
                      labels: list[str], held_out: str
                      ) -> tuple[list, dict[str, np.ndarray], dict]:
    """As :func:`fold_outputs`, with the model loaded once and run on each
    of ``feature_sets`` (name -> features by clip key): the probabilities
    come back under the same names."""
    from .machine import read_machine
    from .trainer import FoldTrainer

    directory = finished.directory / fold["directory"]
    chosen = getattr(finished.splits[fold["split"]], held_out)
    if not chosen:
        raise RecipeError(f"{directory.name} has no {held_out} speakers "
                          "(a run trained with val_fraction = 0 has no validation speakers)")
    trainer = FoldTrainer(finished.recipe, labels, directory, seed=fold["seed"], progress=False)
    _, model = trainer.load_saved_model()
    outputs = {name: trainer.predict_clips(model, trainer.clip_features(
        chosen, features, with_variants=False)) for name, features in feature_sets.items()}
    return list(chosen), outputs, {"path": str(directory), "seed": fold["seed"],
                                   "trained_on": read_machine(directory)}


def card_rows(clips, outputs: np.ndarray, labels: Sequence[str], root: str, *,
              conditions: Mapping[str, np.ndarray] = {}) -> dict[str, list[dict]]:
    """Card rows per corpus: each clip's path (relative to ``root``), true
    label and "clean" prediction, the argmax of its row of ``outputs``, and
    under each name of ``conditions`` the argmax of its row there."""
    from .model_card import relative_path

    rows: dict[str, list[dict]] = {}
    for i, clip in enumerate(clips):
        predicted = {name: labels[int(probabilities[i].argmax())]
                     for name, probabilities in {"clean": outputs, **conditions}.items()}
        rows.setdefault(clip.corpus, []).append({
            "path": relative_path(clip.path, root), "true": clip.label, **predicted})
    return rows


def run_originals(finished, cache_dir: str | None, *, progress: bool) -> dict:
    """Every clip of a finished run: clip key -> its unaugmented, unshifted
    uint16 features (frames, channels), from the feature cache."""
    from .features import FeatureCache, default_cache_dir, extract
    from .trainer import _job, clip_key

    clips = finished.clips
    cache = FeatureCache(cache_dir or default_cache_dir(), finished.recipe.frontend)
    arrays = extract([_job(c) for c in clips], cache, progress=progress)
    return {clip_key(c): a for c, a in zip(clips, arrays)}


def run_features(finished, cache_dir: str | None, *, progress: bool,
                 held_out: OffsetClips = OffsetClips()) -> dict[str, tuple]:
    """Every clip of a finished run: clip key -> (its unaugmented features,),
    shifted per speaker as the run's recipe asks (``held_out`` says which
    clips shift held-out speakers)."""
    from .trainer import clip_key, shifted_by_speaker

    originals = run_originals(finished, cache_dir, progress=progress)
    training_keys = {clip_key(c) for s in finished.splits.values() for c in s.train}
    return shifted_by_speaker(finished.recipe, finished.clips,
                              {key: (a,) for key, a in originals.items()}, training_keys,
                              held_out=held_out)
