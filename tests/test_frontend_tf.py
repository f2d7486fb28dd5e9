"""Bit-exactness against TensorFlow's ``audio_microfrontend`` op (train extra)."""

from __future__ import annotations

import numpy as np
import pytest

from emoedge import FrontendConfig, compute_features
from signals import all_signals, hard_clipped

CONFIGS = {
    "tf_op_defaults": FrontendConfig.tf_op_defaults(),
    "micro_speech": FrontendConfig.micro_speech(),
    "ser_default": FrontendConfig(),
    # Odd corners: radix-2 FFT stage (1024 and 256 points), unusual shifts,
    # log off, a single channel.
    "fft1024_pcan": FrontendConfig(window_size_ms=64, window_step_ms=32, num_channels=64,
                                   min_signal_remaining=0.05, enable_pcan=True),
    "8khz_fft256": FrontendConfig(sample_rate_hz=8000, window_size_ms=20, window_step_ms=10,
                                  num_channels=20, upper_band_limit_hz=3800.0, enable_pcan=True),
    "odd_params": FrontendConfig(window_size_ms=30, window_step_ms=7, num_channels=80,
                                 lower_band_limit_hz=20.0, upper_band_limit_hz=7900.0,
                                 smoothing_bits=5, pcan_strength=0.5, pcan_offset=10.0,
                                 pcan_gain_bits=18, log_scale_shift=8, enable_pcan=True,
                                 min_signal_remaining=0.2),
    "log_off": FrontendConfig(enable_log=False, enable_pcan=True, num_channels=16),
    "one_channel": FrontendConfig(num_channels=1),
}
MAIN_CONFIGS = ["tf_op_defaults", "micro_speech", "ser_default"]


def assert_bit_exact(pcm: np.ndarray, config: FrontendConfig) -> None:
    from tf_reference import tf_features

    ours = compute_features(pcm, config)
    theirs = tf_features(pcm, config)
    assert ours.shape == theirs.shape
    differ = np.argwhere(ours != theirs)
    assert differ.size == 0, (
        f"{len(differ)} of {ours.size} values differ; first at frame/channel "
        f"{differ[0].tolist()}: ours {ours[tuple(differ[0])]}, TF {theirs[tuple(differ[0])]}")


@pytest.mark.tf
@pytest.mark.parametrize("config_name", list(CONFIGS))
@pytest.mark.parametrize("signal_name", list(all_signals()))
def test_generated_signals_match_tf(tensorflow_available, config_name, signal_name):
    assert_bit_exact(all_signals()[signal_name], CONFIGS[config_name])


@pytest.mark.tf
@pytest.mark.parametrize("config_name", MAIN_CONFIGS)
def test_real_clips_match_tf(tensorflow_available, real_clips, config_name):
    assert len(real_clips) >= 20
    for name, pcm in real_clips.items():
        try:
            assert_bit_exact(pcm, CONFIGS[config_name])
            assert_bit_exact(hard_clipped(pcm, gain=20.0), CONFIGS[config_name])
        except AssertionError as error:
            raise AssertionError(f"{name}: {error}") from None


@pytest.mark.tf
@pytest.mark.parametrize("length", [0, 1, 399, 400, 401, 559, 560, 561])
def test_frame_count_matches_tf_at_edges(tensorflow_available, length):
    pcm = all_signals()["white_noise"][:length]
    config = FrontendConfig()
    assert compute_features(pcm, config).shape[0] == config.num_frames(length)
    assert_bit_exact(pcm, config)
