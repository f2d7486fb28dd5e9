"""``emoedge listen`` and ``emoedge devices``: live emotion from a microphone.

Exit status: 0 when the session ends (duration reached, replayed file
finished, or Ctrl-C / SIGTERM, which print the summary like any end);
2 for a usage error or an audio problem (no input device, busy or vanished
device, refused sample rate, PortAudio missing, unreadable file), always as
one line on stderr.
"""

from __future__ import annotations

import signal
import sys
from dataclasses import dataclass, field

from ..live.config import CaptureConfig, SessionConfig, SmoothingConfig, VadConfig

EXIT_OK, EXIT_USAGE = 0, 2


class UsageError(Exception):
    """Bad arguments or an unusable input; one line, exit code 2."""


@dataclass(frozen=True, kw_only=True)
class ListenOptions:
    model: str | None = None
    input_path: str | None = None
    fast: bool = False
    hop_s: float | None = None
    duration_s: float | None = None
    as_json: bool = False
    num_threads: int | None = None
    capture: CaptureConfig = field(default_factory=CaptureConfig)
    vad: VadConfig = field(default_factory=VadConfig)
    smoothing: SmoothingConfig = field(default_factory=SmoothingConfig)


def run_listen(options: ListenOptions) -> int:
    """The whole command; returns the exit code."""
    from ..live.capture import CaptureError

    try:
        config = _session_config(options)
        model = _load_model(options)
        source = _open_source(options, model)
        pipeline = _pipeline(model, source, config)
    except (UsageError, CaptureError) as error:
        _say(f"emoedge: error: {error}")
        return EXIT_USAGE

    def started() -> None:
        _say(f"emoedge: listening to {source.description}, hop {pipeline.hop_s:g} s"
             + ("" if options.input_path else "; Ctrl-C stops"))

    with _sigterm_as_interrupt():
        try:
            summary = _run(options, source, pipeline, config, started)
        except CaptureError as error:  # the stream would not start
            _say(f"emoedge: error: {error}")
            return EXIT_USAGE
        except KeyboardInterrupt:  # before the session ran
            _say("emoedge: interrupted")
            return EXIT_OK
    if summary.error:
        _say(f"emoedge: error: {summary.error}")
    _say(summary.text())
    return EXIT_USAGE if summary.error else EXIT_OK


def _session_config(options: ListenOptions) -> SessionConfig:
    if options.fast and not options.input_path:
        raise UsageError("--fast needs --input FILE (a microphone runs in real time)")
    if options.duration_s is not None and options.duration_s <= 0:
        raise UsageError("--duration must be positive")
    if options.smoothing.time_constant_s < 0:
        raise UsageError("--smoothing must be 0 (off) or a positive time constant in seconds")
    if not 0 <= options.vad.min_speech_fraction <= 1:
        raise UsageError("--vad-min-fraction must be within 0..1")
    if options.capture.buffer_s <= 0:
        raise UsageError("--buffer must be positive")
    hop_ms = None
    if options.hop_s is not None:
        hop_ms = round(options.hop_s * 1000)
        if options.hop_s <= 0 or abs(hop_ms - options.hop_s * 1000) > 1e-6:
            raise UsageError(f"--hop must be a positive whole number of milliseconds, "
                             f"got {options.hop_s}")
    return SessionConfig(hop_ms=hop_ms, duration_s=options.duration_s, capture=options.capture,
                         vad=options.vad, smoothing=options.smoothing)


def _load_model(options: ListenOptions):
    from ..metadata import ModelConfigError
    from ..recognizer import PackagedModelMissing, load_model

    try:
        return load_model(options.model, num_threads=options.num_threads)
    except PackagedModelMissing as error:
        raise UsageError(f"{error.problem}; pass one with --model PATH") from None
    except ModelConfigError as error:
        raise UsageError(str(error)) from None
    except ImportError as error:  # no interpreter installed
        raise UsageError(str(error)) from None


def _open_source(options: ListenOptions, model):
    from ..live.capture import FileSource, MicSource, import_sounddevice, resolve_device

    if options.input_path:
        from ..audio import AudioError

        try:
            return FileSource(options.input_path, model_rate_hz=model.sample_rate_hz,
                              config=options.capture, fast=options.fast)
        except AudioError as error:
            raise UsageError(f"cannot read {options.input_path}: {error}") from None
    sd = import_sounddevice()
    device = resolve_device(sd, options.capture.device)
    return MicSource(sd, device, model_rate_hz=model.sample_rate_hz, config=options.capture)


def _pipeline(model, source, config: SessionConfig):
    from ..live.session import LivePipeline

    queue = source.queue
    try:
        return LivePipeline(model, input_rate_hz=source.format.sample_rate_hz,
                            input_channels=source.format.channels, config=config,
                            counters=lambda: (queue.overflows, queue.drops))
    except ValueError as error:  # a hop the model cannot take
        raise UsageError(f"--hop: {error}") from None


def _run(options: ListenOptions, source, pipeline, config: SessionConfig, started):
    from ..live.output import CounterWarnings, JsonLinesWriter, PlainLines
    from ..live.session import run_session

    if options.as_json:
        return run_session(source, pipeline, [JsonLinesWriter(), CounterWarnings()],
                           config=config, on_started=started)
    if not sys.stdout.isatty():
        return run_session(source, pipeline, [PlainLines(), CounterWarnings()], config=config,
                           on_started=started)
    from ..live.display import LiveDisplay

    with LiveDisplay(labels=pipeline.labels, source=source.description) as display:
        return run_session(source, pipeline, [display], config=config)


class _sigterm_as_interrupt:
    """SIGTERM ends the session like Ctrl-C (summary, exit 0)."""

    def __enter__(self):
        self._previous = None
        try:
            self._previous = signal.signal(signal.SIGTERM, self._handler)
        except ValueError:  # not the main thread
            pass
        return self

    @staticmethod
    def _handler(signum, frame):
        raise KeyboardInterrupt("SIGTERM")

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)


def run_devices() -> int:
    """``emoedge devices``: the input devices PortAudio sees; returns the exit code."""
    from ..live.capture import CaptureError, import_sounddevice, input_devices

    try:
        devices = input_devices(import_sounddevice())
    except CaptureError as error:
        _say(f"emoedge: error: {error}")
        return EXIT_USAGE
    if not devices:
        _say("emoedge: error: no input device: PortAudio sees no microphone or other "
             "recording device")
        return EXIT_USAGE
    width = max(len(d.name) for d in devices)
    for device in devices:
        mark = "*" if device.is_default else " "
        print(f"{mark} {device.index:3d}  {device.name:<{width}}  {device.host_api:<12} "
              f"{device.max_input_channels:3d} in  {device.default_sample_rate_hz:6d} Hz")
    print("(* = default; pass --device NAME or --device INDEX to emoedge listen)")
    return EXIT_OK


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
