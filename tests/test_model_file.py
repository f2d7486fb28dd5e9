"""Model files: the metadata round trip, the committed fixture, and every refusal."""

from __future__ import annotations

import dataclasses
import hashlib
import pathlib
import stat
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import emoedge
from emoedge.interpreter import InterpreterUnavailable, load_interpreter
from emoedge.metadata import METADATA_NAME, ModelConfigError
from emoedge.model_file import (compute_weights_sha256, read_buffers, read_metadata_entries,
                                read_metadata_indices, read_model_file, read_operator_counts)
from emoedge.quantize.export import write_model_atomically
from signals import voiced_speech

FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures"
TINY = FIXTURES / "tiny_int8.tflite"
NO_METADATA = FIXTURES / "tiny_int8_no_metadata.tflite"


# --- helpers -----------------------------------------------------------------
def _refusal(path) -> str:
    """The one-line message read_model_file refuses ``path`` with."""
    with pytest.raises(ModelConfigError) as error:
        read_model_file(path)
    message = str(error.value)
    assert "\n" not in message
    assert str(path) in message
    return message


def _write(tmp_path, content: bytes, name: str = "model.tflite") -> pathlib.Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def _edit_metadata_json(old: bytes, new: bytes) -> bytes:
    """The fixture with ``old`` replaced by ``new`` inside its metadata JSON.

    Same length, so every flatbuffer offset stays valid and no TF is needed.
    """
    assert len(old) == len(new)
    content = TINY.read_bytes()
    payload = read_metadata_entries(content)[METADATA_NAME]
    assert payload.count(old) == 1 and content.count(payload) == 1
    start = content.index(payload)
    return content[:start] + payload.replace(old, new) + content[start + len(payload):]


def _interpreter(content: bytes):
    try:
        return load_interpreter(content)[0]
    except InterpreterUnavailable as error:
        pytest.skip(str(error))


def _run(content: bytes, inputs: np.ndarray) -> np.ndarray:
    interpreter = _interpreter(content)
    outputs = []
    for example in inputs:
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], example[np.newaxis])
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]))
    return np.concatenate(outputs)


# --- the committed fixture -------------------------------------------------
def test_fixture_metadata_reads_back():
    model = read_model_file(TINY)
    meta = model.metadata
    assert meta.labels == ("neutral", "happy", "sad", "angry")
    assert (meta.window_ms, meta.hop_ms, meta.window_frames, meta.hop_frames) == (1000, 500, 98, 50)
    assert (meta.task, meta.output_kind) == ("classification", "logits")
    assert meta.frontend == emoedge.FrontendConfig()
    assert meta.input.shape == (1, 98, 40, 1) and meta.input.dtype == "int8"
    assert meta.output.shape == (1, 4) and meta.output.dtype == "int8"
    assert meta.input.scale > 0 and meta.output.scale > 0
    assert meta.valence_arousal["angry"] == (-0.6, 0.8)
    assert "random test fixture" in meta.provenance["purpose"]
    assert meta.emoedge_version == emoedge.__version__
    content = TINY.read_bytes()
    assert model.content == content
    assert model.file_sha256 == hashlib.sha256(content).hexdigest()
    excluded = read_metadata_indices(content)[METADATA_NAME]
    assert model.weights_sha256 == meta.weights_sha256 == compute_weights_sha256(content, excluded)


def test_fixture_is_small_and_keeps_the_converter_metadata():
    content = TINY.read_bytes()
    assert len(content) < 50 * 1024
    assert {"min_runtime_version", "CONVERSION_METADATA", METADATA_NAME} <= set(
        read_metadata_entries(content))


def test_reading_the_fixture_needs_no_tensorflow():
    code = ("import sys\n"
            "from emoedge.model_file import read_model_file\n"
            f"model = read_model_file({str(TINY)!r})\n"
            "print(','.join(model.metadata.labels))\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('tensorflow', 'tf_keras', 'keras', 'flatbuffers')))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.split("\n")[:2] == ["neutral,happy,sad,angry", "[]"]


def test_fixture_runs_in_the_interpreter_on_frontend_features():
    content = read_model_file(TINY).content
    interpreter = _interpreter(content)
    (details,) = interpreter.get_input_details()
    assert list(details["shape"]) == [1, 98, 40, 1] and details["dtype"] == np.int8
    meta = read_model_file(TINY).metadata
    assert details["quantization"] == pytest.approx((meta.input.scale, meta.input.zero_point))
    features = emoedge.compute_features(voiced_speech(1.0))
    x = emoedge.features_to_int8(features, meta.input.scale, meta.input.zero_point)
    output = _run(content, x.reshape(1, 98, 40, 1))
    assert output.shape == (1, 4) and output.dtype == np.int8


def test_operator_counts_of_the_fixture():
    counts = dict(read_operator_counts(TINY.read_bytes()))
    assert counts == {3: 2, 17: 1, 40: 1, 9: 1}  # CONV_2D x2, MAX_POOL_2D, MEAN, FULLY_CONNECTED


# --- refusals ----------------------------------------------------------------
def test_missing_and_unreadable_files(tmp_path):
    assert "no such model file" in _refusal(tmp_path / "missing.tflite")
    assert "cannot read" in _refusal(tmp_path)  # a folder


def test_not_a_tflite_file(tmp_path):
    path = _write(tmp_path, b"RIFF\x00\x00\x00\x00WAVEfmt and then some more bytes")
    assert "not a TFLite model (no TFL3 file identifier)" in _refusal(path)


@pytest.mark.parametrize("cut", [0, 3, 7, 8, 64, 0.5, 0.9, -300, -1])
def test_truncated_file(tmp_path, cut):
    content = TINY.read_bytes()
    length = int(len(content) * cut) if isinstance(cut, float) else cut
    message = _refusal(_write(tmp_path, content[:length]))
    assert "corrupt or truncated" in message or "no TFL3 file identifier" in message


def test_model_without_emoedge_metadata():
    assert "has no emoedge metadata; export it with emoedge quantize" in _refusal(NO_METADATA)


def test_corrupt_json(tmp_path):
    content = _edit_metadata_json(b'"hop_ms": 500,', b'"hop_ms": 500;')
    assert "corrupt emoedge metadata: not JSON" in _refusal(_write(tmp_path, content))


def test_unsupported_schema_version(tmp_path):
    content = _edit_metadata_json(b'"schema_version": 1', b'"schema_version": 7')
    assert "schema version 7 is not supported" in _refusal(_write(tmp_path, content))


@pytest.mark.parametrize("old, new, problem", [
    (b'"hop_ms": 500', b'"hop_ms": 505', "hop of 505 ms is not a positive multiple"),
    (b'"window_ms": 1000', b'"window_ms": 2000', "does not fit a 2000 ms window"),
])
def test_config_the_runtime_cannot_honour(tmp_path, old, new, problem):
    message = _refusal(_write(tmp_path, _edit_metadata_json(old, new)))
    assert "model cannot run here" in message and problem in message


def test_weights_that_fail_their_checksum(tmp_path):
    content = TINY.read_bytes()
    excluded = read_metadata_indices(content)[METADATA_NAME]
    weights = max((data for index, data in enumerate(read_buffers(content)) if index != excluded),
                  key=len)  # the conv kernel
    position = content.index(weights) + len(weights) // 2
    flipped = content[:position] + bytes([content[position] ^ 0x01]) + content[position + 1:]
    message = _refusal(_write(tmp_path, flipped))
    assert "weights do not match the sha256 in its metadata" in message


def test_metadata_without_weights_checksum(tmp_path):
    sha = read_model_file(TINY).weights_sha256.encode()
    content = _edit_metadata_json(b'"' + sha + b'"', b'""' + b" " * len(sha))
    assert "no weights_sha256" in _refusal(_write(tmp_path, content))


@settings(max_examples=300, derandomize=True, deadline=None)
@given(position=st.integers(0, TINY.stat().st_size - 1), value=st.integers(0, 255))
def test_any_corrupted_byte_gives_a_clean_refusal_or_a_valid_read(position, value):
    content = bytearray(TINY.read_bytes())
    content[position] = value
    content = bytes(content)
    for read in (read_buffers, read_metadata_entries, read_operator_counts):
        try:
            read(content)
        except ModelConfigError as error:
            assert "\n" not in str(error)


# --- writing ---------------------------------------------------------------
def test_write_model_atomically_replaces_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "model.tflite"
    write_model_atomically(path, b"old")
    write_model_atomically(path, TINY.read_bytes())
    assert path.read_bytes() == TINY.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["model.tflite"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_metadata_round_trip(tmp_path, tensorflow_available):
    from emoedge.quantize.export import embed_metadata

    original = read_model_file(TINY).metadata
    blank = dataclasses.replace(original, weights_sha256="", emoedge_version="")
    path = tmp_path / "model.tflite"
    write_model_atomically(path, embed_metadata(NO_METADATA.read_bytes(), blank))
    model = read_model_file(path)
    assert model.metadata == original
    assert model.weights_sha256 == compute_weights_sha256(NO_METADATA.read_bytes(), None)


def test_embedded_model_gives_identical_outputs(tensorflow_available):
    from emoedge.quantize.export import embed_metadata

    embedded = embed_metadata(NO_METADATA.read_bytes(), read_model_file(TINY).metadata)
    inputs = np.random.default_rng(0).integers(-128, 128, (8, 98, 40, 1)).astype(np.int8)
    np.testing.assert_array_equal(_run(embedded, inputs), _run(NO_METADATA.read_bytes(), inputs))


def test_written_weights_start_on_16_byte_boundaries(tensorflow_available):
    from emoedge.quantize.export import embed_metadata

    content = embed_metadata(NO_METADATA.read_bytes(), read_model_file(TINY).metadata)
    unique = [data for data in read_buffers(content) if len(data) >= 64
              and content.count(data) == 1]
    assert len(unique) >= 3
    assert [content.index(data) % 16 for data in unique] == [0] * len(unique)


def test_embedding_again_replaces_the_entry(tensorflow_available):
    from emoedge.quantize.export import embed_metadata

    content = TINY.read_bytes()
    changed = dataclasses.replace(read_model_file(TINY).metadata,
                                  provenance={"purpose": "re-exported"})
    again = embed_metadata(content, changed)
    assert read_metadata_indices(again) == read_metadata_indices(content)
    assert len(read_buffers(again)) == len(read_buffers(content))
    assert b"re-exported" in read_metadata_entries(again)[METADATA_NAME]
    excluded = read_metadata_indices(again)[METADATA_NAME]
    assert compute_weights_sha256(again, excluded) == read_model_file(TINY).weights_sha256


def test_embedding_refuses_metadata_the_runtime_cannot_honour(tensorflow_available):
    from emoedge.quantize.export import embed_metadata

    broken = dataclasses.replace(read_model_file(TINY).metadata, hop_ms=15)
    with pytest.raises(ModelConfigError, match="hop of 15 ms"):
        embed_metadata(NO_METADATA.read_bytes(), broken)
    with pytest.raises(ModelConfigError, match="no TFL3 file identifier"):
        embed_metadata(b"not a model at all", broken)


def test_invalid_json_embedded_by_the_writer_is_refused(tmp_path, tensorflow_available):
    from emoedge.quantize.export import embed_metadata_bytes

    content = embed_metadata_bytes(NO_METADATA.read_bytes(), b"\xff{not json")
    assert "corrupt emoedge metadata: not JSON" in _refusal(_write(tmp_path, content))


def test_short_clip_padding_travels_in_the_file_and_the_runtime_pads_by_it(tmp_path,
                                                                          tensorflow_available):
    """A file saying "repeat" pads a short clip with the clip's own frames:
    its one window's output is the runner's on exactly those frames; the
    fixture, written before the field existed, pads with the noise floor."""
    from emoedge.quantize.export import embed_metadata
    from emoedge.windows import pad_to_window

    noise_floor = emoedge.load_model(TINY)
    assert noise_floor.metadata.short_clip_padding == "noise-floor"
    repeat_meta = dataclasses.replace(noise_floor.metadata, short_clip_padding="repeat")
    path = _write(tmp_path, embed_metadata(NO_METADATA.read_bytes(), repeat_meta))
    repeat = emoedge.load_model(path)
    assert read_model_file(path).metadata.short_clip_padding == "repeat"
    short = voiced_speech(0.4, pitch_hz=180, seed=3)  # shorter than the 1 s window
    frames = emoedge.compute_features(short, repeat.metadata.frontend)
    window_frames = repeat.metadata.window_frames
    repeated = np.resize(frames, (window_frames, frames.shape[1]))
    floored = pad_to_window(frames, window_frames)
    assert not np.array_equal(repeat.runner(repeated), repeat.runner(floored))
    for model, padded in ((repeat, repeated), (noise_floor, floored)):
        (window,) = model.predict(short, 16000, segments=True).segments
        outputs = model.runner(padded)
        probabilities = np.exp(outputs - outputs.max()) / np.exp(outputs - outputs.max()).sum()
        assert window.padded
        assert [window.probabilities[label] for label in model.labels] == pytest.approx(
            probabilities.tolist())


def test_unknown_short_clip_padding_is_refused(tmp_path, tensorflow_available):
    from emoedge.quantize.export import embed_metadata, embed_metadata_bytes

    meta = read_model_file(TINY).metadata
    with pytest.raises(ModelConfigError, match="unknown short-clip padding 'mirror' "
                                               r"\(supported: noise-floor, repeat\)"):
        embed_metadata(NO_METADATA.read_bytes(), dataclasses.replace(meta, short_clip_padding="mirror"))
    text = meta.to_json().replace('"short_clip_padding": "noise-floor"',
                                  '"short_clip_padding": "mirror"')
    path = _write(tmp_path, embed_metadata_bytes(NO_METADATA.read_bytes(), text.encode()))
    assert "unknown short-clip padding 'mirror'" in _refusal(path)
