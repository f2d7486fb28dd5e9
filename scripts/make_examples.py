"""Synthesise the example clips in ``examples/`` with espeak-ng.

The corpora's licences keep their audio out of this repository, so the
README's main command runs on speech synthesised here: one sentence read by
espeak-ng with a few prosody settings (rate in words per minute, pitch 0-99,
amplitude 0-200), resampled to 16 kHz mono int16 with soxr. The names say the
prosody, not an emotion: synthetic speech has no ground-truth emotion, so
these clips show what the command prints, not how accurate the model is.

    apt-get install espeak-ng && python scripts/make_examples.py
"""

from __future__ import annotations

import pathlib
import subprocess
import sys
import tempfile

import numpy as np
import soundfile
import soxr

from emoedge.audio import float_to_pcm16

SENTENCE_EN = "I can't believe you did that again, we talked about this yesterday."
SENTENCE_DE = "Das habe ich dir doch gestern schon gesagt, warum machst du das wieder?"

# name: (voice, words per minute, pitch, amplitude, text)
CLIPS = {
    "espeak_en_plain": ("en-us", 160, 50, 100, SENTENCE_EN),
    "espeak_en_slow_low": ("en-us", 110, 20, 70, SENTENCE_EN),
    "espeak_en_fast_high": ("en-us", 210, 85, 180, SENTENCE_EN),
    "espeak_de_plain": ("de", 160, 50, 100, SENTENCE_DE),
}
RATE_HZ = 16000


def synthesise(voice: str, wpm: int, pitch: int, amplitude: int, text: str) -> np.ndarray:
    """espeak-ng's output as 16 kHz mono int16."""
    with tempfile.TemporaryDirectory() as folder:
        raw = pathlib.Path(folder) / "raw.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(wpm), "-p", str(pitch),
                        "-a", str(amplitude), "-w", str(raw), text], check=True)
        samples, rate = soundfile.read(raw, dtype="float32")
    return float_to_pcm16(soxr.resample(samples, rate, RATE_HZ, quality="HQ"))


def main(out: str = "examples") -> int:
    folder = pathlib.Path(out)
    folder.mkdir(exist_ok=True)
    for name, settings in CLIPS.items():
        soundfile.write(folder / f"{name}.wav", synthesise(*settings), RATE_HZ, subtype="PCM_16")
        print(f"wrote {folder / name}.wav")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
