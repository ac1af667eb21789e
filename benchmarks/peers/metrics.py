"""The peer benchmark's metrics on family-name labels: thin adapters over :mod:`deepmir_tools.metrics`.

Labels are family accessions (``None`` = no answer); an empty input gives NaN (shown as '-' in the tables)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from deepmir_tools import metrics


def accuracy(truth: Sequence[str], predicted: Sequence[str | None]) -> float:
    """Fraction of queries whose predicted family equals the true one (no prediction = wrong)."""
    if not truth:
        return float("nan")
    return metrics.accuracy(np.asarray(truth, dtype=object), np.asarray(predicted, dtype=object))


def macro_f1(truth: Sequence[str], predicted: Sequence[str | None]) -> float:
    """Unweighted mean F1 over the families present in ``truth``.

    A prediction of a family that is not in ``truth`` (or no prediction) only costs recall of
    the true family; predictions of a test family for another family's query cost its precision.
    """
    families = sorted(set(truth))
    if not families:
        return float("nan")
    index = {family: i for i, family in enumerate(families)}
    other = len(families)  # every prediction outside the test families, None included
    true = np.array([index[t] for t in truth])
    pred = np.array([index.get(p, other) if p is not None else other for p in predicted], dtype=np.int64)
    return metrics.macro_f1(true, pred, other + 1)


def _curve(positive: Sequence[float], negative: Sequence[float]) -> metrics.RocCurve | None:
    pos, neg = np.asarray(positive, dtype=np.float64), np.asarray(negative, dtype=np.float64)
    return metrics.roc_curve(pos, neg) if pos.size and neg.size else None


def auroc(positive: Sequence[float], negative: Sequence[float]) -> float:
    """Area under the ROC curve (ties count one half)."""
    curve = _curve(positive, negative)
    return curve.auroc if curve else float("nan")


def fpr_at_tpr(positive: Sequence[float], negative: Sequence[float], tpr: float = 0.95) -> float:
    """False-positive rate at the highest threshold that still accepts >= ``tpr`` of the positives."""
    curve = _curve(positive, negative)
    return metrics.fpr_at_tpr(curve, tpr) if curve else float("nan")
