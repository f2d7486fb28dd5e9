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


def test_pooled_class_balance_golden_values():
    weights = balancing_weights(LABELS, CORPORA, by_class=True, by_corpus=True)
    # class factor happy 6 / (2 * 4) = 0.75, sad 1.5; corpus factor a 0.75, b 1.5;
    # products 0.5625 (x3), 1.125, 1.125, 2.25 with mean 1.03125
    np.testing.assert_allclose(weights, np.array([0.5625] * 3 + [1.125, 1.125, 2.25]) / 1.03125)
    # the pooled factors do not keep the corpora equal: a carries 5/11, not 1/2
    assert _share(weights, "a") == pytest.approx(5 / 11)


def test_per_corpus_class_balance_splits_each_corpus_share_equally_among_its_classes():
    weights = balancing_weights(LABELS, CORPORA, by_class=True, by_corpus=True,
                                class_balance="per-corpus")
    # each corpus 1/2, each of its 2 classes 1/4: a's happy clips 1/12 each,
    # every other clip 1/4; mean 1/6
    np.testing.assert_allclose(weights, [0.5, 0.5, 0.5, 1.5, 1.5, 1.5])
    assert _share(weights, "a") == pytest.approx(1 / 2)


def test_a_class_only_one_corpus_has_keeps_its_equal_share_there_per_corpus():
    labels = ["calm", "neutral", "neutral", "neutral", "neutral", "neutral"]
    corpora = ["a", "a", "b", "b", "b", "b"]
    pooled = balancing_weights(labels, corpora, by_class=True, by_corpus=True)
    per_corpus = balancing_weights(labels, corpora, by_class=True, by_corpus=True,
                                   class_balance="per-corpus")
    calm_share = lambda weights: weights[0] / weights[:2].sum()  # noqa: E731
    assert calm_share(pooled) == pytest.approx(5 / 6)  # calm 3 / (2 * 1), neutral 6 / (2 * 5)
    assert calm_share(per_corpus) == pytest.approx(1 / 2)


def test_per_corpus_class_balance_composes_with_corpus_weights_and_without_corpus_balance():
    weighted = balancing_weights(LABELS, CORPORA, by_class=True, by_corpus=True,
                                 corpus_weights={"b": 2.0}, class_balance="per-corpus")
    assert _share(weighted, "b") == pytest.approx(2 / 3)
    assert weighted.mean() == pytest.approx(1.0)
    by_clips = balancing_weights(LABELS, CORPORA, by_class=True, by_corpus=False,
                                 class_balance="per-corpus")
    assert _share(by_clips, "a") == pytest.approx(4 / 6)
    # a: happy and sad 1/3 of the weight each; b: 1/6 each
    np.testing.assert_allclose(by_clips, np.array([2 / 9] * 3 + [2 / 3, 1 / 3, 1 / 3]) * 3)


def test_class_balance_is_ignored_without_class_weights():
    for balance in ("pooled", "per-corpus"):
        np.testing.assert_allclose(
            balancing_weights(LABELS, CORPORA, by_class=False, by_corpus=True,
                              class_balance=balance),
            [0.75, 0.75, 0.75, 0.75, 1.5, 1.5])


def test_recipe_reads_class_balance_and_refuses_an_unknown_one(tmp_path):
    recipe = load_recipe(None, ['training.class_balance="per-corpus"'])
    assert recipe.training.class_balance == "per-corpus"
    (tmp_path / "again.toml").write_text(recipe.to_toml())
    assert load_recipe(tmp_path / "again.toml") == recipe
    assert load_recipe(None).training.class_balance == "pooled"
    with pytest.raises(RecipeError, match=r"class_balance must be one of pooled, per-corpus, "
                                          r"got 'corpus'"):
        load_recipe(None, ['training.class_balance="corpus"'])


def test_the_trainer_weighs_clips_with_the_recipe_class_balance(tmp_path):
    from emoedge.train.corpora import Clip
    from emoedge.train.trainer import FoldTrainer

    clips = [Clip(path=f"{i}.wav", label=label, speaker=corpus + "1", corpus=corpus)
             for i, (label, corpus) in enumerate(zip(LABELS, CORPORA))]
    features = {c.path: (np.zeros((4, 2), dtype=np.uint16),) for c in clips}
    recipe = load_recipe(None, ['data.labels=["happy", "sad"]',
                                'training.class_balance="per-corpus"'])
    trainer = FoldTrainer(recipe, recipe.data.labels, tmp_path, seed=0, progress=False)
    weights = [c.weight for c in trainer.clip_features(clips, features, with_variants=False)]
    np.testing.assert_allclose(weights, [0.5, 0.5, 0.5, 1.5, 1.5, 1.5])


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
