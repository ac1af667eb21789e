"""Encoded data sets: NPZ format v1 (documented in docs/formats.md).

Keys: ``x`` (encoded sequences), ``ids`` (fixed-width unicode), ``lengths`` (int32, the
length of each encoded sequence), optional ``labels`` (int32 index into ``classes``) with
``classes`` (unicode, ``accession<TAB>name``), optional ``offsets`` (int32 window starts),
and ``meta`` (a JSON string). Never object arrays: files load with ``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import __version__
from .atomic import atomic_output
from .errors import DeepMirError, InputFormatError

FORMAT_NAME = "deepmir-encoded"
FORMAT_VERSION = 1
REQUIRED_KEYS = {"x", "ids", "lengths", "meta"}
OPTIONAL_KEYS = {"labels", "classes", "offsets"}
_X_DTYPES = {"onehot": np.uint8, "prob": np.float16, "pair": np.uint8, "mixed": np.float16}


@dataclass
class EncodedSet:
    """An encoded data set in memory (one row of ``x`` per sequence or window)."""

    x: np.ndarray
    ids: np.ndarray
    lengths: np.ndarray
    meta: dict[str, Any]
    labels: np.ndarray | None = None
    classes: np.ndarray | None = None
    offsets: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def encoding(self) -> str:
        return self.meta["encoding"]


def sha256_of_file(path: str) -> str:
    """Hex SHA-256 of a file's bytes ('' for stdin, which cannot be re-read)."""
    if path == "-":
        return ""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def make_meta(encoding: str, max_len: int, threshold: float, ordered: bool, source: str) -> dict[str, Any]:
    """The ``meta`` dictionary of a new encoded set."""
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "encoding": encoding,
        "threshold_T": threshold,
        "ordered_pairs": ordered,
        "max_len": max_len,
        "x_dtype": np.dtype(_X_DTYPES[encoding]).name,
        "package_version": __version__,
        "input_file": source,
        "input_sha256": sha256_of_file(source) if source else "",
    }


def write_encoded(path: str, data: EncodedSet, compress: bool = True) -> None:
    """Write ``data`` atomically as NPZ v1 (``-`` writes to stdout)."""
    arrays: dict[str, np.ndarray] = {
        "x": data.x,
        "ids": np.asarray(data.ids, dtype=str),
        "lengths": np.asarray(data.lengths, dtype=np.int32),
        "meta": np.array(json.dumps(data.meta, sort_keys=True)),
    }
    if data.labels is not None:
        arrays["labels"] = np.asarray(data.labels, dtype=np.int32)
        arrays["classes"] = np.asarray(data.classes, dtype=str)
    if data.offsets is not None:
        arrays["offsets"] = np.asarray(data.offsets, dtype=np.int32)
    saver = np.savez_compressed if compress else np.savez
    with atomic_output(path, "wb") as handle:
        saver(handle, **arrays)


_ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")  # a zip archive's first bytes (with members / empty)


def _check_zip_signature(path: str) -> None:
    # np.load takes any non-zip, non-.npy file for a pickle and would call a FASTA file
    # "pickled data", and returns a bare array for a .npy file: say what the file is not.
    try:
        with open(path, "rb") as handle:
            signature = handle.read(4)
    except FileNotFoundError:
        raise DeepMirError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DeepMirError(f"{path}: is a directory, expected an NPZ file") from None
    except OSError as exc:
        raise DeepMirError(f"{path}: cannot open: {exc.strerror}") from None
    if signature not in _ZIP_SIGNATURES:
        raise InputFormatError(f"{path}: not an NPZ file (no zip archive signature)")


def load_npz_arrays(path: str) -> dict[str, np.ndarray]:
    """All arrays of an NPZ file, read with ``allow_pickle=False``; file problems become clear errors."""
    _check_zip_signature(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except FileNotFoundError:
        raise DeepMirError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DeepMirError(f"{path}: is a directory, expected an NPZ file") from None
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise InputFormatError(f"{path}: contains object (pickled) arrays, refused for safety") from None
        raise InputFormatError(f"{path}: not a valid NPZ file ({exc})") from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise InputFormatError(f"{path}: not a valid or complete NPZ file ({exc})") from None


def parse_meta(path: str, arrays: dict[str, np.ndarray], expected_format: str) -> dict[str, Any]:
    """Decode and check the ``meta`` JSON string of an NPZ (format name and version)."""
    meta_array = arrays.get("meta")
    if meta_array is None or meta_array.dtype.kind != "U" or meta_array.shape != ():
        raise InputFormatError(f"{path}: missing or malformed 'meta' entry")
    try:
        meta = json.loads(str(meta_array))
    except json.JSONDecodeError:
        raise InputFormatError(f"{path}: 'meta' is not valid JSON") from None
    if not isinstance(meta, dict) or meta.get("format") != expected_format:
        raise InputFormatError(f"{path}: not a {expected_format} file")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise InputFormatError(
            f"{path}: {expected_format} format version {version} is not supported (this is version {FORMAT_VERSION}; "
            "upgrade deepmir-tools)"
        )
    return meta


def _check_shapes(path: str, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    x = arrays["x"]
    n = x.shape[0] if x.ndim else -1
    encoding = meta.get("encoding")
    if encoding not in _X_DTYPES or x.dtype != _X_DTYPES[encoding]:
        raise InputFormatError(f"{path}: array 'x' has dtype {x.dtype}, expected {encoding} data")
    for key in ("ids", "lengths", "labels", "offsets"):
        if key in arrays and arrays[key].shape != (n,):
            raise InputFormatError(f"{path}: array '{key}' has shape {arrays[key].shape}, expected ({n},)")
    if arrays["ids"].dtype.kind != "U" or arrays["lengths"].dtype.kind not in "iu":
        raise InputFormatError(f"{path}: arrays 'ids'/'lengths' have wrong dtypes")
    if ("labels" in arrays) != ("classes" in arrays):
        raise InputFormatError(f"{path}: 'labels' and 'classes' must come together")
    if "labels" in arrays and arrays["labels"].size:
        labels = arrays["labels"]
        if labels.dtype.kind not in "iu" or labels.min() < 0 or labels.max() >= len(arrays["classes"]):
            raise InputFormatError(f"{path}: 'labels' do not index 'classes'")


def read_encoded(path: str) -> EncodedSet:
    """Load and validate an NPZ v1 encoded set (``allow_pickle=False``)."""
    arrays = load_npz_arrays(path)
    missing = REQUIRED_KEYS - arrays.keys()
    if missing:
        raise InputFormatError(f"{path}: missing arrays: {', '.join(sorted(missing))}")
    unknown = arrays.keys() - REQUIRED_KEYS - OPTIONAL_KEYS
    if unknown:
        raise InputFormatError(f"{path}: unexpected arrays: {', '.join(sorted(unknown))}")
    meta = parse_meta(path, arrays, FORMAT_NAME)
    _check_shapes(path, arrays, meta)
    return EncodedSet(
        x=arrays["x"],
        ids=arrays["ids"],
        lengths=arrays["lengths"],
        meta=meta,
        labels=arrays.get("labels"),
        classes=arrays.get("classes"),
        offsets=arrays.get("offsets"),
    )
