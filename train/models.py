"""The model zoo: small tf_keras models that all convert to full int8.

Every model takes the raw uint16 frontend features of one window as float
input, shape (frames, channels, 1), and normalises them inside the graph
(one scalar mean and standard deviation from the training features), so the
device feeds features straight into the int8 bridge and no normalisation
constant is copied by hand. Outputs are logits (classification) or values
(regression); the runtime applies the softmax.

tf_keras, not Keras 3: tensorflow-model-optimization rejects Keras 3 models.
GRU crashes the full-int8 converter, so the recurrent model uses LSTM, and it
is exported with a fixed batch of 1 (see :func:`with_batch_one`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

ARCHITECTURES = ("dscnn", "cnn2d", "parallel-cnn", "mlp", "cnn1d", "crnn")
INPUT_NORMS = ("global", "window-mean", "window-level", "both", "speaker-mean", "speaker-both")
# How the convolutional models (dscnn, cnn2d, parallel-cnn) pool their last
# feature map into the vector the logits read: "global-average" averages over
# time and frequency; "time-average" averages over time only and keeps each
# frequency row apart; "time-average-max" keeps the time maximum of each row
# beside its average.
POOLINGS = ("global-average", "time-average", "time-average-max")
# The input norms that shift the features per speaker before the model
# (train/speaker_norm.py), each with the graph norm it then builds.
SPEAKER_SHIFTED_NORMS = {"speaker-mean": "global", "speaker-both": "both"}
# The layers between the input and the first weighted layer: they normalise
# the raw features. Quantization-aware training leaves them float so the
# converter calibrates them from representative data, as in post-training
# int8 (quantize/optimize.py says why).
INPUT_NORMALISATION_LAYERS = frozenset({"normalise", "window_means", "remove_window_means",
                                        "window_level", "remove_window_level",
                                        "global_and_centred"})


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """What to build.

    Attributes:
        architecture: one of :data:`ARCHITECTURES`.
        frames: feature frames per window.
        channels: features per frame.
        outputs: labels (classification) or regression targets.
        width: multiplier on every layer's channel count (the result is
            rounded to a multiple of :data:`CHANNEL_MULTIPLE`).
        dropout: dropout rate before the output layer.
        feature_mean: mean of the training features (normalisation).
        feature_std: standard deviation of the training features.
        batch_norm_momentum: 0.9, not Keras' 0.99: with 0.99 the moving
            variance (starting at 1) lagged the real 0.01-0.05 for epochs and
            a model predicted one class throughout (measured, see notes).
        input_norm: "global" scales by the training mean and std only;
            "window-mean" also removes each channel's mean over the window,
            so a fixed microphone or speaker colouring (a constant offset per
            log-mel channel) cancels; "window-level" removes only the mean
            over all frames and channels of the window, so a level change
            (the same offset on every channel) cancels but the window's
            spectral tilt stays; "both" feeds the global and the
            window-mean features as two input maps. "speaker-mean" and
            "speaker-both" build the "global" and "both" graphs, for
            features already shifted so each speaker's channel means are
            the population's (:mod:`emoedge.train.speaker_norm`).
        pooling: one of :data:`POOLINGS`; the other architectures pool in
            their own way and accept only "global-average".
    """

    architecture: str
    frames: int
    channels: int
    outputs: int
    width: float = 1.0
    dropout: float = 0.3
    feature_mean: float = 0.0
    feature_std: float = 1.0
    batch_norm_momentum: float = 0.9
    input_norm: str = "global"
    pooling: str = "global-average"


def spec_from_recipe(recipe, *, frames: int, outputs: int, feature_mean: float,
                     feature_std: float) -> ModelSpec:
    """The ModelSpec a recipe's ``[model]`` section asks for, at ``frames``
    frames of the recipe frontend's channels. Every setting of the section
    that ModelSpec has goes across here, once, so the trainer and the
    stand-in of a model not trained yet (scripts/aarch64) build one graph."""
    section = recipe.model
    return ModelSpec(architecture=section.architecture, frames=frames,
                     channels=recipe.frontend.num_channels, outputs=outputs,
                     width=section.width, dropout=section.dropout,
                     input_norm=section.input_norm, pooling=section.pooling,
                     feature_mean=feature_mean, feature_std=feature_std)


def build_model(spec: ModelSpec, *, batch_size: int | None = None, for_export: bool = False):
    """A compiled-free tf_keras model for ``spec``.

    Args:
        spec: the architecture and its sizes.
        batch_size: fix the batch dimension (1 for export), or None.
        for_export: build the graph the int8 converter gets. With
            ``input_norm="window-mean"`` (or ``"window-level"``) it removes
            the window means from the raw features before scaling, (x - m) / std instead of
            (x - mu) / std - mean((x - mu) / std): equal up to float
            rounding (the global offset mu cancels), with the same weights,
            but the converter folds the scale into the first convolution, so
            two int8 requantizations go (int8-float agreement 90.0 -> 91.2 %
            on 718 windows of the default model's training and validation
            actors, docs/DEFAULT_MODEL.md). Training keeps the other order,
            so trained runs reproduce bit for bit.
    Returns:
        ``tf_keras.Model`` mapping (batch, frames, channels, 1) float32 to
        (batch, outputs) logits.
    """
    import tf_keras as keras

    if spec.architecture not in _BUILDERS:
        raise ValueError(f"unknown architecture {spec.architecture!r}; "
                         f"choose one of {', '.join(ARCHITECTURES)}")
    if spec.input_norm not in INPUT_NORMS:
        raise ValueError(f"unknown input_norm {spec.input_norm!r}; "
                         f"choose one of {', '.join(INPUT_NORMS)}")
    check_pooling(spec.architecture, spec.pooling)
    inputs = keras.Input((spec.frames, spec.channels, 1), batch_size=batch_size, name="features")
    std = spec.feature_std if spec.feature_std > 0 else 1.0
    if for_export and spec.input_norm in _CENTRING:
        centred = _CENTRING[spec.input_norm](inputs, spec, keras)
        x = keras.layers.Rescaling(1.0 / std, name="normalise")(centred)
    else:
        x = keras.layers.Rescaling(1.0 / std, offset=-spec.feature_mean / std, name="normalise")(inputs)
        x = _normalise_per_window(x, spec, keras)
    x = _BUILDERS[spec.architecture](x, spec, keras)
    x = _dropout(spec.dropout, keras)(x)
    # float32 logits even under a mixed-precision policy, for a stable softmax
    outputs = keras.layers.Dense(spec.outputs, name="logits", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=spec.architecture.replace("-", "_"))


def _dropout(rate: float, keras):
    """A dropout layer whose masks come from a ``tf.random.Generator`` (the
    "stateful" kind), not the legacy stateful op: the generator's state is a
    variable :func:`reseed_dropout` can set, while the op's state lives in its
    kernel and restarts from the seed in every new process. The generator's
    state is no weight, so saved weights and the export graph are unchanged."""
    return keras.layers.Dropout(rate, rng_type="stateful")


def reseed_dropout(model, *, seed: int, epoch: int) -> int:
    """Start each dropout layer's masks for ``epoch`` from (seed, epoch,
    layer) alone, as the batches already are, so an epoch draws the same
    masks whether its process trained the epochs before it or resumed
    after them. Returns how many layers were reseeded.

    Raises:
        RuntimeError: a dropout layer has no generator to reseed (it was
            built without :func:`_dropout`), which would leave its masks
            to the process's history.
    """
    import numpy as np
    import tf_keras as keras

    layers = [m for m in model.submodules if isinstance(m, keras.layers.Dropout)]
    for index, layer in enumerate(layers):
        generator = layer._random_generator  # tf_keras 2.x keeps it here
        generator._maybe_init()  # built lazily at the first training call
        if getattr(generator, "_generator", None) is None:
            raise RuntimeError(f"dropout layer {layer.name!r} draws from TensorFlow's legacy "
                               "random op, whose state cannot be set; build it with _dropout")
        # stream 2: the batches use [seed, epoch] and mixup [seed, epoch, 1]
        stream = np.random.default_rng([seed, epoch, 2, index])
        generator._generator.reset_from_seed(int(stream.integers(2**31)))
    return len(layers)


def with_batch_one(model, spec: ModelSpec):
    """The same weights in the export graph, its batch fixed to 1 (LSTM
    export needs it; see ``for_export`` in :func:`build_model`)."""
    fixed = build_model(spec, batch_size=1, for_export=True)
    fixed.set_weights(model.get_weights())
    return fixed


def _normalise_per_window(x, spec: ModelSpec, keras):
    """Apply ``spec.input_norm`` to globally scaled features (batch, frames,
    channels, 1). Built from AVERAGE_POOL_2D or MEAN and SUB, which the int8
    converter and tfmot both know, so the device needs nothing new."""
    norm = graph_norm(spec.input_norm)
    if norm == "global":
        return x
    if norm in _CENTRING:
        return _CENTRING[norm](x, spec, keras)
    centred = _remove_window_means(x, spec, keras)
    return keras.layers.Concatenate(name="global_and_centred")([x, centred])


def graph_norm(input_norm: str) -> str:
    """The normalisation the graph itself applies for ``input_norm``."""
    return SPEAKER_SHIFTED_NORMS.get(input_norm, input_norm)


def _remove_window_means(x, spec: ModelSpec, keras):
    channel_means = keras.layers.AveragePooling2D((spec.frames, 1), name="window_means")(x)
    return keras.layers.Subtract(name="remove_window_means")([x, channel_means])


def _remove_window_level(x, spec: ModelSpec, keras):
    # One mean over frames and channels (a MEAN op, as the models' global
    # pooling already is), broadcast back by SUB.
    level = keras.layers.GlobalAveragePooling2D(keepdims=True, name="window_level")(x)
    return keras.layers.Subtract(name="remove_window_level")([x, level])


# The input norms that centre each window, by what they remove.
_CENTRING = {"window-mean": _remove_window_means, "window-level": _remove_window_level}


# Scaled channel counts are rounded to a multiple of this. TF's CPU kernels
# slow down on odd counts: a cnn2d training step at width 1.2 took 2.6 times
# as long as at width 1.0 with 38/77/115/154 channels, and 1.4 times with
# 40/80/112/152 (benchmarks/train_step.py, figures in docs/BENCHMARKS.md).
CHANNEL_MULTIPLE = 8


def check_pooling(architecture: str, pooling: str) -> None:
    """Raise ValueError unless ``architecture`` can pool as ``pooling`` asks."""
    if pooling not in POOLINGS:
        raise ValueError(f"unknown pooling {pooling!r}; choose one of {', '.join(POOLINGS)}")
    if pooling != "global-average" and architecture not in _POOLED_ARCHITECTURES:
        raise ValueError(f"pooling {pooling!r} applies to {', '.join(_POOLED_ARCHITECTURES)}; "
                         f"{architecture} pools in its own way (use global-average)")


def _pool(x, spec: ModelSpec, keras):
    """The last feature map (batch, time, frequency, depth) as one vector per
    window: (batch, depth) for "global-average", (batch, frequency * depth)
    for "time-average", twice that for "time-average-max". Built from
    AVERAGE_POOL_2D, MAX_POOL_2D, CONCATENATION and RESHAPE, which full int8
    knows (the conversion test checks it)."""
    if spec.pooling == "global-average":
        return keras.layers.GlobalAveragePooling2D()(x)
    over_time = (x.shape[1], 1)
    rows = [keras.layers.AveragePooling2D(over_time, name="time_average")(x)]
    if spec.pooling == "time-average-max":
        rows.append(keras.layers.MaxPooling2D(over_time, name="time_max")(x))
    x = rows[0] if len(rows) == 1 else keras.layers.Concatenate()(rows)
    return keras.layers.Flatten()(x)


def _width(spec: ModelSpec, channels: int) -> int:
    """``channels`` scaled by ``spec.width``, to the nearest multiple of
    :data:`CHANNEL_MULTIPLE` (at least one multiple)."""
    return CHANNEL_MULTIPLE * max(1, int(round(channels * spec.width / CHANNEL_MULTIPLE)))


def _conv_bn_relu(x, keras, spec, filters, kernel, strides=(1, 1), depthwise=False):
    if depthwise:
        x = keras.layers.DepthwiseConv2D(kernel, strides=strides, padding="same", use_bias=False)(x)
    else:
        x = keras.layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False)(x)
    x = keras.layers.BatchNormalization(momentum=spec.batch_norm_momentum)(x)
    return keras.layers.ReLU()(x)


def _dscnn(x, spec, keras):
    """Depthwise-separable CNN (Hello Edge style): one strided conv, then 4
    depthwise + pointwise blocks, then :func:`_pool`."""
    filters = _width(spec, 64)
    x = _conv_bn_relu(x, keras, spec, filters, (10, 4), strides=(2, 2))
    for _ in range(4):
        x = _conv_bn_relu(x, keras, spec, filters, (3, 3), depthwise=True)
        x = _conv_bn_relu(x, keras, spec, filters, (1, 1))
    return _pool(x, spec, keras)


def _cnn2d(x, spec, keras):
    """Four conv blocks (32/64/96/128 channels), each pooled by 2, then :func:`_pool`."""
    for filters in (32, 64, 96, 128):
        x = _conv_bn_relu(x, keras, spec, _width(spec, filters), (3, 3))
        x = keras.layers.MaxPooling2D((2, 2), padding="same")(x)
    return _pool(x, spec, keras)


def _parallel_cnn(x, spec, keras):
    """Parallel convolutions with different kernel sizes, concatenated, after
    Tripathi et al. 2019; then two conv blocks and global pooling."""
    branches = [_conv_bn_relu(x, keras, spec, _width(spec, 16), kernel)
                for kernel in ((3, 3), (5, 5), (9, 3), (3, 9))]
    x = keras.layers.Concatenate()(branches)
    x = keras.layers.MaxPooling2D((2, 2), padding="same")(x)
    for filters in (64, 96):
        x = _conv_bn_relu(x, keras, spec, _width(spec, filters), (3, 3))
        x = keras.layers.MaxPooling2D((2, 2), padding="same")(x)
    return _pool(x, spec, keras)


def _mlp(x, spec, keras):
    """Three dense layers (256/128/64) with batch norm over per-channel time
    statistics (mean and max over frames), which keeps the input small."""
    frames = keras.layers.Reshape((spec.frames, -1))(x)
    pooled = keras.layers.Concatenate()([keras.layers.GlobalAveragePooling1D()(frames),
                                         keras.layers.GlobalMaxPooling1D()(frames)])
    x = pooled
    for units in (256, 128, 64):
        x = keras.layers.Dense(_width(spec, units), use_bias=False)(x)
        x = keras.layers.BatchNormalization(momentum=spec.batch_norm_momentum)(x)
        x = keras.layers.ReLU()(x)
        x = _dropout(spec.dropout / 2, keras)(x)
    return x


def _cnn1d(x, spec, keras):
    """Conv1D over time, the mel channels as input features."""
    x = keras.layers.Reshape((spec.frames, -1))(x)
    for filters in (64, 96, 128):
        x = keras.layers.Conv1D(_width(spec, filters), 5, padding="same", use_bias=False)(x)
        x = keras.layers.BatchNormalization(momentum=spec.batch_norm_momentum)(x)
        x = keras.layers.ReLU()(x)
        x = keras.layers.MaxPooling1D(2, padding="same")(x)
    return keras.layers.GlobalAveragePooling1D()(x)


def _crnn(x, spec, keras):
    """Two conv blocks, then an LSTM over time. The LSTM keeps cuDNN's
    requirements (tanh, sigmoid, no recurrent dropout, unroll off) so it
    trains on cuDNN kernels when a GPU is present."""
    for filters in (32, 64):
        x = _conv_bn_relu(x, keras, spec, _width(spec, filters), (3, 3))
        x = keras.layers.MaxPooling2D((2, 2), padding="same")(x)
    time_steps, freq, depth = x.shape[1], x.shape[2], x.shape[3]
    x = keras.layers.Reshape((time_steps, freq * depth))(x)
    return keras.layers.LSTM(_width(spec, 64), activation="tanh",
                             recurrent_activation="sigmoid", recurrent_dropout=0.0,
                             unroll=False, use_bias=True)(x)


_POOLED_ARCHITECTURES = ("dscnn", "cnn2d", "parallel-cnn")

_BUILDERS: dict[str, Callable] = {
    "dscnn": _dscnn,
    "cnn2d": _cnn2d,
    "parallel-cnn": _parallel_cnn,
    "mlp": _mlp,
    "cnn1d": _cnn1d,
    "crnn": _crnn,
}
