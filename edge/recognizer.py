"""Recognition: the decision layer over the model layer, streaming and offline.

``StreamingRecognizer`` turns PCM chunks into window results; the offline
``EmotionModel.predict*`` methods are a loop over it followed by
:meth:`StreamingRecognizer.flush`, so both give identical windows.

Per window, logits become probabilities with a softmax; valence and arousal
are the probability-weighted mean of the labels' points on the
valence/arousal plane when the model file maps its labels to points. A clip's
result is the mean of its windows' probabilities (every window weighs the
same), with the label of the largest mean.
"""

from __future__ import annotations

import os
from typing import Iterable, Iterator

import numpy as np

from .audio import AudioError, pcm_blocks, to_model_pcm
from .frontend import StreamingFrontend
from .frontend.pipeline import as_pcm16
from .metadata import ModelConfigError, ModelMetadata
from .results import Prediction, WindowResult, frozen_mapping
from .runner import ModelRunner
from .windows import FrameWindower

SILENCE_PEAK = 2
"""A clip whose every |sample| is below this is digital silence."""


class ClipError(ValueError):
    """A clip that gives no prediction (silent, or too short); one-line message."""


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max())
    return shifted / shifted.sum()


class Decision:
    """Model outputs -> labelled results (the decision layer)."""

    def __init__(self, metadata: ModelMetadata) -> None:
        self.metadata = metadata
        self.labels = metadata.labels
        mapping = metadata.valence_arousal
        self._points = (None if mapping is None
                        else np.array([mapping[label] for label in self.labels], dtype=np.float64))

    def window(self, outputs: np.ndarray, start_s: float, end_s: float,
               padded: bool = False) -> WindowResult:
        return WindowResult(start_s=start_s, end_s=end_s, padded=padded,
                            **self._summarise(self.probabilities(outputs)))

    def probabilities(self, outputs: np.ndarray) -> np.ndarray:
        """Probabilities for classification; the raw values for regression."""
        if self.metadata.output_kind == "logits":
            return _softmax(outputs)
        if self.metadata.output_kind == "probabilities":
            clipped = np.clip(outputs, 0.0, None)
            total = clipped.sum()
            return clipped / total if total > 0 else np.full(len(outputs), 1.0 / len(outputs))
        return outputs

    def clip(self, windows: list[WindowResult], duration_s: float,
             keep_segments: bool) -> Prediction:
        if not windows:
            raise ClipError("no model window: the clip is shorter than one frontend frame")
        if self.metadata.task == "regression":
            mean = np.mean([[w.values[name] for name in self.labels] for w in windows], axis=0)
        else:
            mean = np.mean([[w.probabilities[name] for name in self.labels] for w in windows],
                           axis=0)
        return Prediction(duration_s=duration_s, num_windows=len(windows),
                          segments=tuple(windows) if keep_segments else None,
                          **self._summarise(mean))

    def _summarise(self, scores: np.ndarray) -> dict:
        if self.metadata.task == "regression":
            values = {name: float(v) for name, v in zip(self.labels, scores)}
            return dict(label="", confidence=0.0, probabilities=frozen_mapping({}),
                        values=frozen_mapping(values), valence=values.get("valence"),
                        arousal=values.get("arousal"))
        best = int(np.argmax(scores))
        valence = arousal = None
        if self._points is not None:
            valence, arousal = (float(v) for v in scores @ self._points)
        return dict(label=self.labels[best], confidence=float(scores[best]),
                    probabilities=frozen_mapping(
                        {name: float(p) for name, p in zip(self.labels, scores)}),
                    valence=valence, arousal=arousal)


class StreamingRecognizer:
    """Window results from a stream of int16 PCM chunks at the model's rate.

    State: the frontend's buffered samples and noise estimate, and the last
    window of frames; all start empty, and :meth:`reset` empties them.
    """

    def __init__(self, runner: ModelRunner, decision: Decision, *,
                 hop_frames: int | None = None) -> None:
        self._runner = runner
        self._decision = decision
        meta = runner.metadata
        self._frontend = StreamingFrontend(meta.frontend)
        self._windower = FrameWindower(window_frames=meta.window_frames,
                                       hop_frames=hop_frames or meta.hop_frames,
                                       num_channels=meta.frontend.num_channels,
                                       padding=meta.short_clip_padding)
        self._step_s = meta.frontend.window_step_ms / 1000
        self._window_s = meta.window_ms / 1000
        self.reset()

    @property
    def hop_s(self) -> float:
        """Seconds between consecutive windows."""
        return self._windower.hop_frames * self._step_s

    @property
    def sample_rate_hz(self) -> int:
        return self._runner.metadata.frontend.sample_rate_hz

    def reset(self) -> None:
        """Forget all audio seen so far."""
        self._frontend.reset()
        self._windower.reset()
        self._samples_seen = 0

    def process(self, chunk: np.ndarray) -> list[WindowResult]:
        """Consume int16 samples; return the windows they complete, in order."""
        return self.process_frames(self.features(chunk))

    def features(self, chunk: np.ndarray) -> np.ndarray:
        """Run the frontend on new int16 samples; return their new frames.

        ``process(chunk)`` is ``process_frames(features(chunk))``; callers
        that also look at the frames (a voice-activity gate) use the two
        steps, and must pass every frame on to :meth:`process_frames`.
        """
        pcm = as_pcm16(chunk)
        self._samples_seen += len(pcm)
        return self._frontend.process(pcm)

    def process_frames(self, frames: np.ndarray) -> list[WindowResult]:
        """Consume frames from :meth:`features`; return the windows they complete."""
        return [self.window_result(start, self._runner(window))
                for start, window in self.feature_windows(frames)]

    # process_frames() in two steps around the model call, so that
    # ``emoedge bench`` times this same path stage by stage.
    def feature_windows(self, frames: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """Consume frames; (start frame, uint16 features) of each window they complete."""
        return self._windower.push(frames)

    def window_result(self, start_frame: int, outputs: np.ndarray) -> WindowResult:
        """The decision for the model outputs of the window at ``start_frame``."""
        start_s = start_frame * self._step_s
        return self._decision.window(outputs, start_s, start_s + self._window_s)

    def flush(self) -> list[WindowResult]:
        """End of input: if no full window came, one window padded with the
        noise floor (see :mod:`emoedge.windows`); otherwise nothing."""
        padded = self._windower.pad_remaining()
        if padded is None:
            return []
        _, frames = padded
        duration = self._samples_seen / self.sample_rate_hz
        return [self._decision.window(self._runner(frames), 0.0, duration, padded=True)]


class EmotionModel:
    """A loaded emoedge model: offline and streaming recognition.

    Attributes:
        metadata: the configuration the model file carries.
        path: the model file.
        backend: which interpreter runs it (name and version).
    """

    def __init__(self, content: bytes, metadata: ModelMetadata, *, path: str = "",
                 num_threads: int | None = None) -> None:
        self.metadata = metadata
        self.path = path
        self._runner = ModelRunner(content, metadata, num_threads=num_threads)
        self._decision = Decision(metadata)
        self.backend = self._runner.backend

    @property
    def labels(self) -> tuple[str, ...]:
        return self.metadata.labels

    @property
    def runner(self) -> ModelRunner:
        """The model layer (the interpreter and the int8 bridge)."""
        return self._runner

    @property
    def sample_rate_hz(self) -> int:
        return self.metadata.frontend.sample_rate_hz

    @property
    def has_valence_arousal(self) -> bool:
        return self.metadata.valence_arousal is not None or {"valence", "arousal"} <= set(self.labels)

    def stream(self, *, hop_ms: int | None = None) -> StreamingRecognizer:
        """A fresh streaming recognizer sharing this model's interpreter.

        Args:
            hop_ms: step between windows (default: the model file's hop); a
                positive multiple of the frontend's window step.
        Raises:
            ValueError: a hop that is not such a multiple.
        """
        if hop_ms is None:
            return StreamingRecognizer(self._runner, self._decision)
        step_ms = self.metadata.frontend.window_step_ms
        if hop_ms <= 0 or hop_ms % step_ms:
            raise ValueError(f"hop of {hop_ms} ms is not a positive multiple of the "
                             f"{step_ms} ms frontend step")
        return StreamingRecognizer(self._runner, self._decision, hop_frames=hop_ms // step_ms)

    def predict(self, pcm: np.ndarray, sample_rate: int, *, segments: bool = False) -> Prediction:
        """Recognise a clip held in memory.

        Args:
            pcm: int16 or float ([-1, 1)) samples, shape (n,) or (n, channels).
            sample_rate: their rate in Hz; resampled to the model's rate.
            segments: keep the per-window results in ``Prediction.segments``.
        Raises:
            AudioError: unusable samples (NaN, bad shape).
            ClipError: silent clip, or shorter than one frontend frame.
        """
        model_pcm = to_model_pcm(pcm, sample_rate, self.sample_rate_hz)
        duration = len(np.asarray(pcm)) / sample_rate
        return self._predict_blocks([model_pcm], duration, segments)

    def predict_file(self, path: str | os.PathLike, *, segments: bool = False) -> Prediction:
        """Recognise an audio file, decoded in blocks (constant memory).

        Raises:
            AudioError: the file cannot be decoded.
            ClipError: silent clip, or shorter than one frontend frame.
        """
        info, blocks = pcm_blocks(path, self.sample_rate_hz)
        return self._predict_blocks(blocks, info.duration_s, segments)

    def iter_windows(self, path: str | os.PathLike) -> Iterator[WindowResult]:
        """Window results of a file, lazily, as its blocks are decoded."""
        _, blocks = pcm_blocks(path, self.sample_rate_hz)
        recognizer = self.stream()
        for block in blocks:
            yield from recognizer.process(block)
        yield from recognizer.flush()

    def _predict_blocks(self, blocks: Iterable[np.ndarray], duration_s: float,
                        keep_segments: bool) -> Prediction:
        recognizer = self.stream()
        windows: list[WindowResult] = []
        peak = 0
        for block in blocks:
            if len(block):
                peak = max(peak, int(np.abs(block.astype(np.int32)).max()))
            windows += recognizer.process(block)
        windows += recognizer.flush()
        if peak < SILENCE_PEAK:
            raise ClipError("silent: every sample is digital silence")
        return self._decision.clip(windows, duration_s, keep_segments)


def load_model(path: str | os.PathLike | None = None, *,
               num_threads: int | None = None) -> EmotionModel:
    """Load an emoedge model file.

    Args:
        path: a ``.tflite`` file with emoedge metadata; None for the model
            packaged with emoedge.
        num_threads: interpreter threads (None: the interpreter's default).
    Raises:
        ModelConfigError: no packaged model, or a file this runtime refuses.
        emoedge.interpreter.InterpreterUnavailable: no TFLite interpreter.
    """
    from .model_file import read_model_file

    if path is None:
        path = packaged_model_path()
    model_file = read_model_file(path)
    return EmotionModel(model_file.content, model_file.metadata, path=os.fspath(path),
                        num_threads=num_threads)


# Where the default model sits inside the package (importlib.resources parts).
DEFAULT_MODEL_RESOURCE = ("models", "default.tflite")


class PackagedModelMissing(ModelConfigError):
    """The packaged default model is not in this install (a broken install).

    ``problem`` is the first half of the message, for commands that suggest
    their own option instead of ``load_model(path)``.
    """

    def __init__(self, resource: str) -> None:
        self.problem = f"the packaged default model {resource} is missing from this install"
        super().__init__(f"{self.problem}; reinstall emoedge, or pass a model file: "
                         "emoedge.load_model('path/to/model.tflite')")


def packaged_model_path():
    """The default model file shipped inside the package.

    Raises:
        PackagedModelMissing: the file is missing from this install.
    """
    from importlib import resources

    candidate = resources.files("emoedge").joinpath(*DEFAULT_MODEL_RESOURCE)
    if not candidate.is_file():
        raise PackagedModelMissing(f"emoedge/{'/'.join(DEFAULT_MODEL_RESOURCE)}")
    return candidate


__all__ = ["AudioError", "ClipError", "EmotionModel", "StreamingRecognizer", "load_model"]
