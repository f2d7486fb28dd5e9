"""The packaged default model: what it is, how it loads, and that its card's
numbers come from the committed evaluation script."""

from __future__ import annotations

import hashlib
import json
import pathlib
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

import emoedge
from emoedge.cli import app
from emoedge.model_audit import audit_model
from emoedge.recognizer import packaged_model_path

ROOT = pathlib.Path(__file__).resolve().parents[1]
CARD = ROOT / "docs" / "model_card" / "card.json"
RAVDESS_LABELS = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")
SIZE_BUDGET_BYTES = 300 * 1024


@pytest.fixture(scope="module")
def default_model():
    return emoedge.load_model(num_threads=1)


def test_loads_through_importlib_resources(default_model):
    path = pathlib.Path(str(packaged_model_path()))
    assert path.name == "default.tflite" and path.parent.name == "models"
    assert default_model.path == str(path)
    assert default_model.labels == RAVDESS_LABELS


def test_is_integer_only_and_within_the_size_budget():
    content = pathlib.Path(str(packaged_model_path())).read_bytes()
    audit = audit_model(content)
    assert audit.integer_only, audit.float_tensors
    assert audit.input_dtype == "int8" and audit.output_dtype == "int8"
    assert len(content) <= SIZE_BUDGET_BYTES


def test_metadata_says_where_it_came_from(default_model):
    meta = default_model.metadata
    provenance = meta.provenance
    assert provenance["data"] == ["ravdess:RAVDESS", "tess:TESS", "emodb:EMO-DB"]
    test_speakers = set(provenance["test_speakers"])
    assert test_speakers and all(s.split(":")[0] in {"ravdess", "emodb", "tess"}
                                 for s in test_speakers)
    assert provenance["recipe"]["model"]["architecture"] == "cnn2d"
    assert set(meta.valence_arousal) == set(RAVDESS_LABELS)


def test_was_trained_with_the_committed_recipe(default_model):
    """recipes/default_model.toml is the recipe the shipped file records, key
    for key: the file that retrains it is the one that trained it. A key added
    to recipes after the file was trained reads as its default, which keeps
    the old behaviour."""
    if sys.version_info < (3, 11):
        pytest.importorskip("tomli", reason="reading a recipe before Python 3.11 needs tomli "
                                            "(the train extra)")
    from emoedge.train.recipe import load_recipe, recipe_from_dict

    committed = load_recipe(str(ROOT / "recipes" / "default_model.toml"))
    assert recipe_from_dict(default_model.metadata.provenance["recipe"]) == committed


def test_valence_arousal_is_the_probability_weighted_point(default_model):
    pcm = (4000 * np.sin(2 * np.pi * 180 * np.arange(48000) / 16000)).astype(np.int16)
    result = default_model.predict(pcm, 16000)
    points = np.array([default_model.metadata.valence_arousal[label]
                       for label in default_model.labels])
    probabilities = np.array([result.probabilities[label] for label in default_model.labels])
    valence, arousal = probabilities @ points
    assert result.valence == pytest.approx(valence, abs=1e-6)
    assert result.arousal == pytest.approx(arousal, abs=1e-6)


def test_a_level_change_barely_moves_the_packaged_models_output(default_model):
    """The shipped recipe removes each channel's mean over the window inside
    the graph, and a gain is a constant offset on log-mel features: 12 dB
    quieter must leave the label and, nearly, the probabilities alone.

    The offset is constant only where the signal scales. A fifth of the
    synthetic examples' samples are digital silence (|x| < 4), whose
    features sit at the frontend's floor whatever the gain, so the
    probabilities are compared with a microphone-like noise floor added
    (rms 30, about -61 dBFS). Without it the shipped model's probabilities
    moved by up to 0.27 on espeak_en_fast_high.wav (the label held)."""
    import soundfile

    def twelve_db_quieter(samples):
        return np.round(samples * 10 ** (-12 / 20)).astype(np.int16)

    rng = np.random.default_rng(0)
    for path in sorted((ROOT / "examples").glob("espeak_*.wav")):
        pcm, rate = soundfile.read(path, dtype="int16")
        raw_quiet = default_model.predict(twelve_db_quieter(pcm), rate)
        assert raw_quiet.label == default_model.predict(pcm, rate).label, path.name
        with_floor = pcm + rng.normal(0.0, 30.0, len(pcm))
        loud = default_model.predict(
            np.clip(np.round(with_floor), -32768, 32767).astype(np.int16), rate)
        quiet = default_model.predict(twelve_db_quieter(with_floor), rate)
        assert quiet.label == loud.label, path.name
        moved = max(abs(loud.probabilities[k] - quiet.probabilities[k]) for k in RAVDESS_LABELS)
        assert moved < 0.1, (path.name, moved)


def test_info_without_a_path_describes_the_packaged_model():
    result = CliRunner().invoke(app, ["info", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["path"].endswith("default.tflite")
    assert tuple(report["metadata"]["labels"]) == RAVDESS_LABELS


def test_score_on_the_examples_uses_the_packaged_model(tmp_path):
    out = tmp_path / "scores.csv"
    result = CliRunner().invoke(app, ["score", str(ROOT / "examples"), "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    rows = out.read_text().splitlines()
    examples = sorted((ROOT / "examples").glob("*.wav"))
    assert len(rows) == 1 + len(examples)
    assert rows[0].startswith("path,status,error,label,confidence,duration_s,p_neutral,p_calm")
    assert all(",ok," in row for row in rows[1:])


def test_card_predictions_are_reproduced_by_the_script(data_dir, tmp_path):
    """The committed card's per-clip predictions for the shipped model come
    back exactly when the committed script is run again on a few of its clips."""
    from emoedge.train.model_card import main

    card = json.loads(CARD.read_text())
    content = pathlib.Path(str(packaged_model_path())).read_bytes()
    digest = hashlib.sha256(content).hexdigest()
    (index,) = [i for i, m in enumerate(card["models"]) if m["sha256"] == digest]
    committed = card["per_model"][index]
    status = main([str(packaged_model_path()), "--data", str(data_dir),
                   "--source", "ravdess:RAVDESS", "--source", "tess:TESS",
                   "--source", "emodb:EMO-DB", "--limit", "3", "--out", str(tmp_path)])
    assert status == 0
    rerun = json.loads((tmp_path / "card.json").read_text())["per_model"][0]
    assert set(rerun) <= set(committed)
    for corpus, entry in rerun.items():
        expected = {row["path"]: row for row in committed[corpus]["predictions"]}
        assert len(entry["predictions"]) == 3
        for row in entry["predictions"]:
            # Every column the committed card has comes back exactly; columns
            # added to the script after the card was made (the tilts) are
            # tested in test_model_card.py.
            committed_row = expected[row["path"]]
            assert {key: row[key] for key in committed_row} == committed_row
