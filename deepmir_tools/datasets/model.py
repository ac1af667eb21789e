"""The data set's types: families, items, per-split quotas, the selection, the split, the prepared input.

They live apart from the steps that make them so that every step (parsing, preparation, selection,
splits, writers) imports them without importing the others.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

from ..seqio import SeqRecord


@dataclass(frozen=True, order=True)
class Family:
    """A family: accession (``MIPF0000001``, ``RF00027``) and name (``mir-17``)."""

    accession: str
    name: str


class Item(NamedTuple):
    """A sequence record and its family (None: the record belongs to no family)."""

    record: SeqRecord
    family: Family | None


@dataclass(frozen=True)
class Quota:
    """How many members of a family a split gets: a fixed ``count``, else a ``fraction``."""

    fraction: float = 0.0
    count: int | None = None

    def size(self, members: int) -> int:
        """Members of a family of ``members`` that this quota takes (before the training reserve)."""
        if self.count is not None:
            return self.count
        return math.floor(members * self.fraction + 0.5)  # round half up, not to even

    def describe(self) -> str:
        """The quota as ``summary.tsv`` writes it: ``10 per family`` or ``0.2``."""
        return f"{self.count} per family" if self.count is not None else f"{self.fraction:g}"


@dataclass
class Selection:
    """Families chosen for training and what is left out."""

    chosen: dict[Family, list[Item]]  # in accession order; members in input order
    totals: dict[str, int]  # accession -> members before per-family sampling
    unsampled: list[Item] = field(default_factory=list)  # members of chosen families beyond K
    unseen: list[Item] = field(default_factory=list)  # families below the member threshold
    no_family: list[Item] = field(default_factory=list)


@dataclass
class Split:
    """Items per split; ``dropped`` are remote-split members too similar to a training sequence."""

    train: list[Item] = field(default_factory=list)
    val: list[Item] = field(default_factory=list)
    test: list[Item] = field(default_factory=list)
    dropped: list[Item] = field(default_factory=list)
    relatives: dict[str, int] | None = None  # the verification pass's counts (:func:`check_relatives`)


@dataclass
class Prepared:
    """Loaded items after deduplication and the length filter, with what was removed."""

    items: list[Item]
    loaded: int
    duplicates: int
    too_long: int
    notes: dict[str, str] = field(default_factory=dict)  # extra summary lines (e.g. ambiguous matures)
