"""The accept/reject rule of a model: one owner for which score, at which temperature, against which threshold.

A bundle carries its :class:`Decision` (``meta["threshold"]``, chosen by ``deepmir-calibrate``);
``deepmir-classify`` and ``deepmir-calibrate`` both apply it through this module, so the rule a
model was calibrated with is the rule it is used with. The scorer always returns logits; the
decision turns them into family probabilities (softmax at the temperature) and the one score the
threshold applies to (the maximum softmax, or the energy score).

A decision may also name the sequence lengths it was calibrated for (``min_length``,
``max_length``, for read models): a sequence outside that range gets its own status
(:data:`TOO_SHORT`, :data:`TOO_LONG`) and never a family, instead of a score the threshold was
never chosen on.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .errors import ModelBundleError
from .metrics import energy_score

ACCEPTED, REJECTED = "accepted", "rejected"
TOO_SHORT, TOO_LONG = "too_short", "too_long"
SCORES = ("softmax", "energy")


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature`` (numerically stable).

    A temperature above 1 (Guo et al. 2017 temperature scaling) flattens overconfident
    outputs; it never changes the top family, only how scores of known and unknown
    sequences spread, which can separate them better (measured in benchmarks/).
    """
    if temperature != 1.0:
        logits = logits / temperature
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def length_status(length: int, min_length: int | None, max_length: int | None) -> str | None:
    """:data:`TOO_SHORT` / :data:`TOO_LONG` for a length outside [min_length, max_length] (None: unbounded)."""
    if min_length is not None and length < min_length:
        return TOO_SHORT
    if max_length is not None and length > max_length:
        return TOO_LONG
    return None


@dataclass(frozen=True)
class Decision:
    """Accept a sequence when its score reaches ``threshold`` and its length is in range.

    ``score``: ``softmax`` (max softmax of logits / ``temperature``, the paper) or ``energy``
    (logsumexp of the logits, Liu et al. 2020). ``min_length``/``max_length``: the lengths the
    threshold was calibrated for (``None``: any length the model takes).
    """

    threshold: float
    score: str = "softmax"
    temperature: float = 1.0
    min_length: int | None = None
    max_length: int | None = None

    def __post_init__(self) -> None:
        if self.score not in SCORES:
            raise ValueError(f"unknown score {self.score!r} (expected one of {', '.join(SCORES)})")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.min_length is not None and self.max_length is not None and self.min_length > self.max_length:
            raise ValueError(f"min_length {self.min_length} > max_length {self.max_length}")

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Family probabilities: softmax(logits / temperature), in float64."""
        return softmax(np.asarray(logits, dtype=np.float64), self.temperature)

    def scores(self, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities, the score the threshold applies to) of a batch of logits."""
        probabilities = self.probabilities(logits)
        if self.score == "energy":
            return probabilities, energy_score(np.asarray(logits, dtype=np.float64))
        return probabilities, probabilities.max(axis=1)

    def length_status(self, length: int) -> str | None:
        """:data:`TOO_SHORT` / :data:`TOO_LONG` for a length outside the calibrated range, else ``None``."""
        return length_status(length, self.min_length, self.max_length)

    def status(self, score: float) -> str:
        """Accepted or rejected, for a sequence whose length is in range."""
        return ACCEPTED if score >= self.threshold else REJECTED

    def overridden(self, threshold: float | None = None, temperature: float | None = None) -> "Decision":
        """The same rule with a user's threshold and/or temperature (``None`` keeps the model's)."""
        changes: dict[str, Any] = {}
        if threshold is not None:
            changes["threshold"] = float(threshold)
        if temperature is not None:
            changes["temperature"] = float(temperature)
        return replace(self, **changes)

    def length_range(self) -> str:
        """The calibrated length range as text (``16-40``, ``>=16``, ``any``)."""
        if self.min_length is None and self.max_length is None:
            return "any"
        if self.max_length is None:
            return f">={self.min_length}"
        return f"{self.min_length or 1}-{self.max_length}"

    def fields(self) -> dict[str, Any]:
        """The rule's fields as stored in a bundle's threshold record (lengths only when set)."""
        record: dict[str, Any] = {"value": self.threshold, "score": self.score, "temperature": self.temperature}
        if self.min_length is not None:
            record["min_length"] = self.min_length
        if self.max_length is not None:
            record["max_length"] = self.max_length
        return record

    @classmethod
    def from_record(cls, record: Any, where: str = "model bundle") -> "Decision":
        """The rule of a bundle's threshold record (older bundles: softmax, T = 1, any length)."""
        if not isinstance(record, dict):
            raise ModelBundleError(f"{where}: malformed threshold record (expected a mapping)")
        value = record.get("value")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ModelBundleError(f"{where}: malformed threshold record (expected a number under 'value')")
        lengths = [record.get(key) for key in ("min_length", "max_length")]
        if any(v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1) for v in lengths):
            raise ModelBundleError(f"{where}: malformed threshold record (min_length/max_length must be integers >= 1)")
        try:
            return cls(float(value), record.get("score", "softmax"), float(record.get("temperature", 1.0)), *lengths)
        except (TypeError, ValueError) as exc:
            raise ModelBundleError(f"{where}: malformed threshold record ({exc})") from None
