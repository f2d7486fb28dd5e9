"""The model-card evaluation script, run on a few real clips."""

from __future__ import annotations

import json
import pathlib

import numpy as np

from emoedge.train.model_card import add_noise, main

FIXTURE = pathlib.Path(__file__).parent / "fixtures" / "tiny_int8.tflite"


def test_add_noise_hits_the_requested_snr():
    rng = np.random.default_rng(0)
    pcm = (3000 * np.sin(np.arange(16000) / 5) + rng.normal(0, 10, 16000)).astype(np.int16)
    noisy = add_noise(pcm, 10.0, seed=1)
    noise = noisy.astype(float) - pcm
    snr = 10 * np.log10(np.mean(pcm.astype(float) ** 2) / np.mean(noise ** 2))
    assert abs(snr - 10.0) < 0.2


def test_card_numbers_on_a_few_real_clips(data_dir, tmp_path):
    status = main([str(FIXTURE), "--data", str(data_dir), "--source", "ravdess:RAVDESS",
                   "--source", "emodb:EMO-DB", "--speaker", "ravdess:01", "--speaker", "emodb:03",
                   "--limit", "4", "--out", str(tmp_path)])
    assert status == 0
    card = json.loads((tmp_path / "card.json").read_text())
    for corpus in ("ravdess", "emodb"):
        entry = card["summary"][corpus]
        assert entry["clips"] == 4
        for condition in ("clean", "snr20", "snr10", "snr0"):
            assert 0.0 <= entry[condition]["ua"]["mean"] <= 1.0
        assert (tmp_path / f"confusion_{corpus}.png").exists()
