"""Regenerate ``golden/frontend.json`` (needs the train extra for TF's op).

The expected feature rows come from TensorFlow's ``audio_microfrontend`` op,
not from emoedge, so the committed file pins the reference's behaviour. The
per-stage rows of one frame come from emoedge's own stages, recorded once the
end-to-end rows matched TF; they show which stage broke when one does.

    python tests/make_golden.py
"""

from __future__ import annotations

import json
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from emoedge import FrontendConfig  # noqa: E402
from emoedge.frontend.pipeline import build_tables  # noqa: E402
from emoedge.frontend.window import apply_window, frame_signal  # noqa: E402
from signals import chirp, hard_clipped, voiced_speech, white_noise  # noqa: E402
from tf_reference import tf_features  # noqa: E402

GOLDEN = pathlib.Path(__file__).parent / "golden" / "frontend.json"
SECONDS = 0.1
CONFIGS = {
    "ser_default": FrontendConfig(),
    "micro_speech": FrontendConfig.micro_speech(),
    "tf_op_defaults": FrontendConfig.tf_op_defaults(),
}


def signals() -> dict[str, np.ndarray]:
    return {
        "voiced": voiced_speech(SECONDS, seed=1),
        "clipped": hard_clipped(voiced_speech(SECONDS, seed=2)),
        "noise": white_noise(SECONDS, rms=1000, seed=3),
        "chirp": chirp(SECONDS, start_hz=200, end_hz=6000, amplitude=12000),
    }


def stage_rows(pcm: np.ndarray, config: FrontendConfig, frame: int) -> dict[str, list[int]]:
    tables = build_tables(config)
    frames = frame_signal(pcm, config.window_samples, config.step_samples)[frame:frame + 1]
    windowed, peak = apply_window(frames, tables.window)
    shift = 15 - int(peak[0]).bit_length()
    scaled = (windowed.astype(np.int32) << shift).astype(np.int16)
    real, imag = tables.fft(scaled)
    return {
        "windowed_first_32": windowed[0, :32].tolist(),
        "fft_shift": [shift],
        "fft_real_first_32": real[0, :32].tolist(),
        "fft_imag_first_32": imag[0, :32].tolist(),
    }


def main() -> None:
    golden = {"signals": {}, "features": {}, "stages": {}}
    for name, pcm in signals().items():
        golden["signals"][name] = pcm.tolist()
        for config_name, config in CONFIGS.items():
            golden["features"][f"{name}/{config_name}"] = tf_features(pcm, config).tolist()
    golden["stages"]["voiced/ser_default/frame3"] = stage_rows(
        signals()["voiced"], CONFIGS["ser_default"], 3)
    GOLDEN.write_text(json.dumps(golden, separators=(",", ":")) + "\n")
    print(f"wrote {GOLDEN}")


if __name__ == "__main__":
    main()
