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

from deepmir_tools.decision import ACCEPTED, REJECTED, TOO_LONG, TOO_SHORT, Decision
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


@pytest.mark.parametrize("record, message", [
    ({"value": True}, "a number under 'value'"),
    ([0.5], "expected a mapping"),
    ({"value": 0.5, "min_length": 0}, "min_length/max_length"),
    ({"value": 0.5, "max_length": 2.5}, "min_length/max_length"),
    ({"value": 0.5, "min_length": 30, "max_length": 20}, "min_length 30 > max_length 20"),
    ({"value": 0.5, "score": "entropy"}, "unknown score 'entropy'"),
    ({"value": 0.5, "temperature": 0}, "temperature must be > 0"),
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
