"""Deterministic test signals, int16 PCM at 16 kHz unless stated."""

from __future__ import annotations

import numpy as np

RATE_HZ = 16000


def silence(seconds: float = 1.0) -> np.ndarray:
    return np.zeros(int(seconds * RATE_HZ), dtype=np.int16)


def square_wave(seconds: float = 1.0, freq_hz: float = 400.0) -> np.ndarray:
    """Full-scale square wave: +32767 / -32768."""
    t = np.arange(int(seconds * RATE_HZ)) / RATE_HZ
    return np.where((t * freq_hz) % 1.0 < 0.5, 32767, -32768).astype(np.int16)


def white_noise(seconds: float = 1.0, rms: float = 3000.0, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0.0, rms, int(seconds * RATE_HZ))
    return np.clip(np.round(noise), -32768, 32767).astype(np.int16)


def chirp(seconds: float = 1.0, start_hz: float = 50.0, end_hz: float = 7900.0,
          amplitude: float = 20000.0) -> np.ndarray:
    """Linear sweep from start_hz to end_hz."""
    n = int(seconds * RATE_HZ)
    freq = np.linspace(start_hz, end_hz, n)
    phase = 2 * np.pi * np.cumsum(freq) / RATE_HZ
    return np.round(amplitude * np.sin(phase)).astype(np.int16)


def voiced_speech(seconds: float = 1.0, pitch_hz: float = 140.0, seed: int = 0) -> np.ndarray:
    """Speech-like vowel: a jittered glottal pulse train through three formants."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE_HZ)
    pulses = np.zeros(n)
    position = 0.0
    while position < n:
        pulses[int(position)] = 1.0
        position += RATE_HZ / (pitch_hz * (1 + 0.02 * rng.standard_normal()))
    signal = pulses
    for formant_hz, bandwidth_hz in ((700, 80), (1200, 90), (2600, 120)):
        radius = np.exp(-np.pi * bandwidth_hz / RATE_HZ)
        theta = 2 * np.pi * formant_hz / RATE_HZ
        a1, a2 = -2 * radius * np.cos(theta), radius * radius
        out = np.zeros(n)
        for i in range(n):  # small n; clarity over speed
            out[i] = signal[i] - a1 * out[i - 1] - a2 * out[i - 2] if i >= 2 else signal[i]
        signal = out
    signal *= 8000.0 / (np.abs(signal).max() + 1e-9)
    return np.round(signal + rng.normal(0, 30, n)).astype(np.int16)


def hard_clipped(pcm: np.ndarray, gain: float = 12.0) -> np.ndarray:
    """Amplify and clip to int16, as an overdriven microphone does."""
    return np.clip(pcm.astype(np.float64) * gain, -32768, 32767).astype(np.int16)


def all_signals() -> dict[str, np.ndarray]:
    speech = voiced_speech()
    return {
        "silence": silence(),
        "square": square_wave(),
        "white_noise": white_noise(),
        "chirp": chirp(),
        "voiced": speech,
        "clipped_voiced": hard_clipped(speech),
    }
