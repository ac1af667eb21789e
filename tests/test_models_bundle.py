"""Model bundle v1 (deepmir_tools.bundle): what a loaded bundle computes, round trips, refusal of bad bundles.

The reference for "what the bundle computes" is a forward pass of the one-hot CNN written here in numpy
from the raw weight arrays of the file (convolutions, ReLU, global max pooling, dense, softmax), so a
wrong layer order, a swapped kernel axis or a lost bias in the loader would show.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import TEST_DATA, read_fasta
from numpy.lib.stride_tricks import sliding_window_view

from deepmir_tools.bundle import load_bundle, save_model, weights_of
from deepmir_tools.encodings import one_hot
from deepmir_tools.errors import DeepMirError, InputFormatError, ModelBundleError

TEST_FA = TEST_DATA / "tiny" / "test.fa"


def bundle_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def bundle_meta(path: Path) -> dict:
    return json.loads(str(bundle_arrays(path)["meta"]))


def numpy_forward(arrays: dict[str, np.ndarray], kernel_sizes: list[int], x: np.ndarray) -> np.ndarray:
    """Softmax of the one-hot CNN (paper Fig. 4) computed in float64 from the bundle's arrays."""
    w = {key: value.astype(np.float64) for key, value in arrays.items() if key.startswith("w:")}
    x = x.astype(np.float64)
    pooled = []
    for k in kernel_sizes:
        windows = sliding_window_view(x, k, axis=1)  # (N, L-k+1, 4, k)
        conv = np.einsum("ntck,kcf->ntf", windows, w[f"w:conv_k{k}:0"]) + w[f"w:conv_k{k}:1"]
        pooled.append(np.maximum(conv, 0).max(axis=1))
    hidden = np.maximum(np.concatenate(pooled, axis=1) @ w["w:dense:0"] + w["w:dense:1"], 0)
    logits = hidden @ w["w:softmax:0"] + w["w:softmax:1"]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def test_seqs() -> list[str]:
    return [seq for _, seq in read_fasta(TEST_FA)]


def test_loaded_bundle_metadata(tiny_model, tiny_bundle):
    meta = bundle_meta(tiny_model)
    assert tiny_bundle.sha256 == hashlib.sha256(tiny_model.read_bytes()).hexdigest()
    assert tiny_bundle.classes == [tuple(c) for c in meta["classes"]] and len(tiny_bundle.classes) == 5
    # the five families of the training file's headers
    families = {line.split()[1].removeprefix("family=") for line in (TEST_DATA / "tiny" / "train.fa").read_text().splitlines()
                if line.startswith(">")}
    assert {acc for acc, _ in tiny_bundle.classes} == families
    assert tiny_bundle.decision.threshold == meta["threshold"]["value"] == 0.977
    assert tiny_bundle.architecture == "onehot-cnn" and tiny_bundle.encoding["max_len"] == 200
    layers = {layer.name for layer in tiny_bundle.keras_model().layers if layer.weights}
    assert layers == {key.split(":")[1] for key in bundle_arrays(tiny_model) if key.startswith("w:")}


def test_keras_model_equals_numpy_forward_pass(tiny_model, tiny_bundle, test_seqs):
    x = one_hot(test_seqs, 200).astype(np.float32)
    keras_out = np.asarray(tiny_bundle.keras_model()(x, training=False))
    expected = numpy_forward(bundle_arrays(tiny_model), tiny_bundle.hyperparameters["kernel_sizes"], x)
    np.testing.assert_allclose(keras_out, expected, atol=1e-5)
    # and the model is the good one the README claims: every held-out hairpin gets the family of its header
    headers = [line.split()[1].removeprefix("family=") for line in TEST_FA.read_text().splitlines() if line.startswith(">")]
    assert [tiny_bundle.classes[i][0] for i in expected.argmax(axis=1)] == headers


@pytest.mark.parametrize("float16", [False, True], ids=["float32", "float16"])
def test_save_and_load_round_trip(tmp_path, tiny_model, tiny_bundle, test_seqs, float16):
    model = tiny_bundle.keras_model()
    meta = {key: value for key, value in tiny_bundle.meta.items() if key not in ("format", "format_version")}
    path = tmp_path / "copy.npz"
    save_model(str(path), model, meta, float16=float16)
    arrays = bundle_arrays(path)
    original = bundle_arrays(tiny_model)
    dtype = np.float16 if float16 else np.float32
    for key in original:
        if key.startswith("w:"):
            assert arrays[key].dtype == dtype
            np.testing.assert_array_equal(arrays[key], original[key].astype(dtype))
    assert bundle_meta(path)["weights_dtype"] == np.dtype(dtype).name
    back = load_bundle(str(path))
    assert back.classes == tiny_bundle.classes and back.decision == tiny_bundle.decision
    x = one_hot(test_seqs, 200).astype(np.float32)
    loaded = np.asarray(back.keras_model()(x, training=False))
    # exactly the network of the stored (possibly float16-rounded) arrays
    np.testing.assert_allclose(loaded, numpy_forward(arrays, back.hyperparameters["kernel_sizes"], x), atol=1e-5)
    in_memory = np.asarray(model(x, training=False))
    if float16:
        np.testing.assert_allclose(loaded, in_memory, atol=2e-2)
        assert (loaded.argmax(axis=1) == in_memory.argmax(axis=1)).all()
        assert path.stat().st_size < 0.7 * tiny_model.stat().st_size
    else:
        np.testing.assert_array_equal(loaded, in_memory)


def test_weights_of_names_every_weight(tiny_bundle):
    weights = weights_of(tiny_bundle.keras_model())
    assert sum(a.size for a in weights.values()) == tiny_bundle.keras_model().count_params()


# --- refused bundles ----------------------------------------------------------------------------------


def _edit_meta(**changes):
    """A change of the bundle's meta JSON."""
    def edit(arrays):
        meta = json.loads(str(arrays["meta"]))
        meta.update(changes)
        arrays["meta"] = np.array(json.dumps(meta))
    return ("arrays", edit)


def _edit_arrays(fn):
    """A change of the bundle's arrays (``fn`` edits the dict in place)."""
    return ("arrays", fn)


def _edit_bytes(fn):
    """A change of the file's bytes."""
    return ("bytes", fn)


def _drop_classes(arrays):
    meta = json.loads(str(arrays["meta"]))
    meta["classes"] = meta["classes"][:4]
    arrays["meta"] = np.array(json.dumps(meta))


def _encoded_npz(tmp: Path) -> Path:
    from deepmir_tools.encoded_input import EncodeOptions, encode_records
    from deepmir_tools.npzformat import write_encoded
    from deepmir_tools.seqio import read_records

    data, _ = encode_records(read_records(str(TEST_FA)), str(TEST_FA), EncodeOptions())
    write_encoded(str(tmp / "bad.npz"), data)
    return tmp / "bad.npz"


# (name, how to make the bad file from the tiny model's arrays or bytes, error class, message, when it is found)
BAD_BUNDLES = [
    ("object (pickled) array",
     _edit_arrays(lambda a: a.__setitem__("w:extra:0", np.array([{"x": 1}], dtype=object))),
     InputFormatError, "contains object (pickled) arrays, refused for safety", "load"),
    ("object array as meta", _edit_arrays(lambda a: a.__setitem__("meta", np.array([{"format": "x"}], dtype=object))),
     InputFormatError, "contains object (pickled) arrays", "load"),
    ("truncated file (first half)", _edit_bytes(lambda data: data[: len(data) // 2]), InputFormatError,
     "not a valid or complete NPZ file", "load"),
    ("truncated file (last byte missing)", _edit_bytes(lambda data: data[:-1]), InputFormatError,
     "not a valid or complete NPZ file", "load"),
    ("empty file", _edit_bytes(lambda data: b""), InputFormatError, "not an NPZ file (no zip archive signature)", "load"),
    ("FASTA file as model", _edit_bytes(lambda data: TEST_FA.read_bytes()), InputFormatError, "not an NPZ file", "load"),
    ("future format version", _edit_meta(format_version=2), InputFormatError,
     "deepmir-model format version 2 is not supported (this is version 1; upgrade deepmir-tools)", "load"),
    ("another format (encoded data set)", ("encoded", None), InputFormatError, "not a deepmir-model file", "load"),
    ("meta not JSON", _edit_arrays(lambda a: a.__setitem__("meta", np.array("{format: 1"))), InputFormatError,
     "'meta' is not valid JSON", "load"),
    ("meta missing", _edit_arrays(lambda a: a.pop("meta")), InputFormatError, "missing or malformed 'meta' entry", "load"),
    ("meta without classes", _edit_meta(classes=None), ModelBundleError, "malformed class list", "load"),
    ("unknown architecture", _edit_meta(architecture="transformer"), ModelBundleError,
     "unknown architecture 'transformer'", "load"),
    ("threshold not a number", _edit_meta(threshold={"value": "high"}), ModelBundleError, "malformed threshold record", "load"),
    ("unknown encoding", _edit_meta(encoding={"encoding": "twohot", "max_len": 200}), ModelBundleError,
     "malformed encoding record", "load"),
    ("class count differs from the output layer", _edit_arrays(_drop_classes), ModelBundleError,
     "model bundle lists 4 classes but its output layer has 5 units", "load"),
    ("weights of the wrong shape", _edit_arrays(lambda a: a.__setitem__("w:conv_k2:0", np.zeros((3, 4, 32), np.float32))),
     ModelBundleError, "layer 'conv_k2' weights have shapes [(3, 4, 32), (32,)], expected [(2, 4, 32), (32,)]", "build"),
    ("weights for fewer filters than the hyperparameters",
     _edit_meta(hyperparameters={"kernel_sizes": [2, 4, 6, 8, 10, 12, 14, 16], "filters": 16, "dense": 64, "dropout": 0.3}),
     ModelBundleError, "layer 'conv_k2' weights have shapes [(2, 4, 32), (32,)], expected [(2, 4, 16), (16,)]", "build"),
    ("a layer's weights missing", _edit_arrays(lambda a: (a.pop("w:dense:0"), a.pop("w:dense:1"))), ModelBundleError,
     "weights do not match the architecture (layers ['dense'])", "build"),
    ("integer weights", _edit_arrays(lambda a: a.__setitem__("w:dense:1", a["w:dense:1"].astype(np.int32))),
     ModelBundleError, "weight 'w:dense:1' has dtype int32, expected float32/float16", "load"),
    ("foreign array", _edit_arrays(lambda a: a.__setitem__("optimizer", np.zeros(3))), ModelBundleError,
     "unexpected array 'optimizer' in model bundle", "load"),
    ("weight index not a number", _edit_arrays(lambda a: a.__setitem__("w:dense:x", a.pop("w:dense:1"))),
     ModelBundleError, "unexpected array 'w:dense:x' in model bundle", "load"),
    ("unknown hyperparameter", _edit_meta(hyperparameters={"kernel_sizes": [2], "filters": 32, "dense": 64, "heads": 8}),
     ModelBundleError, "cannot build the onehot-cnn network from the bundle's hyperparameters", "build"),
]


def make_bad_bundle(tmp: Path, build) -> Path:
    """Write the bad bundle of a BAD_BUNDLES entry into ``tmp`` (the tiny model is only read)."""
    kind, fn = build
    if kind == "encoded":
        return _encoded_npz(tmp)
    path = tmp / "bad.npz"
    source = TEST_DATA / "tiny-model.npz"
    if kind == "bytes":
        path.write_bytes(fn(source.read_bytes()))
        return path
    arrays = bundle_arrays(source)
    fn(arrays)
    np.savez(path, **arrays)  # numpy writes object arrays (pickled) unless told otherwise: they get in
    return path


@pytest.mark.parametrize("name, build, error, message, when", BAD_BUNDLES, ids=[c[0] for c in BAD_BUNDLES])
def test_bad_bundle_is_refused(tmp_path, name, build, error, message, when):
    path = make_bad_bundle(tmp_path, build)
    before = path.read_bytes()
    with pytest.raises(error) as caught:
        load_bundle(str(path)).keras_model()
    assert isinstance(caught.value, DeepMirError) and caught.value.exit_code == 2
    text = str(caught.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text
    if when == "load":  # found before any network is built
        with pytest.raises(error):
            load_bundle(str(path))
    else:
        load_bundle(str(path))
    assert path.read_bytes() == before


CLI_CASES = [c for c in BAD_BUNDLES if c[0] in ("object (pickled) array", "truncated file (first half)",
                                                 "future format version", "class count differs from the output layer",
                                                 "weights of the wrong shape")]


@pytest.mark.parametrize("tool", ["deepmir-classify", "deepmir-calibrate"])
@pytest.mark.parametrize("name, build, error, message, when", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_bad_bundle_exit_code(tmp_path, run_main, tool, name, build, error, message, when):
    path = make_bad_bundle(tmp_path, build)
    out = tmp_path / "out"
    if tool == "deepmir-classify":
        result = run_main(tool, "-m", path, TEST_FA, "-o", out)
    else:
        result = run_main(tool, "-m", path, "--in-dist", TEST_FA, "--ood", TEST_DATA / "trna-hsa-Ala-AGC-1-1.fa",
                          "-o", out)
    assert result.code == 2, result.err
    assert result.err.count("\n") == 1 and result.err.startswith(f"{tool}: error: {path}: ") and message in result.err
    assert "Traceback" not in result.err and not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.npz"]


def test_model_file_is_only_read(tmp_path, tiny_model):
    copy = tmp_path / "m.npz"
    shutil.copy(tiny_model, copy)
    copy.chmod(0o444)
    stamp = copy.stat().st_mtime_ns
    bundle = load_bundle(str(copy))
    bundle.keras_model()
    assert copy.stat().st_mtime_ns == stamp and bundle.sha256 == hashlib.sha256(copy.read_bytes()).hexdigest()


# --- the typed meta (bundle.BundleMeta) and the layer contract (models.weight_shapes) ----------------------


@pytest.mark.parametrize("source", ["hairpin", "mature", "tiny"])
def test_bundle_meta_round_trips_the_stored_json(source, tiny_model):
    """from_json -> to_json gives back the stored object key for key (format name and version included)."""
    from deepmir_tools.bundle import BundleMeta, shipped_model_path

    path = tiny_model if source == "tiny" else Path(shipped_model_path(source))
    stored = bundle_meta(path)
    meta = BundleMeta.from_json(stored, str(path))
    assert meta.to_json() == stored
    assert json.dumps(meta.to_json(), sort_keys=True) == str(bundle_arrays(path)["meta"])  # the bytes written
    assert meta.classes[0] == tuple(stored["classes"][0]) and meta.decision == load_bundle(str(path)).decision


def test_bundle_meta_keeps_unknown_keys_and_leaves_absent_ones_absent(tiny_model):
    from deepmir_tools.bundle import BundleMeta

    stored = bundle_meta(tiny_model)
    for key in ("description", "training", "metrics", "weights_dtype", "versions"):
        del stored[key]
    stored["future_field"] = {"kept": [1, 2]}
    meta = BundleMeta.from_json(stored)
    assert meta.description is None and meta.training is None and meta.extra == {"future_field": {"kept": [1, 2]}}
    assert meta.to_json() == stored


def test_saved_meta_is_checked_first(tmp_path, tiny_bundle):
    meta = {key: value for key, value in tiny_bundle.meta.items() if key != "architecture"}
    with pytest.raises(ModelBundleError, match="model bundle meta lacks architecture"):
        save_model(str(tmp_path / "m.npz"), tiny_bundle.keras_model(), meta)
    assert not list(tmp_path.iterdir())


def test_a_calibrated_copy_keeps_every_other_meta_field(tmp_path, tiny_model, tiny_bundle):
    from deepmir_tools.bundle import calibrated_threshold, with_threshold
    from deepmir_tools.decision import Decision

    record = calibrated_threshold(Decision(0.5, "energy", 2.0, 16, 40), method="max-f", tpr=0.91234567, fpr=0.1,
                                  auroc=0.95, in_distribution=("in.fa", 12), out_of_distribution={"tRNA": 3},
                                  data_sha256={"in.fa": "0" * 64})
    assert record == {"value": 0.5, "score": "energy", "temperature": 2.0, "min_length": 16, "max_length": 40,
                      "method": "max-f", "tpr": 0.912346, "fpr": 0.1, "auroc": 0.95,
                      "in_distribution": {"file": "in.fa", "n": 12}, "out_of_distribution": {"tRNA": 3},
                      "data_sha256": {"in.fa": "0" * 64}}
    with_threshold(tiny_bundle, record, str(tmp_path / "c.npz"), {"metrics": {"calibration": {"n": 12}}})
    before, after = bundle_meta(tiny_model), bundle_meta(tmp_path / "c.npz")
    assert after == dict(before, threshold=record, metrics={"calibration": {"n": 12}})
    assert load_bundle(str(tmp_path / "c.npz")).decision == Decision(0.5, "energy", 2.0, 16, 40)
    assert bundle_meta(tiny_model) == before  # the input is only read


ARCHITECTURE_CASES = [
    ("onehot-cnn", "onehot", 200, {"kernel_sizes": [2, 5, 16], "filters": 3, "dense": 7, "dropout": 0.5}),
    ("matrix-cnn", "pair", 40, {"conv_filters": [4, 6], "kernel_size": 3, "pool_size": 2, "dense_units": [9, 5],
                                "dropout": 0.5}),
    ("matrix-cnn", "mixed", 33, {"conv_filters": [2], "kernel_size": 2, "pool_size": 3, "dense_units": [4],
                                 "dropout": 0.5}),
]


@pytest.mark.parametrize("architecture, encoding, max_len, params", ARCHITECTURE_CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in ARCHITECTURE_CASES])
def test_weight_shapes_name_the_layers_keras_builds(architecture, encoding, max_len, params):
    """models.weight_shapes (what the table scorer and the bundle rely on) is the network models.build_model builds."""
    from deepmir_tools.models import OUTPUT_LAYER, build_model, configure_tensorflow, weight_shapes

    configure_tensorflow(deterministic=False)
    model = build_model(architecture, 4, params, encoding, max_len)
    built = {layer.name: [tuple(w.shape) for w in layer.weights] for layer in model.layers if layer.weights}
    shapes = weight_shapes(architecture, 4, params, encoding, max_len)
    assert list(shapes.items()) == list(built.items())  # same layers, in model order, same shapes
    assert list(shapes)[-1] == OUTPUT_LAYER == model.layers[-1].name
