"""Scores for the turn predictor: ROC AUC and F1 of a probability against 0/1 labels."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata


def roc_auc(score: np.ndarray, label: np.ndarray) -> float:
    """Area under the ROC curve (ties count half); NaN when only one class is present."""
    score = np.asarray(score, np.float64)
    label = np.asarray(label).astype(bool)
    n_pos, n_neg = int(label.sum()), int((~label).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[label].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def f1(pred: np.ndarray, label: np.ndarray) -> float:
    pred = np.asarray(pred).astype(bool)
    label = np.asarray(label).astype(bool)
    tp = int((pred & label).sum())
    denom = int(pred.sum()) + int(label.sum())
    return float(2 * tp / denom) if denom else float("nan")


def percentile(values: list[float] | np.ndarray, q: float) -> float:
    values = np.asarray(values, np.float64)
    return float(np.percentile(values, q)) if len(values) else float("nan")
