"""Peer methods for the read benchmark (issue 15): miRDeep2's quantifier rule in Python, and BLAST+ blastn-short.

Both call one family per read (or none) from a reference of miRBase 22.1 hairpins/matures, optionally without one
species (``exclude_species``, held-out-species run).  Calls are ``(status, family_accession)`` with status
``accepted`` (family given), ``accepted_no_family`` (hit a mature of a hairpin in no miFam.dat family; counted as
not given a family) or ``rejected``.

(a) ``QuantifierPeer`` -- quantifier.pl's defaults: reads aligned to the reference hairpins over their full length
    with at most one mismatch (bowtie -v 1 -a --best --strata --norc), plus strand only; a read counts for a mature
    when it starts within 2 nt up- or downstream of the mature's start and ends at most 5 nt past its end.
    Mature positions are those of ``truth.Reference`` (each mature searched in every hairpin of its species).
    --best --strata: a read with an exact alignment anywhere in the reference hairpins is not counted at a
    1-mismatch mature site.  Family = the family of the counted hairpins (the most frequent when several; ties:
    smallest accession).  Reads shorter than 15 nt are not called (the anchored index keys on 15 nt; quantifier runs
    after mapper.pl, whose default drops reads < 18 nt).
(b) ``BlastPeer`` -- ``blastn -task blastn-short -strand plus -evalue 10 -max_target_seqs 500 -num_threads 1``
    (word size 7, blastn-short's default) of the unique reads (DNA alphabet) against the reference matures;
    best hits = those with the highest bit score (identical matures of many species tie);
    accepted when the alignment covers >= 90% of the read
    ((qend - qstart + 1) >= 0.9 * qlen) with mismatches + gaps <= 1; family = the family of the mature's
    hairpin(s) (the most frequent over the accepted best hits, ties smallest accession).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections import Counter

import truth as truthmod

Call = tuple[str, str]   # (status, family accession or "")


def _pick_family(families: list[str]) -> str:
    c = Counter(families)
    return min(c, key=lambda f: (-c[f], f)) if c else ""


class QuantifierPeer:
    name = "mirdeep2_quantifier"

    def __init__(self, ref: truthmod.Reference):
        self.ref = ref
        self.index = truthmod.AnchoredIndex(ref, window=2, max_past_end=5)
        self.concat = "|".join(ref.hp_seq)

    def call_one(self, read: str) -> Call:
        read = truthmod.to_rna(read)
        hits = self.index.matches(read, (0,), max_mm=1)
        if not hits:
            return ("rejected", "")
        best = min(mm for _h, _t, mm in hits)
        if best > 0 and not (set(read) - set("ACGU")) and read in self.concat:
            return ("rejected", "")       # exact alignment elsewhere: the 1-mismatch stratum is not reported
        hps = sorted({h for h, _t, mm in hits if mm == best})
        fams = [f for h in hps for f in self.ref.hp_families[h]]
        if not fams:
            return ("accepted_no_family", "")
        return ("accepted", _pick_family(fams))

    def call(self, reads: list[str]) -> dict[str, Call]:
        return {r: self.call_one(r) for r in reads}


class BlastPeer:
    name = "blastn_short"

    def __init__(self, ref: truthmod.Reference, workdir: str | None = None):
        if shutil.which("blastn") is None or shutil.which("makeblastdb") is None:
            raise RuntimeError("blastn/makeblastdb not found: apt-get install -y ncbi-blast+ "
                               "(see benchmarks/peers/install-peers.sh)")
        self.ref = ref
        self.dir = workdir or tempfile.mkdtemp(prefix="reads-blast-")
        os.makedirs(self.dir, exist_ok=True)
        fa = os.path.join(self.dir, "matures.fa")
        self.mature_family: list[str] = []
        with open(fa, "w") as fh:
            for i, (_name, _acc, seq) in enumerate(ref.matures):
                fams = [f for h, _s in ref.mature_sites[i] for f in ref.hp_families[h]]
                self.mature_family.append(_pick_family(fams))
                fh.write(f">m{i}\n{seq.replace('U', 'T')}\n")
        self.db = os.path.join(self.dir, "matures")
        subprocess.run(["makeblastdb", "-in", fa, "-dbtype", "nucl", "-out", self.db],
                       check=True, stdout=subprocess.DEVNULL)

    def call(self, reads: list[str]) -> dict[str, Call]:
        uniq = sorted({truthmod.to_rna(r) for r in reads})
        q = os.path.join(self.dir, "query.fa")
        with open(q, "w") as fh:
            for i, r in enumerate(uniq):
                fh.write(f">q{i}\n{r.replace('U', 'T')}\n")
        out = subprocess.run(
            ["blastn", "-task", "blastn-short", "-query", q, "-db", self.db, "-strand", "plus", "-evalue", "10",
             "-max_target_seqs", "500", "-num_threads", "1",
             "-outfmt", "6 qseqid sseqid mismatch gaps qstart qend qlen bitscore"],
            check=True, capture_output=True, text=True).stdout
        best: dict[int, list[list[str]]] = {}
        for line in out.splitlines():
            f = line.split("\t")
            qi = int(f[0][1:])
            if qi not in best:
                best[qi] = [f]
            elif float(f[7]) == float(best[qi][0][7]):
                best[qi].append(f)    # hits tied with the best bit score (identical matures of many species)
        calls: dict[str, Call] = {}
        for i, r in enumerate(uniq):
            status, fam = "rejected", ""
            top = best.get(i)
            if top is not None:
                ok = []
                for f in top:
                    mism, gaps, qs, qe, ql = (int(x) for x in f[2:7])
                    if (qe - qs + 1) >= 0.9 * ql and mism + gaps <= 1:
                        ok.append(int(f[1][1:]))
                if ok:
                    fam = _pick_family([self.mature_family[m] for m in ok if self.mature_family[m]])
                    status = "accepted" if fam else "accepted_no_family"
            calls[r] = (status, fam)
        # callers may pass DNA or RNA reads: answer for the spelling they used
        return {r: calls[truthmod.to_rna(r)] for r in reads}

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
