"""Per-clip training weights: class and corpus balancing, then corpus weights."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from emoedge.train.dataset import balancing_weights
from emoedge.train.recipe import RecipeError, load_recipe
from signals import voiced_speech

# Six clips: corpus a has 4 (3 happy, 1 sad), corpus b has 2 (1 happy, 1 sad).
LABELS = ["happy", "happy", "happy", "sad", "happy", "sad"]
CORPORA = ["a", "a", "a", "a", "b", "b"]


def _share(weights, corpus):
    return weights[np.asarray(CORPORA) == corpus].sum() / weights.sum()


def test_corpus_balance_gives_each_corpus_an_equal_share():
    weights = balancing_weights(LABELS, CORPORA, by_class=False, by_corpus=True)
    # a: 6 / (2 * 4) = 0.75 per clip, b: 6 / (2 * 2) = 1.5 per clip; mean already 1
    np.testing.assert_allclose(weights, [0.75, 0.75, 0.75, 0.75, 1.5, 1.5])


def test_a_corpus_weight_sets_that_corpus_share_of_the_training_weight():
    weights = balancing_weights(LABELS, CORPORA, by_class=False, by_corpus=True,
                                corpus_weights={"b": 2.0})
    assert _share(weights, "b") == pytest.approx(2 / 3)
    assert weights.mean() == pytest.approx(1.0)
    # within a corpus the balancing is untouched: b's clips stay equal
    np.testing.assert_allclose(weights, np.array([0.75] * 4 + [3.0] * 2) / 1.5)


def test_corpus_weights_compose_with_class_balancing():
    plain = balancing_weights(LABELS, CORPORA, by_class=True, by_corpus=True)
    weighted = balancing_weights(LABELS, CORPORA, by_class=True, by_corpus=True,
                                 corpus_weights={"a": 3.0})
    scale = np.where(np.asarray(CORPORA) == "a", 3.0, 1.0)
    np.testing.assert_allclose(weighted, plain * scale / (plain * scale).mean())
    # a corpus weight of 1 is the same as naming no weight
    np.testing.assert_allclose(
        balancing_weights(LABELS, CORPORA, by_class=True, by_corpus=True,
                          corpus_weights={"a": 1.0}), plain)


def test_corpus_weights_without_balancing_scale_each_clip():
    weights = balancing_weights(LABELS, CORPORA, by_class=False, by_corpus=False,
                                corpus_weights={"b": 4.0})
    np.testing.assert_allclose(weights, np.array([1, 1, 1, 1, 4, 4]) / 2.0)


def test_recipe_reads_and_writes_corpus_weights(tmp_path):
    recipe = load_recipe(None, ["data.corpus_weights={emodb = 2.0, tess = 0.5}"])
    assert dict(recipe.data.corpus_weights) == {"emodb": 2.0, "tess": 0.5}
    (tmp_path / "again.toml").write_text(recipe.to_toml())
    assert load_recipe(tmp_path / "again.toml") == recipe
    assert dict(load_recipe(None).data.corpus_weights) == {}


@pytest.mark.parametrize("value, message", [
    ("{emodb = 0}", "corpus_weights.emodb must be a positive number, got 0"),
    ("{emodb = -1.5}", "corpus_weights.emodb must be a positive number"),
    ("{emodb = nan}", "corpus_weights.emodb must be a positive number"),
    ('{emodb = "2"}', "corpus_weights.emodb must be a positive number, got '2'"),
    ("{emodb = true}", "corpus_weights.emodb must be a positive number, got True"),
    ("2.0", "corpus_weights must be a table of corpus = weight, got 2.0"),
])
def test_bad_corpus_weights_are_refused_by_name(value, message):
    with pytest.raises(RecipeError, match=r"\[data\]: " + message.replace("(", r"\(")):
        load_recipe(None, [f"data.corpus_weights={value}"])


def test_a_weight_for_a_corpus_no_source_provides_is_refused(tmp_path):
    from emoedge.train.trainer import load_clips

    for speaker in ("s1", "s2"):
        soundfile.write(tmp_path / f"{speaker}.wav", voiced_speech(0.3, pitch_hz=150, seed=1),
                        16000, subtype="PCM_16")
    (tmp_path / "clips.csv").write_text("path,label,speaker\ns1.wav,happy,s1\ns2.wav,sad,s2\n")
    recipe = load_recipe(None, [f'data.sources=["manifest:{tmp_path / "clips.csv"}"]',
                                'data.labels=["happy", "sad"]',
                                "data.corpus_weights={emodb = 2.0}"])
    with pytest.raises(RecipeError, match=r"corpus_weights names emodb, which no source "
                                          r"provides \(the sources give: manifest\)"):
        load_clips(recipe, None)
    accepted = load_recipe(None, [f'data.sources=["manifest:{tmp_path / "clips.csv"}"]',
                                  'data.labels=["happy", "sad"]',
                                  "data.corpus_weights={manifest = 2.0}"])
    assert len(load_clips(accepted, None)) == 2
