"""Calibration (deepmir_tools.calibration, deepmir-calibrate) of the tiny real-data model.

In-distribution: the 40 held-out hairpins of ``test-data/tiny/test.fa``. Out-of-distribution: the 18 human
hairpins of ``hairpins-hsa30-labelled.fa`` whose miRBase family the model was not trained on, a tRNA and a
riboswitch (cut to 200 nt). Every expected number is computed here from scores made the paper's way
(``conftest.padded_softmax``/``padded_logits``: one-hot, zero-padded to 200 nt, straight through Keras):
thresholds by sorting the scores, AUROC by comparing every in/out pair.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import TEST_DATA, padded_logits, padded_softmax, read_fasta, read_tsv

PROG = "deepmir-calibrate"
TEST_FA = TEST_DATA / "tiny" / "test.fa"
TRNA = TEST_DATA / "trna-hsa-Ala-AGC-1-1.fa"
RIBOSWITCH = TEST_DATA / "riboswitch-251nt.fa"
MODEL = TEST_DATA / "tiny-model.npz"


def families(path: Path) -> list[str]:
    return [line.split()[1].removeprefix("family=") for line in path.read_text().splitlines() if line.startswith(">")]


@pytest.fixture(scope="module")
def data(tmp_path_factory, tiny_bundle) -> dict:
    """The files, and the reference scores of every sequence."""
    tmp = tmp_path_factory.mktemp("calibrate")
    known = {acc for acc, _ in tiny_bundle.classes}
    unseen = []
    lines = (TEST_DATA / "hairpins-hsa30-labelled.fa").read_text().splitlines()
    records = read_fasta(TEST_DATA / "hairpins-hsa30-labelled.fa")
    heads = [line for line in lines if line.startswith(">")]
    for head, (rid, seq) in zip(heads, records):
        family = head.split()[1].removeprefix("family=")
        if family not in known:
            unseen.append((f">{rid} class=unseen_family {' '.join(head.split()[1:])}", seq))
    (tmp / "unseen.fa").write_text("".join(f"{h}\n{s}\n" for h, s in unseen))
    model = tiny_bundle.keras_model()
    groups = {
        "unseen_family": [s for _, s in unseen],
        "tRNA": [s for _, s in read_fasta(TRNA)],
        "riboswitch": [s[:200] for _, s in read_fasta(RIBOSWITCH)],
    }
    in_dist = [s for _, s in read_fasta(TEST_FA)]
    softmax = {name: padded_softmax(model, seqs) for name, seqs in groups.items()}
    logits = {name: padded_logits(model, seqs) for name, seqs in groups.items()}
    return {
        "tmp": tmp,
        "ood_args": ["--ood", tmp / "unseen.fa", "--ood", f"tRNA={TRNA}", "--ood", f"riboswitch={RIBOSWITCH}"],
        "ood_counts": {name: len(seqs) for name, seqs in groups.items()},
        "in_softmax": padded_softmax(model, in_dist),
        "in_logits": padded_logits(model, in_dist),
        "ood_softmax": softmax,
        "ood_logits": logits,
        "classes": [acc for acc, _ in tiny_bundle.classes],
    }


def energy(logits: np.ndarray) -> np.ndarray:
    top = logits.max(axis=1)
    return top + np.log(np.exp(logits - top[:, None]).sum(axis=1))


def scores(data: dict, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(in-distribution, pooled out-of-distribution) scores of ``kind``."""
    if kind == "softmax":
        return data["in_softmax"].max(axis=1), np.concatenate([p.max(axis=1) for p in data["ood_softmax"].values()])
    return energy(data["in_logits"]), np.concatenate([energy(l) for l in data["ood_logits"].values()])


def threshold_at_fpr(pos: np.ndarray, neg: np.ndarray, target: float) -> float:
    """The lowest observed score t (accept score >= t) at which at most ``target`` of the negatives pass."""
    for t in np.sort(np.concatenate([pos, neg])):
        if np.mean(neg >= t) <= target:
            return float(t)
    return float("inf")


def threshold_max_f(pos: np.ndarray, neg: np.ndarray) -> float:
    """The observed score with the best F-score of accepting in-distribution sequences (highest on ties)."""
    best, best_f = float("inf"), 0.0
    for t in np.sort(np.unique(np.concatenate([pos, neg])))[::-1]:
        tp, fp = np.sum(pos >= t), np.sum(neg >= t)
        precision, recall = tp / (tp + fp), tp / len(pos)
        f = 2 * precision * recall / (precision + recall) if tp else 0.0
        if f > best_f + 1e-12:
            best, best_f = float(t), f
    return best


def pairwise_auroc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(in-distribution score > out-of-distribution score), ties counting one half."""
    diff = pos[:, None] - neg[None, :]
    return float(np.mean((diff > 0) + 0.5 * (diff == 0)))


def bundle_meta(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as archive:
        return json.loads(str(archive["meta"]))


def bundle_weights(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files if key != "meta"}


def calibrate(run_main, data, out: Path, *options):
    before = (hashlib.sha256(MODEL.read_bytes()).hexdigest(), MODEL.stat().st_mtime_ns)
    result = run_main(PROG, "-m", MODEL, "--in-dist", TEST_FA, *data["ood_args"], "-o", out, *options)
    assert result.code == 0, result.err
    assert (hashlib.sha256(MODEL.read_bytes()).hexdigest(), MODEL.stat().st_mtime_ns) == before  # input untouched
    return bundle_meta(out), result


def test_target_fpr_threshold_and_provenance(run_main, data):
    out = data["tmp"] / "fpr.npz"
    meta, result = calibrate(run_main, data, out, "--target-fpr", "0.1")
    pos, neg = scores(data, "softmax")
    expected = threshold_at_fpr(pos, neg, 0.1)
    record = meta["threshold"]
    assert record["value"] == pytest.approx(expected, abs=1e-5)
    assert record["tpr"] == round(float(np.mean(pos >= expected)), 6)
    assert record["fpr"] == round(float(np.mean(neg >= expected)), 6) <= 0.1
    assert record["score"] == "softmax" and record["method"] == "target FPR 0.1"
    assert record["auroc"] == pytest.approx(pairwise_auroc(pos, neg), abs=1e-6)
    assert record["in_distribution"] == {"file": "test.fa", "n": 40}
    assert record["out_of_distribution"] == data["ood_counts"] == {"unseen_family": 18, "tRNA": 1, "riboswitch": 1}
    assert record["data_sha256"] == {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                                     for p in (TEST_FA, data["tmp"] / "unseen.fa", TRNA, RIBOSWITCH)}
    # the same network: weights and everything but the threshold and calibration metrics as in the input
    original, calibrated = bundle_meta(MODEL), dict(meta)
    assert calibrated.pop("threshold") != original.pop("threshold")
    assert calibrated.pop("metrics")["calibration"]["accuracy"] == 1.0
    original.pop("metrics")
    assert calibrated == original
    weights = bundle_weights(out)
    assert weights.keys() == bundle_weights(MODEL).keys()
    assert all(np.array_equal(weights[k], v) for k, v in bundle_weights(MODEL).items())
    assert f"softmax threshold {record['value']:.6g}" in result.err


def test_max_f_and_fixed_thresholds(run_main, data):
    pos, neg = scores(data, "softmax")
    meta, _ = calibrate(run_main, data, data["tmp"] / "maxf.npz", "--method", "max-f", "-q")
    assert meta["threshold"]["value"] == pytest.approx(threshold_max_f(pos, neg), abs=1e-5)
    assert meta["threshold"]["method"] == "max-f"
    meta, _ = calibrate(run_main, data, data["tmp"] / "fixed.npz", "--threshold", "0.9", "-q")
    record = meta["threshold"]
    assert record["value"] == 0.9 and record["method"] == "fixed"
    assert (record["tpr"], record["fpr"]) == (round(float(np.mean(pos >= 0.9)), 6), round(float(np.mean(neg >= 0.9)), 6))


def test_genomic_background_sets_the_scan_threshold(run_main, data):
    """--genomic-background: the classify threshold as calibrated, and a scan threshold just above the highest
    hairpin score of the candidate loci (windows from the window threshold, here the classify threshold 0.5, above
    the default 0.1) that a scan finds in 3,000 nt of the real E. coli 536 genome (every locus false;
    floor(0.1 x 0.003 Mb) = none allowed), with the files' checksums; the scan's own count there is then 0."""
    from deepmir_tools.bundle import load_bundle
    from deepmir_tools.scan import ScanOptions, Scanner
    from deepmir_tools.seqio import read_records

    ecoli = TEST_DATA / "scan" / "ecoli536-1000001-1003000.fa"
    out = data["tmp"] / "scan.npz"
    meta, result = calibrate(run_main, data, out, "--threshold", "0.5", "--genomic-background", ecoli)
    record = meta["threshold"]
    assert record["value"] == 0.5 and record["scan_window_threshold"] == 0.5 and record["scan_background"] == {
        "files": {ecoli.name: hashlib.sha256(ecoli.read_bytes()).hexdigest()}, "nucleotides": 3000,
        "false_loci_per_mb": 0.1, "false_loci": 0}
    bundle = load_bundle(str(out))
    every = Scanner(bundle, ScanOptions(threshold=0.5))  # windows and hairpins from 0.5
    scores = [locus.decision_score for _, loci in every.scan(read_records(str(ecoli))) for locus in loci]
    assert scores and record["scan_threshold"] == float(np.nextafter(max(scores), np.inf))
    assert bundle.decision.scan_threshold == record["scan_threshold"] and bundle.decision.threshold == 0.5
    assert Scanner(bundle).locus_threshold == record["scan_threshold"]  # what deepmir-scan applies by default
    assert [loci for _, loci in Scanner(bundle).scan(read_records(str(ecoli)))] == [[]]
    assert f"scan threshold {record['scan_threshold']:.6g} on 0.00 Mb" in result.err


def test_npz_in_distribution_gives_the_same_threshold(run_main, data):
    encoded = run_main("deepmir-encode", TEST_FA, "-o", data["tmp"] / "test.npz", "-q")
    assert encoded.code == 0
    from_fasta, _ = calibrate(run_main, data, data["tmp"] / "a.npz", "--target-fpr", "0.2", "-q")
    result = run_main(PROG, "-m", MODEL, "--in-dist", data["tmp"] / "test.npz", *data["ood_args"], "-o",
                      data["tmp"] / "b.npz", "--target-fpr", "0.2", "-q")
    assert result.code == 0, result.err
    from_npz = bundle_meta(data["tmp"] / "b.npz")["threshold"]
    assert from_npz["value"] == pytest.approx(from_fasta["threshold"]["value"], abs=1e-6)
    assert (from_npz["tpr"], from_npz["fpr"]) == (from_fasta["threshold"]["tpr"], from_fasta["threshold"]["fpr"])


def test_roc_metrics_and_report(run_main, data):
    tmp = data["tmp"]
    meta, _ = calibrate(run_main, data, tmp / "r.npz", "--roc", tmp / "roc.tsv", "--metrics", tmp / "metrics.tsv",
                        "--report", tmp / "report.html", "-q")
    pos, neg = scores(data, "softmax")
    lines = (tmp / "roc.tsv").read_text().splitlines()
    assert lines[0] == "threshold\ttpr\tfpr\tprecision"
    roc = [line.split("\t") for line in lines[1:]]
    thresholds = [float(row[0]) for row in roc]
    tpr, fpr = np.array([float(r[1]) for r in roc]), np.array([float(r[2]) for r in roc])
    assert thresholds[0] == float("inf") and all(a > b for a, b in zip(thresholds, thresholds[1:]))
    assert (np.diff(tpr) >= 0).all() and (np.diff(fpr) >= 0).all()
    assert (tpr[0], fpr[0], tpr[-1], fpr[-1]) == (0, 0, 1, 1)
    for t, row_tpr, row_fpr in zip(thresholds[1:], tpr[1:], fpr[1:]):  # each point as counted here
        assert row_tpr == pytest.approx(np.mean(pos >= t - 1e-6), abs=1e-6)
        assert row_fpr == pytest.approx(np.mean(neg >= t - 1e-6), abs=1e-6)
    auroc = pairwise_auroc(pos, neg)
    assert 0 <= auroc <= 1
    assert float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2)) == pytest.approx(auroc, abs=2e-5)

    _, columns, rows = read_tsv("#\n" + (tmp / "metrics.tsv").read_text())
    assert columns == ["scope", "name", "metric", "value"]
    value = {(r["scope"], r["name"], r["metric"]): r["value"] for r in rows}
    assert float(value["overall", "pooled-ood/softmax", "auroc"]) == pytest.approx(auroc, abs=1e-6)
    e_pos, e_neg = scores(data, "energy")
    assert float(value["overall", "pooled-ood/energy", "auroc"]) == pytest.approx(pairwise_auroc(e_pos, e_neg), abs=1e-6)
    predicted = [data["classes"][i] for i in data["in_softmax"].argmax(axis=1)]
    accuracy = np.mean([p == t for p, t in zip(predicted, families(TEST_FA))])
    assert float(value["overall", "in-distribution", "accuracy"]) == pytest.approx(accuracy) == 1.0
    threshold = meta["threshold"]["value"]
    for name, probs in data["ood_softmax"].items():
        assert value["ood", name, "n"] == str(len(probs))
        # the threshold is one of the tool's own scores, which agree with Keras' to 1e-6 only: a score within 1e-6
        # of it may fall on either side
        rate = float(value["ood", name, "rejection_rate"])
        top = probs.max(axis=1)
        assert np.mean(top < threshold - 1e-6) - 1e-9 <= rate <= np.mean(top < threshold + 1e-6) + 1e-9
        assert float(value["ood", name, "auroc_softmax"]) == pytest.approx(pairwise_auroc(pos, probs.max(axis=1)), abs=1e-6)
    for accession in set(families(TEST_FA)):
        support = [r for r in rows if r["scope"] == "family" and r["name"].startswith(accession + ":")
                   and r["metric"] == "support"]
        assert support[0]["value"] == str(families(TEST_FA).count(accession))

    page = (tmp / "report.html").read_text()
    images = re.findall(r'<img alt="[^"]*" src="data:image/png;base64,([A-Za-z0-9+/=]+)">', page)
    assert len(images) == 2
    assert all(base64.b64decode(image)[:8] == b"\x89PNG\r\n\x1a\n" for image in images)
    assert f"{threshold:.6g}" in page and page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    assert png[:8] == PNG_SIGNATURE and png[12:16] == b"IHDR"
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def test_report_plots_as_png_files_linked_by_relative_path(run_main, data):
    """--png-dir: the same two plots as the embedded ones, as files, and the page links them instead of data: URLs."""
    tmp = data["tmp"] / "png-report"
    tmp.mkdir()
    _, embedded_run = calibrate(run_main, data, tmp / "a.npz", "--report", tmp / "embedded.html", "-q")
    assert embedded_run.code == 0
    embedded = [base64.b64decode(image) for image in re.findall(
        r'<img alt="[^"]*" src="data:image/png;base64,([A-Za-z0-9+/=]+)">', (tmp / "embedded.html").read_text())]
    # the page in pages/, the plots in a new folder beside it (the page must climb out of its own folder)
    (tmp / "pages").mkdir()
    meta, _ = calibrate(run_main, data, tmp / "b.npz", "--report", tmp / "pages" / "report.html",
                        "--png-dir", tmp / "plots dir", "-q")
    page = (tmp / "pages" / "report.html").read_text()
    assert "data:" not in page
    sources = re.findall(r'<img alt="([^"]*)" src="([^"]*)">', page)
    assert sources == [("score histograms", "../plots%20dir/score-histograms.png"),
                       ("ROC curve", "../plots%20dir/roc-curve.png")]
    files = [(tmp / "plots dir" / name).read_bytes() for name in ("score-histograms.png", "roc-curve.png")]
    assert files == embedded  # the very plots of the embedded page, byte for byte
    widths = [png_size(png) for png in files]
    assert all(w > 300 and h > 300 for w, h in widths) and widths[0][0] > widths[1][0]  # 8x4.5 in vs 5x5 in
    assert f"{meta['threshold']['value']:.6g}" in page
    assert sorted(p.name for p in (tmp / "plots dir").iterdir()) == ["roc-curve.png", "score-histograms.png"]


def test_png_dir_beside_the_page_and_alone(run_main, data):
    tmp = data["tmp"] / "png-same"
    tmp.mkdir()
    calibrate(run_main, data, tmp / "m.npz", "--report", tmp / "report.html", "--png-dir", tmp, "-q")
    page = (tmp / "report.html").read_text()
    assert re.findall(r'src="([^"]*)"', page) == ["score-histograms.png", "roc-curve.png"]  # file names only
    # plots without a page: the PNGs only
    calibrate(run_main, data, tmp / "n.npz", "--png-dir", tmp / "only", "-q")
    assert sorted(p.name for p in (tmp / "only").iterdir()) == ["roc-curve.png", "score-histograms.png"]
    assert (tmp / "only" / "roc-curve.png").read_bytes() == (tmp / "roc-curve.png").read_bytes()


def test_png_dir_that_is_a_file_fails_before_any_output(run_main, data, tmp_path):
    blocker = tmp_path / "plots"
    blocker.write_text("not a folder\n")
    result = run_main(PROG, "-m", MODEL, "--in-dist", TEST_FA, *data["ood_args"], "-o", tmp_path / "o.npz",
                      "--report", tmp_path / "r.html", "--png-dir", blocker)
    assert result.code == 2
    assert result.err == f"{PROG}: error: {blocker}: --png-dir is not a directory\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plots"]


def test_energy_bundle_drives_classify(run_main, data):
    tmp = data["tmp"]
    meta, _ = calibrate(run_main, data, tmp / "energy.npz", "--score", "energy", "--target-fpr", "0.1", "-q")
    pos, neg = scores(data, "energy")
    threshold = meta["threshold"]["value"]
    assert meta["threshold"]["score"] == "energy"
    assert threshold == pytest.approx(threshold_at_fpr(pos, neg, 0.1), rel=1e-5)
    # classify the in- and out-of-distribution sequences with the energy bundle: the decision is on energy
    records = read_fasta(TEST_FA) + read_fasta(tmp / "unseen.fa") + read_fasta(TRNA)
    (tmp / "all.fa").write_text("".join(f">{rid}\n{seq}\n" for rid, seq in records))
    result = run_main("deepmir-classify", "-m", tmp / "energy.npz", tmp / "all.fa", "-o", tmp / "energy.tsv", "-q")
    assert result.code == 0, result.err
    comment, _, rows = read_tsv(tmp / "energy.tsv")
    assert comment.endswith(f" threshold={threshold:g}")
    model_logits = np.concatenate([data["in_logits"], data["ood_logits"]["unseen_family"], data["ood_logits"]["tRNA"]])
    energies = energy(model_logits)
    # the threshold is one in-distribution sequence's own score: that call is at the edge, within rounding
    clear = np.abs(energies - threshold) > 1e-4
    assert clear.sum() >= len(rows) - 1
    statuses = np.array([row["status"] for row in rows])
    assert statuses[clear].tolist() == ["accepted" if e >= threshold else "rejected" for e in energies[clear]]
    # the score column still reports the maximum softmax
    probs = np.exp(model_logits - model_logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    assert [float(row["score"]) for row in rows] == pytest.approx(probs.max(axis=1), abs=1e-5)
    assert {row["status"] for row in rows} == {"accepted", "rejected"}


def tempered_max_softmax(logits: np.ndarray, temperature: float) -> np.ndarray:
    scaled = logits / temperature
    probs = np.exp(scaled - scaled.max(axis=1, keepdims=True))
    return (probs / probs.sum(axis=1, keepdims=True)).max(axis=1)


def test_temperature_scaled_bundle_drives_classify(run_main, data):
    tmp = data["tmp"]
    meta, _ = calibrate(run_main, data, tmp / "t3.npz", "--temperature", "3", "--target-fpr", "0.1", "--metrics",
                        tmp / "t3-metrics.tsv", "-q")
    pos = tempered_max_softmax(data["in_logits"], 3)
    neg = np.concatenate([tempered_max_softmax(l, 3) for l in data["ood_logits"].values()])
    record = meta["threshold"]
    assert record["temperature"] == 3 and record["score"] == "softmax"
    assert record["value"] == pytest.approx(threshold_at_fpr(pos, neg, 0.1), abs=1e-5)
    assert record["auroc"] == pytest.approx(pairwise_auroc(pos, neg), abs=1e-6)
    assert pos.max() < data["in_softmax"].max(axis=1).max()  # T > 1 flattens the softmax
    _, _, rows = read_tsv("#\n" + (tmp / "t3-metrics.tsv").read_text())
    assert {(r["name"], r["metric"]): r["value"] for r in rows}["threshold", "temperature"] == "3"
    # classify with the tempered bundle: scores are max softmax(logits / 3), decisions against its threshold
    records = read_fasta(TEST_FA) + read_fasta(tmp / "unseen.fa")
    (tmp / "t3.fa").write_text("".join(f">{rid}\n{seq}\n" for rid, seq in records))
    result = run_main("deepmir-classify", "-m", tmp / "t3.npz", tmp / "t3.fa", "-o", tmp / "t3.tsv", "-q")
    assert result.code == 0, result.err
    _, _, rows = read_tsv(tmp / "t3.tsv")
    expected = tempered_max_softmax(np.concatenate([data["in_logits"], data["ood_logits"]["unseen_family"]]), 3)
    assert [float(row["score"]) for row in rows] == pytest.approx(expected, abs=1e-5)
    clear = np.abs(expected - record["value"]) > 1e-4
    statuses = np.array([row["status"] for row in rows])
    assert statuses[clear].tolist() == ["accepted" if e >= record["value"] else "rejected" for e in expected[clear]]
    # re-calibrating without --temperature keeps the bundle's temperature
    again, _ = calibrate_from(run_main, data, tmp / "t3.npz", tmp / "t3-again.npz")
    assert again["threshold"]["temperature"] == 3


def test_classify_temperature_option_overrides_the_bundle(run_main, data):
    """--temperature 0.5 on the T = 1 test model: scores are max softmax(logits / 0.5); the header says so."""
    tmp = data["tmp"]
    out = tmp / "t05.tsv"
    result = run_main("deepmir-classify", "-m", MODEL, TEST_FA, "-o", out, "--temperature", "0.5", "-q")
    assert result.code == 0, result.err
    comment, _, rows = read_tsv(out)
    assert comment.endswith(" temperature=0.5")
    assert [float(row["score"]) for row in rows] == pytest.approx(tempered_max_softmax(data["in_logits"], 0.5), abs=1e-5)
    plain = tmp / "t1.tsv"
    assert run_main("deepmir-classify", "-m", MODEL, TEST_FA, "-o", plain, "-q").code == 0
    assert "temperature=" not in read_tsv(plain)[0]  # no override, no field: the bundle's own T applies


def calibrate_from(run_main, data, model: Path, out: Path):
    result = run_main(PROG, "-m", model, "--in-dist", TEST_FA, *data["ood_args"], "-o", out, "-q")
    assert result.code == 0, result.err
    return bundle_meta(out), result


@pytest.mark.parametrize("value", ["0", "-1", "inf", "nan"])
def test_bad_temperature_is_a_usage_error(run_main, data, tmp_path, value):
    result = run_main(PROG, "-m", MODEL, "--in-dist", TEST_FA, *data["ood_args"], "-o", tmp_path / "x.npz",
                      "--temperature", value)
    assert result.code == 2 and "--temperature" in result.err and not (tmp_path / "x.npz").exists()


@pytest.mark.parametrize("spelling", ["same", "dotted", "symlink"])
def test_refuses_to_overwrite_the_input_model(run_main, data, tmp_path, spelling):
    model = tmp_path / "model.npz"
    shutil.copy(MODEL, model)
    before = (model.read_bytes(), model.stat().st_mtime_ns)
    out = {"same": model, "dotted": tmp_path / "." / "model.npz", "symlink": tmp_path / "link.npz"}[spelling]
    if spelling == "symlink":
        os.symlink(model, out)
    result = run_main(PROG, "-m", model, "--in-dist", TEST_FA, *data["ood_args"], "-o", out)
    assert result.code == 2
    assert result.err == f"{PROG}: error: {out}: refusing to overwrite the input model; choose another output name\n"
    assert (model.read_bytes(), model.stat().st_mtime_ns) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["model.npz"] + (["link.npz"] if spelling == "symlink" else []))


def test_labels_of_unknown_families_only_is_an_error(run_main, data, tmp_path):
    result = run_main(PROG, "-m", MODEL, "--in-dist", data["tmp"] / "unseen.fa", *data["ood_args"], "-o", tmp_path / "o.npz")
    assert result.code == 2 and "no sequence belongs to a family of model 'tiny'" in result.err
    result = run_main(PROG, "-m", MODEL, "--in-dist", TRNA, *data["ood_args"], "-o", tmp_path / "o.npz")
    assert result.code == 2 and "record 'tRNA|hg38|Homo_sapiens_tRNA-Ala-AGC-1-1' has no family= label" in result.err
    assert list(tmp_path.iterdir()) == []
