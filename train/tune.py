"""``emoedge tune``: Bayesian search (Optuna TPE) with pruning of bad trials.

Trials are scored on validation speakers only; test folds are never looked
at while searching. The study lives in an SQLite file in the tuning folder,
so an interrupted search resumes where it stopped. The best configuration is
then retrained with 3 seeds and its test metrics reported once.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import pathlib
import shutil
from dataclasses import dataclass

from .recipe import Recipe, RecipeError
from .resume import changes_since_recorded


@dataclass(frozen=True, kw_only=True)
class SearchSpace:
    """Ranges searched; learning rate is log-uniform."""

    learning_rate: tuple[float, float] = (1e-4, 3e-3)
    batch_sizes: tuple[int, ...] = (32, 64, 128)
    dropout: tuple[float, float] = (0.1, 0.5)
    width: tuple[float, float] = (0.5, 1.5)
    augment_strength: tuple[float, float] = (0.0, 1.5)


def suggest(trial, base: Recipe, space: SearchSpace) -> Recipe:
    """The recipe a trial runs: ``base`` with the searched values replaced."""
    training = dataclasses.replace(
        base.training,
        learning_rate=trial.suggest_float("learning_rate", *space.learning_rate, log=True),
        batch_size=trial.suggest_categorical("batch_size", list(space.batch_sizes)))
    model = dataclasses.replace(
        base.model,
        dropout=trial.suggest_float("dropout", *space.dropout),
        width=trial.suggest_float("width", *space.width))
    augment = dataclasses.replace(
        base.augment, strength=trial.suggest_float("augment_strength", *space.augment_strength))
    return dataclasses.replace(base, training=training, model=model, augment=augment)


def run_tuning(base: Recipe, out_dir: str, *, trials: int, data_root: str | None,
               cache_dir: str | None = None, workers: int = 1, final_seeds=(0, 1, 2),
               space: SearchSpace = SearchSpace(), progress: bool = True) -> dict:
    """Search, then retrain the best recipe with ``final_seeds``; returns the summary.

    Raises:
        RecipeError: ``data.val_fraction`` is 0, leaving nothing to choose on.
    """
    if base.data.val_fraction == 0:
        raise RecipeError("tuning chooses on validation speakers: data.val_fraction must be "
                          "above 0")
    from .trainer import run_training, write_json

    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # Tuning picks on validation speakers, so each trial uses one speaker split.
    search_base = dataclasses.replace(
        base, data=dataclasses.replace(base.data, split="speaker"),
        training=dataclasses.replace(base.training, seeds=(base.training.seeds[0],)))
    study = _open_study(out, base.training.min_epochs)
    train = functools.partial(run_training, data_root=data_root, cache_dir=cache_dir,
                              workers=workers, progress=progress)
    remaining = trials - len([t for t in study.trials if t.state.is_finished()])
    if remaining > 0:
        study.optimize(_objective(search_base, space, out, train), n_trials=remaining, catch=())
    best = study.best_trial
    final = _retrain_best(best.params, base, space, out, final_seeds, train)
    summary = {
        "trials": [{"number": t.number, "state": t.state.name, "value": t.value,
                    "params": t.params} for t in study.trials],
        "best_trial": best.number, "best_val": best.value, "best_params": best.params,
        "final_seeds": list(final_seeds), "final_test": final.summary,
    }
    write_json(out / "tuning.json", summary)
    (out / "tuning.md").write_text(_report(summary))
    return summary


def _open_study(out: pathlib.Path, min_epochs: int):
    """The study stored in ``out/study.sqlite3``, created or reopened to resume."""
    import optuna

    study = optuna.create_study(
        study_name="emoedge", storage=f"sqlite:///{out / 'study.sqlite3'}", load_if_exists=True,
        direction="maximize",
        # No pruning before min_epochs: early validation UA is too noisy to
        # judge by (the first RAVDESS study pruned 16 of 20 trials at epoch 3).
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=min_epochs))
    # Seeded for repeatability, but offset by the trials already stored so a
    # resumed study does not replay its first random suggestions.
    study.sampler = optuna.samplers.TPESampler(seed=len(study.trials))
    return study


def _objective(search_base: Recipe, space: SearchSpace, out: pathlib.Path, train):
    """Optuna's objective: one trial's mean best validation UA, pruned by epoch."""
    import optuna

    from .epoch_state import discard_epoch_state

    def objective(trial) -> float:
        recipe = suggest(trial, search_base, space)

        def report(epoch: int, value: float) -> None:
            trial.report(value, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()

        directory = out / f"trial{trial.number:03d}"
        try:
            result = train(recipe, directory, export=False, on_epoch=report)
        except optuna.TrialPruned:
            for fold in directory.glob("split*_seed*"):
                discard_epoch_state(fold)  # a pruned trial is never resumed
            raise
        return result.summary["best_val"]["mean"]

    return objective


def _retrain_best(params: dict, base: Recipe, space: SearchSpace, out: pathlib.Path,
                  final_seeds, train):
    """Train the best trial's recipe on ``base``'s split with ``final_seeds``."""
    import optuna

    best_recipe = suggest(optuna.trial.FixedTrial(params), base, space)
    best_recipe = dataclasses.replace(
        best_recipe, training=dataclasses.replace(best_recipe.training, seeds=tuple(final_seeds)))
    (out / "best_recipe.toml").write_text(best_recipe.to_toml())
    return train(best_recipe, _final_directory(out / "best", best_recipe), resume=True)


def _final_directory(directory: pathlib.Path, recipe: Recipe) -> pathlib.Path:
    """``directory``, emptied if it holds the final run of another best recipe
    (a resumed study can pick a new best); the same recipe's folds are kept."""
    if changes_since_recorded(directory, recipe):
        shutil.rmtree(directory)
    return directory


def _report(summary: dict) -> str:
    lines = ["# emoedge tune", "",
             f"Best trial {summary['best_trial']}: validation score {summary['best_val']:.4f}",
             "", "```json", json.dumps(summary["best_params"], indent=1), "```", "",
             "| trial | state | validation | params |", "|---|---|---|---|"]
    for trial in summary["trials"]:
        value = "-" if trial["value"] is None else f"{trial['value']:.4f}"
        lines.append(f"| {trial['number']} | {trial['state']} | {value} | {trial['params']} |")
    final = summary["final_test"]
    lines += ["", f"Best recipe retrained with seeds {summary['final_seeds']} "
              "(test speakers, reported once):", "", "| metric | mean | std |", "|---|---|---|"]
    for name, value in final.items():
        if isinstance(value, dict) and "mean" in value:
            lines.append(f"| {name} | {value['mean']:.4f} | {value['std']:.4f} |")
    return "\n".join(lines) + "\n"
