"""The paper's four encodings, as pure functions over a batch of sequences.

- ``onehot``: L x 4 (A, C, G, U), zero rows for padding and for IUPAC/N letters. uint8.
- ``prob``: L x L base-pair probability matrix from the ViennaRNA partition function,
  cells below the threshold T set to 0. float16.
- ``pair``: L x L pair-type codes where the pair probability is >= T. Stored as uint8
  codes: ordered 1..6 = AU, UA, CG, GC, GU, UG (value code/6); unordered 1..3 = AU|UA,
  CG|GC, GU|UG (value code/3). :func:`pair_values` turns codes into the paper's values.
- ``mixed``: L x L x 2, channel 0 = probability matrix, channel 1 = pair values. float16.

Probability matrices and unordered pair codes are symmetric; ordered pair codes hold the mirror
type at (j, i) of the type at (i, j) (AU there is UA here). All are zero-padded to ``max_len`` at the end. Structure
prediction (the slow part) runs in ``threads`` worker processes.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

ENCODINGS = ("onehot", "prob", "pair", "mixed")
DEFAULT_T = 1e-4
DEFAULT_MAX_LEN = 200

_ORDERED_PAIRS = {"AU": 1, "UA": 2, "CG": 3, "GC": 4, "GU": 5, "UG": 6}
_UNORDERED_PAIRS = {"AU": 1, "UA": 1, "CG": 2, "GC": 2, "GU": 3, "UG": 3}

# byte value -> one-hot column (255 = no base: IUPAC codes, N, padding)
_BASE_INDEX = np.full(256, 255, dtype=np.uint8)
for _column, _base in enumerate(b"ACGU"):
    _BASE_INDEX[_base] = _column
_ONEHOT_ROWS = np.vstack([np.eye(4, dtype=np.uint8), np.zeros((252, 4), dtype=np.uint8)])


def base_indices(seqs: Sequence[str], max_len: int) -> np.ndarray:
    """(N, max_len) uint8 base codes 0..3 for A, C, G, U; 255 for other letters and padding."""
    # One buffer for the whole batch and one scatter: a Python-level loop per sequence
    # would cost more than the encoding itself.
    cut = [seq[:max_len] for seq in seqs]
    lengths = np.fromiter(map(len, cut), dtype=np.intp, count=len(cut))
    letters = np.frombuffer("".join(cut).encode("ascii"), dtype=np.uint8)
    rows = np.repeat(np.arange(len(cut)), lengths)
    columns = np.arange(letters.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    codes = np.full((len(cut), max_len), 255, dtype=np.uint8)
    codes[rows, columns] = _BASE_INDEX[letters]
    return codes


def one_hot(seqs: Sequence[str], max_len: int = DEFAULT_MAX_LEN) -> np.ndarray:
    """(N, max_len, 4) uint8 one-hot matrix, zero-padded at the end (paper, Fig. 1d)."""
    # np.take copies whole rows of the 256 x 4 table; plain fancy indexing is ~20x slower here
    return np.take(_ONEHOT_ROWS, base_indices(seqs, max_len), axis=0)


def pair_probabilities(seq: str) -> np.ndarray:
    """(n, n) symmetric base-pair probabilities of ``seq`` from RNAfold's partition function.

    Default ViennaRNA energy parameters at 37 C, as ``RNAfold -p``; the Boltzmann factors
    are rescaled with the MFE, as RNAfold does, so that long sequences do not overflow.
    """
    import RNA  # ViennaRNA; imported lazily so one-hot work does not pay for it

    fold = RNA.fold_compound(seq)
    _, mfe = fold.mfe()
    fold.exp_params_rescale(mfe)
    fold.pf()
    upper = np.array(fold.bpp(), dtype=np.float64)[1:, 1:]  # 1-based, upper triangle filled
    return upper + upper.T


def pair_codes(seq: str, probabilities: np.ndarray, threshold: float, ordered: bool) -> np.ndarray:
    """(n, n) uint8 pair-type codes where ``probabilities >= threshold`` (0 elsewhere)."""
    table = _ORDERED_PAIRS if ordered else _UNORDERED_PAIRS
    n = len(seq)
    codes = np.zeros((n, n), dtype=np.uint8)
    rows, cols = np.nonzero(probabilities >= threshold)
    for i, j in zip(rows.tolist(), cols.tolist()):
        codes[i, j] = table.get(seq[i] + seq[j], 0)
    return codes


def pair_values(codes: np.ndarray, ordered: bool) -> np.ndarray:
    """Paper values of pair codes: code/6 (ordered) or code/3 (unordered), float32."""
    return codes.astype(np.float32) / (6.0 if ordered else 3.0)


def _matrix_for(args: tuple[str, str, int, float, bool]) -> np.ndarray:
    seq, encoding, max_len, threshold, ordered = args
    seq = seq[:max_len]
    n = len(seq)
    probabilities = pair_probabilities(seq)
    kept = np.where(probabilities >= threshold, probabilities, 0.0)
    if encoding == "prob":
        out = np.zeros((max_len, max_len), dtype=np.float16)
        out[:n, :n] = kept
        return out
    codes = pair_codes(seq, probabilities, threshold, ordered)
    if encoding == "pair":
        out = np.zeros((max_len, max_len), dtype=np.uint8)
        out[:n, :n] = codes
        return out
    out = np.zeros((max_len, max_len, 2), dtype=np.float16)
    out[:n, :n, 0] = kept
    out[:n, :n, 1] = pair_values(codes, ordered)
    return out


def structure_matrices(
    seqs: Sequence[str],
    encoding: str,
    max_len: int = DEFAULT_MAX_LEN,
    threshold: float = DEFAULT_T,
    ordered: bool = True,
    threads: int = 1,
    progress: bool = False,
) -> np.ndarray:
    """Encode ``seqs`` as ``prob``, ``pair`` or ``mixed`` matrices (see module docstring).

    ``threads`` > 1 folds in that many worker processes; results keep input order.
    """
    if encoding not in ("prob", "pair", "mixed"):
        raise ValueError(f"not a structure encoding: {encoding}")
    jobs = [(seq, encoding, max_len, threshold, ordered) for seq in seqs]
    shape = (max_len, max_len, 2) if encoding == "mixed" else (max_len, max_len)
    dtype = np.uint8 if encoding == "pair" else np.float16
    out = np.zeros((len(jobs),) + shape, dtype=dtype)
    for row, matrix in enumerate(_map_in_workers(_matrix_for, jobs, threads, progress)):
        out[row] = matrix
    return out


def _map_in_workers(function, jobs: list, threads: int, progress: bool):
    from tqdm import tqdm

    bar = tqdm(total=len(jobs), desc="folding", unit="seq", disable=not progress, file=None, leave=False)
    if threads <= 1 or len(jobs) < 2:
        for job in jobs:
            yield function(job)
            bar.update()
    else:
        import multiprocessing

        context = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
        chunk = max(1, min(64, len(jobs) // (threads * 8)))
        with context.Pool(threads) as pool:
            for result in pool.imap(function, jobs, chunksize=chunk):
                yield result
                bar.update()
            pool.close()  # workers leave on their own (see relatives._in_processes)
            pool.join()
    bar.close()


def encode(
    seqs: Sequence[str],
    encoding: str,
    max_len: int = DEFAULT_MAX_LEN,
    threshold: float = DEFAULT_T,
    ordered: bool = True,
    threads: int = 1,
    progress: bool = False,
) -> np.ndarray:
    """Encode a batch with any of :data:`ENCODINGS`; see the module docstring for dtypes."""
    if encoding == "onehot":
        return one_hot(seqs, max_len)
    return structure_matrices(seqs, encoding, max_len, threshold, ordered, threads, progress)


def model_input(x: np.ndarray, encoding: str, ordered: bool = True) -> np.ndarray:
    """Stored encoding -> float32 network input (pair codes become the paper's values)."""
    if encoding == "pair":
        return pair_values(x, ordered)[..., None]
    if encoding == "prob":
        return x.astype(np.float32)[..., None]
    return x.astype(np.float32)
