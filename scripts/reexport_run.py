"""Re-export every fold of a training run with the current export code.

    python scripts/reexport_run.py RUN_DIR --data ../shared/data

Rewrites each fold's ``model_int8.tflite`` (and its int8 test metrics, and the
run's ``report.md``) from
the fold's saved weights, exactly as ``emoedge train`` exports at the end of a
fold: the same export graph, the same representative windows (drawn from the
fold's training features with the fold's seed), the same metadata. Use it
when the export code changed after a run was trained; a fresh ``emoedge
train`` of the same recipe writes the same files, as training itself is
unchanged. Needs the ``train`` extra.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys


def reexport(run: pathlib.Path, data_root: str | None, cache_dir: str | None) -> list[str]:
    from emoedge.train.export import export_fold
    from emoedge.train.report import write_report
    from emoedge.train.trainer import FoldTrainer, open_finished_run

    finished = open_finished_run(run, data_root)
    recipe = finished.recipe
    labels = recipe.output_names
    features = finished.training_features(cache_dir, progress=False)
    written, results = [], []
    for fold in finished.record["folds"]:
        directory = run / fold["directory"]
        split = finished.splits[fold["split"]]
        trainer = FoldTrainer(recipe, labels, directory, seed=fold["seed"], progress=False)
        trainer.spec, trainer.model = trainer.load_saved_model()
        trainer.train = trainer.clip_features(split.train, features, with_variants=True)
        trainer.test = trainer.clip_features(split.test, features, with_variants=False)
        metrics = json.loads((directory / "metrics.json").read_text())
        metrics.pop("int8", None)
        result = trainer.saved_result(
            split.name, metrics, json.loads((directory / "predictions.json").read_text()))
        export_fold(trainer, split, recipe, labels, result)
        results.append(result)
        written.append(str(directory / "model_int8.tflite"))
    write_report(run, recipe, results, json.loads((run / "summary.json").read_text()), features)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=pathlib.Path, help="run directory of emoedge train")
    parser.add_argument("--data", default=os.environ.get("EMOEDGE_DATA"),
                        help="corpus root (default: $EMOEDGE_DATA)")
    parser.add_argument("--cache", default=os.environ.get("EMOEDGE_CACHE"),
                        help="feature cache (default: $EMOEDGE_CACHE or ~/.cache/emoedge)")
    args = parser.parse_args(argv)
    for path in reexport(args.run, args.data, args.cache):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
