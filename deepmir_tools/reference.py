"""The reference stage: the nearest known member of any family, for the families a network cannot learn.

A network learns a family from its members; miRBase's 1,400 families of 2-9 unique hairpins give it
too few. Their members are still known, and a query with a close relative among them is
recognised by alignment (what BLASTN against miRBase does, and it does well there). A bundle may
carry a **reference**: labelled member sequences of every family (those the network knows
included), and :mod:`deepmir_tools.decision` consults it for the sequences the network is not
confident about.

Search, per query: candidates are the ``CANDIDATES`` members sharing the most distinct
``K``-mers with it (a k-mer index of both strands built on the first search), aligned to the query
by Smith-Waterman under BLASTN's scores (match +2, mismatch -3, gap 5 + 2 per nt; parasail, the
same scores as :mod:`deepmir_tools.relatives`): the first ``FIRST_CANDIDATES`` one by one, the
rest only when none of these reaches half a perfect score, all of them in one alignment per strand
(joined by separators no alignment gains by crossing). The best-scoring member wins. Both strands,
like ``blastn``: miRBase families hold members annotated on opposite strands of one locus (viral and
some plant and nematode families), which only a reverse-complement alignment relates.

Bundle arrays (docs/formats.md): ``ref:codes`` (uint8, the members' letters concatenated,
A C G U = 0 1 2 3, any other = 4), ``ref:offsets`` (int64, member i is
``codes[offsets[i]:offsets[i + 1]]``), ``ref:family`` (int32, index into ``meta["reference"]
["families"]``), ``ref:ids`` (unicode, member IDs).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np
import parasail

from . import cache

cache.prepare_numba()  # before numba's first import: kernels are cached in the user's folder, never the package
import numba  # noqa: E402

from .relatives import BLASTN_GAP_EXTEND, BLASTN_GAP_OPEN, BLASTN_MATRIX

K = 8  # k-mer length of the candidate index: below BLASTN's word size 11, for remote relatives
# Hairpins are nearly self-complementary: reversed, a hairpin of another family often aligns about as well as a
# relative does, so the reverse strand must win clearly (20 more matching nt). Measured on the small-family
# benchmark at the same minimum score: margin 0 96.7%, 40 97.0%, reverse strand never 96.5% (viral and some plant
# families hold members annotated on opposite strands, which only the reverse strand relates).
REVERSE_MARGIN = 40
CANDIDATES = 30
# Aligned first, one by one in order of shared k-mers; the rest only when none of these reaches half a perfect
# match of the query (2 per nt). On the small- and large-family benchmark queries this changed no hit and aligned
# ~10 members per query instead of 30.
FIRST_CANDIDATES = 5  # members aligned per query (10: 0.4 points fewer small-family queries right)
_LETTERS = "ACGU"
_OTHER = 4
_CODE = np.full(256, _OTHER, dtype=np.uint8)
for _i, _letter in enumerate(_LETTERS):
    _CODE[ord(_letter)] = _CODE[ord(_letter.lower())] = _i
_CODE[ord("T")] = _CODE[ord("t")] = 3


def encode(seq: str) -> np.ndarray:
    """A sequence as codes 0-3 (ACGU; T = U, any case), 4 for anything else."""
    return _CODE[np.frombuffer(seq.encode("ascii", "replace"), dtype=np.uint8)]


@numba.njit(nogil=True)
def _distinct_kmers(codes: np.ndarray, start: int, end: int, k: int) -> np.ndarray:
    """The distinct k-mers (as integers) of codes[start:end] that hold no code 4, sorted."""
    mask = (1 << (2 * k)) - 1
    found = np.empty(max(end - start - k + 1, 0), dtype=np.int64)
    n = 0
    value = 0
    valid = 0
    for i in range(start, end):
        c = codes[i]
        if c > 3:
            valid = 0
            value = 0
            continue
        value = ((value << 2) | c) & mask
        valid += 1
        if valid >= k:
            found[n] = value
            n += 1
    return np.unique(found[:n])


@numba.njit
def _reverse_complement(codes: np.ndarray) -> np.ndarray:
    """Codes of the reverse complement (A<->U, C<->G; 4 stays 4)."""
    out = np.empty_like(codes)
    n = len(codes)
    for i in range(n):
        c = codes[n - 1 - i]
        out[i] = 3 - c if c < 4 else c
    return out


@numba.njit
def _index(codes: np.ndarray, offsets: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Posting lists over both strands: entries holding k-mer v are posts[starts[v]:starts[v + 1]], where entry
    2 * member is the member as given and 2 * member + 1 its reverse complement."""
    n = len(offsets) - 1
    per_entry = []
    for i in range(n):
        forward = codes[offsets[i]:offsets[i + 1]]
        per_entry.append(_distinct_kmers(forward, 0, len(forward), k))
        reverse = _reverse_complement(forward)
        per_entry.append(_distinct_kmers(reverse, 0, len(reverse), k))
    starts = np.zeros((1 << (2 * k)) + 1, dtype=np.int64)
    for kmers in per_entry:
        for v in kmers:
            starts[v + 1] += 1
    for v in range(1, len(starts)):
        starts[v] += starts[v - 1]
    fill = starts[:-1].copy()
    posts = np.empty(starts[-1], dtype=np.int32)
    for entry in range(2 * n):
        for v in per_entry[entry]:
            posts[fill[v]] = entry
            fill[v] += 1
    return starts, posts


@numba.njit(nogil=True)
def _candidates(query: np.ndarray, k: int, starts: np.ndarray, posts: np.ndarray, shared: np.ndarray,
                touched: np.ndarray, count: int, plus_only: bool) -> np.ndarray:
    """The ``count`` index entries sharing the most distinct k-mers with ``query`` (fewer if fewer share any;
    ties: the entry reached first), members as given only with ``plus_only``. ``shared`` and ``touched`` are
    work arrays of one slot per entry; ``shared`` must be zero and is zero again on return."""
    n_touched = 0
    for v in _distinct_kmers(query, 0, len(query), k):
        for j in range(starts[v], starts[v + 1]):
            entry = posts[j]
            if plus_only and entry % 2:
                continue
            if shared[entry] == 0:
                touched[n_touched] = entry
                n_touched += 1
            shared[entry] += 1
    best = np.full(count, -1, dtype=np.int64)
    best_shared = np.zeros(count, dtype=np.int64)
    for t in range(n_touched):
        entry = touched[t]
        c = shared[entry]
        shared[entry] = 0
        if c > best_shared[count - 1]:
            p = count - 1
            while p > 0 and best_shared[p - 1] < c:
                best_shared[p] = best_shared[p - 1]
                best[p] = best[p - 1]
                p -= 1
            best_shared[p] = c
            best[p] = entry
    return best[best >= 0]


cache.enable_caching(_distinct_kmers, _reverse_complement, _index, _candidates)


@dataclass(frozen=True)
class Hit:
    """The best reference member of a query: its index, the Smith-Waterman score (BLASTN's scores) and the
    member's strand that aligned (``+`` as given, ``-`` its reverse complement)."""

    member: int
    score: int
    strand: str = "+"


def _alignment_start(query: str, text: str, end_query: int, end_text: int) -> tuple[int, int]:
    """Where the best local alignment ending at (``end_query``, ``end_text``) starts in each sequence: the end
    of the best local alignment of both prefixes reversed (the same scores; a few dozen nt for reads)."""
    back = parasail.sw_striped_16(query[end_query::-1], text[end_text::-1], BLASTN_GAP_OPEN, BLASTN_GAP_EXTEND,
                                  BLASTN_MATRIX)
    return end_query - back.end_query, end_text - back.end_ref


class Reference:
    """Labelled member sequences with a k-mer index; :meth:`best_hit` finds each query's nearest member."""

    def __init__(self, codes: np.ndarray, offsets: np.ndarray, family: np.ndarray, ids: np.ndarray,
                 families: Sequence[tuple[str, str]]):
        if len(offsets) != len(family) + 1 or len(ids) != len(family) or offsets[0] != 0 or offsets[-1] != len(codes):
            raise ValueError("reference arrays disagree in length")
        if len(family) and not (0 <= family.min() and family.max() < len(families)):
            raise ValueError("reference member family index out of range")
        if codes.size and codes.max() > _OTHER:
            raise ValueError("reference codes outside 0-4")
        self.codes = np.ascontiguousarray(codes, dtype=np.uint8)
        self.offsets = np.ascontiguousarray(offsets, dtype=np.int64)
        self.family = np.ascontiguousarray(family, dtype=np.int32)
        self.ids = ids
        self.families = [(str(a), str(n)) for a, n in families]
        self._index: tuple[np.ndarray, np.ndarray] | None = None  # built on the first search (start-up)

    def _build_index(self) -> None:
        """The k-mer index of both strands, the work arrays, the members' letters and the identical-member table."""
        self._index = _index(self.codes, self.offsets, K)
        self._shared = np.zeros(2 * len(self.family), dtype=np.int32)  # int32: a smaller, cache-friendlier table
        self._touched = np.zeros(2 * len(self.family), dtype=np.int32)
        # all members' letters, and those of their reverse complements, as two strings sliced per entry
        letters = np.frombuffer(b"ACGUN", dtype=np.uint8)
        self._forward = letters[self.codes].tobytes().decode("ascii")
        self._reverse = letters[_reverse_complement(self.codes)].tobytes().decode("ascii")
        # members by their codes: a query identical to a member needs no search (its score is the maximum)
        self._identical: dict[bytes, int] = {}
        for member in range(len(self.family) - 1, -1, -1):  # the earliest member wins ties
            self._identical[self.codes[self.offsets[member]:self.offsets[member + 1]].tobytes()] = member

    @classmethod
    def from_members(cls, members: Iterable[tuple[str, str, str, str]]) -> "Reference":
        """A reference from (member ID, family accession, family name, sequence) tuples, in that order."""
        families: dict[str, tuple[int, str]] = {}
        codes, family, ids, offsets = [], [], [], [0]
        for member_id, accession, name, seq in members:
            index, _ = families.setdefault(accession, (len(families), name))
            codes.append(encode(seq))
            offsets.append(offsets[-1] + len(seq))
            family.append(index)
            ids.append(member_id)
        table = [(accession, name) for accession, (_, name) in families.items()]
        return cls(np.concatenate(codes) if codes else np.zeros(0, np.uint8), np.asarray(offsets, np.int64),
                   np.asarray(family, np.int32), np.asarray(ids, dtype=str), table)

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], families: Sequence[tuple[str, str]]) -> "Reference":
        """The reference of a bundle's ``ref:*`` arrays (prefix removed; ``families``: ``meta["reference"]["families"]``)."""
        return cls(arrays["codes"], arrays["offsets"], arrays["family"], arrays["ids"], families)

    def without(self, members: Iterable[int]) -> "Reference":
        """The same reference less some members (the family table is kept as it is)."""
        keep = np.ones(len(self), dtype=bool)
        keep[list(members)] = False
        lengths = np.diff(self.offsets)[keep]
        codes = np.concatenate([self.codes[self.offsets[i]:self.offsets[i + 1]] for i in np.flatnonzero(keep)]
                               or [np.zeros(0, np.uint8)])
        return Reference(codes, np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64), self.family[keep],
                         self.ids[keep], self.families)

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays a bundle stores (as ``ref:<name>``; :func:`deepmir_tools.bundle.with_threshold`)."""
        return {"codes": self.codes, "offsets": self.offsets, "family": self.family, "ids": self.ids}

    def __len__(self) -> int:
        return len(self.family)

    def member_family(self, member: int) -> tuple[str, str]:
        """(accession, name) of a member's family."""
        return self.families[int(self.family[member])]

    def _text(self, entry: int) -> str:
        """The letters of an index entry: member ``entry // 2``, reverse-complemented for odd entries."""
        start, end = self.offsets[entry // 2], self.offsets[entry // 2 + 1]
        if entry % 2:  # the reverse complement of the concatenation holds member i's at the mirrored place
            total = len(self.codes)
            return self._reverse[total - end:total - start]
        return self._forward[start:end]

    def _best_of_rest(self, profiles: tuple[Any, Any], query_length: int, entries: list[int],
                      best: list[tuple[int, int]]) -> None:
        """Update ``best`` (per strand) with the best of ``entries``: one alignment per strand against them
        joined by runs of a letter that matches nothing (``X``), each longer than the query, so that an
        alignment crossing one costs more (a gap of 5 + 2 per nt) than the query can gain (2 per nt). Its score
        is the highest of the entries' own, and its entry the one it ends in (of several with that score, the
        one parasail reports). One call per strand in 8-bit lanes is about twice as fast as ~25 calls."""
        separator = "X" * (query_length + 1)
        for strand in (0, 1):
            chosen = [entry for entry in entries if entry % 2 == strand]
            if not chosen:
                continue
            texts = [self._text(entry) for entry in chosen]
            joined = separator.join(texts)
            # 8-bit lanes first (twice as many per vector; these entries mostly align weakly), 16-bit when a
            # score saturates them
            result = parasail.sw_striped_profile_8(profiles[0], joined, BLASTN_GAP_OPEN, BLASTN_GAP_EXTEND)
            if result.saturated:
                result = parasail.sw_striped_profile_16(profiles[1], joined, BLASTN_GAP_OPEN, BLASTN_GAP_EXTEND)
            if result.score <= 0:
                continue
            starts = np.cumsum([0] + [len(text) + len(separator) for text in texts[:-1]])
            entry = chosen[int(np.searchsorted(starts, result.end_ref, side="right")) - 1]
            best[strand] = max(best[strand], (result.score, -entry))

    def best_hit(self, seq: str, anchor: int | None = None) -> Hit | None:
        """The nearest member of ``seq`` on either strand: None when no member shares a k-mer with it (or only
        reverse complements do, and align weakly). A reverse complement wins only when it beats every member as
        given by more than :data:`REVERSE_MARGIN`; ties: the earlier member among those aligned one by one. A member
        identical to the query, or one holding all of it, ends the search (no score can be higher).

        ``anchor`` (reads; ``None``: any local alignment): members as given only, and a member counts only when
        its best local alignment with the query starts within ``anchor`` nt of both 5' ends. A read belongs to
        a mature by its 5' end (the seed, nt 2-8, follows from it); a piece cut from inside a mature or
        from the hairpin beside it aligns as well, but not at the 5' end."""
        return self.best_hits([seq], anchor)[0]

    def best_hits(self, seqs: Sequence[str], anchor: int | None = None, threads: int = 1) -> list[Hit | None]:
        """:meth:`best_hit` of each sequence, in order, on up to ``threads`` threads (0: every core this process
        may use); the alignments and the candidate search run outside Python's lock."""
        if self._index is None:
            self._build_index()
        if threads == 0:
            threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        if threads <= 1 or len(seqs) < 2:
            return [self._search(seq, anchor, self._shared, self._touched) for seq in seqs]

        def search_chunk(chunk: Sequence[str]) -> list[Hit | None]:
            shared, touched = np.zeros_like(self._shared), np.zeros_like(self._touched)  # this thread's own
            return [self._search(seq, anchor, shared, touched) for seq in chunk]

        size = -(-len(seqs) // (4 * threads))  # a few chunks per thread, for an even load
        with ThreadPoolExecutor(threads) as pool:
            return [hit for hits in pool.map(search_chunk, [seqs[i:i + size] for i in range(0, len(seqs), size)])
                    for hit in hits]

    def _search(self, seq: str, anchor: int | None, shared: np.ndarray, touched: np.ndarray) -> Hit | None:
        """:meth:`best_hit` with the candidate search's work arrays given (one pair per thread)."""
        query = seq.upper().replace("T", "U")
        codes = encode(query)
        perfect = 2 * len(query)  # every nt matched: no alignment can score more
        identical = self._identical.get(codes.tobytes())
        if identical is not None:
            return Hit(identical, perfect, "+")
        starts, posts = self._index
        candidates = _candidates(codes, K, starts, posts, shared, touched, CANDIDATES, anchor is not None)
        if not len(candidates):
            return None
        profile = parasail.profile_create_16(query, BLASTN_MATRIX)
        best = [(-1, -1), (-1, -1)]  # (score, -entry) of the best entry per strand: + as given, - reversed
        entries = candidates.tolist()
        for rank, entry in enumerate(entries):
            if (rank >= FIRST_CANDIDATES and max(best)[0] >= len(query)) or best[0][0] == perfect:
                break
            if rank == FIRST_CANDIDATES and anchor is None:  # the rest in one call per strand (reads: one by one)
                self._best_of_rest((parasail.profile_create_8(query, BLASTN_MATRIX), profile), len(query),
                                   entries[rank:], best)
                break
            text = self._text(entry)
            result = parasail.sw_striped_profile_16(profile, text, BLASTN_GAP_OPEN, BLASTN_GAP_EXTEND)
            if (anchor is not None and (result.score, -entry) > best[0]
                    and max(_alignment_start(query, text, result.end_query, result.end_ref)) > anchor):
                continue
            best[entry % 2] = max(best[entry % 2], (result.score, -entry))
        (plus, plus_entry), (minus, minus_entry) = best
        if minus > plus + REVERSE_MARGIN:
            return Hit(-minus_entry // 2, int(minus), "-")
        return Hit(-plus_entry // 2, int(plus), "+") if plus >= 0 else None
