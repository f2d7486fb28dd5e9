"""The configuration an emoedge model file carries: schema, parsing and checks.

An emoedge model is one ``.tflite`` file whose flatbuffer ``metadata`` list
has an entry named :data:`METADATA_NAME`; its buffer holds UTF-8 JSON with the
fields of :class:`ModelMetadata`. Everything the runtime needs to turn PCM
into a prediction comes from here, so no constant is copied by hand between
training and device.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from .frontend import FrontendConfig
from .windows import PADDINGS

METADATA_NAME = "emoedge_metadata"
SCHEMA_VERSION = 1
TASKS = ("classification", "regression")
OUTPUT_KINDS = ("logits", "probabilities", "values")


class ModelConfigError(ValueError):
    """A model file this runtime cannot honour; the message is one line."""


@dataclass(frozen=True, kw_only=True)
class TensorSpec:
    """Shape, dtype and affine quantization of a model input or output.

    ``real = scale * (q - zero_point)``; scale 0 means not quantized.
    """

    shape: tuple[int, ...]
    dtype: str
    scale: float = 0.0
    zero_point: int = 0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TensorSpec":
        return cls(shape=tuple(int(d) for d in data["shape"]), dtype=str(data["dtype"]),
                   scale=float(data.get("scale", 0.0)), zero_point=int(data.get("zero_point", 0)))

    def to_dict(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "dtype": self.dtype, "scale": self.scale,
                "zero_point": self.zero_point}


@dataclass(frozen=True, kw_only=True)
class ModelMetadata:
    """Everything the runtime needs to run a model file.

    Attributes:
        frontend: the feature frontend the model was trained on.
        labels: class names in output order (classification), or output
            names (regression, e.g. ``("valence", "arousal")``).
        window_ms: audio covered by one model input.
        hop_ms: step between consecutive windows; a multiple of the
            frontend's window step.
        task: ``classification`` or ``regression``.
        output_kind: ``logits`` (softmax applied by the runtime),
            ``probabilities``, or ``values`` (regression).
        input: the model's input tensor, shape (1, frames, channels[, 1]).
        output: the model's output tensor, shape (1, len(labels)).
        valence_arousal: optional map label -> (valence, arousal) in
            [-1, 1]; the runtime reports the probability-weighted point.
        short_clip_padding: how a clip shorter than one window is padded
            to one (:func:`emoedge.windows.pad_to_window`); files written
            before the field existed pad with the noise floor.
        provenance: free-form record: data, split, metrics, quantization.
        weights_sha256: sha256 of every flatbuffer buffer but the metadata's.
        emoedge_version: version that wrote the file.
        schema_version: version of this JSON layout.
    """

    frontend: FrontendConfig
    labels: tuple[str, ...]
    window_ms: int
    hop_ms: int
    task: str
    output_kind: str
    input: TensorSpec
    output: TensorSpec
    valence_arousal: Mapping[str, tuple[float, float]] | None = None
    short_clip_padding: str = "noise-floor"
    provenance: Mapping[str, Any] = field(default_factory=dict)
    weights_sha256: str = ""
    emoedge_version: str = ""
    schema_version: int = SCHEMA_VERSION

    # --- derived ------------------------------------------------------
    @property
    def window_frames(self) -> int:
        """Feature frames in one model input."""
        return self.frontend.frames_in_ms(self.window_ms)

    @property
    def hop_frames(self) -> int:
        """Feature frames between consecutive windows."""
        return self.hop_ms // self.frontend.window_step_ms

    # --- JSON -----------------------------------------------------------
    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        data["frontend"] = self.frontend.to_dict()
        data["input"] = self.input.to_dict()
        data["output"] = self.output.to_dict()
        data["labels"] = list(self.labels)
        if self.valence_arousal is not None:
            data["valence_arousal"] = {k: list(v) for k, v in self.valence_arousal.items()}
        data["provenance"] = dict(self.provenance)
        return json.dumps(data, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> "ModelMetadata":
        """Parse and check; any problem raises :class:`ModelConfigError`."""
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as error:
            raise ModelConfigError(f"corrupt emoedge metadata: not JSON ({error})") from None
        if not isinstance(data, dict):
            raise ModelConfigError("corrupt emoedge metadata: not a JSON object")
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ModelConfigError(
                f"metadata schema version {version!r} is not supported by this emoedge "
                f"(supports {SCHEMA_VERSION}); upgrade emoedge or re-export the model")
        try:
            metadata = cls._from_dict(data)
        except ModelConfigError:
            raise
        except (KeyError, TypeError, ValueError, OverflowError) as error:
            detail = f"missing field {error}" if isinstance(error, KeyError) else str(error)
            raise ModelConfigError(f"corrupt emoedge metadata: {detail}") from None
        metadata.check()
        return metadata

    @classmethod
    def _from_dict(cls, data: Mapping[str, Any]) -> "ModelMetadata":
        mapping = data.get("valence_arousal")
        return cls(
            frontend=FrontendConfig.from_dict(data["frontend"]),
            labels=tuple(str(label) for label in data["labels"]),
            window_ms=int(data["window_ms"]),
            hop_ms=int(data["hop_ms"]),
            task=str(data["task"]),
            output_kind=str(data["output_kind"]),
            input=TensorSpec.from_dict(data["input"]),
            output=TensorSpec.from_dict(data["output"]),
            valence_arousal=None if mapping is None else {
                str(k): (float(v[0]), float(v[1])) for k, v in mapping.items()},
            short_clip_padding=str(data.get("short_clip_padding", "noise-floor")),
            provenance=dict(data.get("provenance", {})),
            weights_sha256=str(data.get("weights_sha256", "")),
            emoedge_version=str(data.get("emoedge_version", "")),
            schema_version=int(data["schema_version"]),
        )

    # --- what this runtime can honour -----------------------------------
    def check(self) -> None:
        """Raise :class:`ModelConfigError` naming the first unsupported setting."""
        problem = next(_problems(self), None)
        if problem:
            raise ModelConfigError(f"model cannot run here: {problem}")


def _problems(m: ModelMetadata):
    if m.task not in TASKS:
        yield f"unknown task {m.task!r} (supported: {', '.join(TASKS)})"
    if m.output_kind not in OUTPUT_KINDS:
        yield f"unknown output kind {m.output_kind!r}"
    if not m.labels or len(set(m.labels)) != len(m.labels):
        yield "labels must be non-empty and distinct"
    if m.window_ms <= 0 or m.window_frames < 1:
        yield f"window of {m.window_ms} ms holds no frontend frame"
    if m.hop_ms <= 0 or m.hop_ms % m.frontend.window_step_ms:
        yield (f"hop of {m.hop_ms} ms is not a positive multiple of the "
               f"{m.frontend.window_step_ms} ms frontend step")
    if m.input.dtype not in ("int8", "float32"):
        yield f"input dtype {m.input.dtype} (supported: int8, float32)"
    elif m.input.dtype == "int8" and m.input.scale <= 0:
        yield "int8 input without a quantization scale"
    shape = m.input.shape
    if len(shape) not in (3, 4) or shape[0] != 1 or (len(shape) == 4 and shape[3] != 1):
        yield f"input shape {list(shape)} (expected [1, frames, channels] or [1, frames, channels, 1])"
    elif shape[1:3] != (m.window_frames, m.frontend.num_channels):
        yield (f"input shape {list(shape)} does not fit a {m.window_ms} ms window of "
               f"{m.frontend.num_channels}-channel features ({m.window_frames} frames)")
    if m.output.shape != (1, len(m.labels)):
        yield f"output shape {list(m.output.shape)} does not match {len(m.labels)} labels"
    if m.output.dtype not in ("int8", "float32"):
        yield f"output dtype {m.output.dtype} (supported: int8, float32)"
    if m.short_clip_padding not in PADDINGS:
        yield (f"unknown short-clip padding {m.short_clip_padding!r} "
               f"(supported: {', '.join(PADDINGS)})")
    if m.valence_arousal is not None and set(m.valence_arousal) != set(m.labels):
        yield "valence_arousal must give a point for every label"
