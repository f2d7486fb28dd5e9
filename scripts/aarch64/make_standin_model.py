"""A stand-in for a model that is not trained yet, to measure its cost now.

    python scripts/aarch64/make_standin_model.py OUT.tflite [--recipe recipes/default_model.toml]
        [--seed 0]

Builds the zoo architecture a recipe names (default: the packaged default
model's recipe, ``recipes/default_model.toml``), at the recipe's width,
window, hop, labels and frontend, with **random, untrained weights**, converts
it to full int8 with the project's own converter (representative windows:
frontend features of ``emoedge bench``'s generated signal at random gains) and
embeds emoedge metadata, the recipe's valence/arousal map included. Its
predictions mean nothing; its cost per window is that of a trained model of
the same shape, since the work of an int8 graph does not depend on the
weights' values. Needs the train extra (TensorFlow).
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[2]


def representative_windows(config, frames: int, count: int, seed: int) -> np.ndarray:
    from emoedge import compute_features
    from emoedge.commands.bench import speech_like_signal

    rng = np.random.default_rng(seed)
    samples = (frames - 1) * config.step_samples + config.window_samples
    windows = []
    for index in range(count):
        gain = 10 ** rng.uniform(-2.0, 0.0)
        signal = speech_like_signal(samples / config.sample_rate_hz, config.sample_rate_hz,
                                    seed=index)
        pcm = np.round(signal * gain * 32767).astype(np.int16)
        windows.append(compute_features(pcm, config)[:frames])
    return np.stack(windows).astype(np.float32)[..., None]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output")
    parser.add_argument("--recipe", default=str(REPO / "recipes" / "default_model.toml"))
    parser.add_argument("--seed", type=int, default=0)
    options = parser.parse_args(argv)

    import tensorflow as tf

    from emoedge.metadata import ModelMetadata
    from emoedge.quantize.convert import convert_int8
    from emoedge.quantize.export import embed_metadata, write_model_atomically
    from emoedge.train.export import tensor_specs
    from emoedge.train.models import build_model, spec_from_recipe
    from emoedge.train.recipe import load_recipe

    recipe = load_recipe(options.recipe)
    tf.random.set_seed(options.seed)
    config = recipe.frontend
    frames = config.num_frames(recipe.window.window_ms * config.sample_rate_hz // 1000)
    representative = representative_windows(config, frames, 200, options.seed)
    labels = tuple(recipe.data.labels)
    spec = spec_from_recipe(recipe, frames=frames, outputs=len(labels),
                            feature_mean=float(representative.mean()),
                            feature_std=float(representative.std()))
    content = convert_int8(build_model(spec, batch_size=1), representative)
    model_input, model_output = tensor_specs(content)
    metadata = ModelMetadata(
        frontend=config, labels=labels, window_ms=recipe.window.window_ms,
        hop_ms=recipe.window.hop_ms, task="classification", output_kind="logits",
        input=model_input, output=model_output,
        valence_arousal=dict(recipe.export.valence_arousal) or None,
        provenance={"note": "stand-in with random untrained weights, for cost measurement only",
                    "recipe": pathlib.Path(options.recipe).name, "seed": options.seed})
    write_model_atomically(options.output, embed_metadata(content, metadata))
    print(f"wrote {options.output}: {recipe.model.architecture} x{recipe.model.width}, "
          f"{frames} frames x {config.num_channels} channels, {len(labels)} labels, "
          f"{len(content)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
