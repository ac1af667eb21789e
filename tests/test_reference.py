"""The reference stage (deepmir_tools.reference): nearest known member by k-mer candidates + Smith-Waterman, and a
bundle that carries it through deepmir-calibrate --reference into deepmir-classify.

Real data: the 124 miRBase 22.1 hairpins of test-data/dataset (labelled by deepmir-dataset from miFam.dat), the
5-family tiny model, and real tRNA / C/D snoRNA records as out-of-distribution sets (galaxy/test-data)."""

from __future__ import annotations

import numpy as np
import parasail
import pytest
from conftest import REPO, TEST_DATA, read_fasta, read_tsv, tool_path

from deepmir_tools.bundle import load_bundle
from deepmir_tools.decision import Decision
from deepmir_tools.labels import family_of
from deepmir_tools.reference import REVERSE_MARGIN, Hit, Reference
from deepmir_tools.seqio import read_records

DATASET = TEST_DATA / "dataset"
OOD = [f"tRNA={REPO / 'galaxy' / 'test-data' / 'ood-trna.fa'}", f"snoRNA_CD={REPO / 'galaxy' / 'test-data' / 'ood-snorna.fa'}"]


def gotoh(a: str, b: str, anchor: int | None = None, match: int = 2, mismatch: int = -3, gap_open: int = 5,
          gap_extend: int = 2) -> int:
    """Smith-Waterman with affine gaps, BLASTN's costs (a gap of n nt costs 5 + 2n), written from the textbook: the
    best local alignment score. With ``anchor``: the best among alignments whose first aligned pair lies within
    ``anchor`` nt of the start of both sequences (an alignment may only open at those cells); -1 if none can."""
    neg = -10**9
    h_prev = [neg] * (len(b) + 1)
    e_prev = [neg] * (len(b) + 1)
    best = 0 if anchor is None else -1  # the empty local alignment scores 0
    for i in range(1, len(a) + 1):
        h = [neg] * (len(b) + 1)
        e = [neg] * (len(b) + 1)
        f = neg
        for j in range(1, len(b) + 1):
            e[j] = max(e_prev[j] - gap_extend, h_prev[j] - gap_open - gap_extend)  # gap in b (down)
            f = max(f - gap_extend, h[j - 1] - gap_open - gap_extend)  # gap in a (right)
            may_open = anchor is None or (i - 1 <= anchor and j - 1 <= anchor)  # a new alignment at (i-1, j-1)
            diagonal = max(h_prev[j - 1], 0 if may_open else neg) + (match if a[i - 1] == b[j - 1] else mismatch)
            h[j] = max(diagonal, e[j], f)
            best = max(best, h[j])
        h_prev, e_prev = h, e
    return best


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """deepmir-dataset of the 124 test hairpins: families >= 2 members, one held out each (queries)."""
    import subprocess

    out = tmp_path_factory.mktemp("reference-data")
    done = subprocess.run([tool_path("deepmir-dataset"), "mirbase", "--hairpins", str(DATASET / "mirbase22-hairpin.fa"), "--families",
                    str(DATASET / "mirbase22-miFam.dat"), "--min-members", "2", "--test-per-family", "1", "--seed", "7",
                    "-O", str(out), "-q"], capture_output=True)
    assert done.returncode == 0, done.stderr.decode()
    return out


def members_of(path) -> list[tuple[str, str, str, str]]:
    return [(r.id, *family_of(r.description), r.seq) for r in read_records(str(path))]


def reverse_complement(seq: str) -> str:
    return seq[::-1].translate(str.maketrans("ACGU", "UGCA"))


def test_scores_are_blastn_smith_waterman(labelled):
    members = members_of(labelled / "train.fa")
    reference = Reference.from_members(members)
    for query_id, seq in read_fasta(labelled / "test.fa")[:6]:
        hit = reference.best_hit(seq)
        assert hit is not None
        # the reported score is the textbook Smith-Waterman score of the query and that member (on its strand)
        member = members[hit.member][3]
        assert hit.score == gotoh(seq, member if hit.strand == "+" else reverse_complement(member)), query_id
    # a member against itself: every nt matches, 2 per nt; its reverse complement: the same member, reversed
    member_id, _, _, seq = members[3]
    assert reference.best_hit(seq) == Hit(3, 2 * len(seq), "+")
    assert reference.best_hit(reverse_complement(seq)) == Hit(3, 2 * len(seq), "-")


def test_best_hit_is_the_exhaustive_best(labelled):
    """The k-mer candidates and the early stop lose nothing here: the hit equals an exhaustive search over every
    member on both strands under the documented rule (the reverse strand must win by more than REVERSE_MARGIN)."""
    members = members_of(labelled / "train.fa")
    reference = Reference.from_members(members)
    matrix = parasail.matrix_create("ACGU", 2, -3)
    for query_id, seq in read_fasta(labelled / "test.fa"):
        plus = [parasail.sw(seq, m[3], 7, 2, matrix).score for m in members]  # unvectorised, every member
        minus = [parasail.sw(seq, reverse_complement(m[3]), 7, 2, matrix).score for m in members]
        expected = (max(minus), "-") if max(minus) > max(plus) + REVERSE_MARGIN else (max(plus), "+")
        hit = reference.best_hit(seq)
        assert hit is not None and (hit.score, hit.strand) == expected, query_id


def test_calibrated_reference_names_families_the_network_lacks(labelled, tiny_model, tmp_path, run_tool):
    """Held-out members of families the 5-family tiny model does not know get their own family through the
    reference (their label, from miFam.dat); without it, never; tRNA and snoRNA stay rejected."""
    model = tmp_path / "tiny-ref.npz"
    done = run_tool("deepmir-calibrate", "-m", tiny_model, "--in-dist", TEST_DATA / "tiny" / "test.fa",
                    *[arg for spec in OOD for arg in ("--ood", spec)], "--reference", labelled / "train.fa",
                    "-o", model)
    assert done.returncode == 0, done.stderr.decode()
    bundle = load_bundle(str(model))
    assert bundle.info.reference["members"] == len(read_fasta(labelled / "train.fa"))
    min_score = bundle.decision.reference_min_score
    assert min_score is not None and min_score >= 1

    network_families = {accession for accession, _ in bundle.classes}
    truth = {r.id: family_of(r.description)[0] for r in read_records(str(labelled / "test.fa"))}
    outside = {q for q, family in truth.items() if family not in network_families}
    assert len(outside) >= 2  # mir-1 and mir-21: the tiny model knows the other five families
    with_reference, without = tmp_path / "calls.tsv", tmp_path / "calls-net.tsv"
    for out, extra in ((with_reference, []), (without, ["--no-reference"])):
        done = run_tool("deepmir-classify", "-m", model, labelled / "test.fa", "-o", out, *extra)
        assert done.returncode == 0, done.stderr.decode()
    header, columns, rows = read_tsv(with_reference)
    assert f"reference_min_score={min_score}" in header
    assert columns[-3:] == ["method", "alignment_score", "nearest_member"]
    by_id = {row["id"]: row for row in rows}
    right = [q for q in outside if by_id[q]["status"] == "accepted" and by_id[q]["family_accession"] == truth[q]]
    assert sorted(right) == sorted(outside)
    for q in right:  # named by the reference, from a member of that family at or above the minimum score
        row = by_id[q]
        assert row["method"] == "reference" and int(row["alignment_score"]) >= min_score
        member_family = dict((m[0], m[1]) for m in members_of(labelled / "train.fa"))[row["nearest_member"]]
        assert member_family == truth[q]
    _, columns_net, rows_net = read_tsv(without)
    assert "method" not in columns_net
    assert not any(row["family_accession"] == truth[row["id"]] and row["status"] == "accepted"
                   for row in rows_net if row["id"] in outside)
    for spec in OOD:  # non-miRNAs: at most what the network alone accepts, plus the calibrated 1% per class
        path = spec.split("=", 1)[1]
        done = run_tool("deepmir-classify", "-m", model, path)
        _, _, ood_rows = read_tsv(done.stdout.decode())
        by_reference = sum(row["method"] == "reference" for row in ood_rows)
        assert by_reference <= max(1, 0.01 * len(ood_rows)) + 1e-9


def test_reference_arrays_need_their_record(tiny_model, tmp_path):
    """A bundle with ref:* arrays but no meta record is refused (and none is read with pickle)."""
    arrays = dict(np.load(tiny_model, allow_pickle=False))
    arrays["ref:codes"] = np.zeros(3, np.uint8)
    broken = tmp_path / "broken.npz"
    np.savez(broken, **arrays)
    from deepmir_tools.errors import ModelBundleError

    with pytest.raises(ModelBundleError, match="reference arrays without a reference record"):
        load_bundle(str(broken))


def test_calibration_drops_a_trna_posing_as_a_member(labelled):
    """miRBase holds tRNA-derived entries; a real tRNA given to the reference as a member of a family is reached by
    the other real tRNAs of the calibration and dropped, and the minimum score is then chosen without it."""
    from deepmir_tools.calibration import ScoredGroup, calibrate_reference

    trna_id, trna_seq = read_fasta(TEST_DATA / "trna-hsa-Ala-AGC-1-1.fa")[0]
    members = members_of(labelled / "train.fa") + [(trna_id, "MIPF9999999", "tRNA-posing", trna_seq)]
    ood_records = [(i, s) for i, s in read_fasta(REPO / "galaxy" / "test-data" / "ood-trna.fa") if s != trna_seq]
    unsure = np.full((len(ood_records), 5), 0.2)  # the network is unsure of all: every one is looked up
    group = ScoredGroup("tRNA", [i for i, _ in ood_records], unsure, np.zeros(len(ood_records)),
                        seqs=[s for _, s in ood_records], families=[None] * len(ood_records))
    reference = Reference.from_members(members)
    assert sum(reference.best_hit(s).member == len(members) - 1 for _, s in ood_records) >= 2  # the premise
    rule = Decision(0.5, reference_below=0.99)
    stage = calibrate_reference(reference, [group], rule, target_fpr=0.2)  # 2 of 11 may pass: both reach it
    assert stage.dropped == [trna_id]
    assert len(stage.reference) == len(members) - 1
    assert stage.fpr["tRNA"] <= 0.2


def test_shipped_hairpin_model_names_small_families(tmp_path, run_tool):
    """The shipped hairpin model on held-out hairpins of 8 small families (2-9 unique hairpins; not in its network,
    not in its reference): their miFam.dat family through the reference stage, which --no-reference turns off."""
    path = TEST_DATA / "small-families-heldout.fa"
    truth = {r.id: family_of(r.description)[0] for r in read_records(str(path))}
    bundle = load_bundle("hairpin")
    assert not set(truth.values()) & {accession for accession, _ in bundle.classes}  # the network lacks them all
    assert not set(truth) & set(bundle.reference().ids.tolist())  # and the reference holds none of these hairpins
    outputs = {}
    for name, extra in (("reference", []), ("network", ["--no-reference"])):
        outputs[name] = tmp_path / f"{name}.tsv"
        done = run_tool("deepmir-classify", path, "-o", outputs[name], *extra)
        assert done.returncode == 0, done.stderr.decode()
    _, _, rows = read_tsv(outputs["reference"])
    right = [r for r in rows if r["status"] == "accepted" and r["family_accession"] == truth[r["id"]]]
    assert len(right) >= 7 and all(r["method"] == "reference" for r in right)
    _, _, rows = read_tsv(outputs["network"])
    assert not any(r["status"] == "accepted" and r["family_accession"] == truth[r["id"]] for r in rows)


# --- anchored (read) references: deepmir-calibrate --reference-anchor ---------------------------------------------

ANCHOR = 3


@pytest.fixture(scope="module")
def labelled_matures(tmp_path_factory):
    """deepmir-dataset of the 180 test matures (their hairpins' miFam.dat families), every family, nothing held out."""
    import subprocess

    out = tmp_path_factory.mktemp("reference-matures")
    done = subprocess.run([tool_path("deepmir-dataset"), "mirbase", "--hairpins", str(DATASET / "mirbase22-hairpin.fa"),
                           "--families", str(DATASET / "mirbase22-miFam.dat"), "--matures",
                           str(DATASET / "mirbase22-mature.fa"), "--kind", "mature", "--min-members", "1",
                           "--test-fraction", "0", "-O", str(out), "-q"], capture_output=True)
    assert done.returncode == 0, done.stderr.decode()
    return out


def cut_reads(limit: int = 40) -> list[tuple[str, str]]:
    """Reads cut from the real test hairpins around real mature 5' ends: 20 nt from the mature's start shifted by
    -5..+5 nt (the first ``limit`` matures found in a hairpin of their name; a mature is placed with str.find)."""
    hairpins = dict(read_fasta(DATASET / "mirbase22-hairpin.fa"))
    reads = []
    for name, mature in read_fasta(DATASET / "mirbase22-mature.fa"):
        stem = name.lower().removesuffix("-5p").removesuffix("-3p")  # hsa-miR-21-5p -> hsa-mir-21
        hairpin = next((seq for hid, seq in hairpins.items() if hid.lower() == stem and mature in seq), None)
        if hairpin is None:
            continue
        start = hairpin.find(mature)
        for shift in range(-5, 6):
            if 0 <= start + shift and start + shift + 20 <= len(hairpin):
                reads.append((f"{name}{shift:+d}", hairpin[start + shift:start + shift + 20]))
        if len(reads) >= limit * 8:
            break
    return reads


def test_anchored_hit_is_the_exhaustive_best(labelled_matures):
    """Anchored search = over every member as given, the best local alignment that starts within ANCHOR nt of both
    5' ends (a member whose best alignment starts elsewhere does not count), checked exhaustively by textbook DP
    wherever that best aligns >= 12 nt (score >= 24: far below any minimum, and members that close share an
    8-mer, the candidates' key). Weaker hits, when reported, must obey the same rule."""
    members = members_of(labelled_matures / "train.fa")
    reference = Reference.from_members(members)
    reads = cut_reads()
    assert len(reads) >= 200
    outcomes = set()
    for read_id, read in reads:
        free = [gotoh(read, m[3]) for m in members]
        anchored = [gotoh(read, m[3], ANCHOR) for m in members]
        eligible = [score for score, bound in zip(free, anchored) if score == bound]
        hit = reference.best_hit(read, ANCHOR)
        if hit is not None:
            assert hit.strand == "+" and free[hit.member] == anchored[hit.member] == hit.score, read_id
        if max(eligible, default=0) < 24:
            outcomes.add("weak")
            continue
        assert hit is not None and hit.score == max(eligible), read_id
        outcomes.add("perfect" if hit.score == 2 * len(read) else "partial")
    assert outcomes == {"perfect", "partial", "weak"}


def test_anchor_keeps_pieces_from_inside_a_mature_out():
    """A piece cut 6 nt inside a real mature aligns perfectly to it anywhere, but not at its 5' end: the anchored
    search does not name it; a 2-nt 5' extension from the real hairpin does, short of a perfect match by 4."""
    hairpin = dict(read_fasta(DATASET / "mirbase22-hairpin.fa"))["hsa-let-7a-1"]
    mature = dict(read_fasta(DATASET / "mirbase22-mature.fa"))["hsa-let-7a-5p"]
    reference = Reference.from_members([("hsa-let-7a-5p", "MIPF0000002", "let-7", mature)])
    inside = mature[6:]
    assert reference.best_hit(inside) == Hit(0, 2 * len(inside), "+")
    assert reference.best_hit(inside, ANCHOR) is None
    start = hairpin.find(mature)
    extended = hairpin[start - 2:start + len(mature)]
    hit = reference.best_hit(extended, ANCHOR)
    assert hit == Hit(0, 2 * len(mature), "+")
    rule = Decision(0.5, reference_min_score=-4, reference_anchor=ANCHOR)
    assert rule.reference_score(hit.score, len(extended)) == -4
    assert rule.reference_accepts(hit.score, len(extended))
    assert not Decision(0.5, reference_min_score=-3, reference_anchor=ANCHOR).reference_accepts(hit.score,
                                                                                               len(extended))


def test_anchored_decision_record():
    """The anchor is stored with the rule and read back; an anchored minimum is a shortfall (<= 0), a free one a
    score (>= 1)."""
    rule = Decision(0.4, reference_min_score=-7, reference_below=0.99, reference_anchor=3)
    record = rule.fields()
    assert (record["reference_min_score"], record["reference_anchor"]) == (-7, 3)
    assert Decision.from_record(record) == rule
    assert "reference_anchor" not in Decision(0.4, reference_min_score=38).fields()
    with pytest.raises(ValueError, match="<= 0"):
        Decision(0.4, reference_min_score=5, reference_anchor=3)
    with pytest.raises(ValueError, match=">= 1"):
        Decision(0.4, reference_min_score=-5)
    assert rule.overridden(reference=False).reference_anchor is None


def test_anchored_calibration_chooses_a_shortfall(labelled_matures):
    """With an anchor the minimum is a shortfall (<= 0) chosen on the OOD pieces: real pieces cut from inside real
    matures (6 nt in, never at a 5' end) may pass at most at the target rate; reads at a mature's 5' end pass."""
    from deepmir_tools.calibration import ScoredGroup, calibrate_reference

    members = members_of(labelled_matures / "train.fa")
    reference = Reference.from_members(members)
    pieces = [m[3][6:6 + 16] for m in members if len(m[3]) >= 22]
    unsure = np.full((len(pieces), 5), 0.2)
    group = ScoredGroup("inside", [f"p{i}" for i in range(len(pieces))], unsure, np.zeros(len(pieces)),
                        seqs=pieces, families=[None] * len(pieces))
    rule = Decision(0.5, reference_below=0.99, reference_anchor=ANCHOR)
    stage = calibrate_reference(reference, [group], rule, target_fpr=0.01)
    assert stage.min_score <= 0
    assert stage.fpr["inside"] <= 0.01
    accepted = Decision(0.5, reference_min_score=stage.min_score, reference_anchor=ANCHOR)
    at_five_prime = [m[3][:20] for m in members[:50]]
    assert all(accepted.reference_accepts(reference.best_hit(read, ANCHOR).score, len(read))
               for read in at_five_prime)


def test_shipped_mature_model_names_mir35_reads(tmp_path, run_tool):
    """The shipped mature model on C. elegans miR-35-3p and its 3' isomiRs (1-2 nt trimmed, A/U/AA added; cut from
    the real mature): family mir-35 (MIPF0000302, miFam.dat: cel-mir-35, cbr-mir-35a, cbr-mir-35d) through the
    anchored reference, which --no-reference turns off. The network does not know the family: it names none of
    these reads mir-35."""
    (mature_id, mature), = read_fasta(TEST_DATA / "cel-miR-35-3p.fa")
    variants = {"exact": mature, "3p-1": mature[:-1], "3p-2": mature[:-2], "+A": mature + "A", "+U": mature + "U",
                "+AA": mature + "AA"}
    reads = tmp_path / "mir35.fa"
    reads.write_text("".join(f">{name}\n{seq}\n" for name, seq in variants.items()))
    bundle = load_bundle("mature")
    assert "MIPF0000302" not in {accession for accession, _ in bundle.classes}
    assert mature_id in bundle.reference().ids.tolist()
    outputs = {}
    for name, extra in (("reference", []), ("network", ["--no-reference"])):
        outputs[name] = tmp_path / f"{name}.tsv"
        done = run_tool("deepmir-classify", "-m", "mature", reads, "-o", outputs[name], *extra)
        assert done.returncode == 0, done.stderr.decode()
    header, _, rows = read_tsv(outputs["reference"])
    assert "reference_anchor=3" in header
    assert {r["id"] for r in rows} == set(variants)
    for row in rows:  # 2 per aligned nt of the mature: all of a trimmed read, the mature's 22 nt of a tailed one
        assert (row["family_accession"], row["status"], row["method"], row["nearest_member"]) == (
            "MIPF0000302", "accepted", "reference", mature_id), row["id"]
        assert int(row["alignment_score"]) == 2 * min(len(variants[row["id"]]), len(mature)), row["id"]
    _, _, rows = read_tsv(outputs["network"])
    assert not any(r["family_accession"] == "MIPF0000302" for r in rows)
