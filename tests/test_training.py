"""Training (deepmir_tools.training, deepmir-train) on real hairpins: determinism, bundles, provenance.

Four short trainings on ``test-data/tiny/train.fa`` (200 miRBase hairpins of 5 families), each a small
one-hot CNN (8 filters for kernels 2, 4, 8, 16; dense 16; 2 epochs), shared by the tests of this module:

- ``library``: :func:`deepmir_tools.training.train_model` in this process, seed 7 (the in-memory Keras model);
- ``variant``: ``deepmir-train`` (in this process), seed 7, on the same file with Windows line ends, a UTF-8
  byte-order mark, lower-case letters and T for U, storing float16 weights, with ``--test``/``--log``/``--curve``;
- ``seed8``: ``deepmir-train``, seed 8;
- ``npz``: ``deepmir-train``, seed 7, on the NPZ that ``deepmir-encode`` makes of ``train.fa``.

Identical weights are expected for the same seed and the same TensorFlow thread count; with another
``--threads`` the float32 sums are added in another order and weights differ in the last bits (~1e-8), so
the comparison across processes (byte-identical bundles from two ``deepmir-train`` processes with the same
options) is in tests/test_concurrency.py.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import TEST_DATA, padded_softmax, read_fasta

from deepmir_tools.bundle import load_bundle, save_model
from deepmir_tools.encoded_input import EncodeOptions, encode_records
from deepmir_tools.seqio import read_records

pytestmark = pytest.mark.slow  # four short trainings (seconds each) shared by the module

TRAIN_FA = TEST_DATA / "tiny" / "train.fa"
TEST_FA = TEST_DATA / "tiny" / "test.fa"
KERNELS = [2, 4, 8, 16]
ARCH = ["--filters", "8", "--dense", "16", "--kernel-sizes", ",".join(map(str, KERNELS)), "--epochs", "2",
        "--val-fraction", "0"]


def weights(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files if key.startswith("w:")}


def meta_of(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as archive:
        return json.loads(str(archive["meta"]))


def header_families(path: Path) -> list[str]:
    return [line.split()[1].removeprefix("family=") for line in path.read_text().splitlines() if line.startswith(">")]


def variant_of_train_fa() -> bytes:
    """train.fa as another tool might write it: BOM, CRLF, lower case, DNA letters (same sequences)."""
    lines = []
    for line in TRAIN_FA.read_text().splitlines():
        lines.append(line if line.startswith(">") else line.lower().replace("u", "t"))
    return b"\xef\xbb\xbf" + "\r\n".join(lines).encode() + b"\r\n"


@pytest.fixture(scope="module")
def runs(tmp_path_factory, run_main_module) -> dict:
    """Run the four trainings once for the module."""
    from deepmir_tools.training import TrainOptions, train_model

    tmp = tmp_path_factory.mktemp("training")
    data, _ = encode_records(read_records(str(TRAIN_FA)), str(TRAIN_FA), EncodeOptions(labels="require"))
    options = TrainOptions(epochs=2, seed=7, progress=False,
                           hyperparameters={"kernel_sizes": KERNELS, "filters": 8, "dense": 16, "dropout": 0.7})
    library = train_model(data, None, options)

    variant_fa = tmp / "train-variant.fa"
    variant_fa.write_bytes(variant_of_train_fa())
    variant = run_main_module("deepmir-train", variant_fa, "-o", tmp / "variant.npz", *ARCH, "--seed", "7",
                              "--float16-weights", "--test", TEST_FA, "--log", tmp / "log.tsv", "--curve", tmp / "curve.png",
                              "--name", "variant", "-q")
    assert variant.code == 0, variant.err
    seed8 = run_main_module("deepmir-train", TRAIN_FA, "-o", tmp / "seed8.npz", *ARCH, "--seed", "8", "-q")
    assert seed8.code == 0, seed8.err
    from deepmir_tools.cli.common import run
    from deepmir_tools.cli.encode import PROG, main

    assert run(PROG, main, [str(TRAIN_FA), "-o", str(tmp / "train.npz"), "-q"]) == 0
    npz = run_main_module("deepmir-train", tmp / "train.npz", "-o", tmp / "npz.npz", *ARCH, "--seed", "7", "-q")
    assert npz.code == 0, npz.err
    return {"tmp": tmp, "data": data, "library": library, "variant_fa": variant_fa}


@pytest.fixture(scope="module")
def run_main_module():
    """``run_main`` for module-scoped fixtures (no capsys there: stderr is returned empty)."""
    import signal
    from types import SimpleNamespace

    from deepmir_tools.cli import train

    def call(tool, *args):
        assert tool == "deepmir-train"
        saved = signal.getsignal(signal.SIGTERM)
        try:
            code = train.run(train.PROG, train.main, [str(a) for a in args])
        finally:
            signal.signal(signal.SIGTERM, saved)
        return SimpleNamespace(code=code, err="")

    return call


def test_library_training_ran_two_epochs(runs):
    history = runs["library"].history
    assert [row["epoch"] for row in history] == [1, 2]
    assert all(math.isfinite(row["loss"]) for row in history)
    assert runs["library"].best_epoch == 2  # no validation: the last epoch


def test_same_seed_same_weights_whatever_the_text_format(runs):
    """BOM, CRLF, lower case and DNA letters give the same records, hence bit-identical training (float16-stored)."""
    library = {f"w:{layer.name}:{i}": w for layer in runs["library"].model.layers for i, w in enumerate(layer.get_weights())}
    stored = weights(runs["tmp"] / "variant.npz")
    assert stored.keys() == library.keys() and len(stored) == 2 * len(KERNELS) + 4
    for key, array in stored.items():
        assert array.dtype == np.float16
        np.testing.assert_array_equal(array, library[key].astype(np.float16), err_msg=key)


def test_other_seed_other_weights(runs):
    library = runs["library"].model.get_layer("dense").get_weights()[0]
    seed8 = weights(runs["tmp"] / "seed8.npz")["w:dense:0"]
    assert seed8.shape == library.shape == (8 * len(KERNELS), 16)
    assert not np.allclose(seed8, library)


def test_npz_input_gives_identical_weights(runs):
    """Training from deepmir-encode's NPZ of train.fa, seed 7: bit-identical weights, and so identical predictions."""
    tmp = runs["tmp"]
    model = runs["library"].model
    stored = weights(tmp / "npz.npz")
    for layer in model.layers:
        for i, array in enumerate(layer.get_weights()):
            np.testing.assert_array_equal(stored[f"w:{layer.name}:{i}"], array)
    seqs = [seq for _, seq in read_fasta(TEST_FA)]
    np.testing.assert_array_equal(padded_softmax(load_bundle(str(tmp / "npz.npz")).keras_model(), seqs),
                                  padded_softmax(model, seqs))
    assert meta_of(tmp / "npz.npz")["training"]["train"]["sha256"] == hashlib.sha256(
        (tmp / "train.npz").read_bytes()).hexdigest()


def test_bundle_round_trip_predicts_like_the_in_memory_model(runs, tmp_path):
    model = runs["library"].model
    meta = {"name": "lib", "architecture": "onehot-cnn", "hyperparameters": {"kernel_sizes": KERNELS, "filters": 8,
            "dense": 16, "dropout": 0.7}, "encoding": {"encoding": "onehot", "max_len": 200, "threshold_T": 1e-4,
            "ordered": True}, "classes": [["MIPF0000001", "mir-17"], ["MIPF0000002", "let-7"], ["MIPF0000008", "MIR156"],
            ["MIPF0000014", "mir-9"], ["MIPF0000033", "mir-10"]], "threshold": {"value": 0.5, "method": "test"}}
    save_model(str(tmp_path / "lib.npz"), model, meta)
    bundle = load_bundle(str(tmp_path / "lib.npz"))
    seqs = [seq for _, seq in read_fasta(TEST_FA)] + [seq for _, seq in read_fasta(TEST_DATA / "hairpins-hsa30.fa")]
    np.testing.assert_array_equal(padded_softmax(bundle.keras_model(), seqs), padded_softmax(model, seqs))
    # the length-bucketed scorer of deepmir-classify computes the same scores
    from deepmir_tools.decision import softmax
    from deepmir_tools.scoring import Scorer

    np.testing.assert_allclose(softmax(Scorer(bundle).scores(seqs)), padded_softmax(model, seqs), atol=1e-5)


def test_float16_bundle_predicts_with_rounded_weights(runs):
    bundle = load_bundle(str(runs["tmp"] / "variant.npz"))
    model = runs["library"].model
    seqs = [seq for _, seq in read_fasta(TEST_FA)]
    loaded = padded_softmax(bundle.keras_model(), seqs)
    np.testing.assert_allclose(loaded, padded_softmax(model, seqs), atol=2e-2)
    rounded = [[w.astype(np.float16).astype(np.float32) for w in layer.get_weights()] for layer in model.layers]
    original = [layer.get_weights() for layer in model.layers]
    try:
        for layer, arrays in zip(model.layers, rounded):
            layer.set_weights(arrays)
        np.testing.assert_array_equal(loaded, padded_softmax(model, seqs))
    finally:
        for layer, arrays in zip(model.layers, original):
            layer.set_weights(arrays)


def test_bundle_records_classes_provenance_and_test_metrics(runs):
    meta = meta_of(runs["tmp"] / "variant.npz")
    families = header_families(TRAIN_FA)
    assert [acc for acc, _ in meta["classes"]] == sorted(set(families))
    names = dict(meta["classes"])
    for line in TRAIN_FA.read_text().splitlines():
        if line.startswith(">"):
            fields = dict(token.split("=") for token in line.split()[1:])
            assert names[fields["family"]] == fields["name"]
    assert meta["name"] == "variant" and meta["weights_dtype"] == "float16"
    assert meta["threshold"]["value"] == 0.977
    assert meta["hyperparameters"] == {"kernel_sizes": KERNELS, "filters": 8, "dense": 16, "dropout": 0.7}
    training = meta["training"]
    assert training["train"] == {"file": "train-variant.fa", "sequences": 200, "families": 5,
                                 "sha256": hashlib.sha256(runs["variant_fa"].read_bytes()).hexdigest()}
    assert training["seed"] == 7 and training["epochs_run"] == 2 and training["validation"] is None
    assert training["test"]["sha256"] == hashlib.sha256(TEST_FA.read_bytes()).hexdigest()
    # test accuracy as recorded = accuracy of the (float32, in-memory) model's argmax against the headers
    classes = [acc for acc, _ in meta["classes"]]
    predicted = padded_softmax(runs["library"].model, [s for _, s in read_fasta(TEST_FA)]).argmax(axis=1)
    truth = header_families(TEST_FA)
    expected = np.mean([classes[p] == t for p, t in zip(predicted, truth)])
    assert meta["metrics"]["test"]["n"] == 40
    assert meta["metrics"]["test"]["accuracy"] == pytest.approx(expected)
    assert "validation" not in meta["metrics"]


def test_training_log_and_curve(runs):
    lines = (runs["tmp"] / "log.tsv").read_text().splitlines()
    assert lines[0].split("\t") == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds"]
    rows = [line.split("\t") for line in lines[1:]]
    assert [row[0] for row in rows] == ["1", "2"]
    assert all(math.isfinite(float(row[1])) and 0 <= float(row[2]) <= 1 for row in rows)
    assert [float(row[1]) for row in rows] == pytest.approx([r["loss"] for r in runs["library"].history], rel=1e-4)
    assert (runs["tmp"] / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_validation_holdout_is_stratified_and_seeded():
    from deepmir_tools.training import stratified_holdout

    labels = np.repeat(np.arange(5), 40)
    keep, held = stratified_holdout(labels, 0.1, seed=7)
    assert np.bincount(labels[held]).tolist() == [4] * 5
    assert sorted(np.concatenate([keep, held]).tolist()) == list(range(200))
    again, _ = stratified_holdout(labels, 0.1, seed=7)
    other, _ = stratified_holdout(labels, 0.1, seed=8)
    assert (again == keep).all() and not np.array_equal(other, keep)


def test_bfloat16_mixed_precision_is_scoped_to_the_model(runs):
    """bfloat16 layers with float32 variables; the global policy is float32 again afterwards."""
    import keras

    from deepmir_tools.training import TrainOptions, train_model

    options = TrainOptions(epochs=1, seed=7, progress=False, mixed_precision="bfloat16",
                           hyperparameters={"kernel_sizes": KERNELS, "filters": 8, "dense": 16, "dropout": 0.7})
    result = train_model(runs["data"], None, options)
    conv = result.model.get_layer("conv_k2")
    assert conv.compute_dtype == "bfloat16" and conv.kernel.dtype == "float32"
    assert result.model.get_layer("softmax").compute_dtype == "float32"  # the output layer is pinned to float32
    assert keras.mixed_precision.global_policy().name == "float32"
    assert math.isfinite(result.history[0]["loss"])
    # same seed, same data: one epoch in bfloat16 lands near, not on, the float32 run's first epoch
    float32_first = runs["library"].history[0]["loss"]
    assert result.history[0]["loss"] != float32_first and abs(result.history[0]["loss"] - float32_first) < 0.1


# ------------------------------------------------------------------ background (outlier exposure) training
BACKGROUND_FA = TEST_DATA / "background-rRNA_5S-40.fa"


def test_outlier_exposure_loss_matches_its_definition():
    """Family rows: -log p(family); background rows: weight x mean over families of -log p (checked by hand)."""
    from deepmir_tools.training import BACKGROUND, outlier_exposure_loss

    probs = np.array([[0.1, 0.2, 0.6, 0.1], [0.25, 0.25, 0.4, 0.1], [0.7, 0.1, 0.1, 0.1]], dtype=np.float32)
    labels = np.array([2, BACKGROUND, 0], dtype=np.int32)
    got = np.asarray(outlier_exposure_loss(0.5)(labels, probs))
    expected = [-math.log(0.6), 0.5 * -(2 * math.log(0.25) + math.log(0.4) + math.log(0.1)) / 4, -math.log(0.7)]
    assert np.allclose(got, expected, rtol=1e-6)


def test_background_rows_cycle_through_a_seeded_permutation():
    """ceil(batch x n_background / n_train) rows a batch; every background row once before any repeats."""
    from deepmir_tools.npzformat import EncodedSet
    from deepmir_tools.training import _background_rows

    background = EncodedSet(np.zeros((10, 200, 4), np.uint8), np.array([f"b{i}" for i in range(10)]),
                            np.full(10, 100, np.int32), {"encoding": "onehot"})
    take = _background_rows(background, n_train=100, batch_size=32, seed=7, epoch=0)
    first = [take() for _ in range(5)]
    assert all(len(rows) == 4 for rows in first)  # ceil(32 * 10 / 100)
    assert len(set(np.concatenate(first[:2]).tolist())) == 8  # no repeats within the first 10 draws
    assert set(np.concatenate(first[:3]).tolist()) == set(range(10))
    again = _background_rows(background, n_train=100, batch_size=32, seed=7, epoch=0)
    assert all(np.array_equal(rows, again()) for rows in first)
    other_epoch = _background_rows(background, n_train=100, batch_size=32, seed=7, epoch=1)
    assert any(not np.array_equal(rows, other_epoch()) for rows in first)
    assert _background_rows(None, 100, 32, 7, 0) is None


def _max_softmax(model, path: Path) -> np.ndarray:
    return padded_softmax(model, [seq for _, seq in read_fasta(path)]).max(axis=1)


def test_background_training_lowers_confidence_on_unseen_background(tmp_path):
    """Trained with 30 real 5S rRNAs as background, the model is less sure of 10 other 5S rRNAs than the
    same model trained without them (same seed), while still classifying held-out hairpins."""
    from deepmir_tools.training import TrainOptions, train_model

    records = read_fasta(BACKGROUND_FA)
    seen, unseen = tmp_path / "seen.fa", tmp_path / "unseen.fa"
    seen.write_text("".join(f">{name}\n{seq}\n" for name, seq in records[:30]))
    unseen.write_text("".join(f">{name}\n{seq}\n" for name, seq in records[30:]))
    data, _ = encode_records(read_records(str(TRAIN_FA)), str(TRAIN_FA), EncodeOptions(labels="require"))
    background, _ = encode_records(read_records(str(seen)), str(seen), EncodeOptions(labels="ignore"))
    # big and long enough to learn the 5 families (~99% training accuracy), still seconds on a CPU
    options = TrainOptions(epochs=25, seed=7, progress=False, learning_rate=5e-3,
                           hyperparameters={"kernel_sizes": KERNELS, "filters": 32, "dense": 64, "dropout": 0.3})
    plain = train_model(data, None, options)
    exposed = train_model(data, None, options, background)
    assert not np.array_equal(plain.model.get_weights()[0], exposed.model.get_weights()[0])
    assert _max_softmax(exposed.model, unseen).mean() < _max_softmax(plain.model, unseen).mean() - 0.05
    from deepmir_tools.labels import split_class_entry

    accessions = [split_class_entry(entry)[0] for entry in data.classes]
    predicted = padded_softmax(exposed.model, [seq for _, seq in read_fasta(TEST_FA)]).argmax(axis=1)
    assert np.mean([accessions[p] == f for p, f in zip(predicted, header_families(TEST_FA))]) >= 0.8


def test_background_files_are_recorded_in_the_bundle(runs, run_main_module):
    tmp = runs["tmp"]
    result = run_main_module("deepmir-train", TRAIN_FA, "-o", tmp / "exposed.npz", *ARCH, "--seed", "7",
                             "--background", BACKGROUND_FA, "--background-weight", "0.25", "-q")
    assert result.code == 0
    training = meta_of(tmp / "exposed.npz")["training"]
    assert training["background"] == [{"file": BACKGROUND_FA.name,
                                       "sha256": hashlib.sha256(BACKGROUND_FA.read_bytes()).hexdigest()}]
    assert training["background_sequences"] == 40 and training["background_weight"] == 0.25


def test_background_errors_are_one_line(run_main, tmp_path):
    too_long = tmp_path / "long.fa"
    too_long.write_text((TEST_DATA / "riboswitch-251nt.fa").read_text())
    result = run_main("deepmir-train", TRAIN_FA, "-o", tmp_path / "m.npz", *ARCH, "--background", too_long)
    assert result.code != 0 and "no background sequences left" in result.err and "Traceback" not in result.err
    assert not (tmp_path / "m.npz").exists()
    result = run_main("deepmir-train", TRAIN_FA, "-o", tmp_path / "m.npz", *ARCH, "--background", BACKGROUND_FA,
                      "--background-weight", "0")
    assert result.code != 0 and "--background-weight" in result.err


# ------------------------------------------------------------------ the library behind deepmir-train
def test_cli_options_default_to_the_library_dataclasses():
    """deepmir-train repeats no default: unset options are the dataclasses' own (threads: the CLI's 1)."""
    from dataclasses import replace

    from deepmir_tools.cli.train import build_parser, bundle_options
    from deepmir_tools.encoded_input import EncodeOptions
    from deepmir_tools.models import MatrixCNNParams, OneHotCNNParams
    from deepmir_tools.training import BundleOptions, TrainOptions

    options = bundle_options(build_parser().parse_args(["in.fa", "-o", "out/my-model.npz"]))
    assert options == BundleOptions(train="in.fa", name="my-model", encode=EncodeOptions(progress=True),
                                    fit=replace(TrainOptions(), threads=1))
    assert options.onehot == OneHotCNNParams() and options.matrix == MatrixCNNParams()
    dropout = bundle_options(build_parser().parse_args(["in.fa", "-o", "m.npz", "--dropout", "0.25"]))
    assert dropout.onehot.dropout == dropout.matrix.dropout == 0.25


def test_train_bundle_makes_the_bundle_deepmir_train_writes(runs, tmp_path):
    """The library call with the options of the 'seed8' command line: the same bundle, byte for byte."""
    from deepmir_tools.models import OneHotCNNParams
    from deepmir_tools.training import BundleOptions, TrainOptions, train_bundle

    options = BundleOptions(train=str(TRAIN_FA), name="seed8", val_fraction=0.0,  # a float, as parsed: 0.0 in the JSON
                            encode=EncodeOptions(threads=1),
                            onehot=OneHotCNNParams(kernel_sizes=KERNELS, filters=8, dense=16),
                            fit=TrainOptions(epochs=2, seed=8, threads=1, progress=False))
    messages: list[str] = []
    trained = train_bundle(options, messages.append)
    assert messages == ["200 training sequences, 5 families, 0 validation"]
    assert trained.meta.hyperparameters == {"kernel_sizes": KERNELS, "filters": 8, "dense": 16, "dropout": 0.7}
    assert trained.meta.metrics == {} and trained.meta.training["epochs_run"] == len(trained.result.history) == 2
    save_model(str(tmp_path / "seed8.npz"), trained.model, trained.meta)
    assert (tmp_path / "seed8.npz").read_bytes() == (runs["tmp"] / "seed8.npz").read_bytes()


def test_evaluate_is_the_accuracy_of_the_top_family(runs):
    from deepmir_tools.training import evaluate

    data, model = runs["data"], runs["library"].model
    result = evaluate(model, data, max(KERNELS), batch_size=64)  # several batches, the last one short
    predicted = padded_softmax(model, [s for _, s in read_fasta(TRAIN_FA)]).argmax(axis=1)
    assert result["n"] == 200 and result["accuracy"] == pytest.approx(np.mean(predicted == data.labels))
    assert set(result) == {"accuracy", "macro_f1", "n"} and 0 <= result["macro_f1"] <= 1
