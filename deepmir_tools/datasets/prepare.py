"""Preparation of the loaded items: exact duplicates out, then sequences longer than the maximum length."""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

from .model import Item, Prepared


def deduplicate(items: Iterable[Item]) -> tuple[list[Item], int]:
    """Items with a sequence not seen before (first occurrence wins) and the number removed."""
    seen: set[str] = set()
    kept, removed = [], 0
    for item in items:
        if item.record.seq in seen:
            removed += 1
        else:
            seen.add(item.record.seq)
            kept.append(item)
    return kept, removed


def drop_long(items: Iterable[Item], max_len: int | None) -> tuple[list[Item], int]:
    """Items of at most ``max_len`` nt (all of them when None) and the number removed."""
    items = list(items)
    if max_len is None:
        return items, 0
    kept = [item for item in items if len(item.record.seq) <= max_len]
    return kept, len(items) - len(kept)


def prepare(items: Sequence[Item], max_len: int | None) -> Prepared:
    """Deduplicate, then drop long sequences (the paper's order)."""
    unique, duplicates = deduplicate(items)
    kept, too_long = drop_long(unique, max_len)
    return Prepared(kept, len(items), duplicates, too_long)


def family_sizes(items: Iterable[Item]) -> Counter[str]:
    """Members per family accession (family-less items not counted)."""
    return Counter(item.family.accession for item in items if item.family is not None)
