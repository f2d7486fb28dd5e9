"""Write the tiny int8 model fixtures under tests/fixtures/ (needs the train extra).

    python tests/make_test_model.py

The model is a random test fixture: a few training steps on generated
signals with random labels, so its predictions mean nothing. It exists so
the device-side tests (metadata, ``emoedge info``, the runtime) have a real
full-int8 model without TensorFlow. The fixtures are committed; rerun this
only when the metadata schema or the model layout changes.
"""

from __future__ import annotations

import pathlib

import numpy as np

import emoedge
from emoedge.interpreter import load_interpreter
from emoedge.metadata import ModelMetadata, TensorSpec
from emoedge.quantize.export import embed_metadata, write_model_atomically

FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures"
LABELS = ("neutral", "happy", "sad", "angry")
VALENCE_AROUSAL = {"neutral": (0.0, 0.0), "happy": (0.8, 0.5), "sad": (-0.6, -0.4),
                   "angry": (-0.6, 0.8)}
WINDOW_MS, HOP_MS = 1000, 500
NUM_EXAMPLES = 256  # also the representative dataset; the converter wants >= 200
TRAIN_STEPS = 8
SEED = 1234


def generated_features(count: int, config: emoedge.FrontendConfig, seed: int) -> np.ndarray:
    """Frontend features of random tone-plus-noise clips, float32 (count, 98, 40, 1).

    Random loudness and pitch spread the features over the range real speech
    reaches (about 0..1000), which sets the int8 input scale realistically.
    """
    rng = np.random.default_rng(seed)
    samples = WINDOW_MS * config.sample_rate_hz // 1000
    t = np.arange(samples) / config.sample_rate_hz
    batch = []
    for _ in range(count):
        amplitude = 10 ** rng.uniform(1.5, 4.2)
        tone = amplitude * np.sin(2 * np.pi * rng.uniform(80, 4000) * t)
        noise = rng.normal(0, amplitude * rng.uniform(0.01, 0.5), samples)
        pcm = np.clip(np.round(tone + noise), -32768, 32767).astype(np.int16)
        batch.append(emoedge.compute_features(pcm, config))
    return np.stack(batch).astype(np.float32)[..., np.newaxis]


def build_model(input_shape: tuple[int, int, int]):
    """Two small conv blocks to 4 logits; the input is raw uint16 features."""
    import tf_keras

    layers = tf_keras.layers
    return tf_keras.Sequential([
        layers.Input(shape=input_shape),
        layers.Rescaling(1 / 500, offset=-1.0),  # 0..1000 -> -1..1 inside the model
        layers.Conv2D(8, 3, strides=2, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(16, 3, activation="relu"),
        layers.GlobalAveragePooling2D(),
        layers.Dense(len(LABELS)),
    ])


def train(model, features: np.ndarray, seed: int) -> None:
    import tf_keras

    labels = np.random.default_rng(seed).integers(0, len(LABELS), len(features))
    model.compile(optimizer=tf_keras.optimizers.Adam(1e-3),
                  loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(features, labels, batch_size=len(features) // TRAIN_STEPS, epochs=1,
              shuffle=False, verbose=0)


def convert_int8(model, representative: np.ndarray) -> bytes:
    """Full-integer conversion: int8 weights, activations, input and output."""
    import tensorflow as tf

    def samples():
        for example in representative:
            yield [example[np.newaxis]]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = samples
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert()


def tensor_spec(details: dict) -> TensorSpec:
    scale, zero_point = details["quantization"]
    return TensorSpec(shape=tuple(int(d) for d in details["shape"]),
                      dtype=np.dtype(details["dtype"]).name, scale=float(scale),
                      zero_point=int(zero_point))


def fixture_metadata(tflite: bytes, config: emoedge.FrontendConfig) -> ModelMetadata:
    interpreter, _ = load_interpreter(tflite)
    return ModelMetadata(
        frontend=config, labels=LABELS, window_ms=WINDOW_MS, hop_ms=HOP_MS,
        task="classification", output_kind="logits",
        input=tensor_spec(interpreter.get_input_details()[0]),
        output=tensor_spec(interpreter.get_output_details()[0]),
        valence_arousal=VALENCE_AROUSAL,
        provenance={"purpose": "random test fixture; predictions are meaningless",
                    "data": f"{NUM_EXAMPLES} generated tone+noise clips, random labels",
                    "training": f"{TRAIN_STEPS} Adam steps, seed {SEED}",
                    "quantization": "full int8, representative dataset of "
                                    f"{NUM_EXAMPLES} examples",
                    "script": "tests/make_test_model.py"})


def main() -> None:
    import tensorflow as tf
    import tf_keras

    tf_keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()
    config = emoedge.FrontendConfig()
    features = generated_features(NUM_EXAMPLES, config, SEED)
    model = build_model(features.shape[1:])
    train(model, features, SEED)
    tflite = convert_int8(model, features)
    FIXTURES.mkdir(exist_ok=True)
    write_model_atomically(FIXTURES / "tiny_int8_no_metadata.tflite", tflite)
    with_metadata = embed_metadata(tflite, fixture_metadata(tflite, config))
    write_model_atomically(FIXTURES / "tiny_int8.tflite", with_metadata)
    for name in ("tiny_int8.tflite", "tiny_int8_no_metadata.tflite"):
        print(f"wrote {FIXTURES / name} ({(FIXTURES / name).stat().st_size} bytes)")


if __name__ == "__main__":
    main()
