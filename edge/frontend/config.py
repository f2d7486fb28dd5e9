"""Frontend configuration: every parameter of the TFLite Micro microfrontend.

The config is immutable and holds no streaming state; tables derived from it
are built once (and cached) by :func:`emoedge.frontend.pipeline.build_tables`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping


@dataclass(frozen=True, kw_only=True)
class FrontendConfig:
    """Parameters of the integer feature frontend.

    Field names carry their units. The defaults are emoedge's speech-emotion
    default: 25 ms Hann windows every 10 ms, 40 mel channels from 125 to
    7500 Hz, noise reduction and PCAN off, log on. On RAVDESS (5-fold
    leave-actors-out, per-clip statistics classifiers) NR + PCAN cost 4.5-7
    UA points and warming their state up did not recover them; without them
    the features move with microphone gain, which training gain augmentation
    covers. The measurement is in ``docs/FRONTEND.md``.

    Attributes:
        sample_rate_hz: input sample rate of the int16 PCM.
        window_size_ms: analysis window length; samples = rate * ms // 1000.
        window_step_ms: hop between windows; samples = rate * ms // 1000.
        num_channels: mel filterbank channels, i.e. features per frame.
        lower_band_limit_hz: lowest frequency of the filterbank.
        upper_band_limit_hz: highest frequency of the filterbank.
        smoothing_bits: extra fixed-point bits kept in the noise estimate.
        even_smoothing: noise-estimate update rate of even channels (0..1).
        odd_smoothing: noise-estimate update rate of odd channels (0..1).
        min_signal_remaining: fraction of the signal noise reduction always
            keeps (0..1). 1.0 turns noise reduction off: output == input.
        enable_pcan: per-channel amplitude normalisation (PCAN) on or off.
        pcan_strength: PCAN exponent; gain = 2**pcan_gain_bits * (noise +
            offset) ** -strength.
        pcan_offset: PCAN offset added to the noise estimate.
        pcan_gain_bits: fixed-point bits of the PCAN gain.
        enable_log: apply the fixed-point natural log.
        log_scale_shift: the log output is ln(x) * 2**log_scale_shift.
        magnitude_floor: floor under the mel magnitudes before noise
            reduction, PCAN and log, in stage-5 magnitude units; 0 is off.
            ±1 LSB white noise gives magnitudes of 1-4 (median 2, feature
            177), digital silence gives 0 (feature 0): see ``floor.py``.
    """

    sample_rate_hz: int = 16000
    window_size_ms: int = 25
    window_step_ms: int = 10
    num_channels: int = 40
    lower_band_limit_hz: float = 125.0
    upper_band_limit_hz: float = 7500.0
    smoothing_bits: int = 10
    even_smoothing: float = 0.025
    odd_smoothing: float = 0.06
    min_signal_remaining: float = 1.0
    enable_pcan: bool = False
    pcan_strength: float = 0.95
    pcan_offset: float = 80.0
    pcan_gain_bits: int = 21
    enable_log: bool = True
    log_scale_shift: int = 6
    magnitude_floor: int = 0

    def __post_init__(self) -> None:
        problems = list(_config_problems(self))
        if problems:
            raise ValueError("invalid FrontendConfig: " + "; ".join(problems))

    # --- derived sizes -------------------------------------------------
    @property
    def window_samples(self) -> int:
        """Window length in samples (integer division, as the reference)."""
        return self.window_size_ms * self.sample_rate_hz // 1000

    @property
    def step_samples(self) -> int:
        """Hop length in samples (integer division, as the reference)."""
        return self.window_step_ms * self.sample_rate_hz // 1000

    @property
    def noise_reduction_active(self) -> bool:
        """False when noise reduction provably leaves the signal unchanged."""
        return self.min_signal_remaining < 1.0

    def frames_in_ms(self, duration_ms: int) -> int:
        """Frames a fresh frontend produces from ``duration_ms`` of audio."""
        return self.num_frames(duration_ms * self.sample_rate_hz // 1000)

    def num_frames(self, num_samples: int) -> int:
        """Frames produced by ``num_samples`` samples from a fresh state."""
        if num_samples < self.window_samples:
            return 0
        return 1 + (num_samples - self.window_samples) // self.step_samples

    # --- presets and serialisation -------------------------------------
    @classmethod
    def tf_op_defaults(cls) -> "FrontendConfig":
        """The defaults of TF's ``audio_microfrontend`` op (PCAN on, 32 ch)."""
        return cls(num_channels=32, min_signal_remaining=0.05, enable_pcan=True)

    @classmethod
    def micro_speech(cls) -> "FrontendConfig":
        """micro_speech's frontend: 30 ms / 20 ms, 40 channels, PCAN on."""
        return cls(
            window_size_ms=30,
            window_step_ms=20,
            num_channels=40,
            min_signal_remaining=0.05,
            enable_pcan=True,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready mapping of every field."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "FrontendConfig":
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown FrontendConfig fields: {', '.join(unknown)}")
        return cls(**dict(data))


def _config_problems(c: FrontendConfig):
    if c.sample_rate_hz <= 0:
        yield "sample_rate_hz must be positive"
    if c.window_samples < 2:
        yield "window_size_ms gives fewer than 2 samples"
    if c.step_samples < 1:
        yield "window_step_ms gives no samples"
    elif c.step_samples > c.window_samples:
        yield "window_step_ms must not exceed window_size_ms"
    if c.num_channels < 1:
        yield "num_channels must be at least 1"
    if not 0 <= c.lower_band_limit_hz < c.upper_band_limit_hz:
        yield "need 0 <= lower_band_limit_hz < upper_band_limit_hz"
    elif c.upper_band_limit_hz > c.sample_rate_hz / 2:
        yield "upper_band_limit_hz must not exceed the Nyquist frequency"
    if not 0 <= c.smoothing_bits <= 16:
        yield "smoothing_bits must be in 0..16"
    for name in ("even_smoothing", "odd_smoothing", "min_signal_remaining"):
        if not 0.0 <= getattr(c, name) <= 1.0:
            yield f"{name} must be in 0..1"
    if not 1 <= c.pcan_gain_bits <= 30:
        yield "pcan_gain_bits must be in 1..30"
    if c.pcan_offset < 0 or c.pcan_strength < 0:
        yield "pcan_offset and pcan_strength must be >= 0"
    if not 0 <= c.log_scale_shift <= 16:
        yield "log_scale_shift must be in 0..16"
    if isinstance(c.magnitude_floor, bool) or not isinstance(c.magnitude_floor, int) \
            or not 0 <= c.magnitude_floor < 1 << 16:
        yield "magnitude_floor must be an integer in 0..65535"
