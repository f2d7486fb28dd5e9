"""``emoedge evaluate``: recompute a run's test metrics from its saved weights.

The splits are rebuilt from the recipe (they are deterministic: stable
speaker hashing), each fold's model is rebuilt from its ``spec.json`` and
``model.weights.h5``, and the report is written again.
"""

from __future__ import annotations

import json

from .recipe import RecipeError


def evaluate_run(run_dir: str, *, data_root: str | None, cache_dir: str | None = None,
                 progress: bool = True) -> dict:
    from .features import FeatureCache, default_cache_dir, extract
    from .report import write_report
    from .trainer import (FoldTrainer, _job, clip_key, open_finished_run, shifted_by_speaker,
                          summarise_results, write_json)

    finished = open_finished_run(run_dir, data_root)
    run, recipe, clips = finished.directory, finished.recipe, finished.clips
    cache = FeatureCache(cache_dir or default_cache_dir(), recipe.frontend)
    originals = extract([_job(c) for c in clips], cache, progress=progress)
    training_keys = {clip_key(c) for s in finished.splits.values() for c in s.train}
    features = shifted_by_speaker(recipe, clips, {clip_key(c): (f,) for c, f in zip(clips, originals)},
                                  training_keys)
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
        outputs = trainer.predict_clips(model, test)
        metrics = trainer.score(test, outputs)
        previous = json.loads((directory / "metrics.json").read_text())
        if "int8" in previous:
            metrics["int8"] = previous["int8"]
        write_json(directory / "metrics.json", metrics)
        predictions = [{"clip": c.key, "target": c.target, "output": o.tolist()}
                       for c, o in zip(test, outputs)]
        results.append(trainer.saved_result(split.name, metrics, predictions))
    summary = summarise_results(results, recipe)
    write_json(run / "summary.json", summary)
    write_report(run, recipe, results, summary, features)
    return summary


def float_card(run_dir: str, *, held_out: str, data_root: str | None, seed: int | None = None,
               heard_clips: int | None = None, own_clip: bool = False,
               cache_dir: str | None = None,
               progress: bool = True) -> dict:
    """A card of a run's float fold models on each fold's ``held_out``
    speakers ("val" or "test"), in the layout of ``model_card``'s
    ``card.json`` with the clean condition only, so ``card_compare`` and
    ``seed_compare`` read it. It needs no exported model: a recipe the
    device cannot run yet (a speaker-mean run) is scored this way. With
    ``seed``, only that seed's folds (one card per seed, as ``seed_compare``
    takes them). ``heard_clips`` shifts a speaker-shifted run's held-out
    speakers by a few of their other clips' mean, not all of them (0: not
    at all, a device that has heard nothing yet); ``own_clip`` by each
    clip's own mean (:func:`.speaker_norm.normalise_by_speaker`).

    Raises:
        RecipeError: not a finished run, no fold of ``seed``, or a fold
            without ``held_out`` speakers.
    """
    from .features import FeatureCache, default_cache_dir, extract
    from .machine import read_machine
    from .model_card import combine, corpus_entries, relative_path
    from .models import SPEAKER_SHIFTED_NORMS
    from .trainer import FoldTrainer, _job, clip_key, open_finished_run, shifted_by_speaker

    if held_out not in ("val", "test"):
        raise ValueError(f"held_out must be 'val' or 'test', got {held_out!r}")
    finished = open_finished_run(run_dir, data_root)
    folds = [f for f in finished.record["folds"] if seed is None or f["seed"] == seed]
    if not folds:
        raise RecipeError(f"{run_dir} has no fold trained with seed {seed}")
    recipe, clips = finished.recipe, finished.clips
    shift = held_out_shift(heard_clips, own_clip)
    if shift is not None and recipe.model.input_norm not in SPEAKER_SHIFTED_NORMS:
        raise RecipeError(f"heard_clips and own_clip apply to a speaker-shifted run; {run_dir} "
                          f"was trained with input_norm = {recipe.model.input_norm!r}")
    root = data_root or finished.record.get("data_root") or ""
    cache = FeatureCache(cache_dir or default_cache_dir(), recipe.frontend)
    originals = extract([_job(c) for c in clips], cache, progress=progress)
    training_keys = {clip_key(c) for s in finished.splits.values() for c in s.train}
    features = shifted_by_speaker(recipe, clips, {clip_key(c): (f,) for c, f in zip(clips, originals)},
                                  training_keys, heard_clips=heard_clips, own_clip=own_clip)
    labels = list(recipe.output_names)
    models, per_model = [], []
    for fold in folds:
        directory = finished.directory / fold["directory"]
        chosen = getattr(finished.splits[fold["split"]], held_out)
        if not chosen:
            raise RecipeError(f"{directory.name} has no {held_out} speakers "
                              "(a run trained with val_fraction = 0 has no validation speakers)")
        trainer = FoldTrainer(recipe, labels, directory, seed=fold["seed"], progress=False)
        _, model = trainer.load_saved_model()
        outputs = trainer.predict_clips(model, trainer.clip_features(chosen, features,
                                                                     with_variants=False))
        rows: dict[str, list[dict]] = {}
        for clip, output in zip(chosen, outputs):
            rows.setdefault(clip.corpus, []).append({
                "path": relative_path(clip.path, root), "true": clip.label,
                "clean": labels[int(output.argmax())]})
        per_model.append(corpus_entries(rows, labels, ("clean",)))
        models.append({"path": str(directory), "seed": fold["seed"],
                       "trained_on": read_machine(directory)})
    card = {"models": models, "held_out": f"each fold's {held_out} speakers (float models)",
            "per_model": per_model, "summary": combine(per_model)}
    if shift is not None:
        # beside "held_out", not in it: the same speakers and clips, so the
        # compare tools still pair this card with one scored without it
        card["speaker_shift"] = shift
    return card


def held_out_shift(heard_clips: int | None, own_clip: bool) -> str | None:
    """How held-out clips are shifted, in words for the card; None for the
    default (each speaker's mean over all of their clips)."""
    if own_clip:
        return "each held-out clip by its own mean"
    if heard_clips == 0:
        return "not at all for held-out speakers (nothing heard)"
    if heard_clips is not None:
        return f"each held-out clip by {heard_clips} other clips' mean"
    return None
