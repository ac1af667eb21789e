"""A structure-matrix model end to end through the console scripts: encode, train, calibrate, classify.

The paper's matrix CNN (Tang & Sun 2019, Fig. 3) on its base-pair ("pair") encoding: each sequence an L x L matrix
of ordered pair-type codes (AU, UA, CG, GC, GU, UG = 1..6, value code/6) wherever ViennaRNA's pair probability is
at least T = 1e-4. Small real data, as the one-hot tests use it (sources in test-data/README.md):

- training: ``test-data/tiny/train.fa`` (200 miRBase hairpins of 5 families), encoded by ``deepmir-encode -e pair``,
  trained by ``deepmir-train`` from that NPZ (a small matrix CNN, 12 epochs, seed 7: seconds on 2 cores);
- held out (``--test``, and the in-distribution set of ``deepmir-calibrate``): ``test-data/tiny/test.fa`` (40);
- out of distribution: the 18 hairpins of ``hairpins-hsa30-labelled.fa`` whose miRBase family is none of the 5
  (built here, labelled ``class=unseen_family``) and a human tRNA (``trna-hsa-Ala-AGC-1-1.fa``);
- ``deepmir-classify`` with the calibrated bundle on all of them in one file.

The expected values are not the tools' own: families come from the FASTA headers (miRBase miFam.dat), the threshold
is recomputed from the classification table's scores by the rule ``--target-fpr`` names, and the scores of a few
sequences are recomputed from pair matrices built here through ViennaRNA's legacy API (``RNA.pf_fold`` +
``RNA.get_pr``, not the encoder's route) fed straight to the bundle's Keras network.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import TEST_DATA, read_fasta, read_tsv, sha256_file, tool_path

pytestmark = pytest.mark.slow  # one small training, three TensorFlow processes

TRAIN_FA = TEST_DATA / "tiny" / "train.fa"
TEST_FA = TEST_DATA / "tiny" / "test.fa"
HSA30 = TEST_DATA / "hairpins-hsa30-labelled.fa"
TRNA = TEST_DATA / "trna-hsa-Ala-AGC-1-1.fa"
ECOLI = TEST_DATA / "scan" / "ecoli536-1000001-1003000.fa"
TARGET_FPR = 0.2  # at most 3 of the 19 out-of-distribution sequences may pass
ARCH = ["--conv-filters", "8,16", "--dense-units", "64", "--dropout", "0.5", "--learning-rate", "0.003",
        "--epochs", "12", "--val-fraction", "0", "--seed", "7"]
ORDERED = {"AU": 1, "UA": 2, "CG": 3, "GC": 4, "GU": 5, "UG": 6}  # the paper's ordered pair codes (value code/6)
PAIR_T = 1e-4


def labels(path: Path) -> dict[str, str]:
    """record ID -> family accession, from the 'family=' field of the FASTA headers."""
    out = {}
    for line in path.read_text().splitlines():
        if line.startswith(">"):
            fields = line[1:].split()
            out[fields[0]] = dict(f.split("=", 1) for f in fields[1:] if "=" in f).get("family", "")
    return out


def meta_of(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as archive:
        return json.loads(str(archive["meta"]))


def weights_of(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files if key.startswith("w:")}


def run(tool: str, *args, cwd: Path) -> subprocess.CompletedProcess:
    """An installed console script as a user runs it (text output)."""
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([tool_path(tool), *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env,
                          stdin=subprocess.DEVNULL, timeout=600)


def threshold_at_fpr(pos: np.ndarray, neg: np.ndarray, target: float) -> float:
    """The lowest observed score t (accept score >= t) at which at most ``target`` of the negatives pass."""
    for t in np.sort(np.concatenate([pos, neg])):
        if np.mean(neg >= t) <= target:
            return float(t)
    return float("inf")


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("matrix")
    known = set(labels(TRAIN_FA).values())
    hsa30 = labels(HSA30)
    heads = [line for line in HSA30.read_text().splitlines() if line.startswith(">")]
    unseen = [(head, seq) for head, (rid, seq) in zip(heads, read_fasta(HSA30)) if hsa30[rid] not in known]
    assert len(unseen) == 18
    (tmp / "unseen.fa").write_text("".join(f">{head[1:].split()[0]} class=unseen_family {' '.join(head.split()[1:])}\n"
                                           f"{seq}\n" for head, seq in unseen))
    # every record of the four files once, unchanged
    (tmp / "all.fa").write_text("".join(p.read_text() for p in (TRAIN_FA, TEST_FA, tmp / "unseen.fa", TRNA)))

    steps = {}

    def step(name: str, tool: str, *args) -> None:
        steps[name] = run(tool, *args, cwd=tmp)
        assert steps[name].returncode == 0, f"{name}: {steps[name].stderr}"

    step("encode", "deepmir-encode", "-e", "pair", TRAIN_FA, "-o", "train-pair.npz", "-q")
    step("onehot", "deepmir-encode", TEST_FA, "-o", "test-onehot.npz", "-q")
    step("train", "deepmir-train", "train-pair.npz", "-o", "matrix.npz", "--name", "matrix", *ARCH, "--test", TEST_FA,
         "-q")
    step("calibrate", "deepmir-calibrate", "-m", "matrix.npz", "--in-dist", TEST_FA, "--ood", "unseen.fa", "--ood",
         f"tRNA={TRNA}", "--target-fpr", TARGET_FPR, "-o", "calibrated.npz")
    step("classify", "deepmir-classify", "-m", "calibrated.npz", "all.fa", "-o", "calls.tsv", "-q")
    comment, _, rows = read_tsv(tmp / "calls.tsv")
    groups = {"train": labels(TRAIN_FA), "test": labels(TEST_FA), "unseen": labels(tmp / "unseen.fa"),
              "tRNA": labels(TRNA)}
    return {"tmp": tmp, "steps": steps, "comment": comment, "rows": rows,
            "by_id": {row["id"]: row for row in rows}, "groups": groups}


def test_encode_and_train_make_a_pair_matrix_cnn(pipeline):
    tmp = pipeline["tmp"]
    with np.load(tmp / "train-pair.npz", allow_pickle=False) as archive:
        x, ids, encoded = archive["x"], archive["ids"], json.loads(str(archive["meta"]))
    assert encoded["encoding"] == "pair" and x.shape == (200, 200, 200) and x.dtype == np.uint8
    assert ids.tolist() == [rid for rid, _ in read_fasta(TRAIN_FA)]
    # ordered codes 0..6, and (j, i) holds the mirror pair type of (i, j): AU <-> UA, CG <-> GC, GU <-> UG
    assert set(np.unique(x).tolist()) == set(range(7))
    assert (np.array([0, 2, 1, 4, 3, 6, 5], dtype=np.uint8)[x] == x.transpose(0, 2, 1)).all()

    meta = meta_of(tmp / "matrix.npz")
    assert meta["architecture"] == "matrix-cnn"
    assert meta["encoding"] == {"encoding": "pair", "max_len": 200, "threshold_T": PAIR_T, "ordered": True}
    assert meta["hyperparameters"]["conv_filters"] == [8, 16] and meta["hyperparameters"]["dense_units"] == [64]
    assert [acc for acc, _ in meta["classes"]] == sorted(set(labels(TRAIN_FA).values()))
    assert meta["training"]["train"]["sha256"] == sha256_file(tmp / "train-pair.npz")
    assert meta["training"]["seed"] == 7 and meta["training"]["epochs_run"] == 12
    assert meta["threshold"]["value"] == 0.977  # the paper's default until calibrated
    # 2-D convolutions over a one-channel (pair value) matrix, not 1-D ones over 4 one-hot columns
    weights = weights_of(tmp / "matrix.npz")
    assert weights["w:conv1:0"].shape == (2, 2, 1, 8) and weights["w:conv2:0"].shape == (2, 2, 8, 16)


def test_classify_gives_every_record_once_in_input_order(pipeline):
    assert [row["id"] for row in pipeline["rows"]] == [rid for rid, _ in read_fasta(pipeline["tmp"] / "all.fa")]
    assert all(row["status"] in ("accepted", "rejected") for row in pipeline["rows"])


def test_training_hairpins_get_their_known_families(pipeline):
    """The families the table gives the 200 training hairpins are those of their FASTA headers (miFam.dat)."""
    truth = pipeline["groups"]["train"]
    right = sum(pipeline["by_id"][rid]["family_accession"] == family for rid, family in truth.items())
    assert right >= 0.9 * len(truth), f"{right}/{len(truth)}"


def test_held_out_accuracy_is_the_one_the_bundle_records(pipeline):
    """The table's families on the 40 held-out hairpins, counted against their headers: the accuracy deepmir-train
    recorded for --test (same network, same encoding), and well above chance (1 in 5)."""
    truth = pipeline["groups"]["test"]
    accuracy = np.mean([pipeline["by_id"][rid]["family_accession"] == family for rid, family in truth.items()])
    recorded = meta_of(pipeline["tmp"] / "matrix.npz")["metrics"]["test"]
    assert recorded["n"] == len(truth) == 40
    assert accuracy == pytest.approx(recorded["accuracy"], abs=1e-9)
    assert accuracy >= 0.5


def test_calibrated_threshold_is_in_the_bundle_and_classify_applies_it(pipeline):
    tmp, rows = pipeline["tmp"], pipeline["rows"]
    reported = re.search(r"softmax threshold (\S+):", pipeline["steps"]["calibrate"].stderr)
    assert reported, pipeline["steps"]["calibrate"].stderr
    record = meta_of(tmp / "calibrated.npz")["threshold"]
    t = record["value"]
    assert f"{t:.6g}" == reported.group(1)
    assert record["method"] == f"target FPR {TARGET_FPR:g}" and record["score"] == "softmax"
    assert record["in_distribution"] == {"file": "test.fa", "n": 40}
    assert record["out_of_distribution"] == {"unseen_family": 18, "tRNA": 1}
    # the same network: only the threshold and the calibration metrics are new
    calibrated, original = weights_of(tmp / "calibrated.npz"), weights_of(tmp / "matrix.npz")
    assert calibrated.keys() == original.keys() and all(np.array_equal(calibrated[k], original[k]) for k in original)

    # the threshold again, from the classification table's scores, by the rule of --target-fpr
    score = {row["id"]: float(row["score"]) for row in rows}
    pos = np.array([score[rid] for rid in pipeline["groups"]["test"]])
    neg = np.array([score[rid] for group in ("unseen", "tRNA") for rid in pipeline["groups"][group]])
    assert threshold_at_fpr(pos, neg, TARGET_FPR) == pytest.approx(t, abs=1e-6)
    assert record["tpr"] == pytest.approx(np.mean(pos >= round(t, 6)), abs=1e-6)
    assert record["fpr"] == pytest.approx(np.mean(neg >= round(t, 6)), abs=1e-6) and record["fpr"] <= TARGET_FPR

    # classify reads it from the bundle: the header says so and each status follows it (6-decimal scores: a margin)
    fields = dict(item.split("=", 1) for item in pipeline["comment"].split() if "=" in item)
    assert fields["threshold"] == reported.group(1) and fields["model"] == "matrix"
    assert fields["model_sha256"] == sha256_file(tmp / "calibrated.npz")
    for row in rows:
        if abs(float(row["score"]) - t) > 1e-6:
            assert row["status"] == ("accepted" if float(row["score"]) > t else "rejected"), row
    # rows between the paper's default and the calibrated threshold: their status is the calibrated rule's only
    low, high = sorted((t, 0.977))
    between = [row for row in rows if low + 1e-6 < float(row["score"]) < high - 1e-6]
    assert between and all(row["status"] == ("accepted" if t < 0.977 else "rejected") for row in between)


def test_a_matrix_model_takes_no_one_hot_path(pipeline, run_main):
    """A one-hot NPZ is refused by classify, deepmir-scan (one-hot CNNs only) refuses the model, and the table's
    scores are those of the network on pair matrices built here with ViennaRNA's legacy API.

    The refusals run in this process (``run_main``: the console scripts' ``main`` as the executables run it), so
    that they and the check share one TensorFlow import."""
    tmp = pipeline["tmp"]
    model = tmp / "calibrated.npz"
    refused = run_main("deepmir-classify", "-m", model, tmp / "test-onehot.npz", "-o", tmp / "onehot.tsv")
    assert refused.code == 2 and refused.err.count("deepmir-classify: error:") == 1, refused.err
    assert "encoded as onehot" in refused.err and "expects pair" in refused.err
    assert not (tmp / "onehot.tsv").exists()
    scan = run_main("deepmir-scan", "-m", model, ECOLI, "-o", tmp / "loci.gff3")
    assert scan.code == 2 and "needs a one-hot CNN" in scan.err, scan.err
    assert not (tmp / "loci.gff3").exists()

    RNA = pytest.importorskip("RNA")
    from deepmir_tools.bundle import load_bundle

    bundle = load_bundle(str(model))
    records = read_fasta(TEST_FA)[:3] + read_fasta(tmp / "unseen.fa")[:2]
    x = np.zeros((len(records), 200, 200, 1), dtype=np.float32)
    for k, (_, seq) in enumerate(records):
        RNA.pf_fold(seq)
        for i in range(1, len(seq) + 1):
            for j in range(i + 1, len(seq) + 1):
                if RNA.get_pr(i, j) >= PAIR_T:
                    x[k, i - 1, j - 1, 0] = ORDERED.get(seq[i - 1] + seq[j - 1], 0) / 6
                    x[k, j - 1, i - 1, 0] = ORDERED.get(seq[j - 1] + seq[i - 1], 0) / 6
    probabilities = np.asarray(bundle.keras_model()(x, training=False), dtype=np.float64)
    classes = [acc for acc, _ in bundle.classes]
    for (rid, _), p in zip(records, probabilities):
        row = pipeline["by_id"][rid]
        assert row["family_accession"] == classes[int(p.argmax())], rid
        assert float(row["score"]) == pytest.approx(p.max(), abs=1e-4), rid
