"""``emoedge score``: the CSV/JSONL contract, nothing lost, every bad input a row."""

from __future__ import annotations

import csv
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile
from typer.testing import CliRunner

from emoedge.cli import app
from child_process import default_sigint
from signals import voiced_speech, white_noise

FIXTURE = str(pathlib.Path(__file__).parent / "fixtures" / "tiny_int8.tflite")
LABELS = ["neutral", "happy", "sad", "angry"]
COLUMNS = (["path", "status", "error", "label", "confidence", "duration_s"]
           + [f"p_{label}" for label in LABELS] + ["valence", "arousal"])
runner = CliRunner()


def _speech(seed: int, seconds: float = 1.5) -> np.ndarray:
    return np.concatenate([voiced_speech(seconds, pitch_hz=100 + 10 * seed, seed=seed),
                           white_noise(0.2, rms=100, seed=seed)])


def _folder(root: pathlib.Path, count: int = 4) -> list[str]:
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = root / f"clip_{i:03d}.wav"
        soundfile.write(path, _speech(i), 16000, subtype="PCM_16")
        paths.append(str(path))
    return paths


def _score(*args: str):
    return runner.invoke(app, ["score", "--model", FIXTURE, *args])


def _read_csv(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_csv_contract(tmp_path):
    paths = _folder(tmp_path / "audio")
    out = tmp_path / "scores.csv"
    result = _score(str(tmp_path / "audio"), "-o", str(out))
    assert result.exit_code == 0, result.output
    with open(out, newline="") as handle:
        assert next(csv.reader(handle)) == COLUMNS
    rows = _read_csv(out)
    assert [row["path"] for row in rows] == paths
    for row in rows:
        assert row["status"] == "ok" and row["error"] == ""
        assert row["label"] in LABELS
        probabilities = [float(row[f"p_{label}"]) for label in LABELS]
        assert abs(sum(probabilities) - 1) < 1e-5
        assert float(row["confidence"]) == max(probabilities)
        assert float(row["duration_s"]) == pytest.approx(1.7)
        assert -1 <= float(row["valence"]) <= 1
    assert "scored 4 inputs: 4 ok, 0 error" in result.output


def test_jsonl_contract_matches_csv(tmp_path):
    _folder(tmp_path / "audio")
    assert _score(str(tmp_path / "audio"), "-o", str(tmp_path / "a.csv")).exit_code == 0
    assert _score(str(tmp_path / "audio"), "-o", str(tmp_path / "a.jsonl")).exit_code == 0
    records = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert all(list(record) == COLUMNS for record in records)
    for record, row in zip(records, _read_csv(tmp_path / "a.csv")):
        assert record["path"] == row["path"] and record["label"] == row["label"]
        assert record["p_happy"] == float(row["p_happy"])
        assert record["error"] == ""


def test_names_with_commas_quotes_spaces_and_unicode(tmp_path):
    folder = tmp_path / "odd"
    folder.mkdir()
    names = ['a,b.wav', 'say "hi".wav', 'two  spaces .wav', 'émotion_日本.wav', "new\nline.wav"]
    for i, name in enumerate(names):
        soundfile.write(folder / name, _speech(i), 16000, subtype="PCM_16")
    out = tmp_path / "odd.csv"
    assert _score(str(folder), "-o", str(out)).exit_code == 0
    assert sorted(row["path"] for row in _read_csv(out)) == sorted(str(folder / n) for n in names)


def test_files_folders_and_globs_each_once(tmp_path):
    paths = _folder(tmp_path / "audio", 3)
    (tmp_path / "audio" / "notes.txt").write_text("not audio, skipped in folders")
    out = tmp_path / "o.csv"
    result = _score(paths[0], str(tmp_path / "audio"), str(tmp_path / "audio" / "*.wav"),
                    "-o", str(out))
    assert result.exit_code == 0
    assert sorted(row["path"] for row in _read_csv(out)) == sorted(paths)


def _bad_inputs(folder: pathlib.Path) -> dict[str, str]:
    folder.mkdir()
    good = folder / "good.wav"
    soundfile.write(good, _speech(0), 16000, subtype="PCM_16")
    (folder / "empty.wav").write_bytes(b"")
    (folder / "text.wav").write_text("not audio at all")
    (folder / "truncated.wav").write_bytes(good.read_bytes()[:2000])
    os.symlink(folder / "gone.wav", folder / "broken.wav")
    nan = _speech(1) / 32768.0
    nan[500] = np.nan
    soundfile.write(folder / "nan.wav", nan, 16000, subtype="FLOAT")
    soundfile.write(folder / "silence.wav", np.zeros(16000, np.int16), 16000)
    soundfile.write(folder / "tiny.wav", _speech(2)[:200], 16000)
    return {"empty.wav": "empty file", "text.wav": "not a readable audio file",
            "truncated.wav": "truncated", "broken.wav": "broken symbolic link",
            "nan.wav": "NaN", "silence.wav": "silent",
            "tiny.wav": "shorter than one frontend frame"}


def test_bad_inputs_become_error_rows_and_the_run_goes_on(tmp_path):
    expected = _bad_inputs(tmp_path / "in")
    out = tmp_path / "o.csv"
    result = _score(str(tmp_path / "in"), str(tmp_path / "missing.wav"), "-o", str(out))
    assert result.exit_code == 1
    rows = {pathlib.Path(row["path"]).name: row for row in _read_csv(out)}
    assert rows["good.wav"]["status"] == "ok"
    assert rows["missing.wav"]["status"] == "error" and "not found" in rows["missing.wav"]["error"]
    for name, reason in expected.items():
        assert rows[name]["status"] == "error", name
        assert reason in rows[name]["error"], (name, rows[name]["error"])
        assert rows[name]["label"] == "" and rows[name]["p_happy"] == ""
    for row in rows.values():  # NaN never reaches the output
        for column in COLUMNS[4:]:
            assert row[column] == "" or np.isfinite(float(row[column])), (column, row)
    assert f"scored {len(expected) + 2} inputs: 1 ok, {len(expected) + 1} error" in result.output


def test_existing_output_is_never_silently_overwritten(tmp_path):
    _folder(tmp_path / "audio", 1)
    out = tmp_path / "o.csv"
    out.write_text("precious\n")
    result = _score(str(tmp_path / "audio"), "-o", str(out))
    assert result.exit_code == 2 and "--resume" in result.output and "--overwrite" in result.output
    assert out.read_text() == "precious\n"
    assert _score(str(tmp_path / "audio"), "-o", str(out), "--overwrite").exit_code == 0
    assert len(_read_csv(out)) == 1


@pytest.mark.parametrize("args, message", [
    (["-o", "x.txt"], ".csv or .jsonl"),
    (["-o", "x.csv", "--resume", "--overwrite"], "exclude each other"),
    (["-o", "x.csv", "--workers", "0"], "at least 1"),
])
def test_usage_errors_exit_2(tmp_path, args, message):
    _folder(tmp_path / "audio", 1)
    result = _score(str(tmp_path / "audio"), *[str(tmp_path / a) if a.startswith("x.") else a
                                               for a in args])
    assert result.exit_code == 2 and message in result.output


def test_refused_model_is_a_usage_error(tmp_path):
    _folder(tmp_path / "audio", 1)
    bogus = tmp_path / "bogus.tflite"
    bogus.write_bytes(b"not a model")
    result = runner.invoke(app, ["score", str(tmp_path / "audio"), "-o", str(tmp_path / "o.csv"),
                                 "--model", str(bogus)])
    assert result.exit_code == 2 and "error:" in result.output
    assert "Traceback" not in result.output


def test_resume_appends_only_missing_inputs_and_repairs_a_half_row(tmp_path):
    _folder(tmp_path / "audio", 5)
    full = tmp_path / "full.csv"
    assert _score(str(tmp_path / "audio"), "-o", str(full)).exit_code == 0
    lines = full.read_text().splitlines(keepends=True)
    partial = tmp_path / "partial.csv"
    partial.write_text("".join(lines[:3]) + lines[3][:17])  # header, 2 rows, half a row
    result = _score(str(tmp_path / "audio"), "-o", str(partial), "--resume")
    assert result.exit_code == 0 and "resuming: 2 of 5" in result.output
    assert partial.read_text() == full.read_text()


def test_workers_give_the_same_file(tmp_path):
    _folder(tmp_path / "audio", 6)
    assert _score(str(tmp_path / "audio"), "-o", str(tmp_path / "one.csv")).exit_code == 0
    assert _score(str(tmp_path / "audio"), "-o", str(tmp_path / "two.csv"),
                  "--workers", "2").exit_code == 0
    assert (tmp_path / "one.csv").read_text() == (tmp_path / "two.csv").read_text()


def test_segments_give_one_row_per_window(tmp_path):
    _folder(tmp_path / "audio", 2)
    out = tmp_path / "seg.csv"
    assert _score(str(tmp_path / "audio"), "-o", str(out), "--segments").exit_code == 0
    rows = _read_csv(out)
    assert list(rows[0])[:5] == ["path", "status", "error", "start_s", "end_s"]
    # 1.7 s of audio, 1 s windows every 0.5 s: windows at 0.0 and 0.5
    assert [(r["start_s"], r["end_s"]) for r in rows[:2]] == [("0.0", "1.0"), ("0.5", "1.5")]
    assert len(rows) == 4


def _cli(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "emoedge", "score", "--model", FIXTURE, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_sigint, **kwargs)


def _wait_for_rows(path: pathlib.Path, rows: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().count("\n") > rows:
            return
        time.sleep(0.005)
    raise AssertionError(f"{path} did not reach {rows} rows")


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT])
def test_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path, how):
    folder = tmp_path / "audio"
    _folder(folder, 150)
    reference = tmp_path / "reference.csv"
    assert _cli(str(folder), "-o", str(reference), "--quiet").wait() == 0
    out = tmp_path / "out.csv"
    process = _cli(str(folder), "-o", str(out), "--quiet")
    _wait_for_rows(out, 5)
    process.send_signal(how)
    _, stderr = process.communicate(timeout=60)
    if how == signal.SIGINT:
        assert process.returncode == 130 and "--resume" in stderr
    written = out.read_text().count("\n") - 1
    assert 5 <= written < 150, "the run was not interrupted mid-way"
    assert _cli(str(folder), "-o", str(out), "--resume", "--quiet").wait() == 0
    assert out.read_text() == reference.read_text()


def test_long_file_is_scored_in_constant_memory(tmp_path):
    """One hour of audio would take 115 MB as int16 alone; scoring must not load it."""
    path = tmp_path / "hour.wav"
    block = _speech(3, seconds=2.8)  # 3 s
    with soundfile.SoundFile(path, "w", 16000, 1, subtype="PCM_16") as handle:
        for _ in range(1200):
            handle.write(block)
    # VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so a child of a
    # large pytest process would report the parent's size.
    code = ("import sys\n"
            "from emoedge.commands.score import ScoreOptions, run_score\n"
            f"status = run_score(ScoreOptions(inputs=({str(path)!r},), output={str(tmp_path / 'h.csv')!r},"
            f" model={FIXTURE!r}, quiet=True))\n"
            "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
            "print(int(hwm.split()[1]) // 1024)\n"
            "sys.exit(status)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    peak_mb = int(result.stdout.strip())
    print(f"\npeak RSS scoring 1 hour of audio: {peak_mb} MB")
    assert peak_mb < 110
    (row,) = _read_csv(tmp_path / "h.csv")
    assert float(row["duration_s"]) == 3600.0
