"""Metrics against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from emoedge.train.metrics import (classification_report, concordance_correlation,
                                   mean_and_std, regression_report)


def test_classification_by_hand():
    # true:      a a a a b b c c      (4 a, 2 b, 2 c)
    # predicted: a a a b b a c b
    true = [0, 0, 0, 0, 1, 1, 2, 2]
    predicted = [0, 0, 0, 1, 1, 0, 2, 1]
    report = classification_report(true, predicted, ["a", "b", "c"])
    assert report.confusion.tolist() == [[3, 1, 0], [1, 1, 0], [0, 1, 1]]
    assert report.recall == (0.75, 0.5, 0.5)
    assert report.precision == (0.75, pytest.approx(1 / 3), 1.0)
    assert report.ua == pytest.approx((0.75 + 0.5 + 0.5) / 3)
    assert report.wa == pytest.approx(5 / 8)
    f1_b = 2 * (1 / 3) * 0.5 / (1 / 3 + 0.5)
    f1_c = 2 * 1.0 * 0.5 / 1.5
    assert report.f1 == (0.75, pytest.approx(f1_b), pytest.approx(f1_c))
    assert report.macro_f1 == pytest.approx((0.75 + f1_b + f1_c) / 3)
    assert report.support == (4, 2, 2)


def test_absent_class_is_left_out_of_ua():
    report = classification_report([0, 0, 1], [0, 1, 1], ["a", "b", "unused"])
    assert report.ua == pytest.approx((0.5 + 1.0) / 2)
    assert report.support[2] == 0


def test_regression_by_hand():
    true = [1.0, 2.0, 3.0, 4.0]
    predicted = [1.0, 2.0, 2.0, 5.0]
    report = regression_report(true, predicted)
    assert report["mse"] == pytest.approx((0 + 0 + 1 + 1) / 4)
    assert report["mae"] == pytest.approx(0.5)
    # Both means are 2.5. var_t = (2.25+0.25+0.25+2.25)/4 = 1.25,
    # var_p = (2.25+0.25+0.25+6.25)/4 = 2.25, cov = (2.25+0.25-0.25+3.75)/4 = 1.5.
    assert report["ccc"] == pytest.approx(2 * 1.5 / (1.25 + 2.25))


def test_ccc_perfect_shifted_and_constant():
    assert concordance_correlation([1, 2, 3], [1, 2, 3]) == pytest.approx(1.0)
    assert concordance_correlation([1, 2, 3], [2, 3, 4]) == pytest.approx(2 * (2 / 3) / (4 / 3 + 1))
    assert concordance_correlation([1, 1, 1], [1, 1, 1]) == 0.0


def test_mean_and_std():
    assert mean_and_std([1.0, 3.0]) == (2.0, pytest.approx(np.sqrt(2)))
    assert mean_and_std([5.0]) == (5.0, 0.0)
