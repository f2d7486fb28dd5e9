"""``emoedge score``: one output row per input file, written as soon as it is done.

Nothing is lost: rows are flushed one by one, Ctrl-C leaves a valid file,
``--resume`` skips inputs already in the output, bad inputs become error rows,
and an existing output is never overwritten without ``--overwrite``.
"""

from __future__ import annotations

import collections
import csv
import glob
import io
import json
import math
import os
import signal
import sys
import time
from dataclasses import dataclass
from typing import Iterable, Iterator

from ..audio import AUDIO_EXTENSIONS

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
FORMATS = (".csv", ".jsonl")


class UsageError(Exception):
    """Bad arguments; reported as one line with exit code 2."""


@dataclass(frozen=True, kw_only=True)
class ScoreOptions:
    inputs: tuple[str, ...]
    output: str
    model: str | None = None
    resume: bool = False
    overwrite: bool = False
    workers: int = 1
    segments: bool = False
    quiet: bool = False
    num_threads: int | None = None


# --- input discovery -------------------------------------------------------
def discover_inputs(arguments: Iterable[str]) -> tuple[list[str], list[str]]:
    """Expand files, folders (recursively) and globs into input paths.

    Returns:
        (paths in argument order, deduplicated; warnings for arguments that
        matched nothing).
    """
    seen: dict[str, None] = {}
    warnings = []
    for argument in arguments:
        found = list(_expand(argument))
        if not found:
            warnings.append(f"{argument}: matched no audio file")
        for path in found:
            seen.setdefault(path, None)
    return list(seen), warnings


def _expand(argument: str) -> Iterator[str]:
    if os.path.isdir(argument):
        yield from _walk_folder(argument)
    elif os.path.lexists(argument):
        yield argument  # an explicit file always gets a row, whatever it is
    elif glob.has_magic(argument):
        for match in sorted(glob.glob(argument, recursive=True)):
            if os.path.isdir(match):
                yield from _walk_folder(match)
            elif _is_audio_name(match):
                yield match
    else:
        yield argument  # missing: reported as an error row, not lost


def _walk_folder(folder: str) -> Iterator[str]:
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            if _is_audio_name(name):
                yield os.path.join(root, name)


def _is_audio_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in AUDIO_EXTENSIONS


# --- rows --------------------------------------------------------------------
def columns_for(labels: tuple[str, ...], valence_arousal: bool, segments: bool) -> list[str]:
    """The output columns, in order (the documented contract)."""
    head = ["path", "status", "error"]
    if segments:
        head += ["start_s", "end_s"]
    tail = ["valence", "arousal"] if valence_arousal else []
    return head + ["label", "confidence", "duration_s"] + [f"p_{label}" for label in labels] + tail


def _number(value: float | None, digits: int = 6):
    if value is None:
        return None
    if not math.isfinite(value):
        raise ValueError("model produced a non-finite number")
    return round(float(value), digits)


def _result_row(path: str, result, duration_s: float, labels, start_end=None) -> dict:
    row = {"path": path, "status": "ok", "error": "", "label": result.label,
           "confidence": _number(result.confidence), "duration_s": _number(duration_s, 3),
           "valence": _number(result.valence), "arousal": _number(result.arousal)}
    if start_end is not None:
        row["start_s"], row["end_s"] = (_number(v, 3) for v in start_end)
    for label in labels:
        row[f"p_{label}"] = _number(result.probabilities.get(label, 0.0))
    return row


def error_row(path: str, reason: str) -> dict:
    return {"path": path, "status": "error", "error": " ".join(str(reason).split())[:300]}


def score_file(model, path: str, segments: bool) -> list[dict]:
    """The output rows of one input; never raises for a bad input."""
    from ..audio import AudioError
    from ..metadata import ModelConfigError
    from ..recognizer import ClipError

    try:
        prediction = model.predict_file(path, segments=segments)
        if not segments:
            return [_result_row(path, prediction, prediction.duration_s, model.labels)]
        return [_result_row(path, window, prediction.duration_s, model.labels,
                            (window.start_s, window.end_s)) for window in prediction.segments]
    except (AudioError, ClipError, ModelConfigError, ValueError) as error:
        return [error_row(path, str(error))]
    except MemoryError:
        return [error_row(path, "out of memory while decoding")]
    except Exception as error:  # noqa: BLE001 - one bad file must not stop the run
        return [error_row(path, f"{type(error).__name__}: {error}")]


# --- output files ----------------------------------------------------------
class RowWriter:
    """Append rows to a CSV or JSONL file, flushing each one."""

    def __init__(self, path: str, columns: list[str], append: bool) -> None:
        self.path = path
        self.columns = columns
        self.is_csv = path.lower().endswith(".csv")
        self._file = open(path, "a" if append else "w", encoding="utf-8", newline="")
        self._csv = csv.DictWriter(self._file, fieldnames=columns, extrasaction="ignore",
                                   lineterminator="\n") if self.is_csv else None
        if self.is_csv and not append:
            self._csv.writeheader()
            self._flush()

    def write(self, row: dict) -> None:
        full = {column: row.get(column) for column in self.columns}
        if self.is_csv:
            self._csv.writerow({k: "" if v is None else v for k, v in full.items()})
        else:
            self._file.write(json.dumps(full, ensure_ascii=False) + "\n")
        self._flush()

    def _flush(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


def read_done_paths(path: str, columns: list[str]) -> set[str]:
    """Paths already in an output file, after cutting any half-written last row.

    Raises:
        UsageError: the file's columns differ (another model or mode).
    """
    _drop_partial_last_line(path)
    with open(path, encoding="utf-8", newline="") as handle:
        text = handle.read()
    if path.lower().endswith(".csv"):
        reader = csv.reader(io.StringIO(text))
        header = next(reader, None)
        if header is None:
            _write_header(path, columns)
            return set()
        if header != columns:
            raise UsageError(f"{path} has other columns than this model writes; "
                             "use another output file or --overwrite")
        return {row[0] for row in reader if row}
    done = set()
    for number, line in enumerate(text.splitlines(), 1):
        try:
            record = json.loads(line)
        except ValueError:
            raise UsageError(f"{path}:{number} is not a JSON line; cannot resume") from None
        if list(record) != columns:
            raise UsageError(f"{path} has other fields than this model writes; "
                             "use another output file or --overwrite")
        done.add(record["path"])
    return done


def _drop_partial_last_line(path: str) -> None:
    with open(path, "rb+") as handle:
        data = handle.read()
        if data and not data.endswith(b"\n"):
            handle.truncate(data.rfind(b"\n") + 1)


def _write_header(path: str, columns: list[str]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerow(columns)


# --- running -----------------------------------------------------------------
_WORKER_MODEL = None


def _init_worker(model_path: str | None, num_threads: int | None) -> None:
    global _WORKER_MODEL
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    from ..recognizer import load_model

    _WORKER_MODEL = load_model(model_path, num_threads=num_threads)


def _score_in_worker(job: tuple[str, bool]) -> list[dict]:
    return score_file(_WORKER_MODEL, *job)


def _results(model, options: ScoreOptions, paths: list[str]) -> Iterator[list[dict]]:
    if options.workers <= 1:
        for path in paths:
            yield score_file(model, path, options.segments)
        return
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(options.workers, initializer=_init_worker,
                             initargs=(options.model, options.num_threads)) as pool:
        try:
            # map keeps input order, so the output does not depend on --workers
            yield from pool.map(_score_in_worker, [(p, options.segments) for p in paths])
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def run_score(options: ScoreOptions) -> int:
    """The whole command; returns the exit code."""
    from ..metadata import ModelConfigError
    from ..recognizer import load_model

    try:
        _check_options(options)
        model = load_model(options.model, num_threads=options.num_threads)
    except (UsageError, ModelConfigError, ImportError) as error:
        _say(f"emoedge: error: {error}")
        return EXIT_USAGE
    columns = columns_for(model.labels, model.has_valence_arousal, options.segments)
    paths, warnings = discover_inputs(options.inputs)
    for warning in warnings:
        _say(f"emoedge: warning: {warning}")
    append = options.resume and os.path.exists(options.output)
    try:
        done = read_done_paths(options.output, columns) if append else set()
    except UsageError as error:
        _say(f"emoedge: error: {error}")
        return EXIT_USAGE
    todo = [p for p in paths if p not in done]
    if done:
        _say(f"resuming: {len(paths) - len(todo)} of {len(paths)} inputs already in "
             f"{options.output}")
    writer = RowWriter(options.output, columns, append=append)
    tally = _Tally()
    try:
        with _progress(len(todo), options.quiet) as advance:
            for path, rows in zip(todo, _results(model, options, todo)):
                for row in rows:
                    writer.write(row)
                tally.add(rows)
                advance()
    except KeyboardInterrupt:
        writer.close()
        _say(f"interrupted: {tally.files} inputs written to {options.output}; "
             "run again with --resume to finish")
        return EXIT_INTERRUPTED
    writer.close()
    _say(tally.summary())
    return EXIT_SOME_FAILED if tally.errors else EXIT_OK


def _check_options(options: ScoreOptions) -> None:
    if not options.inputs:
        raise UsageError("give at least one file, folder or glob to score")
    if os.path.splitext(options.output)[1].lower() not in FORMATS:
        raise UsageError(f"output must end in .csv or .jsonl, got {options.output}")
    if options.resume and options.overwrite:
        raise UsageError("--resume and --overwrite exclude each other")
    if os.path.exists(options.output) and not (options.resume or options.overwrite):
        raise UsageError(f"{options.output} exists; pass --resume to continue it "
                         "or --overwrite to replace it")
    if os.path.isdir(options.output):
        raise UsageError(f"{options.output} is a folder")
    if options.workers < 1:
        raise UsageError("--workers must be at least 1")


class _Tally:
    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.files = self.ok = self.errors = 0
        self.labels: collections.Counter[str] = collections.Counter()

    def add(self, rows: list[dict]) -> None:
        self.files += 1
        if rows[0]["status"] == "ok":
            self.ok += 1
            if rows[0].get("start_s") is None:
                self.labels[rows[0]["label"]] += 1
        else:
            self.errors += 1

    def summary(self) -> str:
        wall = time.perf_counter() - self.started
        rate = self.files / wall if wall > 0 else 0.0
        labels = ", ".join(f"{label} {count}" for label, count in self.labels.most_common())
        lines = [f"scored {self.files} inputs: {self.ok} ok, {self.errors} error",
                 f"labels: {labels or '-'}",
                 f"wall time {wall:.2f} s, {rate:.1f} files/s"]
        return "\n".join(lines)


class _progress:
    """A progress bar on stderr, only when stderr is a terminal."""

    def __init__(self, total: int, quiet: bool) -> None:
        self.enabled = not quiet and sys.stderr.isatty() and total > 0
        self.total = total

    def __enter__(self):
        if not self.enabled:
            return lambda: None
        from rich.console import Console
        from rich.progress import Progress

        self._bar = Progress(console=Console(stderr=True), transient=True)
        self._bar.start()
        task = self._bar.add_task("scoring", total=self.total)
        return lambda: self._bar.advance(task)

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self._bar.stop()


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
