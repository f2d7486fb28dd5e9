"""Several candidates' seed-mean changes against one control, as a table and a picture."""

from __future__ import annotations

import json

import pytest

from emoedge.train.screen_map import main, screen_points, table


def _card(emodb_right: int, ravdess_right: int, seed: int = 0) -> dict:
    """One fold, two corpora of four "sad" clips each: UA = right / 4 (one
    class present), in points 25 times the clips right."""
    def entry(corpus: str, right: int) -> dict:
        rows = [{"path": f"{corpus}/{i}.wav", "true": "sad",
                 "clean": "sad" if i < right else "calm"} for i in range(4)]
        return {"clips": 4, "clean": {"ua": right / 4, "wa": right / 4, "macro_f1": right / 4},
                "predictions": rows}
    return {"models": [{"path": "/runs/x", "seed": seed}],
            "held_out": "each fold's val speakers (float models)",
            "per_model": [{"emodb": entry("emodb", emodb_right),
                           "ravdess": entry("ravdess", ravdess_right)}]}


CONTROL = [_card(2, 2), _card(3, 2), _card(1, 2)]     # emodb 50/75/25: mean 50; ravdess 50


def test_each_candidate_is_its_seed_mean_change_with_its_seed_range():
    points, spread = screen_points(
        CONTROL, {"a": [_card(3, 1), _card(4, 1)], "b": [_card(2, 3)]},
        x_corpus="emodb", y_corpus="ravdess")
    a, b = points
    assert (a.name, a.seeds, a.x_change, a.x_range) == ("a", 2, 37.5, (25.0, 50.0))
    assert (a.y_change, a.y_range) == (-25.0, (-25.0, -25.0))
    assert (b.x_change, b.y_change) == (0.0, 25.0)
    assert spread == {"emodb": (-25.0, 25.0), "ravdess": (0.0, 0.0)}
    assert "| a | 2 | +37.5 (+25.0 to +50.0) | -25.0 (-25.0 to -25.0) |" in table(
        points, "emodb", "ravdess")


def test_cards_of_other_clips_or_a_corpus_not_scored_are_refused():
    other = _card(2, 2)
    other["per_model"][0]["emodb"]["predictions"][0]["path"] = "emodb/other.wav"
    with pytest.raises(ValueError, match="scored different folds or clips"):
        screen_points(CONTROL, {"a": [other]}, x_corpus="emodb", y_corpus="ravdess")
    with pytest.raises(ValueError, match="score no tess clip in some fold"):
        screen_points(CONTROL, {"a": [_card(2, 2)]}, x_corpus="tess", y_corpus="ravdess")


def test_the_command_prints_the_table_and_draws_the_picture(tmp_path, capsys):
    paths = {}
    for name, card in (("c0", CONTROL[0]), ("c1", CONTROL[1]), ("c2", CONTROL[2]),
                       ("d0", _card(3, 1)), ("d1", _card(4, 1))):
        paths[name] = tmp_path / f"{name}.json"
        paths[name].write_text(json.dumps(card))
    png = tmp_path / "screens.png"
    assert main(["--control", str(paths["c0"]), str(paths["c1"]), str(paths["c2"]),
                 "--candidate", f"a={paths['d0']},{paths['d1']}", "--plot", str(png)]) == 0
    assert "| a | 2 | +37.5" in capsys.readouterr().out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["--control", str(paths["c0"]), "--candidate",
                 f"a={tmp_path / 'missing.json'}"]) == 2
    assert "error:" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--control", str(paths["c0"]), "--candidate", "no-equals-sign"])
