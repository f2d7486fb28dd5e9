"""The frontend pipeline: tables per config, batch and streaming feature paths.

The batch path is one call of the streaming path on the whole signal, and
every stage runs on all frames of a call at once, so streaming and batch
results are identical for any chunking.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .bits import FILTERBANK_BITS, msb32, msb_int
from .config import FrontendConfig
from .energy import power_spectrum
from .fft import FixedRealFft
from .filterbank import MelFilterbank
from .floor import apply_magnitude_floor
from .log_scale import log_scale
from .noise_reduction import NoiseReduction
from .pcan import PcanGainControl
from .sqrt import rounded_isqrt
from .window import apply_window, frame_signal, hann_coefficients

_FFT_INPUT_BITS = 15
BLOCK_FRAMES = 512
"""Stages 1-5 run on at most this many frames at a time, which also bounds
the size of the stages' reused scratch buffers (``workspace.py``). Since the
FFT works in place in those buffers, the block size matters little: on 60 s
of generated audio compute_features took 0.34 ms per second of audio in
blocks of 512, 0.35 in one block and 0.37 in blocks of 256 (same run, load
average 3.7 from a training job on the 2 cores). The stages are per-frame,
so the block size cannot change any result."""


@dataclass(frozen=True)
class FrontendTables:
    """Everything derived once from a :class:`FrontendConfig`."""

    config: FrontendConfig
    window: np.ndarray
    fft: FixedRealFft
    filterbank: MelFilterbank
    noise_reduction: NoiseReduction
    pcan: PcanGainControl | None
    correction_bits: int


@functools.lru_cache(maxsize=16)
def build_tables(config: FrontendConfig) -> FrontendTables:
    """Build (and cache) the fixed-point tables of ``config``."""
    window = hann_coefficients(config.window_samples)
    fft_size = 1 << max(2, (config.window_samples - 1).bit_length())
    # log and PCAN undo part of the FFT's 1/fft_size scaling with this shift.
    correction_bits = msb_int(fft_size) - 1 - FILTERBANK_BITS // 2
    filterbank = MelFilterbank.build(
        num_channels=config.num_channels,
        lower_hz=config.lower_band_limit_hz,
        upper_hz=config.upper_band_limit_hz,
        sample_rate_hz=config.sample_rate_hz,
        spectrum_size=fft_size // 2 + 1,
    )
    noise_reduction = NoiseReduction.build(
        num_channels=config.num_channels,
        smoothing_bits=config.smoothing_bits,
        even_smoothing=config.even_smoothing,
        odd_smoothing=config.odd_smoothing,
        min_signal_remaining=config.min_signal_remaining,
    )
    pcan = None
    if config.enable_pcan:
        pcan = PcanGainControl.build(
            strength=config.pcan_strength,
            offset=config.pcan_offset,
            gain_bits=config.pcan_gain_bits,
            smoothing_bits=config.smoothing_bits,
            correction_bits=correction_bits,
        )
    return FrontendTables(config, window, FixedRealFft.build(fft_size), filterbank,
                          noise_reduction, pcan, correction_bits)


def filterbank_magnitudes(frames: np.ndarray, tables: FrontendTables) -> np.ndarray:
    """Stages 1-5: window, FFT, energy, mel filterbank and square root.

    Each frame is shifted up before the FFT so its peak uses all 15 bits
    (block floating point); the same shift is taken off after the root.

    Args:
        frames: int16, shape (frames, window_samples).
    Returns:
        uint64 mel magnitudes (< 2**32), shape (frames, channels).
    """
    windowed, peak = apply_window(frames, tables.window)
    shift = (_FFT_INPUT_BITS - msb32(peak)).astype(np.uint16)  # 0..15
    # (uint16)x << shift, stored to int16, as the reference does: the shift
    # runs on the uint16 view (dropping the bits above 16, as the C store
    # does) and the int16 view of the result is that store's wrap.
    scaled = np.left_shift(windowed.view(np.uint16), shift[:, None]).view(np.int16)
    real, imag = tables.fft(scaled)
    fb = tables.filterbank
    bins = slice(fb.start_bin, fb.end_bin)
    energy = power_spectrum(real[:, bins], imag[:, bins])
    roots = rounded_isqrt(fb.apply(energy))
    return roots >> shift[:, None].astype(np.uint64)


def process_frames(frames: np.ndarray, tables: FrontendTables,
                   noise_estimate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All stages on a block of consecutive frames.

    Args:
        frames: int16, shape (frames, window_samples).
        noise_estimate: uint64 noise estimate before the first frame, (channels,).
    Returns:
        (uint16 features (frames, channels), noise estimate after the last frame).
    """
    if len(frames) <= BLOCK_FRAMES:
        signal = filterbank_magnitudes(frames, tables)
    else:
        signal = np.concatenate([filterbank_magnitudes(frames[start:start + BLOCK_FRAMES], tables)
                                 for start in range(0, len(frames), BLOCK_FRAMES)])
    config = tables.config
    signal = apply_magnitude_floor(signal, config.magnitude_floor)
    if config.noise_reduction_active or tables.pcan is not None:
        estimates = tables.noise_reduction.track(signal, noise_estimate)
        if len(estimates):
            noise_estimate = estimates[-1]
        if config.noise_reduction_active:
            signal = tables.noise_reduction.subtract(signal, estimates)
        if tables.pcan is not None:
            signal = tables.pcan.apply(signal, estimates)
    features = log_scale(signal, correction_bits=tables.correction_bits,
                         scale_shift=config.log_scale_shift, enable_log=config.enable_log)
    return features, noise_estimate


class StreamingFrontend:
    """Feature extraction over a stream of int16 chunks.

    State is the unframed tail of the input and the noise estimate; both
    start at zero, deterministically, and :meth:`reset` returns to that.
    """

    def __init__(self, config: FrontendConfig | None = None) -> None:
        self.config = config or FrontendConfig()
        self.tables = build_tables(self.config)
        self.reset()

    def reset(self) -> None:
        """Forget all buffered samples and the noise estimate."""
        self._pending = np.zeros(0, dtype=np.int16)
        self._noise_estimate = np.zeros(self.config.num_channels, dtype=np.uint64)

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Consume samples; return the frames they complete.

        Args:
            chunk: 1-D int16 PCM at ``config.sample_rate_hz``, any length.
        Returns:
            uint16 features of the newly completed frames, shape (k, channels),
            k >= 0.
        """
        samples = np.concatenate([self._pending, as_pcm16(chunk)])
        frames = frame_signal(samples, self.config.window_samples, self.config.step_samples)
        self._pending = samples[len(frames) * self.config.step_samples:].copy()
        if not len(frames):
            return np.zeros((0, self.config.num_channels), dtype=np.uint16)
        features, self._noise_estimate = process_frames(frames, self.tables, self._noise_estimate)
        return features


def compute_features(pcm: np.ndarray, config: FrontendConfig | None = None) -> np.ndarray:
    """Features of a whole signal, from a fresh frontend state.

    Args:
        pcm: 1-D int16 PCM at ``config.sample_rate_hz``.
        config: frontend parameters; ``FrontendConfig()`` when omitted.
    Returns:
        uint16 array, shape (frames, channels), frames =
        ``config.num_frames(len(pcm))``.
    """
    return StreamingFrontend(config).process(pcm)


def as_pcm16(pcm: np.ndarray) -> np.ndarray:
    """Check that ``pcm`` is 1-D int16 and return it as a numpy array."""
    array = np.asarray(pcm)
    if array.dtype != np.int16:
        raise TypeError(f"expected int16 PCM samples, got dtype {array.dtype}")
    if array.ndim != 1:
        raise ValueError(f"expected 1-D (mono) PCM, got shape {array.shape}")
    return array
