"""Logits of sequences under a model bundle, fast and exact.

One-hot models run through :mod:`kmer_tables` (table look-ups and the dense layers in numba
loops; TensorFlow is not imported): each sequence is scored exactly as the Keras model
scores it zero-padded to the model length, to the same bits whatever the batch.
``DEEPMIR_ONEHOT_BACKEND=keras`` runs the Keras model instead (the two agree to ~1e-6): groups of sequences sorted by length
are padded to their longest length plus the widest kernel (rounded up, capped at the model
length), which with global max pooling gives the scores of the paper's fixed 200-nt padding.
Matrix models always run in Keras.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from .bundle import ModelBundle
from .encodings import encode, model_input, one_hot
from .kmer_tables import KmerTableModel, tokens_and_lengths, tokens_from_onehot
from .models import ONEHOT_CNN, OUTPUT_LAYER, configure_tensorflow, largest_kernel

PAD_MULTIPLE = 8  # round padded lengths up to limit the number of distinct input shapes (Keras path)
TABLE_ROWS = 2048  # sequences per call into the table model (its cost does not depend on padding)


def padded_length(longest: int, kernel: int, max_len: int) -> int:
    """Length a group is padded to: longest + kernel, rounded up, capped at ``max_len``."""
    target = longest + kernel
    target = -(-target // PAD_MULTIPLE) * PAD_MULTIPLE
    return max(min(target, max_len), longest)


class Scorer:
    """Batched logits of a bundle's model (built once, reused)."""

    def __init__(self, bundle: ModelBundle, batch_size: int = 256, threads: int = 0):
        """Scores are logits (pre-softmax): the bundle's :class:`~deepmir_tools.decision.Decision` turns
        them into probabilities and a decision score. ``threads``: 0 = all cores."""
        self.bundle = bundle
        self.batch_size = batch_size
        self.threads = threads
        self.encoding = bundle.encoding
        self.kernel = largest_kernel(bundle.architecture, bundle.hyperparameters)
        self.tables = None
        if bundle.architecture == ONEHOT_CNN and os.environ.get("DEEPMIR_ONEHOT_BACKEND", "tables") != "keras":
            self.tables = KmerTableModel.from_bundle(bundle)
            return
        configure_tensorflow(threads, deterministic=True)
        self.model = bundle.keras_model()
        self._predict = _compiled_logits(self.model)

    def _run(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self._predict(x), dtype=np.float32)

    def _run_tables(self, tokens: np.ndarray, lengths: np.ndarray, padded_to: int) -> np.ndarray:
        return self.tables.logits(tokens, lengths, padded_to, self.threads)

    def _rows_per_batch(self, width: int) -> int:
        return max(1, self.batch_size * self.encoding["max_len"] // width)

    def _next_batch(self, lengths: np.ndarray, order: np.ndarray, start: int) -> tuple[int, int]:
        """(stop, width) of the Keras batch from sorted position ``start``.

        Batches hold ``batch_size`` x ``max_len`` positions, so short reads go in larger
        batches than hairpins (fewer, fuller calls into TensorFlow).
        """
        max_len = self.encoding["max_len"]
        width = padded_length(int(lengths[order[start]]), self.kernel, max_len)
        stop = min(len(order), start + max(self.batch_size, self._rows_per_batch(width)))
        return stop, padded_length(int(lengths[order[stop - 1]]), self.kernel, max_len)

    def _table_scores(self, seqs: Sequence[str]) -> np.ndarray:
        """(N, classes) logits through the tables, in batches of :data:`TABLE_ROWS` in input order."""
        max_len = self.encoding["max_len"]
        out = np.zeros((len(seqs), len(self.bundle.classes)), dtype=np.float32)
        for start in range(0, len(seqs), TABLE_ROWS):
            tokens, lengths = tokens_and_lengths(seqs[start : start + TABLE_ROWS], max_len, self.kernel)
            out[start : start + len(tokens)] = self._run_tables(tokens, lengths, max_len)
        return out

    def onehot_scores(self, seqs: Sequence[str]) -> np.ndarray:
        """(N, classes) logits of one-hot sequences."""
        if self.tables is not None:
            return self._table_scores(seqs)
        lengths = np.fromiter((min(len(s), self.encoding["max_len"]) for s in seqs), dtype=np.int64, count=len(seqs))
        order = np.argsort(lengths, kind="stable")
        out = np.zeros((len(seqs), len(self.bundle.classes)), dtype=np.float32)
        start = 0
        while start < len(seqs):
            stop, width = self._next_batch(lengths, order, start)
            rows = order[start:stop]
            out[rows] = self._run(one_hot([seqs[i] for i in rows], width).astype(np.float32))
            start = stop
        return out

    def encoded_scores(self, x: np.ndarray) -> np.ndarray:
        """(N, classes) logits of already encoded inputs (NPZ ``x``)."""
        encoding = self.encoding["encoding"]
        out = np.zeros((len(x), len(self.bundle.classes)), dtype=np.float32)
        if self.tables is not None and encoding == "onehot":
            width = x.shape[1]  # every window of the stored (already padded) input, as Keras computes them
            for start in range(0, len(x), TABLE_ROWS):
                tokens = tokens_from_onehot(x[start : start + TABLE_ROWS])
                out[start : start + len(tokens)] = self._run_tables(tokens, np.full(len(tokens), width), width)
            return out
        for start in range(0, len(x), self.batch_size):
            batch = model_input(x[start : start + self.batch_size], encoding, self.encoding.get("ordered", True))
            out[start : start + len(batch)] = self._run(batch)
        return out

    def scores(self, seqs: Sequence[str], threads: int = 1, progress: bool = False) -> np.ndarray:
        """(N, classes) logits of raw sequences under the bundle's encoding."""
        if not len(seqs):
            return np.zeros((0, len(self.bundle.classes)), dtype=np.float32)
        if self.bundle.architecture == ONEHOT_CNN:
            return self.onehot_scores(seqs)
        enc = self.encoding
        x = encode(seqs, enc["encoding"], enc["max_len"], enc["threshold_T"], enc.get("ordered", True), threads, progress)
        return self.encoded_scores(x)


def _compiled_logits(model):
    """Logits = penultimate activations x softmax-layer weights + bias (the softmax layer's input)."""
    import keras
    import tensorflow as tf

    output_layer = model.get_layer(OUTPUT_LAYER)
    features = keras.Model(model.inputs, output_layer.input)
    kernel, bias = output_layer.get_weights()

    @tf.function(reduce_retracing=True)
    def penultimate(x):
        return features(x, training=False)

    return lambda x: penultimate(tf.convert_to_tensor(x)).numpy() @ kernel + bias


def top_k(probabilities: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of the ``k`` largest scores per row, best first (ties: lower index)."""
    k = min(k, probabilities.shape[1])
    order = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(probabilities, order, axis=1)
