"""Magnitude pruning and quantization-aware training with tfmot, done safely.

Four traps this module avoids:
- ``prune_low_magnitude`` wraps layers in place, changing the weights of the
  model it was given; we always prune a deep copy, so the unpruned baseline
  stays intact.
- The polynomial schedule only updates masks every ``frequency`` steps and
  only up to ``end_step``: with tfmot's default frequency of 100 a fine-tune
  shorter than 100 steps prunes nothing, and an end step past the real step
  count stops short (0.61 instead of 0.70). Here the end step is the last
  real step rounded down to a multiple of a frequency chosen for the run's
  length, so the final sparsity is reached.
- tfmot rejects whole models holding layers it does not know (our
  normalising ``Rescaling``); layers are wrapped one by one instead.
- Annotating ``Rescaling`` at all (even with a no-op config) puts a
  fake-quantizer on the model input in front of a float layer, and the
  converter may then leave that input as DEQUANTIZE -> float -> QUANTIZE
  (see :func:`_annotated`); it is left unannotated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

Batches = Callable[[int], Iterator[tuple]]  # epoch -> (x, y, sample_weight) batches


@dataclass(frozen=True)
class PruningSchedule:
    """Polynomial decay from 0 to ``sparsity`` over the real fine-tune steps."""

    sparsity: float
    total_steps: int
    frequency: int
    end_step: int

    @classmethod
    def for_run(cls, sparsity: float, total_steps: int) -> "PruningSchedule":
        if not 0 < sparsity < 1:
            raise ValueError(f"sparsity must be between 0 and 1, got {sparsity}")
        if total_steps < 2:
            raise ValueError("pruning needs at least 2 fine-tuning steps")
        # About 20 mask updates whatever the run length, never more than
        # tfmot's default spacing of 100 steps.
        frequency = max(1, min(100, total_steps // 20))
        end_step = ((total_steps - 1) // frequency) * frequency
        return cls(sparsity, total_steps, frequency, end_step)


def deep_copy(model):
    """An independent copy: same architecture, copied weights."""
    import tf_keras as keras

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def _prunable(layer) -> bool:
    import tf_keras as keras

    # Depthwise kernels are tiny (3x3 per channel) and pruning them costs
    # accuracy for no size gain.
    return (isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv1D, keras.layers.Dense))
            and not isinstance(layer, keras.layers.DepthwiseConv2D))


def prune(model, batches: Batches, *, sparsity: float, epochs: int, steps_per_epoch: int,
          loss, learning_rate: float = 3e-4):
    """Prune a copy of ``model`` to ``sparsity`` while fine-tuning it.

    Returns:
        (stripped pruned model, achieved sparsity per pruned layer, schedule).
    """
    import tensorflow_model_optimization as tfmot
    import tf_keras as keras

    schedule = PruningSchedule.for_run(sparsity, epochs * steps_per_epoch)
    decay = tfmot.sparsity.keras.PolynomialDecay(
        initial_sparsity=0.0, final_sparsity=sparsity, begin_step=0,
        end_step=schedule.end_step, frequency=schedule.frequency)
    copy = deep_copy(model)
    pruned = keras.models.clone_model(
        copy, clone_function=lambda layer: (
            tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=decay)
            if _prunable(layer) else layer))
    pruned.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss)
    pruned.fit(_epochs_of(batches, epochs), steps_per_epoch=steps_per_epoch, epochs=epochs,
               callbacks=[tfmot.sparsity.keras.UpdatePruningStep()], verbose=0)
    stripped = tfmot.sparsity.keras.strip_pruning(pruned)
    return stripped, layer_sparsity(stripped), schedule


def layer_sparsity(model) -> dict[str, float]:
    """Fraction of exactly-zero weights in each prunable layer's kernel."""
    return {layer.name: float(np.mean(layer.kernel.numpy() == 0))
            for layer in model.layers if _prunable(layer)}


def overall_sparsity(model) -> float:
    """Zero fraction over all prunable kernels together."""
    kernels = [layer.kernel.numpy().ravel() for layer in model.layers if _prunable(layer)]
    joined = np.concatenate(kernels) if kernels else np.zeros(1)
    return float(np.mean(joined == 0))


def quantization_aware(model, batches: Batches, *, epochs: int, steps_per_epoch: int, loss,
                       preserve_sparsity: bool, learning_rate: float = 1e-4):
    """Fine-tune a copy of ``model`` with fake-quantized weights and activations.

    With ``preserve_sparsity`` (after pruning) the zeros stay zeros. Layers
    tfmot cannot wrap (the normalising ``Rescaling``, Conv1D, LSTM) fine-tune
    in float and are calibrated at conversion; see :func:`_annotated`.
    Convert the result through :func:`with_batch_one`.
    """
    import tensorflow_model_optimization as tfmot
    import tf_keras as keras

    copy = deep_copy(model)
    annotated = keras.models.clone_model(copy, clone_function=_annotated)
    scheme = _Scheme(preserve_sparsity)
    with tfmot.quantization.keras.quantize_scope(quantize_custom_objects()):
        quantized = tfmot.quantization.keras.quantize_apply(annotated, scheme)
    quantized.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss)
    quantized.fit(_epochs_of(batches, epochs), steps_per_epoch=steps_per_epoch, epochs=epochs,
                  verbose=0)
    return quantized


def with_batch_one(quantized):
    """The QAT model in a graph whose batch is fixed to 1 (the LSTM of crnn
    converts to one fused int8 op only so), same weights."""
    import tensorflow_model_optimization as tfmot
    import tf_keras as keras

    with tfmot.quantization.keras.quantize_scope(quantize_custom_objects()):
        inputs = keras.Input(batch_shape=(1, *quantized.input_shape[1:]),
                             name=quantized.inputs[0].name.split(":")[0])
        fixed = keras.models.clone_model(quantized, input_tensors=inputs)
    fixed.set_weights(quantized.get_weights())
    return fixed


def _annotated(layer):
    """The layer annotated for QAT, or left as it is.

    The input normalisation (the ``Rescaling`` and, with window-mean input,
    the window-mean pooling and subtraction; see
    ``INPUT_NORMALISATION_LAYERS``) is left unannotated on purpose.
    Annotating the ``Rescaling`` (even with a no-op config) makes tfmot put a
    fake-quantizer on the model input, in front of a float layer; annotating
    the pooling or subtraction after it puts one on the float ``Rescaling``'s
    output. Either way the converter quantizes that float MUL/ADD from the
    representative data and derives the scale a second time; when the two
    scales differ (by one float32 ulp, measured), it keeps DEQUANTIZE ->
    float -> QUANTIZE and the model is not integer-only. Unannotated, the
    input and the normalisation are calibrated once, from the representative
    data, exactly as in post-training int8.

    Layers tfmot's default 8-bit registry does not know (Conv1D,
    MaxPooling1D, LSTM) are also left float during fine-tuning and calibrated
    at conversion, and so is a BatchNormalization tfmot cannot fold (one not
    after Conv2D, DepthwiseConv2D or Dense).
    """
    import tensorflow_model_optimization as tfmot
    import tf_keras as keras

    from emoedge.train.models import INPUT_NORMALISATION_LAYERS

    if (isinstance(layer, keras.layers.InputLayer)
            or layer.name in INPUT_NORMALISATION_LAYERS):
        return layer
    if isinstance(layer, keras.layers.BatchNormalization):
        wanted = _after_foldable(layer)
    else:
        wanted = _default_registry().supports(layer)
    return tfmot.quantization.keras.quantize_annotate_layer(layer) if wanted else layer


def _after_foldable(layer) -> bool:
    import tensorflow as tf
    import tf_keras as keras

    inbound = [source for node in layer._inbound_nodes  # noqa: SLF001 - tfmot does the same
               for source in tf.nest.flatten(node.inbound_layers)]
    return (len(inbound) == 1
            and isinstance(inbound[0], (keras.layers.Conv2D, keras.layers.DepthwiseConv2D,
                                        keras.layers.Dense)))


def _default_registry():
    import tensorflow_model_optimization as tfmot

    return tfmot.quantization.keras.default_8bit.Default8BitQuantizeScheme() \
        .get_quantize_registry()


def _Scheme(preserve_sparsity: bool):  # noqa: N802 - builds a scheme instance
    """tfmot's default (or prune-preserving) 8-bit scheme, whose registry does
    not claim layers the default registry does not know.

    The prune-preserving registry calls every layer without weights
    "supported", ``Rescaling`` included; tfmot would then add an output
    quantizer to the unannotated ``Rescaling`` (and fail to find its config).
    """
    import tensorflow_model_optimization as tfmot

    base = (tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme()
            if preserve_sparsity else tfmot.quantization.keras.default_8bit
            .Default8BitQuantizeScheme())
    inner = base.get_quantize_registry()
    default = _default_registry()

    class Registry(tfmot.quantization.keras.QuantizeRegistry):
        def supports(self, layer):
            return default.supports(layer) and inner.supports(layer)

        def get_quantize_config(self, layer):
            return inner.get_quantize_config(layer)

    class Scheme(type(base)):
        def get_quantize_registry(self):
            return Registry()

    return Scheme()


_NOOP_CONFIG = None


def noop_quantize_config():
    """A QuantizeConfig that leaves a layer unquantized. No longer used to
    annotate ``Rescaling`` (that caused the float input, see
    :func:`_annotated`); kept so QAT models saved with it still load. Built
    lazily so importing this module does not import tfmot."""
    global _NOOP_CONFIG
    if _NOOP_CONFIG is None:
        import tensorflow_model_optimization as tfmot

        class NoOpQuantizeConfig(tfmot.quantization.keras.QuantizeConfig):
            def get_weights_and_quantizers(self, layer):
                return []

            def get_activations_and_quantizers(self, layer):
                return []

            def set_quantize_weights(self, layer, quantize_weights):
                pass

            def set_quantize_activations(self, layer, quantize_activations):
                pass

            def get_output_quantizers(self, layer):
                return []

            def get_config(self):
                return {}

        _NOOP_CONFIG = NoOpQuantizeConfig
    return _NOOP_CONFIG


def quantize_custom_objects() -> dict:
    """Objects needed to load a saved QAT model."""
    return {"NoOpQuantizeConfig": noop_quantize_config()}


def _epochs_of(batches: Batches, epochs: int):
    for epoch in range(epochs):
        yield from batches(epoch)
