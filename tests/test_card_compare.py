"""Comparing two model cards fold by fold, with a paired bootstrap interval."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emoedge.train.card_compare import compare_corpus, main, weighted_ua
from emoedge.train.metrics import classification_report

LABELS = ["neutral", "happy", "sad", "angry"]


def _ua(true, predicted) -> float:
    """UA of label names, every clip counted once."""
    true = np.asarray(true)
    return weighted_ua(true, np.asarray(predicted) == true, np.ones(len(true)))


def test_ua_of_names_at_unit_weights_equals_the_report_ua():
    rng = np.random.default_rng(3)
    true = rng.integers(0, 3, 50)  # "angry" never occurs: left out of UA, as in the report
    predicted = rng.integers(0, 4, 50)
    names = np.array(LABELS)
    assert _ua(names[true], names[predicted]) == pytest.approx(
        classification_report(true, predicted, LABELS).ua, abs=1e-12)
    # 2 of 2 happy, 1 of 2 sad right: (1 + 0.5) / 2
    assert _ua(["happy", "happy", "sad", "sad"], ["happy", "happy", "sad", "happy"]) == 0.75


def _entry(true, predicted, folder="x"):
    return {"clips": len(true), "clean": {"ua": _ua(true, predicted)},
            "predictions": [{"path": f"{folder}/{i}.wav", "true": t, "clean": p}
                            for i, (t, p) in enumerate(zip(true, predicted))]}


def _card(per_model, held_out="each model's val speakers"):
    return {"held_out": held_out, "per_model": per_model}


TRUE = ["happy", "happy", "sad", "sad"]


def test_per_fold_figures_mean_change_and_folds_higher():
    control = _card([{"ravdess": _entry(TRUE, ["happy", "sad", "sad", "sad"])},
                     {"ravdess": _entry(TRUE, ["happy", "happy", "sad", "sad"]),
                      "emodb": _entry(TRUE, ["sad", "sad", "sad", "sad"], "e")}])
    candidate = _card([{"ravdess": _entry(TRUE, ["happy", "happy", "sad", "sad"])},
                       {"ravdess": _entry(TRUE, ["happy", "happy", "sad", "happy"]),
                        "emodb": _entry(TRUE, ["happy", "sad", "sad", "sad"], "e")}])
    ravdess = compare_corpus(control, candidate, "ravdess", resamples=200)
    assert ravdess.folds == (1, 2)
    assert ravdess.control_ua == (75.0, 100.0) and ravdess.candidate_ua == (100.0, 75.0)
    assert ravdess.change == 0.0 and ravdess.folds_higher == 1
    emodb = compare_corpus(control, candidate, "emodb", resamples=200)
    assert emodb.folds == (2,) and emodb.change == 25.0
    assert emodb.interval[0] <= 25.0 <= emodb.interval[1]


def test_the_interval_is_exact_where_resampling_cannot_move_the_change():
    control = _card([{"ravdess": _entry(TRUE, ["sad", "sad", "happy", "happy"])}])
    candidate = _card([{"ravdess": _entry(TRUE, TRUE)}])
    assert compare_corpus(control, candidate, "ravdess").interval == (100.0, 100.0)
    assert compare_corpus(control, control, "ravdess").interval == (0.0, 0.0)


def test_a_clip_scored_by_several_folds_is_drawn_once_for_all_of_them():
    """Folds that share validation clips (the same speaker validates several
    folds) are one sample, not several: here fold 1 gains exactly the clip
    fold 2 loses, so the mean change is 0 in every joint draw."""
    worse = ["happy", "sad", "sad", "sad"]
    control = _card([{"emodb": _entry(TRUE, worse)}, {"emodb": _entry(TRUE, TRUE)}])
    candidate = _card([{"emodb": _entry(TRUE, TRUE)}, {"emodb": _entry(TRUE, worse)}])
    comparison = compare_corpus(control, candidate, "emodb")
    assert comparison.control_ua == (75.0, 100.0) and comparison.candidate_ua == (100.0, 75.0)
    assert comparison.interval == (0.0, 0.0)


def test_weighted_ua_counts_each_clip_its_weight_and_drops_weightless_labels():
    true = np.array(["happy", "happy", "sad", "sad"])
    correct = np.array([True, False, True, True])
    assert weighted_ua(true, correct, np.array([1, 1, 1, 1])) == 0.75
    assert weighted_ua(true, correct, np.array([3, 1, 0, 2])) == (0.75 + 1.0) / 2
    assert weighted_ua(true, correct, np.array([0, 2, 0, 0])) == 0.0  # sad has no weight
    assert np.isnan(weighted_ua(true, correct, np.zeros(4)))


def test_main_prints_the_table(tmp_path, capsys):
    control = _card([{"ravdess": _entry(TRUE, ["happy", "sad", "sad", "sad"])}])
    candidate = _card([{"ravdess": _entry(TRUE, TRUE)}])
    paths = []
    for name, card in (("a", control), ("b", candidate)):
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps(card))
    assert main([str(p) for p in paths] + ["--resamples", "100", "--plot",
                                           str(tmp_path / "change.png")]) == 0
    assert (tmp_path / "change.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = capsys.readouterr().out
    assert table.splitlines()[0] == ("| corpus | fold 1 | mean | folds higher "
                                     "| 95 % interval of the change |")
    assert table.splitlines()[2].startswith("| ravdess | 75.0 → 100.0 | 75.0 → 100.0 (+25.0) "
                                            "| 1 of 1 | ")


def test_condition_compares_that_column_of_both_cards(tmp_path, capsys):
    """--condition reads the predictions under one perturbation: here the
    candidate is better clean but worse at 10 dB SNR, and each column says so."""
    def entry(clean, noisy):
        rows = [{"path": f"x/{i}.wav", "true": t, "clean": c, "snr10": n}
                for i, (t, c, n) in enumerate(zip(TRUE, clean, noisy))]
        return {"clips": 4, "clean": {"ua": _ua(TRUE, clean)}, "snr10": {"ua": _ua(TRUE, noisy)},
                "predictions": rows}
    worse = ["happy", "sad", "sad", "sad"]
    control = _card([{"ravdess": entry(worse, TRUE)}])
    candidate = _card([{"ravdess": entry(TRUE, worse)}])
    assert compare_corpus(control, candidate, "ravdess").change == 25.0
    noisy = compare_corpus(control, candidate, "ravdess", condition="snr10")
    assert noisy.control_ua == (100.0,) and noisy.candidate_ua == (75.0,)
    paths = [tmp_path / "a.json", tmp_path / "b.json"]
    for path, card in zip(paths, (control, candidate)):
        path.write_text(json.dumps(card))
    assert main([*map(str, paths), "--condition", "snr10", "--resamples", "50"]) == 0
    assert "| 100.0 → 75.0 (-25.0) | 0 of 1 |" in capsys.readouterr().out
    assert main([*map(str, paths), "--condition", "tilt+6"]) == 2
    assert ("fold 1, ravdess: the control card has no 'tilt+6' condition"
            in capsys.readouterr().err)


@pytest.mark.parametrize("candidate, message", [
    (_card([{"ravdess": _entry(TRUE, TRUE)}], held_out="each model's test speakers"),
     "the cards scored different speakers"),
    (_card([{"ravdess": _entry(TRUE, TRUE, folder="y")}]),
     "fold 1, ravdess: the cards scored different clips"),
    (_card([{"ravdess": _entry(TRUE, TRUE)}, {"ravdess": _entry(TRUE, TRUE)}]),
     "the cards hold 1 and 2 models; compare runs of the same folds"),
    (_card([{"emodb": _entry(TRUE, TRUE)}]), "fold 1: only one card scores emodb"),
    (_card([{"ravdess": _entry(TRUE, TRUE), "tess": _entry(TRUE, TRUE, "t")}]),
     "fold 1: only one card scores tess"),
    (None, "No such file"),
])
def test_cards_that_cannot_be_paired_are_refused(tmp_path, capsys, candidate, message):
    control_path = tmp_path / "control.json"
    control_path.write_text(json.dumps(_card([{"ravdess": _entry(TRUE, TRUE)}])))
    candidate_path = tmp_path / "candidate.json"
    if candidate is not None:
        candidate_path.write_text(json.dumps(candidate))
    assert main([str(control_path), str(candidate_path)]) == 2
    assert message in capsys.readouterr().err


def test_a_card_from_before_held_out_was_recorded_reads_as_test_speakers(tmp_path, capsys):
    """The shipped model's earlier cards have no "held_out": they scored test
    speakers, so they pair with a test card and are refused against a val card."""
    old = {"per_model": [{"ravdess": _entry(TRUE, ["happy", "sad", "sad", "sad"])}]}
    paths = {name: tmp_path / f"{name}.json" for name in ("old", "test", "val")}
    paths["old"].write_text(json.dumps(old))
    paths["test"].write_text(json.dumps(_card([{"ravdess": _entry(TRUE, TRUE)}],
                                              held_out="each model's test speakers")))
    paths["val"].write_text(json.dumps(_card([{"ravdess": _entry(TRUE, TRUE)}])))
    assert main([str(paths["old"]), str(paths["test"]), "--resamples", "20"]) == 0
    assert "75.0 → 100.0 (+25.0)" in capsys.readouterr().out
    assert main([str(paths["old"]), str(paths["val"])]) == 2
    assert ("the cards scored different speakers: \"each model's test speakers\" and "
            "\"each model's val speakers\"") in capsys.readouterr().err
