"""The recognition API on the committed tiny int8 fixture (no TensorFlow needed)."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest
import soundfile
from hypothesis import given, settings
from hypothesis import strategies as st

import emoedge
from emoedge import interpreter as interpreter_module
from emoedge import recognizer as recognizer_module
from emoedge.recognizer import ClipError
from signals import voiced_speech, white_noise

FIXTURE = pathlib.Path(__file__).parent / "fixtures" / "tiny_int8.tflite"
CLIP = np.concatenate([voiced_speech(1.2, pitch_hz=120, seed=1), white_noise(0.3, rms=200),
                       voiced_speech(1.1, pitch_hz=220, seed=2)])


@pytest.fixture(scope="module")
def model():
    return emoedge.load_model(FIXTURE)


def test_prediction_fields(model):
    prediction = model.predict(CLIP, 16000, segments=True)
    assert prediction.label in model.labels
    assert set(prediction.probabilities) == set(model.labels)
    assert abs(sum(prediction.probabilities.values()) - 1) < 1e-9
    assert prediction.confidence == max(prediction.probabilities.values())
    assert prediction.duration_s == pytest.approx(2.6)
    # 2.6 s with 1 s windows every 0.5 s: windows start at 0, 0.5, 1.0, 1.5
    assert [w.start_s for w in prediction.segments] == [0.0, 0.5, 1.0, 1.5]
    assert prediction.num_windows == 4
    assert -1 <= prediction.valence <= 1 and -1 <= prediction.arousal <= 1
    with pytest.raises(Exception):
        prediction.label = "x"  # frozen
    with pytest.raises(TypeError):
        prediction.probabilities["happy"] = 1.0  # read-only mapping


def test_clip_result_is_the_mean_of_its_windows(model):
    prediction = model.predict(CLIP, 16000, segments=True)
    for label in model.labels:
        mean = np.mean([w.probabilities[label] for w in prediction.segments])
        assert prediction.probabilities[label] == pytest.approx(mean, abs=1e-12)
    points = model.metadata.valence_arousal
    expected_valence = sum(prediction.probabilities[k] * points[k][0] for k in model.labels)
    assert prediction.valence == pytest.approx(expected_valence)


def _stream(model, pcm, sizes):
    recognizer = model.stream()
    out, start, i = [], 0, 0
    while start < len(pcm):
        out += recognizer.process(pcm[start:start + sizes[i % len(sizes)]])
        start += sizes[i % len(sizes)]
        i += 1
    return out + recognizer.flush()


@settings(max_examples=20, deadline=None)
@given(sizes=st.lists(st.integers(1, 20000), min_size=1, max_size=8),
       length=st.sampled_from([3000, 12000, 16000, 41600]))
def test_streaming_equals_offline_for_any_chunking(model, sizes, length):
    pcm = CLIP[:length]
    offline = model.predict(pcm, 16000, segments=True).segments
    assert _stream(model, pcm, sizes) == list(offline)


def test_reset_forgets_everything(model):
    recognizer = model.stream()
    recognizer.process(CLIP[:30000])
    recognizer.reset()
    again = []
    for start in range(0, len(CLIP), 1600):
        again += recognizer.process(CLIP[start:start + 1600])
    again += recognizer.flush()
    assert again == list(model.predict(CLIP, 16000, segments=True).segments)


def test_short_clip_gets_one_padded_window(model):
    prediction = model.predict(CLIP[:4000], 16000, segments=True)  # 0.25 s < 1 s window
    (window,) = prediction.segments
    assert window.padded and window.start_s == 0.0 and window.end_s == pytest.approx(0.25)


def test_shorter_than_one_frame_and_silence_are_refused(model):
    with pytest.raises(ClipError, match="shorter than one frontend frame"):
        model.predict(CLIP[:300], 16000)
    with pytest.raises(ClipError, match="silent"):
        model.predict(np.zeros(32000, np.int16), 16000)


def test_file_and_memory_paths_agree(model, tmp_path):
    path = tmp_path / "clip.flac"
    soundfile.write(path, CLIP, 16000, subtype="PCM_16")
    from_file = model.predict_file(path, segments=True)
    assert from_file == model.predict(CLIP, 16000, segments=True)
    assert list(model.iter_windows(path)) == list(from_file.segments)


def test_other_rates_and_channels_are_converted(model):
    stereo_float = np.stack([CLIP, CLIP], axis=1) / 32768.0
    resampled = model.predict(stereo_float, 44100)
    assert resampled.duration_s == pytest.approx(len(CLIP) / 44100)
    assert resampled.label in model.labels


def test_features_match_training_features_bit_for_bit(model, tmp_path):
    """The runtime's frontend is the training frontend: same config, same frames."""
    config = model.metadata.frontend
    frontend_frames = emoedge.compute_features(CLIP, config)
    recognizer = model.stream()
    assert recognizer._frontend.process(CLIP).tolist() == frontend_frames.tolist()


def test_missing_packaged_model_says_how_to_pass_one(monkeypatch):
    monkeypatch.setattr(recognizer_module, "DEFAULT_MODEL_RESOURCE", ("models", "gone.tflite"))
    with pytest.raises(emoedge.ModelConfigError) as caught:
        emoedge.load_model()
    assert str(caught.value) == (
        "the packaged default model emoedge/models/gone.tflite is missing from this install; "
        "reinstall emoedge, or pass a model file: emoedge.load_model('path/to/model.tflite')")


def test_missing_interpreter_names_the_extra(monkeypatch):
    monkeypatch.setattr(interpreter_module, "_CANDIDATES",
                        (("no_such_module_a", "Interpreter", "x"),
                         ("no_such_module_b", "Interpreter", "y")))
    with pytest.raises(interpreter_module.InterpreterUnavailable) as caught:
        emoedge.load_model(FIXTURE)
    assert "emoedge[litert]" in str(caught.value)
    assert isinstance(caught.value.__cause__, ImportError)


def test_thread_count_is_passed_to_the_interpreter(monkeypatch):
    seen = {}
    real = interpreter_module.find_interpreter()

    def recording_factory(**kwargs):
        seen.update(kwargs)
        return real.factory(**kwargs)

    monkeypatch.setattr(interpreter_module, "find_interpreter",
                        lambda: interpreter_module.InterpreterBackend("rec", "0", recording_factory))
    emoedge.load_model(FIXTURE, num_threads=2)
    assert seen["num_threads"] == 2


def test_tensor_metadata_mismatch_is_refused(monkeypatch):
    from emoedge.model_file import read_model_file
    from emoedge.metadata import TensorSpec
    from emoedge.recognizer import EmotionModel
    import dataclasses

    model_file = read_model_file(FIXTURE)
    wrong = dataclasses.replace(model_file.metadata, input=TensorSpec(
        shape=model_file.metadata.input.shape, dtype="int8",
        scale=model_file.metadata.input.scale * 2, zero_point=model_file.metadata.input.zero_point))
    with pytest.raises(emoedge.ModelConfigError, match="quantization"):
        EmotionModel(model_file.content, wrong)
