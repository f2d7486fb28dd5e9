"""Audio input: decode any file soundfile reads, to mono int16 at the model's rate.

Conversion, in this order and nothing else:
1. decode (WAV, FLAC, OGG, ...) with soundfile (libsndfile);
2. mono int16 already at the target rate is used as is, bit for bit;
3. otherwise samples are read as float64 in [-1, 1), downmixed by the mean
   over channels, resampled with soxr (high quality), scaled by 32768,
   rounded half to even and clipped to [-32768, 32767].

Files are read in blocks, so memory stays constant however long the file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator

import numpy as np

AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif", ".au", ".mp3"})
BLOCK_SECONDS = 10.0


class AudioError(ValueError):
    """A file that cannot be turned into PCM; the message is one line."""


@dataclass(frozen=True)
class AudioInfo:
    """What the file header says."""

    sample_rate_hz: int
    channels: int
    frames: int
    subtype: str

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate_hz if self.sample_rate_hz else 0.0


def float_to_pcm16(samples: np.ndarray) -> np.ndarray:
    """[-1, 1) floats to int16: x * 32768, rounded half to even, clipped.

    Raises:
        AudioError: on NaN or infinite samples.
    """
    if not np.isfinite(samples).all():
        raise AudioError("audio contains NaN or infinite samples")
    return np.clip(np.rint(samples * 32768.0), -32768, 32767).astype(np.int16)


def open_audio(path: str | os.PathLike) -> tuple[AudioInfo, object]:
    """Open a file for block reading; one-line AudioError on any failure."""
    import soundfile

    try:
        handle = soundfile.SoundFile(os.fspath(path))
    except (RuntimeError, OSError, TypeError, ValueError) as error:
        raise AudioError(_describe_open_error(path, error)) from None
    info = AudioInfo(handle.samplerate, handle.channels, handle.frames, handle.subtype)
    problem = None
    if info.sample_rate_hz <= 0 or info.channels <= 0:
        problem = "audio header has no sample rate or channels"
    elif handle.format in ("WAV", "WAVEX"):
        problem = _wav_truncation(path)
    if problem:
        handle.close()
        raise AudioError(problem)
    return info, handle


def _wav_truncation(path) -> str | None:
    """libsndfile quietly shortens a WAV whose data chunk runs past the end
    of the file; report that as truncation instead of scoring part of it."""
    import struct

    with open(path, "rb") as raw:
        header = raw.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            return None
        size = os.fstat(raw.fileno()).st_size
        position = 12
        while position + 8 <= size:
            raw.seek(position)
            chunk_id, chunk_size = struct.unpack("<4sI", raw.read(8))
            if chunk_id == b"data":
                available = size - position - 8
                if chunk_size != 0xFFFFFFFF and chunk_size > available:
                    return (f"truncated WAV: header declares {chunk_size} bytes of audio, "
                            f"the file holds {available}")
                return None
            position += 8 + chunk_size + (chunk_size & 1)
    return None


def pcm_blocks(path: str | os.PathLike, target_rate_hz: int,
               block_seconds: float = BLOCK_SECONDS) -> tuple[AudioInfo, Iterator[np.ndarray]]:
    """Decode a file lazily into mono int16 blocks at ``target_rate_hz``.

    Returns:
        (header info, generator of 1-D int16 arrays). The generator raises
        AudioError if the file turns out truncated or corrupt mid-way.
    """
    info, handle = open_audio(path)
    converter = BlockConverter(info, target_rate_hz)
    return info, _converted(decode_blocks(handle, info, converter.passthrough, block_seconds),
                            converter)


def read_pcm(path: str | os.PathLike, target_rate_hz: int) -> tuple[AudioInfo, np.ndarray]:
    """Decode a whole file at once (for short clips); see :func:`pcm_blocks`."""
    info, blocks = pcm_blocks(path, target_rate_hz)
    parts = list(blocks)
    return info, np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)


def to_model_pcm(samples: np.ndarray, sample_rate_hz: int, target_rate_hz: int) -> np.ndarray:
    """In-memory PCM (int16, or float in [-1, 1); mono or (n, channels)) to mono int16.

    Applies the same rules as file decoding.
    """
    array = np.asarray(samples)
    if array.ndim not in (1, 2):
        raise AudioError(f"expected samples shaped (n,) or (n, channels), got {array.shape}")
    if sample_rate_hz <= 0:
        raise AudioError(f"sample rate must be positive, got {sample_rate_hz}")
    if array.dtype == np.int16 and array.ndim == 1 and sample_rate_hz == target_rate_hz:
        return array
    if array.dtype.kind in "iu":
        scale = float(2 ** (8 * array.dtype.itemsize - 1))
        offset = scale if array.dtype.kind == "u" else 0.0
        floats = (array.astype(np.float64) - offset) / scale
    elif array.dtype.kind == "f":
        floats = array.astype(np.float64)
    else:
        raise AudioError(f"unsupported sample dtype {array.dtype}")
    mono = floats.mean(axis=1) if floats.ndim == 2 else floats
    if not np.isfinite(mono).all():
        raise AudioError("audio contains NaN or infinite samples")
    if sample_rate_hz != target_rate_hz:
        import soxr

        mono = soxr.resample(mono, sample_rate_hz, target_rate_hz, quality="HQ")
    return float_to_pcm16(mono)


def decode_blocks(handle, info: AudioInfo, passthrough: bool,
                  block_seconds: float = BLOCK_SECONDS) -> Iterator[tuple[np.ndarray, bool]]:
    """Step 1 of :func:`pcm_blocks`: read the file in blocks, as decoded.

    Yields:
        (block, is_last): int16 samples (n,) when ``passthrough``, else
        float64 samples (n, channels). Closes the file at the end.
    Raises:
        AudioError: the file turns out truncated or corrupt mid-way.
    """
    block_frames = max(1, int(block_seconds * info.sample_rate_hz))
    with handle:
        while True:
            try:
                block = handle.read(block_frames, dtype="int16" if passthrough else "float64",
                                    always_2d=not passthrough)
            except (RuntimeError, OSError, ValueError) as error:
                raise AudioError(f"corrupt or truncated audio: {_one_line(error)}") from None
            last = len(block) < block_frames
            yield block, last
            if last:
                return


class BlockConverter:
    """Step 2 of :func:`pcm_blocks`: decoded blocks to mono int16 at the target
    rate (downmix, resample with soxr HQ, round), keeping the resampler's state
    across blocks.

    Attributes:
        passthrough: mono 16-bit audio already at the target rate; blocks are
            used bit for bit and nothing is converted.
        resamples: whether blocks go through the resampler.
    """

    def __init__(self, info: AudioInfo, target_rate_hz: int) -> None:
        self.passthrough = (info.channels == 1 and info.subtype == "PCM_16"
                            and info.sample_rate_hz == target_rate_hz)
        self.resamples = info.sample_rate_hz != target_rate_hz
        self._resampler = None
        if self.resamples:
            import soxr

            self._resampler = soxr.ResampleStream(info.sample_rate_hz, target_rate_hz, 1,
                                                  dtype="float64", quality="HQ")

    def __call__(self, block: np.ndarray, last: bool) -> np.ndarray:
        """One decoded block (see :func:`decode_blocks`) as 1-D int16; may be empty."""
        if self.passthrough:
            return block
        mono = block.mean(axis=1) if len(block) else np.zeros(0)
        if not np.isfinite(mono).all():
            raise AudioError("audio contains NaN or infinite samples")
        if self._resampler is not None:
            mono = self._resampler.resample_chunk(mono, last=last)
        return float_to_pcm16(mono)


def _converted(blocks: Iterator[tuple[np.ndarray, bool]],
               converter: BlockConverter) -> Iterator[np.ndarray]:
    for block, last in blocks:
        pcm = converter(block, last)
        if len(pcm):
            yield pcm


def _describe_open_error(path, error: Exception) -> str:
    if not os.path.lexists(path):
        return "file not found"
    if os.path.islink(path) and not os.path.exists(path):
        return "broken symbolic link"
    if os.path.isdir(path):
        return "is a folder, not an audio file"
    if not os.access(path, os.R_OK):
        return "permission denied"
    if os.path.getsize(path) == 0:
        return "empty file"
    return f"not a readable audio file ({_one_line(error)})"


def _one_line(error: Exception) -> str:
    text = " ".join(str(error).split())
    return text[:200] if text else type(error).__name__
