"""Independent truth for read benchmarks (issue 15): which miRNA family, if any, a read comes from.

Rule (as the issue defines it): a read belongs to family F when it occurs in a miRBase 22.1 hairpin of F with its
5' end within 3 nt of an annotated mature's 5' end -- exactly, after removing 1-3 untemplated 3' nt, or with one
substitution (isomiRs count as miRNA).  A read that occurs in no hairpin that way is not a miRNA.  A read matching
only hairpins that miFam.dat puts in no family is ``mirna_no_family``.  A read of several families: all are kept.

Details (documented in README.md):
- one alphabet: everything upper-case RNA (T -> U); any other letter (N) only ever matches as the one substitution;
- minimum length 15 nt after trimming (reads shorter than 15 nt are ``not_mirna``: the rule cannot place them);
- ``combine=False`` (default): the three alternatives are exclusive -- exact, trimmed-exact, or untrimmed with one
  substitution; ``combine=True`` also allows trimming plus one substitution;
- mature positions: every mature of species S (name prefix before the first '-') is searched (exact, upper-case
  RNA) in every hairpin of S; every occurrence counts as an annotated mature 5' end (paralogous hairpins such as
  hsa-let-7a-1/-2/-3 all get it).  ``Truth.unplaced`` lists matures found in no hairpin of their species.
- index: every anchor site (hairpin, p) with p within 3 nt of a mature 5' end is stored under the first 15 nt of
  hairpin[p:]; a read is looked up with its first 15 nt and the single substitutions of them (pigeonhole is not
  needed: every candidate shares the anchored 15-mer up to one substitution), then verified over its full length.

Only the standard library is used; no model code of deepmir_tools is imported (this is the independent check).
"""
from __future__ import annotations

import bisect
import os
from collections import defaultdict
from typing import Iterable, Iterator

KEY = 15          # minimum read length after trimming and index key length
MAX_TRIM = 3      # untemplated 3' nt that may be removed
WINDOW = 3        # read 5' end within this many nt of a mature 5' end
BASES = "ACGU"

MIRNA, NO_FAMILY, NOT_MIRNA = "mirna", "mirna_no_family", "not_mirna"


def to_rna(seq: str) -> str:
    return seq.strip().upper().replace("T", "U")


def read_fasta(path: str) -> Iterator[tuple[str, str]]:
    """(header without '>', sequence) for each record of a FASTA file."""
    header, parts = None, []
    with open(path) as fh:
        for line in fh:
            line = line.rstrip("\n\r")
            if line.startswith(">"):
                if header is not None:
                    yield header, "".join(parts)
                header, parts = line[1:], []
            elif line:
                parts.append(line.strip())
    if header is not None:
        yield header, "".join(parts)


def read_fastq(path: str) -> Iterator[tuple[str, str]]:
    """(header without '@', sequence) for each 4-line FASTQ record."""
    with open(path) as fh:
        while True:
            h = fh.readline()
            if not h:
                return
            s = fh.readline()
            fh.readline()
            fh.readline()
            yield h[1:].rstrip("\n\r"), s.strip()


def read_seqs(path: str) -> Iterator[tuple[str, str]]:
    with open(path) as fh:
        first = fh.read(1)
    return read_fastq(path) if first == "@" else read_fasta(path)


def read_mifam(path: str) -> tuple[dict[str, set[str]], dict[str, str]]:
    """hairpin accession -> family accessions, family accession -> family ID (miFam.dat AC/ID/MI lines)."""
    members: dict[str, set[str]] = defaultdict(set)
    names: dict[str, str] = {}
    ac = None
    with open(path) as fh:
        for line in fh:
            if line.startswith("AC"):
                ac = line.split()[1]
            elif line.startswith("ID") and ac:
                names[ac] = line.split()[1]
            elif line.startswith("MI") and ac:
                members[line.split()[1]].add(ac)
            elif line.startswith("//"):
                ac = None
    return dict(members), names


def species_of(name: str) -> str:
    return name.split("-", 1)[0]


class Reference:
    """miRBase hairpins with their families and the placed mature 5'/3' ends."""

    def __init__(self, mirbase_dir: str, exclude_species: str | None = None):
        d = os.path.join(mirbase_dir, "derived") if os.path.isdir(os.path.join(mirbase_dir, "derived")) else mirbase_dir
        self.hp_fam, self.fam_names = read_mifam(os.path.join(d, "miFam.dat"))
        self.hp_name: list[str] = []
        self.hp_acc: list[str] = []
        self.hp_seq: list[str] = []
        by_species: dict[str, list[int]] = defaultdict(list)
        for header, seq in read_fasta(os.path.join(d, "hairpin.fa")):
            f = header.split()
            if exclude_species and species_of(f[0]) == exclude_species:
                continue
            by_species[species_of(f[0])].append(len(self.hp_seq))
            self.hp_name.append(f[0])
            self.hp_acc.append(f[1])
            self.hp_seq.append(to_rna(seq))
        self.hp_families = [frozenset(self.hp_fam.get(a, ())) for a in self.hp_acc]
        # matures: (name, accession, seq); placements: hairpin index -> list of (start, end, mature index)
        self.matures: list[tuple[str, str, str]] = []
        self.mature_sites: list[list[tuple[int, int]]] = []   # per mature: (hairpin index, start)
        self.placed: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
        self.unplaced: list[str] = []
        concat: dict[str, tuple[str, list[int], list[int]]] = {}
        for sp, idx in by_species.items():
            starts, pos = [], 0
            for i in idx:
                starts.append(pos)
                pos += len(self.hp_seq[i]) + 1
            concat[sp] = ("|".join(self.hp_seq[i] for i in idx), starts, idx)
        for header, seq in read_fasta(os.path.join(d, "mature.fa")):
            f = header.split()
            sp = species_of(f[0])
            if exclude_species and sp == exclude_species:
                continue
            m = len(self.matures)
            seq = to_rna(seq)
            self.matures.append((f[0], f[1], seq))
            sites: list[tuple[int, int]] = []
            if sp in concat and seq:
                text, starts, idx = concat[sp]
                j = text.find(seq)
                while j >= 0:
                    k = bisect.bisect_right(starts, j) - 1
                    h = idx[k]
                    s = j - starts[k]
                    sites.append((h, s))
                    self.placed[h].append((s, s + len(seq), m))
                    j = text.find(seq, j + 1)
            if not sites:
                self.unplaced.append(f[0])
            self.mature_sites.append(sites)

    def families_of_hairpins(self, hairpins: Iterable[int]) -> frozenset[str]:
        out: set[str] = set()
        for h in hairpins:
            out |= self.hp_families[h]
        return frozenset(out)


def _variants(key: str) -> Iterator[str]:
    """key itself, then every single substitution of it (an N is replaced by each base)."""
    yield key
    for i, c in enumerate(key):
        pre, post = key[:i], key[i + 1:]
        for b in BASES:
            if b != c:
                yield pre + b + post


def _mismatches(a: str, b: str, limit: int) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            n += 1
            if n > limit:
                break
    return n


class AnchoredIndex:
    """Hairpin suffixes starting near mature 5' ends, keyed on their first KEY nt.

    ``window``: anchor offsets -window..+window around each mature 5' end; ``max_past_end``: if not None, an anchored
    match may end at most this many nt past the 3' end of a mature whose window holds the anchor (miRDeep2 quantifier).
    """

    def __init__(self, ref: Reference, window: int = WINDOW, max_past_end: int | None = None):
        self.ref = ref
        site_limit: dict[tuple[int, int], int] = {}
        for h, placements in ref.placed.items():
            n = len(ref.hp_seq[h])
            for s, e, _m in placements:
                for p in range(max(0, s - window), min(n, s + window + 1)):
                    lim = n - p if max_past_end is None else min(n, e + max_past_end) - p
                    if lim > site_limit.get((h, p), -1):
                        site_limit[(h, p)] = lim
        self.table: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
        for (h, p), lim in site_limit.items():
            suffix = ref.hp_seq[h][p:]
            if len(suffix) >= KEY:
                self.table[suffix[:KEY]].append((suffix, h, lim))
        self.table = dict(self.table)

    def candidates(self, read: str) -> Iterator[tuple[str, int, int, bool]]:
        """(suffix, hairpin, length limit, key exact?) for every site whose 15-mer is within one substitution."""
        key = read[:KEY]
        exact = True
        for v in _variants(key):
            hits = self.table.get(v)
            if hits:
                for suffix, h, lim in hits:
                    yield suffix, h, lim, exact
            exact = False

    def matches(self, read: str, trims: Iterable[int], max_mm: int = 1, combine: bool = False
                ) -> list[tuple[int, int, int]]:
        """(hairpin, trim, mismatches) of every anchored occurrence of the read under the truth's alternatives."""
        out = []
        trims = [t for t in trims if len(read) - t >= KEY]
        if not trims:
            return out
        for suffix, h, lim, _exact in self.candidates(read):
            for t in trims:
                L = len(read) - t
                if L > lim or L > len(suffix):
                    continue
                allowed = max_mm if (t == 0 or combine) else 0
                mm = _mismatches(read[:L], suffix, allowed)
                if mm <= allowed:
                    out.append((h, t, mm))
        return out


class Truth:
    """truth.families(read) -> (kind, frozenset of family accessions)."""

    def __init__(self, ref: Reference, combine: bool = False):
        self.ref = ref
        self.index = AnchoredIndex(ref, window=WINDOW)
        self.combine = combine
        self._cache: dict[str, tuple[str, frozenset[str]]] = {}

    @classmethod
    def load(cls, mirbase_dir: str, exclude_species: str | None = None, combine: bool = False) -> "Truth":
        return cls(Reference(mirbase_dir, exclude_species), combine=combine)

    @property
    def unplaced(self) -> list[str]:
        return self.ref.unplaced

    def families(self, read: str) -> tuple[str, frozenset[str]]:
        read = to_rna(read)
        hit = self._cache.get(read)
        if hit is not None:
            return hit
        matches = self.index.matches(read, range(MAX_TRIM + 1), max_mm=1, combine=self.combine)
        if not matches:
            res = (NOT_MIRNA, frozenset())
        else:
            fams = self.ref.families_of_hairpins(h for h, _t, _m in matches)
            res = (MIRNA, fams) if fams else (NO_FAMILY, frozenset())
        self._cache[read] = res
        return res


if __name__ == "__main__":
    import argparse
    import time
    parser = argparse.ArgumentParser(description="The truth of every read of a file: reads per kind (mirna, "
                                                 "mirna_no_family, not_mirna) and the CPU time of loading and lookup.")
    parser.add_argument("mirbase_dir", help="miRBase 22.1 folder (or its derived/): hairpin.fa, mature.fa, miFam.dat")
    parser.add_argument("reads", help="FASTA or FASTQ file of reads")
    args = parser.parse_args()
    t0 = time.process_time()
    tr = Truth.load(args.mirbase_dir)
    t1 = time.process_time()
    print(f"load {t1 - t0:.1f} s CPU; {len(tr.ref.matures)} matures, {len(tr.unplaced)} unplaced; "
          f"{sum(len(v) for v in tr.index.table.values())} anchor sites")
    counts: dict[str, int] = defaultdict(int)
    for _h, s in read_seqs(args.reads):
        counts[tr.families(s)[0]] += 1
    print(dict(counts), f"{time.process_time() - t1:.1f} s CPU")
