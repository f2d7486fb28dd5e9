"""Turn a trained fold into a device model: full int8, metadata embedded, checked.

The int8 model is also evaluated on the fold's test clips through the edge
runtime's own model and decision layers, so the run reports what the device
will do, not only what Keras did.
"""

from __future__ import annotations

import numpy as np

from emoedge.metadata import ModelMetadata, TensorSpec


def tensor_specs(content: bytes) -> tuple[TensorSpec, TensorSpec]:
    """Input and output TensorSpec read from a converted model."""
    from emoedge.interpreter import load_interpreter

    interpreter, _ = load_interpreter(content)
    specs = []
    for detail in (interpreter.get_input_details()[0], interpreter.get_output_details()[0]):
        scale, zero_point = detail["quantization"]
        specs.append(TensorSpec(shape=tuple(int(d) for d in detail["shape"]),
                                dtype=np.dtype(detail["dtype"]).name, scale=float(scale),
                                zero_point=int(zero_point)))
    return specs[0], specs[1]


def check_exportable(recipe) -> None:
    """Raise RecipeError if the device could not run a model of ``recipe``,
    so no model file is written that the runtime would mis-read."""
    from .models import SPEAKER_SHIFTED_NORMS
    from .recipe import RecipeError

    # the runtime has no per-speaker offset to apply before the model
    if recipe.model.input_norm in SPEAKER_SHIFTED_NORMS:
        raise RecipeError(f"a {recipe.model.input_norm} model cannot be exported: the device "
                          "runtime has no per-speaker offset yet; train it with --no-export "
                          "and score it with emoedge evaluate --card")


def build_metadata(recipe, labels, content: bytes, provenance: dict) -> ModelMetadata:
    check_exportable(recipe)
    regression = recipe.training.task == "regression"
    model_input, model_output = tensor_specs(content)
    mapping = dict(recipe.export.valence_arousal) or None
    return ModelMetadata(
        frontend=recipe.frontend, labels=tuple(labels), window_ms=recipe.window.window_ms,
        hop_ms=recipe.window.hop_ms, task=recipe.training.task,
        output_kind="values" if regression else "logits", input=model_input,
        output=model_output, valence_arousal=None if regression else mapping,
        short_clip_padding=recipe.window.short_clip_padding, provenance=provenance)


def export_fold(trainer, split, recipe, labels, result) -> None:
    """Write ``model_int8.tflite`` into the fold directory and add int8 test metrics."""
    from emoedge.model_audit import audit_model
    from emoedge.quantize.convert import convert_int8
    from emoedge.quantize.export import embed_metadata, write_model_atomically

    from .machine import read_machine
    from .models import with_batch_one
    from .trainer import write_json

    exported = with_batch_one(trainer.model, trainer.spec)
    representative = trainer.representative(trainer.train)
    content = convert_int8(exported, representative)
    audit = audit_model(content)
    provenance = {
        "data": list(recipe.data.sources), "split": split.name,
        "test_speakers": split.speakers()["test"], "seed": trainer.seed,
        "metrics_keras_test": _headline(result.metrics),
        "quantization": {"method": "post-training full int8",
                         "representative_windows": int(len(representative)),
                         "integer_only": audit.integer_only},
        "recipe": recipe.to_dict(),
        "trained_on": read_machine(trainer.directory),
    }
    metadata = build_metadata(recipe, labels, content, provenance)
    # every speaker trained: none held out to score (an empty entry still marks the export done)
    int8_metrics = evaluate_int8(content, metadata, trainer, trainer.test) if trainer.test else {}
    provenance["metrics_int8_test"] = _headline(int8_metrics)
    metadata = build_metadata(recipe, labels, content, provenance)
    path = trainer.directory / "model_int8.tflite"
    write_model_atomically(path, embed_metadata(content, metadata))
    result.metrics["int8"] = int8_metrics
    write_json(trainer.directory / "metrics.json", result.metrics)


def evaluate_int8(content: bytes, metadata: ModelMetadata, trainer, clips) -> dict:
    """Clip metrics of a model file through the runtime's model and decision layers."""
    return trainer.score(clips, runtime_clip_outputs(content, metadata, trainer, clips))


def runtime_clip_outputs(content: bytes, metadata: ModelMetadata, trainer, clips) -> np.ndarray:
    """Per clip, the mean over its runtime windows of the device's probabilities
    (or values): exactly what ``emoedge score`` computes. Shape (clips, outputs)."""
    from emoedge.recognizer import Decision
    from emoedge.runner import ModelRunner

    runner = ModelRunner(content, metadata, num_threads=1)
    decision = Decision(metadata)
    outputs = []
    for clip in clips:
        outputs.append(np.mean([decision.probabilities(runner(w))
                                for w in trainer.clip_windows(clip)], axis=0))
    return np.stack(outputs)


def _headline(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
