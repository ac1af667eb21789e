"""Train/validation/test splits of the chosen families: random per family (the paper) or homology-aware.

The homology rule itself (what makes two sequences relatives, clusters, the edlib searches in
processes) is :mod:`deepmir_tools.relatives`; this module decides which members go where.
"""

from __future__ import annotations

import random

from ..relatives import Relation, clusters, count_with_relatives, with_relatives
from .model import Family, Item, Quota, Split
from .options import DatasetOptions
from .selection import _rng


def _sizes(members: int, test: Quota, val: Quota) -> tuple[int, int]:
    """Test and validation sizes of a family; at least one member always stays in training."""
    n_test = max(0, min(test.size(members), members - 1))
    n_val = max(0, min(val.size(members), members - 1 - n_test))
    return n_test, n_val


# ------------------------------------------------------------------------------------ random split


def split_random(chosen: dict[Family, list[Item]], test: Quota, val: Quota = Quota(), seed: int = 7) -> Split:
    """Per-family random split (the paper): each family gives ``test`` and ``val`` of its members."""
    split = Split()
    for family, members in chosen.items():
        n_test, n_val = _sizes(len(members), test, val)
        order = list(range(len(members)))
        _rng(seed, family.accession, "split").shuffle(order)
        to_test, to_val = set(order[:n_test]), set(order[n_test : n_test + n_val])
        for index, item in enumerate(members):  # input order inside each split file
            (split.test if index in to_test else split.val if index in to_val else split.train).append(item)
    return split


# ------------------------------------------------------------------------------------ remote split


def _remote_family(
    members: list[Item], test: Quota, val: Quota, relation: Relation, rng: random.Random
) -> tuple[set[int], set[int]]:
    """Indices of test and validation members of one family: whole clusters, seeded order."""
    n_test, n_val = _sizes(len(members), test, val)
    groups = clusters([item.record.seq for item in members], relation)
    rng.shuffle(groups)
    to_test, rest = _take_clusters(groups, n_test)
    to_val, _ = _take_clusters(rest, n_val)
    return set(to_test), set(to_val)


def _take_clusters(groups: list[list[int]], target: int) -> tuple[list[int], list[list[int]]]:
    """Whole clusters, in the given order, that fit into ``target`` members; and the rest.

    A cluster too big for the room left is skipped and smaller ones after it still fill the
    quota (stopping at the first misfit instead leaves families well below their share).
    """
    taken: list[int] = []
    rest = []
    for cluster in groups:
        if len(taken) + len(cluster) <= target:
            taken.extend(cluster)
        else:
            rest.append(cluster)
    return taken, rest


def split_remote(
    chosen: dict[Family, list[Item]],
    test: Quota,
    val: Quota = Quota(),
    relation: Relation = Relation(),
    seed: int = 7,
    threads: int = 1,
) -> Split:
    """Homology-aware split: no test (or validation) sequence has a relative in training.

    Inside each family, relatives (:class:`relatives.Relation`: end to end or local) form clusters
    (connected components); whole clusters, in a seeded order, go to test while they fit into the
    test quota, then to validation from the remaining clusters. Families made of one big cluster get
    no test members. Last, test and validation sequences with a relative among the training
    sequences of any other family are dropped (``Split.dropped``), so that the invariant holds
    across families.
    """
    split = Split()
    for family, members in chosen.items():
        to_test, to_val = _remote_family(members, test, val, relation, _rng(seed, family.accession, "remote"))
        for index, item in enumerate(members):
            (split.test if index in to_test else split.val if index in to_val else split.train).append(item)
    split.test = _drop_related(split.test, split.train, relation, split.dropped, threads)
    split.val = _drop_related(split.val, split.train, relation, split.dropped, threads)
    return split


def _drop_related(held_out: list[Item], train: list[Item], relation: Relation, dropped: list[Item],
                  threads: int) -> list[Item]:
    # Inside a family no held-out cluster has a relative in a training cluster, so any relative
    # found is in another family; checking against all training sequences is simpler and the same.
    flags = with_relatives([item.record.seq for item in held_out], [item.record.seq for item in train],
                           relation, threads)
    dropped.extend(item for item, flag in zip(held_out, flags) if flag)
    return [item for item, flag in zip(held_out, flags) if not flag]


def check_relatives(split: Split, relation: Relation, threads: int = 1) -> None:
    """The verification pass: count test and validation sequences with a training relative.

    The counts go to ``Split.relatives`` and ``summary.tsv``; a remote split must show 0 (it is
    computed again from the final sets, not taken from the split's own bookkeeping), a random
    split shows how much its test set leaks.
    """
    train = [item.record.seq for item in split.train]
    split.relatives = {
        "test_with_train_relative": count_with_relatives((item.record.seq for item in split.test), train,
                                                         relation, threads),
        "val_with_train_relative": count_with_relatives((item.record.seq for item in split.val), train,
                                                        relation, threads),
    }


def make_split(chosen: dict[Family, list[Item]], options: DatasetOptions, threads: int = 1) -> Split:
    """The split ``options.mode`` asks for, verified when ``options.relatives_checked``."""
    if options.mode == "remote":
        split = split_remote(chosen, options.test, options.val, options.relation, options.seed, threads)
    else:
        split = split_random(chosen, options.test, options.val, options.seed)
    if options.relatives_checked:
        check_relatives(split, options.relation, threads)
    return split
