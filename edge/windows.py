"""Cutting a stream of feature frames into model windows.

A window is ``window_frames`` consecutive frames; windows start every
``hop_frames`` frames. Only the last ``window_frames`` frames are kept, so
memory does not grow with the stream.

Clips shorter than one window: :func:`pad_to_window` fills the window with
copies of the clip's per-channel minimum frame (its noise floor), never
digital zeros: a device never hears exact zeros, and a model must not learn
that zeros mean "short clip". Or, with ``padding="repeat"``, it repeats the
clip's own frames, so the window holds only the clip's speech and its
statistics stay the clip's. The model file names which (its metadata's
``short_clip_padding``), and training pads with this same function.
"""

from __future__ import annotations

import numpy as np

PADDINGS = ("noise-floor", "repeat")


def pad_to_window(frames: np.ndarray, window_frames: int,
                  padding: str = "noise-floor") -> np.ndarray:
    """Pad a short run of frames to a full window.

    Args:
        frames: uint16 features, shape (k, channels), 1 <= k.
        window_frames: frames a window needs.
        padding: "noise-floor" appends the per-channel minimum frame;
            "repeat" appends the frames again from the first, as often as
            the window needs.
    Returns:
        uint16 array, shape (max(k, window_frames), channels).
    Raises:
        ValueError: ``padding`` is not one of :data:`PADDINGS`.
    """
    if padding not in PADDINGS:
        raise ValueError(f"unknown padding {padding!r}; choose one of {', '.join(PADDINGS)}")
    missing = window_frames - len(frames)
    if missing <= 0:
        return frames
    if padding == "repeat":
        return np.resize(frames, (window_frames, frames.shape[1]))
    floor = frames.min(axis=0, keepdims=True)
    return np.concatenate([frames, np.repeat(floor, missing, axis=0)])


class FrameWindower:
    """Collect frames; hand out each full window once, in order."""

    def __init__(self, *, window_frames: int, hop_frames: int, num_channels: int,
                 padding: str = "noise-floor") -> None:
        self.window_frames = window_frames
        self.padding = padding
        self.hop_frames = hop_frames
        self.num_channels = num_channels
        self.reset()

    def reset(self) -> None:
        self._frames = np.zeros((0, self.num_channels), dtype=np.uint16)
        self._first_index = 0  # stream index of self._frames[0]
        self._next_start = 0  # stream index where the next window starts
        self.windows_emitted = 0

    @property
    def frames_seen(self) -> int:
        return self._first_index + len(self._frames)

    def push(self, frames: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """Add frames; return (start frame index, window) for each completed window."""
        self._frames = np.concatenate([self._frames, frames])
        windows = []
        while self._next_start + self.window_frames <= self.frames_seen:
            offset = self._next_start - self._first_index
            windows.append((self._next_start, self._frames[offset:offset + self.window_frames]))
            self._next_start += self.hop_frames
        self.windows_emitted += len(windows)
        self._drop_frames_before(self._next_start)
        return windows

    def pad_remaining(self) -> tuple[int, np.ndarray] | None:
        """A padded window of everything seen, if no full window ever came.

        Returns None when a window was already emitted or no frame arrived.
        """
        if self.windows_emitted or self.frames_seen == 0:
            return None
        self.windows_emitted = 1
        return 0, pad_to_window(self._frames, self.window_frames, self.padding)

    def _drop_frames_before(self, index: int) -> None:
        drop = min(max(index - self._first_index, 0), len(self._frames))
        if drop:
            self._frames = self._frames[drop:]
            self._first_index += drop
