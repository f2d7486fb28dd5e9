"""Settings of the live path: frozen, keyword-only, units in the field names.

Light on purpose (dataclasses only), so the CLI can show the defaults in its
help without importing numpy, sounddevice or rich.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, kw_only=True)
class CaptureConfig:
    """How audio reaches the worker.

    Attributes:
        device: input device name (or a unique part of it) or index as text;
            None for PortAudio's default input.
        block_ms: audio per block handed from the capture callback (or the
            file reader) to the worker.
        buffer_s: audio the bounded queue holds; when the worker falls this
            far behind, new blocks are dropped and counted.
        stall_timeout_s: no block from the device for this long means it
            vanished or stalled; the session ends with an error.
    """

    device: str | None = None
    block_ms: int = 50
    buffer_s: float = 2.0
    stall_timeout_s: float = 3.0

    def block_frames(self, rate_hz: int) -> int:
        return max(1, round(rate_hz * self.block_ms / 1000))

    def queue_blocks(self) -> int:
        return max(1, round(self.buffer_s * 1000 / self.block_ms))


@dataclass(frozen=True, kw_only=True)
class VadConfig:
    """The voice-activity gate (see :mod:`emoedge.live.vad`).

    Attributes:
        margin_db: a frame is loud when its energy is this far above the
            noise floor ...
        min_level_dbfs: ... and above this absolute level (the frame's mel
            power in pink-noise calibrated dBFS).
        min_speech_fraction: a window is speech when at least this share of
            its frames is loud ...
        min_dynamic_range_db: ... and its frame energies spread at least this
            much (90th minus 10th percentile): speech is modulated, a fan or
            hum is not. 0 turns this test off.
        noise_window_s: history the noise floor is taken from.
        noise_percentile: the noise floor is this percentile of the frame
            energies in that history.
    """

    margin_db: float = 6.0
    min_level_dbfs: float = -60.0
    min_speech_fraction: float = 0.2
    min_dynamic_range_db: float = 6.0
    noise_window_s: float = 5.0
    noise_percentile: float = 10.0


@dataclass(frozen=True, kw_only=True)
class SmoothingConfig:
    """Exponential moving average over the scores of speech windows.

    Attributes:
        time_constant_s: EMA time constant; each hop of ``hop_s`` weighs the
            new window by ``1 - exp(-hop_s / time_constant_s)``. 0 turns
            smoothing off (every hop shows its own window).
        reset_after_no_speech_s: after this much audio without speech the
            average starts afresh from the next speech window.
    """

    time_constant_s: float = 1.0
    reset_after_no_speech_s: float = 3.0


@dataclass(frozen=True, kw_only=True)
class SessionConfig:
    """One ``emoedge listen`` run.

    Attributes:
        hop_ms: step between results; None for the model's hop.
        duration_s: stop after this much audio has reached the worker;
            None to run until the input ends or Ctrl-C.
        max_batch_s: when the worker is behind it takes up to this much
            queued audio in one step (fewer, larger frontend calls).
        min_batch_s: the worker waits for this much audio before a step.
            Each frontend call has a fixed cost (about 3.6 M instructions on
            a Cortex-A72, measured under emulation), so 50 ms steps would cost
            about 105 M instructions per second of audio; results only come
            once per hop anyway, so waiting costs no result latency for hops
            of at least this length.
    """

    hop_ms: int | None = None
    duration_s: float | None = None
    max_batch_s: float = 2.0
    min_batch_s: float = 0.25
    capture: CaptureConfig = field(default_factory=CaptureConfig)
    vad: VadConfig = field(default_factory=VadConfig)
    smoothing: SmoothingConfig = field(default_factory=SmoothingConfig)
