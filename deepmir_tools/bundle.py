"""Model bundle v1: one NPZ file with weight arrays and a JSON ``meta`` string.

Loading never executes code: the file is read with ``allow_pickle=False``, the network is
rebuilt by :mod:`deepmir_tools.models` from the hyperparameters in ``meta``, and the weight
arrays are checked against the rebuilt layers' shapes before they are set. The format is
independent of Keras' own save formats, so a TensorFlow/Keras upgrade cannot break a
user's model. Keys (documented in docs/formats.md):

- ``meta``: JSON, described field by field by :class:`BundleMeta` (format ``deepmir-model``,
  ``format_version`` 1, name, architecture, hyperparameters, encoding, classes, threshold,
  training provenance, metrics, versions);
- ``w:<layer>:<i>``: the i-th weight array of layer ``<layer>`` (float32 or float16), layers named
  by :func:`deepmir_tools.models.weight_shapes`;
- ``ref:codes``, ``ref:offsets``, ``ref:family``, ``ref:ids`` (optional): the reference members of
  :mod:`deepmir_tools.reference`, with ``meta["reference"]`` (:class:`ReferenceRecord`).

:class:`BundleMeta` is the one description of ``meta``: deepmir-train makes one
(:func:`deepmir_tools.training.train_bundle`), deepmir-calibrate replaces its threshold record
(:func:`with_threshold`, :func:`calibrated_threshold`), and every reader gets it validated from
:func:`load_bundle`.
"""

from __future__ import annotations

import copy
import importlib.resources
import json
import os
import sys
from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar, Mapping, NotRequired, Required, TypedDict

import numpy as np

from . import __version__
from .atomic import atomic_output
from .decision import Decision
from .encodings import ENCODINGS
from .errors import ModelBundleError
from .npzformat import FORMAT_VERSION, load_npz_arrays, parse_meta, sha256_of_file
from .models import ARCHITECTURES, OUTPUT_LAYER, build_model

FORMAT_NAME = "deepmir-model"
SHIPPED_MODELS = ("hairpin", "mature")
PAPER_THRESHOLD = 0.977
_WEIGHT_PREFIX = "w:"
REFERENCE_PREFIX = "ref:"
_REFERENCE_DTYPES = {"codes": "u", "offsets": "i", "family": "i", "ids": "U"}
_FORMAT_KEYS = ("format", "format_version")  # written by to_json, checked by npzformat.parse_meta


# --- the records inside ``meta`` (plain JSON objects: TypedDicts keep absent keys absent on a round trip) -----


class EncodingRecord(TypedDict):
    """``meta["encoding"]``: how sequences become the network's input (see :mod:`deepmir_tools.encodings`)."""

    encoding: str  # onehot | prob | pair | mixed
    max_len: int  # model input length L (nt)
    threshold_T: NotRequired[float]  # base-pair probability threshold of the structure encodings
    ordered: NotRequired[bool]  # pair matrix with 6 ordered (True) or 3 unordered pair types


class ThresholdRecord(TypedDict, total=False):
    """``meta["threshold"]``: the accept/reject rule (:meth:`Decision.fields`) and how it was chosen.

    Made by :func:`paper_threshold` (deepmir-train) or :func:`calibrated_threshold` (deepmir-calibrate);
    read by :attr:`BundleMeta.decision`.
    """

    value: Required[float]  # the rule: value, score, temperature, min_length, max_length, seeds, reference_*
    score: str
    temperature: float
    min_length: int
    max_length: int
    seeds: dict[str, Any]
    reference_min_score: int  # models with a reference stage (meta["reference"])
    reference_below: float
    reference_anchor: int  # read models: alignments start within this many nt of both 5' ends
    scan_threshold: float  # hairpin models: deepmir-scan's threshold on a locus's hairpin, chosen on genomic background
    scan_window_threshold: float  # hairpin models: deepmir-scan's threshold on windows (candidates)
    scan_background: dict[str, Any]  # how: {"files": {name: sha256}, "nucleotides", "false_loci_per_mb", "false_loci"}
    method: str  # how the value was chosen (every record)
    tpr: float  # calibrated records: the operating point on the calibration data
    fpr: float
    auroc: float
    in_distribution: dict[str, Any]  # {"file": name, "n": sequences scored}
    out_of_distribution: dict[str, int]  # OOD class -> sequences scored
    data_sha256: dict[str, str]  # file name -> SHA-256 of each calibration file


class ReferenceRecord(TypedDict):
    """``meta["reference"]``: the reference stage's family table and provenance (arrays ``ref:*``)."""

    families: list[list[str]]  # [accession, name] per reference family; ``ref:family`` indexes it
    members: int
    k: int  # k-mer length of the candidate index
    candidates: int  # members aligned per query
    file: str  # base name of the labelled FASTA the members came from
    sha256: str
    dropped: NotRequired[list[str]]  # member IDs of that file left out as non-miRNA look-alikes (calibration)


class DataRecord(TypedDict):
    """Provenance of a labelled data set in ``meta["training"]``."""

    file: str  # base name
    sha256: str
    sequences: int
    families: int


class TrainingRecord(TypedDict, total=False):
    """``meta["training"]``: where the weights came from (made by :func:`deepmir_tools.training.train_bundle`)."""

    train: DataRecord
    validation: DataRecord | None  # None: held out from the training file (val_fraction) or none
    val_fraction: float | None
    test: DataRecord
    seed: int
    epochs: int
    epochs_run: int
    best_epoch: int
    batch_size: int
    learning_rate: float
    class_weight: str
    long_policy: str
    augment_mutations: float
    augment_flanks: int
    background: list[dict[str, str]]  # [{"file", "sha256"}] of the outlier-exposure files
    background_sequences: int
    background_weight: float


class SplitMetrics(TypedDict, total=False):
    """``meta["metrics"][split]`` for split validation, test (deepmir-train) or calibration (deepmir-calibrate)."""

    accuracy: float
    macro_f1: float
    n: int
    auroc_per_ood: dict[str, float]


@dataclass
class BundleMeta:
    """The ``meta`` JSON of a model bundle, typed.

    Optional fields are ``None`` when the key is absent (bundles written by hand or by older versions);
    keys this version does not know are kept in ``extra`` and written back as they were, so a
    calibrated copy of a bundle loses nothing.
    """

    FORMAT: ClassVar[str] = FORMAT_NAME
    VERSION: ClassVar[int] = FORMAT_VERSION

    name: str
    architecture: str  # one of models.ARCHITECTURES
    hyperparameters: dict[str, Any]  # models.OneHotCNNParams / MatrixCNNParams as a dict
    encoding: EncodingRecord
    classes: list[tuple[str, str]]  # (family accession, name) per output unit
    threshold: ThresholdRecord
    description: str | None = None
    training: TrainingRecord | None = None
    metrics: dict[str, SplitMetrics] | None = None
    weights_dtype: str | None = None  # float32 | float16 (set by save_model)
    versions: dict[str, str] | None = None  # package, Python, TensorFlow, ... (set by save_model)
    reference: ReferenceRecord | None = None  # with the ``ref:*`` arrays (deepmir-calibrate --reference)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def decision(self) -> Decision:
        """The accept/reject rule of the threshold record."""
        return Decision.from_record(self.threshold, "model bundle")

    @classmethod
    def from_json(cls, meta: Mapping[str, Any], where: str = "model bundle") -> BundleMeta:
        """The typed form of a ``meta`` object, checked (a malformed one is a ModelBundleError naming ``where``).

        The format name and version are not kept: :func:`deepmir_tools.npzformat.parse_meta` checks them when
        a file is read, and :meth:`to_json` writes the current ones.
        """
        _check_meta(where, meta)
        known = [f.name for f in fields(cls) if f.name != "extra"]
        values = {name: meta[name] for name in known if name in meta}
        values["classes"] = [(accession, name) for accession, name in meta["classes"]]
        extra = {key: value for key, value in meta.items() if key not in known and key not in _FORMAT_KEYS}
        return cls(**values, extra=extra)

    def to_json(self) -> dict[str, Any]:
        """The ``meta`` object as written into the file, format name and version included."""
        record: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name != "extra" and value is not None:
                record[item.name] = value
        record["classes"] = [list(entry) for entry in self.classes]
        record.update(self.extra)
        record.update(format=self.FORMAT, format_version=self.VERSION)
        return record


def _check_meta(path: str, meta: Mapping[str, Any]) -> None:
    required = ("name", "architecture", "hyperparameters", "encoding", "classes", "threshold")
    missing = [key for key in required if key not in meta]
    if missing:
        raise ModelBundleError(f"{path}: model bundle meta lacks {', '.join(missing)}")
    if meta["architecture"] not in ARCHITECTURES:
        raise ModelBundleError(f"{path}: unknown architecture {meta['architecture']!r}")
    if not meta["classes"] or not all(isinstance(c, list) and len(c) == 2 for c in meta["classes"]):
        raise ModelBundleError(f"{path}: malformed class list")
    Decision.from_record(meta["threshold"], path)  # raises on a malformed record
    encoding = meta["encoding"]
    if not isinstance(encoding, dict) or encoding.get("encoding") not in ENCODINGS or not isinstance(
        encoding.get("max_len"), int
    ):
        raise ModelBundleError(f"{path}: malformed encoding record")


def paper_threshold() -> ThresholdRecord:
    """The threshold record of a new model: the paper's 0.977 (Fig. 7, FPR 0.05 on Rfam-60)."""
    return {"value": PAPER_THRESHOLD, "method": "paper default (Tang & Sun 2019, Fig. 7: FPR 0.05 on Rfam-60)"}


def calibrated_threshold(decision: Decision, *, method: str, tpr: float, fpr: float, auroc: float,
                         in_distribution: tuple[str, int], out_of_distribution: Mapping[str, int],
                         data_sha256: Mapping[str, str]) -> ThresholdRecord:
    """The threshold record of a calibrated rule: the rule's fields, its operating point (rounded to 6 decimals)
    and the calibration data (``in_distribution``: file name and sequences scored)."""
    file, count = in_distribution
    return {
        **decision.fields(),  # type: ignore[typeddict-item]
        "method": method,
        "tpr": round(tpr, 6),
        "fpr": round(fpr, 6),
        "auroc": round(auroc, 6),
        "in_distribution": {"file": file, "n": count},
        "out_of_distribution": dict(out_of_distribution),
        "data_sha256": dict(data_sha256),
    }


@dataclass
class ModelBundle:
    """A loaded bundle: its metadata, weight arrays and (lazily) the Keras model."""

    path: str
    info: BundleMeta
    weights: dict[str, list[np.ndarray]]
    sha256: str
    reference_arrays: dict[str, np.ndarray] = field(default_factory=dict)  # ``ref:*`` without the prefix
    _model: Any = None
    _reference: Any = None

    @property
    def meta(self) -> dict[str, Any]:
        """The ``meta`` JSON as stored (a copy; :attr:`info` is the typed form)."""
        return copy.deepcopy(self.info.to_json())

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def classes(self) -> list[tuple[str, str]]:
        return list(self.info.classes)

    @property
    def encoding(self) -> EncodingRecord:
        return self.info.encoding

    @property
    def decision(self) -> Decision:
        """The accept/reject rule the bundle was calibrated with (score, temperature, threshold, lengths)."""
        return Decision.from_record(self.info.threshold, self.path)

    @property
    def architecture(self) -> str:
        return self.info.architecture

    @property
    def hyperparameters(self) -> dict[str, Any]:
        return self.info.hyperparameters

    def reference(self):
        """The :class:`deepmir_tools.reference.Reference` the bundle carries (built once), or None."""
        if self._reference is None and self.info.reference is not None:
            from .reference import Reference

            try:
                self._reference = Reference.from_arrays(self.reference_arrays, self.info.reference["families"])
            except (KeyError, TypeError, ValueError) as exc:
                raise ModelBundleError(f"{self.path}: malformed reference ({exc})") from None
        return self._reference

    def keras_model(self):
        """The rebuilt Keras model with this bundle's weights (built once)."""
        if self._model is None:
            self._model = _rebuild(self)
        return self._model


def shipped_model_path(name: str) -> str:
    """Path of a model shipped inside the package (``hairpin`` or ``mature``)."""
    resource = importlib.resources.files("deepmir_tools") / "models" / f"{name}.npz"
    return str(resource)


def resolve_model(name_or_path: str) -> str:
    """A shipped model name or a bundle path -> a bundle path."""
    if name_or_path in SHIPPED_MODELS:
        path = shipped_model_path(name_or_path)
        if not os.path.exists(path):
            raise ModelBundleError(f"shipped model '{name_or_path}' is missing from this installation ({path})")
        return path
    return name_or_path


def _group_weights(path: str, arrays: dict[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    layers: dict[str, dict[int, np.ndarray]] = {}
    for key, array in arrays.items():
        if key == "meta" or key.startswith(REFERENCE_PREFIX):
            continue
        if not key.startswith(_WEIGHT_PREFIX) or key.count(":") != 2:
            raise ModelBundleError(f"{path}: unexpected array '{key}' in model bundle")
        _, layer, index = key.split(":")
        if not index.isdigit():
            raise ModelBundleError(f"{path}: unexpected array '{key}' in model bundle")
        if array.dtype not in (np.float32, np.float16):
            raise ModelBundleError(f"{path}: weight '{key}' has dtype {array.dtype}, expected float32/float16")
        layers.setdefault(layer, {})[int(index)] = array
    return {layer: [items[i] for i in sorted(items)] for layer, items in layers.items()}


def _check_output_units(path: str, meta: BundleMeta, weights: dict[str, list[np.ndarray]]) -> None:
    # caught here, with a message that says what is wrong, rather than as a weight-shape mismatch later
    output = weights.get(OUTPUT_LAYER)
    if output and output[-1].ndim == 1 and output[-1].shape[0] != len(meta.classes):
        raise ModelBundleError(
            f"{path}: model bundle lists {len(meta.classes)} classes but its output layer has "
            f"{output[-1].shape[0]} units"
        )


def load_bundle(name_or_path: str) -> ModelBundle:
    """Load and validate a bundle (a shipped model name or a path); weight shapes are checked lazily."""
    path = resolve_model(name_or_path)
    arrays = load_npz_arrays(path)
    meta = BundleMeta.from_json(parse_meta(path, arrays, FORMAT_NAME), path)
    weights = _group_weights(path, arrays)
    _check_output_units(path, meta, weights)
    reference = _reference_arrays(path, meta, arrays)
    return ModelBundle(path=path, info=meta, weights=weights, sha256=sha256_of_file(path), reference_arrays=reference)


def _reference_arrays(path: str, meta: BundleMeta, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The ``ref:*`` arrays (prefix removed), checked for presence and kind; all or none with ``meta["reference"]``."""
    found = {key[len(REFERENCE_PREFIX):]: array for key, array in arrays.items() if key.startswith(REFERENCE_PREFIX)}
    if meta.reference is None:
        if found:
            raise ModelBundleError(f"{path}: reference arrays without a reference record in meta")
        return {}
    if set(found) != set(_REFERENCE_DTYPES) or any(found[k].dtype.kind != kind or found[k].ndim != 1
                                                   for k, kind in _REFERENCE_DTYPES.items()):
        raise ModelBundleError(f"{path}: malformed reference arrays (expected 1-D {', '.join(_REFERENCE_DTYPES)})")
    return found


def _rebuild(bundle: ModelBundle):
    from .models import configure_tensorflow

    configure_tensorflow(deterministic=False)
    encoding = bundle.encoding
    try:
        model = build_model(
            bundle.architecture, len(bundle.classes), bundle.hyperparameters, encoding["encoding"], encoding["max_len"]
        )
    except (TypeError, ValueError, KeyError) as exc:  # tampered or foreign hyperparameters/encoding
        raise ModelBundleError(f"{bundle.path}: cannot build the {bundle.architecture} network from the bundle's "
                               f"hyperparameters/encoding ({exc})") from None
    _set_weights(bundle, model)
    return model


def _set_weights(bundle: ModelBundle, model) -> None:
    expected = {layer.name for layer in model.layers if layer.weights}
    if expected != set(bundle.weights):
        raise ModelBundleError(
            f"{bundle.path}: weights do not match the architecture (layers {sorted(set(bundle.weights) ^ expected)})"
        )
    for layer in model.layers:
        if not layer.weights:
            continue
        arrays = bundle.weights[layer.name]
        shapes = [tuple(w.shape) for w in layer.weights]
        if [a.shape for a in arrays] != shapes:
            raise ModelBundleError(
                f"{bundle.path}: layer '{layer.name}' weights have shapes {[a.shape for a in arrays]}, expected {shapes}"
            )
        layer.set_weights([a.astype(np.float32) for a in arrays])


def weights_of(model, float16: bool = False) -> dict[str, np.ndarray]:
    """The ``w:<layer>:<i>`` arrays of a Keras model."""
    dtype = np.float16 if float16 else np.float32
    out = {}
    for layer in model.layers:
        for index, weight in enumerate(layer.get_weights()):
            out[f"{_WEIGHT_PREFIX}{layer.name}:{index}"] = np.asarray(weight, dtype=dtype)
    return out


def versions() -> dict[str, str]:
    """Versions recorded in a bundle (package, Python, TensorFlow, Keras, numpy)."""
    found = {"deepmir_tools": __version__, "python": sys.version.split()[0], "numpy": np.__version__}
    for module in ("tensorflow", "keras"):
        if module in sys.modules:
            found[module] = getattr(sys.modules[module], "__version__", "?")
    return found


def save_bundle(path: str, meta: BundleMeta, weights: dict[str, np.ndarray],
                reference: Mapping[str, np.ndarray] | None = None) -> None:
    """Write a bundle atomically (``reference``: the ``ref:*`` arrays, prefix included)."""
    arrays = dict(weights, **(reference or {}), meta=np.array(json.dumps(meta.to_json(), sort_keys=True)))
    with atomic_output(path, "wb") as handle:
        np.savez_compressed(handle, **arrays)


def save_model(path: str, model, meta: BundleMeta | Mapping[str, Any], float16: bool = False) -> None:
    """Write a Keras model and its metadata (a ``meta`` mapping is checked first) as a bundle; the weights'
    dtype and the versions of the software are recorded."""
    if not isinstance(meta, BundleMeta):
        meta = BundleMeta.from_json(meta, path)
    meta = replace(meta, weights_dtype="float16" if float16 else "float32", versions=versions())
    save_bundle(path, meta, weights_of(model, float16))


def with_threshold(bundle: ModelBundle, threshold: ThresholdRecord, path: str,
                   extra: Mapping[str, Any] | None = None, reference: Any = None,
                   reference_record: ReferenceRecord | None = None) -> None:
    """Write a copy of ``bundle`` to ``path`` with a new threshold record and the ``meta`` fields in ``extra``
    replaced (e.g. ``metrics``); the input is left untouched. ``reference`` (a
    :class:`deepmir_tools.reference.Reference`, with its ``reference_record``) replaces the bundle's reference;
    without it the bundle's own is kept."""
    record = {**bundle.info.to_json(), "threshold": threshold, **(extra or {})}
    arrays = {f"{REFERENCE_PREFIX}{key}": array for key, array in bundle.reference_arrays.items()}
    if reference is not None:
        record["reference"] = reference_record
        arrays = {f"{REFERENCE_PREFIX}{key}": array for key, array in reference.arrays().items()}
    meta = BundleMeta.from_json(record, path)
    weights = {f"{_WEIGHT_PREFIX}{layer}:{i}": array
               for layer, arrays_ in bundle.weights.items() for i, array in enumerate(arrays_)}
    save_bundle(path, meta, weights, arrays)
