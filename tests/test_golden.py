"""Golden vectors: committed signals with TF's expected feature rows.

These run without TensorFlow; ``tests/make_golden.py`` regenerates them.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

from emoedge import FrontendConfig, compute_features
from emoedge.frontend.pipeline import build_tables
from emoedge.frontend.window import apply_window, frame_signal

GOLDEN = json.loads((pathlib.Path(__file__).parent / "golden" / "frontend.json").read_text())
CONFIGS = {
    "ser_default": FrontendConfig(),
    "micro_speech": FrontendConfig.micro_speech(),
    "tf_op_defaults": FrontendConfig.tf_op_defaults(),
}


@pytest.mark.parametrize("key", sorted(GOLDEN["features"]))
def test_features_equal_tf_golden_rows(key):
    signal_name, config_name = key.split("/")
    pcm = np.array(GOLDEN["signals"][signal_name], dtype=np.int16)
    expected = np.array(GOLDEN["features"][key], dtype=np.uint16)
    assert len(expected) > 0
    np.testing.assert_array_equal(compute_features(pcm, CONFIGS[config_name]), expected)


def test_stage_rows_of_one_frame():
    golden = GOLDEN["stages"]["voiced/ser_default/frame3"]
    config = CONFIGS["ser_default"]
    tables = build_tables(config)
    pcm = np.array(GOLDEN["signals"]["voiced"], dtype=np.int16)
    frames = frame_signal(pcm, config.window_samples, config.step_samples)[3:4]
    windowed, peak = apply_window(frames, tables.window)
    assert windowed[0, :32].tolist() == golden["windowed_first_32"]
    shift = 15 - int(peak[0]).bit_length()
    assert [shift] == golden["fft_shift"]
    real, imag = tables.fft((windowed.astype(np.int32) << shift).astype(np.int16))
    assert real[0, :32].tolist() == golden["fft_real_first_32"]
    assert imag[0, :32].tolist() == golden["fft_imag_first_32"]
