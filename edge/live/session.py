"""The worker of ``emoedge listen``: queue -> recognizer -> gate -> smoothing -> events.

:class:`LivePipeline` is the per-block path. It downmixes and resamples
(soxr, streaming) when the device could not give mono at the model's rate,
runs the frontend once, hands the frames to the voice-activity gate and the
:class:`~emoedge.StreamingRecognizer` (the model layer), and turns each
completed window into a :class:`HopEvent` (the decision layer: gate, then
smoothing over speech windows).

:func:`run_session` is the loop: it drains the source's queue (a whole
backlog at once when it is behind, up to ``max_batch_s``), stops at
``duration_s`` of audio, at the end of a replayed file, on Ctrl-C, or on a
capture error, and returns a :class:`SessionSummary`.
"""

from __future__ import annotations

import collections
import math
import queue
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

import numpy as np

from ..results import WindowResult, frozen_mapping
from .capture import END, CaptureError
from .config import SessionConfig
from .smoothing import EmaSmoother
from .vad import EnergyVad

NO_SPEECH = "no speech"


class StopSession(Exception):
    """Raised by an output to end the session normally (e.g. stdout was closed)."""


@dataclass(frozen=True, kw_only=True)
class HopEvent:
    """What one hop shows.

    Attributes:
        t_s: seconds of audio since the start when the window ended (its
            result's time). Audio dropped on overload is not counted.
        label: the emotion shown: the largest smoothed score; None when the
            window holds no speech (and for regression models).
        confidence: the smoothed score of ``label``; None with it.
        scores: label -> score. Smoothed over recent speech windows; for a
            window without speech, that window's own model scores (shown for
            inspection, not as an emotion).
        speech: the voice-activity gate's decision.
        valence, arousal: in [-1, 1], smoothed like the scores; None when
            the model has no valence/arousal.
        level_dbfs: RMS level of the window's last hop of audio.
        overflows: PortAudio input overflows so far.
        drops: blocks dropped so far because the worker fell behind.
        window: the model's unsmoothed result for this window.
    """

    t_s: float
    label: str | None
    confidence: float | None
    scores: Mapping[str, float]
    speech: bool
    valence: float | None
    arousal: float | None
    level_dbfs: float
    overflows: int
    drops: int
    window: WindowResult


class LevelMeter:
    """RMS level of recent audio over any stretch of stream time, in dBFS.

    Keeps the sum of squares of every ``step_samples`` (10 ms) of the last
    ``keep_steps``, so a hop's level does not depend on how blocks were
    batched.
    """

    FLOOR_DBFS = -120.0

    def __init__(self, *, step_samples: int, keep_steps: int) -> None:
        self.step_samples = step_samples
        self.keep_steps = keep_steps
        self._sums = np.zeros(0)
        self._first_step = 0
        self._partial = np.zeros(0, dtype=np.float64)

    def add(self, pcm: np.ndarray) -> None:
        samples = np.concatenate([self._partial, pcm.astype(np.float64)])
        whole = len(samples) - len(samples) % self.step_samples
        self._partial = samples[whole:]
        if not whole:
            return
        sums = np.square(samples[:whole]).reshape(-1, self.step_samples).sum(axis=1)
        self._sums = np.concatenate([self._sums, sums])
        drop = max(len(self._sums) - self.keep_steps, 0)
        self._sums = self._sums[drop:]
        self._first_step += drop

    def level_dbfs(self, start_sample: int, end_sample: int) -> float:
        """RMS of the whole steps in [start_sample, end_sample) still kept."""
        first = max(start_sample // self.step_samples - self._first_step, 0)
        last = min(end_sample // self.step_samples - self._first_step, len(self._sums))
        if last <= first:
            return self.FLOOR_DBFS
        mean_square = float(self._sums[first:last].mean()) / self.step_samples
        if mean_square <= 0:
            return self.FLOOR_DBFS
        return max(self.FLOOR_DBFS, 10 * math.log10(mean_square / 32768 ** 2))


class LivePipeline:
    """int16 blocks from a source -> HopEvents.

    Args:
        model: a loaded :class:`~emoedge.EmotionModel`.
        input_rate_hz, input_channels: the blocks' format.
        config: hop, gate and smoothing settings.
        counters: returns (overflows, drops) so far, stamped on each event.
    """

    def __init__(self, model, *, input_rate_hz: int, input_channels: int,
                 config: SessionConfig,
                 counters: Callable[[], tuple[int, int]] = lambda: (0, 0)) -> None:
        meta = model.metadata
        self.model = model
        self.labels = model.labels
        self.classification = meta.task != "regression"
        self.rate_hz = model.sample_rate_hz
        self.input_rate_hz = input_rate_hz
        self.input_channels = input_channels
        self.recognizer = model.stream(hop_ms=config.hop_ms)
        self.hop_s = self.recognizer.hop_s
        self.step_s = meta.frontend.window_step_ms / 1000
        self.vad = EnergyVad(config.vad, meta.frontend, window_frames=meta.window_frames)
        self.smoother = EmaSmoother(config.smoothing, hop_s=self.hop_s)
        keep_s = config.max_batch_s + meta.window_ms / 1000 + self.hop_s
        self.level = LevelMeter(step_samples=meta.frontend.step_samples,
                                keep_steps=round(keep_s / self.step_s) + 1)
        self._counters = counters
        self._resampler = None
        if input_rate_hz != self.rate_hz:
            import soxr

            self._resampler = soxr.ResampleStream(input_rate_hz, self.rate_hz, 1,
                                                  dtype="float32", quality="HQ")
        self.samples_in = 0  # at the model's rate

    @property
    def has_valence_arousal(self) -> bool:
        return self.model.has_valence_arousal

    def to_model_pcm(self, block: np.ndarray, last: bool = False) -> np.ndarray:
        """Downmix and resample a block to mono int16 at the model's rate."""
        block = np.asarray(block)
        if block.ndim == 2:
            block = (block[:, 0] if block.shape[1] == 1
                     else np.round(block.astype(np.float32).mean(axis=1)).astype(np.int16))
        if self._resampler is None:
            return block.astype(np.int16, copy=False)
        floats = self._resampler.resample_chunk(block.astype(np.float32) / 32768, last=last)
        return np.clip(np.round(floats * 32768), -32768, 32767).astype(np.int16)

    def process(self, pcm: np.ndarray) -> list[HopEvent]:
        """Consume mono int16 samples at the model's rate; return the hops they complete."""
        self.samples_in += len(pcm)
        self.level.add(pcm)
        frames = self.recognizer.features(pcm)
        self.vad.push(frames)
        windows = self.recognizer.process_frames(frames)
        if not windows:
            return []
        overflows, drops = self._counters()
        return [self._event(window, overflows, drops) for window in windows]

    def finish(self) -> list[HopEvent]:
        """End of input: a padded window if none came yet (as offline)."""
        windows = self.recognizer.flush()
        if not windows:
            return []
        overflows, drops = self._counters()
        return [self._event(w, overflows, drops) for w in windows]

    def _event(self, window: WindowResult, overflows: int, drops: int) -> HopEvent:
        end = round(window.end_s * self.rate_hz)
        span = round(min(self.hop_s, window.end_s - window.start_s) * self.rate_hz)
        level = self.level.level_dbfs(end - span, end)
        start = round(window.start_s / self.step_s)
        speech = self.vad.is_speech(start) if not window.padded else self.vad.is_speech(0)
        names = self.labels
        raw = (window.probabilities if self.classification else window.values)
        vector = [raw.get(name, 0.0) for name in names]
        has_va = window.valence is not None and window.arousal is not None
        if has_va:
            vector += [window.valence, window.arousal]
        vector = np.asarray(vector, dtype=np.float64)
        if speech:
            vector = self.smoother.update(vector)
        else:
            self.smoother.skip()
        scores = {name: float(v) for name, v in zip(names, vector)}
        label = confidence = None
        if speech and self.classification and names:
            best = int(np.argmax(vector[:len(names)]))
            label, confidence = names[best], float(vector[best])
        valence = float(vector[len(names)]) if has_va else None
        arousal = float(vector[len(names) + 1]) if has_va else None
        return HopEvent(t_s=window.end_s, label=label, confidence=confidence,
                        scores=frozen_mapping(scores), speech=speech, valence=valence,
                        arousal=arousal, level_dbfs=level, overflows=overflows, drops=drops,
                        window=window)


@dataclass(kw_only=True)
class SessionSummary:
    """What a session did; printed on stderr at the end."""

    source: str = ""
    audio_s: float = 0.0
    hops: int = 0
    hop_s: float = 0.0
    seconds_by_label: dict[str, float] = field(default_factory=collections.Counter)
    overflows: int = 0
    drops: int = 0
    dropped_s: float = 0.0
    wall_s: float = 0.0
    ended_by: str = ""
    error: str | None = None

    def add(self, event: HopEvent) -> None:
        self.hops += 1
        self.seconds_by_label[event.label or NO_SPEECH] += self.hop_s

    def text(self) -> str:
        total = sum(self.seconds_by_label.values())
        parts = []
        for label, seconds in sorted(self.seconds_by_label.items(),
                                     key=lambda item: (-item[1], item[0])):
            share = 100 * seconds / total if total else 0.0
            parts.append(f"{label} {seconds:.1f} s ({share:.0f} %)")
        lines = [f"listened to {self.audio_s:.1f} s of audio in {self.wall_s:.1f} s "
                 f"({self.hops} hop{'' if self.hops == 1 else 's'} of {self.hop_s:g} s), "
                 f"ended by {self.ended_by}",
                 f"time per emotion: {', '.join(parts) or '-'}",
                 f"input overflows {self.overflows}, dropped blocks {self.drops} "
                 f"({self.dropped_s:.2f} s of audio)"]
        return "\n".join(lines)


def run_session(source, pipeline: LivePipeline, sinks: Iterable[Callable[[HopEvent], None]],
                *, config: SessionConfig,
                on_started: Callable[[], None] | None = None) -> SessionSummary:
    """Run until the duration, the end of the input, Ctrl-C or a capture error.

    ``source`` has ``queue`` (:class:`~emoedge.live.capture.BlockQueue`),
    ``format``, ``description``, ``start()``, ``check()`` and ``stop()``.
    ``on_started`` is called once the source runs. Ctrl-C
    (KeyboardInterrupt) ends the session normally; a CaptureError while
    running is recorded in ``summary.error`` (one from ``source.start()``
    propagates). Either way the source is stopped and the
    summary is complete.
    """
    session = _Session(source, pipeline, list(sinks), config)
    started = time.monotonic()
    source.start()  # a CaptureError here (busy device...) is no session: it propagates
    try:
        if on_started is not None:
            on_started()
        ended_by = session.loop()
    except KeyboardInterrupt as stop:
        ended_by = str(stop) or "Ctrl-C"
    except StopSession as stop:
        ended_by = str(stop) or "an output"
    except CaptureError as error:
        ended_by = "error"
        session.summary.error = str(error)
    finally:
        source.stop()
        session.close(wall_s=time.monotonic() - started)
    session.summary.ended_by = ended_by
    return session.summary


def _batch_bounds(config: SessionConfig) -> tuple[int, int]:
    """Capture blocks per frontend call: (fewest worth a call, most at once).

    Fewer, larger calls cost less per sample; the most bounds how much a
    backlog delays the next event. Both at least 1.
    """
    block_ms = max(config.capture.block_ms, 1)
    most = max(1, round(config.max_batch_s * 1000 / block_ms))
    fewest = min(most, max(1, round(config.min_batch_s * 1000 / block_ms)))
    return fewest, most


def _drain(block_queue, blocks: list[np.ndarray], first, most: int) -> bool:
    """Append ``first`` and the blocks already waiting in ``block_queue`` to
    ``blocks``, up to ``most`` in all; True once the input's END was met."""
    if first is END:
        return True
    blocks.append(first)
    while len(blocks) < most:
        try:
            item = block_queue.get_nowait()
        except queue.Empty:
            return False
        if item is END:
            return True
        blocks.append(item)
    return False


class _Session:
    """The state of one :func:`run_session`: audio held back for a larger
    frontend call, the sample limit, and the summary the events add to."""

    def __init__(self, source, pipeline: LivePipeline,
                 sinks: list[Callable[[HopEvent], None]], config: SessionConfig) -> None:
        self.source = source
        self.pipeline = pipeline
        self.sinks = sinks
        self.summary = SessionSummary(source=source.description, hop_s=pipeline.hop_s)
        self.limit = (None if config.duration_s is None
                      else int(round(config.duration_s * pipeline.rate_hz)))
        self.fewest, self.most = _batch_bounds(config)
        self.pending: list[np.ndarray] = []

    def loop(self) -> str:
        """Score the source's audio until the duration or its end; returns
        what ended it. Capture errors, Ctrl-C and StopSession propagate."""
        block_queue = self.source.queue
        while True:
            if self.limit is not None and self.pipeline.samples_in >= self.limit:
                self.emit(self.pipeline.finish())
                return "duration"
            try:
                item = block_queue.get(0.1)
            except queue.Empty:
                self.check_source()
                continue
            blocks, self.pending = self.pending, []
            finished = _drain(block_queue, blocks, item, self.most)
            if not finished and len(blocks) < self.fewest:
                self.pending = blocks  # wait for more audio: fewer, larger frontend calls
                self.check_source()
                continue
            self.score(blocks, last=finished)
            self.check_source()
            if finished:
                self.emit(self.pipeline.finish())
                return "end of input"

    def score(self, blocks: list[np.ndarray], *, last: bool) -> None:
        """Run the captured ``blocks`` (int16, each (frames,) or (frames,
        channels)) through the pipeline, cut at the sample limit."""
        if not blocks:
            if last:  # flush the resampler's tail
                self.emit(self.pipeline.process(
                    self.pipeline.to_model_pcm(np.zeros(0, np.int16), last=True)))
            return
        raw = blocks[0] if len(blocks) == 1 else np.concatenate(blocks)
        pcm = self.pipeline.to_model_pcm(raw, last=last)
        if self.limit is not None:
            pcm = pcm[:max(self.limit - self.pipeline.samples_in, 0)]
        self.emit(self.pipeline.process(pcm))

    def check_source(self) -> None:
        """Raise the source's CaptureError, if any, after scoring the audio
        held back: it was captured before the device went."""
        try:
            self.source.check()
        except CaptureError:
            held, self.pending = self.pending, []
            if held:
                self.emit(self.pipeline.process(
                    self.pipeline.to_model_pcm(np.concatenate(held), last=True)))
            raise

    def emit(self, events: list[HopEvent]) -> None:
        for event in events:
            self.summary.add(event)
            for sink in self.sinks:
                sink(event)

    def close(self, *, wall_s: float) -> None:
        """Fill in the summary's timing and the capture's losses."""
        block_queue = self.source.queue
        self.summary.wall_s = wall_s
        self.summary.audio_s = self.pipeline.samples_in / self.pipeline.rate_hz
        self.summary.overflows = block_queue.overflows
        self.summary.drops = block_queue.drops
        self.summary.dropped_s = block_queue.dropped_frames / self.source.format.sample_rate_hz
