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
    from .trainer import (FoldTrainer, _job, clip_key, open_finished_run, summarise_results,
                          write_json)

    finished = open_finished_run(run_dir, data_root)
    run, recipe, clips = finished.directory, finished.recipe, finished.clips
    cache = FeatureCache(cache_dir or default_cache_dir(), recipe.frontend)
    originals = extract([_job(c) for c in clips], cache, progress=progress)
    features = {clip_key(c): (f,) for c, f in zip(clips, originals)}
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
