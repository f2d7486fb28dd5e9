"""Shared fixtures: generated signals, real clips from EMOEDGE_DATA, TF availability.

Under CI (``CI`` set), a missing TensorFlow or data folder fails the run
instead of skipping, so a broken install cannot pass as green.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib

import numpy as np
import pytest

IN_CI = bool(os.environ.get("CI"))


def _unavailable(reason: str):
    if IN_CI:
        pytest.fail(f"{reason} (required under CI)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def data_dir() -> pathlib.Path:
    """The real-corpus folder from ``EMOEDGE_DATA``; skips when it is unset."""
    root = os.environ.get("EMOEDGE_DATA")
    if not root:
        _unavailable("EMOEDGE_DATA is not set: no real speech to test on")
    path = pathlib.Path(root)
    if not path.is_dir():
        _unavailable(f"EMOEDGE_DATA={root} is not a folder")
    return path


@pytest.fixture(scope="session")
def real_clips(data_dir) -> dict[str, np.ndarray]:
    """24 real clips (10 RAVDESS, 7 TESS, 7 EMO-DB) as 16 kHz int16 PCM."""
    import soundfile

    picks = []
    for pattern, count in (("RAVDESS/*/*.flac", 10), ("TESS/**/*.flac", 7), ("EMO-DB/*.flac", 7)):
        found = sorted(data_dir.glob(pattern))
        if len(found) < count:
            _unavailable(f"EMOEDGE_DATA lacks {pattern}")
        step = len(found) // count
        picks += found[::step][:count]
    clips = {}
    for path in picks:
        pcm, rate = soundfile.read(path, dtype="int16")
        assert rate == 16000 and pcm.ndim == 1, path
        clips[path.name] = pcm
    return clips


@pytest.fixture(scope="session")
def tensorflow_available() -> bool:
    if importlib.util.find_spec("tensorflow") is None:
        _unavailable("TensorFlow is not installed (pip install -e '.[train]')")
    return True
