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

A read model's decision may also carry a **seed check**: for each family, the 7-mers at nt 2-8
(the miRNA seed, which defines most animal families) of the reads it was trained to know, 5'
isomiRs included. A read whose score passes but whose nt 2-8 are not a known seed of its top
family gets :data:`SEED_MISMATCH` instead of the family: pre-miRNA loop and flank fragments and
reads cut a few nt off a mature look like the family to the network, but their 5' end is wrong.

A decision may also consult a **reference stage** (:mod:`deepmir_tools.reference`) for sequences the
network is not sure of (top softmax below ``reference_below``): the nearest known member names the
family when its alignment reaches ``reference_min_score``. Hairpins: the score is the Smith-Waterman
score (BLASTN's scores) of any local alignment, both strands. Reads (``reference_anchor`` set):
members as given only, the alignment must start within ``reference_anchor`` nt of both 5' ends, and
the score is the alignment's shortfall from a perfect match of the whole read (0: every nt matches;
each mismatch costs 5, each nt of the read left out 2), so the minimum is <= 0 and means the same for
a 17-nt and a 25-nt read.

A hairpin model's decision may also carry the **scan thresholds** of ``deepmir-scan``: windows whose
score reaches ``scan_window_threshold`` are candidates, and a locus is reported when its hairpin, cut out
and scored as classify scores it, reaches ``scan_threshold``. A genome is millions of windows, almost all
of them background that no calibration class resembles, so the scan's threshold is chosen apart, on real
genomic sequence without miRNA genes (``deepmir-calibrate --genomic-background``), for a target number of
false loci per Mb.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping

import numpy as np

from .errors import ModelBundleError
from .metrics import energy_score

ACCEPTED, REJECTED = "accepted", "rejected"
SEED_MISMATCH = "seed_mismatch"  # score passed, but nt 2-8 are no known seed of the top family
TOO_SHORT, TOO_LONG = "too_short", "too_long"
SKIPPED = "skipped"  # longer than the model takes, under --long skip
NETWORK, REFERENCE = "network", "reference"  # which stage gave an accepted family
DEFAULT_REFERENCE_BELOW = 0.99
STATUSES = (ACCEPTED, REJECTED, SEED_MISMATCH, TOO_SHORT, TOO_LONG, SKIPPED)
SCORES = ("softmax", "energy")
SEED_START, SEED_END = 1, 8  # nt 2-8 (0-based slice), the seed of a miRNA
SEED_POSITIONS = f"{SEED_START + 1}-{SEED_END}"
_SEED_ALPHABET = frozenset("ACGU")

Seeds = Mapping[str, frozenset[str]]  # family accession -> known seeds (nt 2-8, upper-case RNA)


def seed_of(sequence: str) -> str:
    """nt 2-8 of a read, upper-case RNA (shorter reads give a shorter string, which matches no seed)."""
    return sequence[SEED_START:SEED_END].upper().replace("T", "U")


def seeds_from(labelled: Iterable[tuple[str, str]]) -> dict[str, frozenset[str]]:
    """Known seeds per family from (family accession, sequence) pairs; sequences with a seed outside ACGU
    (an N) or shorter than 8 nt give none."""
    found: dict[str, set[str]] = {}
    for accession, sequence in labelled:
        seed = seed_of(sequence)
        if len(seed) == SEED_END - SEED_START and set(seed) <= _SEED_ALPHABET:
            found.setdefault(accession, set()).add(seed)
    return {accession: frozenset(seeds) for accession, seeds in found.items()}


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


def gated(scores: np.ndarray, seed_matches: np.ndarray | None) -> np.ndarray:
    """Scores with those of seed mismatches set to -inf, so that no threshold accepts them (calibration);
    ``seed_matches`` None (no seed check): the scores as they are."""
    if seed_matches is None:
        return scores
    return np.where(seed_matches, scores, -np.inf)


@dataclass(frozen=True)
class Decision:
    """Accept a sequence when its score reaches ``threshold``, its length is in range and, with
    ``seeds``, its nt 2-8 are a known seed of its top family.

    ``score``: ``softmax`` (max softmax of logits / ``temperature``, the paper) or ``energy``
    (logsumexp of the logits, Liu et al. 2020). ``min_length``/``max_length``: the lengths the
    threshold was calibrated for (``None``: any length the model takes). ``seeds``: family
    accession -> known seeds (``None``: no seed check).
    """

    threshold: float
    score: str = "softmax"
    temperature: float = 1.0
    min_length: int | None = None
    max_length: int | None = None
    seeds: Seeds | None = field(default=None, repr=False)
    reference_min_score: int | None = None
    reference_below: float = DEFAULT_REFERENCE_BELOW
    reference_anchor: int | None = None
    scan_threshold: float | None = None
    scan_window_threshold: float | None = None

    def __post_init__(self) -> None:
        if self.score not in SCORES:
            raise ValueError(f"unknown score {self.score!r} (expected one of {', '.join(SCORES)})")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.min_length is not None and self.max_length is not None and self.min_length > self.max_length:
            raise ValueError(f"min_length {self.min_length} > max_length {self.max_length}")
        if self.reference_anchor is not None and self.reference_anchor < 0:
            raise ValueError(f"reference_anchor must be >= 0, got {self.reference_anchor}")
        if self.reference_min_score is not None and self.reference_anchor is None and self.reference_min_score < 1:
            raise ValueError(f"reference_min_score must be >= 1, got {self.reference_min_score}")
        if self.reference_min_score is not None and self.reference_anchor is not None and self.reference_min_score > 0:
            raise ValueError(f"reference_min_score of an anchored reference must be <= 0, got "
                             f"{self.reference_min_score}")
        if not 0 <= self.reference_below <= 1:
            raise ValueError(f"reference_below must be in [0, 1], got {self.reference_below}")
        for name in ("scan_threshold", "scan_window_threshold"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value}")

    def below_reference_cutoff(self, top_probability: float) -> bool:
        """Whether the network is unsure enough of a sequence for the reference stage (``reference_below`` 1:
        every sequence, a top softmax of exactly 1 included)."""
        return top_probability < self.reference_below or self.reference_below == 1

    def consults_reference(self, top_probability: float) -> bool:
        """Whether a sequence with this network top softmax is looked up in the reference."""
        return self.reference_min_score is not None and self.below_reference_cutoff(top_probability)

    def reference_score(self, alignment_score: int, length: int) -> int:
        """The score the reference minimum applies to: the alignment score itself, or for an anchored (read)
        reference its shortfall from a perfect match of all ``length`` nt (2 per nt; 0 at best)."""
        return alignment_score if self.reference_anchor is None else alignment_score - 2 * length

    def reference_accepts(self, alignment_score: int | None, length: int) -> bool:
        """Whether a nearest reference member at this alignment score, for a sequence of this length, gives its
        family."""
        return (self.reference_min_score is not None and alignment_score is not None
                and self.reference_score(alignment_score, length) >= self.reference_min_score)

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

    def seed_matches(self, sequence: str, family_accession: str) -> bool:
        """Whether nt 2-8 of ``sequence`` are a known seed of the family (always, without a seed check)."""
        return self.seeds is None or seed_of(sequence) in self.seeds.get(family_accession, ())

    def status(self, score: float, seed_matches: bool = True) -> str:
        """Accepted, rejected or seed_mismatch, for a sequence whose length is in range."""
        if score < self.threshold:
            return REJECTED
        return ACCEPTED if seed_matches else SEED_MISMATCH

    def overridden(self, threshold: float | None = None, temperature: float | None = None,
                   seed_check: bool = True, reference: bool = True) -> "Decision":
        """The same rule with a user's threshold and/or temperature (``None`` keeps the model's), without
        the seed check when ``seed_check`` is False and without the reference stage when ``reference`` is False."""
        changes: dict[str, Any] = {}
        if not reference:
            changes["reference_min_score"] = changes["reference_anchor"] = None
        if threshold is not None:
            changes["threshold"] = float(threshold)
        if temperature is not None:
            changes["temperature"] = float(temperature)
        if not seed_check:
            changes["seeds"] = None
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
        if self.seeds is not None:
            record["seeds"] = {"positions": SEED_POSITIONS,
                               "by_family": {acc: sorted(self.seeds[acc]) for acc in sorted(self.seeds)}}
        if self.reference_min_score is not None:
            record["reference_min_score"] = self.reference_min_score
            record["reference_below"] = self.reference_below
        if self.reference_anchor is not None:
            record["reference_anchor"] = self.reference_anchor
        if self.scan_threshold is not None:
            record["scan_threshold"] = self.scan_threshold
        if self.scan_window_threshold is not None:
            record["scan_window_threshold"] = self.scan_window_threshold
        return record

    def seed_check(self) -> str:
        """The seed check as text for output headers (``2-8`` or ``off``)."""
        return "off" if self.seeds is None else SEED_POSITIONS

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
        seeds = _seeds_from_record(record.get("seeds"), where)
        min_score, anchor = record.get("reference_min_score"), record.get("reference_anchor")
        scan = {name: record.get(name) for name in ("scan_threshold", "scan_window_threshold")}
        for name, number in scan.items():
            if number is not None and (isinstance(number, bool) or not isinstance(number, (int, float))):
                raise ModelBundleError(f"{where}: malformed threshold record ({name} must be a number)")
        if any(v is not None and (isinstance(v, bool) or not isinstance(v, int)) for v in (min_score, anchor)):
            raise ModelBundleError(f"{where}: malformed threshold record (reference_min_score and reference_anchor "
                                   "must be integers)")
        try:
            return cls(float(value), record.get("score", "softmax"), float(record.get("temperature", 1.0)), *lengths,
                       seeds=seeds, reference_min_score=min_score,
                       reference_below=float(record.get("reference_below", DEFAULT_REFERENCE_BELOW)),
                       reference_anchor=anchor,
                       **{name: None if number is None else float(number) for name, number in scan.items()})
        except (TypeError, ValueError) as exc:
            raise ModelBundleError(f"{where}: malformed threshold record ({exc})") from None


def _seeds_from_record(record: Any, where: str) -> dict[str, frozenset[str]] | None:
    """The seed table of a threshold record (``None`` when the record has none)."""
    if record is None:
        return None
    by_family = record.get("by_family") if isinstance(record, dict) else None
    if not isinstance(record, dict) or record.get("positions") != SEED_POSITIONS or not isinstance(by_family, dict):
        raise ModelBundleError(f"{where}: malformed threshold record (seeds: expected positions "
                               f"'{SEED_POSITIONS}' and a by_family mapping)")
    seeds = {}
    for accession, items in by_family.items():
        if not isinstance(items, list) or not all(isinstance(x, str) and len(x) == SEED_END - SEED_START
                                                  and set(x) <= _SEED_ALPHABET for x in items):
            raise ModelBundleError(f"{where}: malformed threshold record (seeds of {accession!r}: expected 7-mers "
                                   "of ACGU)")
        seeds[str(accession)] = frozenset(items)
    return seeds
