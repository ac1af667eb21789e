"""One-hot CNN inference as k-mer table look-ups, compiled with XLA.

A one-hot input has exactly one 1 among its 4 channels (none for N, IUPAC codes and
padding), so a Conv1D window of width k is the sum of k weight rows picked by the bases,
not a k x 4 x filters product. Summing rows base by base is still k additions per window;
instead each kernel is cut into chunks of up to 4 positions and every possible chunk
content (5^4 = 625 with "no base" as a fifth letter) gets its pre-summed row in a table.
A width-16 window is then 4 look-ups and 3 additions of a 512-vector, against 16 x 4 x 512
multiply-adds for the convolution. XLA compiles the look-ups, additions and the global max
together; run as separate TensorFlow ops, the same tables were slower than Conv1D (1,851
against 3,188 hairpins/s), since every look-up then writes a (batch, length, filters) array.

ReLU and the bias are monotone, so they are applied after the max: relu(max(x) + b) equals
max(relu(x + b)). Measured on the shipped hairpin model (2 cores, 512 hairpins padded to 112):
Keras Conv1D 3,188 hairpins/s, these tables 5,297/s (maximum difference 5e-7 in the softmax).

Each distinct input shape is compiled once (~0.5 s), so callers pad to a few fixed widths
and row counts (see :data:`WIDTHS`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

NO_BASE = 4  # token of N, IUPAC codes and padding: a zero row of the one-hot matrix
CHUNK = 4  # bases per table look-up: 5^4 rows x filters floats (1.3 MB for 512 filters)
WIDTHS = (32, 48, 64, 96, 128, 160, 200)  # padded input widths (each one compiled once)


def tokens_from_codes(codes: np.ndarray) -> np.ndarray:
    """int32 tokens 0..4 from :func:`encodings.base_indices` codes (255 = no base -> 4)."""
    return np.minimum(codes, NO_BASE).astype(np.int32)


def tokens_from_onehot(x: np.ndarray) -> np.ndarray:
    """int32 tokens 0..4 from a (N, L, 4) one-hot array (all-zero rows -> 4)."""
    return np.where(x.any(axis=-1), x.argmax(axis=-1), NO_BASE).astype(np.int32)


def bucket_width(length: int, kernel: int, max_len: int) -> int:
    """Smallest of :data:`WIDTHS` holding ``length + kernel`` positions, capped at ``max_len``.

    ``length + kernel`` keeps at least one all-padding window (the paper's 200-nt padding
    has one whenever length + kernel <= 200), and never more than ``max_len`` positions,
    so every window of the 200-padded input is present and no other kind of window is added.
    """
    need = min(length + kernel, max_len)
    for width in WIDTHS:
        if width >= need:
            return min(width, max_len)
    return max_len


def chunk_tables(weights: np.ndarray) -> list[tuple[int, int, np.ndarray]]:
    """(offset, chunk width, table) for one Conv1D kernel of shape (k, 4, filters).

    ``table[code]`` is the sum of the kernel rows selected by the chunk's bases, with
    code = sum(token_j * 5^(w-1-j)) and token 4 selecting a zero row.
    """
    k, _, filters = weights.shape
    rows = np.concatenate([weights, np.zeros((k, 1, filters), weights.dtype)], axis=1)  # (k, 5, filters)
    tables = []
    for offset in range(0, k, CHUNK):
        width = min(CHUNK, k - offset)
        table = np.zeros((5,) * width + (filters,), dtype=np.float32)
        for j in range(width):
            shape = [1] * width + [filters]
            shape[j] = 5
            table = table + rows[offset + j].reshape(shape)
        tables.append((offset, width, table.reshape(5**width, filters)))
    return tables


class KmerTableModel:
    """Logits of a Keras one-hot CNN (``models.build_onehot_cnn``) through chunk tables."""

    def __init__(self, model: Any, kernel_sizes: list[int]):
        import tensorflow as tf

        self._tf = tf
        self.kernels = []
        for k in kernel_sizes:
            weights, bias = model.get_layer(f"conv_k{k}").get_weights()
            tables = [(offset, width, tf.constant(table)) for offset, width, table in chunk_tables(weights)]
            self.kernels.append((k, tables, tf.constant(bias)))
        self.dense = [tf.constant(w) for w in model.get_layer("dense").get_weights()]
        self.output = [tf.constant(w) for w in model.get_layer("softmax").get_weights()]
        self._compiled: dict[tuple[int, int], Any] = {}

    def _forward(self, tokens):
        tf = self._tf
        length = tokens.shape[1]
        codes = {}  # chunk width -> base-5 code of the chunk starting at each position
        for width in {w for _, tables, _ in self.kernels for _, w, _ in tables}:
            code = tokens[:, : length - width + 1]
            for j in range(1, width):
                code = code * 5 + tokens[:, j : length - width + 1 + j]
            codes[width] = code
        pooled = []
        for k, tables, bias in self.kernels:
            n = length - k + 1
            total = None
            for offset, width, table in tables:
                part = tf.gather(table, codes[width][:, offset : offset + n])
                total = part if total is None else total + part
            pooled.append(tf.nn.relu(tf.reduce_max(total, axis=1) + bias))
        hidden = tf.nn.relu(tf.matmul(tf.concat(pooled, axis=1), self.dense[0]) + self.dense[1])
        return tf.matmul(hidden, self.output[0]) + self.output[1]

    def logits(self, tokens: np.ndarray) -> np.ndarray:
        """(N, classes) float32 logits of int32 tokens (N, width); width >= the widest kernel."""
        shape = tokens.shape
        if shape not in self._compiled:
            # one traced function per shape: XLA compiles each shape once, and TensorFlow
            # does not warn about retracing a function called with changing shapes
            self._compiled[shape] = self._tf.function(self._forward, jit_compile=True)
        return self._compiled[shape](self._tf.constant(tokens)).numpy()
