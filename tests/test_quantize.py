"""emoedge quantize: pruning, PTQ, QAT, the int8 audit and self-describing export."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.tf


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    pytest.importorskip("tensorflow")
    from test_train_pipeline import RECIPE, _write_generated_corpus

    from emoedge.train.recipe import load_recipe
    from emoedge.train.trainer import run_training

    root = tmp_path_factory.mktemp("quantize")
    manifest = _write_generated_corpus(root / "corpus")
    recipe_path = root / "recipe.toml"
    recipe_path.write_text(RECIPE.format(manifest=manifest, split="speaker",
                                         architecture="cnn2d", epochs=10))
    run_training(load_recipe(recipe_path), root / "run", data_root=None,
                 cache_dir=root / "cache", progress=False, export=False)
    return root


@pytest.fixture(scope="module")
def quantized(trained_run):
    from emoedge.quantize.pipeline import QuantizeOptions, quantize_run

    table = quantize_run(QuantizeOptions(run_dir=str(trained_run / "run"),
                                         cache_dir=str(trained_run / "cache"), sparsity=0.5,
                                         qat=True, finetune_epochs=3, progress=False))
    return {row["variant"]: row for row in table}


def test_every_variant_is_evaluated_and_int8_is_integer_only(trained_run, quantized):
    import json

    assert set(quantized) == {"float_keras", "float_tflite", "int8", "pruned_int8", "qat_int8"}
    rows = json.loads((trained_run / "run" / "quantized" / "table.json").read_text())["rows"]
    for row in rows:
        if row["variant"].endswith("int8"):
            assert row["integer_only"], row
    print("\n" + (trained_run / "run" / "quantized" / "table.md").read_text())


def test_int8_agrees_with_float(quantized):
    assert quantized["float_tflite"]["agreement_with_float"] == 1.0
    assert quantized["int8"]["agreement_with_float"] >= 0.9
    assert quantized["int8"]["ua"] >= quantized["float_keras"]["ua"] - 0.1


def test_pruning_reaches_its_target_and_shrinks_gzip(quantized):
    assert abs(quantized["pruned_int8"]["sparsity"] - 0.5) <= 0.01
    assert abs(quantized["qat_int8"]["sparsity"] - 0.5) <= 0.01  # prune-preserving QAT
    assert quantized["pruned_int8"]["gzip_bytes"] < quantized["int8"]["gzip_bytes"]


def test_exported_files_carry_quantization_provenance(trained_run, quantized):
    import emoedge
    from emoedge.model_file import read_model_file

    folder = trained_run / "run" / "quantized" / "split0_seed0"
    pruned = read_model_file(folder / "model_pruned_int8.tflite").metadata
    quantization = pruned.provenance["quantization"]
    assert "magnitude pruning to 0.50" in quantization["method"]
    assert quantization["representative_windows"] >= 200
    assert abs(quantization["sparsity"] - 0.5) <= 0.01
    assert set(quantization["sparsity_per_layer"])
    assert read_model_file(folder / "model_float.tflite").metadata.input.dtype == "float32"
    model = emoedge.load_model(folder / "model_qat_int8.tflite")
    assert model.labels == ("sad", "neutral", "happy")


def test_validation_scoring_matches_training_and_keeps_the_test_table(trained_run, quantized):
    """--evaluate-on val scores the speakers training chose its epoch on: the
    float model's UA there is the run's best validation UA, and the test
    table beside it is left as it was."""
    import json

    from emoedge.quantize.pipeline import QuantizeOptions, quantize_run

    run = trained_run / "run"
    test_table = (run / "quantized" / "table.json").read_bytes()
    table = quantize_run(QuantizeOptions(run_dir=str(run), cache_dir=str(trained_run / "cache"),
                                         evaluate_on="val", progress=False))
    rows = {row["variant"]: row for row in table}
    best = json.loads((run / "split0_seed0" / "best.json").read_text())
    assert rows["float_keras"]["ua"] == pytest.approx(best["val"], abs=1e-9)
    assert set(rows) == {"float_keras", "float_tflite", "int8"}
    written = json.loads((run / "quantized" / "table-val.json").read_text())
    assert written["evaluated_on"] == "val"
    assert "validation speakers" in (run / "quantized" / "table-val.md").read_text()
    assert (run / "quantized" / "table.json").read_bytes() == test_table


def test_an_unknown_evaluation_part_is_refused(trained_run):
    from emoedge.quantize.pipeline import QuantizeOptions

    with pytest.raises(ValueError, match="test, val"):
        QuantizeOptions(run_dir="run", evaluate_on="train")
    refused = subprocess.run([sys.executable, "-m", "emoedge", "quantize",
                              str(trained_run / "run"), "--evaluate-on", "train"],
                             capture_output=True, text=True)
    assert refused.returncode == 2
    assert "evaluate_on must be one of test, val" in refused.stderr


def test_scoring_validation_speakers_of_a_run_without_them_is_a_clear_error(trained_run,
                                                                          tmp_path):
    """A refit run (data.val_fraction = 0) has no validation speakers to score."""
    import re
    import shutil

    from emoedge.quantize.pipeline import QuantizeError, QuantizeOptions, quantize_run

    refit = tmp_path / "run"
    # without the tables other tests may have written, so a new one would show
    shutil.copytree(trained_run / "run", refit, ignore=shutil.ignore_patterns("quantized"))
    recipe = refit / "recipe.toml"
    text, count = re.subn(r"(?m)^val_fraction = .*$", "val_fraction = 0.0", recipe.read_text())
    assert count == 1
    recipe.write_text(text)
    with pytest.raises(QuantizeError, match="has no val speakers"):
        quantize_run(QuantizeOptions(run_dir=str(refit), cache_dir=str(trained_run / "cache"),
                                     evaluate_on="val", progress=False))
    assert not (refit / "quantized" / "table-val.json").exists()


def test_a_run_still_training_is_a_clear_error(trained_run, tmp_path):
    """run.json lists the folds only when training ends: quantizing a run
    before that says so instead of failing on a missing key."""
    import json
    import shutil

    from emoedge.quantize.pipeline import QuantizeOptions, quantize_run
    from emoedge.train.recipe import RecipeError

    unfinished = tmp_path / "run"
    shutil.copytree(trained_run / "run", unfinished)
    record = json.loads((unfinished / "run.json").read_text())
    del record["folds"]
    (unfinished / "run.json").write_text(json.dumps(record))
    with pytest.raises(RecipeError, match="still training"):
        quantize_run(QuantizeOptions(run_dir=str(unfinished), cache_dir=str(trained_run / "cache"),
                                     progress=False))


def test_schedule_fits_short_and_long_runs():
    from emoedge.quantize.optimize import PruningSchedule

    short = PruningSchedule.for_run(0.7, 10)
    assert (short.frequency, short.end_step) == (1, 9)
    long = PruningSchedule.for_run(0.7, 1000)
    assert (long.frequency, long.end_step) == (50, 950)
    for bad in ((0.0, 100), (1.0, 100), (0.5, 1)):
        with pytest.raises(ValueError):
            PruningSchedule.for_run(*bad)


def test_pruning_leaves_the_baseline_intact():
    import tf_keras as keras

    from emoedge.quantize.optimize import prune
    from emoedge.train.models import ModelSpec, build_model

    model = build_model(ModelSpec(architecture="mlp", frames=20, channels=8, outputs=3))
    before = [w.copy() for w in model.get_weights()]
    rng = np.random.default_rng(0)

    def batches(epoch):
        for _ in range(4):
            yield (rng.random((8, 20, 8, 1)).astype(np.float32) * 500,
                   np.eye(3, dtype=np.float32)[rng.integers(0, 3, 8)], np.ones(8, np.float32))

    pruned, per_layer, _ = prune(model, batches, sparsity=0.6, epochs=2, steps_per_epoch=4,
                                 loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)
    assert all(abs(s - 0.6) <= 0.01 for s in per_layer.values()), per_layer


def test_an_injected_float_op_is_caught(tmp_path):
    import tensorflow as tf
    import tf_keras as keras

    from emoedge.model_audit import audit_model

    inputs = keras.Input((20, 8, 1), batch_size=1)
    x = keras.layers.Conv2D(4, 3)(inputs)
    x = keras.layers.Lambda(lambda t: tf.math.sin(t))(x)  # no int8 kernel: stays float
    outputs = keras.layers.Dense(3)(keras.layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    concrete = tf.function(lambda t: model(t)).get_concrete_function(
        tf.TensorSpec([1, 20, 8, 1], tf.float32))
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    data = np.random.default_rng(0).random((50, 1, 20, 8, 1)).astype(np.float32)
    converter.representative_dataset = lambda: ([d] for d in data)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
                                           tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    content = converter.convert()
    audit = audit_model(content)
    assert not audit.integer_only and "SIN" in audit.ops and audit.float_tensors
    path = tmp_path / "mixed.tflite"
    path.write_bytes(content)
    refused = subprocess.run([sys.executable, "-m", "emoedge", "audit", str(path)],
                             capture_output=True, text=True)
    assert refused.returncode == 1 and "not integer-only" in refused.stderr
    allowed = subprocess.run([sys.executable, "-m", "emoedge", "audit", str(path), "--allow-float"],
                             capture_output=True, text=True)
    assert allowed.returncode == 0 and "float tensor" in allowed.stdout


def test_a_crashing_conversion_is_a_clear_error_not_a_dead_process():
    import tf_keras as keras

    from emoedge.quantize.convert import ConversionError
    from emoedge.quantize.isolated import convert_int8_isolated

    inputs = keras.Input((30, 8, 1), batch_size=1)
    x = keras.layers.GRU(8)(keras.layers.Reshape((30, 8))(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3)(x))
    representative = np.random.default_rng(0).random((200, 30, 8, 1)).astype(np.float32)
    with pytest.raises(ConversionError, match="crashed .*GRU"):
        convert_int8_isolated(model, representative)
    assert True  # still alive


def test_audit_reports_costs_of_the_fixture():
    import pathlib

    from emoedge.model_audit import audit_model

    content = (pathlib.Path(__file__).parent / "fixtures" / "tiny_int8.tflite").read_bytes()
    audit = audit_model(content)
    assert audit.integer_only
    assert audit.macs > 0 and audit.parameters > 0 and audit.arena_bytes > 0
    assert audit.size_bytes == len(content) and 0 < audit.gzip_bytes < len(content)


def _synthetic_windows(rng, n, frames, channels):
    """Raw-feature-like windows (uint16 range) whose class sets a spectral
    pattern in bursts: on for 25 frames, off for 25. A pattern held over the
    whole window would be a constant per channel, which window-mean input
    normalisation removes, and that model could only guess."""
    labels = rng.integers(0, 3, n)
    x = rng.normal(1000.0, 300.0, (n, frames, channels, 1))
    pattern = np.sin(np.arange(channels) * 0.7)[None, None, :]
    bursts = (np.sin(np.arange(frames) * 2 * np.pi / 50) > 0)[None, :, None]
    x[..., 0] += (labels[:, None, None] - 1) * 800.0 * pattern * bursts
    return np.clip(x, 0, 65535).astype(np.float32), labels


@pytest.mark.parametrize("architecture, input_norm, preserve_sparsity", [
    ("dscnn", "global", False), ("cnn2d", "window-mean", False), ("cnn2d", "window-mean", True)])
def test_qat_is_integer_only_and_agrees_with_float(architecture, input_norm, preserve_sparsity):
    """Regressions. QAT of this dscnn (frames=300, measured) used to keep the
    input fake-quantizer as DEQUANTIZE -> float -> QUANTIZE, because the
    input's int8 scale was derived twice and the two differed by one float32
    ulp (10.110241889953613 vs 10.11024284362793). With window-mean input
    normalisation (the default model's), the fake-quantized window means
    after the float Rescaling did the same."""
    import tensorflow as tf
    import tf_keras as keras

    from emoedge.model_audit import audit_model
    from emoedge.quantize.isolated import convert_int8_isolated
    from emoedge.quantize.optimize import quantization_aware, with_batch_one
    from emoedge.train.models import ModelSpec, build_model

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    frames, channels = 300, 40
    x, y = _synthetic_windows(rng, 256, frames, channels)
    test_x, test_y = _synthetic_windows(rng, 64, frames, channels)
    onehot = np.eye(3, dtype=np.float32)[y]
    # batch-norm momentum 0.5: the moving statistics settle within these 48
    # steps (at the recipe's 0.9 they do not, and every window gets one label)
    spec = ModelSpec(architecture=architecture, frames=frames, channels=channels, outputs=3,
                     width=0.25, feature_mean=float(x.mean()), feature_std=float(x.std()),
                     input_norm=input_norm, batch_norm_momentum=0.5)
    model = build_model(spec)
    loss = keras.losses.CategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=loss)
    model.fit(x, onehot, batch_size=32, epochs=6, verbose=0)
    float_labels = model.predict(test_x, verbose=0).argmax(axis=1)
    # agreement means something only if the float model tells the classes apart
    assert np.mean(float_labels == test_y) >= 0.9

    def batches(epoch):
        for start in range(0, len(x), 32):
            yield (x[start:start + 32], onehot[start:start + 32],
                   np.ones(len(x[start:start + 32]), np.float32))

    qat = quantization_aware(model, batches, epochs=1, steps_per_epoch=8, loss=loss,
                             preserve_sparsity=preserve_sparsity)
    content = convert_int8_isolated(with_batch_one(qat), x[:200], qat=True)
    audit = audit_model(content)
    assert audit.integer_only, (audit.ops, audit.float_tensors)
    assert "DEQUANTIZE" not in audit.ops and "QUANTIZE" not in audit.ops, audit.ops

    interpreter = tf.lite.Interpreter(model_content=content)
    interpreter.allocate_tensors()
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    scale, zero = source["quantization"]
    int8_labels = []
    for window in test_x:
        q = np.clip(np.round(window / scale + zero), -128, 127).astype(np.int8)
        interpreter.set_tensor(source["index"], q[None])
        interpreter.invoke()
        int8_labels.append(int(interpreter.get_tensor(target["index"])[0].argmax()))
    agreement = float(np.mean(np.array(int8_labels) == float_labels))
    assert agreement >= 0.9, agreement
