"""Magnitude pruning and quantization-aware training with tfmot, done safely.

Three traps this module avoids:
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

    With ``preserve_sparsity`` (after pruning) the zeros stay zeros.

    Raises:
        ValueError: the model holds a layer QAT cannot wrap (e.g. LSTM).
    """
    import tensorflow_model_optimization as tfmot
    import tf_keras as keras

    unsupported = [layer.name for layer in model.layers
                   if isinstance(layer, (keras.layers.LSTM, keras.layers.GRU))]
    if unsupported:
        raise ValueError(f"quantization-aware training does not support recurrent layers "
                         f"({', '.join(unsupported)}); use post-training int8 for crnn")
    copy = deep_copy(model)
    annotate = tfmot.quantization.keras.quantize_annotate_layer
    noop = noop_quantize_config()

    def annotated_layer(layer):
        if isinstance(layer, keras.layers.InputLayer):
            return layer
        if isinstance(layer, keras.layers.Rescaling):
            return annotate(layer, quantize_config=noop())
        return annotate(layer)

    annotated = keras.models.clone_model(copy, clone_function=annotated_layer)
    scheme = (tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme()
              if preserve_sparsity else None)
    with tfmot.quantization.keras.quantize_scope(quantize_custom_objects()):
        quantized = (tfmot.quantization.keras.quantize_apply(annotated, scheme) if scheme
                     else tfmot.quantization.keras.quantize_apply(annotated))
    quantized.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss)
    quantized.fit(_epochs_of(batches, epochs), steps_per_epoch=steps_per_epoch, epochs=epochs,
                  verbose=0)
    return quantized


_NOOP_CONFIG = None


def noop_quantize_config():
    """A QuantizeConfig that leaves a layer unquantized (for ``Rescaling``,
    which tfmot does not know; the converter still quantizes its output from
    the representative data). Built lazily so importing this module does not
    import tfmot."""
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
