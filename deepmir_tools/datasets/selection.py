"""Family selection: the families with enough members, and K of them sampled per family."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Sequence

from .model import Family, Item, Selection
from .prepare import family_sizes


# Every random choice (the sampling here, the splits in splits.py) draws from a generator seeded with
# the user's seed and the family accession, so one family's draw does not depend on the other families.
def _rng(seed: int, *parts: str) -> random.Random:
    # A string seed is hashed with SHA-512 by random.seed: stable across runs and Python versions.
    return random.Random("/".join([str(seed), *parts]))


def select_families(
    items: Sequence[Item],
    min_members: int,
    per_family: int | None = None,
    seed: int = 7,
    sizes: dict[str, int] | None = None,
) -> Selection:
    """Families with at least ``min_members`` members, ``per_family`` of them sampled (all when None).

    ``sizes`` (accession -> members) replaces the counts of ``items`` for the threshold: a mature
    data set chooses its families by their hairpins, so that it has the classes of the hairpin
    data set built with the same options. Sampled members keep their input order.
    """
    threshold_counts = family_sizes(items) if sizes is None else sizes
    groups: dict[Family, list[Item]] = defaultdict(list)
    selection = Selection(chosen={}, totals={})
    for item in items:
        if item.family is None:
            selection.no_family.append(item)
        elif threshold_counts.get(item.family.accession, 0) >= min_members:
            groups[item.family].append(item)
        else:
            selection.unseen.append(item)
    for family in sorted(groups):
        members = groups[family]
        selection.totals[family.accession] = len(members)
        chosen, rest = _sample(members, per_family, _rng(seed, family.accession, "sample"))
        selection.chosen[family] = chosen
        selection.unsampled.extend(rest)
    return selection


def _sample(members: list[Item], size: int | None, rng: random.Random) -> tuple[list[Item], list[Item]]:
    if size is None or size >= len(members):
        return list(members), []
    picked = set(rng.sample(range(len(members)), size))
    return [m for i, m in enumerate(members) if i in picked], [m for i, m in enumerate(members) if i not in picked]
