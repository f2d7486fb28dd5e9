"""UA against clips heard (train/heard_curve.py): exact table, plot, every refusal."""

from __future__ import annotations

import json

import pytest

from emoedge.train.heard_curve import build_curve, main, parse_point
from test_seed_compare import _ua_card


def _write(tmp_path, name, card):
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(card))
    return str(path)


def test_points_parse_counts_and_all_clips():
    assert parse_point("0=a.json") == (0, "a.json")
    assert parse_point("20=dir/card.json.gz") == (20, "dir/card.json.gz")
    assert parse_point("all=b=c.json") == (None, "b=c.json")


@pytest.mark.parametrize("text, message", [
    ("card.json", "a curve point is K=card.json"),
    ("5=", "a curve point is K=card.json"),
    ("-1=a.json", "clips heard must be a count of 0 or more or 'all', got '-1'"),
    ("five=a.json", "got 'five'"),
])
def test_a_malformed_point_is_refused_with_its_text(text, message):
    with pytest.raises(ValueError, match=message):
        parse_point(text)


def test_a_curve_is_sorted_by_count_with_all_clips_last():
    curve = build_curve("m", [(None, _ua_card(9)), (5, _ua_card(6)), (0, _ua_card(2))],
                        ["ravdess"])
    assert curve.heard == (0, 5, None)
    assert curve.ua["ravdess"] == pytest.approx((60.0, 80.0, 95.0))
    with pytest.raises(ValueError, match="same count of clips heard twice"):
        build_curve("m", [(5, _ua_card(1)), (5, _ua_card(2))], ["ravdess"])


def test_main_prints_the_control_then_each_curve_and_draws_the_plot(tmp_path, capsys):
    control = [_write(tmp_path, f"c{v}", _ua_card(v)) for v in (3, 4, 5)]
    points = [f"{k}={_write(tmp_path, f'k{k}', _ua_card(v))}" for k, v in (("all", 9), ("0", 2))]
    other = [f"5={_write(tmp_path, 'o5', _ua_card(7))}"]
    plot = tmp_path / "heard.png"
    assert main(["--control", *control, "--curve", "round a", *points,
                 "--curve", "round b", *other, "--plot", str(plot)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "| model | clips heard | ravdess UA |",
        "|---|---|---|",
        "| control seeds: mean (each) | any | 70.0 (65.0 / 70.0 / 75.0) |",
        "| round a | 0 | 60.0 |",
        "| round a | all | 95.0 |",
        "| round b | 5 | 85.0 |",
    ]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("case, message", [
    ("bad point", "a curve point is K=card.json"),
    ("name only", "each --curve needs a name and at least one K=card.json"),
    ("other clips", "scored different folds or clips"),
    ("missing card", "No such file"),
])
def test_each_error_names_its_cause_and_exits_2(tmp_path, capsys, case, message):
    good = _write(tmp_path, "good", _ua_card(3))
    elsewhere = dict(_ua_card(3))
    elsewhere["per_model"] = [{"ravdess": dict(elsewhere["per_model"][0]["ravdess"],
                                               predictions=[{"path": "else/0.wav",
                                                             "true": "sad", "clean": "sad"}])}]
    curve = {"bad point": ["m", good],
             "name only": ["m"],
             "other clips": ["m", f"0={_write(tmp_path, 'other', elsewhere)}"],
             "missing card": ["m", f"0={tmp_path / 'absent.json'}"]}[case]
    assert main(["--control", good, "--curve", *curve]) == 2
    assert message in capsys.readouterr().err
