"""The magnitude floor (stage 5b): exact values, its equivalence with a floor
under the features, streaming against batch, and how it travels in the model
file. (Its feature-cache keys are tested with the cache, in
test_train_pipeline.py.) These run on aarch64 too (test_aarch64.py)."""

from __future__ import annotations

import dataclasses
import json
import math
import pathlib

import numpy as np
import pytest

import emoedge
from emoedge import FrontendConfig, StreamingFrontend, compute_features
from emoedge.frontend.floor import apply_magnitude_floor
from emoedge.frontend.log_scale import log_scale
from emoedge.frontend.pipeline import build_tables
from signals import chirp, voiced_speech, white_noise
from test_streaming import stream_in_chunks

GOLDEN = json.loads((pathlib.Path(__file__).parent / "golden" / "frontend.json").read_text())
FIXTURES = pathlib.Path(__file__).parent / "fixtures"


def floor_feature(config: FrontendConfig) -> int:
    """The feature the log stage gives a frame of magnitude ``config.magnitude_floor``."""
    tables = build_tables(config)
    magnitude = np.array([[config.magnitude_floor]], dtype=np.uint64)
    return int(log_scale(magnitude, correction_bits=tables.correction_bits,
                         scale_shift=config.log_scale_shift, enable_log=True)[0, 0])


def test_the_stage_raises_only_what_is_under_the_floor():
    magnitudes = np.array([[0, 1, 2, 3, 70000], [2, 0, 5, 1, 2]], dtype=np.uint64)
    floored = apply_magnitude_floor(magnitudes, 2)
    assert floored.dtype == np.uint64
    assert floored.tolist() == [[2, 2, 2, 3, 70000], [2, 2, 5, 2, 2]]
    assert apply_magnitude_floor(magnitudes, 0) is magnitudes


@pytest.mark.parametrize("floor", [1, 2, 4, 8])
def test_digital_silence_reads_as_the_floor_in_every_channel(floor):
    """The default frontend's FFT is 512 points, so magnitudes carry 3
    correction bits into the log: feature = round(64 * ln(floor * 2**3)),
    exact for powers of two. Without the floor, silence is feature 0."""
    silence = np.zeros(16000, dtype=np.int16)
    assert not compute_features(silence).any()
    features = compute_features(silence, FrontendConfig(magnitude_floor=floor))
    assert features.shape == (98, 40)
    assert (features == round(64 * math.log(floor * 8))).all()


@pytest.mark.parametrize("signal_name", sorted(GOLDEN["signals"]))
def test_without_noise_reduction_the_floor_is_a_floor_under_the_golden_features(signal_name):
    """The log stage is monotonic, so with NR and PCAN off, flooring the
    magnitudes equals flooring TF's reference features at the floor's own
    feature value. The floor is set to bite on some values and not others."""
    pcm = np.array(GOLDEN["signals"][signal_name], dtype=np.int16)
    reference = np.array(GOLDEN["features"][f"{signal_name}/ser_default"], dtype=np.uint16)
    config = FrontendConfig(magnitude_floor=int(np.exp(np.median(reference) / 64) / 8))
    level = floor_feature(config)
    assert (reference < level).any() and (reference > level).any()
    np.testing.assert_array_equal(compute_features(pcm, config), np.maximum(reference, level))


def test_with_noise_reduction_and_pcan_the_floored_magnitudes_feed_the_noise_estimate():
    """With NR and PCAN on, the floor acts before them, so the result is not
    a floor under the output: the noise estimate of floored silence differs."""
    silence_then_speech = np.concatenate([np.zeros(8000, np.int16), voiced_speech(0.5)])
    plain = FrontendConfig.tf_op_defaults()
    floored = dataclasses.replace(plain, magnitude_floor=4)
    a, b = compute_features(silence_then_speech, plain), compute_features(silence_then_speech, floored)
    assert not np.array_equal(a[60:], b[60:])


@pytest.mark.parametrize("config", [FrontendConfig(magnitude_floor=3),
                                    dataclasses.replace(FrontendConfig.tf_op_defaults(),
                                                        magnitude_floor=3)])
def test_streaming_equals_batch_with_the_floor(config):
    pcm = np.concatenate([np.zeros(3000, np.int16), voiced_speech(0.4), white_noise(0.2, rms=2),
                          np.zeros(2500, np.int16), chirp(0.3)])
    streamed = stream_in_chunks(StreamingFrontend(config), pcm, [1, 159, 400, 7, 1601, 33])
    np.testing.assert_array_equal(streamed, compute_features(pcm, config))


def test_configs_written_before_the_floor_read_back_with_it_off():
    written_before = FrontendConfig().to_dict()
    del written_before["magnitude_floor"]
    assert FrontendConfig.from_dict(written_before) == FrontendConfig()
    floored = FrontendConfig(magnitude_floor=2)
    assert FrontendConfig.from_dict(floored.to_dict()) == floored


def test_the_model_file_carries_the_floor_and_the_recognizer_honours_it(tmp_path,
                                                                        tensorflow_available):
    from emoedge.model_file import read_model_file
    from emoedge.quantize.export import embed_metadata, write_model_atomically

    original = read_model_file(FIXTURES / "tiny_int8.tflite").metadata
    floored = dataclasses.replace(original, frontend=FrontendConfig(magnitude_floor=4))
    path = tmp_path / "floored.tflite"
    write_model_atomically(path, embed_metadata(
        (FIXTURES / "tiny_int8_no_metadata.tflite").read_bytes(), floored))
    assert read_model_file(path).metadata.frontend.magnitude_floor == 4
    model = emoedge.load_model(path)
    recognizer = model.stream()
    frames = recognizer.features(np.zeros(16000, np.int16))
    assert (frames == round(64 * math.log(32))).all()
