"""Evaluation metrics, computed with numpy only so they are easy to check by hand.

Classification: UA (unweighted accuracy = mean per-class recall, i.e.
balanced accuracy), WA (weighted accuracy = plain accuracy), macro-F1,
per-class precision/recall/F1 and the confusion matrix (rows = true label).
Regression: MSE, MAE and Lin's concordance correlation coefficient (CCC).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class ClassificationReport:
    """Metrics of one evaluation; rates in [0, 1]."""

    labels: tuple[str, ...]
    confusion: np.ndarray  # (labels, labels) int, rows true, columns predicted
    ua: float
    wa: float
    macro_f1: float
    precision: tuple[float, ...]
    recall: tuple[float, ...]
    f1: tuple[float, ...]
    support: tuple[int, ...]

    def to_dict(self) -> dict:
        return {
            "ua": self.ua, "wa": self.wa, "macro_f1": self.macro_f1,
            "per_class": {label: {"precision": p, "recall": r, "f1": f, "support": s}
                          for label, p, r, f, s in zip(self.labels, self.precision, self.recall,
                                                       self.f1, self.support)},
            "confusion": self.confusion.tolist(), "labels": list(self.labels),
        }


def confusion_matrix(true: Sequence[int], predicted: Sequence[int], classes: int) -> np.ndarray:
    """Counts of (true, predicted) index pairs, shape (classes, classes)."""
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(true, dtype=np.int64), np.asarray(predicted, dtype=np.int64)), 1)
    return matrix


def classification_report(true: Sequence[int], predicted: Sequence[int],
                          labels: Sequence[str]) -> ClassificationReport:
    """UA, WA, macro-F1 and per-class figures.

    Classes absent from ``true`` are left out of UA and macro-F1 (their
    recall is undefined), but kept in the confusion matrix.
    """
    matrix = confusion_matrix(true, predicted, len(labels))
    support = matrix.sum(axis=1)
    predicted_count = matrix.sum(axis=0)
    hits = np.diag(matrix).astype(np.float64)
    recall = np.divide(hits, support, out=np.zeros_like(hits), where=support > 0)
    precision = np.divide(hits, predicted_count, out=np.zeros_like(hits), where=predicted_count > 0)
    denominator = precision + recall
    f1 = np.divide(2 * precision * recall, denominator, out=np.zeros_like(hits),
                   where=denominator > 0)
    present = support > 0
    total = int(support.sum())
    return ClassificationReport(
        labels=tuple(labels), confusion=matrix,
        ua=float(recall[present].mean()) if present.any() else 0.0,
        wa=float(hits.sum() / total) if total else 0.0,
        macro_f1=float(f1[present].mean()) if present.any() else 0.0,
        precision=tuple(float(v) for v in precision), recall=tuple(float(v) for v in recall),
        f1=tuple(float(v) for v in f1), support=tuple(int(v) for v in support))


def concordance_correlation(true: Sequence[float], predicted: Sequence[float]) -> float:
    """Lin's CCC: 2 cov / (var_t + var_p + (mean_t - mean_p)^2), population moments."""
    t = np.asarray(true, dtype=np.float64)
    p = np.asarray(predicted, dtype=np.float64)
    covariance = np.mean((t - t.mean()) * (p - p.mean()))
    denominator = t.var() + p.var() + (t.mean() - p.mean()) ** 2
    return float(2 * covariance / denominator) if denominator > 0 else 0.0


def regression_report(true: Sequence[float], predicted: Sequence[float]) -> dict[str, float]:
    """MSE, MAE and CCC of one target."""
    t = np.asarray(true, dtype=np.float64)
    p = np.asarray(predicted, dtype=np.float64)
    return {"mse": float(np.mean((t - p) ** 2)), "mae": float(np.mean(np.abs(t - p))),
            "ccc": concordance_correlation(t, p)}


def mean_and_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    array = np.asarray(values, dtype=np.float64)
    return float(array.mean()), float(array.std(ddof=1)) if len(array) > 1 else 0.0
