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
from deepmir_tools.labels import family_of
from deepmir_tools.reference import REVERSE_MARGIN, Hit, Reference
from deepmir_tools.seqio import read_records

DATASET = TEST_DATA / "dataset"
OOD = [f"tRNA={REPO / 'galaxy' / 'test-data' / 'ood-trna.fa'}", f"snoRNA_CD={REPO / 'galaxy' / 'test-data' / 'ood-snorna.fa'}"]


def gotoh_local(a: str, b: str, match: int = 2, mismatch: int = -3, gap_open: int = 5, gap_extend: int = 2) -> int:
    """Smith-Waterman with affine gaps, BLASTN's costs (a gap of n nt costs 5 + 2n), written from the textbook."""
    neg = -10**9
    h_prev = [0] * (len(b) + 1)
    e_prev = [neg] * (len(b) + 1)
    best = 0
    for i in range(1, len(a) + 1):
        h = [0] * (len(b) + 1)
        e = [neg] * (len(b) + 1)
        f = neg
        for j in range(1, len(b) + 1):
            e[j] = max(e_prev[j] - gap_extend, h_prev[j] - gap_open - gap_extend)  # gap in b (down)
            f = max(f - gap_extend, h[j - 1] - gap_open - gap_extend)  # gap in a (right)
            diagonal = h_prev[j - 1] + (match if a[i - 1] == b[j - 1] else mismatch)
            h[j] = max(0, diagonal, e[j], f)
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
        assert hit.score == gotoh_local(seq, member if hit.strand == "+" else reverse_complement(member)), query_id
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
    stage = calibrate_reference(reference, [group], below=0.99, target_fpr=0.2)  # 2 of 11 may pass: both reach it
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
