"""The numba loops behind :class:`deepmir_tools.kmer_tables.KmerTableModel` (imported on first use):
the look-ups and max pooling, and the dense layers.

The loops import nothing from the package but :mod:`deepmir_tools.cache`: the table layout (chunk
offsets and widths) comes in as arrays, so :mod:`deepmir_tools.kmer_tables` alone depends on this module.

Compiled on first call (a few seconds each) and cached on disk in the per-user folder of
:mod:`deepmir_tools.cache` (never in the installed package); where that folder is not writable
they compile once per process.
Rows are independent, so the result does not depend on the thread count, and a row's
result does not depend on the other rows it is scored with.
"""

from __future__ import annotations

from . import cache

cache.prepare_numba()  # before numba is imported: it reads NUMBA_CACHE_DIR then

import numba  # noqa: E402
import numpy as np  # noqa: E402

# block of dense_rows: each weight row is read once per block of rows, and the block's sums (4 x 4 KB) stay in the
# L1 cache; of 2-16 rows x 256-1024 columns measured on the shipped hairpin model, about the fastest
DENSE_ROWS = 4
DENSE_COLUMNS = 1024


def _pool_rows(tokens, lengths, padded_to, kernel_sizes, first_chunk, feature_start, chunk_start, chunk_offset,
               chunk_width, tables, bias):
    """Per row, the max over its windows of the summed chunk-table rows, then ReLU(max + bias)."""
    rows, width = tokens.shape
    out = np.empty((rows, feature_start[-1]), np.float32)
    # the widest chunk, read off the table layout (not imported from kmer_tables, which imports this module)
    widest = 0
    for chunk in range(len(chunk_width)):
        widest = max(widest, chunk_width[chunk])
    for row in numba.prange(rows):
        codes = np.zeros((widest + 1, width), np.int64)  # codes[w, p]: base-5 code of tokens p .. p+w-1
        for w in range(1, widest + 1):
            for p in range(width - w + 1):
                code = 0
                for j in range(w):
                    code = code * 5 + tokens[row, p + j]
                codes[w, p] = code
        length = lengths[row]
        for kernel in range(len(kernel_sizes)):
            k = kernel_sizes[kernel]
            first, last = first_chunk[kernel], first_chunk[kernel + 1]
            f0, filters = feature_start[kernel], feature_start[kernel + 1] - feature_start[kernel]
            best = np.empty(filters, np.float32)
            fill = 0.0 if length + k <= padded_to else -np.inf  # an all-padding window exists, worth 0
            for f in range(filters):
                best[f] = fill
            total = np.empty(filters, np.float32)
            for p in range(min(length, padded_to - k + 1)):  # the windows holding at least one base
                # a slice per table row: indexing it with the loop counter alone lets LLVM vectorize
                # (tables[start + f] would need a negative-index check per element)
                start = chunk_start[first] + codes[chunk_width[first], p + chunk_offset[first]] * filters
                row_values = tables[start : start + filters]
                for f in range(filters):
                    total[f] = row_values[f]
                for chunk in range(first + 1, last):
                    start = chunk_start[chunk] + codes[chunk_width[chunk], p + chunk_offset[chunk]] * filters
                    row_values = tables[start : start + filters]
                    for f in range(filters):
                        total[f] += row_values[f]
                for f in range(filters):
                    if total[f] > best[f]:
                        best[f] = total[f]
            kernel_bias = bias[f0 : f0 + filters]
            for f in range(filters):
                value = best[f] + kernel_bias[f]
                out[row, f0 + f] = value if value > 0.0 else 0.0
    return out


def _dense_rows(features, weights, bias, relu):
    """features @ weights + bias (then ReLU if ``relu``), each sum in the order of the input units.

    Every output value is bias[j] + a_1 w_1j + a_2 w_2j + ... over the row's non-zero inputs,
    one rounded multiply and one rounded add at a time (no fused multiply-add, no reordering:
    the fastmath flags allow neither), so a row's logits are the same bits whatever its
    batch, its place in it, the thread count or the CPU. BLAS gives no such promise: its
    kernels, and where a row falls in their tiles, change with the matrix shape and the CPU,
    and with them the last bits (seen on CI's Intel AVX-512 machine; on the AMD machines here
    only with another OpenBLAS kernel set forced by OPENBLAS_CORETYPE).
    Zeros (most inputs after a ReLU) are skipped: adding 0 x w changes nothing.
    """
    rows, inputs = features.shape
    columns = weights.shape[1]
    out = np.empty((rows, columns), np.float32)
    for block in numba.prange((rows + DENSE_ROWS - 1) // DENSE_ROWS):
        first = block * DENSE_ROWS
        count = min(DENSE_ROWS, rows - first)
        by_input = np.zeros((inputs, DENSE_ROWS), np.float32)  # the block's rows, input-major
        for r in range(count):
            for i in range(inputs):
                by_input[i, r] = features[first + r, i]
        sums = np.empty((DENSE_ROWS, DENSE_COLUMNS), np.float32)
        for c0 in range(0, columns, DENSE_COLUMNS):
            width = min(DENSE_COLUMNS, columns - c0)
            for r in range(DENSE_ROWS):
                for j in range(width):
                    sums[r, j] = bias[c0 + j]
            for i in range(inputs):
                weight_row = weights[i, c0 : c0 + width]
                for r in range(DENSE_ROWS):
                    a = by_input[i, r]
                    if a != 0.0:
                        for j in range(width):
                            sums[r, j] += a * weight_row[j]
            for r in range(count):
                for j in range(width):
                    value = sums[r, j]
                    out[first + r, c0 + j] = value if value > 0.0 or not relu else 0.0
    return out


_FLAGS = {"nnan", "ninf", "nsz"}  # no "contract" (fused multiply-add) and no "reassoc": see _dense_rows
pool_rows = numba.njit(parallel=True, fastmath=_FLAGS)(_pool_rows)
dense_rows = numba.njit(parallel=True, fastmath=_FLAGS)(_dense_rows)
cache.enable_caching(pool_rows, dense_rows)
