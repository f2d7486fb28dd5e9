"""The ``emoedge`` command line. Heavy imports stay inside the commands."""

from __future__ import annotations

import typer

from . import __version__

app = typer.Typer(
    name="emoedge",
    help="Speech emotion recognition on Raspberry Pi-class devices.",
    no_args_is_help=True,
    add_completion=False,
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"emoedge {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_show_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Speech emotion recognition on Raspberry Pi-class devices."""


@app.command()
def features(
    audio: str = typer.Argument(..., help="An audio file (WAV, FLAC, OGG; any rate, any channels)."),
    output: str = typer.Option(None, "--output", "-o", help="Write the features as .npy here."),
) -> None:
    """Compute frontend features of an audio file and print their summary."""
    import numpy as np

    from .audio import AudioError, read_pcm
    from .frontend import FrontendConfig, compute_features

    config = FrontendConfig()
    try:
        _, pcm = read_pcm(audio, config.sample_rate_hz)
    except AudioError as error:
        raise typer.BadParameter(f"cannot read {audio}: {error}", param_hint="AUDIO") from None
    feats = compute_features(pcm, config)
    typer.echo(f"{feats.shape[0]} frames x {feats.shape[1]} channels, "
               f"min {feats.min(initial=0)}, max {feats.max(initial=0)}")
    if output:
        np.save(output, feats)


@app.command()
def info(
    model: str = typer.Argument(..., help="An emoedge .tflite model file."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of text."),
) -> None:
    """Show a model's metadata, tensors, ops, size and checksums."""
    from .commands.info import run_info

    raise typer.Exit(run_info(model, as_json))


@app.command()
def score(
    inputs: list[str] = typer.Argument(..., help="Audio files, folders (searched recursively) or globs."),
    output: str = typer.Option(..., "--output", "-o", help="Result file: .csv or .jsonl."),
    model: str = typer.Option(None, "--model", "-m", help="Model file (default: the packaged model)."),
    resume: bool = typer.Option(False, "--resume", help="Skip inputs already in OUTPUT; append the rest."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing OUTPUT."),
    workers: int = typer.Option(1, "--workers", "-w", help="Worker processes."),
    segments: bool = typer.Option(False, "--segments", help="One row per model window, with start_s/end_s."),
    threads: int = typer.Option(None, "--threads", help="Interpreter threads per worker."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Score audio files: one row per file, flushed as each finishes.

    Exit status: 0 all inputs scored, 1 some inputs failed (their rows say
    why), 2 usage error, 130 interrupted (finished rows are kept; --resume).
    """
    from .commands.score import ScoreOptions, run_score

    raise typer.Exit(run_score(ScoreOptions(
        inputs=tuple(inputs), output=output, model=model, resume=resume, overwrite=overwrite,
        workers=workers, segments=segments, quiet=quiet, num_threads=threads)))


@app.command()
def audit(
    model: str = typer.Argument(..., help="A .tflite model file."),
    allow_float: bool = typer.Option(False, "--allow-float", help="Do not fail on float tensors."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Check a model is integer-only; report ops, MACs, parameters, sizes, arena."""
    from .commands.audit import run_audit

    raise typer.Exit(run_audit(model, allow_float=allow_float, as_json=as_json))


def _load_plugins() -> None:
    """Add commands from the ``emoedge.commands`` entry-point group.

    ``emoedge.train`` registers train / evaluate / tune this way, so edge/
    never imports train/ and the device CLI starts without it.
    """
    from importlib.metadata import entry_points

    for entry in entry_points(group="emoedge.commands"):
        try:
            entry.load()(app)
        except Exception as error:  # noqa: BLE001 - a broken plugin must not break the CLI
            typer.echo(f"emoedge: warning: commands from {entry.value} unavailable: {error}",
                       err=True)


def main() -> None:
    """Entry point of the ``emoedge`` console script."""
    _load_plugins()
    app()
