"""The numba loop behind :class:`deepmir_tools.kmer_tables.KmerTableModel` (imported on first use).

Compiled on first call (~3 s) and cached on disk where numba finds a writable place (next to
this file, else the user's cache directory); without one it compiles once per process.
Rows are independent, so the result does not depend on the thread count.
"""

from __future__ import annotations

import numba
import numpy as np

from .kmer_tables import CHUNK


def _pool_rows(tokens, lengths, padded_to, kernel_sizes, first_chunk, feature_start, chunk_start, chunk_offset,
               chunk_width, tables, bias):
    """Per row, the max over its windows of the summed chunk-table rows, then ReLU(max + bias)."""
    rows, width = tokens.shape
    out = np.empty((rows, feature_start[-1]), np.float32)
    for row in numba.prange(rows):
        codes = np.zeros((CHUNK + 1, width), np.int64)  # codes[w, p]: base-5 code of tokens p .. p+w-1
        for w in range(1, CHUNK + 1):
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


pool_rows = numba.njit(parallel=True, fastmath={"nnan", "ninf", "nsz"})(_pool_rows)
try:
    pool_rows.enable_caching()
except RuntimeError:  # no writable cache directory (read-only installation and home)
    pass
