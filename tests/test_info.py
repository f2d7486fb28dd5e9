"""``emoedge info``: text and JSON reports of a model file, and its errors."""

from __future__ import annotations

import hashlib
import json
import pathlib

from typer.testing import CliRunner

import emoedge.commands.info as info
from emoedge.cli import app
from emoedge.interpreter import InterpreterUnavailable
from emoedge.model_file import read_model_file

FIXTURE = pathlib.Path(__file__).resolve().parent / "fixtures" / "tiny_int8.tflite"
runner = CliRunner()


def _fixture_facts():
    model = read_model_file(FIXTURE)
    return model.metadata, len(model.content), hashlib.sha256(model.content).hexdigest()


def test_text_report():
    meta, size, sha = _fixture_facts()
    result = runner.invoke(app, ["info", str(FIXTURE)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "neutral, happy, sad, angry" in out
    assert f"{size} bytes ({round(size / 1024, 1)} KB)" in out
    assert sha in out and meta.weights_sha256 in out
    assert f"int8 [1, 98, 40, 1] scale {meta.input.scale:.6g} zero_point {meta.input.zero_point}" in out
    assert f"int8 [1, 4] scale {meta.output.scale:.6g} zero_point {meta.output.zero_point}" in out
    assert "CONV_2D x2, MAX_POOL_2D x1, MEAN x1, FULLY_CONNECTED x1" in out
    assert "1000 ms (98 frames), hop 500 ms (50 frames)" in out
    assert "short clips     padded to one window: noise-floor" in out
    assert "random test fixture" in out


def test_json_report():
    meta, size, sha = _fixture_facts()
    result = runner.invoke(app, ["info", str(FIXTURE), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["metadata"]["labels"] == ["neutral", "happy", "sad", "angry"]
    assert (report["size_bytes"], report["file_sha256"]) == (size, sha)
    assert report["weights_sha256"] == meta.weights_sha256
    (tensor,) = report["inputs"]
    assert (tensor["shape"], tensor["dtype"]) == ([1, 98, 40, 1], "int8")
    assert tensor["scale"] == meta.input.scale and tensor["zero_point"] == meta.input.zero_point
    (tensor,) = report["outputs"]
    assert (tensor["shape"], tensor["dtype"]) == ([1, 4], "int8")
    assert {"name": "CONV_2D", "count": 2} in report["ops"]
    assert {"name": "FULLY_CONNECTED", "count": 1} in report["ops"]


def test_without_an_interpreter_the_metadata_gives_the_tensors(monkeypatch):
    def unavailable(*args, **kwargs):
        raise InterpreterUnavailable("none")

    monkeypatch.setattr(info, "load_interpreter", unavailable)
    report = info.build_report(read_model_file(FIXTURE))
    assert report["tensor_source"].startswith("metadata")
    assert report["inputs"][0]["shape"] == [1, 98, 40, 1]
    assert "FULLY_CONNECTED" in info.format_report(report)


def test_errors_are_one_line_with_exit_code_2(tmp_path):
    (tmp_path / "notes.tflite").write_text("not a model")
    for path, problem in ((tmp_path / "missing.tflite", "no such model file"),
                          (tmp_path / "notes.tflite", "not a TFLite model")):
        for extra in ([], ["--json"]):
            result = runner.invoke(app, ["info", str(path), *extra])
            assert result.exit_code == 2
            assert result.stdout == ""
            assert result.stderr.count("\n") == 1
            assert result.stderr.startswith(f"emoedge: error: {path}: {problem}")


def test_op_names_match_tensorflows_schema(tensorflow_available):
    from tensorflow.lite.python.schema_py_generated import BuiltinOperator

    for code, name in info.BUILTIN_OP_NAMES.items():
        assert getattr(BuiltinOperator, name) == code, name
