"""The ``emoedge`` command line: entry points, help, and user-facing errors."""

from __future__ import annotations

import subprocess
import sys
import wave

import numpy as np
from typer.testing import CliRunner

import emoedge
from emoedge.cli import app
from signals import voiced_speech

runner = CliRunner()


def _write_wav(path, pcm, rate=16000, channels=1):
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm.astype("<i2").tobytes())


def test_python_dash_m_runs_the_same_cli():
    result = subprocess.run([sys.executable, "-m", "emoedge", "--version"], capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip() == f"emoedge {emoedge.__version__}"


def test_help_lists_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0 and "features" in result.output


def test_features_command_writes_the_same_features(tmp_path):
    pcm = voiced_speech(0.5)
    _write_wav(tmp_path / "a.wav", pcm)
    result = runner.invoke(app, ["features", str(tmp_path / "a.wav"), "-o", str(tmp_path / "f.npy")])
    assert result.exit_code == 0, result.output
    assert "48 frames x 40 channels" in result.output
    np.testing.assert_array_equal(np.load(tmp_path / "f.npy"), emoedge.compute_features(pcm))


def test_features_command_resamples_other_rates(tmp_path):
    _write_wav(tmp_path / "8k.wav", voiced_speech(0.5)[::2], rate=8000)
    result = runner.invoke(app, ["features", str(tmp_path / "8k.wav")])
    assert result.exit_code == 0 and "48 frames x 40 channels" in result.output


def test_features_command_errors_are_one_line_usage_errors(tmp_path):
    (tmp_path / "not_audio.wav").write_text("hello")
    for name, message in (("not_audio.wav", "not a readable audio file"),
                          ("missing.wav", "file not found")):
        result = runner.invoke(app, ["features", str(tmp_path / name)])
        assert result.exit_code == 2, result.output
        assert message in result.output
        assert "Traceback" not in result.output
