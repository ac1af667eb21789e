#!/usr/bin/env python3
"""k-mer nearest-family-centroid classifier: the simplest learned baseline for miRNA families.

Each sequence becomes its vector of overlapping k-mer counts (k=6: 4,096 features; k-mers
containing a letter other than A/C/G/U/T are skipped), L2-normalised. A family's centroid is the
mean of its training vectors, L2-normalised again. A query goes to the family with the highest
cosine similarity; the score used for rejection/ROC is that maximum cosine.

    python kmer_baseline.py fit TRAIN.fa -o MODEL.npz [-k 6]
    python kmer_baseline.py classify MODEL.npz QUERIES.fa -o OUT.tsv

TRAIN.fa uses labelled headers (``>ID family=ACC name=NAME``). OUT.tsv columns:
id, family, score, second_family, second_score (a '#' comment line first).
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from typing import Sequence

import numpy as np

from seqs import read_fasta

_CODE = np.full(256, -1, dtype=np.int64)
for _letter, _value in zip(b"ACGTU", (0, 1, 2, 3, 3)):
    _CODE[_letter] = _value
    _CODE[ord(chr(_letter).lower())] = _value


def kmer_counts(seq: str, k: int = 6) -> np.ndarray:
    """Counts of overlapping k-mers (length 4**k, float32); k-mers with non-ACGU letters are skipped."""
    codes = _CODE[np.frombuffer(seq.encode("ascii", "replace"), dtype=np.uint8)]
    n = codes.size - k + 1
    if n <= 0:
        return np.zeros(4 ** k, dtype=np.float32)
    # windows[i, j] = codes[i + j]; a window is valid when none of its letters is -1
    windows = np.lib.stride_tricks.sliding_window_view(codes, k)
    valid = (windows >= 0).all(axis=1)
    index = windows[valid] @ (4 ** np.arange(k - 1, -1, -1, dtype=np.int64))
    return np.bincount(index, minlength=4 ** k).astype(np.float32)


def _normalise(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1.0)


def vectors(seqs: Sequence[str], k: int = 6) -> np.ndarray:
    """L2-normalised k-mer count vectors, one row per sequence."""
    if not seqs:
        return np.zeros((0, 4 ** k), dtype=np.float32)
    return _normalise(np.stack([kmer_counts(seq, k) for seq in seqs]))


def fit(seqs: Sequence[str], families: Sequence[str], k: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """(family accessions sorted, L2-normalised centroids) from training sequences."""
    rows: dict[str, list[int]] = defaultdict(list)
    for index, family in enumerate(families):
        rows[family].append(index)
    names = np.array(sorted(rows), dtype=str)
    data = vectors(seqs, k)
    centroids = np.stack([data[rows[name]].mean(axis=0) for name in names])
    return names, _normalise(centroids).astype(np.float32)


def predict(names: np.ndarray, centroids: np.ndarray, seqs: Sequence[str], k: int = 6,
            chunk: int = 2048) -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
    """Best and second-best family and cosine for each query (second is '' with one family)."""
    best, best_score, second, second_score = [], [], [], []
    for start in range(0, len(seqs), chunk):
        sims = vectors(seqs[start:start + chunk], k) @ centroids.T
        order = np.argsort(-sims, axis=1)[:, :2]
        rows = np.arange(sims.shape[0])
        best.extend(names[order[:, 0]].tolist())
        best_score.append(sims[rows, order[:, 0]])
        if sims.shape[1] > 1:
            second.extend(names[order[:, 1]].tolist())
            second_score.append(sims[rows, order[:, 1]])
        else:
            second.extend([""] * sims.shape[0])
            second_score.append(np.zeros(sims.shape[0], dtype=np.float32))
    empty = np.zeros(0, dtype=np.float32)
    return (best, np.concatenate(best_score) if best_score else empty,
            second, np.concatenate(second_score) if second_score else empty)


def save(path: str, names: np.ndarray, centroids: np.ndarray, k: int) -> None:
    with open(path, "wb") as handle:
        np.savez(handle, families=names, centroids=centroids, k=np.int64(k))


def load(path: str) -> tuple[np.ndarray, np.ndarray, int]:
    with np.load(path, allow_pickle=False) as data:
        return data["families"], data["centroids"], int(data["k"])


def _cmd_fit(args: argparse.Namespace) -> None:
    records = [r for r in read_fasta(args.train) if r.family]
    if not records:
        raise SystemExit(f"kmer_baseline: error: no labelled records in {args.train}")
    names, centroids = fit([r.seq for r in records], [r.family for r in records], args.k)
    save(args.output, names, centroids, args.k)


def _cmd_classify(args: argparse.Namespace) -> None:
    names, centroids, k = load(args.model)
    records = read_fasta(args.queries)
    best, score, second, score2 = predict(names, centroids, [r.seq for r in records], k)
    with open(args.output, "w") as out:
        out.write(f"# kmer_baseline k={k} families={len(names)}\n")
        for record, fam, s1, fam2, s2 in zip(records, best, score, second, score2):
            out.write(f"{record.id}\t{fam}\t{s1:.6f}\t{fam2}\t{s2:.6f}\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kmer_baseline", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_fit = sub.add_parser("fit", help="family centroids from labelled FASTA")
    p_fit.add_argument("train")
    p_fit.add_argument("-o", "--output", required=True)
    p_fit.add_argument("-k", type=int, default=6)
    p_fit.set_defaults(func=_cmd_fit)
    p_cls = sub.add_parser("classify", help="nearest centroid for each query")
    p_cls.add_argument("model")
    p_cls.add_argument("queries")
    p_cls.add_argument("-o", "--output", required=True)
    p_cls.set_defaults(func=_cmd_classify)
    args = parser.parse_args(argv)
    args.func(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
