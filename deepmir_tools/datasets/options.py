"""The options of a data set (family selection, split, length limit, seed) and the paper's Table 2 groups."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import DeepMirError
from ..relatives import DEFAULT_COVERAGE, DEFAULT_IDENTITY, Relation
from .model import Quota

#: The paper's Table 2 groups: (members per family, test members per family); max length 200 nt.
GROUPS: dict[str, tuple[int, int]] = {
    "rfam-300": (300, 50),
    "rfam-120": (120, 20),
    "rfam-60": (60, 10),
    "rfam-30": (30, 5),
}
DEFAULT_MAX_LEN = 200


@dataclass(frozen=True)
class DatasetOptions:
    """Family selection and split options (the CLI's options)."""

    min_members: int
    per_family: int | None = None
    test: Quota = Quota(0.2)
    val: Quota = Quota()
    mode: str = "random"  # random | remote
    identity: float = DEFAULT_IDENTITY
    coverage: float = DEFAULT_COVERAGE
    check_relatives: bool = False  # count test/val sequences with a training relative (always for remote)
    max_len: int | None = DEFAULT_MAX_LEN
    seed: int = 7

    def __post_init__(self) -> None:
        if self.mode not in ("random", "remote"):
            raise DeepMirError(f"unknown split mode {self.mode!r} (choose random or remote)")
        if self.min_members < 1 or (self.per_family is not None and self.per_family < 1):
            raise DeepMirError("--min-members and --per-family must be >= 1")
        if not 0.5 <= self.identity <= 1.0:
            raise DeepMirError(f"--identity must be between 0.5 and 1, got {self.identity:g}")
        if not 0.0 < self.coverage <= 1.0:
            raise DeepMirError(f"--coverage must be above 0 and at most 1, got {self.coverage:g}")
        if self.test.fraction + self.val.fraction >= 1.0:
            raise DeepMirError("--test-fraction plus --val-fraction must be below 1")
        both = (self.test.count or 0) + (self.val.count or 0)
        if self.per_family is not None and both >= self.per_family:
            raise DeepMirError(f"test plus validation members per family ({both}) leave no training member")

    def summary(self) -> dict[str, str]:
        """The options as ``summary.tsv`` records them (``option_<key>`` lines)."""
        return {
            "min_members": str(self.min_members),
            "per_family": "all" if self.per_family is None else str(self.per_family),
            "test": self.test.describe(),
            "val": self.val.describe(),
            "split": self.mode,
            "identity": f"{self.identity:g}" if self.relatives_checked else "n/a",
            "coverage": f"{self.coverage:g}" if self.relatives_checked else "n/a",
            "max_len": "none" if self.max_len is None else str(self.max_len),
            "seed": str(self.seed),
        }

    @property
    def relatives_checked(self) -> bool:
        """Whether the split's test and validation sets are checked for training relatives."""
        return self.mode == "remote" or self.check_relatives

    @property
    def relation(self) -> Relation:
        """The relative rule of the remote split and of the verification pass."""
        return Relation(self.identity, self.coverage)


def group_options(group: str, **overrides: Any) -> DatasetOptions:
    """Options of a Table 2 group: K members per family (of <= 200 nt), M of them for test."""
    if group not in GROUPS:
        raise DeepMirError(f"unknown group {group!r} (choose from {', '.join(GROUPS)})")
    members, test = GROUPS[group]
    settings = {"min_members": members, "per_family": members, "test": Quota(count=test), "max_len": DEFAULT_MAX_LEN}
    settings.update(overrides)
    return DatasetOptions(**settings)
