"""``emoedge bench``: brief runs that check every field of the report, and its errors."""

from __future__ import annotations

import ctypes
import errno
import json
import os
import pathlib
import platform

import numpy as np
import pytest
import soundfile
from typer.testing import CliRunner

import emoedge
from emoedge import bench_markers
from emoedge.cli import app
from emoedge.commands import bench
from signals import voiced_speech

FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures"
FIXTURE = str(FIXTURES / "tiny_int8.tflite")
REFUSED = str(FIXTURES / "tiny_int8_no_metadata.tflite")
STAT_KEYS = ("min_ms", "p50_ms", "p95_ms", "p99_ms", "max_ms")
runner = CliRunner()


def _bench(tmp_path: pathlib.Path, *args: str) -> tuple[dict, str]:
    out = tmp_path / "bench.json"
    result = runner.invoke(app, ["bench", *args, "--repeat", "2", "--json", str(out)])
    assert result.exit_code == 0, result.output
    return json.loads(out.read_text()), result.stdout


@pytest.fixture(scope="module")
def brief(tmp_path_factory) -> tuple[dict, str]:
    return _bench(tmp_path_factory.mktemp("bench"), "--model", FIXTURE, "--seconds", "3")


def _assert_stats(stats: dict, present: bool = True) -> None:
    assert set(stats) >= set(STAT_KEYS)
    values = [stats[key] for key in STAT_KEYS]
    if not present:
        assert values == [None] * 5
        return
    assert all(isinstance(v, float) for v in values)
    assert 0 <= values[0] <= values[1] <= values[2] <= values[3] <= values[4]


def _assert_model(model: dict, *, windows: int, resampled: bool) -> None:
    assert model["path"] == FIXTURE
    assert model["size_bytes"] == os.path.getsize(FIXTURE)
    assert model["input_dtype"] == "int8"
    assert model["labels"] == ["neutral", "happy", "sad", "angry"]
    assert (model["window_ms"], model["hop_ms"], model["sample_rate_hz"]) == (1000, 500, 16000)
    assert model["windows_per_pass"] == windows
    assert list(model["stages"]) == list(bench.STAGES)
    for name, stage in model["stages"].items():
        assert set(stage) == {"calls_per_pass", "ms_per_pass", "ms_per_audio_s", *STAT_KEYS}
        used = name != "resample" or resampled
        assert (stage["calls_per_pass"] > 0) == used, name
        _assert_stats(stage, present=used)
        assert stage["ms_per_pass"] >= 0 and stage["ms_per_audio_s"] >= 0
    for name in ("quantize", "invoke", "postprocess"):
        assert model["stages"][name]["calls_per_pass"] == windows
    assert model["pipeline_ms_per_audio_s"] == pytest.approx(
        sum(model["stages"][s]["ms_per_audio_s"] for s in bench.PIPELINE_STAGES))
    _assert_stats(model["per_window"])
    _assert_stats(model["end_to_end"])
    assert model["real_time_factor"] > 0 and model["windows_per_s"] > 0
    assert model["peak_rss_mb_after"] > 0
    assert model["prediction"]["label"] in model["labels"]
    assert 0 < model["prediction"]["confidence"] <= 1
    assert model["prediction"]["num_windows"] == windows


def test_report_has_every_field(brief):
    report, text = brief
    assert set(report) == {"schema", "environment", "audio", "settings", "peak_rss_mb",
                           "peak_rss_source", "models", "comparison"}
    assert report["schema"] == "emoedge.bench/1"
    env = report["environment"]
    assert env["interpreter"] in ("ai-edge-litert", "tflite-runtime", "tensorflow")
    assert isinstance(env["interpreter_version"], str) and env["interpreter_version"]
    assert env["threads"] is None
    assert isinstance(env["cpu_model"], str) and env["cpu_model"]
    assert env["cpu_cores"] == os.cpu_count() and 1 <= env["cpu_cores_usable"] <= env["cpu_cores"]
    assert env["machine"] == platform.machine()
    assert env["python"] == f"{platform.python_implementation()} {platform.python_version()}"
    assert env["numpy"] == np.__version__ and env["emoedge"] == emoedge.__version__
    assert isinstance(env["os"], str)
    assert len(env["load_average"]) == 3 and len(env["load_average_end"]) == 3
    assert env["markers"] is False
    assert report["audio"] == {"source": "generated", "duration_s": 3.0, "sample_rate_hz": 16000,
                               "channels": 1, "subtype": "PCM_16"}
    assert report["settings"] == {"warmup": 1, "repeat": 2, "chunk": "one model hop"}
    assert report["peak_rss_mb"] > 0 and report["peak_rss_source"] in ("VmHWM", "ru_maxrss")
    assert len(report["models"]) == 1 and report["comparison"] is None
    _assert_model(report["models"][0], windows=5, resampled=False)
    assert report["models"][0]["stages"]["frontend"]["calls_per_pass"] == 6  # 3 s / 500 ms hop
    for word in (*bench.STAGES, "per window", "end to end", "real-time factor", "peak RSS",
                 "ai-edge-litert", platform.machine()):
        assert word in text


def test_generated_audio_at_another_rate_is_resampled(tmp_path):
    report, _ = _bench(tmp_path, "--model", FIXTURE, "--seconds", "3", "--rate", "48000",
                       "--threads", "1")
    assert report["audio"]["sample_rate_hz"] == 48000
    assert report["environment"]["threads"] == 1
    _assert_model(report["models"][0], windows=5, resampled=True)


def test_audio_file(tmp_path):
    path = tmp_path / "speech.flac"
    pcm = np.concatenate([voiced_speech(1.0, pitch_hz=p) for p in (120, 180, 220)])
    soundfile.write(path, np.stack([pcm, pcm], axis=1), 16000, subtype="PCM_16")
    report, _ = _bench(tmp_path, "--model", FIXTURE, "--audio", str(path))
    assert report["audio"]["source"] == str(path) and report["audio"]["channels"] == 2
    _assert_model(report["models"][0], windows=5, resampled=True)  # stereo is converted


def test_compare_measures_both_models_with_ratios(tmp_path):
    report, text = _bench(tmp_path, "--model", FIXTURE, "--compare", FIXTURE, "--seconds", "3")
    assert len(report["models"]) == 2
    for model in report["models"]:
        _assert_model(model, windows=5, resampled=False)
    comparison = report["comparison"]
    assert comparison["baseline"] == FIXTURE and comparison["model"] == FIXTURE
    ratios = comparison["ratios"]
    assert set(ratios) == {"size", "end_to_end_p50", "per_window_p50", "pipeline_ms_per_audio_s",
                           *(f"{stage}_ms_per_pass" for stage in bench.STAGES)}
    assert ratios["size"] == 1.0 and ratios["resample_ms_per_pass"] is None
    assert all(v > 0 for k, v in ratios.items() if k != "resample_ms_per_pass")
    assert "ratios" in text


def test_staged_pass_gives_the_windows_of_predict_file(tmp_path):
    path = bench.write_generated_audio(str(tmp_path), 2.5, 22050)
    model = emoedge.load_model(FIXTURE)
    clock = bench._Clock(bench_markers.Markers(active=False))
    windows = bench.staged_pass(model, path, clock)
    assert windows == list(model.predict_file(path, segments=True).segments)
    assert len(clock.per_window) == len(windows) == 4


def test_generated_signal_is_deterministic_speech_band_audio():
    a, b = bench.speech_like_signal(1.0, 16000), bench.speech_like_signal(1.0, 16000)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (16000,) and -1 <= a.min() and a.max() < 1
    spectrum = np.abs(np.fft.rfft(a)) ** 2
    freqs = np.fft.rfftfreq(len(a), 1 / 16000)
    assert spectrum[(freqs > 100) & (freqs < 4000)].sum() > 0.9 * spectrum.sum()


@pytest.mark.parametrize("args, message", [
    (["--model", REFUSED], "--model"),
    (["--model", FIXTURE, "--compare", REFUSED], "--compare"),
    (["--model", FIXTURE, "--audio", "x.wav", "--seconds", "3"], "not both"),
    (["--model", FIXTURE, "--audio", "missing.wav"], "no such file"),
    (["--model", FIXTURE, "--seconds", "0.5"], "shorter than the window"),
    (["--model", FIXTURE, "--seconds", "-1"], "--seconds"),
    (["--model", FIXTURE, "--rate", "100"], "--rate"),
    (["--model", FIXTURE, "--repeat", "0"], "--repeat"),
    (["--model", FIXTURE, "--threads", "0"], "--threads"),
    (["--model", FIXTURE, "--json", "/nonexistent/folder/out.json"], "--json"),
])
def test_usage_errors_are_one_line_with_exit_2(args, message):
    result = runner.invoke(app, ["bench", *args])
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_packaged_model_is_a_usage_error(monkeypatch):
    import emoedge.recognizer

    monkeypatch.setattr(emoedge.recognizer, "DEFAULT_MODEL_RESOURCE", ("models", "gone.tflite"))
    result = runner.invoke(app, ["bench"])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "emoedge: error: the packaged default model emoedge/models/gone.tflite is missing "
        "from this install; pass one with --model FILE.tflite")


def test_broken_packaged_model_is_a_usage_error(monkeypatch):
    import emoedge.recognizer

    # A file that is in the package but is not a model.
    monkeypatch.setattr(emoedge.recognizer, "DEFAULT_MODEL_RESOURCE", ("models", "MODEL_CARD.md"))
    result = runner.invoke(app, ["bench"])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("emoedge: error: the packaged model: ")
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_unreadable_audio_is_a_usage_error(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("not audio")
    result = runner.invoke(app, ["bench", "--model", FIXTURE, "--audio", str(path)])
    assert result.exit_code == 2 and "cannot use the audio" in result.stderr


def test_markers_are_silent_by_default_and_enosys_when_on(monkeypatch):
    monkeypatch.delenv(bench_markers.ENV_VARIABLE, raising=False)
    assert not bench_markers.Markers().active
    monkeypatch.setenv(bench_markers.ENV_VARIABLE, "1")
    markers = bench_markers.Markers()
    assert markers.active
    markers.begin("frontend")
    markers.end("frontend")
    call = bench_markers._load_syscall()
    assert call(bench_markers.MARKER_SYSCALL, bench_markers.OP_BEGIN, 1) == -1
    assert ctypes.get_errno() in (errno.ENOSYS, errno.EPERM)  # EPERM: a seccomp filter
    assert len(bench_markers.REGIONS) == len(set(bench_markers.REGIONS.values()))
    assert max(bench_markers.REGIONS.values()) < 64  # the plugin's table size


def test_bench_runs_with_markers_on(tmp_path, monkeypatch):
    monkeypatch.setenv(bench_markers.ENV_VARIABLE, "1")
    report, _ = _bench(tmp_path, "--model", FIXTURE, "--seconds", "2")
    assert report["environment"]["markers"] is True
