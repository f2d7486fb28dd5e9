"""The forty-third round's per-clip rows: each validation clip's label with
the shipped windows, with one window holding the whole clip, and with 3 s
windows for clips that fill them (docs/DEFAULT_MODEL.md, the forty-third
round). Inference only: the same trained weights score every variant, in a
graph built for each window length.

    EMOEDGE_DATA=... python scripts/long_window_rows.py OUT.json.gz RUN... \\
        [--kept-cards PATTERN]

Runs, kept cards and the output are as for ``scripts/tail_window_rows.py``,
whose loop this script runs with its own variants; the table and verdict
come from ``scripts/long_window_summary.py``.
"""

from __future__ import annotations

import functools
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import tail_window_rows  # noqa: E402  (a sibling script, not a package)

from emoedge.train.dataset import evaluation_windows  # noqa: E402

# Whole-clip windows are cut to the shipped window plus a whole number of
# these steps, so a fold's clips need a few dozen graph lengths, not one
# per clip. 16 frames of 10 ms drop at most 150 ms of a clip's end.
STEP_FRAMES = 16
LONG_WINDOW_MS = 3000


def whole_clip(features: np.ndarray, window_frames: int, hop_frames: int,
               padding: str) -> np.ndarray:
    """One window of a clip's frames from the first, when the clip is longer
    than ``window_frames``; otherwise the shipped (padded) window.

    Args:
        features: (frames, channels) frontend features.
        window_frames, hop_frames: the run's window and hop, in frames.
        padding: the run's short-clip padding.
    Returns:
        uint16 (1, window_frames + k * STEP_FRAMES, channels) for a long clip
        (the largest k that fits), else the shipped windows.
    """
    frames = len(features)
    if frames <= window_frames:
        return evaluation_windows(features, window_frames, hop_frames, padding)
    kept = window_frames + STEP_FRAMES * ((frames - window_frames) // STEP_FRAMES)
    return features[None, :kept]


def longer_windows(features: np.ndarray, window_frames: int, hop_frames: int,
                   padding: str, *, long_frames: int) -> np.ndarray:
    """Windows of ``long_frames`` every hop for a clip that fills one; a
    shorter clip keeps the shipped windows. Shapes as ``whole_clip``."""
    if len(features) < long_frames:
        return evaluation_windows(features, window_frames, hop_frames, padding)
    return evaluation_windows(features, long_frames, hop_frames, padding)


def variants(trainer) -> dict:
    """The round's cuts for one run; the 3 s window in the run's own frames."""
    long_frames = trainer.recipe.frontend.frames_in_ms(LONG_WINDOW_MS)
    return {"shipped": evaluation_windows, "whole_clip": whole_clip,
            "win3s": functools.partial(longer_windows, long_frames=long_frames)}


def main(argv: list[str] | None = None) -> None:
    tail_window_rows.main(argv, variants=variants, description=__doc__)


if __name__ == "__main__":
    main()
