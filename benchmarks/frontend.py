"""Time emoedge's integer frontend against TF's op and two float log-mel libraries.

Every row runs on the same clips in one process, so the ratios compare like
with like. Figures are milliseconds of wall-clock time per second of audio
(lower is faster) and each row's ratio to emoedge's batch frontend.

    python benchmarks/frontend.py [--data DIR | EMOEDGE_DATA=DIR] [--clips N]
                                  [--repeats R] [--quick] [--json OUT]

Without data it falls back to generated signals (white noise plus a chirp).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

# The float libraries' mel matmul goes to BLAS, whose default thread pool
# stalls whenever another process holds a core (seen here: 10x swings between
# runs); one thread makes it a per-core comparison like the integer rows. Set
# before numpy loads BLAS; an explicit setting in the environment wins.
for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from common import REPO, base_machine_info, command_line, git_state, package_version  # noqa: E402
from emoedge import FrontendConfig, StreamingFrontend, compute_features  # noqa: E402

BATCH = "emoedge_batch"


@dataclass
class Row:
    """One timed frontend.

    ``prepare`` turns an int16 clip into the input ``run`` takes; it runs
    outside the timed region. ``totals_ns`` holds, per repeat, the time to
    run every clip once, in nanoseconds.
    """

    name: str
    label: str
    prepare: Callable[[np.ndarray], object]
    run: Callable[[object], object]
    params: dict = field(default_factory=dict)
    totals_ns: list[int] = field(default_factory=list)


# --- clips ------------------------------------------------------------------

def load_clips(data_dir: Path, count: int, sample_rate_hz: int) -> list[tuple[str, np.ndarray]]:
    """The first ``count`` FLAC files under ``data_dir`` (sorted by path).

    Returns (path relative to ``data_dir``, int16 mono PCM of shape (samples,)).
    """
    import soundfile

    paths = sorted(data_dir.rglob("*.flac"))[:count]
    if not paths:
        raise SystemExit(f"no .flac files under {data_dir}")
    clips = []
    for path in paths:
        pcm, rate = soundfile.read(path, dtype="int16", always_2d=True)
        if rate != sample_rate_hz:
            raise SystemExit(f"{path}: {rate} Hz, the frontend expects {sample_rate_hz} Hz")
        clips.append((str(path.relative_to(data_dir)), np.ascontiguousarray(pcm[:, 0])))
    return clips


def synthetic_clips(count: int, seconds: float, sample_rate_hz: int) -> list[tuple[str, np.ndarray]]:
    """``count`` clips of white noise plus a 100 Hz..7 kHz chirp, int16 (samples,).

    Seeded, so every run times the same signals.
    """
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * sample_rate_hz)) / sample_rate_hz
    f0, f1 = 100.0, 7000.0
    # Phase of a linear sweep: integral of f0 + (f1 - f0) * t / seconds.
    chirp = np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * seconds)))
    clips = []
    for i in range(count):
        signal = 0.5 * chirp + 0.1 * rng.standard_normal(t.size)
        clips.append((f"synthetic-{i}", np.clip(signal * 32767, -32768, 32767).astype(np.int16)))
    return clips


def to_float(pcm: np.ndarray) -> np.ndarray:
    """int16 PCM -> float32 in [-1, 1), same shape, as float libraries expect."""
    return pcm.astype(np.float32) / 32768.0


# --- frontends ----------------------------------------------------------------

def emoedge_rows(config: FrontendConfig) -> list[Row]:
    """emoedge's batch frontend and its streaming frontend in 10 and 100 ms chunks."""
    rows = [Row(BATCH, "emoedge batch (compute_features)", lambda pcm: pcm,
                lambda pcm: compute_features(pcm, config))]
    for chunk_ms in (10, 100):
        chunk = config.sample_rate_hz * chunk_ms // 1000
        frontend = StreamingFrontend(config)

        def stream(pcm, frontend=frontend, chunk=chunk):
            # reset() is part of starting a new utterance, so it is timed too.
            frontend.reset()
            return [frontend.process(pcm[i:i + chunk]) for i in range(0, len(pcm), chunk)]

        rows.append(Row(f"emoedge_stream_{chunk_ms}ms", f"emoedge streaming, {chunk_ms} ms chunks",
                        lambda pcm: pcm, stream, {"chunk_samples": chunk}))
    return rows


def tf_row(config: FrontendConfig) -> Row | None:
    """TF's ``audio_microfrontend`` op with ``config``'s parameters; None without TF.

    TensorFlow is imported here only, since importing it takes seconds and it
    is an optional extra.
    """
    if importlib.util.find_spec("tensorflow") is None:
        return None
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # The test suite's reference wrapper, so benchmark and tests call the op alike.
    spec = importlib.util.spec_from_file_location("tf_reference", REPO / "tests" / "tf_reference.py")
    tf_reference = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tf_reference)
    return Row("tf_microfrontend", "TF audio_microfrontend op", lambda pcm: pcm,
               lambda pcm: tf_reference.tf_features(pcm, config), {"tensorflow": package_version("tensorflow")})


def float_rows(config: FrontendConfig) -> list[Row]:
    """python_speech_features.logfbank and librosa log-mel, matched to ``config``.

    Window, hop, FFT size (512), channels and band follow ``config``; the rest
    is each library's default (logfbank: rectangular window, pre-emphasis
    0.97; librosa: Hann window, centred frames, power 2). Both take float32
    in [-1, 1).
    """
    import librosa
    import python_speech_features

    rate = config.sample_rate_hz
    psf = dict(samplerate=rate, winlen=config.window_size_ms / 1000, winstep=config.window_step_ms / 1000,
               nfilt=config.num_channels, nfft=512, lowfreq=config.lower_band_limit_hz,
               highfreq=config.upper_band_limit_hz)
    mel = dict(sr=rate, n_fft=512, win_length=config.window_samples, hop_length=config.step_samples,
               n_mels=config.num_channels, fmin=config.lower_band_limit_hz, fmax=config.upper_band_limit_hz)

    def logmel(x):
        # A floor keeps log finite on digital silence.
        return np.log(librosa.feature.melspectrogram(y=x, **mel) + 1e-10)

    return [
        Row("psf_logfbank", "python_speech_features logfbank", to_float,
            lambda x: python_speech_features.logfbank(x, **psf),
            {**psf, "version": package_version("python_speech_features")}),
        Row("librosa_logmel", "librosa melspectrogram + log", to_float, logmel,
            {**mel, "version": librosa.__version__}),
    ]


def time_row(row: Row, clips: list[np.ndarray], repeats: int) -> list[int]:
    """Per repeat, the ns to run ``row`` once on every clip; ``repeats`` values.

    Inputs are prepared beforehand and one untimed pass warms caches, lazy
    imports and table builds first.
    """
    inputs = [row.prepare(pcm) for pcm in clips]
    for x in inputs:
        row.run(x)
    totals = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        for x in inputs:
            row.run(x)
        totals.append(time.perf_counter_ns() - start)
    return totals


# --- reporting ----------------------------------------------------------------

def machine_info() -> dict:
    """CPU model, core counts and Python/numpy versions of this machine."""
    return {
        **base_machine_info(),
        # A busy machine inflates every row; the load shows whether it was.
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "niceness": os.nice(0) if hasattr(os, "nice") else None,
        "blas_threads": os.environ["OPENBLAS_NUM_THREADS"],
        "numpy": np.__version__,
    }








def format_table(rows: list[dict]) -> str:
    """Markdown table: median ms per second of audio, ratio to the batch frontend,
    and the slowest over the fastest repeat (near 1 when the timing was steady)."""
    lines = [f"| frontend | ms per s of audio | x {BATCH} | max/min of repeats |",
             "|---|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['label']} | {r['ms_per_audio_s']:.2f} | {r['ratio_to_batch']:.2f} "
                     f"| {r['max_ns'] / r['min_ns']:.2f} |")
    return "\n".join(lines)


def print_report(report: dict) -> None:
    """Print the command, machine, code state, clips and the timing table."""
    m, g, c = report["machine"], report["git"], report["clips"]
    dirty = " with uncommitted changes under edge/" if g["edge_modified"] else ""
    print(f"command: {report['command']}")
    print(f"machine: {m['cpu_model']} ({m['arch']}), {m['cpu_count']} cores "
          f"({m['usable_cores']} usable), python {m['python']}, numpy {m['numpy']}")
    print(f"code:    commit {g['commit']}{dirty}")
    print(f"load:    {m['load_average_1min']:.2f} (1-min average before timing), "
          f"niceness {m['niceness']}, BLAS threads {m['blas_threads']}")
    print(f"clips:   {c['count']} from {c['source']}, {c['audio_seconds']:.1f} s of audio; "
          f"median of {report['repeats']} repeat(s) after one warm-up pass")
    print()
    print(format_table(report["rows"]))
    for s in report["skipped"]:
        print(f"\nskipped {s['name']}: {s['reason']}")


def main(argv: list[str] | None = None) -> int:
    """Parse options, time every frontend, print the report; exit status 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="folder with .flac clips (default: $EMOEDGE_DATA)")
    parser.add_argument("--clips", type=int, default=20, help="number of clips (default 20)")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes; the median is kept")
    parser.add_argument("--quick", action="store_true", help="1 clip, 1 repeat: a smoke run")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    if args.quick:
        args.clips, args.repeats = 1, 1

    config = FrontendConfig()
    env_data = os.environ.get("EMOEDGE_DATA") if args.data is None else None
    data_dir = args.data or (Path(env_data) if env_data else None)
    if data_dir is not None:
        clips = load_clips(data_dir, args.clips, config.sample_rate_hz)
        source = str(data_dir)
    else:
        clips = synthetic_clips(args.clips, 4.0, config.sample_rate_hz)
        source = "synthetic (white noise + chirp, 4 s each)"
        print("note: no --data or EMOEDGE_DATA given; timing generated signals, not speech")
    pcm = [c for _, c in clips]
    audio_s = sum(len(c) for c in pcm) / config.sample_rate_hz

    # Taken before timing: the load of the minute before says whether others were busy.
    machine, code = machine_info(), git_state()
    rows = emoedge_rows(config)
    skipped = []
    tf = tf_row(config)
    if tf is None:
        skipped.append({"name": "tf_microfrontend", "reason": "tensorflow is not installed"})
    else:
        rows.append(tf)
    rows += float_rows(config)

    for row in rows:
        row.totals_ns = time_row(row, pcm, args.repeats)
    medians = {r.name: statistics.median(r.totals_ns) for r in rows}
    results = [{
        "name": r.name, "label": r.label, "median_ns": medians[r.name],
        "min_ns": min(r.totals_ns), "max_ns": max(r.totals_ns),
        "ms_per_audio_s": medians[r.name] / 1e6 / audio_s,
        "ratio_to_batch": medians[r.name] / medians[BATCH], "params": r.params,
    } for r in rows]

    report = {
        "command": command_line(env_data),
        "machine": machine,
        "git": code,
        "clips": {"source": source, "count": len(clips), "audio_seconds": audio_s,
                  "files": [name for name, _ in clips]},
        "repeats": args.repeats,
        "config": config.to_dict(),
        "rows": results,
        "skipped": skipped,
    }
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
