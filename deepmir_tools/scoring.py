"""Softmax scores of sequences under a model bundle, fast and exact.

One-hot inputs are grouped by length and each group is padded to at least its longest
length plus the widest kernel (rounded up to a few fixed widths, capped at the model
length). With global max pooling this gives exactly the scores of the paper's fixed
200-nt padding: every window the 200-padded input has is present (windows lying wholly in
padding all give the same ReLU(bias) value, and at least one of them is kept), and no
other window is added.

One-hot models run through :mod:`kmer_tables` (table look-ups compiled with XLA, ~1.6x
faster than Keras' Conv1D on CPU); ``DEEPMIR_ONEHOT_BACKEND=keras`` runs the Keras model
instead (the two agree to ~1e-6).
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from .bundle import ModelBundle
from .encodings import base_indices, encode, model_input, one_hot
from .kmer_tables import NO_BASE, KmerTableModel, bucket_width, tokens_from_codes, tokens_from_onehot
from .models import ONEHOT_CNN, largest_kernel

PAD_MULTIPLE = 8  # round padded lengths up to limit the number of distinct input shapes


def padded_length(longest: int, kernel: int, max_len: int) -> int:
    """Length a group is padded to: longest + kernel, rounded up, capped at ``max_len``."""
    target = longest + kernel
    target = -(-target // PAD_MULTIPLE) * PAD_MULTIPLE
    return max(min(target, max_len), longest)


class Scorer:
    """Batched softmax scores of a bundle's Keras model (built once, reused)."""

    def __init__(self, bundle: ModelBundle, batch_size: int = 256, logits: bool = False):
        """``logits=True`` returns pre-softmax logits instead of probabilities (for energy scores and
        temperature scaling, which callers apply)."""
        self.bundle = bundle
        self.batch_size = batch_size
        self.model = bundle.keras_model()
        self.encoding = bundle.encoding
        self.kernel = largest_kernel(bundle.architecture, bundle.hyperparameters)
        self.logits = logits
        self._predict = _compiled_logits(self.model) if logits else _compiled_predict(self.model)
        self.tables = None
        if bundle.architecture == ONEHOT_CNN and os.environ.get("DEEPMIR_ONEHOT_BACKEND", "tables") != "keras":
            self.tables = KmerTableModel(self.model, bundle.hyperparameters["kernel_sizes"])

    def _run(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self._predict(x), dtype=np.float32)

    def _rows_per_batch(self, width: int) -> int:
        return max(1, self.batch_size * self.encoding["max_len"] // width)

    def _run_tables(self, tokens: np.ndarray) -> np.ndarray:
        """Scores of a token batch, its rows padded up to the fixed count of its width (one compiled shape)."""
        count, rows = len(tokens), self._rows_per_batch(tokens.shape[1])
        if count < rows:
            tokens = np.vstack([tokens, np.full((rows - count, tokens.shape[1]), NO_BASE, dtype=np.int32)])
        logits = self.tables.logits(tokens)[:count]
        return logits if self.logits else softmax(logits)

    def _next_batch(self, lengths: np.ndarray, order: np.ndarray, start: int) -> tuple[int, int]:
        """(stop, width) of the batch from sorted position ``start``.

        Batches hold ``batch_size`` x ``max_len`` positions, so short reads go in larger
        batches than hairpins (fewer, fuller calls into TensorFlow).
        """
        max_len = self.encoding["max_len"]
        if self.tables is None:
            width = padded_length(int(lengths[order[start]]), self.kernel, max_len)
            stop = min(len(order), start + max(self.batch_size, self._rows_per_batch(width)))
            return stop, padded_length(int(lengths[order[stop - 1]]), self.kernel, max_len)
        width = bucket_width(int(lengths[order[start]]), self.kernel, max_len)
        while True:  # a wider last member means fewer rows; at most a second pass
            stop = min(len(order), start + self._rows_per_batch(width))
            last = bucket_width(int(lengths[order[stop - 1]]), self.kernel, max_len)
            if last <= width:
                return stop, width
            width = last

    def onehot_scores(self, seqs: Sequence[str]) -> np.ndarray:
        """(N, classes) softmax of one-hot sequences, length-bucketed."""
        max_len = self.encoding["max_len"]
        lengths = np.fromiter((min(len(s), max_len) for s in seqs), dtype=np.int64, count=len(seqs))
        order = np.argsort(lengths, kind="stable")
        out = np.zeros((len(seqs), len(self.bundle.classes)), dtype=np.float32)
        start = 0
        while start < len(seqs):
            stop, width = self._next_batch(lengths, order, start)
            rows = order[start:stop]
            batch = [seqs[i] for i in rows]
            if self.tables is None:
                out[rows] = self._run(one_hot(batch, width).astype(np.float32))
            else:
                out[rows] = self._run_tables(tokens_from_codes(base_indices(batch, width)))
            start = stop
        return out

    def encoded_scores(self, x: np.ndarray) -> np.ndarray:
        """(N, classes) softmax of already encoded inputs (NPZ ``x``)."""
        encoding = self.encoding["encoding"]
        out = np.zeros((len(x), len(self.bundle.classes)), dtype=np.float32)
        if self.tables is not None and encoding == "onehot":
            rows = self._rows_per_batch(x.shape[1])
            for start in range(0, len(x), rows):
                out[start : start + rows] = self._run_tables(tokens_from_onehot(x[start : start + rows]))
            return out
        for start in range(0, len(x), self.batch_size):
            batch = model_input(x[start : start + self.batch_size], encoding, self.encoding.get("ordered", True))
            out[start : start + len(batch)] = self._run(batch)
        return out

    def scores(self, seqs: Sequence[str], threads: int = 1, progress: bool = False) -> np.ndarray:
        """(N, classes) softmax for raw sequences under the bundle's encoding."""
        if not len(seqs):
            return np.zeros((0, len(self.bundle.classes)), dtype=np.float32)
        if self.bundle.architecture == ONEHOT_CNN:
            return self.onehot_scores(seqs)
        enc = self.encoding
        x = encode(seqs, enc["encoding"], enc["max_len"], enc["threshold_T"], enc.get("ordered", True), threads, progress)
        return self.encoded_scores(x)


def _compiled_predict(model):
    """A traced inference function; shapes vary, so retracing is kept generic."""
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def predict(x):
        return model(x, training=False)

    return lambda x: predict(tf.convert_to_tensor(x)).numpy()


def _compiled_logits(model):
    """Logits = penultimate activations x softmax-layer weights + bias (the softmax layer's input)."""
    import keras
    import tensorflow as tf

    output_layer = model.get_layer("softmax")
    features = keras.Model(model.inputs, output_layer.input)
    kernel, bias = output_layer.get_weights()

    @tf.function(reduce_retracing=True)
    def penultimate(x):
        return features(x, training=False)

    return lambda x: penultimate(tf.convert_to_tensor(x)).numpy() @ kernel + bias


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature`` (numerically stable).

    A temperature above 1 (Guo et al. 2017 temperature scaling) flattens overconfident
    outputs; it never changes the top family, only how scores of known and unknown
    sequences spread, which can separate them better (measured in benchmarks/).
    """
    if temperature != 1.0:
        logits = logits / temperature
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def top_k(probabilities: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of the ``k`` largest scores per row, best first (ties: lower index)."""
    k = min(k, probabilities.shape[1])
    order = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(probabilities, order, axis=1)
