#!/usr/bin/env python3
"""Open-set scores of a one-hot model compared: max softmax against scores from its penultimate layer.

The shipped models reject with the max softmax (the hairpin model at temperature 1, the mature model at 2).
Sequence search (BLASTN) judges a query by its nearest training sequence, so the feature-space analogues are
measured here on the same data, AUROC of the held-out miRBase members (in-distribution) against each class of
real non-miRNA ncRNAs and unseen families:

- max softmax at T (the shipped rule);
- cosine similarity of the query's 1,024 dense-layer activations to the nearest training sequence's (k = 1) and
  the 5th nearest's (k = 5), as in deep nearest-neighbour OOD detection;
- cosine similarity to the nearest family mean; Mahalanobis distance to the nearest family mean under the
  pooled within-family covariance (Lee et al. 2018);
- max softmax x nearest-neighbour similarity^4 (a combination).

  python benchmarks/open_set_scores.py [WORKDIR]   # default benchmarks/results/default-models

WORKDIR holds hairpin-split/ (train.fa, val.fa, ood.fa; made by benchmarks/default_models_splits.sh, which
runs here if it is missing) and gets negatives-hairpin/ (make_negatives.py, the calibration negatives).
Measured 2026-11-26 (validation set, pooled AUROC). Hairpin model trained without background, over all seven
negative classes: softmax T=2 0.9897, nearest sequence 0.9847, 5th nearest 0.9709, nearest family mean 0.9746,
Mahalanobis 0.9515, combination 0.9904. Shipped (background-trained) hairpin model, over tRNA, GtRNAdb tRNA,
C/D snoRNA and unseen families: softmax T=1 0.9937 (T=0.5 0.9937, 0.75 0.9938, 2 0.9927, 4 0.9919), nearest
sequence 0.9630, nearest family mean 0.9555, Mahalanobis 0.9408, combination 0.9925. The shipped hairpin model of
2026-12-04 (background also the family-less miRBase hairpins): softmax T=1 0.9977 (T=0.5 0.9976, T=2 0.9977).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

from deepmir_tools.bundle import load_bundle
from deepmir_tools.decision import softmax
from deepmir_tools.kmer_tables import tokens_and_lengths
from deepmir_tools.labels import header_fields
from deepmir_tools.metrics import auroc
from deepmir_tools.scoring import Scorer
from deepmir_tools.seqio import read_records

HERE = Path(__file__).resolve().parent


def read_labelled(path: Path) -> tuple[list[str], list[str | None]]:
    """Sequences (RNA alphabet) and their family= accessions (None where absent)."""
    seqs, families = [], []
    for record in read_records(str(path)):
        seqs.append(record.seq)
        families.append(header_fields(record.description).get("family"))
    return seqs, families


class Features:
    """Logits (the package's :class:`~deepmir_tools.scoring.Scorer`) and dense-layer activations of a one-hot bundle.

    The package has no call for the 1,024 dense-layer activations: they come from the Scorer's own table model
    (``Scorer.tables``), all sequences in one call of its public layers.
    """

    def __init__(self, model: str, threads: int):
        self.bundle = load_bundle(model)
        self.scorer = Scorer(self.bundle, threads=threads)
        if self.scorer.tables is None:
            raise SystemExit(f"open_set_scores: {model}: a one-hot model scored through its tables is needed "
                             "(not a matrix model, nor DEEPMIR_ONEHOT_BACKEND=keras)")
        self.max_len, self.threads = self.bundle.encoding["max_len"], threads

    def hidden(self, seqs: list[str]) -> np.ndarray:
        tables = self.scorer.tables
        tokens, lengths = tokens_and_lengths(seqs, self.max_len, self.scorer.kernel)
        return tables.hidden_layer(tables.pooled(tokens, lengths, self.max_len, self.threads), self.threads)

    def logits(self, seqs: list[str]) -> np.ndarray:
        return self.scorer.scores(seqs)


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9)


class FeatureScores:
    """The reference statistics of the training set and the scores they give a query."""

    def __init__(self, hidden: np.ndarray, labels: np.ndarray, n_classes: int, temperature: float):
        self.train = unit(hidden)
        self.means = np.stack([hidden[labels == c].mean(axis=0) for c in range(n_classes)])
        centred = hidden - self.means[labels]
        self.precision = np.linalg.inv(np.cov(centred.T) + 1e-3 * np.eye(hidden.shape[1]))  # ridge: rank-deficient
        self.temperature = temperature

    def _kth_similarity(self, query: np.ndarray, k: int) -> np.ndarray:
        q = unit(query)
        return np.concatenate([np.sort(q[i : i + 1000] @ self.train.T, axis=1)[:, -k] for i in range(0, len(q), 1000)])

    def _mahalanobis(self, query: np.ndarray) -> np.ndarray:
        pm = self.precision @ self.means.T
        mean_term = np.einsum("cd,dc->c", self.means, pm)
        best = []
        for i in range(0, len(query), 500):
            x = query[i : i + 500]
            distance = np.einsum("nd,de,ne->n", x, self.precision, x)[:, None] - 2 * x @ pm + mean_term[None]
            best.append(-distance.min(axis=1))
        return np.concatenate(best)

    def all(self, hidden: np.ndarray, logits: np.ndarray) -> dict[str, np.ndarray]:
        softmax_max = softmax(logits.astype(np.float64), self.temperature).max(axis=1)
        nearest = self._kth_similarity(hidden, 1)
        return {
            f"max softmax (T={self.temperature:g})": softmax_max,
            "nearest sequence (cosine)": nearest,
            "5th nearest sequence": self._kth_similarity(hidden, 5),
            "nearest family mean (cosine)": (unit(hidden) @ unit(self.means).T).max(axis=1),
            "Mahalanobis (nearest family)": self._mahalanobis(hidden),
            "softmax x nearest^4": softmax_max * nearest**4,
        }


# the shipped hairpin model's scored negative classes (HAIRPIN_OOD in default_models_splits.sh): not its background
SCORED_CLASSES = ("snoRNA_CD", "tRNA", "tRNA_GtRNAdb", "unseen_family")


def negatives(work: Path) -> list[Path]:
    out = work / "negatives-hairpin"
    if not all((out / f"{label}.fa").exists() for label in SCORED_CLASSES):
        subprocess.run([sys.executable, str(HERE / "make_negatives.py"), "--ood-fasta", str(work / "hairpin-split" / "ood.fa"),
                        "--out", str(out), "--classes", ",".join(SCORED_CLASSES)], check=True, stdout=subprocess.DEVNULL)
    return [out / f"{label}.fa" for label in SCORED_CLASSES]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workdir", nargs="?", type=Path, default=HERE / "results" / "default-models")
    parser.add_argument("--model", default="hairpin")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    split = args.workdir / "hairpin-split"
    if not (split / "val.fa").exists():
        subprocess.run(["bash", "-c", f'HERE={HERE}; source {HERE}/default_models_splits.sh "$1"', "-", str(args.workdir)],
                       check=True)
    features = Features(args.model, args.threads)
    index = {accession: i for i, (accession, _) in enumerate(features.bundle.classes)}
    train_seqs, train_families = read_labelled(split / "train.fa")
    train_hidden = features.hidden(train_seqs)
    reference = FeatureScores(train_hidden, np.array([index[f] for f in train_families]), len(index), args.temperature)

    def scores_of(path: Path) -> dict[str, np.ndarray]:
        seqs = read_labelled(path)[0]
        return reference.all(features.hidden(seqs), features.logits(seqs))

    in_dist = scores_of(split / "val.fa")
    ood = {path.stem: scores_of(path) for path in negatives(args.workdir)}
    print(f"AUROC, {split / 'val.fa'} (in-distribution) vs each negative class; model {features.bundle.name}")
    print("score".ljust(30) + "".join(label[:12].rjust(13) for label in ood) + "pooled".rjust(9))
    for name, positive in in_dist.items():
        cells = [auroc(positive, scores[name]) for scores in ood.values()]
        pooled = auroc(positive, np.concatenate([scores[name] for scores in ood.values()]))
        print(name.ljust(30) + "".join(f"{v:13.4f}" for v in cells) + f"{pooled:9.4f}")


if __name__ == "__main__":
    main()
