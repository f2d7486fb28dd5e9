"""Audio input: every format, rate and channel count, and each bad-input kind."""

from __future__ import annotations

import os

import numpy as np
import pytest
import soundfile

from emoedge.audio import AudioError, float_to_pcm16, pcm_blocks, read_pcm, to_model_pcm
from signals import voiced_speech

RATE = 16000


def _speech_float(seconds=0.5, rate=RATE, channels=1):
    pcm = voiced_speech(seconds)
    if rate != RATE:
        import soxr

        mono = soxr.resample(pcm / 32768.0, RATE, rate)
    else:
        mono = pcm / 32768.0
    return np.stack([mono] * channels, axis=1) if channels > 1 else mono


@pytest.mark.parametrize("fmt, subtype, extension", [
    ("WAV", "PCM_U8", ".wav"), ("WAV", "PCM_16", ".wav"), ("WAV", "PCM_24", ".wav"),
    ("WAV", "FLOAT", ".wav"), ("FLAC", "PCM_16", ".flac"), ("FLAC", "PCM_24", ".flac"),
    ("OGG", "VORBIS", ".ogg"),
])
@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100, 48000])
@pytest.mark.parametrize("channels", [1, 2])
def test_every_format_rate_and_channel_count_decodes(tmp_path, fmt, subtype, extension, rate,
                                                     channels):
    path = tmp_path / f"clip{extension}"
    soundfile.write(path, _speech_float(0.5, rate, channels), rate, format=fmt, subtype=subtype)
    info, pcm = read_pcm(path, RATE)
    assert (info.sample_rate_hz, info.channels) == (rate, channels)
    assert pcm.dtype == np.int16 and pcm.ndim == 1
    assert abs(len(pcm) - 0.5 * RATE) <= 2
    reference = voiced_speech(0.5).astype(float)
    n = min(len(pcm), len(reference))
    # Lossy and resampled paths still carry the same signal.
    assert np.corrcoef(pcm[:n].astype(float), reference[:n])[0, 1] > 0.9


def test_mono_pcm16_at_model_rate_is_bit_exact(tmp_path):
    pcm = voiced_speech(0.5)
    path = tmp_path / "exact.flac"
    soundfile.write(path, pcm, RATE, subtype="PCM_16")
    np.testing.assert_array_equal(read_pcm(path, RATE)[1], pcm)


def test_blocks_are_bounded_and_concatenate_to_the_whole(tmp_path):
    path = tmp_path / "long.wav"
    soundfile.write(path, _speech_float(3.0, 44100, 2), 44100, subtype="PCM_16")
    _, blocks = pcm_blocks(path, RATE, block_seconds=0.5)
    parts = list(blocks)
    assert len(parts) >= 6 and max(len(p) for p in parts) <= 0.5 * RATE + 100
    np.testing.assert_array_equal(np.concatenate(parts), read_pcm(path, RATE)[1])


def test_float_to_pcm16_rounding_and_clipping():
    samples = np.array([0.0, 0.5 / 32768, 1.5 / 32768, -0.5 / 32768, 1.0, -1.0, 2.0, -2.0])
    assert float_to_pcm16(samples).tolist() == [0, 0, 2, 0, 32767, -32768, 32767, -32768]


def test_in_memory_conversions():
    pcm = voiced_speech(0.2)
    assert to_model_pcm(pcm, RATE, RATE) is pcm
    stereo = np.stack([pcm, pcm], axis=1)
    np.testing.assert_array_equal(to_model_pcm(stereo, RATE, RATE), pcm)
    as_float = to_model_pcm(pcm / 32768.0, RATE, RATE)
    np.testing.assert_array_equal(as_float, pcm)
    resampled = to_model_pcm(pcm, RATE, 8000)
    assert abs(len(resampled) - len(pcm) // 2) <= 1


@pytest.mark.parametrize("bad, message", [
    (np.array([0.0, np.nan]), "NaN"), (np.array([0.0, np.inf]), "NaN"),
    (np.zeros((2, 2, 2)), "shaped"), (np.array(["a"]), "dtype"),
])
def test_in_memory_bad_samples(bad, message):
    with pytest.raises(AudioError, match=message):
        to_model_pcm(bad, RATE, RATE)


def test_nan_in_a_float_file(tmp_path):
    path = tmp_path / "nan.wav"
    data = _speech_float(0.2)
    data[100] = np.nan
    soundfile.write(path, data, RATE, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN"):
        read_pcm(path, RATE)


def _bad_inputs(tmp_path):
    good = tmp_path / "good.wav"
    soundfile.write(good, voiced_speech(0.5), RATE, subtype="PCM_16")
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "text.wav").write_text("this is not audio")
    (tmp_path / "truncated.wav").write_bytes(good.read_bytes()[:3000])
    flac = tmp_path / "good.flac"
    soundfile.write(flac, voiced_speech(2.0), RATE, subtype="PCM_16")
    (tmp_path / "truncated.flac").write_bytes(flac.read_bytes()[:5000])
    os.symlink(tmp_path / "nowhere.wav", tmp_path / "broken.wav")
    (tmp_path / "folder.wav").mkdir()
    return {
        "empty.wav": "empty file",
        "text.wav": "not a readable audio file",
        "truncated.wav": "truncated",
        "truncated.flac": "truncated",
        "broken.wav": "broken symbolic link",
        "folder.wav": "folder",
        "missing.wav": "file not found",
    }


def test_each_bad_input_kind_gives_a_one_line_reason(tmp_path):
    for name, message in _bad_inputs(tmp_path).items():
        with pytest.raises(AudioError) as caught:
            read_pcm(tmp_path / name, RATE)
        text = str(caught.value)
        assert message in text, (name, text)
        assert "\n" not in text


def test_unreadable_file(tmp_path, monkeypatch):
    """CI runs as root, who can read any file, so simulate the denial."""
    path = tmp_path / "locked.wav"
    soundfile.write(path, voiced_speech(0.1), RATE)

    def deny(*args, **kwargs):
        raise RuntimeError("Error opening: Permission denied")

    monkeypatch.setattr(soundfile, "SoundFile", deny)
    monkeypatch.setattr(os, "access", lambda *args: False)
    with pytest.raises(AudioError, match="permission denied"):
        read_pcm(path, RATE)
