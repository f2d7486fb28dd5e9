"""``emoedge train``, ``evaluate`` and ``tune``, registered as a CLI plugin.

``edge/`` never imports ``train/``: this module is found through the
``emoedge.commands`` entry-point group and adds its commands to the app.
Nothing heavy is imported until a command runs.
"""

from __future__ import annotations

import os

import typer

DATA_HELP = "Root folder of the corpora (default: $EMOEDGE_DATA)."


def _data_root(data: str | None) -> str | None:
    return data or os.environ.get("EMOEDGE_DATA")


def _fail(error: Exception) -> None:
    typer.echo(f"emoedge: error: {error}", err=True)
    raise typer.Exit(2)


TRAIN_MODULES = ("tensorflow", "tf_keras", "tensorflow_model_optimization", "optuna",
                 "audiomentations", "matplotlib")


def require_train_extra(command: str) -> None:
    """One clear line, not a traceback, when the train extra is missing."""
    import importlib.util

    missing = [name for name in TRAIN_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        _fail(RuntimeError(f"emoedge {command} needs the train extra (missing "
                           f"{', '.join(missing)}): pip install 'emoedge[train]'"))


def train(
    recipe: str = typer.Argument(None, help="TOML recipe (default: all defaults)."),
    out: str = typer.Option(..., "--out", "-o", help="Run directory to create (with --resume: the stopped run to finish)."),
    data: str = typer.Option(None, "--data", help=DATA_HELP),
    set_: list[str] = typer.Option([], "--set", help="Override: section.key=value (repeatable)."),
    cache: str = typer.Option(None, "--cache", help="Feature cache folder (default: $EMOEDGE_CACHE or ~/.cache/emoedge)."),
    workers: int = typer.Option(max(1, (os.cpu_count() or 1)), "--workers", help="Feature extraction processes."),
    init: str = typer.Option(None, "--init", help="Fine-tune from these Keras weights (.weights.h5)."),
    strategy: str = typer.Option(None, "--strategy", help="tf.distribute strategy: default, mirrored, multiworker."),
    export: bool = typer.Option(True, "--export/--no-export", help="Write the int8 model of each fold."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    resume: bool = typer.Option(False, "--resume", help=("Finish a run that stopped: keep the folds it finished, go on with the cut one "
                                      "from its last whole epoch, train the rest (same recipe and --set options).")),
    keep_epoch_weights: bool = typer.Option(
        False, "--keep-epoch-weights", help="Also keep every epoch's trained weights in each fold "
        "(about 1 MB an epoch), to read other averages of the same run afterwards "
        "(python -m emoedge.train.reaverage)."),
) -> None:
    """Train a model; writes the run directory with its report."""
    require_train_extra("train")
    from .corpora import DataError
    from .recipe import RecipeError, load_recipe
    from .trainer import run_training, test_figures

    overrides = list(set_) + ([f"training.strategy=\"{strategy}\""] if strategy else [])
    try:
        loaded = load_recipe(recipe, overrides)
        result = run_training(loaded, out, data_root=_data_root(data), cache_dir=cache,
                              workers=workers, init_weights=init, export=export,
                              progress=not quiet, resume=resume,
                              keep_epoch_weights=keep_epoch_weights)
    except (RecipeError, DataError, ValueError, OSError) as error:
        _fail(error)
    report = os.path.join(result.run_dir, "report.md")
    figures = test_figures(result.summary)
    if not figures:
        typer.echo(f"run written to {result.run_dir}: every speaker trained, none held out, so "
                   f"no test figures ({len(result.folds)} fold(s)); report: {report}")
        return
    headline = figures.get("ua") or next(iter(figures.values()))
    typer.echo(f"run written to {result.run_dir}: test {'UA' if 'ua' in figures else ''} "
               f"{headline['mean']:.4f} ± {headline['std']:.4f} over {len(result.folds)} fold(s); "
               f"report: {report}")


def evaluate(
    run_dir: str = typer.Argument(..., help="A run directory written by emoedge train."),
    data: str = typer.Option(None, "--data", help=DATA_HELP),
    cache: str = typer.Option(None, "--cache", help="Feature cache folder."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
    card: str = typer.Option(
        None, "--card", help="Instead of rewriting the report, write a card (card.json, card.md) "
        "of the float fold models to this folder, for card_compare and seed_compare."),
    held_out: str = typer.Option("test", "--held-out",
                                 help="With --card: score each fold's 'test', 'val' or 'train' "
                                 "speakers (train: the ones it learned from, e.g. to check a "
                                 "run that held out none against its int8 file)."),
    seed: int = typer.Option(None, "--seed", help="With --card: only the folds of this seed."),
    heard_clips: int = typer.Option(
        None, "--heard-clips", help="With --card, for a speaker-shifted run: shift each held-out "
        "clip by the mean of this many of its speaker's other clips, not all of them "
        "(0: do not shift, as a device that has heard nothing)."),
    own_clip: bool = typer.Option(
        False, "--own-clip", help="With --card, for a speaker-shifted run: shift each held-out "
        "clip by its own mean, as scoring files of unknown speakers one by one would."),
    gate: list[float] = typer.Option(
        [], "--gate", help="With --card: also score the held-out clips through a noise gate "
        "at this level in dBFS (samples under it set to 0; e.g. -60), as a column "
        "'gate-60'. Repeatable."),
    fill_zeros: bool = typer.Option(
        False, "--fill-zeros", help="With --card: also score the held-out clips with every "
        "exact-zero sample set to +1 or -1 (a gate's silence undone), as a column 'fill-zeros'."),
) -> None:
    """Re-evaluate a run's saved fold models on their test speakers; rewrite its report."""
    require_train_extra("evaluate")
    from .evaluate import evaluate_run
    from .recipe import RecipeError

    if card:
        _write_float_card(run_dir, card, held_out=held_out, seed=seed, heard_clips=heard_clips,
                          own_clip=own_clip, gates=gate, fill_zeros=fill_zeros, data=data,
                          cache=cache, quiet=quiet)
        return
    card_only = [name for name, given in (("--held-out", held_out != "test"),
                                          ("--seed", seed is not None),
                                          ("--heard-clips", heard_clips is not None),
                                          ("--own-clip", own_clip),
                                          ("--gate", bool(gate)),
                                          ("--fill-zeros", fill_zeros)) if given]
    if card_only:
        # without --card they would be ignored and the report rewritten as if unasked
        _fail(ValueError(f"{', '.join(card_only)}: only with --card DIR (a float card)"))
    try:
        summary = evaluate_run(run_dir, data_root=_data_root(data), cache_dir=cache,
                               progress=not quiet)
    except (RecipeError, ValueError, OSError) as error:
        _fail(error)
    for name, value in summary.items():
        if isinstance(value, dict) and "mean" in value:
            typer.echo(f"{name}: {value['mean']:.4f} ± {value['std']:.4f}")


def _write_float_card(run_dir: str, folder: str, *, held_out: str, seed: int | None,
                      heard_clips: int | None, own_clip: bool, gates: list[float],
                      fill_zeros: bool, data: str | None,
                      cache: str | None, quiet: bool) -> None:
    import pathlib

    from .card_compare import write_card
    from .evaluate import float_card
    from .model_card import markdown_table
    from .recipe import RecipeError
    from .speaker_norm import OffsetClips

    try:
        shift = OffsetClips(heard_clips=heard_clips, own_clip=own_clip)
        result = float_card(run_dir, held_out=held_out, data_root=_data_root(data), seed=seed,
                            speaker_shift=shift, gates_dbfs=gates, fill_zeros=fill_zeros,
                            cache_dir=cache,
                            progress=not quiet)
        out = pathlib.Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        write_card(result, out / "card.json")
        shift = f", features shifted {result['speaker_shift']}" if "speaker_shift" in result else ""
        table = (f"Scored on {result['held_out']}{shift}.\n\n"
                 + markdown_table(result["summary"]))
        (out / "card.md").write_text(table)
    except (RecipeError, ValueError, OSError) as error:
        _fail(error)
    typer.echo(table, nl=False)


def tune(
    recipe: str = typer.Argument(None, help="Base TOML recipe."),
    out: str = typer.Option(..., "--out", "-o", help="Tuning folder (holds the resumable study)."),
    trials: int = typer.Option(20, "--trials", help="Total trials (resumed studies count old ones)."),
    data: str = typer.Option(None, "--data", help=DATA_HELP),
    set_: list[str] = typer.Option([], "--set", help="Override: section.key=value."),
    cache: str = typer.Option(None, "--cache"),
    workers: int = typer.Option(max(1, (os.cpu_count() or 1)), "--workers"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Search learning rate, batch size, dropout, width and augmentation strength."""
    require_train_extra("tune")
    from .recipe import RecipeError, load_recipe
    from .tune import run_tuning

    try:
        summary = run_tuning(load_recipe(recipe, set_), out, trials=trials,
                             data_root=_data_root(data), cache_dir=cache, workers=workers,
                             progress=not quiet)
    except (RecipeError, ValueError, OSError) as error:
        _fail(error)
    typer.echo(f"best trial {summary['best_trial']} (validation {summary['best_val']:.4f}); "
               f"see {os.path.join(out, 'tuning.md')}")


def register(app: typer.Typer) -> None:
    """Entry point of the ``emoedge.commands`` group."""
    app.command()(train)
    app.command()(evaluate)
    app.command()(tune)
