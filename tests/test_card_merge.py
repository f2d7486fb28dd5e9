"""Single-fold cards of one seed merged into the card of their folds."""

from __future__ import annotations

import gzip
import json

import pytest

from emoedge.train.card_merge import main, merge_cards
from emoedge.train.seed_compare import card_figure


def _fold(folder: str, sad_right: int, *, seed: int = 0, shift: str | None = None,
          held_out: str = "each fold's val speakers (float models)",
          run: str | None = None) -> dict:
    """A one-fold card of four "neutral" clips (all right) and four "sad"
    ones, ``sad_right`` of them right: UA = (1 + sad_right / 4) / 2."""
    pairs = [("neutral", "neutral")] * 4 + [("sad", "sad")] * sad_right \
        + [("sad", "calm")] * (4 - sad_right)
    ua = (1 + sad_right / 4) / 2
    entry = {"clips": 8, "clean": {"ua": ua, "wa": (4 + sad_right) / 8, "macro_f1": ua},
             "confusion": [[4, 0], [4 - sad_right, sad_right]],
             "predictions": [{"path": f"{folder}/{i}.wav", "true": t, "clean": p}
                             for i, (t, p) in enumerate(pairs)]}
    card = {"models": [{"path": f"/runs/{run or folder}", "seed": seed}], "held_out": held_out,
            "per_model": [{"ravdess": entry}]}
    if shift is not None:
        card["speaker_shift"] = shift
    return card


def test_the_merged_card_is_the_mean_over_its_folds():
    merged = merge_cards([_fold("f2", 2), _fold("f3", 4)], ["a", "b"])
    # UA 0.75 and 1.0: mean 0.875, sample std 0.1768 (ddof=1)
    assert merged["summary"]["ravdess"]["clean"]["ua"]["mean"] == pytest.approx(0.875)
    assert merged["summary"]["ravdess"]["clean"]["ua"]["std"] == pytest.approx(0.25 / 2 ** 0.5)
    assert merged["summary"]["ravdess"]["folds"] == 2
    assert merged["summary"]["ravdess"]["clips"] == 16
    assert merged["summary"]["ravdess"]["confusion"] == [[8, 0], [2, 6]]
    assert [m["path"] for m in merged["models"]] == ["/runs/f2", "/runs/f3"]
    assert card_figure(merged, "ravdess", "clean", None) == pytest.approx(87.5)
    assert card_figure(merged, "ravdess", "clean", "sad") == pytest.approx(75.0)
    assert "speaker_shift" not in merged


def test_a_speaker_shift_is_kept_and_a_clip_may_recur_across_folds():
    # the same speaker validated in two folds scores the same clip paths, with
    # other predictions: two folds, not one given twice
    shift = "each held-out clip by 5 other clips' mean"
    merged = merge_cards([_fold("spk03", 1, shift=shift, run="fold2"),
                          _fold("spk03", 3, shift=shift, run="fold3")], ["a", "b"])
    assert merged["speaker_shift"] == "each held-out clip by 5 other clips' mean"
    assert merged["summary"]["ravdess"]["clean"]["ua"]["mean"] == pytest.approx(0.75)


def _ensemble(folder: str, sad_right: int, seeds=(0, 1, 2)) -> dict:
    card = _fold(folder, sad_right)
    card["models"] = [{"path": f"/runs/{folder}_s{s}", "seed": s} for s in seeds]
    card["ensemble"] = f"clip probabilities averaged over the {len(seeds)} models of 1 split(s)"
    return card


def test_ensemble_cards_of_the_same_seeds_merge_and_say_so():
    merged = merge_cards([_ensemble("f2", 2), _ensemble("f3", 4)], ["a", "b"])
    assert merged["ensemble"] == "clip probabilities averaged over the 3 models of 1 split(s)"
    assert len(merged["models"]) == 6
    assert merged["summary"]["ravdess"]["clean"]["ua"]["mean"] == pytest.approx(0.875)


@pytest.mark.parametrize("cards, message", [
    ([_ensemble("f2", 2), _ensemble("f3", 2, seeds=(0, 1))], "other seeds"),
    ([_ensemble("f2", 2), _fold("f3", 2)], "ensemble cards with ensemble cards only"),
    ([_fold("f2", 2)], "two or more cards"),
    ([_fold("f2", 2), _fold("f3", 2, held_out="each fold's test speakers")], "scored"),
    ([_fold("f2", 2, shift="not at all"), _fold("f3", 2)], "shifted held-out clips"),
    ([_fold("f2", 2, seed=0), _fold("f3", 2, seed=1)], "other seeds"),
    ([_fold("f2", 2), _fold("f2", 2)], "the same fold"),
    ([_fold("f2", 2), _fold("f2", 2, run="copy")], "the same fold"),
    ([_fold("f2", 2), _fold("f2", 3)], "the same fold"),
])
def test_what_cannot_be_merged_is_refused(cards, message):
    with pytest.raises(ValueError, match=message):
        merge_cards(cards, ["a", "b"][:len(cards)])


def test_the_command_writes_a_gzipped_card_seed_compare_reads(tmp_path, capsys):
    paths = []
    for name, right in (("f2", 2), ("f3", 4)):
        path = tmp_path / f"{name}.card.json"
        path.write_text(json.dumps(_fold(name, right)))
        paths.append(str(path))
    out = tmp_path / "merged.card.json.gz"
    assert main([*paths, "-o", str(out)]) == 0
    assert "2 folds from 2 cards" in capsys.readouterr().out
    merged = json.loads(gzip.decompress(out.read_bytes()))
    assert merged["summary"]["ravdess"]["clean"]["ua"]["mean"] == pytest.approx(0.875)


def test_the_command_exits_2_with_the_cause(tmp_path, capsys):
    assert main([str(tmp_path / "missing.json"), str(tmp_path / "also.json"),
                 "-o", str(tmp_path / "out.json")]) == 2
    assert "missing.json" in capsys.readouterr().err
    one = tmp_path / "one.json"
    one.write_text(json.dumps(_fold("f2", 2)))
    assert main([str(one), "-o", str(tmp_path / "out.json")]) == 2
    assert "two or more cards" in capsys.readouterr().err
    assert not (tmp_path / "out.json").exists()
