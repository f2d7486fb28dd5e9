"""``emoedge bench``: how fast the real runtime path is, stage by stage.

Two kinds of pass over the same audio, each repeated after warm-up:

- **Staged pass** (per-stage and per-window figures): the file is decoded
  block by block (``audio.decode_blocks``), converted to the model's rate
  (``audio.BlockConverter``: downmix, soxr resampling, rounding), then fed
  to a fresh ``StreamingRecognizer`` in chunks of one model hop, as a live
  listener feeds it: ``features`` (frontend) and ``feature_windows``
  (windowing) make the *frontend* stage, then per window the model runner's
  ``quantize_input``, ``invoke`` and ``dequantize_output`` plus the
  recognizer's ``window_result`` (softmax, valence/arousal) make the
  *quantize*, *invoke* and *postprocess* stages. These are the methods
  ``StreamingRecognizer.process`` itself calls, in the same order; the
  bench only reads the clock between them. Its window results are checked
  to equal ``predict_file``'s, so the split cannot drift from the real path.
- **End-to-end pass**: one ``EmotionModel.predict_file`` call on the file
  (decode, resample, frontend in 10 s blocks, every window, the clip
  decision), exactly what ``emoedge score`` does per file.

Times come from ``time.perf_counter_ns``; statistics are over all measured
calls (numpy's linear-interpolation percentiles). *Per window* is the time
from a hop of audio arriving to its window's result: that chunk's frontend
time plus its window's quantize, invoke and postprocess. The real-time
factor is end-to-end p50 time / audio duration (below 1 is faster than real
time). Each stage is also bracketed by :mod:`emoedge.bench_markers`, so an
instruction counter under emulation can attribute guest instructions to it.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass

import numpy as np

from ..cpuinfo import cpu_model, read_cpuinfo, vector_extensions

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
STAGES = ("decode", "resample", "frontend", "quantize", "invoke", "postprocess")
PIPELINE_STAGES = ("frontend", "quantize", "invoke", "postprocess")
DEFAULT_SECONDS = 10.0
SCHEMA = "emoedge.bench/1"
CALIBRATION_PAIRS = 16

class UsageError(Exception):
    """Bad arguments or unusable inputs; one line, exit code 2."""


@dataclass(frozen=True, kw_only=True)
class BenchOptions:
    model: str | None = None
    audio: str | None = None
    seconds: float | None = None
    rate_hz: int | None = None
    num_threads: int | None = None
    json_path: str | None = None
    compare: str | None = None
    repeat: int = 5
    warmup: int = 1


# --- the generated signal --------------------------------------------------
def speech_like_signal(seconds: float, rate_hz: int, seed: int = 0) -> np.ndarray:
    """A deterministic vowel-like test signal, float64 in [-1, 1).

    Harmonics of a glottal pitch (110-190 Hz, drifting like intonation)
    shaped by three formant resonances, in syllables of about 4 per second,
    over a faint noise floor. It is generated in blocks without a Python loop
    over samples, so long signals are quick to make even under emulation.
    """
    rng = np.random.default_rng(seed)
    n = int(round(seconds * rate_hz))
    t = np.arange(n) / rate_hz
    pitch = 150.0 + 30.0 * np.sin(2 * np.pi * 0.3 * t) + 10.0 * np.sin(2 * np.pi * 2.1 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / rate_hz
    nyquist = min(rate_hz / 2, 7600.0)
    harmonics = np.arange(1, int(nyquist // 190) + 1)
    formants = ((700.0, 80.0), (1200.0, 90.0), (2600.0, 120.0))
    signal = np.zeros(n)
    block = 1 << 15
    for begin in range(0, n, block):
        part = slice(begin, min(n, begin + block))
        freqs = np.outer(pitch[part], harmonics)              # (samples, harmonics)
        gain = np.ones_like(freqs)
        for centre, bandwidth in formants:                    # resonance magnitudes
            gain *= 1.0 / np.sqrt((1 - (freqs / centre) ** 2) ** 2 + (freqs * bandwidth
                                                                     / centre ** 2) ** 2)
        signal[part] = (gain / harmonics * np.sin(np.outer(phase[part], harmonics))).sum(axis=1)
    syllables = 0.55 + 0.45 * np.sin(2 * np.pi * 4.0 * t + rng.uniform(0, 2 * np.pi))
    signal *= syllables / (np.abs(signal).max() + 1e-12)
    signal = 0.5 * signal + rng.normal(0.0, 0.002, n)
    return np.clip(signal, -1.0, 1.0 - 2.0 ** -15)


def write_generated_audio(folder: str, seconds: float, rate_hz: int) -> str:
    """The generated signal as a mono 16-bit WAV file in ``folder``."""
    import soundfile

    path = os.path.join(folder, f"generated_{seconds:g}s_{rate_hz}hz.wav")
    soundfile.write(path, speech_like_signal(seconds, rate_hz), rate_hz, subtype="PCM_16")
    return path


# --- statistics ------------------------------------------------------------
def summarize(times_ns: list[int]) -> dict:
    """min / p50 / p95 / p99 / max in ms over calls; None for no calls."""
    if not times_ns:
        return {key: None for key in ("min_ms", "p50_ms", "p95_ms", "p99_ms", "max_ms")}
    ms = np.asarray(times_ns, dtype=np.float64) / 1e6
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return {"min_ms": float(ms.min()), "p50_ms": float(p50), "p95_ms": float(p95),
            "p99_ms": float(p99), "max_ms": float(ms.max())}


class _Clock:
    """Stage times of the measured passes, with optional marker calls."""

    def __init__(self, markers) -> None:
        self.markers = markers
        self.times: dict[str, list[int]] = {stage: [] for stage in STAGES}
        self.per_window: list[int] = []

    def run(self, stage: str, function, *args):
        self.markers.begin(stage)
        start = time.perf_counter_ns()
        result = function(*args)
        stop = time.perf_counter_ns()
        self.markers.end(stage)
        # Subtract outside the marked region: CPython's int subtraction takes
        # 7 more instructions when the two readings differ in their top 30-bit
        # digit, i.e. when the call straddles a multiple of 2**30 ns, so inside
        # the region it made the instruction counts vary from run to run.
        self.times[stage].append(stop - start)
        return result


# --- one model -------------------------------------------------------------
def staged_pass(model, path: str, clock: _Clock) -> list:
    """One pass over the file through the runtime's own layers, stage by stage.

    Returns:
        the window results, in order.
    """
    from ..audio import BlockConverter, decode_blocks, open_audio

    rate = model.sample_rate_hz
    info, handle = open_audio(path)
    converter = BlockConverter(info, rate)
    blocks = decode_blocks(handle, info, converter.passthrough)
    parts = []
    while True:
        item = clock.run("decode", next, blocks, None)
        if item is None:
            clock.times["decode"].pop()  # the call that found the end
            break
        if converter.passthrough:
            parts.append(item[0])
        else:
            parts.append(clock.run("resample", converter, *item))
    pcm = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)

    recognizer = model.stream()
    runner = model.runner
    chunk = model.metadata.hop_ms * rate // 1000
    times = clock.times
    results = []
    for offset in range(0, len(pcm), chunk):
        before = {stage: len(times[stage]) for stage in PIPELINE_STAGES}
        windows = clock.run("frontend", _frontend_step, recognizer, pcm[offset:offset + chunk])
        for start, frames in windows:
            model_input = clock.run("quantize", runner.quantize_input, frames)
            raw = clock.run("invoke", runner.invoke, model_input)
            results.append(clock.run("postprocess", _postprocess, recognizer, runner, start, raw))
        if windows:
            spent = sum(sum(times[stage][before[stage]:]) for stage in PIPELINE_STAGES)
            clock.per_window += [spent // len(windows)] * len(windows)
    return results


def _frontend_step(recognizer, samples: np.ndarray):
    return recognizer.feature_windows(recognizer.features(samples))


def _postprocess(recognizer, runner, start: int, raw: np.ndarray):
    return recognizer.window_result(start, runner.dequantize_output(raw))


def measure_model(model, path: str, audio_s: float, options: BenchOptions, markers) -> dict:
    """Every figure of one model on one file."""
    if markers.active:
        for _ in range(CALIBRATION_PAIRS):
            markers.begin("calibrate")
            markers.end("calibrate")
    clock, staged_windows = _timed_stages(model, path, options, markers)
    reference = model.predict_file(path, segments=True)  # the real path, untimed
    if list(reference.segments) != staged_windows:
        raise RuntimeError("the staged pass gave other windows than predict_file; "
                           "emoedge bench no longer follows the runtime path")
    end_to_end, prediction = _timed_end_to_end(model, path, options, markers)
    stages = {}
    for stage in STAGES:
        calls = clock.times[stage]
        total_ms = sum(calls) / 1e6 / options.repeat
        stages[stage] = {"calls_per_pass": len(calls) // options.repeat,
                         "ms_per_pass": total_ms,
                         "ms_per_audio_s": total_ms / audio_s,
                         **summarize(calls)}
    e2e = summarize(end_to_end)
    e2e_s = e2e["p50_ms"] / 1000
    meta = model.metadata
    return {
        "path": model.path,
        "size_bytes": os.path.getsize(model.path),
        "input_dtype": meta.input.dtype,
        "labels": list(meta.labels),
        "window_ms": meta.window_ms,
        "hop_ms": meta.hop_ms,
        "sample_rate_hz": model.sample_rate_hz,
        "windows_per_pass": len(staged_windows),
        "stages": stages,
        "pipeline_ms_per_audio_s": sum(stages[s]["ms_per_audio_s"] for s in PIPELINE_STAGES),
        "per_window": summarize(clock.per_window),
        "end_to_end": e2e,
        "real_time_factor": e2e_s / audio_s,
        "windows_per_s": len(staged_windows) / e2e_s if e2e_s > 0 else None,
        "peak_rss_mb_after": peak_rss()[0],
        "prediction": {"label": prediction.label, "confidence": prediction.confidence,
                       "num_windows": prediction.num_windows},
    }


def _timed_stages(model, path: str, options: BenchOptions, markers):
    """Warm-up then measured staged passes; returns the clock of the measured
    ones and the first pass's windows."""
    from ..bench_markers import Markers

    quiet = Markers(active=False)
    clock = _Clock(markers)
    staged_windows = None
    for index in range(options.warmup + options.repeat):
        target = clock if index >= options.warmup else _Clock(quiet)
        windows = staged_pass(model, path, target)
        staged_windows = staged_windows or windows
    return clock, staged_windows


def _timed_end_to_end(model, path: str, options: BenchOptions, markers):
    """Warm-up then measured ``predict_file`` calls; returns the measured
    times (ns) and the last prediction."""
    from ..bench_markers import Markers

    quiet = Markers(active=False)
    end_to_end = []
    for index in range(options.warmup + options.repeat):
        measured = index >= options.warmup
        (markers if measured else quiet).begin("end_to_end")
        start = time.perf_counter_ns()
        prediction = model.predict_file(path)
        stop = time.perf_counter_ns()
        (markers if measured else quiet).end("end_to_end")
        if measured:
            end_to_end.append(stop - start)  # outside the region, as in _Clock.run
    return end_to_end, prediction


def compare_models(base: dict, other: dict) -> dict:
    """Ratios other / base of the figures that compare across models."""
    def ratio(a, b):
        return None if a is None or b is None or a == 0 else b / a

    ratios = {"size": ratio(base["size_bytes"], other["size_bytes"]),
              "end_to_end_p50": ratio(base["end_to_end"]["p50_ms"], other["end_to_end"]["p50_ms"]),
              "per_window_p50": ratio(base["per_window"]["p50_ms"], other["per_window"]["p50_ms"]),
              "pipeline_ms_per_audio_s": ratio(base["pipeline_ms_per_audio_s"],
                                               other["pipeline_ms_per_audio_s"])}
    for stage in STAGES:
        ratios[f"{stage}_ms_per_pass"] = ratio(base["stages"][stage]["ms_per_pass"],
                                               other["stages"][stage]["ms_per_pass"])
    return {"baseline": base["path"], "model": other["path"], "ratios": ratios}


# --- the machine -----------------------------------------------------------
def peak_rss() -> tuple[float, str]:
    """Peak resident memory of this process in MB, and where it came from."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024, "VmHWM"
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return (peak / 2**20 if sys.platform == "darwin" else peak / 1024), "ru_maxrss"


def environment(model, options: BenchOptions, markers) -> dict:
    from .. import __version__

    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    cpuinfo = read_cpuinfo()
    return {
        "interpreter": model.backend.name,
        "interpreter_version": model.backend.version,
        "threads": options.num_threads,
        "cpu_model": cpu_model(cpuinfo),
        "vector_extensions": list(vector_extensions(cpuinfo)),
        "cpu_cores": os.cpu_count(),
        "cpu_cores_usable": usable,
        "machine": platform.machine(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "numpy": np.__version__,
        "emoedge": __version__,
        "os": platform.platform(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "markers": markers.active,
    }


# --- the command -------------------------------------------------------------
def run_bench(options: BenchOptions) -> int:
    """The whole command; returns the exit code."""
    from ..audio import AudioError
    from ..bench_markers import Markers
    from ..metadata import ModelConfigError
    from ..recognizer import ClipError

    try:
        _check_options(options)
        models = [_load(options.model, options.num_threads, "--model")]
        if options.compare:
            models.append(_load(options.compare, options.num_threads, "--compare"))
    except UsageError as error:
        _say(f"emoedge: error: {error}")
        return EXIT_USAGE
    markers = Markers()
    with tempfile.TemporaryDirectory(prefix="emoedge-bench-") as folder:
        path = options.audio
        try:
            path, source, info = _bench_audio(options, models, folder)
            started = environment(models[0], options, markers)
            results = [measure_model(model, path, info.duration_s, options, markers)
                       for model in models]
        except (UsageError, AudioError, ClipError) as error:
            prefix = "" if isinstance(error, UsageError) else f"cannot use the audio {path}: "
            _say(f"emoedge: error: {prefix}{error}")
            return EXIT_USAGE
        except (RuntimeError, ModelConfigError) as error:
            _say(f"emoedge: error: {error}")
            return EXIT_FAILED
    report = _report(started, source, info, options, results)
    print(format_report(report))
    if options.json_path:
        with open(options.json_path, "w", encoding="utf-8") as out:
            json.dump(report, out, indent=2)
            out.write("\n")
    return EXIT_OK


def _bench_audio(options: BenchOptions, models: list, folder: str):
    """The file to measure on: ``--audio``, or speech-like audio generated
    into ``folder``. Returns (path, source name, its AudioInfo).

    Raises:
        UsageError: the audio cannot be read, or is shorter than a model's
            window.
    """
    from ..audio import AudioError, open_audio

    if options.audio:
        path, source = options.audio, options.audio
    else:
        seconds = DEFAULT_SECONDS if options.seconds is None else options.seconds
        rate = options.rate_hz or models[0].sample_rate_hz
        path = write_generated_audio(folder, seconds, rate)
        source = "generated"
    try:
        info, handle = open_audio(path)
    except AudioError as error:
        raise UsageError(f"cannot use the audio {path}: {error}") from error
    handle.close()
    for model in models:
        if info.duration_s < model.metadata.window_ms / 1000:
            raise UsageError(f"the audio ({info.duration_s:.3f} s) is shorter than the "
                             f"window of {model.path} ({model.metadata.window_ms} ms)")
    return path, source, info


def _report(env: dict, source: str, info, options: BenchOptions, results: list[dict]) -> dict:
    """The JSON report: ``env`` from :func:`environment` (completed here with
    the load at the end), the audio, the settings and each model's figures."""
    rss_mb, rss_source = peak_rss()
    env["load_average_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    return {
        "schema": SCHEMA,
        "environment": env,
        "audio": {"source": source, "duration_s": info.duration_s,
                  "sample_rate_hz": info.sample_rate_hz, "channels": info.channels,
                  "subtype": info.subtype},
        "settings": {"warmup": options.warmup, "repeat": options.repeat,
                     "chunk": "one model hop"},
        "peak_rss_mb": rss_mb,
        "peak_rss_source": rss_source,
        "models": results,
        "comparison": compare_models(results[0], results[1]) if len(results) > 1 else None,
    }


def _check_options(options: BenchOptions) -> None:
    if options.audio and options.seconds is not None:
        raise UsageError("give --audio or --seconds, not both")
    if options.audio and options.rate_hz is not None:
        raise UsageError("--rate applies to generated audio only, not to --audio")
    if options.seconds is not None and not (0 < options.seconds <= 3600):
        raise UsageError(f"--seconds must be in (0, 3600], got {options.seconds}")
    if options.rate_hz is not None and not (8000 <= options.rate_hz <= 192000):
        raise UsageError(f"--rate must be 8000..192000 Hz, got {options.rate_hz}")
    if options.repeat < 1 or options.warmup < 0:
        raise UsageError("--repeat must be at least 1 and --warmup at least 0")
    if options.num_threads is not None and options.num_threads < 1:
        raise UsageError("--threads must be at least 1")
    if options.json_path:
        folder = os.path.dirname(os.path.abspath(options.json_path))
        if os.path.isdir(options.json_path) or not os.path.isdir(folder):
            raise UsageError(f"cannot write --json {options.json_path}")
    if options.audio and not os.path.isfile(options.audio):
        raise UsageError(f"--audio {options.audio}: no such file")


def _load(path: str | None, num_threads: int | None, option: str):
    from ..metadata import ModelConfigError
    from ..recognizer import PackagedModelMissing, load_model

    if path is None:
        try:
            return load_model(None, num_threads=num_threads)
        except PackagedModelMissing as error:
            raise UsageError(f"{error.problem}; pass one with --model FILE.tflite") from None
        except (ModelConfigError, ImportError) as error:
            raise UsageError(f"the packaged model: {' '.join(str(error).split())}") from None
    try:
        return load_model(path, num_threads=num_threads)
    except (ModelConfigError, ImportError, OSError, ValueError) as error:
        raise UsageError(f"{option} {path}: {' '.join(str(error).split())}") from None


# --- the table -----------------------------------------------------------------
def _ms(value) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if value < 100 else f"{value:.1f}"


def format_report(report: dict) -> str:
    env, audio = report["environment"], report["audio"]
    threads = env["threads"] if env["threads"] is not None else "default"
    source = ("generated speech-like signal" if audio["source"] == "generated"
              else audio["source"])
    load = ", ".join(f"{v:.2f}" for v in env["load_average"] or [])
    lines = [
        f"audio: {source}, {audio['duration_s']:.2f} s, {audio['sample_rate_hz']} Hz, "
        f"{audio['channels']} channel(s), {audio['subtype']}",
        f"machine: {env['cpu_model']} ({env['cpu_cores']} cores, {env['machine']}), "
        f"load average {load or '-'}",
        f"software: {env['interpreter']} {env['interpreter_version']}, threads {threads}, "
        f"{env['python']}, numpy {env['numpy']}, emoedge {env['emoedge']}",
        f"passes: {report['settings']['warmup']} warm-up + {report['settings']['repeat']} measured;"
        " staged passes feed one model hop at a time",
    ]
    for result in report["models"]:
        lines += ["", *_model_table(result, audio["duration_s"])]
    lines.append(f"peak RSS {report['peak_rss_mb']:.1f} MB ({report['peak_rss_source']})")
    if report["comparison"]:
        comparison = report["comparison"]
        lines += ["", f"ratios {comparison['model']} / {comparison['baseline']}:"]
        for key, value in comparison["ratios"].items():
            lines.append(f"  {key:<28} {'-' if value is None else f'{value:.3f}'}")
    return "\n".join(lines)


def _model_table(result: dict, audio_s: float) -> list[str]:
    header = (f"{'stage':<12}{'calls':>7}{'ms/pass':>10}{'ms/audio s':>12}"
              f"{'min':>9}{'p50':>9}{'p95':>9}{'p99':>9}{'max':>9}")
    lines = [f"model {result['path']} ({result['size_bytes'] / 1024:.1f} KiB, "
             f"{result['input_dtype']} input, window {result['window_ms']} ms, hop "
             f"{result['hop_ms']} ms, {result['windows_per_pass']} windows)",
             header + "   (ms per call)"]
    for stage, row in result["stages"].items():
        lines.append(f"{stage:<12}{row['calls_per_pass']:>7}{_ms(row['ms_per_pass']):>10}"
                     f"{_ms(row['ms_per_audio_s']):>12}" + "".join(
                         f"{_ms(row[k]):>9}" for k in ("min_ms", "p50_ms", "p95_ms", "p99_ms",
                                                       "max_ms")))
    for name, row, calls in (("per window", result["per_window"], result["windows_per_pass"]),
                             ("end to end", result["end_to_end"], 1)):
        lines.append(f"{name:<12}{calls:>7}{'':>10}{'':>12}" + "".join(
            f"{_ms(row[k]):>9}" for k in ("min_ms", "p50_ms", "p95_ms", "p99_ms", "max_ms")))
    rtf = result["real_time_factor"]
    lines.append(f"pipeline (frontend..postprocess) {result['pipeline_ms_per_audio_s']:.3f} ms "
                 f"per audio second; real-time factor {rtf:.5f} "
                 f"({1 / rtf:.0f}x real time), {result['windows_per_s']:.1f} windows/s; "
                 f"peak RSS so far {result['peak_rss_mb_after']:.1f} MB")
    return lines


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
