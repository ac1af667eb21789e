"""The relative rule of the homology-aware split (deepmir_tools.relatives), checked against BLASTN and edlib.

The truth for the local rule is BLASTN's own output on real miRBase 22.1 hairpins
(test-data/dataset/mirbase22-hairpin-blastn.tsv.gz, made by the command in its first line and in
test-data/README.md): the issue that asked for the rule measured leaks with exactly this BLASTN call.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from conftest import blastn_hits, blastn_relatives, independent_end_to_end_hit

from deepmir_tools import relatives as rl
from deepmir_tools.seqio import read_records

DATA = Path(__file__).resolve().parent.parent / "test-data" / "dataset"
HAIRPINS = str(DATA / "mirbase22-hairpin.fa")


@pytest.fixture(scope="module")
def hairpins() -> dict[str, str]:
    return {record.id: record.seq for record in read_records(HAIRPINS)}


@pytest.fixture(scope="module")
def blastn() -> list[tuple[str, str, float, int, int, int]]:
    return blastn_hits()


def test_end_to_end_hit_uses_the_shorter_sequence(hairpins):
    let7a1, let7a2, mir21 = hairpins["hsa-let-7a-1"], hairpins["hsa-let-7a-2"], hairpins["hsa-mir-21"]
    assert rl.end_to_end_hit(let7a1, let7a1[5:-5], 0.99)  # a piece of a hairpin lies inside it
    assert not rl.end_to_end_hit(let7a1, mir21, 0.8)
    assert rl.end_to_end_hit(let7a1, let7a2, 0.8) == independent_end_to_end_hit(let7a1, let7a2, 0.8)
    assert rl.max_edits(80, 0.8) == 16  # not 15: (1 - 0.8) * 80 is 15.999... in floating point


def test_every_pair_blastn_relates_is_related(hairpins, blastn):
    truth = blastn_relatives(blastn)
    assert len(truth) > 100
    relation = rl.Relation(0.8, 0.8)
    missed = [sorted(pair) for pair in truth if not relation.related(*(hairpins[name] for name in sorted(pair)))]
    assert missed == []
    # the local rule is what finds many of them: end to end they are below 80%
    end_to_end_misses = [pair for pair in truth if not independent_end_to_end_hit(*(hairpins[n] for n in pair), 0.8)]
    assert len(end_to_end_misses) > 50
    assert all(rl.local_hit(*(hairpins[n] for n in sorted(pair)), 0.8, 0.8) for pair in end_to_end_misses)


def test_no_pair_blastn_cannot_align_is_related(hairpins, blastn):
    aligned = {frozenset((query, subject)) for query, subject, *_ in blastn}
    unaligned = [pair for pair in itertools.combinations(sorted(hairpins), 2) if frozenset(pair) not in aligned]
    assert len(unaligned) > 5000
    relation = rl.Relation(0.8, 0.8)
    assert [pair for pair in unaligned if relation.related(hairpins[pair[0]], hairpins[pair[1]])] == []


def test_local_rule_is_looser_with_lower_thresholds_and_symmetric(hairpins):
    # hsa-mir-20a / hsa-mir-20b: BLASTN 80.0% identity over 70 columns (shorter 69 nt): related at 0.8, not at 0.85
    a, b = hairpins["hsa-mir-20a"], hairpins["hsa-mir-20b"]
    assert rl.local_hit(a, b, 0.8, 0.8) and rl.local_hit(b, a, 0.8, 0.8)
    assert not rl.local_hit(a, b, 0.85, 0.8)
    assert not rl.end_to_end_hit(a, b, 0.8)
    assert "local identity >= 0.8" in rl.Relation().describe()
    assert "local" not in rl.END_TO_END_ONLY.describe()


@pytest.mark.parametrize("columns, identity, min_columns, expected", [
    ("||||||||..", 0.8, 10, True),     # 8 of 10
    ("|||||||...", 0.8, 10, False),    # 7 of 10
    ("...||||||||||..", 0.8, 10, True),  # the middle 10 (or 12 with 2 mismatches: 10/12 = 0.83)
    ("|.|.|.|.|.|.", 0.8, 4, False),   # never 80% over 4 or more
    ("||||", 0.8, 5, False),           # too short whatever the identity
    ("", 0.8, 1, False),
])
def test_identical_stretch_by_hand(columns, identity, min_columns, expected):
    assert rl.has_identical_stretch([c == "|" for c in columns], identity, min_columns) is expected


def test_with_relatives_same_answers_in_processes(hairpins):
    seqs = [hairpins[name] for name in sorted(hairpins)]
    queries, references = seqs[::3], [s for i, s in enumerate(seqs) if i % 3]
    relation = rl.Relation()
    one = rl.with_relatives(queries, references, relation)
    assert rl.with_relatives(queries, references, relation, threads=2) == one
    assert one == [any(relation.related(q, r) for r in references) for q in queries]
    assert 0 < sum(one) < len(one)  # both answers occur, so the comparison means something
    end_to_end = rl.with_relatives(queries, references, rl.END_TO_END_ONLY)
    assert end_to_end == [any(independent_end_to_end_hit(q, r, 0.8) for r in references) for q in queries]
    assert sum(end_to_end) < sum(one)
    assert rl.count_with_relatives(queries, references, relation) == sum(one)


def test_clusters_are_the_connected_components_of_the_relation(hairpins):
    names = sorted(hairpins)[:60]
    seqs = [hairpins[name] for name in names]
    relation = rl.Relation()
    # independent: breadth-first search over every related pair
    neighbours = {i: {j for j in range(len(seqs)) if j != i and relation.related(seqs[i], seqs[j])}
                  for i in range(len(seqs))}
    expected, seen = [], set()
    for start in range(len(seqs)):
        if start in seen:
            continue
        component, frontier = {start}, [start]
        while frontier:
            frontier = [j for i in frontier for j in neighbours[i] if j not in component]
            component.update(frontier)
        seen |= component
        expected.append(sorted(component))
    assert rl.clusters(seqs, relation) == sorted(expected)
    assert 1 < len(expected) < len(seqs)
