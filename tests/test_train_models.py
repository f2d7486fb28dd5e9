"""The model zoo: every architecture converts to full int8 and agrees with float."""

from __future__ import annotations

import numpy as np
import pytest

from emoedge.interpreter import load_interpreter

FRAMES, CHANNELS, OUTPUTS = 98, 40, 8


@pytest.fixture(scope="module")
def representative():
    # Feature-like values: frontend output sits roughly in 0..1000.
    rng = np.random.default_rng(0)
    return (400 + 150 * rng.standard_normal((200, FRAMES, CHANNELS, 1))).astype(np.float32)


@pytest.mark.tf
@pytest.mark.parametrize("architecture,input_norm,pooling", [
    ("dscnn", "global", "global-average"), ("cnn2d", "global", "global-average"),
    ("parallel-cnn", "global", "global-average"), ("mlp", "global", "global-average"),
    ("cnn1d", "global", "global-average"), ("crnn", "global", "global-average"),
    ("cnn2d", "window-mean", "global-average"), ("cnn2d", "both", "global-average"),
    ("mlp", "both", "global-average"), ("cnn1d", "window-mean", "global-average"),
    ("cnn2d", "window-level", "global-average"),
    ("cnn2d", "window-mean", "time-average"), ("cnn2d", "window-mean", "time-average-max"),
    ("dscnn", "global", "time-average"), ("parallel-cnn", "global", "time-average-max")])
def test_architecture_converts_to_integer_only_int8(tensorflow_available, representative,
                                                     architecture, input_norm, pooling):
    from emoedge.model_audit import audit_model
    from emoedge.quantize.convert import convert_int8
    from emoedge.train.models import ModelSpec, build_model, with_batch_one

    spec = ModelSpec(architecture=architecture, frames=FRAMES, channels=CHANNELS,
                     outputs=OUTPUTS, feature_mean=400.0, feature_std=150.0,
                     input_norm=input_norm, pooling=pooling)
    model = build_model(spec)
    assert model.output_shape == (None, OUTPUTS)
    exported = with_batch_one(model, spec)
    content = convert_int8(exported, representative)
    audit = audit_model(content)
    assert audit.integer_only, audit.float_tensors
    if architecture == "crnn":
        assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in audit.ops
    if input_norm == "window-mean":
        assert {"AVERAGE_POOL_2D", "SUB"} <= set(audit.ops)
        assert "ADD" not in audit.ops  # the export graph has no global offset to add
    if input_norm == "window-level":
        assert {"MEAN", "SUB"} <= set(audit.ops) and "ADD" not in audit.ops
    if pooling == "time-average-max":
        assert "MAX_POOL_2D" in audit.ops and "CONCATENATION" in audit.ops, audit.ops
    if (architecture, input_norm) in {("cnn2d", "window-mean"), ("cnn2d", "window-level")}:
        # ... and the scale folds into the first convolution when it follows directly
        assert "MUL" not in audit.ops, audit.ops

    # int8 vs float: the dequantized int8 logits follow the float logits.
    interpreter, _ = load_interpreter(content)
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    in_scale, in_zero = inp["quantization"]
    out_scale, out_zero = out["quantization"]
    float_logits, int8_logits = [], []
    for window in representative[:20]:
        q = np.clip(np.round(window / in_scale) + in_zero, -128, 127).astype(np.int8)
        interpreter.set_tensor(inp["index"], q[None])
        interpreter.invoke()
        int8_logits.append(out_scale * (interpreter.get_tensor(out["index"])[0].astype(float) - out_zero))
        float_logits.append(exported(window[None], training=False).numpy()[0])
    correlation = np.corrcoef(np.ravel(float_logits), np.ravel(int8_logits))[0, 1]
    assert correlation > 0.9, correlation


@pytest.mark.tf
def test_window_mean_norm_cancels_a_constant_offset_per_channel(tensorflow_available,
                                                                representative):
    # A microphone's colouring is a fixed offset per log-mel channel; with the
    # window means removed the model must not see it, and without, it must.
    from emoedge.train.models import ModelSpec, build_model

    windows = representative[:4]
    offset = np.linspace(-80, 80, CHANNELS, dtype=np.float32)[None, None, :, None]
    outputs = {}
    for norm in ("window-mean", "global"):
        model = build_model(ModelSpec(architecture="cnn2d", frames=FRAMES, channels=CHANNELS,
                                      outputs=OUTPUTS, feature_mean=400.0, feature_std=150.0,
                                      input_norm=norm))
        outputs[norm] = [model(batch, training=False).numpy()
                         for batch in (windows, windows + offset)]
    np.testing.assert_allclose(*outputs["window-mean"], rtol=1e-4, atol=1e-4)
    assert np.abs(outputs["global"][0] - outputs["global"][1]).max() > 1e-2


@pytest.mark.tf
def test_window_level_norm_cancels_a_level_change_but_not_a_tilt(tensorflow_available,
                                                                 representative):
    # A gain change is the same offset on every log-mel channel and must
    # cancel; a tilt across the channels is what this norm keeps for the
    # model to see, so it must not.
    from emoedge.train.models import ModelSpec, build_model

    windows = representative[:4]
    model = build_model(ModelSpec(architecture="cnn2d", frames=FRAMES, channels=CHANNELS,
                                  outputs=OUTPUTS, feature_mean=400.0, feature_std=150.0,
                                  input_norm="window-level"))
    plain = model(windows, training=False).numpy()
    louder = model(windows + np.float32(60.0), training=False).numpy()
    tilted = model(windows + np.linspace(-80, 80, CHANNELS, dtype=np.float32)[None, None, :, None],
                   training=False).numpy()
    np.testing.assert_allclose(louder, plain, rtol=1e-4, atol=1e-4)
    assert np.abs(tilted - plain).max() > 1e-2


@pytest.mark.tf
@pytest.mark.parametrize("input_norm", ["global", "window-mean", "window-level", "both"])
def test_export_graph_computes_what_the_training_graph_does(tensorflow_available,
                                                            representative, input_norm):
    from emoedge.train.models import ModelSpec, build_model, with_batch_one

    spec = ModelSpec(architecture="cnn2d", frames=FRAMES, channels=CHANNELS, outputs=OUTPUTS,
                     feature_mean=400.0, feature_std=150.0, input_norm=input_norm)
    model = build_model(spec)
    exported = with_batch_one(model, spec)
    for window in representative[:3]:
        np.testing.assert_allclose(exported(window[None], training=False).numpy(),
                                   model(window[None], training=False).numpy(),
                                   rtol=1e-4, atol=1e-4)


@pytest.mark.tf
@pytest.mark.parametrize("speaker_norm, graph_norm", [("speaker-mean", "global"),
                                                      ("speaker-both", "both")])
def test_speaker_norms_build_their_graph_norm_so_a_speaker_shift_reaches_the_model(
        tensorflow_available, representative, speaker_norm, graph_norm):
    # The speaker shift happens before the model (train/speaker_norm.py), so
    # the graph is the plain norm's: same weights, same outputs, and a
    # per-channel offset is seen, unlike with "window-mean" alone.
    from emoedge.train.models import ModelSpec, build_model

    windows = representative[:4]
    specs = {norm: ModelSpec(architecture="cnn2d", frames=FRAMES, channels=CHANNELS,
                             outputs=OUTPUTS, feature_mean=400.0, feature_std=150.0,
                             input_norm=norm) for norm in (speaker_norm, graph_norm)}
    speaker, plain = build_model(specs[speaker_norm]), build_model(specs[graph_norm])
    plain.set_weights(speaker.get_weights())
    np.testing.assert_array_equal(speaker(windows, training=False).numpy(),
                                  plain(windows, training=False).numpy())
    offset = np.linspace(-80, 80, CHANNELS, dtype=np.float32)[None, None, :, None]
    shifted = speaker(windows + offset, training=False).numpy()
    assert np.abs(shifted - speaker(windows, training=False).numpy()).max() > 1e-2


@pytest.mark.tf
@pytest.mark.parametrize("pooling", ["time-average", "time-average-max"])
def test_time_pooling_keeps_the_frequency_rows_that_global_pooling_averages(
        tensorflow_available, representative, pooling):
    # Same convolutions, pooled two ways: the time average of each frequency
    # row, averaged over the rows, is the global average (every row holds
    # the same number of frames), and the time maximum is at least the mean.
    import tf_keras as keras

    from emoedge.train.models import ModelSpec, build_model

    def spec(pooling):
        return ModelSpec(architecture="cnn2d", frames=FRAMES, channels=CHANNELS,
                         outputs=OUTPUTS, feature_mean=400.0, feature_std=150.0,
                         input_norm="window-mean", pooling=pooling)

    global_model, time_model = build_model(spec("global-average")), build_model(spec(pooling))
    time_model.set_weights(global_model.get_weights()[:-2] + time_model.get_weights()[-2:])
    pooled_globally = next(layer for layer in global_model.layers
                           if isinstance(layer, keras.layers.GlobalAveragePooling2D))
    windows = representative[:4]
    everywhere = keras.Model(global_model.input, pooled_globally.output)(windows).numpy()
    average = keras.Model(time_model.input,
                          time_model.get_layer("time_average").output)(windows).numpy()
    rows, depth = CHANNELS // 16 + (CHANNELS % 16 > 0), 128
    assert average.shape == (4, 1, rows, depth)
    np.testing.assert_allclose(average.mean(axis=(1, 2)), everywhere, rtol=1e-5, atol=1e-6)
    assert time_model.get_layer("logits").input.shape[-1] == rows * depth * (
        2 if pooling == "time-average-max" else 1)
    if pooling == "time-average-max":
        maximum = keras.Model(time_model.input,
                              time_model.get_layer("time_max").output)(windows).numpy()
        assert (maximum >= average - 1e-6).all() and (maximum > average + 1e-3).any()


@pytest.mark.parametrize("width, filters", [
    (1.0, [32, 64, 96, 128]), (1.2, [40, 80, 112, 152]), (0.25, [8, 16, 24, 32]),
    (0.1, [8, 8, 8, 16])])
def test_width_scales_channels_to_multiples_of_eight(width, filters):
    pytest.importorskip("tf_keras")
    from emoedge.train.models import ModelSpec, build_model

    model = build_model(ModelSpec(architecture="cnn2d", frames=16, channels=8, outputs=2,
                                  width=width))
    assert [layer.filters for layer in model.layers if hasattr(layer, "filters")] == filters


def test_unknown_input_norm_is_refused():
    pytest.importorskip("tf_keras")
    from emoedge.train.models import ModelSpec, build_model

    with pytest.raises(ValueError, match="unknown input_norm 'speaker'"):
        build_model(ModelSpec(architecture="cnn2d", frames=10, channels=4, outputs=2,
                              input_norm="speaker"))


def test_a_recipe_model_section_reaches_the_spec_in_every_setting_they_share():
    # The stand-in script once built its spec by hand and left pooling out;
    # one function now carries every shared setting, at non-default values.
    import dataclasses

    from emoedge.train.models import ModelSpec, spec_from_recipe
    from emoedge.train.recipe import ModelSection, load_recipe

    recipe = load_recipe(None, ['model.architecture="cnn2d"', "model.width=0.75",
                                "model.dropout=0.2", 'model.input_norm="window-level"',
                                'model.pooling="time-average"', "frontend.num_channels=32"])
    spec = spec_from_recipe(recipe, frames=98, outputs=3, feature_mean=5.0, feature_std=2.0)
    shared = ({f.name for f in dataclasses.fields(ModelSpec)}
              & {f.name for f in dataclasses.fields(ModelSection)})
    assert shared == {"architecture", "width", "dropout", "input_norm", "pooling"}
    assert {name: getattr(spec, name) for name in shared} == {
        name: getattr(recipe.model, name) for name in shared}
    assert (spec.frames, spec.channels, spec.outputs, spec.feature_mean, spec.feature_std) == (
        98, 32, 3, 5.0, 2.0)


def test_unknown_pooling_is_refused():
    pytest.importorskip("tf_keras")
    from emoedge.train.models import ModelSpec, build_model

    with pytest.raises(ValueError, match="unknown pooling 'max'; choose one of global-average"):
        build_model(ModelSpec(architecture="cnn2d", frames=10, channels=4, outputs=2,
                              pooling="max"))


@pytest.mark.parametrize("architecture", ["mlp", "cnn1d", "crnn"])
def test_time_pooling_is_refused_where_the_architecture_pools_in_its_own_way(architecture):
    from emoedge.train.models import check_pooling

    with pytest.raises(ValueError, match=f"{architecture} pools in its own way"):
        check_pooling(architecture, "time-average")
    check_pooling(architecture, "global-average")


def test_unknown_architecture_is_refused():
    pytest.importorskip("tf_keras")
    from emoedge.train.models import ModelSpec, build_model

    with pytest.raises(ValueError, match="unknown architecture 'gru'"):
        build_model(ModelSpec(architecture="gru", frames=10, channels=4, outputs=2))


def test_too_few_representative_windows_is_refused(representative):
    pytest.importorskip("tensorflow")
    from emoedge.quantize.convert import ConversionError, convert_int8

    with pytest.raises(ConversionError, match="at least 200"):
        convert_int8(object(), representative[:10])


@pytest.mark.tf
@pytest.mark.parametrize("architecture", ["cnn1d", "mlp"])  # mlp has a dropout per dense layer
def test_dropout_masks_come_from_seed_and_epoch_alone(tensorflow_available, architecture):
    """Two models built apart, the second after its process drew masks of its
    own, drop the same units once reseeded for the same (seed, epoch): a
    resumed epoch trains as the uncut one did. Another epoch, another mask."""
    import tf_keras as keras

    from emoedge.train.models import ModelSpec, build_model, reseed_dropout

    spec = ModelSpec(architecture=architecture, frames=FRAMES, channels=CHANNELS,
                     outputs=OUTPUTS, feature_mean=400.0, feature_std=150.0, dropout=0.5)
    x = (400 + 150 * np.random.default_rng(1).standard_normal((4, FRAMES, CHANNELS, 1))
         ).astype(np.float32)
    keras.utils.set_random_seed(0)
    first = build_model(spec)
    second = build_model(spec)
    second.set_weights(first.get_weights())
    second(x, training=True)  # moves its generators on, as earlier epochs would

    def outputs(model, epoch):
        reseed_dropout(model, seed=7, epoch=epoch)
        return model(x, training=True).numpy()

    layers = reseed_dropout(first, seed=7, epoch=3)
    assert layers == (4 if architecture == "mlp" else 1)
    np.testing.assert_array_equal(outputs(first, 3), outputs(second, 3))
    assert not np.allclose(outputs(first, 3), outputs(first, 4))


@pytest.mark.tf
def test_a_dropout_layer_whose_masks_cannot_be_reseeded_is_refused(tensorflow_available):
    import tf_keras as keras

    from emoedge.train.models import reseed_dropout

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dropout(0.5, name="legacy")(inputs))
    with pytest.raises(RuntimeError, match="dropout layer 'legacy' draws from TensorFlow's "
                                           "legacy random op"):
        reseed_dropout(model, seed=0, epoch=0)
