"""Seeds of a control against seeds of a candidate, corpus by corpus."""

from __future__ import annotations

import gzip
import json
import pathlib

import pytest

from emoedge.train.seed_compare import SeedComparison, compare, main


def _entry(pairs, folder="x"):
    """A card entry from (true, predicted) pairs; its UA is the mean recall."""
    labels = sorted({t for t, _ in pairs})
    ua = sum(sum(p == t for t, p in pairs if t == label) / sum(t == label for t, _ in pairs)
             for label in labels) / len(labels)
    return {"clips": len(pairs), "clean": {"ua": ua},
            "predictions": [{"path": f"{folder}/{i}.wav", "true": t, "clean": p}
                            for i, (t, p) in enumerate(pairs)]}


def _card(per_model, held_out="each model's val speakers"):
    return {"held_out": held_out, "per_model": per_model}


def _ua_card(ua_tenths: int):
    """One fold of ten "neutral" and ten "sad" clips: neutral all right, sad
    right in ``ua_tenths`` of ten, so UA = (1 + ua_tenths / 10) / 2."""
    pairs = [("neutral", "neutral")] * 10 + [("sad", "sad")] * ua_tenths \
        + [("sad", "calm")] * (10 - ua_tenths)
    return _card([{"ravdess": _entry(pairs)}])


def test_the_seed_figures_means_and_exact_permutation_p():
    comparison = SeedComparison(corpus="c", figure="UA", control=(0.0, 10.0),
                                candidate=(5.0, 15.0))
    # pooled 0, 10, 5, 15 dealt 2 and 2 in 6 ways; changes -5, -10, 0, 0, 10, 5;
    # the observed +5 or more: 2 of 6
    assert comparison.change == 5.0
    assert comparison.permutation_p == pytest.approx(2 / 6)
    assert comparison.seeds_above_every_control == 1


def test_three_seeds_all_above_the_control_give_p_one_in_twenty():
    comparisons = compare([_ua_card(0), _ua_card(1), _ua_card(2)],
                          [_ua_card(4), _ua_card(5), _ua_card(6)], recall_labels=["sad"])
    ua, sad = comparisons
    assert ua.figure == "UA" and ua.control == pytest.approx((50.0, 55.0, 60.0))
    assert ua.candidate == pytest.approx((70.0, 75.0, 80.0))
    assert ua.seeds_above_every_control == 3
    assert ua.permutation_p == pytest.approx(1 / 20)
    assert sad.figure == "sad recall" and sad.control == pytest.approx((0.0, 10.0, 20.0))
    assert sad.change == pytest.approx(40.0)


def test_a_card_figure_is_the_mean_over_its_folds_and_skips_a_corpus_without_the_label():
    fold1 = {"ravdess": _entry([("neutral", "neutral"), ("neutral", "calm")], "r1"),
             "emodb": _entry([("angry", "angry"), ("happy", "angry")], "e1")}
    fold2 = {"ravdess": _entry([("neutral", "neutral"), ("neutral", "neutral")], "r2")}
    comparisons = compare([_card([fold1, fold2])], [_card([fold1, fold2])],
                          recall_labels=["neutral"])
    assert [(c.corpus, c.figure) for c in comparisons] == [
        ("emodb", "UA"), ("ravdess", "UA"), ("ravdess", "neutral recall")]
    assert comparisons[0].control == (50.0,)       # one fold: angry 1 of 1, happy 0 of 1
    assert comparisons[2].control == (75.0,)       # folds 50 % and 100 %


def _write(tmp_path, name, card):
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(card))
    return str(path)


def test_main_prints_one_row_per_corpus_and_figure_and_draws_the_plot(tmp_path, capsys):
    control = [_write(tmp_path, f"c{v}", _ua_card(v)) for v in (0, 1, 2)]
    candidate = [_write(tmp_path, f"d{v}", _ua_card(v)) for v in (4, 5, 6)]
    plot = tmp_path / "seeds.png"
    assert main(["--control", *control, "--candidate", *candidate, "--recall", "sad",
                 "--plot", str(plot)]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[2] == ("| ravdess | UA | 50.0 / 55.0 / 60.0 | 55.0 | 10.0 | 70.0 / 75.0 / 80.0 "
                       "| 75.0 | 10.0 | +20.0 | 3 of 3 | 0.05 |")
    assert rows[3].startswith("| ravdess | sad recall | 0.0 / 10.0 / 20.0 |")
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_gzip_compressed_cards_read_as_the_plain_ones(tmp_path, capsys):
    control = [_write(tmp_path, f"c{v}", _ua_card(v)) for v in (0, 1)]
    candidate = [_write(tmp_path, f"d{v}", _ua_card(v)) for v in (4, 5)]
    assert main(["--control", *control, "--candidate", *candidate]) == 0
    plain = capsys.readouterr().out
    packed = []
    for name in control + candidate:
        packed.append(name + ".gz")
        pathlib.Path(packed[-1]).write_bytes(gzip.compress(pathlib.Path(name).read_bytes()))
    assert main(["--control", *packed[:2], "--candidate", *packed[2:]]) == 0
    assert capsys.readouterr().out == plain
    pathlib.Path(packed[0]).write_bytes(b"not gzip")
    assert main(["--control", *packed[:2], "--candidate", *packed[2:]]) == 2
    assert "Not a gzipped file" in capsys.readouterr().err


@pytest.mark.parametrize("case, message", [
    ("other clips", "scored different folds or clips"),
    ("other speakers", "scored \"each model's test speakers\""),
    ("unknown label", "no scored clip is labelled 'surprised'"),
    ("unknown condition", "a card has no 'snr10' condition for ravdess"),
    ("missing file", "No such file"),
])
def test_each_error_names_its_cause_and_exits_2(tmp_path, capsys, case, message):
    good = _write(tmp_path, "good", _ua_card(3))
    other = {"other clips": _card([{"ravdess": _entry([("sad", "sad")], "elsewhere")}]),
             "other speakers": dict(_ua_card(3), held_out="each model's test speakers")}
    candidate = (_write(tmp_path, "bad", other[case]) if case in other
                 else str(tmp_path / "absent.json") if case == "missing file" else good)
    extra = {"unknown label": ["--recall", "surprised"],
             "unknown condition": ["--condition", "snr10"]}.get(case, [])
    assert main(["--control", good, "--candidate", candidate, *extra]) == 2
    assert message in capsys.readouterr().err
