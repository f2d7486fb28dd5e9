"""The model-card evaluation script, run on a few real clips."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

from emoedge.train.model_card import add_noise, apply_gain, apply_tilt, main

FIXTURE = pathlib.Path(__file__).parent / "fixtures" / "tiny_int8.tflite"


def test_add_noise_hits_the_requested_snr():
    rng = np.random.default_rng(0)
    pcm = (3000 * np.sin(np.arange(16000) / 5) + rng.normal(0, 10, 16000)).astype(np.int16)
    noisy = add_noise(pcm, 10.0, seed=1)
    noise = noisy.astype(float) - pcm
    snr = 10 * np.log10(np.mean(pcm.astype(float) ** 2) / np.mean(noise ** 2))
    assert abs(snr - 10.0) < 0.2


def test_apply_gain_scales_rounds_and_saturates():
    pcm = np.array([0, 1000, -1000, 20000, -20000], dtype=np.int16)
    assert apply_gain(pcm, 6.0).tolist() == [0, 1995, -1995, 32767, -32768]
    assert apply_gain(pcm, -12.0).tolist() == [0, 251, -251, 5024, -5024]


def test_apply_tilt_tips_the_spectrum_by_the_asked_decibels_at_the_same_level():
    n = np.arange(16000)
    low = (8000 * np.sin(2 * np.pi * 100 * n / 16000)).astype(np.int16)
    high = (8000 * np.sin(2 * np.pi * 7900 * n / 16000)).astype(np.int16)

    def rms(x):
        return np.sqrt(np.mean(x.astype(float) ** 2))

    mixed = (low.astype(int) + high.astype(int) // 8).astype(np.int16)  # high 18 dB below low
    for tilt in (-6.0, 6.0):
        tilted = apply_tilt(mixed, tilt)
        assert rms(tilted) == pytest.approx(rms(mixed), rel=1e-3)
        spectrum = np.abs(np.fft.rfft(tilted.astype(float)))  # 1 Hz bins
        high_over_low_db = 20 * np.log10(spectrum[7900] / spectrum[100])
        assert high_over_low_db == pytest.approx(20 * np.log10(1 / 8) + tilt, abs=0.2)
    assert apply_tilt(np.zeros(10, dtype=np.int16), 6.0).tolist() == [0] * 10


def test_card_numbers_on_a_few_real_clips(data_dir, tmp_path):
    import emoedge
    from emoedge.audio import read_pcm
    from emoedge.train.augment import fill_zeros

    status = main([str(FIXTURE), "--data", str(data_dir), "--source", "ravdess:RAVDESS",
                   "--source", "emodb:EMO-DB", "--speaker", "ravdess:01", "--speaker", "emodb:03",
                   "--limit", "4", "--out", str(tmp_path)])
    assert status == 0
    card = json.loads((tmp_path / "card.json").read_text())
    model = emoedge.load_model(FIXTURE, num_threads=1)
    # what the model file says of the machine that trained it (None: it does not say)
    assert card["models"][0]["trained_on"] == model.metadata.provenance.get("trained_on")
    for corpus in ("ravdess", "emodb"):
        entry = card["summary"][corpus]
        rows = card["per_model"][0][corpus]["predictions"]
        assert entry["clips"] == len(rows) == 4
        for condition in ("clean", "snr20", "snr10", "snr0", "gain-12", "gain+6",
                          "tilt-6", "tilt+6", "gate-60", "fill-zeros"):
            # UA = mean recall over the labels present, recomputed from the rows.
            present = sorted({r["true"] for r in rows})
            recalls = [np.mean([r[condition] == label for r in rows if r["true"] == label])
                       for label in present]
            assert entry[condition]["ua"]["mean"] == pytest.approx(np.mean(recalls))
        for row in rows:  # the card's clean predictions are what `emoedge score` says
            assert row["clean"] == model.predict_file(data_dir / row["path"]).label
            # and the filled ones what the model says of the clip with its zeros lifted
            pcm = read_pcm(data_dir / row["path"], model.sample_rate_hz)[1]
            assert row["fill-zeros"] == model.predict(
                fill_zeros(pcm, seed=0), model.sample_rate_hz).label
        assert (tmp_path / f"confusion_{corpus}.png").exists()
    assert "| ravdess | 4 | 1 |" in (tmp_path / "card.md").read_text()
    assert "UA with exact zeros filled" in (tmp_path / "card.md").read_text()
    assert (tmp_path / "robustness.png").stat().st_size > 0


def test_float_reference_from_the_fold_directory(data_dir, tmp_path):
    """A model in its fold directory is compared with the float model's
    predictions there: float UA and int8 argmax agreement, per corpus."""
    import shutil

    fold = tmp_path / "split0_seed0"
    fold.mkdir()
    model_path = fold / "model_int8.tflite"
    shutil.copy(FIXTURE, model_path)
    clips = sorted((data_dir / "RAVDESS" / "Actor_01").glob("*.flac"))[:4]
    # float "predicts" index 0 (neutral) for the first two clips, 1 (happy) for the rest
    rows = [{"clip": str(c), "target": 0, "output": [1.0, 0.0, 0.0, 0.0] if i < 2 else
             [0.0, 1.0, 0.0, 0.0]} for i, c in enumerate(clips)]
    (fold / "predictions.json").write_text(json.dumps(rows))
    out = tmp_path / "card"
    assert main([str(model_path), "--data", str(data_dir), "--source", "ravdess:RAVDESS",
                 "--speaker", "ravdess:01", "--limit", "4", "--out", str(out)]) == 0
    entry = json.loads((out / "card.json").read_text())["per_model"][0]["ravdess"]
    assert [r["path"] for r in entry["predictions"]] == [
        c.relative_to(data_dir).as_posix() for c in clips]
    floats = ["neutral", "neutral", "happy", "happy"]
    truth = [r["true"] for r in entry["predictions"]]
    assert entry["agreement_with_float"] == pytest.approx(
        np.mean([f == r["clean"] for f, r in zip(floats, entry["predictions"])]))
    present = sorted(set(truth))
    assert entry["float"]["ua"] == pytest.approx(np.mean(
        [np.mean([f == t for f, t in zip(floats, truth) if t == label]) for label in present]))
    assert "int8 agreement with float" in (out / "card.md").read_text()


def _ravdess_folder(root: pathlib.Path) -> pathlib.Path:
    """Generated clips named like RAVDESS: actors 01-03, neutral and happy."""
    import soundfile

    from signals import voiced_speech

    for actor in (1, 2, 3):
        folder = root / "RAVDESS" / f"Actor_{actor:02d}"
        folder.mkdir(parents=True)
        for emotion, pitch in ((1, 120), (3, 260)):
            name = f"03-01-{emotion:02d}-01-01-01-{actor:02d}.wav"
            soundfile.write(folder / name, voiced_speech(1.0, pitch_hz=pitch, seed=actor),
                            16000, subtype="PCM_16")
    return root


def _fold(tmp_path, split_record: str) -> pathlib.Path:
    """A copy of the fixture model in a fold folder, beside ``split_record`` (split.json)."""
    import shutil

    fold = tmp_path / "run" / "split0_seed0"
    fold.mkdir(parents=True)
    shutil.copy(FIXTURE, fold / "model_int8.tflite")
    (fold / "split.json").write_text(split_record)
    return fold / "model_int8.tflite"


def test_held_out_val_scores_the_folds_validation_speakers(tmp_path):
    data = _ravdess_folder(tmp_path / "data")
    model = _fold(tmp_path, json.dumps({"parts": {"train": {"speakers": ["ravdess:03"]},
                                                  "val": {"speakers": ["ravdess:02"]},
                                                  "test": {"speakers": ["ravdess:01"]}}}))
    out = tmp_path / "card"
    assert main([str(model), "--data", str(data), "--source", "ravdess:RAVDESS",
                 "--held-out", "val", "--out", str(out)]) == 0
    card = json.loads((out / "card.json").read_text())
    assert card["held_out"] == "each model's val speakers"
    assert (out / "card.md").read_text().startswith("Scored on each model's val speakers.\n")
    rows = card["per_model"][0]["ravdess"]["predictions"]
    assert sorted(r["path"] for r in rows) == [
        "RAVDESS/Actor_02/03-01-01-01-01-01-02.wav", "RAVDESS/Actor_02/03-01-03-01-01-01-02.wav"]


@pytest.mark.parametrize("split_record, message", [
    (None, "no split.json beside it; --held-out val scores fold models inside their run folder"),
    ("not json", "split.json: not a split record written by emoedge train"),
    ('{"folds": []}', "split.json: not a split record written by emoedge train"),
    (json.dumps({"parts": {"train": {"speakers": ["ravdess:03"]},
                           "test": {"speakers": ["ravdess:01"]}}}),
     r"the fold has no val speakers \(a run trained with val_fraction = 0"),
])
def test_held_out_val_without_validation_speakers_is_a_clear_error(tmp_path, capsys,
                                                                   split_record, message):
    import re

    data = _ravdess_folder(tmp_path / "data")
    if split_record is None:
        model = tmp_path / "model_int8.tflite"
        model.write_bytes(FIXTURE.read_bytes())
    else:
        model = _fold(tmp_path, split_record)
    assert main([str(model), "--data", str(data), "--source", "ravdess:RAVDESS",
                 "--held-out", "val", "--out", str(tmp_path / "card")]) == 2
    assert re.search("error: .*" + message, capsys.readouterr().err)
    assert not (tmp_path / "card" / "card.json").exists()


def test_speaker_override_and_held_out_val_do_not_mix(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main([str(FIXTURE), "--data", str(tmp_path), "--source", "ravdess:RAVDESS",
              "--speaker", "ravdess:01", "--held-out", "val", "--out", str(tmp_path / "card")])
    assert "not allowed with argument" in capsys.readouterr().err
