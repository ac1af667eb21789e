"""NPZ format v1 (deepmir_tools.npzformat): round trips, and refusal of unsafe or malformed files."""

from __future__ import annotations

import json
import os
import tempfile

import numpy as np
import pytest
from conftest import read_fasta
from hypothesis import given, settings
from hypothesis import strategies as st

from deepmir_tools.encoded_input import EncodeOptions, encode_records
from deepmir_tools.errors import DeepMirError, InputFormatError
from deepmir_tools.labels import split_class_entry
from deepmir_tools.npzformat import FORMAT_NAME, FORMAT_VERSION, EncodedSet, read_encoded, write_encoded
from deepmir_tools.seqio import read_records


def encoded(path, **options) -> EncodedSet:
    data, _ = encode_records(read_records(str(path)), str(path), EncodeOptions(**options))
    return data


def arrays_of(data: EncodedSet) -> dict[str, np.ndarray]:
    """The arrays as written by write_encoded, for crafting altered files."""
    arrays = {"x": data.x, "ids": data.ids, "lengths": data.lengths, "meta": np.array(json.dumps(data.meta))}
    for key in ("labels", "classes", "offsets"):
        if getattr(data, key) is not None:
            arrays[key] = getattr(data, key)
    return arrays


@pytest.fixture(scope="module")
def labelled(test_data) -> EncodedSet:
    return encoded(test_data / "hairpins-hsa30-labelled.fa")


# --- round trips ----------------------------------------------------------------------------


def test_round_trip_labelled_onehot(tmp_path, test_data, labelled):
    path = tmp_path / "set.npz"
    write_encoded(str(path), labelled)
    back = read_encoded(str(path))
    expected = read_fasta(test_data / "hairpins-hsa30-labelled.fa")
    assert back.ids.tolist() == [i for i, _ in expected]
    assert back.lengths.tolist() == [len(s) for _, s in expected]
    np.testing.assert_array_equal(back.x, labelled.x)
    assert back.x.dtype == np.uint8 and back.x.shape == (30, 200, 4)
    assert back.meta == labelled.meta and back.encoding == "onehot"
    assert back.meta["format"] == FORMAT_NAME and back.meta["format_version"] == FORMAT_VERSION
    assert back.meta["input_sha256"] and back.offsets is None
    classes = [split_class_entry(c) for c in back.classes]
    assert ("MIPF0000002", "let-7") in classes and len(classes) == 15  # 15 miRBase families among these 30
    let7 = classes.index(("MIPF0000002", "let-7"))
    assert (back.labels[:9] == let7).all()  # hsa-let-7a-1 .. hsa-let-7f-2 come first
    assert back.labels.dtype == np.int32


@pytest.mark.parametrize("encoding, dtype", [("prob", np.float16), ("pair", np.uint8), ("mixed", np.float16)])
def test_round_trip_structure_windows(tmp_path, test_data, encoding, dtype):
    data = encoded(test_data / "riboswitch-251nt.fa", encoding=encoding, long_policy="window", max_len=200)
    path = tmp_path / "windows.npz"
    write_encoded(str(path), data, compress=False)
    back = read_encoded(str(path))
    assert back.x.dtype == dtype and back.x.shape[:3] == (3, 200, 200)
    np.testing.assert_array_equal(back.x, data.x)
    assert back.offsets.tolist() == [0, 50, 51] and back.lengths.tolist() == [200] * 3
    assert back.ids.tolist() == ["riboswitch|NCYPred_test|20537"] * 3 and back.labels is None


def test_written_file_loads_without_pickle(tmp_path, labelled):
    path = tmp_path / "set.npz"
    write_encoded(str(path), labelled)
    with np.load(path, allow_pickle=False) as archive:
        assert sorted(archive.files) == ["classes", "ids", "labels", "lengths", "meta", "x"]
        assert all(archive[key].dtype != object for key in archive.files)
    assert not [name for name in os.listdir(tmp_path) if name != "set.npz"]  # no temporary file left


# --- refusals -------------------------------------------------------------------------------


def write_altered(tmp_path, labelled, **changes) -> str:
    arrays = arrays_of(labelled)
    for key, value in changes.items():
        if value is None:
            arrays.pop(key)
        else:
            arrays[key] = value
    path = tmp_path / "altered.npz"
    np.savez(path, **arrays)
    return str(path)


def meta_with(labelled, **changes) -> np.ndarray:
    meta = dict(labelled.meta, **changes)
    return np.array(json.dumps(meta))


def test_object_array_refused(tmp_path, labelled):
    ids = np.array(list(labelled.ids), dtype=object)  # an object array is stored pickled
    path = write_altered(tmp_path, labelled, ids=ids)
    with pytest.raises(InputFormatError, match=r"contains object \(pickled\) arrays, refused for safety"):
        read_encoded(path)


CASES = [
    ("missing-x", {"x": None}, "missing arrays: x"),
    ("missing-ids-meta", {"ids": None, "meta": None}, "missing arrays: ids, meta"),
    ("unknown-array", {"weights": np.zeros(3)}, "unexpected arrays: weights"),
    ("format-version-2", {"meta": lambda d: meta_with(d, format_version=2)},
     "format version 2 is not supported (this is version 1; upgrade"),
    ("other-format", {"meta": lambda d: meta_with(d, format="deepmir-model")}, "not a deepmir-encoded file"),
    ("meta-not-json", {"meta": np.array("{format: 1")}, "'meta' is not valid JSON"),
    ("meta-not-string", {"meta": np.zeros(2)}, "missing or malformed 'meta' entry"),
    ("x-float32", {"x": lambda d: d.x.astype(np.float32)}, "array 'x' has dtype float32, expected onehot data"),
    ("ids-int", {"ids": np.arange(30)}, "arrays 'ids'/'lengths' have wrong dtypes"),
    ("lengths-float", {"lengths": np.full(30, 80.0)}, "arrays 'ids'/'lengths' have wrong dtypes"),
    ("ids-short", {"ids": np.array(["a", "b"])}, "array 'ids' has shape (2,), expected (30,)"),
    ("labels-without-classes", {"classes": None}, "'labels' and 'classes' must come together"),
    ("labels-out-of-range", {"labels": np.full(30, 99, dtype=np.int32)}, "'labels' do not index 'classes'"),
    ("labels-float", {"labels": np.zeros(30)}, "'labels' do not index 'classes'"),
]


@pytest.mark.parametrize("changes, message", [pytest.param(c, m, id=name) for name, c, m in CASES])
def test_malformed_npz(tmp_path, labelled, changes, message):
    changes = {key: value(labelled) if callable(value) else value for key, value in changes.items()}
    path = write_altered(tmp_path, labelled, **changes)
    with pytest.raises(InputFormatError) as caught:
        read_encoded(path)
    assert str(caught.value).startswith(path + ": ") and message in str(caught.value)


def test_not_npz_files(tmp_path, test_data, labelled):
    fasta = test_data / "hsa-let-7a-1.fa"
    with pytest.raises(InputFormatError, match="not an NPZ file"):
        read_encoded(str(fasta))
    npy = tmp_path / "x.npy"
    np.save(npy, labelled.x)
    with pytest.raises(InputFormatError, match="not an NPZ file"):
        read_encoded(str(npy))
    good = tmp_path / "good.npz"
    write_encoded(str(good), labelled)
    cut = tmp_path / "cut.npz"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(InputFormatError, match="not a valid or complete NPZ file"):
        read_encoded(str(cut))
    with pytest.raises(DeepMirError, match="no such file"):
        read_encoded(str(tmp_path / "missing.npz"))
    with pytest.raises(DeepMirError, match="is a directory"):
        read_encoded(str(tmp_path))


def test_write_into_missing_directory(tmp_path, labelled):
    with pytest.raises(DeepMirError, match="output directory .* does not exist"):
        write_encoded(str(tmp_path / "no" / "set.npz"), labelled)


def test_failed_write_keeps_previous_file(tmp_path, labelled):
    path = tmp_path / "set.npz"
    path.write_bytes(b"previous")
    broken = EncodedSet(x=labelled.x, ids=labelled.ids, lengths=labelled.lengths, meta={"bad": object()})
    with pytest.raises(TypeError):
        write_encoded(str(path), broken)
    assert path.read_bytes() == b"previous"
    assert os.listdir(tmp_path) == ["set.npz"]


# --- property: random valid FASTA -> encode -> NPZ -> same IDs and sequences ---------------

_ID_CHARS = st.characters(blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp", "Co", "Cn"),
                          blacklist_characters=">@")
_RECORD = st.tuples(st.text(_ID_CHARS, min_size=1, max_size=20), st.text("ACGUTacgut", min_size=1, max_size=120))


@given(records=st.lists(_RECORD, min_size=1, max_size=8, unique_by=lambda r: r[0]), width=st.integers(10, 70))
@settings(max_examples=60, deadline=None)
def test_random_fasta_round_trips(records, width):
    with tempfile.TemporaryDirectory() as folder:
        fasta = os.path.join(folder, "in.fa")
        with open(fasta, "w", encoding="utf-8") as handle:
            for rid, seq in records:
                lines = [seq[k : k + width] for k in range(0, len(seq), width)]
                handle.write(f">{rid} from hypothesis\n" + "\n".join(lines) + "\n")
        data, skipped = encode_records(read_records(fasta), fasta, EncodeOptions(max_len=120))
        out = os.path.join(folder, "out.npz")
        write_encoded(out, data)
        back = read_encoded(out)
    assert skipped == 0
    assert back.ids.tolist() == [rid for rid, _ in records]
    assert back.lengths.tolist() == [len(seq) for _, seq in records]
    decoded = ["".join("ACGU"[k] for k in row[:n].argmax(axis=1)) for row, n in zip(back.x, back.lengths)]
    assert decoded == [seq.upper().replace("T", "U") for _, seq in records]
    assert not any(row[n:].any() for row, n in zip(back.x, back.lengths))
