"""The paper's CNN architectures, built in code from hyperparameters.

Model bundles store only hyperparameters and weight arrays; the network is always
rebuilt here, so loading a bundle never deserialises code. TensorFlow/Keras are imported
inside the functions so that light commands (``--help``, encoding) start fast.
"""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

ONEHOT_CNN = "onehot-cnn"
MATRIX_CNN = "matrix-cnn"
ARCHITECTURES = (ONEHOT_CNN, MATRIX_CNN)

# Names of the layers that hold weights. Bundles store weights by layer name (``w:<layer>:<i>``) and the
# k-mer table scorer reads them by name, so every name is spelt here only (see :func:`weight_shapes`).
OUTPUT_LAYER = "softmax"  # the last Dense layer, both architectures: logits = its input x kernel + bias
HIDDEN_LAYER = "dense"  # the one-hot CNN's dense layer (input of the output layer)


def conv_layer(kernel_size: int) -> str:
    """Name of the one-hot CNN's Conv1D layer of width ``kernel_size``."""
    return f"conv_k{kernel_size}"


def matrix_conv_layer(index: int) -> str:
    """Name of the matrix CNN's ``index``-th (1-based) Conv2D layer."""
    return f"conv{index}"


def matrix_dense_layer(index: int) -> str:
    """Name of the matrix CNN's ``index``-th (1-based) hidden Dense layer."""
    return f"dense{index}"


@dataclass
class OneHotCNNParams:
    """One-hot CNN (paper Fig. 4): parallel Conv1D + global max pooling, dense, softmax."""

    kernel_sizes: list[int] = field(default_factory=lambda: [2, 4, 6, 8, 10, 12, 14, 16])
    filters: int = 512
    dense: int = 1024
    dropout: float = 0.7


@dataclass
class MatrixCNNParams:
    """Matrix CNN (paper Fig. 3): 2 x (Conv2D + max pooling), 2 dense layers, softmax."""

    conv_filters: list[int] = field(default_factory=lambda: [64, 128])
    kernel_size: int = 2
    pool_size: int = 2
    dense_units: list[int] = field(default_factory=lambda: [256, 128])
    dropout: float = 0.5


def default_params(architecture: str) -> dict[str, Any]:
    """The paper's hyperparameters of ``architecture`` as a plain dict."""
    if architecture == ONEHOT_CNN:
        return asdict(OneHotCNNParams())
    if architecture == MATRIX_CNN:
        return asdict(MatrixCNNParams())
    raise ValueError(f"unknown architecture {architecture!r}")


def architecture_for(encoding: str) -> str:
    """One-hot input uses the 1D CNN; the structure matrices use the 2D CNN."""
    return ONEHOT_CNN if encoding == "onehot" else MATRIX_CNN


def import_tensorflow():
    """Import TensorFlow and Keras with their C++ start-up banner kept off stderr.

    TensorFlow 2.21 prints oneDNN/CPU-feature notices through absl before its log level
    applies, so ``TF_CPP_MIN_LOG_LEVEL`` cannot hide them; file descriptor 2 is pointed at
    /dev/null for the import only (``DEEPMIR_TF_VERBOSE=1`` keeps them).
    """
    if "tensorflow" in sys.modules or os.environ.get("DEEPMIR_TF_VERBOSE"):
        import tensorflow as tf
        import keras  # noqa: F401

        return tf
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow as tf
        import keras  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    return tf


def configure_tensorflow(threads: int = 0, deterministic: bool = True) -> None:
    """Import TensorFlow quietly, set thread pools and op determinism.

    Thread settings only take effect before TensorFlow executes its first op.
    """
    tf = import_tensorflow()

    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:
            pass  # already initialised in this process; keep its settings
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def input_channels(encoding: str) -> int:
    """Channels of the network input for an encoding (mixed has 2, prob/pair 1)."""
    return 2 if encoding == "mixed" else 1


def build_onehot_cnn(n_classes: int, params: dict[str, Any]):
    """Keras model: (batch, length, 4) -> softmax over ``n_classes``; any length >= max kernel."""
    import keras
    from keras import layers

    p = OneHotCNNParams(**params)
    inputs = keras.Input(shape=(None, 4), name="sequence")
    pooled = [
        layers.GlobalMaxPooling1D(name=f"pool_k{k}")(layers.Conv1D(p.filters, k, activation="relu", name=conv_layer(k))(inputs))
        for k in p.kernel_sizes
    ]
    x = layers.Concatenate(name="concat")(pooled) if len(pooled) > 1 else pooled[0]
    x = layers.Dropout(p.dropout, name="dropout")(x)
    x = layers.Dense(p.dense, activation="relu", name=HIDDEN_LAYER)(x)
    outputs = layers.Dense(n_classes, activation="softmax", name=OUTPUT_LAYER, dtype="float32")(x)
    return keras.Model(inputs, outputs, name=ONEHOT_CNN)


def build_matrix_cnn(n_classes: int, params: dict[str, Any], max_len: int, channels: int):
    """Keras model: (batch, L, L, channels) -> softmax over ``n_classes``."""
    import keras
    from keras import layers

    p = MatrixCNNParams(**params)
    inputs = keras.Input(shape=(max_len, max_len, channels), name="matrix")
    x = inputs
    for index, filters in enumerate(p.conv_filters, start=1):
        x = layers.Conv2D(filters, p.kernel_size, activation="relu", name=matrix_conv_layer(index))(x)
        x = layers.MaxPooling2D(p.pool_size, name=f"pool{index}")(x)
    x = layers.Flatten(name="flatten")(x)
    for index, units in enumerate(p.dense_units, start=1):
        x = layers.Dense(units, activation="relu", name=matrix_dense_layer(index))(x)
        x = layers.Dropout(p.dropout, name=f"dropout{index}")(x)
    outputs = layers.Dense(n_classes, activation="softmax", name=OUTPUT_LAYER, dtype="float32")(x)
    return keras.Model(inputs, outputs, name=MATRIX_CNN)


def build_model(architecture: str, n_classes: int, params: dict[str, Any], encoding: str, max_len: int):
    """Build the network named by ``architecture`` (see :data:`ARCHITECTURES`)."""
    if architecture == ONEHOT_CNN:
        return build_onehot_cnn(n_classes, params)
    if architecture == MATRIX_CNN:
        return build_matrix_cnn(n_classes, params, max_len, input_channels(encoding))
    raise ValueError(f"unknown architecture {architecture!r}")


Shapes = dict[str, list[tuple[int, ...]]]


def weight_shapes(architecture: str, n_classes: int, params: dict[str, Any], encoding: str = "onehot",
                  max_len: int = 200) -> Shapes:
    """The layers with weights of the network :func:`build_model` builds, in model order, and the shapes of
    each layer's weight arrays (kernel, bias), computed from the hyperparameters without building anything.

    This is the contract between the Keras model, the bundle's ``w:<layer>:<i>`` arrays and the k-mer table
    scorer. Only the hyperparameters that shape weights are read (dropout is not), as they are stored;
    missing or malformed ones raise KeyError, TypeError or ValueError.
    """
    if architecture == ONEHOT_CNN:
        return _onehot_shapes(n_classes, params)
    if architecture == MATRIX_CNN:
        return _matrix_shapes(n_classes, params, max_len, input_channels(encoding))
    raise ValueError(f"unknown architecture {architecture!r}")


def _onehot_shapes(n_classes: int, params: dict[str, Any]) -> Shapes:
    filters, dense = int(params["filters"]), int(params["dense"])
    shapes = {conv_layer(k): [(int(k), 4, filters), (filters,)] for k in params["kernel_sizes"]}
    features = len(params["kernel_sizes"]) * filters  # the pooled filters of every width, concatenated
    shapes[HIDDEN_LAYER] = [(features, dense), (dense,)]
    shapes[OUTPUT_LAYER] = [(dense, n_classes), (n_classes,)]
    return shapes


def _matrix_shapes(n_classes: int, params: dict[str, Any], max_len: int, channels: int) -> Shapes:
    kernel, pool = int(params["kernel_size"]), int(params["pool_size"])
    shapes: Shapes = {}
    side, depth = int(max_len), channels
    for index, filters in enumerate(params["conv_filters"], start=1):
        shapes[matrix_conv_layer(index)] = [(kernel, kernel, depth, int(filters)), (int(filters),)]
        side, depth = (side - kernel + 1) // pool, int(filters)  # "valid" convolution, then pooling that drops the rest
    width = side * side * depth  # flattened
    for index, units in enumerate(params["dense_units"], start=1):
        shapes[matrix_dense_layer(index)] = [(width, int(units)), (int(units),)]
        width = int(units)
    shapes[OUTPUT_LAYER] = [(width, n_classes), (n_classes,)]
    return shapes


def largest_kernel(architecture: str, params: dict[str, Any]) -> int:
    """Widest convolution of a one-hot CNN (inputs are padded at least this much)."""
    return max(params["kernel_sizes"]) if architecture == ONEHOT_CNN else 0
