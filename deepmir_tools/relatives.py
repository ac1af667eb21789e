"""When two sequences are relatives: the homology rule behind the ``remote`` split and its checks.

A homology-aware split is only as good as its notion of "related". Two rules, either one makes
a pair relatives (:class:`Relation`):

* **end to end** (cd-hit's identity): the shorter sequence aligns globally inside the longer with
  at most ``(1 - identity) * len(shorter)`` edits (edlib, infix mode). This misses hairpins that
  share a conserved stem but carry diverged flanks of other lengths.
* **local** (BLASTN's view, as the peers benchmark measures leaks): the best Smith-Waterman local
  alignment under BLASTN's scores (match +2, mismatch -3, gap 5 + 2 per nt) holds a stretch of at
  least ``coverage * len(shorter)`` alignment columns of which at least ``identity`` are identical
  (BLAST's ``pident`` and ``length``). Looking inside the best alignment, not only at it as a whole,
  matters: BLAST's X-drop extension stops where a longer optimal alignment runs on into a
  diverged tail, and reports the shorter, more identical stretch.

Both strands are not compared (miRBase hairpins are given 5' to 3'); same strand only, as
``blastn -strand plus``. Sequences are upper-case RNA or DNA strings (``U`` and ``T`` are
distinct letters here; compare sequences normalised the same way).
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from dataclasses import dataclass
from functools import partial
from typing import Callable, Iterable, Sequence, TypeVar

import edlib
import parasail

DEFAULT_IDENTITY = 0.8
DEFAULT_COVERAGE = 0.8

# BLASTN's default nucleotide scores (-task blastn: reward 2, penalty -3, gap open 5, extend 2).
# parasail charges ``open`` for a gap's first column and ``extend`` for each further one, BLAST
# 5 + 2 per column: open 7, extend 2 is the same cost for every gap length.
# Public: the reference stage (deepmir_tools.reference) aligns with the same scores.
_MATCH, _MISMATCH, BLASTN_GAP_OPEN, BLASTN_GAP_EXTEND = 2, -3, 7, 2
BLASTN_MATRIX = parasail.matrix_create("ACGTUN", _MATCH, _MISMATCH)
# The same scores times _TIE plus one per identical column: the best alignment of these is a best
# BLASTN-score alignment with the most identities. Co-optimal alignments differ in identity (one
# 2-nt gap or two 1-nt gaps cost the same), and BLAST may report either: taking the most identical
# one keeps every pair BLAST could call related. _TIE exceeds any count of identities (<= a few
# thousand nt), so the tie-break never outweighs a score difference; 32-bit kernels hold the sums.
_TIE = 4096
_TIE_MATRIX = parasail.matrix_create("ACGTUN", _MATCH * _TIE + 1, _MISMATCH * _TIE)

_T = TypeVar("_T")


@dataclass(frozen=True)
class Relation:
    """The relative rule: end to end at ``identity``, or (unless ``coverage`` is None) local at
    ``identity`` over ``coverage`` of the shorter sequence."""

    identity: float = DEFAULT_IDENTITY
    coverage: float | None = DEFAULT_COVERAGE

    def related(self, a: str, b: str) -> bool:
        """True when ``a`` and ``b`` are relatives by either rule."""
        if end_to_end_hit(a, b, self.identity):
            return True
        return self.coverage is not None and local_hit(a, b, self.identity, self.coverage)

    def describe(self) -> str:
        """One line for summaries: the rule with its parameters."""
        rule = f"end-to-end identity >= {self.identity:g}"
        if self.coverage is not None:
            rule += f" or local identity >= {self.identity:g} over >= {self.coverage:g} of the shorter"
        return rule


END_TO_END_ONLY = Relation(DEFAULT_IDENTITY, None)


# ------------------------------------------------------------------------------------- end to end


def max_edits(length: int, identity: float) -> int:
    """Most edits a sequence of ``length`` nt may carry and still match at ``identity``."""
    # The small epsilon keeps e.g. 80 * (1 - 0.8) = 15.999... from flooring to 15.
    return math.floor(length * (1.0 - identity) + 1e-9)


def end_to_end_hit(a: str | bytes, b: str | bytes, identity: float) -> bool:
    """True when the shorter of ``a``/``b`` aligns end to end inside the longer at >= ``identity``.

    Identity is cd-hit's: 1 - edit distance / length of the shorter sequence, with the shorter
    sequence aligned globally against any substring of the longer (edlib's infix mode ``HW``).
    ``k`` bounds edlib's search to the edits allowed, which keeps it fast. Sequences of equal
    length are tried both ways so that the relation is symmetric.
    """
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    k = max_edits(len(short), identity)
    if _infix_within(short, long_, k):
        return True
    return len(a) == len(b) and _infix_within(long_, short, k)


def _infix_within(query: str | bytes, target: str | bytes, k: int) -> bool:
    distance = edlib.align(query, target, mode="HW", task="distance", k=k)["editDistance"]
    return 0 <= distance <= k


# ------------------------------------------------------------------------------------------ local


def local_hit(a: str, b: str, identity: float, coverage: float) -> bool:
    """True when the best local alignment of ``a`` and ``b`` (BLASTN scores) holds a stretch of
    >= ``coverage`` * len(shorter) columns at >= ``identity`` identical columns."""
    return _local_hit(parasail.profile_create_stats_sat(a, BLASTN_MATRIX), a, b, identity, coverage)


def _local_hit(profile: object, a: str, b: str, identity: float, coverage: float) -> bool:
    # Stage 1 (statistics only, the fast SIMD kernel): the whole best alignment decides most pairs.
    needed = coverage * min(len(a), len(b))
    stats = parasail.sw_stats_striped_profile_sat(profile, b, BLASTN_GAP_OPEN, BLASTN_GAP_EXTEND)
    if stats.length < needed:
        return False  # any stretch of the best alignment is shorter still
    if stats.matches >= identity * stats.length:
        return True
    # Stage 2 (long but not identical enough as a whole): look for an identical-enough stretch.
    most_identical = parasail.sw_trace_striped_32(a, b, BLASTN_GAP_OPEN * _TIE, BLASTN_GAP_EXTEND * _TIE, _TIE_MATRIX)
    comparison = most_identical.get_traceback().comp
    return has_identical_stretch([column == "|" for column in comparison], identity, math.ceil(needed - 1e-9))


def has_identical_stretch(identical: Sequence[bool], identity: float, min_columns: int) -> bool:
    """True when some run of >= ``min_columns`` consecutive columns is >= ``identity`` identical.

    A run [i, j) qualifies when the sum of (identical - identity) over it is >= 0: with prefix sums
    P, when P[j] - min(P[i] for i <= j - min_columns) >= 0, one pass.
    """
    if min_columns < 1:
        min_columns = 1
    prefix = [0.0]
    for column in identical:
        prefix.append(prefix[-1] + (1.0 if column else 0.0) - identity)
    lowest = math.inf
    for end in range(min_columns, len(prefix)):
        lowest = min(lowest, prefix[end - min_columns])
        if prefix[end] - lowest >= -1e-9:
            return True
    return False


# ----------------------------------------------------------------------------------- many at once


def with_relatives(queries: Sequence[str], references: Sequence[str], relation: Relation,
                   threads: int = 1) -> list[bool]:
    """For each query: has it a relative among ``references``?

    Every pair is compared (edlib's bounded distance, about 3 us; the local rule's SIMD
    Smith-Waterman statistics, about 8 us). ``threads`` > 1 shares the queries among that many
    processes (same answers).
    """
    return _in_processes(partial(_with_relatives, references=list(references), relation=relation),
                         list(queries), threads)


def _with_relatives(queries: Sequence[str], references: Sequence[str], relation: Relation) -> list[bool]:
    encoded = [reference.encode("ascii") for reference in references]  # edlib is faster on bytes
    return [_has_relative(query, references, encoded, relation) for query in queries]


def _has_relative(query: str, references: Sequence[str], encoded: Sequence[bytes], relation: Relation) -> bool:
    query_bytes = query.encode("ascii")
    if any(end_to_end_hit(query_bytes, other, relation.identity) for other in encoded):
        return True
    if relation.coverage is None:
        return False
    profile = parasail.profile_create_stats_sat(query, BLASTN_MATRIX)
    return any(_local_hit(profile, query, other, relation.identity, relation.coverage) for other in references)


def clusters(seqs: Sequence[str], relation: Relation) -> list[list[int]]:
    """Connected components of the relation (single linkage), as sorted index lists."""
    parent = list(range(len(seqs)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    encoded = [seq.encode("ascii") for seq in seqs]
    for i in range(len(seqs)):
        profile = None
        for j in range(i + 1, len(seqs)):
            ri, rj = root(i), root(j)
            if ri == rj:
                continue  # no comparison inside a component
            if end_to_end_hit(encoded[i], encoded[j], relation.identity):
                parent[rj] = ri
            elif relation.coverage is not None:
                profile = profile or parasail.profile_create_stats_sat(seqs[i], BLASTN_MATRIX)
                if _local_hit(profile, seqs[i], seqs[j], relation.identity, relation.coverage):
                    parent[rj] = ri
    components: dict[int, list[int]] = defaultdict(list)
    for i in range(len(seqs)):
        components[root(i)].append(i)
    return sorted(components.values())


def _in_processes(work: Callable[[Sequence[str]], list[_T]], items: list[str], threads: int) -> list[_T]:
    """``work`` over ``items``, in ``threads`` processes when > 1; results in input order."""
    if threads <= 1 or len(items) < 2:
        return work(items)
    import multiprocessing

    context = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
    size = max(1, math.ceil(len(items) / (threads * 8)))  # several chunks per process evens out their lengths
    chunks = [items[start : start + size] for start in range(0, len(items), size)]
    with context.Pool(threads) as pool:
        parts = pool.map(work, chunks)
        # let the workers leave on their own: the pool's exit would SIGTERM them, and a handler inherited from the
        # parent (cli.common's) could leave one waiting on the task queue, and the parent in join(), for ever
        pool.close()
        pool.join()
    return [flag for part in parts for flag in part]


def count_with_relatives(queries: Iterable[str], references: Sequence[str], relation: Relation,
                         threads: int = 1) -> int:
    """How many ``queries`` have a relative among ``references`` (the split's verification pass)."""
    return sum(with_relatives(list(queries), references, relation, threads))
