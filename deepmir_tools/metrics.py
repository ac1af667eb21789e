"""Classification and open-set metrics (numpy only): accuracy, F1, ROC, thresholds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def accuracy(true: np.ndarray, predicted: np.ndarray) -> float:
    """Fraction of correct predictions (0 for an empty set)."""
    return float(np.mean(true == predicted)) if len(true) else 0.0


@dataclass
class PerClass:
    """Precision, recall, F1 and support of each class (paper: F-score per family)."""

    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray


def per_class(true: np.ndarray, predicted: np.ndarray, n_classes: int) -> PerClass:
    """Per-class precision/recall/F1; a class never predicted has precision 0."""
    tp = np.bincount(true[true == predicted], minlength=n_classes).astype(float)
    predicted_count = np.bincount(predicted, minlength=n_classes).astype(float)
    support = np.bincount(true, minlength=n_classes).astype(float)
    precision = np.divide(tp, predicted_count, out=np.zeros(n_classes), where=predicted_count > 0)
    recall = np.divide(tp, support, out=np.zeros(n_classes), where=support > 0)
    denominator = precision + recall
    f1 = np.divide(2 * precision * recall, denominator, out=np.zeros(n_classes), where=denominator > 0)
    return PerClass(precision, recall, f1, support.astype(int))


def macro_f1(true: np.ndarray, predicted: np.ndarray, n_classes: int) -> float:
    """Mean F1 over the classes present in ``true`` (the paper's average F-score)."""
    stats = per_class(true, predicted, n_classes)
    present = stats.support > 0
    return float(stats.f1[present].mean()) if present.any() else 0.0


@dataclass
class RocCurve:
    """ROC of in-distribution (positive) vs out-of-distribution (negative) scores.

    ``thresholds`` are descending; at threshold t a sequence is accepted if score >= t.
    """

    thresholds: np.ndarray
    tpr: np.ndarray
    fpr: np.ndarray
    precision: np.ndarray
    auroc: float


def roc_curve(positive: np.ndarray, negative: np.ndarray) -> RocCurve:
    """ROC over every distinct score; AUROC by the trapezoid rule (equals the rank statistic)."""
    scores = np.concatenate([positive, negative]).astype(np.float64)
    is_positive = np.concatenate([np.ones(len(positive)), np.zeros(len(negative))])
    order = np.argsort(-scores, kind="stable")
    scores, is_positive = scores[order], is_positive[order]
    # last index of each score value (compared, not subtracted: -inf - -inf is nan, and scores gated to -inf tie)
    distinct = np.r_[np.flatnonzero(scores[1:] != scores[:-1]), len(scores) - 1]
    tp = np.cumsum(is_positive)[distinct]
    fp = np.cumsum(1 - is_positive)[distinct]
    tpr = np.r_[0.0, tp / max(len(positive), 1)]
    fpr = np.r_[0.0, fp / max(len(negative), 1)]
    precision = np.r_[1.0, tp / np.maximum(tp + fp, 1)]
    thresholds = np.r_[np.inf, scores[distinct]]
    auroc = float(np.trapezoid(tpr, fpr)) if hasattr(np, "trapezoid") else float(np.trapz(tpr, fpr))
    return RocCurve(thresholds, tpr, fpr, precision, auroc)


def auroc(positive: np.ndarray, negative: np.ndarray) -> float:
    """Area under the ROC curve (probability that a positive outscores a negative)."""
    return roc_curve(positive, negative).auroc


def threshold_at_fpr(curve: RocCurve, target_fpr: float) -> int:
    """Index of the lowest threshold whose FPR is still <= ``target_fpr`` (highest TPR)."""
    allowed = np.flatnonzero(curve.fpr <= target_fpr + 1e-12)
    return int(allowed[-1])


def threshold_max_f(curve: RocCurve) -> int:
    """Index of the threshold with the largest F-score (precision/recall of acceptance)."""
    denominator = curve.precision + curve.tpr
    f = np.divide(2 * curve.precision * curve.tpr, denominator, out=np.zeros_like(denominator), where=denominator > 0)
    return int(np.argmax(f))


def fpr_at_tpr(curve: RocCurve, target_tpr: float) -> float:
    """Smallest FPR at which the TPR reaches ``target_tpr``."""
    reached = np.flatnonzero(curve.tpr >= target_tpr - 1e-12)
    return float(curve.fpr[reached[0]]) if len(reached) else 1.0


def energy_score(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Negative free energy T * logsumexp(logits / T): higher = more in-distribution (Liu et al. 2020)."""
    scaled = logits / temperature
    top = scaled.max(axis=1, keepdims=True)
    return temperature * (top[:, 0] + np.log(np.exp(scaled - top).sum(axis=1)))
