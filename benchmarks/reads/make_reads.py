"""Make non-miRNA small RNA read sets from real RNAs, the way cells cut them (issue 15, read benchmark).

    python benchmarks/reads/make_reads.py --part {train,bench} --out DIR [--per-set 5000] [--seed 7]

Sets (one FASTA each in --out, header ``>ID class=SET source=...``, unique sequences, every read counts 1):

- tRNA sources: GtRNAdb genes (ncrna-negatives/gtrnadb-trna/trna_all_labeled.fa) and Rfam tRNAs (rfam-ncrna.fa).
  Anticodon: for GtRNAdb, the anticodon of the name (``tRNA-Ala-AGC-1-1`` -> AGC;
  bosTau8 ``chr9.trna1084-ValCAC`` -> CAC;
  mt_tRNA: last header field; NNN / undetermined: skipped) is
  searched (RNA) with its first base at 0-based positions 28-40 and the occurrence nearest to 33 (Sprinzl 34) is
  taken; records where it is absent are skipped.  For Rfam tRNAs (no anticodon given) the canonical position is
  used: anticodon first base at 0-based 33, only records of 66-95 nt.  Anticodon loop = anticodon start - 2 ..
  anticodon end + 2 (7 nt); a cut is drawn between two loop nt.
  Mature tRNA = gene + CCA unless the gene already ends in CCA *and* its acceptor stem pairs better with the last
  3 nt removed (the acceptor stem, nt 1-7, pairs with the 7 nt before the discriminator; Watson-Crick or GU pairs
  counted) -- a plain ``endswith('CCA')`` would mistake a discriminator A after CC for the CCA tail.
  * trna_5half: 5' end to the cut, kept when 28-36 nt;
  * trna_3half: cut to the 3' end of the mature tRNA (with CCA), kept when 28-50 nt;
  * trf3: the last 14-24 nt of the mature tRNA (ending in CCA);
  * trf5: the first 14-24 nt;
  * itrf: internal 14-30 nt, touching neither end (start >= 1, end <= length - 1 of the mature tRNA).
- rrna_frag / snorna_frag: random 16-45 nt substrings of rfam-ncrna.fa classes rRNA_5S / snoRNA_CD.
- premirna_nonmature: random 16-30 nt substrings of miRBase 22.1 hairpins (loop, arms, flanks) that are not a
  miRNA under the truth (benchmarks/reads/truth.py): their 5' end is > 3 nt from every mature 5' end of every
  hairpin they occur in (also not within one substitution / 1-3 trimmed 3' nt of such a read).

The bench part also drops reads whose sequence occurs anywhere in a source RNA of the train part (different
tRNA genes share 5'/3' ends, so the same tRF could come from both parts; ``--disjoint``), so no bench read can be
seen in training.  Every set drops reads that the truth calls miRNA
(a tRNA fragment identical to a miRBase mature region is a miRNA
for the benchmark); the count dropped is printed.  Lengths are drawn uniformly; the fragment position uniformly.

Parts: source records are split 50/50 by a stable hash of their RNA sequence (md5, first byte even -> train, odd
-> bench), so identical sequences always land in the same part; hairpins by their accession.  Reads are made per
set by cycling through the part's records in a seeded order (one fragment per record per round, up to 50 rounds)
until --per-set unique sequences exist.  Deterministic for a given --seed (default 7).
"""
from __future__ import annotations

import argparse
import hashlib
import os
import random
import re
import sys

import truth as truthmod

DATA = os.environ.get("DEEPMIR_DATA", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                                                    "shared", "data"))
SETS = ("trna_5half", "trna_3half", "trf3", "trf5", "itrf", "rrna_frag", "snorna_frag", "premirna_nonmature")
PAIRS = {("G", "C"), ("C", "G"), ("A", "U"), ("U", "A"), ("G", "U"), ("U", "G")}


def part_of(key: str) -> str:
    return "train" if hashlib.md5(key.encode()).digest()[0] % 2 == 0 else "bench"


def stem_pairs(a: str, b: str) -> int:
    """Pairs between a (5'->3') and b read 3'->5'."""
    return sum((x, y) in PAIRS for x, y in zip(a, reversed(b)))


def mature_trna(gene: str) -> str:
    if gene.endswith("CCA") and len(gene) > 14:
        with_cca = stem_pairs(gene[:7], gene[-11:-4])
        without = stem_pairs(gene[:7], gene[-8:-1])
        if with_cca > without:
            return gene
    return gene + "CCA"


def anticodon_from_header(header: str) -> str | None:
    f = header.split("|")
    if f[0] == "mt_tRNA" and re.fullmatch(r"[ACGTUN]{3}", f[-1]):
        return truthmod.to_rna(f[-1])
    m = re.search(r"tRNA-[A-Za-z]+-([ACGTU]{3})-", header) or re.search(r"\.trna\d+-[A-Za-z]+([ACGTU]{3})$", header)
    return truthmod.to_rna(m.group(1)) if m else None


def find_anticodon(seq: str, ac: str) -> int | None:
    best = None
    for i in range(28, 41):
        if seq[i:i + 3] == ac and (best is None or abs(i - 33) < abs(best - 33)):
            best = i
    return best


def trna_records(data: str) -> list[tuple[str, str, int]]:
    """(source id, mature tRNA, anticodon start) for all usable tRNAs, unique by gene sequence."""
    out, seen = [], set()
    for h, s in truthmod.read_fasta(os.path.join(data, "ncrna-negatives", "gtrnadb-trna", "trna_all_labeled.fa")):
        s = truthmod.to_rna(s)
        ac = anticodon_from_header(h)
        if s in seen or ac is None:
            continue
        a = find_anticodon(s, ac)
        if a is None:
            continue
        seen.add(s)
        out.append((h.replace(" ", "_"), s, a))
    for h, s in truthmod.read_fasta(os.path.join(data, "ncrna-negatives", "rfam-ncrna.fa")):
        if not h.startswith("tRNA|"):
            continue
        s = truthmod.to_rna(s)
        if s in seen or not 66 <= len(s) <= 95:
            continue
        seen.add(s)
        out.append((h.replace(" ", "_"), s, 33))
    return out


def rfam_class(data: str, cls: str) -> list[tuple[str, str]]:
    out, seen = [], set()
    for h, s in truthmod.read_fasta(os.path.join(data, "ncrna-negatives", "rfam-ncrna.fa")):
        if h.split("|")[0] == cls:
            s = truthmod.to_rna(s)
            if s not in seen and len(s) >= 16:
                seen.add(s)
                out.append((h, s))
    return out


def frag_trna(kind: str, rec: tuple[str, str, int], rng: random.Random) -> tuple[str, str] | None:
    src, gene, a = rec
    mat = mature_trna(gene)
    n = len(mat)
    if kind in ("trna_5half", "trna_3half"):
        cut = rng.randint(a - 2 + 1, a + 5 - 1)   # between two nt of the 7-nt loop (a-2 .. a+4)
        if kind == "trna_5half":
            frag, lo = mat[:cut], 0
            ok = 28 <= len(frag) <= 36
        else:
            frag, lo = mat[cut:], cut
            ok = 28 <= len(frag) <= 50
        return (frag, f"{src}:{lo + 1}-{lo + len(frag)}") if ok else None
    if kind == "trf3":
        L = rng.randint(14, 24)
        return mat[-L:], f"{src}:{n - L + 1}-{n}"
    if kind == "trf5":
        L = rng.randint(14, 24)
        return mat[:L], f"{src}:1-{L}"
    L = rng.randint(14, 30)
    if n - L - 1 < 1:
        return None
    st = rng.randint(1, n - L - 1)
    return mat[st:st + L], f"{src}:{st + 1}-{st + L}"


def frag_random(src: str, seq: str, lo: int, hi: int, rng: random.Random) -> tuple[str, str] | None:
    L = rng.randint(lo, hi)
    if len(seq) < L:
        return None
    st = rng.randint(0, len(seq) - L)
    return seq[st:st + L], f"{src}:{st + 1}-{st + L}"


def make_sets(part: str, per_set: int = 5000, seed: int = 7, data: str = DATA,
              truth: "truthmod.Truth | None" = None, sets=SETS, log=sys.stderr,
              disjoint: bool | None = None, avoid: frozenset[str] = frozenset(),
              exclude_species: str | None = None) -> dict[str, list[tuple[str, str]]]:
    """{set: [(header, sequence)]}; deterministic for (part, per_set, seed, data, disjoint, avoid, exclude_species).

    disjoint (default: True for bench, False for train): drop reads whose sequence occurs anywhere in a source RNA of
    the other part (tRNA isodecoders of different sequence share 5'/3' ends, so the same tRF can come from both).
    avoid: sequences no read may equal (a calibration set drawn with another seed keeps clear of the training reads).
    exclude_species: miRBase species code (``bta``) whose hairpins give no pre-miRNA fragments (held-out species).
    """
    if truth is None:
        truth = truthmod.Truth.load(os.path.join(data, "mirbase-22.1"))
    if disjoint is None:
        disjoint = part == "bench"
    ref = truth.ref
    all_sources = {"trna": trna_records(data), "rrna_frag": rfam_class(data, "rRNA_5S"),
                   "snorna_frag": rfam_class(data, "snoRNA_CD"),
                   "premirna_nonmature": [(f"{ref.hp_name[i]}|{ref.hp_acc[i]}", s) for i, s in enumerate(ref.hp_seq)
                                          if ref.hp_name[i].split("-")[0] != exclude_species]}

    def split_key(kind: str, rec) -> str:
        return rec[0].split("|")[1] if kind == "premirna_nonmature" else rec[1]

    sources, others = {}, {}
    for kind, recs in all_sources.items():
        mine = [r for r in recs if part_of(split_key(kind, r)) == part]
        other = [r for r in recs if part_of(split_key(kind, r)) != part]
        names = SETS[:5] if kind == "trna" else (kind,)
        for n in names:
            sources[n] = mine
            # the other part's RNAs as they are cut (mature tRNAs with CCA), joined for substring tests
            others[n] = "|".join(mature_trna(r[1]) if kind == "trna" else r[1] for r in other)
    out = {}
    for si, name in enumerate(sets):
        rng = random.Random(f"{seed}:{part}:{name}")
        recs = list(sources[name])
        rng.shuffle(recs)
        seen: set[str] = set()
        reads: list[tuple[str, str]] = []
        dropped = overlap = avoided = 0
        for _round in range(50):
            if len(reads) >= per_set:
                break
            for rec in recs:
                if len(reads) >= per_set:
                    break
                if name in SETS[:5]:
                    got = frag_trna(name, rec, rng)
                elif name == "premirna_nonmature":
                    got = frag_random(rec[0], rec[1], 16, 30, rng)
                else:
                    got = frag_random(rec[0], rec[1], 16, 45, rng)
                if got is None or got[0] in seen or "N" in got[0]:
                    continue
                seen.add(got[0])
                if truth.families(got[0])[0] != truthmod.NOT_MIRNA:
                    dropped += 1
                    continue
                if disjoint and got[0] in others[name]:
                    overlap += 1
                    continue
                if got[0] in avoid:
                    avoided += 1
                    continue
                reads.append((f"{name}_{part}_{len(reads) + 1} class={name} source={got[1]}", got[0]))
        print(f"make_reads: {part}/{name}: {len(reads)} reads from {len(recs)} source records "
              f"({dropped} dropped as miRNA by the truth, {overlap} as occurring in the other part, "
              f"{avoided} as in --avoid)", file=log)
        out[name] = reads
    return out


def fasta_sequences(paths: list[str]) -> frozenset[str]:
    """The sequences (upper-case, as written by this script) of the FASTA files ``paths``."""
    seqs: set[str] = set()
    for path in paths:
        with open(path) as fh:
            seqs.update(line.strip().upper() for line in fh if line.strip() and not line.startswith(">"))
    return frozenset(seqs)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--part", choices=("train", "bench"), required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--per-set", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--data", default=DATA, help="shared data folder (default: $DEEPMIR_DATA or ../shared/data)")
    ap.add_argument("--sets", default=",".join(SETS), help="comma-separated subset of " + ",".join(SETS))
    ap.add_argument("--disjoint", choices=("auto", "yes", "no"), default="auto",
                    help="drop reads occurring in an RNA of the other part (auto: yes for bench, no for train)")
    ap.add_argument("--exclude-species", metavar="CODE",
                    help="no pre-miRNA fragments from this miRBase species' hairpins (e.g. bta, for a held-out model)")
    ap.add_argument("--avoid", action="append", default=[], metavar="FASTA",
                    help="drop reads equal to a sequence of this FASTA (repeatable), e.g. the training reads")
    a = ap.parse_args(argv)
    sets = [s for s in a.sets.split(",") if s]
    bad = [s for s in sets if s not in SETS]
    if bad:
        ap.error(f"unknown set(s): {', '.join(bad)}")
    made = make_sets(a.part, a.per_set, a.seed, a.data, sets=sets,
                     disjoint=None if a.disjoint == "auto" else a.disjoint == "yes", avoid=fasta_sequences(a.avoid), exclude_species=a.exclude_species)
    os.makedirs(a.out, exist_ok=True)
    for name, reads in made.items():
        tmp = os.path.join(a.out, f".{name}.fa.tmp")
        with open(tmp, "w") as fh:
            for h, s in reads:
                fh.write(f">{h}\n{s}\n")
        os.replace(tmp, os.path.join(a.out, f"{name}.fa"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
