"""Augmentation: waveform changes before the frontend, SpecAugment after it.

Waveform augmentation runs on the PCM, so augmented features still come from
the device's own frontend. It uses audiomentations (maintained, numpy-only,
covers noise at an SNR, gain, pitch shift, time stretch and shift with one
API); reverberation is a short synthetic room response convolved here,
because audiomentations' room simulator needs pyroomacoustics.

Everything is seeded: the same (seed, clip key, variant) always gives the
same augmented audio, on any machine.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True, kw_only=True)
class AugmentConfig:
    """Augmentation settings; each ``*_p`` is the chance a transform is applied.

    ``strength`` scales every range (0 turns waveform augmentation off), so a
    tuner can search one number.
    """

    strength: float = 1.0
    noise_snr_db: tuple[float, float] = (10.0, 30.0)
    noise_p: float = 0.5
    # NR and PCAN are off by default, so features follow microphone gain;
    # docs/FRONTEND.md measured that training needs at least -12..+6 dB.
    gain_db: tuple[float, float] = (-12.0, 6.0)
    gain_p: float = 0.8
    pitch_semitones: tuple[float, float] = (-2.0, 2.0)
    pitch_p: float = 0.3
    speed_rate: tuple[float, float] = (0.9, 1.1)
    speed_p: float = 0.3
    shift_fraction: tuple[float, float] = (-0.1, 0.1)
    shift_p: float = 0.5
    reverb_p: float = 0.0
    reverb_rt60_s: tuple[float, float] = (0.2, 0.6)
    # A noise gate last of all, as a voice app or gated microphone applies it
    # after the room and the preamp: quiet stretches and the quiet edges of
    # speech become exact zeros, which in training only RAVDESS's own gated
    # silences hold (DEFAULT_MODEL.md, thirty-fourth round).
    # Not scaled by strength: a gate is on or off at a threshold.
    gate_p: float = 0.0
    gate_dbfs: tuple[float, float] = (-70.0, -50.0)
    # The corpora whose copies may be gated (their ``Clip.corpus`` names);
    # empty: every corpus. RAVDESS brings its own gated silences, so a recipe
    # can gate only the corpora that have none (thirty-fifth round).
    gate_corpora: tuple[str, ...] = ()
    time_masks: int = 2
    time_mask_frames: int = 20
    freq_masks: int = 2
    freq_mask_channels: int = 6

    @property
    def waveform_enabled(self) -> bool:
        return self.strength > 0

    def for_corpus(self, corpus: str) -> AugmentConfig:
        """These settings for one clip of ``corpus``: the gate kept where
        ``gate_corpora`` names it (or names none), else off. The result's
        ``gate_corpora`` is empty, so it equals the config of a recipe that
        never named corpora, and :func:`augment_waveform` need not know the corpus."""
        gated = not self.gate_corpora or corpus in self.gate_corpora
        return replace(self, gate_p=self.gate_p if gated else 0.0, gate_corpora=())


def stable_seed(*parts: object) -> int:
    """A 32-bit seed from any values, the same on every machine and run."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "little")


def _scaled(bounds: tuple[float, float], strength: float, neutral: float) -> tuple[float, float]:
    low, high = bounds
    return neutral + (low - neutral) * strength, neutral + (high - neutral) * strength


def augment_waveform(pcm: np.ndarray, config: AugmentConfig, seed: int,
                     sample_rate_hz: int = 16000) -> np.ndarray:
    """One augmented copy of a clip.

    Args:
        pcm: 1-D int16 samples.
        config: ranges and probabilities.
        seed: from :func:`stable_seed` (e.g. of base seed, clip path, variant).
    Returns:
        int16 samples (length may change with time stretch).
    """
    import audiomentations as am

    from emoedge.audio import float_to_pcm16

    if not config.waveform_enabled:
        return pcm
    s = config.strength
    # Noise SNR shrinks towards 40 dB (inaudible) as strength goes to 0.
    snr_low, snr_high = (40 + (bound - 40) * s for bound in config.noise_snr_db)
    chain = am.Compose([
        am.Gain(*_scaled(config.gain_db, s, 0.0), p=config.gain_p),
        am.PitchShift(*_scaled(config.pitch_semitones, s, 0.0), p=config.pitch_p),
        am.TimeStretch(*_scaled(config.speed_rate, s, 1.0), leave_length_unchanged=False,
                       p=config.speed_p),
        am.Shift(*_scaled(config.shift_fraction, s, 0.0), rollover=False, p=config.shift_p),
        am.AddGaussianSNR(min(snr_low, snr_high), max(snr_low, snr_high), p=config.noise_p),
    ])
    # audiomentations draws from the global generators; seed both per call.
    random.seed(seed)
    np.random.seed(seed)
    samples = chain(samples=pcm.astype(np.float32) / 32768.0, sample_rate=sample_rate_hz)
    rng = np.random.default_rng(seed)
    if config.reverb_p > 0 and rng.random() < config.reverb_p:
        samples = _reverberate(samples, rng.uniform(*config.reverb_rt60_s), sample_rate_hz, rng)
    pcm = float_to_pcm16(np.clip(samples, -1.0, 1.0))
    # drawn after every other transform, so a recipe without a gate keeps its copies
    if config.gate_p > 0 and rng.random() < config.gate_p:
        pcm = noise_gate(pcm, rng.uniform(*config.gate_dbfs))
    return pcm


def noise_gate(pcm: np.ndarray, gate_dbfs: float) -> np.ndarray:
    """``pcm`` (1-D int16) with every sample whose magnitude is under
    ``gate_dbfs`` decibels below full scale (32768) set to 0, the rest
    unchanged: the exact-zero silences of a noise gate. Returns int16."""
    threshold = 32768.0 * 10 ** (gate_dbfs / 20)
    return np.where(np.abs(pcm.astype(np.int32)) < threshold, 0, pcm).astype(np.int16)


def fill_zeros(pcm: np.ndarray, seed: int) -> np.ndarray:
    """``pcm`` (1-D int16) with every exact-zero sample set to +1 or -1 (a
    seeded sign per sample), the rest unchanged: a gate's silences lifted to
    the quietest noise int16 holds (about -90 dBFS), which the frontend reads
    well above its floor. Returns int16."""
    signs = np.random.default_rng(seed).integers(0, 2, len(pcm), dtype=np.int16) * 2 - 1
    return np.where(pcm == 0, signs, pcm).astype(np.int16)


def _reverberate(samples: np.ndarray, rt60_s: float, rate: int, rng) -> np.ndarray:
    """Convolve with exponentially decaying noise: -60 dB after ``rt60_s``."""
    length = int(rt60_s * rate)
    t = np.arange(length) / rate
    response = rng.standard_normal(length) * 10 ** (-3 * t / rt60_s)
    response[0] = 1.0
    size = len(samples) + length - 1
    wet = np.fft.irfft(np.fft.rfft(samples, size) * np.fft.rfft(response, size), size)[: len(samples)]
    return wet * (np.abs(samples).max() / (np.abs(wet).max() + 1e-9))


def spec_augment(features: np.ndarray, config: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """SpecAugment time and frequency masks on one window of features.

    Masked cells take the window's per-channel minimum (its noise floor), not
    zero: a device never sees exact zeros, and zeros would be a shortcut.

    Args:
        features: uint16 (frames, channels).
    Returns:
        a masked copy, same shape and dtype.
    """
    out = features.copy()
    frames, channels = out.shape
    floor = out.min(axis=0)
    for _ in range(config.time_masks):
        width = int(rng.integers(0, config.time_mask_frames + 1))
        start = int(rng.integers(0, max(1, frames - width + 1)))
        out[start:start + width] = floor
    for _ in range(config.freq_masks):
        width = int(rng.integers(0, config.freq_mask_channels + 1))
        start = int(rng.integers(0, max(1, channels - width + 1)))
        out[:, start:start + width] = floor[start:start + width]
    return out
