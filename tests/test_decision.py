"""The accept/reject rule (deepmir_tools.decision): stored in the bundle, chosen by calibrate, applied by classify.

Expected scores are computed here from first principles (exp / sum, log-sum-exp in Python floats), and the
length policy is checked on real hairpins of known lengths: a model calibrated for lengths 70-90 must report
every shorter or longer sequence with its own status and no family, and score the others exactly as before.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import TEST_DATA, padded_softmax, read_fasta, read_tsv

from deepmir_tools.decision import (ACCEPTED, REJECTED, SEED_MISMATCH, TOO_LONG, TOO_SHORT, Decision, gated,
                                   seed_of, seeds_from)
from deepmir_tools.errors import ModelBundleError

LOGITS = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-3.0, 4.0, 0.0]])


def reference_softmax(row: list[float], temperature: float) -> list[float]:
    exps = [math.exp(v / temperature) for v in row]
    return [e / sum(exps) for e in exps]


def test_an_old_threshold_record_is_softmax_at_t1_for_any_length():
    decision = Decision.from_record({"value": 0.977, "method": "paper default"})
    assert decision == Decision(0.977, "softmax", 1.0, None, None)
    assert decision.length_range() == "any" and decision.length_status(1) is None and decision.length_status(10**6) is None


@pytest.mark.parametrize("temperature", [1.0, 2.0, 0.5])
def test_softmax_scores_at_a_temperature(temperature):
    probabilities, scores = Decision(0.5, temperature=temperature).scores(LOGITS)
    for row, got, score in zip(LOGITS.tolist(), probabilities, scores):
        expected = reference_softmax(row, temperature)
        assert got.tolist() == pytest.approx(expected, abs=1e-12)
        assert score == pytest.approx(max(expected), abs=1e-12)


def test_energy_scores_ignore_the_temperature_of_the_reported_softmax():
    probabilities, scores = Decision(1.0, score="energy", temperature=2.0).scores(LOGITS)
    for row, got, score in zip(LOGITS.tolist(), probabilities, scores):
        assert score == pytest.approx(math.log(sum(math.exp(v) for v in row)), abs=1e-12)
        assert got.tolist() == pytest.approx(reference_softmax(row, 2.0), abs=1e-12)


def test_statuses_at_the_threshold_and_length_bounds():
    decision = Decision(0.4, min_length=16, max_length=40)
    assert decision.status(0.4) == ACCEPTED and decision.status(np.nextafter(0.4, 0)) == REJECTED
    assert [decision.length_status(n) for n in (15, 16, 40, 41)] == [TOO_SHORT, None, None, TOO_LONG]
    assert decision.length_range() == "16-40"
    assert Decision(0.4, min_length=16).length_range() == ">=16"


def test_record_round_trip_and_overrides():
    decision = Decision(0.3, "softmax", 2.0, 16, 40)
    record = dict(decision.fields(), method="target FPR 0.01", tpr=0.97)
    assert Decision.from_record(record) == decision
    assert decision.overridden(threshold=0.5) == Decision(0.5, "softmax", 2.0, 16, 40)
    assert decision.overridden(temperature=1.0) == Decision(0.3, "softmax", 1.0, 16, 40)
    assert decision.overridden() is not None and decision.overridden() == decision
    assert "min_length" not in Decision(0.3).fields()
    scanning = Decision(0.04, scan_threshold=0.83, scan_window_threshold=0.1)  # a hairpin model's scan thresholds
    assert scanning.fields()["scan_threshold"] == 0.83 and scanning.fields()["scan_window_threshold"] == 0.1
    assert Decision.from_record(scanning.fields()) == scanning
    assert "scan_threshold" not in Decision(0.3).fields() and Decision.from_record({"value": 0.3}).scan_threshold is None
    assert scanning.overridden(threshold=0.5).scan_threshold == 0.83  # the classify threshold only


@pytest.mark.parametrize("record, message", [
    ({"value": True}, "a number under 'value'"),
    ([0.5], "expected a mapping"),
    ({"value": 0.5, "min_length": 0}, "min_length/max_length"),
    ({"value": 0.5, "max_length": 2.5}, "min_length/max_length"),
    ({"value": 0.5, "min_length": 30, "max_length": 20}, "min_length 30 > max_length 20"),
    ({"value": 0.5, "score": "entropy"}, "unknown score 'entropy'"),
    ({"value": 0.5, "temperature": 0}, "temperature must be > 0"),
    ({"value": 0.5, "scan_threshold": "0.8"}, "scan_threshold must be a number"),
    ({"value": 0.5, "scan_threshold": float("nan")}, "scan_threshold must be a finite number"),
    ({"value": 0.5, "scan_window_threshold": None, "scan_threshold": [1]}, "scan_threshold must be a number"),
    ({"value": 0.5, "scan_window_threshold": float("inf")}, "scan_window_threshold must be a finite number"),
])
def test_malformed_records_are_refused(record, message):
    with pytest.raises(ModelBundleError, match="malformed threshold record") as error:
        Decision.from_record(record, "model.npz")
    assert message in str(error.value) and str(error.value).startswith("model.npz: ")


def test_calibrated_length_range_gives_its_own_statuses(run_main, tmp_path, tiny_bundle):
    """deepmir-calibrate --lengths 70-90 records the range; deepmir-classify applies it: sequences outside get
    too_short/too_long and no family, those inside the model's usual scores (padded_softmax, independently)."""
    calibrated = tmp_path / "ranged.npz"
    result = run_main("deepmir-calibrate", "-m", str(TEST_DATA / "tiny-model.npz"), "--in-dist",
                      str(TEST_DATA / "tiny" / "test.fa"), "--ood", f"tRNA={TEST_DATA / 'trna-hsa-Ala-AGC-1-1.fa'}",
                      "--ood", f"unseen={TEST_DATA / 'hairpins-hsa30.fa'}", "--lengths", "70-90", "-o", str(calibrated), "-q")
    assert result.code == 0, result.err
    from deepmir_tools.bundle import load_bundle

    decision = load_bundle(str(calibrated)).decision
    assert (decision.min_length, decision.max_length) == (70, 90)
    # every calibration sequence outside 70-90 nt was left out of the ROC
    in_range = [s for _, s in read_fasta(TEST_DATA / "tiny" / "test.fa") if 70 <= len(s) <= 90]
    assert load_bundle(str(calibrated)).meta["threshold"]["in_distribution"]["n"] == len(in_range)

    records = read_fasta(TEST_DATA / "hairpins-hsa30.fa")
    lengths = [len(seq) for _, seq in records]
    assert min(lengths) < 70 and max(lengths) > 90 and any(70 <= n <= 90 for n in lengths)
    out = tmp_path / "calls.tsv"
    assert run_main("deepmir-classify", "-m", str(calibrated), str(TEST_DATA / "hairpins-hsa30.fa"), "-o", str(out),
                    "-q").code == 0
    comment, _, rows = read_tsv(out)
    assert comment.endswith(f" threshold={decision.threshold:g} lengths=70-90")
    reference = padded_softmax(tiny_bundle.keras_model(), [seq for _, seq in records])
    for row, (rid, seq), probs in zip(rows, records, reference):
        assert row["id"] == rid
        if len(seq) < 70 or len(seq) > 90:
            assert row["status"] == (TOO_SHORT if len(seq) < 70 else TOO_LONG)
            assert (row["family_accession"], row["score"], row["second_family"]) == (".", ".", "."), row
        else:
            assert float(row["score"]) == pytest.approx(probs.max(), abs=1e-5)
            if abs(probs.max() - decision.threshold) > 1e-5:  # the threshold is one of these scores (Keras gap 1e-6)
                assert row["status"] == (ACCEPTED if probs.max() >= decision.threshold else REJECTED)


# --- the seed check -------------------------------------------------------------------------------------------------

def test_seed_is_nt_2_to_8_in_the_rna_alphabet():
    # hsa-let-7a-5p UGAGGUAGUAGGUUGUAUAGUU: seed GAGGUAG (Lewis et al. 2005), here given as DNA, lower case
    assert seed_of("tgaggtagtaggttgtatagtt") == "GAGGUAG"
    seeds = seeds_from([("MIPF0000002", "UGAGGUAGUAGGUUGUAUAGUU"), ("MIPF0000002", "AGAGGUAGUAGGUUGCAUAGUU"),
                        ("MIPF0000002", "NGAGGNAGUAG"), ("MIPF0000001", "CAAAGUG")])
    # an N inside nt 2-8 gives no seed, nor does a 7-nt sequence (it has only nt 2-7)
    assert seeds == {"MIPF0000002": frozenset({"GAGGUAG"})}


def test_seed_status_and_record_round_trip():
    decision = Decision(0.5, min_length=16, max_length=40, seeds={"F1": frozenset({"GAGGUAG"}), "F2": frozenset()})
    assert decision.status(0.7, decision.seed_matches("UGAGGUAGUAGG", "F1")) == ACCEPTED
    assert decision.status(0.7, decision.seed_matches("UUGAGGUAGUAG", "F1")) == SEED_MISMATCH  # shifted by one
    assert decision.status(0.4, decision.seed_matches("UUGAGGUAGUAG", "F1")) == REJECTED  # the score speaks first
    assert not decision.seed_matches("UGAGGUAGUAGG", "F2") and not decision.seed_matches("UGAGGUAGUAGG", "F3")
    record = decision.fields()
    assert record["seeds"] == {"positions": "2-8", "by_family": {"F1": ["GAGGUAG"], "F2": []}}
    assert Decision.from_record(dict(record, method="target FPR 0.005")) == decision
    off = decision.overridden(seed_check=False)
    assert off.seeds is None and off.seed_matches("AAAAAAAAA", "F1") and "seeds" not in off.fields()
    scores = gated(np.array([0.9, 0.8]), np.array([True, False]))
    assert scores[0] == 0.9 and scores[1] == -np.inf


@pytest.mark.parametrize("seeds, message", [
    ({"positions": "1-7", "by_family": {}}, "positions '2-8'"),
    ({"positions": "2-8"}, "by_family mapping"),
    ({"positions": "2-8", "by_family": {"F": ["GAGGUA"]}}, "7-mers of ACGU"),
    ({"positions": "2-8", "by_family": {"F": ["GAGGTAG"]}}, "7-mers of ACGU"),
    ({"positions": "2-8", "by_family": {"F": "GAGGUAG"}}, "7-mers of ACGU"),
])
def test_malformed_seed_records_are_refused(seeds, message):
    with pytest.raises(ModelBundleError, match="malformed threshold record") as error:
        Decision.from_record({"value": 0.5, "seeds": seeds}, "model.npz")
    assert message in str(error.value)


def test_calibrated_seed_check_drives_classify(run_main, tmp_path, tiny_bundle):
    """deepmir-calibrate --seeds stores the seeds of the given records' families; deepmir-classify accepts a sequence
    only when its score passes and its nt 2-8 are a seed of its top family (checked here with the test's own seed
    table and the model's softmax from Keras), reports the others as seed_mismatch, and --no-seed-check lifts it."""
    tiny_test = read_fasta(TEST_DATA / "tiny" / "test.fa")
    families = {line[1:].split()[0]: line.split("family=")[1].split()[0]
                for line in (TEST_DATA / "tiny" / "test.fa").read_text().splitlines() if line.startswith(">")}
    # seeds from every second record only, so that some sequences of known families miss
    seeds_fa = tmp_path / "seeds.fa"
    seeds_fa.write_text("".join(f">{rid} family={families[rid]}\n{seq}\n" for rid, seq in tiny_test[::2]))
    known: dict[str, set[str]] = {}
    for rid, seq in tiny_test[::2]:
        known.setdefault(families[rid], set()).add(seq[1:8].upper().replace("T", "U"))
    calibrated = tmp_path / "seeded.npz"
    result = run_main("deepmir-calibrate", "-m", str(TEST_DATA / "tiny-model.npz"), "--in-dist",
                      str(TEST_DATA / "tiny" / "test.fa"), "--ood", f"tRNA={TEST_DATA / 'trna-hsa-Ala-AGC-1-1.fa'}",
                      "--ood", f"unseen={TEST_DATA / 'hairpins-hsa30.fa'}", "--seeds", str(seeds_fa),
                      "--method", "fixed", "--threshold", "0.0", "-o", str(calibrated), "-q")
    assert result.code == 0, result.err
    from deepmir_tools.bundle import load_bundle

    bundle = load_bundle(str(calibrated))
    assert {f: set(s) for f, s in bundle.decision.seeds.items()} == known
    classes = [accession for accession, _ in bundle.classes]
    probabilities = padded_softmax(tiny_bundle.keras_model(), [seq for _, seq in tiny_test])
    top = [classes[int(p.argmax())] for p in probabilities]
    passes = [seq[1:8].upper().replace("T", "U") in known.get(family, set()) for (_, seq), family in zip(tiny_test, top)]
    assert 0 < sum(passes) < len(passes)  # both outcomes occur
    # at threshold 0 the seed check alone rejects: the calibration's TPR is the share that passes it
    assert bundle.meta["threshold"]["tpr"] == pytest.approx(sum(passes) / len(passes), abs=1e-6)

    out, free = tmp_path / "calls.tsv", tmp_path / "free.tsv"
    assert run_main("deepmir-classify", "-m", str(calibrated), str(TEST_DATA / "tiny" / "test.fa"), "-o", str(out),
                    "-q").code == 0
    comment, _, rows = read_tsv(out)
    assert comment.endswith(" seeds=2-8")
    assert [row["status"] for row in rows] == [ACCEPTED if ok else SEED_MISMATCH for ok in passes]
    assert [row["family_accession"] for row in rows] == top
    assert run_main("deepmir-classify", "-m", str(calibrated), str(TEST_DATA / "tiny" / "test.fa"), "-o", str(free),
                    "--no-seed-check", "-q").code == 0
    comment, _, rows = read_tsv(free)
    assert "seeds=" not in comment and {row["status"] for row in rows} == {ACCEPTED}

    # an encoded NPZ keeps no sequences: a one-line error, nothing written
    npz, bad = tmp_path / "test.npz", tmp_path / "bad.tsv"
    assert run_main("deepmir-encode", str(TEST_DATA / "tiny" / "test.fa"), "-o", str(npz), "-q").code == 0
    result = run_main("deepmir-classify", "-m", str(calibrated), str(npz), "-o", str(bad), "-q")
    assert result.code == 2 and "checks read seeds" in result.err and not bad.exists()


def test_seeds_must_cover_every_family_of_the_model(run_main, tmp_path):
    """A family with no seed could never be accepted: calibrate refuses, naming the file, and writes nothing."""
    one = tmp_path / "one-family.fa"
    one.write_text(">hsa-let-7a-5p family=MIPF0000002 name=let-7\nUGAGGUAGUAGGUUGUAUAGUU\n")
    out = tmp_path / "seeded.npz"
    result = run_main("deepmir-calibrate", "-m", str(TEST_DATA / "tiny-model.npz"), "--in-dist",
                      str(TEST_DATA / "tiny" / "test.fa"), "--ood", f"tRNA={TEST_DATA / 'trna-hsa-Ala-AGC-1-1.fa'}",
                      "--seeds", str(one), "-o", str(out), "-q")
    assert result.code == 2 and str(one) in result.err and "no seed for" in result.err and not out.exists()
    assert len(result.err.strip().splitlines()) == 1
