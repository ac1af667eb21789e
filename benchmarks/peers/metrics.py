"""Classification and open-set metrics in plain numpy (no sklearn needed)."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def accuracy(truth: Sequence[str], predicted: Sequence[str | None]) -> float:
    """Fraction of queries whose predicted family equals the true one (no prediction = wrong)."""
    if not truth:
        return float("nan")
    return float(np.mean([t == p for t, p in zip(truth, predicted)]))


def macro_f1(truth: Sequence[str], predicted: Sequence[str | None]) -> float:
    """Unweighted mean F1 over the families present in ``truth``.

    A prediction of a family that is not in ``truth`` (or no prediction) only costs recall of
    the true family; predictions of a test family for another family's query cost its precision.
    """
    families = sorted(set(truth))
    if not families:
        return float("nan")
    t = np.asarray(truth, dtype=object)
    p = np.asarray([x if x is not None else "" for x in predicted], dtype=object)
    scores = []
    for family in families:
        tp = float(np.sum((t == family) & (p == family)))
        fp = float(np.sum((t != family) & (p == family)))
        fn = float(np.sum((t == family) & (p != family)))
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks with ties given their average rank (like scipy.stats.rankdata)."""
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    # boundaries of runs of equal values
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_values)) + 1]
    ends = np.r_[starts[1:], sorted_values.size]
    run_rank = (starts + ends + 1) / 2.0  # mean of ranks starts+1 .. ends
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = np.repeat(run_rank, ends - starts)
    return ranks


def auroc(positive: Sequence[float], negative: Sequence[float]) -> float:
    """Area under the ROC curve by the Mann-Whitney rank formula (ties count one half)."""
    pos = np.asarray(positive, dtype=np.float64)
    neg = np.asarray(negative, dtype=np.float64)
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    ranks = _average_ranks(np.concatenate([pos, neg]))
    return float((ranks[:pos.size].sum() - pos.size * (pos.size + 1) / 2.0) / (pos.size * neg.size))


def fpr_at_tpr(positive: Sequence[float], negative: Sequence[float], tpr: float = 0.95) -> float:
    """False-positive rate at the highest threshold that still accepts >= ``tpr`` of the positives."""
    pos = np.sort(np.asarray(positive, dtype=np.float64))
    neg = np.asarray(negative, dtype=np.float64)
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    # at most floor((1 - tpr) * n) positives may fall below the threshold
    allowed_below = int(np.floor((1.0 - tpr) * pos.size + 1e-9))
    threshold = pos[allowed_below]
    return float(np.mean(neg >= threshold))
