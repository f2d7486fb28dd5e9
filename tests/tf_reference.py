"""TensorFlow's ``audio_microfrontend`` op as the reference (needs the train extra)."""

from __future__ import annotations

import numpy as np

from emoedge import FrontendConfig


def tf_features(pcm: np.ndarray, config: FrontendConfig) -> np.ndarray:
    """Run TF's op with the parameters of ``config``; uint16 (frames, channels)."""
    import tensorflow as tf
    from tensorflow.lite.experimental.microfrontend.python.ops import audio_microfrontend_op

    out = audio_microfrontend_op.audio_microfrontend(
        tf.constant(pcm, dtype=tf.int16),
        sample_rate=config.sample_rate_hz,
        window_size=config.window_size_ms,
        window_step=config.window_step_ms,
        num_channels=config.num_channels,
        upper_band_limit=config.upper_band_limit_hz,
        lower_band_limit=config.lower_band_limit_hz,
        smoothing_bits=config.smoothing_bits,
        even_smoothing=config.even_smoothing,
        odd_smoothing=config.odd_smoothing,
        min_signal_remaining=config.min_signal_remaining,
        enable_pcan=config.enable_pcan,
        pcan_strength=config.pcan_strength,
        pcan_offset=config.pcan_offset,
        gain_bits=config.pcan_gain_bits,
        enable_log=config.enable_log,
        scale_shift=config.log_scale_shift,
        out_scale=1,
        out_type=tf.uint16,
    )
    return np.asarray(out).reshape(-1, config.num_channels)
