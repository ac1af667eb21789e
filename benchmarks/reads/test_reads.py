"""Tests of the read benchmark: truth rule, read sets, peers, metrics and the runner (real sequences only).

Expected values are checked by hand / with str.find on the hairpins of testdata/mirbase (a real miRBase 22.1
subset, see README.md), never copied from the code's output.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

import make_reads  # benchmarks/reads/ (pytest puts the test's folder on sys.path)
import read_peers as peers
import run_reads
import truth as T

HERE = os.path.dirname(os.path.abspath(__file__))

TD = os.path.join(HERE, "testdata")
MB = os.path.join(TD, "mirbase")
FULL = os.path.join(make_reads.DATA, "mirbase-22.1")
need_full = pytest.mark.skipif(not os.path.isdir(FULL), reason="shared data not present")


def hairpins() -> dict[str, str]:
    return {h.split()[0]: s for h, s in T.read_fasta(os.path.join(MB, "hairpin.fa"))}


def matures() -> dict[str, str]:
    return {h.split()[0]: s for h, s in T.read_fasta(os.path.join(MB, "mature.fa"))}


@pytest.fixture(scope="module")
def tr() -> T.Truth:
    return T.Truth.load(MB)


@pytest.fixture(scope="module")
def full() -> T.Truth:
    return T.Truth.load(FULL)


LET7 = frozenset({"MIPF0000002"})
LET7A5P = "UGAGGUAGUAGGUUGUAUAGUU"


def test_exact_mature(tr):
    hp = hairpins()["hsa-let-7a-1"]
    assert matures()["hsa-let-7a-5p"] == LET7A5P and hp.find(LET7A5P) == 5
    assert tr.families(LET7A5P) == ("mirna", LET7)
    assert tr.families(LET7A5P.replace("U", "T")) == ("mirna", LET7)     # DNA alphabet
    assert tr.families(LET7A5P.lower()) == ("mirna", LET7)


def test_untemplated_3prime(tr):
    read = LET7A5P + "AA"
    assert all(read not in s for s in hairpins().values())   # the AA is not templated
    assert tr.families(read) == ("mirna", LET7)
    read4 = LET7A5P + "CCCC"                                  # 4 untemplated nt: too many
    assert all(read4[:len(read4) - k] not in s for s in hairpins().values() for k in range(4))
    assert tr.families(read4)[0] == "not_mirna"


def test_one_substitution(tr):
    read = LET7A5P[:10] + "C" + LET7A5P[11:]                  # G -> C at position 11
    assert read[10] != LET7A5P[10] and all(read not in s for s in hairpins().values())
    assert tr.families(read) == ("mirna", LET7)
    two = read[:15] + ("A" if read[15] != "A" else "C") + read[16:]   # two substitutions
    assert tr.families(two)[0] == "not_mirna"
    nfirst = "N" + LET7A5P[1:]                                 # plasma reads often start with N
    assert tr.families(nfirst) == ("mirna", LET7)
    # substitution plus trimming is not one of the alternatives (combine=False) but is with combine=True
    assert tr.families(read + "AA")[0] == "not_mirna"
    assert T.Truth(tr.ref, combine=True).families(read + "AA") == ("mirna", LET7)


def test_shift_2_and_5(tr):
    hp = hairpins()["hsa-let-7a-1"]
    s = hp.find(LET7A5P)
    shift2 = hp[s + 2:s + 24]
    assert tr.families(shift2) == ("mirna", LET7)
    shift5 = hp[s + 5:s + 27]
    # 5 nt from let-7a-5p; check by hand that it starts > 3 nt from every mature 5' end of every hairpin holding it
    starts = [(name, h.find(m)) for name, h in hairpins().items() for m in matures().values() if m in h]
    holders = [(name, h.find(shift5)) for name, h in hairpins().items() if shift5 in h]
    assert holders and all(abs(p - ms) > 3 for name, p in holders for n2, ms in starts if n2 == name)
    assert tr.families(shift5)[0] == "not_mirna"
    shift_m4 = hp[s - 4:s + 18]                                   # 4 nt upstream
    assert tr.families(shift_m4)[0] == "not_mirna"
    shift_m3 = hp[s - 3:s + 19]
    assert tr.families(shift_m3) == ("mirna", LET7)


def test_multi_family(tr):
    read = "UAUUGCACUUGUCCCGGCCUGU"        # hsa-miR-92a-3p; also sha-miR-92a, which miFam.dat puts in mir-363
    hp = hairpins()
    assert matures()["hsa-miR-92a-3p"] == read and read.startswith(matures()["sha-miR-92a"])   # 18 nt there
    assert hp["hsa-mir-92a-1"].find(read) == 47 and hp["sha-mir-92a"].find(read) == 32
    assert hp["sha-mir-92a"].find(matures()["sha-miR-92a"]) == 32
    assert tr.families(read) == ("mirna", frozenset({"MIPF0000013", "MIPF0000138"}))


def test_no_family(tr):
    read = matures()["hsa-miR-585-3p"]       # hsa-mir-585 is in no miFam.dat family
    assert "MI0003592" not in open(os.path.join(MB, "miFam.dat")).read()
    assert tr.families(read) == ("mirna_no_family", frozenset())


def test_too_short(tr):
    assert tr.families(LET7A5P[:14])[0] == "not_mirna"
    assert tr.families(LET7A5P[:15]) == ("mirna", LET7)


def test_trna_fragment(tr):
    recs = {h: s for h, s in T.read_fasta(os.path.join(TD, "trna.fa"))}
    gly = recs["tRNA|hg38|Homo_sapiens_tRNA-Gly-GCC-1-1"]
    half = gly[:32]                       # the 5' tRNA half of tRNA-Gly-GCC (cut in the anticodon loop)
    assert half == "GCAUGGGUGGUUCAGUGGUAGAAUUCUCGCCU"
    assert tr.families(half)[0] == "not_mirna"


@need_full
def test_trna_fragment_full(full):
    gly = "GCAUGGGUGGUUCAGUGGUAGAAUUCUCGCCUGCCACGCGGGAGGCCCGGGUUCGAUUCCCGGCCCAUGCA"
    assert all(gly[:32][:k] not in s for s in full.ref.hp_seq for k in (20,))   # not even its first 20 nt
    assert full.families(gly[:32])[0] == "not_mirna"
    assert full.families(LET7A5P)[0] == "mirna" and "MIPF0000002" in full.families(LET7A5P)[1]


def test_mature_placement(tr):
    assert tr.unplaced == []
    ref = tr.ref
    i = [n for n, _a, _s in ref.matures].index("hsa-let-7a-5p")
    names = sorted(ref.hp_name[h] for h, _s in ref.mature_sites[i])
    assert names == ["hsa-let-7a-1", "hsa-let-7a-2", "hsa-let-7a-3"]


def test_exclude_species(tr):
    ref = T.Reference(MB, exclude_species="sha")
    assert "sha-mir-92a" not in ref.hp_name
    assert T.Truth(ref).families("UAUUGCACUUGUCCCGGCCUGU") == ("mirna", frozenset({"MIPF0000013"}))


# ---- read sets ----

def test_mature_trna_cca():
    recs = {h: s for h, s in T.read_fasta(os.path.join(TD, "trna.fa"))}
    ala = recs["tRNA|hg38|Homo_sapiens_tRNA-Ala-AGC-1-1"]
    assert ala.endswith("CCA")            # ...CUCC + discriminator A, not the CCA tail
    assert make_reads.mature_trna(ala) == ala + "CCA"
    assert make_reads.mature_trna(ala + "CCA") == ala + "CCA"
    gly = recs["tRNA|hg38|Homo_sapiens_tRNA-Gly-GCC-1-1"]
    assert make_reads.mature_trna(gly) == gly + "CCA"
    assert make_reads.anticodon_from_header("tRNA|hg38|Homo_sapiens_tRNA-Gly-GCC-1-1") == "GCC"
    assert make_reads.anticodon_from_header("tRNA|GtRNAdb_bosTau8|Bos_taurus_chr9.trna1084-ValCAC") == "CAC"
    assert make_reads.anticodon_from_header("mt_tRNA|hg38|mtdbD00000534|Homo_sapiens|9606|Ala|TGC") == "UGC"
    # GCC occurs at 0-based 28 and 32 (and later); 32 is nearer the canonical 33 (Gly has a short D-loop)
    assert gly[28:31] == gly[32:35] == "GCC" and make_reads.find_anticodon(gly, "GCC") == 32


@need_full
def test_make_sets_deterministic_and_disjoint(full):
    a = make_reads.make_sets("bench", 40, 7, truth=full, log=open(os.devnull, "w"))
    b = make_reads.make_sets("bench", 40, 7, truth=full, log=open(os.devnull, "w"))
    c = make_reads.make_sets("train", 40, 7, truth=full, log=open(os.devnull, "w"))
    assert a == b
    seqs = {r[0]: r[1] for r in make_reads.trna_records(make_reads.DATA)}
    for cls in ("rRNA_5S", "snoRNA_CD"):
        seqs.update(dict(make_reads.rfam_class(make_reads.DATA, cls)))
    for name in make_reads.SETS:
        assert len(a[name]) == 40 and len({s for _h, s in a[name]}) == 40
        assert all(f"class={name}" in h for h, _s in a[name])
        assert all(full.families(s)[0] == "not_mirna" for _h, s in a[name])
        lens = [len(s) for _h, s in a[name]]
        lo, hi = {"trna_5half": (28, 36), "trna_3half": (28, 50), "trf3": (14, 24), "trf5": (14, 24),
                  "itrf": (14, 30), "rrna_frag": (16, 45), "snorna_frag": (16, 45),
                  "premirna_nonmature": (16, 30)}[name]
        assert lo <= min(lens) and max(lens) <= hi
        # every source record lies in its part (stable sequence hash; hairpins by accession)
        for part, made in (("bench", a), ("train", c)):
            for h, _s in made[name]:
                src = h.split("source=")[1].rsplit(":", 1)[0]
                key = src.split("|")[1] if name == "premirna_nonmature" else seqs[src]
                assert make_reads.part_of(key) == part
        if name == "premirna_nonmature":
            assert not {h.split("|")[1] for h, _s in a[name]} & {h.split("|")[1] for h, _s in c[name]}
    train_reads = {s for name in make_reads.SETS for _h, s in c[name]}
    assert not train_reads & {s for name in make_reads.SETS for _h, s in a[name]}
    assert all(s.endswith("CCA") for _h, s in a["trf3"] + a["trna_3half"])


# ---- peers ----

def test_quantifier_window(tr):
    q = peers.QuantifierPeer(tr.ref)
    hp = hairpins()["hsa-let-7a-1"]
    s = hp.find(LET7A5P)
    e = s + len(LET7A5P)
    assert q.call_one(LET7A5P) == ("accepted", "MIPF0000002")
    assert q.call_one(hp[s - 2:e]) == ("accepted", "MIPF0000002")      # 2 nt upstream
    assert q.call_one(hp[s - 3:e])[0] == "rejected"                    # 3 nt upstream
    assert q.call_one(hp[s + 2:e + 5]) == ("accepted", "MIPF0000002")  # ends 5 past the mature end
    assert q.call_one(hp[s:e + 6])[0] == "rejected"                    # 6 past
    two_off = LET7A5P + "CC"        # >= 2 mismatches against every full-length window of every hairpin
    assert all(sum(a != b for a, b in zip(two_off, h[i:i + len(two_off)])) >= 2
               for h in hairpins().values() for i in range(len(h) - len(two_off) + 1))
    assert q.call_one(two_off)[0] == "rejected"                       # no 3' trimming in quantifier
    assert q.call_one(LET7A5P + "AA") == ("accepted", "MIPF0000002")   # ...UAG in let-7a-2: one mismatch
    assert q.call_one(LET7A5P[:10] + "C" + LET7A5P[11:]) == ("accepted", "MIPF0000002")


@pytest.mark.skipif(shutil.which("blastn") is None, reason="blastn not installed")
def test_blast_peer(tr, tmp_path):
    b = peers.BlastPeer(tr.ref, str(tmp_path))
    gly = "GCAUGGGUGGUUCAGUGGUAGAAUUCUCGCCU"
    calls = b.call([LET7A5P, LET7A5P + "A", gly, "UAUUGCACUUGUCCCGGCCUGU"])
    assert calls[LET7A5P] == ("accepted", "MIPF0000002")
    assert calls[LET7A5P + "A"] == ("accepted", "MIPF0000002")     # 22/23 covered, no mismatch
    assert calls[gly][0] == "rejected"
    # tie between hsa-miR-92a-3p (mir-25: 2 hairpins) and sha-miR-92a (mir-363: 1): the more frequent family
    assert calls["UAUUGCACUUGUCCCGGCCUGU"] == ("accepted", "MIPF0000013")


# ---- metrics and runner ----

def test_metrics_by_hand():
    F, G = frozenset({"F"}), frozenset({"G"})
    rows = [(22, "mirna", F, "F"), (22, "mirna", F, "G"), (22, "mirna", F | G, "G"), (22, "mirna", F, None),
            (30, "not_mirna", frozenset(), "F"), (30, "not_mirna", frozenset(), None),
            (22, "mirna_no_family", frozenset(), "F")]
    m = run_reads.metrics(rows, frozenset({"F"}))
    assert m["recall"] == 2 / 4
    assert m["false_acceptance"] == 1 / 2
    assert m["precision"] == 2 / 4          # accepted: F, G, G, and the non-miRNA read
    assert m["mirna_no_family_reads"] == 1 and m["mirna_no_family_accepted"] == 1
    assert m["recall_model_families"] == 2 / 4
    assert run_reads.metrics(rows, frozenset({"G"}))["recall_model_families"] == 1 / 1


def test_length_bins():
    assert [run_reads.length_bin(n) for n in (15, 16, 19, 20, 22, 23, 25, 26, 30, 31, 36, 37)] == \
        ["<16", "16-19", "16-19", "20-22", "20-22", "23-25", "23-25", "26-30", "26-30", "31-36", "31-36", ">36"]


def test_runner_end_to_end(tmp_path):
    """The runner on 300 real plasma reads against the miRBase subset, with deepmir-classify as a user runs it."""
    data = tmp_path / "data"
    (data / "mirbase-22.1").mkdir(parents=True)
    (data / "smallrna-reads").mkdir()
    shutil.copytree(MB, data / "mirbase-22.1" / "derived")
    shutil.copy(os.path.join(TD, "plasma_head300.fastq"), data / "smallrna-reads" / "bovine_plasma_sample.fastq")
    out = tmp_path / "out"
    cmd = [sys.executable, os.path.join(HERE, "run_reads.py"), "--data", str(data), "--sets", "plasma",
           "--out", str(out), "--heldout-model", "mature", "--heldout-species", "sha"]
    if shutil.which("blastn") is None:
        cmd.append("--no-blast")
    subprocess.run(cmd, check=True, capture_output=True)
    rows = [ln.rstrip("\n").split("\t") for ln in open(out / "results.tsv")][1:]
    got = {(s, m, b, k): float(v) for s, m, b, k, v in rows}
    assert got[("plasma", "deepmir", "all", "n_reads")] == 300
    assert got[("plasma_heldout_sha", "mirdeep2_quantifier", "all", "n_reads")] == 300
    # reads starting (after a leading N) with the first 18 nt of miR-21-5p or miR-92a-3p are miRNA reads
    heads = ("UAGCUUAUCAGACUGAUG", "UAUUGCACUUGUCCCGGC")
    known = sum(1 for _h, s in T.read_fastq(os.path.join(TD, "plasma_head300.fastq"))
                if T.to_rna(s).lstrip("N").startswith(heads) or T.to_rna(s)[1:].startswith(tuple(h[1:] for h in heads)))
    assert known > 0 and got[("plasma", "deepmir", "all", "mirna_reads")] >= known
    assert got[("plasma", "mirdeep2_quantifier", "all", "recall")] > 0
    assert "## All lengths" in open(out / "RESULTS.md").read()


def test_five_prime_shifts_are_the_seeds_a_read_may_carry():
    """make_isomirs --five-prime-shifts: every 5' shift of -3..+3 nt of a mature in its family's hairpins, 3' end kept.
    hsa-let-7a-5p sits at 0-based 5 in hsa-let-7a-1 (found with str.find here), so the shifts start at 2..8."""
    sys.path.insert(0, os.path.dirname(HERE))
    import make_isomirs

    hairpin = hairpins()["hsa-let-7a-1"]
    mature = matures()["hsa-let-7a-5p"]
    start = hairpin.find(mature)
    assert start == 5
    end = start + len(mature)
    made = make_isomirs.five_prime_shifts([("hsa-let-7a-5p", mature, ("MIPF0000002", "let-7"))],
                                          {"MIPF0000002": [hairpin]})
    assert sorted(seq for _, seq, _, _ in made) == sorted(hairpin[start + d:end] for d in range(-3, 4))
    labels = {seq: label for _, seq, _, label in made}
    assert labels[mature] == "+0,+0" and labels[hairpin[2:end]] == "-3,+0" and labels[hairpin[8:end]] == "+3,+0"
    assert len({rid for rid, _, _, _ in made}) == len(made)  # unique IDs


def test_shipped_read_model_on_real_reads(tr, tmp_path):
    """The shipped `mature` model as a user runs it: the real plasma reads that the truth (on the testdata subset,
    independent of the model) puts in mir-25/mir-363 or mir-21 hairpins get a right family or none, at most 2 of 12
    none; and the tRNA halves cut from two real human tRNAs by the benchmark's anticodon rule get no family."""
    reads = []
    for header, seq in T.read_fastq(os.path.join(TD, "plasma_head300.fastq")):
        kind, families = tr.families(seq)
        if kind == T.MIRNA:
            reads.append((header.split()[0], seq, families))
    assert len(reads) == 12  # 9 reads of mir-25/mir-363 (hsa-mir-92a-1/-2, sha-mir-92a), 3 of mir-21
    halves = []
    for header, gene in T.read_fasta(os.path.join(TD, "trna.fa")):
        anticodon = make_reads.find_anticodon(gene, make_reads.anticodon_from_header(header))
        mature = make_reads.mature_trna(gene)
        for cut in range(anticodon - 1, anticodon + 5):  # between two nt of the anticodon loop
            halves += [gene[:cut], mature[cut:]]
    assert {len(h) for h in halves} <= set(range(28, 51)) and len(halves) == 24
    fasta = tmp_path / "reads.fa"
    fasta.write_text("".join(f">{rid}\n{seq}\n" for rid, seq, _ in reads)
                     + "".join(f">half{i}\n{seq}\n" for i, seq in enumerate(halves)))
    calls = tmp_path / "calls.tsv"
    done = subprocess.run([run_reads.find_classify(), "-q", "-m", "mature", str(fasta), "-o", str(calls)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    rows = [line.split("\t") for line in calls.read_text().splitlines()[2:]]
    status = {row[0]: (row[2], row[5]) for row in rows}
    right = sum(status[rid][1] == "accepted" and status[rid][0] in fams for rid, _, fams in reads)
    wrong = sum(status[rid][1] == "accepted" and status[rid][0] not in fams for rid, _, fams in reads)
    assert wrong == 0 and right >= 10, status
    assert not [h for h in status if h.startswith("half") and status[h][1] == "accepted"], status
