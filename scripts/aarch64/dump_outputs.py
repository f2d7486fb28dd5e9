"""Write what must be bit-identical across machines to one .npz file.

    python dump_outputs.py MODEL OUT.npz CLIP [CLIP ...]

For every clip: its frontend features (uint16, whole clip), and for each
model window the int8 model input and the raw int8 model output, all through
emoedge's own runtime path (decode, frontend, windowing, the int8 bridge,
the interpreter). Run it natively and under emulation and compare the files
array by array: ``tests/test_aarch64.py`` does.
"""

from __future__ import annotations

import platform
import sys

import numpy as np


def main(argv: list[str]) -> int:
    import emoedge
    from emoedge.audio import read_pcm

    model_path, out_path, *clips = argv
    model = emoedge.load_model(model_path)
    arrays = {}
    for index, clip in enumerate(clips):
        _, pcm = read_pcm(clip, model.sample_rate_hz)
        arrays[f"{index}/features"] = emoedge.compute_features(pcm, model.metadata.frontend)
        recognizer = model.stream()
        inputs, outputs = [], []
        for _, frames in recognizer.feature_windows(recognizer.features(pcm)):
            model_input = model.runner.quantize_input(frames)
            inputs.append(model_input)
            outputs.append(model.runner.invoke(model_input))
        arrays[f"{index}/inputs"] = np.stack(inputs)
        arrays[f"{index}/outputs"] = np.stack(outputs)
    arrays["machine"] = np.array(platform.machine())
    np.savez(out_path, **arrays)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
