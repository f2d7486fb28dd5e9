"""Finishing a training run that stopped: which folds it may keep.

A run directory holds one fold per ``split{i}_seed{s}`` folder. A fold is
finished once its ``metrics.json`` holds everything the run asked for (with
export on, the int8 metrics, which are written after the model file); the
trainer writes that file last and atomically, so a fold cut anywhere before
it has no ``metrics.json``. Such a fold goes on from its last whole epoch
(:mod:`.epoch_state`), or from the start if it was cut in its first. Folds
are only kept under the recipe that trained them, on the split they trained
on.
"""

from __future__ import annotations

import json
import pathlib

from .recipe import Recipe, RecipeError, recipe_from_dict


# a run.json without a recipe differs in every key: name a few, count the rest
SHOWN_DIFFERENCES = 5


def check_run_directory(run: pathlib.Path, recipe: Recipe, *, resume: bool) -> None:
    """Refuse to write over an earlier run, or to resume one with another recipe.

    A directory without ``run.json`` holds no run: it is used as it is.

    Raises:
        RecipeError: ``run`` holds a run and ``resume`` is off, or its recorded
            recipe differs from ``recipe`` (the message names the keys).
    """
    changed = changes_since_recorded(run, recipe)
    if changed is None:
        return
    if not resume:
        raise RecipeError(f"{run} already holds a training run; pass --resume to finish it "
                          "(its finished folds are kept), or choose another --out")
    if changed:
        shown = "; ".join(changed[:SHOWN_DIFFERENCES]) + (
            f"; and {len(changed) - SHOWN_DIFFERENCES} more"
            if len(changed) > SHOWN_DIFFERENCES else "")
        raise RecipeError(f"{run} was trained with a different recipe ({shown}); "
                          "resume it with the recipe and --set options it started with, "
                          "or choose another --out")


def check_kept_epoch_weights(run: pathlib.Path, keep_epoch_weights: bool) -> None:
    """Refuse to resume a run with ``--keep-epoch-weights`` other than it
    started with: kept epochs with a gap cannot be averaged again
    (:mod:`.epoch_weights`), and a run that never kept them cannot start now.
    Runs recorded before the flag was (``run.json`` without it) pass.

    Raises:
        RecipeError: ``run.json`` records the other setting.
    """
    record_path = run / "run.json"
    if not record_path.exists():
        return
    recorded = json.loads(record_path.read_text()).get("keep_epoch_weights")
    if recorded is None or recorded == keep_epoch_weights:
        return
    started = "with" if recorded else "without"
    raise RecipeError(f"{run} was started {started} --keep-epoch-weights; resume it "
                      f"{started} the flag, so its kept epochs have no gap")


def changes_since_recorded(run: pathlib.Path, recipe: Recipe) -> list[str] | None:
    """How ``recipe`` differs from the one recorded in ``run/run.json``
    (see :func:`recipe_differences`); None if ``run`` holds no run."""
    record_path = run / "run.json"
    if not record_path.exists():
        return None
    earlier = with_defaults(json.loads(record_path.read_text()).get("recipe", {}))
    return recipe_differences(earlier, _as_recorded(recipe))


def _as_recorded(recipe: Recipe) -> dict:
    """``recipe`` as run.json records it: through JSON, so tuples become lists."""
    return json.loads(json.dumps(recipe.to_dict()))


def with_defaults(recorded: dict) -> dict:
    """A recorded recipe with every key the recipe gained since filled at
    its default, which is what the code that trained it did; as recorded
    if it does not read as a recipe any more (the differences then name
    every key that changed), or is missing (then every key differs)."""
    if not recorded:
        return recorded
    try:
        return _as_recorded(recipe_from_dict(recorded))
    except RecipeError:
        return recorded


def recipe_differences(earlier: dict, now: dict, prefix: str = "") -> list[str]:
    """``key: earlier -> now`` for every key whose value differs, sections
    flattened to ``section.key``; keys present on one side only count too."""
    changed = []
    for key in sorted(set(earlier) | set(now)):
        name = f"{prefix}{key}"
        before, after = earlier.get(key, "(absent)"), now.get(key, "(absent)")
        if isinstance(before, dict) and isinstance(after, dict):
            changed += recipe_differences(before, after, f"{name}.")
        elif before != after:
            changed.append(f"{name}: {before} -> {after}")
    return changed


def finished_metrics(directory: pathlib.Path, split_json: str, *, exported: bool) -> dict | None:
    """The test metrics of a fold that finished in ``directory``, or None if
    it did not (no ``metrics.json``, or no int8 metrics when ``exported``).

    Raises:
        RecipeError: the fold finished on another split than ``split_json``
            (other speakers or clips: the data changed under the run).
    """
    path = directory / "metrics.json"
    if not path.exists():
        return None
    metrics = json.loads(path.read_text())
    if exported and "int8" not in metrics:
        return None
    check_same_split(directory, (directory / "split.json").read_text(), split_json,
                     stage="trained", kept_in="its split.json")
    return metrics


def check_same_split(directory: pathlib.Path, stored_json: str, split_json: str, *,
                     stage: str, kept_in: str) -> None:
    """Refuse to go on with a fold whose stored split is not ``split_json``.

    Both a finished fold and one cut mid-training are kept only for the
    speakers and clips they trained on; ``stage`` says which it was
    ("trained", "cut while training") and ``kept_in`` where the stored
    split can be read, so the user can see what changed.

    Raises:
        RecipeError: the splits differ (the data changed under the run).
    """
    if stored_json != split_json:
        raise RecipeError(f"{directory} was {stage} on another split than the data gives now "
                          f"(see {kept_in}): was --data changed? Train into a new --out")
