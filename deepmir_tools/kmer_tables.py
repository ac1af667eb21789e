"""One-hot CNN inference as k-mer table look-ups (numpy + numba; TensorFlow is not imported).

A one-hot input has exactly one 1 among its 4 channels (none for N, IUPAC codes and
padding), so a Conv1D window of width k is the sum of k weight rows picked by the bases,
not a k x 4 x filters product. Summing rows base by base is still k additions per window;
instead each kernel is cut into chunks of up to 4 positions and every possible chunk
content (5^4 = 625 with "no base" as a fifth letter) gets its pre-summed row in a table.
A width-16 window is then 4 look-ups and 3 additions of a 512-vector, against 16 x 4 x 512
multiply-adds for the convolution. A numba loop does the look-ups, additions and the
global max per sequence, and a second one the two dense layers (not BLAS: see
:func:`deepmir_tools.table_kernel.dense_rows`).

Exactness: each sequence is scored as the Keras model scores it zero-padded to the model
length (the paper's 200 nt), without computing the padding windows one by one. Windows
lying wholly in padding are all 0 before the bias, so one of them stands for all; windows
that overhang the end of the sequence are computed. ReLU and the bias are monotone, so they
are applied after the max: relu(max(x) + b) equals max(relu(x + b)). A filter whose largest
possible window sum plus bias is <= 0 is always 0 after ReLU and is left out (with its row
of the dense layer): 449 of the shipped hairpin model's 4,096 filters.

Measured side by side on the shipped hairpin model, 1 core, 1,024 Rfam hairpins: the same
tables as XLA-compiled TensorFlow ops 0.50 ms, this loop 0.17 ms (+ ~0.1 ms for the dense
layers) per hairpin, with identical logits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from .encodings import base_indices
from .errors import ModelBundleError
from .models import HIDDEN_LAYER, ONEHOT_CNN, OUTPUT_LAYER, conv_layer, weight_shapes

if TYPE_CHECKING:
    from .bundle import ModelBundle

NO_BASE = 4  # token of N, IUPAC codes and padding: a zero row of the one-hot matrix
CHUNK = 4  # bases per table look-up: 5^4 rows x filters floats (1.3 MB for 512 filters)


def tokens_from_codes(codes: np.ndarray) -> np.ndarray:
    """int32 tokens 0..4 from :func:`encodings.base_indices` codes (255 = no base -> 4)."""
    return np.minimum(codes, NO_BASE).astype(np.int32)


def tokens_and_lengths(seqs: Sequence[str], max_len: int, widest_kernel: int) -> tuple[np.ndarray, np.ndarray]:
    """Tokens and lengths of sequences for :meth:`KmerTableModel.logits` with ``padded_to=max_len``.

    Sequences longer than ``max_len`` are cut; the array is as narrow as the longest allows.
    """
    lengths = np.fromiter((min(len(s), max_len) for s in seqs), dtype=np.int64, count=len(seqs))
    width = min(int(lengths.max(initial=0)) + widest_kernel - 1, max_len)
    return tokens_from_codes(base_indices(seqs, width)), lengths


def tokens_from_onehot(x: np.ndarray) -> np.ndarray:
    """int32 tokens 0..4 from a (N, L, 4) one-hot array (all-zero rows -> 4)."""
    return np.where(x.any(axis=-1), x.argmax(axis=-1), NO_BASE).astype(np.int32)


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


def live_filters(weights: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Mask of the filters that can be > 0 after ReLU for some input (a base or no base per position)."""
    largest = np.maximum(weights.max(axis=1), 0.0).sum(axis=0) + bias  # no base contributes 0
    return largest > 0


def check_weights(path: str, weights: dict[str, list[np.ndarray]], hyper: dict[str, Any], n_classes: int) -> None:
    """Refuse weights whose layers or shapes do not fit the one-hot CNN (no out-of-bounds look-ups later)."""
    try:
        expected = weight_shapes(ONEHOT_CNN, n_classes, hyper)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelBundleError(f"{path}: malformed one-hot CNN hyperparameters ({exc})") from None
    if set(weights) != set(expected):
        raise ModelBundleError(f"{path}: weights do not match the architecture (layers {sorted(set(weights) ^ set(expected))})")
    for layer, shapes in expected.items():
        got = [tuple(a.shape) for a in weights[layer]]
        if got != shapes:
            raise ModelBundleError(f"{path}: layer '{layer}' weights have shapes {got}, expected {shapes}")


class KmerTableModel:
    """Logits of a one-hot CNN bundle (``models.build_onehot_cnn``) through chunk tables."""

    def __init__(self, weights: dict[str, list[np.ndarray]], kernel_sizes: list[int]):
        """``weights``: a bundle's arrays by layer name, of the shapes :func:`check_weights` accepts."""
        tables, starts, offsets, widths, first_chunk, feature_start, biases, kept = [], [], [], [], [0], [0], [], []
        position = 0
        for k in kernel_sizes:
            kernel, bias = (np.asarray(a, dtype=np.float32) for a in weights[conv_layer(k)])
            live = live_filters(kernel, bias)
            kept.append(live)
            for offset, width, table in chunk_tables(kernel[:, :, live]):
                tables.append(table.ravel())
                starts.append(position)
                offsets.append(offset)
                widths.append(width)
                position += table.size
            first_chunk.append(len(starts))
            feature_start.append(feature_start[-1] + int(live.sum()))
            biases.append(bias[live])
        self.kernel_sizes = np.asarray(kernel_sizes, dtype=np.int64)
        self.tables = np.concatenate(tables) if tables else np.zeros(0, np.float32)
        self.chunk_start = np.asarray(starts, dtype=np.int64)
        self.chunk_offset = np.asarray(offsets, dtype=np.int64)
        self.chunk_width = np.asarray(widths, dtype=np.int64)
        self.first_chunk = np.asarray(first_chunk, dtype=np.int64)
        self.feature_start = np.asarray(feature_start, dtype=np.int64)
        self.bias = np.concatenate(biases).astype(np.float32)
        dense, dense_bias = (np.asarray(a, dtype=np.float32) for a in weights[HIDDEN_LAYER])
        self.dense = np.ascontiguousarray(dense[np.concatenate(kept)])  # rows of left-out filters multiply 0
        self.dense_bias = dense_bias
        self.output, self.output_bias = (np.asarray(a, dtype=np.float32) for a in weights[OUTPUT_LAYER])

    @classmethod
    def from_bundle(cls, bundle: ModelBundle) -> KmerTableModel:
        """The tables of a one-hot bundle, its weight shapes checked first (a bad shape is a ModelBundleError)."""
        check_weights(bundle.path, bundle.weights, bundle.hyperparameters, len(bundle.classes))
        return cls(bundle.weights, bundle.hyperparameters["kernel_sizes"])

    def pooled(self, tokens: np.ndarray, lengths: np.ndarray, padded_to: int, threads: int = 0) -> np.ndarray:
        """(N, live filters) ReLU(global max + bias) of each row, as Keras sees it zero-padded to ``padded_to``.

        Row i holds its ``lengths[i]`` bases first; ``tokens`` must be at least
        min(longest + widest kernel - 1, padded_to) wide, padded with :data:`NO_BASE`.
        """
        widest = int(self.kernel_sizes.max())
        need = min(int(lengths.max(initial=0)) + widest - 1, padded_to)
        if tokens.ndim != 2 or tokens.shape[1] < need or len(lengths) != len(tokens) or padded_to < widest:
            raise ValueError(f"tokens {tokens.shape} too narrow for lengths up to {lengths.max(initial=0)} "
                             f"(padded to {padded_to}, widest kernel {widest})")
        if tokens.size and (tokens.min() < 0 or tokens.max() > NO_BASE):  # they index the tables unchecked
            raise ValueError(f"tokens outside 0..{NO_BASE}")
        _set_numba_threads(threads)
        return _kernels().pool_rows(np.ascontiguousarray(tokens, dtype=np.int32),
                                    np.minimum(lengths, padded_to).astype(np.int64), padded_to, self.kernel_sizes,
                                    self.first_chunk, self.feature_start, self.chunk_start, self.chunk_offset,
                                    self.chunk_width, self.tables, self.bias)

    def logits(self, tokens: np.ndarray, lengths: np.ndarray, padded_to: int, threads: int = 0) -> np.ndarray:
        """(N, classes) float32 logits; see :meth:`pooled` for the arguments."""
        return self.dense_layers(self.pooled(tokens, lengths, padded_to, threads), threads)

    def hidden_layer(self, features: np.ndarray, threads: int = 0) -> np.ndarray:
        """ReLU activations of the 1,024-unit dense layer for pooled features."""
        return _dense(features, self.dense, self.dense_bias, True, threads)

    def output_layer(self, hidden: np.ndarray, threads: int = 0) -> np.ndarray:
        """Logits of dense-layer activations."""
        return _dense(hidden, self.output, self.output_bias, False, threads)

    def dense_layers(self, features: np.ndarray, threads: int = 0) -> np.ndarray:
        """Logits of pooled features; each row's result depends neither on ``threads`` nor on the other rows."""
        return self.output_layer(self.hidden_layer(features, threads), threads)


def _dense(inputs: np.ndarray, weights: np.ndarray, bias: np.ndarray, relu: bool, threads: int) -> np.ndarray:
    """One dense layer through :func:`deepmir_tools.table_kernel.dense_rows` on ``threads`` (0 = all)."""
    _set_numba_threads(threads)
    return _kernels().dense_rows(np.ascontiguousarray(inputs, np.float32), weights, bias, relu)


def _set_numba_threads(threads: int) -> None:
    from .cache import prepare_numba

    prepare_numba()  # before the first import of numba: where it caches kernels
    import numba

    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS) if threads else numba.config.NUMBA_NUM_THREADS)


def _kernels():
    """The numba-compiled loops (imported on first use: commands that never score one-hot input skip numba)."""
    from . import table_kernel

    return table_kernel
