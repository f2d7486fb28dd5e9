"""Streaming equals batch, bit for bit, for any chunking and across reset()."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emoedge import FrontendConfig, StreamingFrontend, compute_features
from signals import chirp, voiced_speech, white_noise

# Noise reduction and PCAN carry state from frame to frame, so test with them
# on as well as off.
CONFIGS = [FrontendConfig(), FrontendConfig.micro_speech(),
           FrontendConfig(min_signal_remaining=0.05, enable_pcan=True)]
SIGNAL = np.concatenate([voiced_speech(0.6), white_noise(0.4, rms=500), chirp(0.5)])


def stream_in_chunks(frontend: StreamingFrontend, pcm: np.ndarray, sizes: list[int]) -> np.ndarray:
    """Feed ``pcm`` in chunks of the given sizes (cycled); stack the output frames."""
    out, start, i = [], 0, 0
    while start < len(pcm):
        size = sizes[i % len(sizes)]
        out.append(frontend.process(pcm[start:start + size]))
        start += size
        i += 1
    return np.concatenate(out) if out else np.zeros((0, frontend.config.num_channels), np.uint16)


@settings(max_examples=40, deadline=None)
@given(config_index=st.integers(0, len(CONFIGS) - 1),
       sizes=st.lists(st.integers(1, 5000), min_size=1, max_size=20))
def test_any_chunking_equals_batch(config_index, sizes):
    config = CONFIGS[config_index]
    streamed = stream_in_chunks(StreamingFrontend(config), SIGNAL, sizes)
    np.testing.assert_array_equal(streamed, compute_features(SIGNAL, config))


@settings(max_examples=25, deadline=None)
@given(config_index=st.integers(0, len(CONFIGS) - 1),
       first_sizes=st.lists(st.integers(1, 5000), min_size=1, max_size=5),
       cut=st.integers(0, len(SIGNAL)),
       sizes=st.lists(st.integers(1, 5000), min_size=1, max_size=20))
def test_reset_restarts_from_a_fresh_state(config_index, first_sizes, cut, sizes):
    config = CONFIGS[config_index]
    frontend = StreamingFrontend(config)
    stream_in_chunks(frontend, SIGNAL[:cut], first_sizes)  # leaves samples and noise state behind
    frontend.reset()
    streamed = stream_in_chunks(frontend, SIGNAL, sizes)
    np.testing.assert_array_equal(streamed, compute_features(SIGNAL, config))


def test_empty_chunks_produce_no_frames():
    frontend = StreamingFrontend()
    out = frontend.process(np.zeros(0, dtype=np.int16))
    assert out.shape == (0, 40) and out.dtype == np.uint16


def test_one_frame_needs_a_full_window_then_a_step():
    config = FrontendConfig()
    frontend = StreamingFrontend(config)
    assert len(frontend.process(SIGNAL[:config.window_samples - 1])) == 0
    assert len(frontend.process(SIGNAL[config.window_samples - 1:config.window_samples])) == 1
    assert len(frontend.process(SIGNAL[config.window_samples:
                                       config.window_samples + config.step_samples])) == 1


def test_state_carries_over_chunks_with_noise_reduction():
    """With NR on, later frames depend on earlier audio: a cold start differs."""
    config = FrontendConfig(min_signal_remaining=0.05, enable_pcan=True)
    whole = compute_features(SIGNAL, config)
    tail_start = 50 * config.step_samples
    cold_tail = compute_features(SIGNAL[tail_start:], config)
    assert not np.array_equal(whole[50:50 + len(cold_tail)], cold_tail)


@pytest.mark.parametrize("bad", [np.zeros(10, np.float32), np.zeros(10, np.int32)])
def test_rejects_non_int16(bad):
    with pytest.raises(TypeError, match="int16"):
        StreamingFrontend().process(bad)


def test_rejects_multichannel():
    with pytest.raises(ValueError, match="1-D"):
        compute_features(np.zeros((10, 2), np.int16))


def test_repeat_padding_fills_the_window_with_the_clips_own_frames():
    from emoedge.windows import pad_to_window

    frames = np.arange(6, dtype=np.uint16).reshape(3, 2)
    assert pad_to_window(frames, 7, "repeat").tolist() == [
        [0, 1], [2, 3], [4, 5], [0, 1], [2, 3], [4, 5], [0, 1]]
    assert pad_to_window(frames, 5).tolist() == [[0, 1], [2, 3], [4, 5], [0, 1], [0, 1]]
    assert pad_to_window(frames, 3, "repeat") is frames
    with pytest.raises(ValueError, match="unknown padding 'mirror'; choose one of noise-floor, repeat"):
        pad_to_window(frames, 7, "mirror")
