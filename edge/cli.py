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
    model: str = typer.Argument(None, help="An emoedge .tflite model file (default: the packaged model)."),
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


@app.command()
def bench(
    model: str = typer.Option(None, "--model", "-m", help="Model file (default: the packaged model)."),
    audio: str = typer.Option(None, "--audio", help="Audio file to run on (default: a generated signal)."),
    seconds: float = typer.Option(None, "--seconds", help="Length of the generated signal [default: 10]."),
    rate: int = typer.Option(None, "--rate", help="Sample rate of the generated signal [default: the model's]."),
    threads: int = typer.Option(None, "--threads", help="Interpreter threads."),
    json_out: str = typer.Option(None, "--json", help="Also write the report as JSON here."),
    compare: str = typer.Option(None, "--compare", help="A second model to measure in the same run."),
    repeat: int = typer.Option(5, "--repeat", help="Measured passes after warm-up."),
    warmup: int = typer.Option(1, "--warmup", help="Unmeasured passes first."),
) -> None:
    """Time every stage of the runtime on this machine, per window and end to end.

    Stages: decode, resample, frontend, quantize, invoke, postprocess.

    Exit status: 0 measured, 1 the measurement failed, 2 usage error.
    """
    from .commands.bench import BenchOptions, run_bench

    raise typer.Exit(run_bench(BenchOptions(
        model=model, audio=audio, seconds=seconds, rate_hz=rate, num_threads=threads,
        json_path=json_out, compare=compare, repeat=repeat, warmup=warmup)))


# --- live: emoedge listen / devices ------------------------------------------
from .live.config import CaptureConfig, SmoothingConfig, VadConfig  # noqa: E402 - dataclasses only

_VAD, _SMOOTHING, _CAPTURE = VadConfig(), SmoothingConfig(), CaptureConfig()


@app.command()
def listen(
    model: str = typer.Option(None, "--model", "-m",
                              help="Model file (default: the packaged model)."),
    device: str = typer.Option(None, "--device", "-d",
                               help="Input device: NAME (or a unique part of it) or INDEX; "
                                    "see emoedge devices. Default: the system's input."),
    duration: float = typer.Option(None, "--duration", help="Stop after S seconds of audio "
                                   "(default: until Ctrl-C or the end of --input)."),
    input_file: str = typer.Option(None, "--input", "-i", help="Replay FILE through the same "
                                   "streaming path instead of the microphone, in real time."),
    fast: bool = typer.Option(False, "--fast", help="With --input: as fast as possible."),
    hop: float = typer.Option(None, "--hop", help="Seconds between results, a multiple of the "
                              "frontend step (default: the model's hop)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per hop on stdout "
                                 "instead of the live view; nothing else on stdout."),
    smoothing: float = typer.Option(_SMOOTHING.time_constant_s, "--smoothing", help="EMA time "
                                    "constant in seconds over speech windows; 0 = off."),
    vad_margin_db: float = typer.Option(_VAD.margin_db, "--vad-margin-db", help="A frame is "
                                        "loud this many dB above the noise floor ..."),
    vad_min_dbfs: float = typer.Option(_VAD.min_level_dbfs, "--vad-min-dbfs",
                                       help="... and above this level."),
    vad_min_fraction: float = typer.Option(_VAD.min_speech_fraction, "--vad-min-fraction",
                                           help="Share of loud frames that makes a window "
                                                "speech; 0 with --vad-min-range-db 0 = gate off."),
    vad_min_range_db: float = typer.Option(_VAD.min_dynamic_range_db, "--vad-min-range-db",
                                           help="Least energy spread of a speech window "
                                                "(steady noise has little); 0 = off."),
    buffer: float = typer.Option(_CAPTURE.buffer_s, "--buffer", help="Seconds of audio queued "
                                 "for the worker; beyond it blocks are dropped and counted."),
    threads: int = typer.Option(None, "--threads", help="Interpreter threads."),
) -> None:
    """Live emotion from the microphone, or from a replayed file.

    Shows a bar per emotion, the current label, the input level,
    valence/arousal, and overflow/drop counters.

    Windows without speech show as "no speech". Ctrl-C ends with a summary
    (time per emotion, overflows, drops) on stderr. Exit status: 0 ended,
    2 usage or audio-device error.
    """
    import dataclasses

    from .commands.listen import ListenOptions, run_listen

    raise typer.Exit(run_listen(ListenOptions(
        model=model, input_path=input_file, fast=fast, hop_s=hop, duration_s=duration,
        as_json=as_json, num_threads=threads,
        capture=dataclasses.replace(_CAPTURE, device=device, buffer_s=buffer),
        vad=dataclasses.replace(_VAD, margin_db=vad_margin_db, min_level_dbfs=vad_min_dbfs,
                                min_speech_fraction=vad_min_fraction,
                                min_dynamic_range_db=vad_min_range_db),
        smoothing=dataclasses.replace(_SMOOTHING, time_constant_s=smoothing))))


@app.command()
def devices() -> None:
    """List the input devices PortAudio sees (for listen --device)."""
    from .commands.listen import run_devices

    raise typer.Exit(run_devices())


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
