"""Whole-process cost of ``emoedge score`` against a typical seed-style TF pipeline.

Both pipelines run as child processes, one run each, on the same folder of
clips. Each child is timed from spawn to exit (imports, model loading and
start-up included) and its peak resident memory comes from the kernel
(``os.wait4`` -> ``ru_maxrss``), so the figures are what a user of a
Raspberry Pi-class device pays to score a folder.

    python benchmarks/score.py [--data DIR | EMOEDGE_DATA=DIR] [--files N]
                               [--model MODEL.tflite] [--quick] [--json OUT]

The pipelines:

- ``emoedge``: ``python -m emoedge score FOLDER -o OUT.csv --model MODEL
  --quiet --overwrite`` (int8 model through LiteRT, no TensorFlow).
- ``seed``: what seed projects of speech emotion recognition typically do:
  import TensorFlow and tf-keras, build a small Keras 2D CNN (random
  weights: the cost is measured, not the accuracy), then per file
  ``librosa.load`` + log-mel spectrogram, pad/crop to a fixed length and one
  ``model.predict`` call, writing a CSV row. Its source is ``SEED_SCRIPT``
  below.

Without data, ``--quick`` generates three 1 s clips instead.
"""

from __future__ import annotations

# This process stays lean on purpose: on Linux a child's ru_maxrss starts at
# the parent's peak RSS at spawn time (exec keeps the high-water mark of the
# address space it replaces), so importing numpy or TensorFlow here would
# inflate the children's figures. Anything heavy runs in a helper child.
import argparse
import importlib.util
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from common import REPO, base_machine_info, command_line, git_state, package_version


DEFAULT_MODEL = REPO / "tests" / "fixtures" / "tiny_int8.tflite"
SAMPLE_RATE_HZ = 16000
EXIT_MISSING_DEPENDENCY = 3  # the seed script's exit code when an import fails

# --- the seed-style pipeline ----------------------------------------------------

SEED_FRAMES = 300  # 3 s at a 10 ms hop: the fixed input length of the seed model
SEED_SCRIPT = r'''
"""Seed-style SER: TF + tf-keras CNN, librosa log-mel, one predict() per file.

Usage: python -c SEED_SCRIPT FOLDER OUT.csv FRAMES
Prints one JSON line on stdout: files, rows, params, setup_s, loop_s.
"""
import csv, json, os, sys, time

start = time.perf_counter()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
try:
    import librosa
    import numpy as np
    import tensorflow as tf
    import tf_keras as keras
except ImportError as error:
    print(f"missing dependency: {error}", file=sys.stderr)
    sys.exit(%(missing)d)

folder, out_path, frames = sys.argv[1], sys.argv[2], int(sys.argv[3])
SR, N_FFT, HOP, N_MELS = 16000, 512, 160, 40
LABELS = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"]

tf.random.set_seed(0)
layers = keras.layers
model = keras.Sequential([
    keras.Input((N_MELS, frames, 1)),
    layers.Conv2D(32, 3, padding="same", activation="relu"),
    layers.MaxPooling2D(2),
    layers.Conv2D(64, 3, padding="same", activation="relu"),
    layers.MaxPooling2D(2),
    layers.Conv2D(128, 3, padding="same", activation="relu"),
    layers.MaxPooling2D(2),
    layers.GlobalAveragePooling2D(),
    layers.Dense(128, activation="relu"),
    layers.Dropout(0.3),
    layers.Dense(len(LABELS), activation="softmax"),
])

paths = sorted(os.path.join(folder, name) for name in os.listdir(folder)
               if name.lower().endswith((".wav", ".flac")))
loop_start = time.perf_counter()
rows = 0
with open(out_path, "w", newline="") as handle:
    writer = csv.writer(handle)
    writer.writerow(["path", "label", "confidence"])
    for path in paths:
        y, _ = librosa.load(path, sr=SR)
        mel = librosa.feature.melspectrogram(y=y, sr=SR, n_fft=N_FFT, hop_length=HOP,
                                             n_mels=N_MELS)
        x = librosa.power_to_db(mel, ref=np.max)
        if x.shape[1] < frames:
            x = np.pad(x, ((0, 0), (0, frames - x.shape[1])), constant_values=x.min())
        x = x[:, :frames].astype(np.float32)
        probabilities = model.predict(x[None, ..., None], verbose=0)[0]
        best = int(np.argmax(probabilities))
        writer.writerow([path, LABELS[best], f"{probabilities[best]:.6f}"])
        rows += 1
end = time.perf_counter()
print(json.dumps({"files": len(paths), "rows": rows, "params": int(model.count_params()),
                  "setup_s": loop_start - start, "loop_s": end - loop_start}))
''' % {"missing": EXIT_MISSING_DEPENDENCY}

# Helper child: durations of the chosen files, and the --quick clips.
HELPER_SCRIPT = r'''
import json, sys
import numpy as np
import soundfile

mode, args = sys.argv[1], sys.argv[2:]
if mode == "generate":
    folder, count, seconds, rate = args[0], int(args[1]), float(args[2]), int(args[3])
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * rate)) / rate
    for i in range(count):
        # A vowel-like harmonic tone with a little noise, different pitch per clip.
        f0 = 110.0 * (1 + 0.25 * i)
        tone = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 8))
        signal = 0.3 * tone / 2.6 + 0.01 * rng.standard_normal(t.size)
        soundfile.write(f"{folder}/synthetic_{i:02d}.wav", signal.astype(np.float32), rate,
                        subtype="PCM_16")
else:
    print(json.dumps([soundfile.info(p).duration for p in args]))
'''


# --- measuring ---------------------------------------------------------------

@dataclass
class ChildRun:
    """One measured child process.

    ``wall_s`` is seconds from spawn to reaped exit (perf_counter);
    ``peak_rss_kb`` is the child's ru_maxrss in KiB (Linux units);
    ``cpu_s`` is its user + system CPU seconds.
    """

    argv: list[str]
    exit_code: int
    wall_s: float
    peak_rss_kb: int
    cpu_s: float
    stdout: str
    stderr: str
    extra: dict = field(default_factory=dict)


def run_child(argv: list[str], cwd: Path, env: dict | None = None) -> ChildRun:
    """Spawn ``argv``, wait for it with ``os.wait4`` and return its cost.

    stdout/stderr go to files, not pipes, so a chatty child cannot block and
    the parent does no reading while the child runs.
    """
    with tempfile.TemporaryFile(dir=cwd) as out, tempfile.TemporaryFile(dir=cwd) as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall_s = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped: keep Popen from waiting
        out.seek(0)
        err.seek(0)
        return ChildRun(argv=argv, exit_code=proc.returncode, wall_s=wall_s,
                        peak_rss_kb=usage.ru_maxrss, cpu_s=usage.ru_utime + usage.ru_stime,
                        stdout=out.read().decode(errors="replace"),
                        stderr=err.read().decode(errors="replace"))


def helper(args: list[str], cwd: Path):
    """Run ``HELPER_SCRIPT`` with ``args`` in a child; its JSON stdout, or None."""
    proc = subprocess.run([sys.executable, "-c", HELPER_SCRIPT, *args], cwd=cwd,
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout) if proc.stdout.strip() else None


def count_csv_rows(path: Path) -> int:
    """Data rows (lines after the header) of a CSV written by a pipeline; 0 if absent."""
    if not path.exists():
        return 0
    with open(path, encoding="utf-8", errors="replace") as handle:
        return max(sum(1 for line in handle if line.strip()) - 1, 0)


def warm_page_cache(paths: list[Path]) -> int:
    """Read every file once so both pipelines find them in the page cache; bytes read."""
    total = 0
    for path in paths:
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                total += len(chunk)
    return total


# --- the two pipelines -------------------------------------------------------------

def measure_emoedge(folder: Path, model: Path, work: Path, files: int) -> dict:
    """Run ``emoedge score`` on ``folder``; its row of the report.

    ``loop_s`` is the scoring loop's own wall time as emoedge prints it
    (after imports and model loading; 10 ms resolution), in seconds.
    ``error_rows`` counts inputs emoedge could not score.
    """
    out = work / "emoedge.csv"
    argv = [sys.executable, "-m", "emoedge", "score", str(folder), "-o", str(out),
            "--model", str(model), "--quiet", "--overwrite"]
    run = run_child(argv, work)
    match = re.search(r"wall time ([0-9.]+) s", run.stderr)
    row = _row("emoedge", "emoedge score (int8 TFLite via LiteRT)", run, files, out)
    row["loop_s"] = float(match.group(1)) if match else None
    tally = re.search(r"(\d+) ok, (\d+) error", run.stderr)
    row["error_rows"] = int(tally.group(2)) if tally else None
    row["model"] = {"path": str(model), "bytes": model.stat().st_size}
    if run.exit_code not in (0, 1):  # 1 = some inputs became error rows
        row["status"] = "failed"
        row["reason"] = _tail(run.stderr)
    return _with_rates(row)


def measure_seed(folder: Path, work: Path, files: int, frames: int) -> dict:
    """Run ``SEED_SCRIPT`` on ``folder``; its row, or a skipped row without TF/librosa.

    ``loop_s`` is the per-file loop's wall time, after imports and model build.
    """
    label = "seed-style TF + tf-keras CNN, librosa log-mel, predict per file"
    missing = [m for m in ("tensorflow", "tf_keras", "librosa") if importlib.util.find_spec(m) is None]
    if missing:
        return {"name": "seed", "label": label, "status": "skipped",
                "reason": f"not installed: {', '.join(missing)}"}
    out = work / "seed.csv"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    run = run_child([sys.executable, "-c", SEED_SCRIPT, str(folder), str(out), str(frames)], work, env)
    if run.exit_code == EXIT_MISSING_DEPENDENCY:
        return {"name": "seed", "label": label, "status": "skipped", "reason": _tail(run.stderr)}
    row = _row("seed", label, run, files, out)
    row["argv"] = [sys.executable, "-c", "<SEED_SCRIPT>", str(folder), str(out), str(frames)]
    try:
        summary = json.loads(run.stdout.strip().splitlines()[-1])
        row["loop_s"] = summary["loop_s"]
        row["model"] = {"params": summary["params"], "input_frames": frames}
    except (ValueError, IndexError, KeyError):
        row["loop_s"] = None
    if run.exit_code != 0:
        row["status"] = "failed"
        row["reason"] = _tail(run.stderr)
    return _with_rates(row)


def _row(name: str, label: str, run: ChildRun, files: int, out_csv: Path) -> dict:
    return {"name": name, "label": label, "status": "ok", "exit_code": run.exit_code,
            "argv": run.argv, "files": files, "rows_written": count_csv_rows(out_csv),
            "wall_s": run.wall_s, "cpu_s": run.cpu_s, "peak_rss_mb": run.peak_rss_kb / 1024}


def _with_rates(row: dict) -> dict:
    """Add files/s over the whole process and over the loop alone, and CPU ms per file."""
    files = row["files"]
    row["files_per_s"] = files / row["wall_s"]
    row["cpu_ms_per_file"] = 1000 * row["cpu_s"] / files
    loop = row.get("loop_s")
    row["loop_files_per_s"] = files / loop if loop else None
    return row


def _tail(text: str, lines: int = 5) -> str:
    return " | ".join(text.strip().splitlines()[-lines:])


def ratios(rows: dict) -> dict | None:
    """emoedge against seed: files/s ratio (>1: emoedge faster) and peak-RSS
    ratio (<1: emoedge smaller); None when the seed row did not run."""
    e, s = rows.get("emoedge"), rows.get("seed")
    if not e or not s or e["status"] != "ok" or s["status"] != "ok":
        return None
    result = {"files_per_s": e["files_per_s"] / s["files_per_s"],
              "peak_rss": e["peak_rss_mb"] / s["peak_rss_mb"],
              "cpu_per_file": e["cpu_ms_per_file"] / s["cpu_ms_per_file"]}
    if e.get("loop_files_per_s") and s.get("loop_files_per_s"):
        result["loop_files_per_s"] = e["loop_files_per_s"] / s["loop_files_per_s"]
    return result


# --- inputs ----------------------------------------------------------------------

def choose_files(data_dir: Path, count: int) -> tuple[Path, list[Path]]:
    """The first ``count`` FLAC files, sorted by path, under ``data_dir/RAVDESS``
    when that folder exists (the RAVDESS actors), else under ``data_dir``.

    Returns (the folder searched, the files)."""
    root = data_dir / "RAVDESS" if (data_dir / "RAVDESS").is_dir() else data_dir
    paths = sorted(root.rglob("*.flac"))[:count]
    if not paths:
        raise SystemExit(f"no .flac files under {root}")
    return root, paths


def link_files(paths: list[Path], root: Path, folder: Path) -> None:
    """Symlink ``paths`` (all under ``root``) into one flat ``folder``; names keep
    their subfolders (``Actor_01__03-01-....flac``) so they stay unique and in
    the same sorted order."""
    folder.mkdir()
    for path in paths:
        (folder / "__".join(path.relative_to(root).parts)).symlink_to(path.resolve())


# --- reporting ---------------------------------------------------------------------

def machine_info() -> dict:
    """CPU model, core counts and the versions of Python and the timed libraries."""
    return {
        **base_machine_info(),
        **{name: package_version(dist) for name, dist in (
            ("numpy", "numpy"), ("ai_edge_litert", "ai-edge-litert"), ("tensorflow", "tensorflow"),
            ("tf_keras", "tf-keras"), ("librosa", "librosa"), ("emoedge", "emoedge"))},
    }








def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def format_table(rows: list[dict]) -> str:
    """Markdown table: whole-process files/s and peak RSS, plus the loop alone."""
    lines = ["| pipeline | files/s (whole process) | peak RSS MB | wall s | CPU ms/file "
             "| files/s (loop only) | rows |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if r["status"] == "skipped":
            lines.append(f"| {r['name']}: {r['label']} | skipped | | | | | |")
            continue
        lines.append(f"| {r['name']}: {r['label']} | {r['files_per_s']:.2f} | {r['peak_rss_mb']:.1f} "
                     f"| {r['wall_s']:.2f} | {r['cpu_ms_per_file']:.1f} "
                     f"| {_fmt(r['loop_files_per_s'], '.2f')} | {r['rows_written']}/{r['files']} |")
    return "\n".join(lines)


def print_report(report: dict) -> None:
    """Print the command, machine, inputs, the table and the ratios."""
    m, g, f, b = report["machine"], report["git"], report["inputs"], report["baseline"]
    dirty = " with uncommitted changes under edge/" if g["edge_modified"] else ""
    print(f"command: {report['command']}")
    print(f"machine: {m['cpu_model']} ({m['arch']}), {m['cpu_count']} cores "
          f"({m['usable_cores']} usable), python {m['python']}, numpy {m['numpy']}, "
          f"ai-edge-litert {m['ai_edge_litert']}, tensorflow {m['tensorflow']}, "
          f"tf-keras {m['tf_keras']}, librosa {m['librosa']}")
    print(f"code:    commit {g['commit']}{dirty}")
    print(f"load:    {_loads(report['load_average']['start'])} at start, "
          f"{_loads(report['load_average']['end'])} at end (1/5/15-min)")
    print(f"inputs:  {f['count']} files from {f['source']}, {f['audio_seconds']:.1f} s of audio; "
          f"one run per pipeline, page cache warmed first")
    # On Linux a child's ru_maxrss cannot read below its parent's peak at spawn time.
    print(f"floor:   an empty python child reads {b['empty_python_rss_mb']:.1f} MB peak RSS; "
          f"no child can read below this launcher's own peak, {b['launcher_rss_mb']:.1f} MB")
    print()
    print(format_table(report["rows"]))
    for r in report["rows"]:
        if r["status"] != "ok":
            print(f"\n{r['name']} {r['status']}: {r.get('reason', '')}")
    ratio = report["ratios"]
    if ratio:
        print(f"\nemoedge vs seed: {ratio['files_per_s']:.2f}x the files/s (whole process), "
              f"{_fmt(ratio.get('loop_files_per_s'), '.2f')}x (loop only), "
              f"{ratio['peak_rss']:.3f}x the peak RSS ({1 / ratio['peak_rss']:.1f}x less), "
              f"{ratio['cpu_per_file']:.3f}x the CPU time per file")


def _loads(values) -> str:
    return "/".join(f"{v:.2f}" for v in values) if values else "n/a"


def main(argv: list[str] | None = None) -> int:
    """Parse options, run both pipelines once, print the report; exit status 0
    (1 when a pipeline failed, as opposed to being skipped)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path,
                        help="corpus folder; its RAVDESS/ subfolder is used when present "
                             "(default: $EMOEDGE_DATA)")
    parser.add_argument("--files", type=int, default=200, help="number of files (default 200)")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL,
                        help=f"emoedge model (default {DEFAULT_MODEL.relative_to(REPO)})")
    parser.add_argument("--quick", action="store_true",
                        help="3 files (generated 1 s clips when no data): a smoke run")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    if args.quick:
        args.files = 3

    env_data = os.environ.get("EMOEDGE_DATA") if args.data is None else None
    data_dir = args.data or (Path(env_data) if env_data else None)
    model = args.model.resolve()
    if not model.is_file():
        raise SystemExit(f"{model}: no such model file")
    if data_dir is None and not args.quick:
        raise SystemExit("give --data DIR or set EMOEDGE_DATA (or use --quick for generated clips)")

    with tempfile.TemporaryDirectory(prefix="emoedge-bench-score-") as tmp:
        work = Path(tmp)
        folder = work / "clips"
        if data_dir is not None:
            root, chosen = choose_files(data_dir, args.files)
            link_files(chosen, root, folder)
            source = f"{root} (first {len(chosen)} .flac files, sorted by path)"
        else:
            folder.mkdir()
            helper(["generate", str(folder), str(args.files), "1.0", str(SAMPLE_RATE_HZ)], work)
            source = "generated (harmonic tone + noise, 1 s each, 16-bit WAV)"
            print("note: no --data or EMOEDGE_DATA given; timing generated clips, not speech")
        files = sorted(folder.iterdir())
        durations = helper(["durations", *map(str, files)], work)
        warm_page_cache(files)

        machine, code = machine_info(), git_state()
        empty = run_child([sys.executable, "-c", "pass"], work)
        launcher_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        load_start = list(os.getloadavg())
        rows = [measure_emoedge(folder, model, work, len(files)),
                measure_seed(folder, work, len(files), SEED_FRAMES)]
        load_end = list(os.getloadavg())

    by_name = {r["name"]: r for r in rows}
    report = {
        "command": command_line(env_data),
        "machine": machine,
        "git": code,
        "load_average": {"start": load_start, "end": load_end},
        "inputs": {"source": source, "count": len(files), "audio_seconds": sum(durations),
                   "files": [p.name for p in files]},
        "baseline": {"empty_python_rss_mb": empty.peak_rss_kb / 1024,
                     "empty_python_wall_s": empty.wall_s, "launcher_rss_mb": launcher_rss_mb},
        "rows": rows,
        "ratios": ratios(by_name),
    }
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 1 if any(r["status"] == "failed" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
