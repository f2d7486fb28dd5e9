"""Audio sources of ``emoedge listen``: a PortAudio input stream, or a replayed file.

Both feed int16 blocks into one :class:`BlockQueue` that the session's worker
drains, so a replayed file goes through the very same path as a microphone.

The capture callback runs on PortAudio's audio thread and does nothing but
copy the block into the bounded queue (``put_nowait``), count PortAudio's
input-overflow flag, and count blocks it had to drop because the queue was
full. No numpy maths, no locks held, no I/O: work in the callback is what
makes Pi audio tools overflow. The worker resamples, downmixes and runs the
model.

sounddevice is imported only when a microphone is used, so ``--input``
replay works on a machine without PortAudio.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from .config import CaptureConfig

PORTAUDIO_APT_PACKAGE = "libportaudio2"
END = None
"""Put in the queue after a source's last block."""

# PortAudio error codes (portaudio.h).
_PA_INVALID_CHANNEL_COUNT = -9998
_PA_INVALID_SAMPLE_RATE = -9997
_PA_INVALID_DEVICE = -9996
_PA_DEVICE_UNAVAILABLE = -9985
_PA_SAMPLE_FORMAT = -9994


class CaptureError(RuntimeError):
    """Audio cannot be captured; a one-line message for the user."""


def import_sounddevice():
    """sounddevice, or a CaptureError that says what to install."""
    try:
        import sounddevice
    except OSError as error:  # raised when the PortAudio library is not found
        raise CaptureError(
            f"PortAudio is missing ({_one_line(error)}); install it with "
            f"'sudo apt-get install {PORTAUDIO_APT_PACKAGE}'") from None
    except ImportError:
        raise CaptureError(
            "sounddevice is not installed; install it with pip install 'emoedge[mic]'") from None
    return sounddevice


# --- devices ---------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class InputDevice:
    index: int
    name: str
    host_api: str
    max_input_channels: int
    default_sample_rate_hz: int
    is_default: bool

    def describe(self) -> str:
        return f"{self.name} [{self.index}, {self.host_api}]"


def input_devices(sd) -> list[InputDevice]:
    """PortAudio's devices that can record, in PortAudio's order."""
    try:
        devices = sd.query_devices()
        host_apis = sd.query_hostapis()
        default_index = _default_input_index(sd)
    except sd.PortAudioError as error:
        raise CaptureError(f"PortAudio cannot list devices: {_one_line(error)}") from None
    found = []
    for index, device in enumerate(devices):
        if int(device.get("max_input_channels", 0)) <= 0:
            continue
        host = device.get("hostapi")
        host_name = host_apis[host]["name"] if isinstance(host, int) and host < len(host_apis) else "?"
        found.append(InputDevice(index=index, name=str(device["name"]), host_api=str(host_name),
                                 max_input_channels=int(device["max_input_channels"]),
                                 default_sample_rate_hz=int(round(device["default_samplerate"])),
                                 is_default=index == default_index))
    return found


def _default_input_index(sd) -> int:
    default = sd.default.device
    try:
        index = default[0]
    except (TypeError, IndexError):
        index = default
    try:
        return int(index)
    except (TypeError, ValueError):
        return -1


def resolve_device(sd, spec: str | None) -> InputDevice:
    """The input device named by ``--device`` (name, unique part of a name, or index)."""
    devices = input_devices(sd)
    if not devices:
        raise CaptureError("no input device: PortAudio sees no microphone or other "
                           "recording device (emoedge devices lists them)")
    if spec is None or spec == "":
        for device in devices:
            if device.is_default:
                return device
        return devices[0]
    text = spec.strip()
    if text.lstrip("-").isdigit():
        index = int(text)
        for device in devices:
            if device.index == index:
                return device
        raise CaptureError(f"no input device has index {index}; emoedge devices lists them")
    exact = [d for d in devices if d.name.lower() == text.lower()]
    if len(exact) == 1:
        return exact[0]
    partial = [d for d in devices if text.lower() in d.name.lower()]
    if len(partial) == 1:
        return partial[0]
    if not partial:
        raise CaptureError(f"no input device matches '{text}'; emoedge devices lists them")
    names = ", ".join(d.describe() for d in partial[:6])
    raise CaptureError(f"'{text}' matches several input devices ({names}); give its index")


# --- the queue between capture and worker ----------------------------------
class BlockQueue:
    """Bounded FIFO of int16 blocks with drop and overflow counters.

    ``offer`` never blocks (for the audio callback and real-time replay);
    ``put`` waits for room (for ``--fast`` replay, where nothing may be lost).
    """

    def __init__(self, max_blocks: int) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=max_blocks)
        self.max_blocks = max_blocks
        self.drops = 0
        self.dropped_frames = 0
        self.overflows = 0
        self.blocks_in = 0

    def offer(self, block) -> None:
        self.blocks_in += 1
        try:
            self._queue.put_nowait(block)
        except queue.Full:
            self.drops += 1
            self.dropped_frames += len(block)

    def put(self, item, stop: threading.Event) -> bool:
        """Wait for room; False if ``stop`` was set first."""
        while not stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
            except queue.Full:
                continue
            if item is not END:
                self.blocks_in += 1
            return True
        return False

    def get(self, timeout_s: float):
        """The next block or END; raises queue.Empty after ``timeout_s``."""
        return self._queue.get(timeout=timeout_s)

    def get_nowait(self):
        return self._queue.get_nowait()

    def empty(self) -> bool:
        return self._queue.empty()


# --- microphone ------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class StreamFormat:
    sample_rate_hz: int
    channels: int


class MicSource:
    """A PortAudio input stream into a BlockQueue.

    The stream is mono int16 at the model's rate when the device takes it;
    otherwise the device's native rate (the worker resamples with soxr) and,
    if mono is refused, its first two channels (the worker downmixes).
    """

    def __init__(self, sd, device: InputDevice, *, model_rate_hz: int,
                 config: CaptureConfig) -> None:
        self.sd = sd
        self.device = device
        self.config = config
        self.format = negotiate_format(sd, device, model_rate_hz)
        self.queue = BlockQueue(config.queue_blocks())
        self._stream = None
        self._finished = False
        self._stopping = False
        self._last_count = 0
        self._last_change_s = 0.0

    @property
    def description(self) -> str:
        return f"{self.device.describe()} at {self.format.sample_rate_hz} Hz"

    def _callback(self, indata, frames, time_info, status) -> None:
        # Audio thread: copy into the queue and count, nothing else.
        if status.input_overflow:
            self.queue.overflows += 1
        self.queue.offer(indata.copy())

    def _on_finished(self) -> None:
        self._finished = True

    def start(self) -> None:
        sd = self.sd
        try:
            self._stream = sd.InputStream(
                device=self.device.index, samplerate=self.format.sample_rate_hz,
                channels=self.format.channels, dtype="int16",
                blocksize=self.config.block_frames(self.format.sample_rate_hz),
                callback=self._callback, finished_callback=self._on_finished)
            self._stream.start()
        except sd.PortAudioError as error:
            self._close_quietly()
            raise CaptureError(_open_error_message(self.device, self.format, error)) from None
        self._last_change_s = time.monotonic()

    def check(self) -> None:
        """Raise CaptureError if the device vanished or stopped delivering audio."""
        if self._stream is None or self._stopping:
            return
        now = time.monotonic()
        if self.queue.blocks_in != self._last_count:
            self._last_count = self.queue.blocks_in
            self._last_change_s = now
            return
        if not self.queue.empty():
            return  # the worker has not caught up; what came before the end still goes
        if self._finished or not self._stream.active:
            raise CaptureError(f"input device {self.device.describe()} stopped "
                               "(unplugged, or taken over by another program)")
        if now - self._last_change_s > self.config.stall_timeout_s:
            raise CaptureError(f"no audio from input device {self.device.describe()} for "
                               f"{self.config.stall_timeout_s:g} s (unplugged or stalled)")

    def stop(self) -> None:
        self._stopping = True
        self._close_quietly()

    def _close_quietly(self) -> None:
        stream, self._stream = self._stream, None
        if stream is None:
            return
        try:
            stream.abort()
            stream.close()
        except Exception:  # noqa: BLE001 - a vanished device may fail to close; nothing to do
            pass


def negotiate_format(sd, device: InputDevice, model_rate_hz: int) -> StreamFormat:
    """The first of (model rate, native rate) x (mono, stereo) the device accepts.

    Raises:
        CaptureError: every combination was refused; says why.
    """
    rates = [model_rate_hz]
    if device.default_sample_rate_hz > 0 and device.default_sample_rate_hz != model_rate_hz:
        rates.append(device.default_sample_rate_hz)
    channel_options = [1] + ([2] if device.max_input_channels >= 2 else [])
    errors = []
    for channels in channel_options:
        for rate in rates:
            try:
                sd.check_input_settings(device=device.index, channels=channels, dtype="int16",
                                        samplerate=rate)
            except sd.PortAudioError as error:
                errors.append(error)
                continue
            except ValueError as error:  # sounddevice's own checks (bad channel count...)
                errors.append(error)
                continue
            return StreamFormat(sample_rate_hz=rate, channels=channels)
    codes = {_error_code(e) for e in errors}
    if _PA_DEVICE_UNAVAILABLE in codes or any(_looks_busy(e) for e in errors):
        raise CaptureError(f"input device {device.describe()} is busy or unavailable "
                           "(another program may be using it)")
    if _PA_INVALID_DEVICE in codes:
        raise CaptureError(f"input device {device.describe()} has gone (unplugged?)")
    if _PA_INVALID_SAMPLE_RATE in codes or any("sample rate" in str(e).lower() for e in errors):
        tried = " and its native ".join(f"{rate} Hz" for rate in rates)
        raise CaptureError(f"input device {device.describe()} refuses {tried}; "
                           "choose another device with --device")
    detail = _one_line(errors[0]) if errors else "unknown error"
    raise CaptureError(f"input device {device.describe()} refuses 16-bit capture: {detail}")


def _error_code(error: Exception) -> int | None:
    for arg in getattr(error, "args", ())[1:]:
        if isinstance(arg, int):
            return arg
    text = str(error)
    marker = "PaErrorCode "
    if marker in text:
        try:
            return int(text.split(marker, 1)[1].split("]", 1)[0])
        except ValueError:
            return None
    return None


def _looks_busy(error: Exception) -> bool:
    text = str(error).lower()
    return "busy" in text or "unavailable" in text


def _open_error_message(device: InputDevice, fmt: StreamFormat, error: Exception) -> str:
    code = _error_code(error)
    if code == _PA_DEVICE_UNAVAILABLE or _looks_busy(error):
        return (f"input device {device.describe()} is busy or unavailable "
                "(another program may be using it)")
    if code == _PA_INVALID_DEVICE:
        return f"input device {device.describe()} has gone (unplugged?)"
    if code == _PA_INVALID_SAMPLE_RATE:
        return f"input device {device.describe()} refuses {fmt.sample_rate_hz} Hz"
    return f"cannot open input device {device.describe()}: {_one_line(error)}"


# --- file replay -------------------------------------------------------------
class FileSource:
    """An audio file replayed into a BlockQueue, in capture-sized blocks.

    Real-time pace uses the non-blocking ``offer`` like the audio callback
    (a slow worker drops blocks exactly as with a microphone); ``fast`` waits
    for room instead, so every sample is processed.
    """

    def __init__(self, path: str, *, model_rate_hz: int, config: CaptureConfig,
                 fast: bool) -> None:
        from ..audio import pcm_blocks

        self.path = path
        self.fast = fast
        self.rate_hz = model_rate_hz
        self.format = StreamFormat(sample_rate_hz=model_rate_hz, channels=1)
        self.block_frames = config.block_frames(model_rate_hz)
        self.queue = BlockQueue(config.queue_blocks())
        self._info, self._blocks = pcm_blocks(path, model_rate_hz)  # AudioError now if unreadable
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: Exception | None = None

    @property
    def description(self) -> str:
        pace = "as fast as possible" if self.fast else "in real time"
        return f"{self.path} ({self._info.duration_s:.1f} s) {pace}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="emoedge-replay", daemon=True)
        self._thread.start()

    def _sub_blocks(self) -> Iterator[np.ndarray]:
        pending = np.zeros(0, dtype=np.int16)
        for block in self._blocks:
            pending = np.concatenate([pending, block]) if len(pending) else block
            whole = len(pending) - len(pending) % self.block_frames
            for start in range(0, whole, self.block_frames):
                yield pending[start:start + self.block_frames]
            pending = pending[whole:]
        if len(pending):
            yield pending

    def _run(self) -> None:
        started = time.monotonic()
        sent = 0
        try:
            for block in self._sub_blocks():
                if self._stop.is_set():
                    return
                if self.fast:
                    if not self.queue.put(block.copy(), self._stop):
                        return
                    continue
                sent += len(block)
                delay = started + sent / self.rate_hz - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    return
                self.queue.offer(block.copy())
        except Exception as error:  # noqa: BLE001 - reported by check() in the worker
            self._error = error
        finally:
            self.queue.put(END, self._stop)

    def check(self) -> None:
        if self._error is not None:
            raise CaptureError(f"cannot read {self.path}: {_one_line(self._error)}")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__
