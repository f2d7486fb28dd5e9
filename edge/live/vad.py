"""A cheap voice-activity gate on the frontend's own features.

It works on the frames the model needs anyway: per frame a power mean over
the 40 channels and two comparisons, per block one partial sort of 5 s of
frame energies for the noise floor: about 5 % of the frontend's time with
50 ms blocks. The decision is separate from the
model: it only says whether a window holds speech; the model's scores are
computed either way and a window without speech is shown as "no speech".

Per 10 ms frame:

1. **Energy.** The power mean of the frame's mel magnitudes, in dB. The
   features are ``ln(x) * 2**log_scale_shift``, i.e. ``2**shift * ln(10) / 20``
   units per dB (7.37 for the default shift of 6; without the log stage the
   values are converted with ``20 log10``); the channels' dB values are
   averaged as powers, so the loudest bands (speech's formants) count, not
   the empty ones. The result is pinned to dBFS by calibration: pink noise
   (1/f power, a speech-like long-term spectrum) at -30 dBFS RMS, fixed
   seed, run once through the same frontend, reads -30 dBFS. On real speech
   it is within about 4 dB of the frame's RMS dBFS.
2. **Noise floor.** The ``noise_percentile`` (10th) percentile of the frame
   energies of the last ``noise_window_s`` (5 s). It follows a falling
   level at once and a rising one after a few seconds.
3. **Loud frame.** Energy >= noise floor + ``margin_db`` (6 dB) and
   >= ``min_level_dbfs`` (-60 dBFS).

Per model window: **speech** when at least ``min_speech_fraction`` (20 %) of
its frames are loud and the spread of its frame energies (90th minus 10th
percentile) is at least ``min_dynamic_range_db`` (6 dB). Speech is
syllabic, its energy swings 20-40 dB within a second; the spread test
rejects steady noise that is loud or has just started (fan, hum, a noise
floor the percentile has not caught up with yet). Only the one window that
spans a jump in steady noise passes.

Measured (``tests/test_listen.py`` pins some): white, pink and brown noise
from -70 to -10 dBFS and a 50/150 Hz hum give no speech window; 35 corpus clips
(RAVDESS, TESS, EMO-DB, overall levels -56 to -15 dBFS) all give speech
windows, and speech stays detected in white noise down to about 10 dB SNR
(against the active speech level).

With noise reduction or PCAN enabled in the frontend the features are
normalised, so absolute levels are only approximate; the relative tests
still work.
"""

from __future__ import annotations

import math

import numpy as np

from ..frontend import FrontendConfig, compute_features
from .config import VadConfig

CALIBRATION_DBFS = -30.0
_CALIBRATION_SECONDS = 0.5


def _units_per_db(frontend: FrontendConfig) -> float:
    return (1 << frontend.log_scale_shift) * math.log(10) / 20


def _raw_energy_db(frames: np.ndarray, frontend: FrontendConfig) -> np.ndarray:
    if not len(frames):
        return np.zeros(0)
    values = frames.astype(np.float64)
    if frontend.enable_log:
        db = values / _units_per_db(frontend)          # each channel in dB
    else:
        db = 20 * np.log10(values + 1.0)
    peak = db.max(axis=1, keepdims=True)                # power mean, computed stably
    return peak[:, 0] + 10 * np.log10(np.power(10.0, (db - peak) / 10).mean(axis=1))


def pink_noise(samples: int, rms: float, seed: int = 20240607) -> np.ndarray:
    """Pink (1/f power) noise with the given RMS, int16: a speech-like long-term spectrum."""
    spectrum = np.fft.rfft(np.random.default_rng(seed).normal(size=samples))
    spectrum[0] = 0.0
    spectrum[1:] /= np.sqrt(np.arange(1, len(spectrum)))
    noise = np.fft.irfft(spectrum, samples)
    noise *= rms / noise.std()
    return np.clip(np.round(noise), -32768, 32767).astype(np.int16)


def calibration_offset_db(frontend: FrontendConfig) -> float:
    """dB to add to the raw frame energy to read dBFS (pink-noise calibrated)."""
    rms = 32768 * 10 ** (CALIBRATION_DBFS / 20)
    noise = pink_noise(int(_CALIBRATION_SECONDS * frontend.sample_rate_hz), rms)
    frames = compute_features(noise, frontend)[2:]  # skip the first frames' start-up
    return CALIBRATION_DBFS - float(np.median(_raw_energy_db(frames, frontend)))


class EnergyVad:
    """Per-window speech decisions from a stream of feature frames.

    Push every frame with :meth:`push` (in stream order), then ask
    :meth:`is_speech` about windows that end at or before the last pushed
    frame and start after ``frames_seen - window_frames`` before that push,
    which holds for every window the recognizer returns for those frames.
    """

    def __init__(self, config: VadConfig, frontend: FrontendConfig, *,
                 window_frames: int) -> None:
        if not 0 <= config.noise_percentile <= 100:
            raise ValueError("noise_percentile must be within 0..100")
        self.config = config
        self.frontend = frontend
        self.window_frames = window_frames
        self._offset_db = calibration_offset_db(frontend)
        history = max(1, round(config.noise_window_s * 1000 / frontend.window_step_ms))
        self._history = np.zeros(history)
        self.reset()

    def reset(self) -> None:
        self._history_count = 0
        self._history_next = 0
        self._first_index = 0  # stream index of self._energy[0]
        self._energy = np.zeros(0)
        self._loud = np.zeros(0, dtype=bool)
        self.noise_floor_dbfs = -math.inf

    @property
    def frames_seen(self) -> int:
        return self._first_index + len(self._energy)

    def frame_energy_dbfs(self, frames: np.ndarray) -> np.ndarray:
        """Each frame's energy in (white-noise calibrated) dBFS."""
        return _raw_energy_db(frames, self.frontend) + self._offset_db

    def push(self, frames: np.ndarray) -> None:
        """Add frames (uint16, (k, channels)) in stream order."""
        keep = max(self.window_frames - 1, 0)
        drop = max(len(self._energy) - keep, 0)
        self._energy = self._energy[drop:]
        self._loud = self._loud[drop:]
        self._first_index += drop
        if not len(frames):
            return
        energy = self.frame_energy_dbfs(frames)
        self._remember(energy)
        used = self._history[:self._history_count]
        rank = int(self.config.noise_percentile / 100 * (len(used) - 1))  # nearest rank below
        self.noise_floor_dbfs = float(np.partition(used, rank)[rank])
        threshold = max(self.noise_floor_dbfs + self.config.margin_db,
                        self.config.min_level_dbfs)
        self._energy = np.concatenate([self._energy, energy])
        self._loud = np.concatenate([self._loud, energy >= threshold])

    def is_speech(self, start_frame: int, num_frames: int | None = None) -> bool:
        """Whether the window of frames [start, start + num_frames) holds speech."""
        num_frames = self.window_frames if num_frames is None else num_frames
        begin = max(start_frame - self._first_index, 0)
        end = min(start_frame + num_frames - self._first_index, len(self._energy))
        if end <= begin:
            return False
        loud = self._loud[begin:end]
        if loud.mean() < self.config.min_speech_fraction:
            return False
        if self.config.min_dynamic_range_db <= 0:
            return True
        low, high = np.percentile(self._energy[begin:end], [10, 90])
        return bool(high - low >= self.config.min_dynamic_range_db)

    def _remember(self, energy: np.ndarray) -> None:
        size = len(self._history)
        if len(energy) >= size:
            self._history[:] = energy[-size:]
            self._history_next, self._history_count = 0, size
            return
        end = self._history_next + len(energy)
        if end <= size:
            self._history[self._history_next:end] = energy
        else:
            split = size - self._history_next
            self._history[self._history_next:] = energy[:split]
            self._history[:end - size] = energy[split:]
        self._history_next = end % size
        self._history_count = min(self._history_count + len(energy), size)
