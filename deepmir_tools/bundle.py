"""Model bundle v1: one NPZ file with weight arrays and a JSON ``meta`` string.

Loading never executes code: the file is read with ``allow_pickle=False``, the network is
rebuilt by :mod:`deepmir_tools.models` from the hyperparameters in ``meta``, and the weight
arrays are checked against the rebuilt layers' shapes before they are set. The format is
independent of Keras' own save formats, so a TensorFlow/Keras upgrade cannot break a
user's model. Keys (documented in README.md, "File formats"):

- ``meta``: JSON (format ``deepmir-model``, ``format_version`` 1, name, architecture,
  hyperparameters, encoding, classes, threshold, training provenance, metrics, versions);
- ``w:<layer>:<i>``: the i-th weight array of layer ``<layer>`` (float32 or float16).
"""

from __future__ import annotations

import copy
import importlib.resources
import json
import os
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import __version__
from .atomic import atomic_output
from .decision import Decision
from .encodings import ENCODINGS
from .errors import ModelBundleError
from .npzformat import FORMAT_VERSION, load_npz_arrays, parse_meta, sha256_of_file
from .models import ARCHITECTURES, build_model

FORMAT_NAME = "deepmir-model"
SHIPPED_MODELS = ("hairpin", "mature")
PAPER_THRESHOLD = 0.977
_WEIGHT_PREFIX = "w:"


@dataclass
class ModelBundle:
    """A loaded bundle: its metadata, weight arrays and (lazily) the Keras model."""

    path: str
    meta: dict[str, Any]
    weights: dict[str, list[np.ndarray]]
    sha256: str
    _model: Any = None

    @property
    def name(self) -> str:
        return self.meta.get("name", os.path.basename(self.path))

    @property
    def classes(self) -> list[tuple[str, str]]:
        return [(accession, name) for accession, name in self.meta["classes"]]

    @property
    def encoding(self) -> dict[str, Any]:
        return self.meta["encoding"]

    @property
    def decision(self) -> Decision:
        """The accept/reject rule the bundle was calibrated with (score, temperature, threshold, lengths)."""
        return Decision.from_record(self.meta["threshold"], self.path)

    @property
    def architecture(self) -> str:
        return self.meta["architecture"]

    @property
    def hyperparameters(self) -> dict[str, Any]:
        return self.meta["hyperparameters"]

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
        if key == "meta":
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


def _check_meta(path: str, meta: dict[str, Any]) -> None:
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


def _check_class_count(path: str, meta: dict[str, Any], weights: dict[str, list[np.ndarray]]) -> None:
    # caught here, with a message that says what is wrong, rather than as a weight-shape mismatch later
    output = weights.get("softmax")
    if output and output[-1].ndim == 1 and output[-1].shape[0] != len(meta["classes"]):
        raise ModelBundleError(
            f"{path}: model bundle lists {len(meta['classes'])} classes but its output layer has "
            f"{output[-1].shape[0]} units"
        )


def load_bundle(name_or_path: str) -> ModelBundle:
    """Load and validate a bundle (a shipped model name or a path); weight shapes are checked lazily."""
    path = resolve_model(name_or_path)
    arrays = load_npz_arrays(path)
    meta = parse_meta(path, arrays, FORMAT_NAME)
    _check_meta(path, meta)
    weights = _group_weights(path, arrays)
    _check_class_count(path, meta, weights)
    return ModelBundle(path=path, meta=meta, weights=weights, sha256=sha256_of_file(path))


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


def save_bundle(path: str, meta: dict[str, Any], weights: dict[str, np.ndarray]) -> None:
    """Write a bundle atomically (``meta`` gets the format name and version added)."""
    full = dict(meta, format=FORMAT_NAME, format_version=FORMAT_VERSION)
    arrays = dict(weights, meta=np.array(json.dumps(full, sort_keys=True)))
    with atomic_output(path, "wb") as handle:
        np.savez_compressed(handle, **arrays)


def save_model(path: str, model, meta: dict[str, Any], float16: bool = False) -> None:
    """Write a Keras model and its metadata as a bundle."""
    meta = dict(meta, weights_dtype="float16" if float16 else "float32", versions=versions())
    save_bundle(path, meta, weights_of(model, float16))


def with_threshold(bundle: ModelBundle, threshold: dict[str, Any], path: str, extra: dict[str, Any] | None = None) -> None:
    """Write a copy of ``bundle`` to ``path`` with a new threshold record (input left untouched)."""
    meta = copy.deepcopy(bundle.meta)
    meta["threshold"] = threshold
    if extra:
        meta.update(extra)
    meta.pop("format", None)
    meta.pop("format_version", None)
    weights = {f"{_WEIGHT_PREFIX}{layer}:{i}": array for layer, arrays in bundle.weights.items() for i, array in enumerate(arrays)}
    save_bundle(path, meta, weights)


def paper_threshold() -> dict[str, Any]:
    """The default threshold record: the paper's 0.977 (Fig. 7, FPR 0.05 on Rfam-60)."""
    return {"value": PAPER_THRESHOLD, "method": "paper default (Tang & Sun 2019, Fig. 7: FPR 0.05 on Rfam-60)"}
