"""Choosing the open-set threshold on the ROC of in-distribution vs out-of-distribution scores.

Scores: ``softmax`` = the maximum softmax probability (the paper); ``energy`` = the
negative free energy logsumexp(logits) (Liu et al., NeurIPS 2020), often better at
separating unseen classes. Both are computed in one pass and both are reported.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

from .bundle import ModelBundle
from .errors import DeepMirError
from .labels import family_of, header_fields, split_class_entry
from .metrics import (RocCurve, accuracy, fpr_at_tpr, macro_f1, per_class, roc_curve, threshold_at_fpr,
                      threshold_max_f)
from .npzformat import read_encoded, sha256_of_file
from .decision import SCORES, Decision, length_status, softmax
from .metrics import energy_score
from .scoring import Scorer
from .seqio import LengthPolicy, read_records

LengthRange = tuple[int | None, int | None]  # (min, max) sequence length calibrated for; None = no bound
METHODS = ("target-fpr", "max-f", "fixed")


@dataclass
class ScoredGroup:
    """Scores of one group of sequences (the in-distribution set or one OOD class)."""

    label: str
    ids: list[str]
    softmax: np.ndarray  # (N, classes) probabilities
    energy: np.ndarray  # (N,) negative free energy
    true: np.ndarray | None = None  # class indices (in-distribution only)

    def score(self, kind: str) -> np.ndarray:
        return self.softmax.max(axis=1) if kind == "softmax" else self.energy

    @property
    def predicted(self) -> np.ndarray:
        return self.softmax.argmax(axis=1)


@dataclass
class Calibration:
    """The chosen threshold, the ROC it came from and every figure worth reporting."""

    score: str
    method: str
    threshold: float
    tpr: float
    fpr: float
    curve: RocCurve
    in_dist: ScoredGroup
    ood: list[ScoredGroup]
    temperature: float = 1.0  # softmax temperature of the scores (energy ignores it)
    lengths: LengthRange = (None, None)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def decision(self) -> Decision:
        """The rule this calibration chose, as the bundle stores it and deepmir-classify applies it."""
        return Decision(self.threshold, self.score, self.temperature, *self.lengths)


def _score(scorer: Scorer, temperature: float, label: str, ids: list[str], seqs: list[str], true=None,
           x=None) -> ScoredGroup:
    """Scores of one group: softmax of logits / ``temperature`` and the energy score."""
    logits = (scorer.encoded_scores(x) if x is not None else scorer.scores(seqs)).astype(np.float64)
    return ScoredGroup(label, ids, softmax(logits, temperature), energy_score(logits), true)


def _fasta_segments(path: str, max_len: int, lengths: LengthRange = (None, None)) -> list:
    """Records of a FASTA/FASTQ file within ``lengths``; longer than the model length: truncated."""
    records = (r for r in read_records(path) if length_status(len(r.seq), *lengths) is None)
    return list(LengthPolicy(max_len, "truncate").segments(records))


def score_in_distribution(scorer: Scorer, path: str, temperature: float = 1.0,
                          lengths: LengthRange = (None, None)) -> ScoredGroup:
    """Labelled held-out sequences whose family the model knows (others are out of scope).

    The softmax scores are of logits / ``temperature``; sequences outside ``lengths`` are left out."""
    classes = {accession: index for index, (accession, _) in enumerate(scorer.bundle.classes)}
    if path.endswith(".npz"):
        data = read_encoded(path)
        if data.labels is None:
            raise DeepMirError(f"{path}: no family labels; in-distribution data must be labelled")
        accessions = [split_class_entry(data.classes[label])[0] for label in data.labels]
        rows = [i for i, acc in enumerate(accessions) if acc in classes]
        true = np.array([classes[accessions[i]] for i in rows], dtype=np.int64)
        return _score(scorer, temperature, "in-distribution", [str(data.ids[i]) for i in rows], [], true, data.x[rows])
    ids, seqs, true = [], [], []
    for segment in _fasta_segments(path, scorer.encoding["max_len"], lengths):
        family = family_of(segment.description)
        if family is None:
            raise DeepMirError(f"{path}: record '{segment.id}' has no family= label")
        if family[0] in classes:
            ids.append(segment.id)
            seqs.append(segment.seq)
            true.append(classes[family[0]])
    if not ids:
        raise DeepMirError(f"{path}: no sequence belongs to a family of model '{scorer.bundle.name}'")
    return _score(scorer, temperature, "in-distribution", ids, seqs, np.array(true, dtype=np.int64))


def parse_ood_spec(spec: str) -> tuple[str | None, str]:
    """``LABEL=FILE`` or ``FILE`` (then each record's ``class=`` field, else the file name, labels it)."""
    label, sep, path = spec.partition("=")
    if sep and label and not os.path.exists(spec):
        return label, path
    return None, spec


def score_ood(scorer: Scorer, specs: Iterable[str], temperature: float = 1.0,
              lengths: LengthRange = (None, None)) -> list[ScoredGroup]:
    """One group per OOD class, in order of first appearance (softmax scores of logits / ``temperature``;
    sequences outside ``lengths`` left out)."""
    grouped: dict[str, tuple[list[str], list[str]]] = {}
    for spec in specs:
        label, path = parse_ood_spec(spec)
        default = os.path.basename(path).split(".")[0]
        for segment in _fasta_segments(path, scorer.encoding["max_len"], lengths):
            name = label or header_fields(segment.description).get("class") or default
            ids, seqs = grouped.setdefault(name, ([], []))
            ids.append(segment.id)
            seqs.append(segment.seq)
    return [_score(scorer, temperature, name, ids, seqs) for name, (ids, seqs) in grouped.items()]


def calibrate(in_dist: ScoredGroup, ood: list[ScoredGroup], score: str, method: str,
              target_fpr: float = 0.05, fixed: float | None = None, temperature: float = 1.0,
              lengths: LengthRange = (None, None)) -> Calibration:
    """Pick the threshold on the pooled ROC; ``fixed`` is reported at its own operating point."""
    if not ood:
        raise DeepMirError("at least one out-of-distribution file (--ood) is needed to calibrate")
    positive = in_dist.score(score)
    negative = np.concatenate([group.score(score) for group in ood])
    curve = roc_curve(positive, negative)
    if method == "fixed":
        if fixed is None:
            raise DeepMirError("--method fixed needs --threshold")
        threshold = float(fixed)
    else:
        index = threshold_at_fpr(curve, target_fpr) if method == "target-fpr" else threshold_max_f(curve)
        threshold = float(curve.thresholds[index])
        if not np.isfinite(threshold):  # nothing can be accepted at this FPR: accept only above every score
            threshold = float(np.nextafter(positive.max(initial=negative.max()), np.inf))
    tpr = float(np.mean(positive >= threshold))
    fpr = float(np.mean(negative >= threshold))
    return Calibration(score, method, threshold, tpr, fpr, curve, in_dist, ood, temperature, lengths)


def metrics_rows(result: Calibration, classes: list[tuple[str, str]]) -> list[tuple[str, str, str, str]]:
    """(scope, name, metric, value) rows of the metrics TSV."""
    group = result.in_dist
    n = len(classes)
    accepted = group.score(result.score) >= result.threshold
    rows = [
        ("overall", "in-distribution", "n", str(len(group.ids))),
        ("overall", "in-distribution", "accuracy", f"{accuracy(group.true, group.predicted):.6f}"),
        ("overall", "in-distribution", "macro_f1", f"{macro_f1(group.true, group.predicted, n):.6f}"),
        ("overall", "in-distribution", "accuracy_accepted_and_correct",
         f"{float(np.mean(accepted & (group.true == group.predicted))):.6f}"),
        ("overall", "threshold", result.score, f"{result.threshold:.6g}"),
        ("overall", "threshold", "method", result.method),
        ("overall", "threshold", "temperature", f"{result.temperature:g}"),
        ("overall", "threshold", "tpr", f"{result.tpr:.6f}"),
        ("overall", "threshold", "fpr", f"{result.fpr:.6f}"),
    ]
    for kind in SCORES:
        pooled = roc_curve(group.score(kind), np.concatenate([g.score(kind) for g in result.ood]))
        rows += [("overall", f"pooled-ood/{kind}", "auroc", f"{pooled.auroc:.6f}"),
                 ("overall", f"pooled-ood/{kind}", "fpr_at_95_tpr", f"{fpr_at_tpr(pooled, 0.95):.6f}")]
    for ood in result.ood:
        rejected = float(np.mean(ood.score(result.score) < result.threshold))
        rows += [("ood", ood.label, "n", str(len(ood.ids))), ("ood", ood.label, "rejection_rate", f"{rejected:.6f}")]
        for kind in SCORES:
            rows.append(("ood", ood.label, f"auroc_{kind}", f"{roc_curve(group.score(kind), ood.score(kind)).auroc:.6f}"))
    stats = per_class(group.true, group.predicted, n)
    for index in np.flatnonzero(stats.support > 0):
        accession, name = classes[index]
        label = f"{accession}:{name}"
        rows += [("family", label, "precision", f"{stats.precision[index]:.6f}"),
                 ("family", label, "recall", f"{stats.recall[index]:.6f}"),
                 ("family", label, "f1", f"{stats.f1[index]:.6f}"),
                 ("family", label, "support", str(int(stats.support[index])))]
    return rows


def confused_pairs(group: ScoredGroup, classes: list[tuple[str, str]], limit: int = 15) -> list[tuple[str, str, int]]:
    """The most frequent (true family, predicted family) confusions."""
    wrong = group.true != group.predicted
    pairs: dict[tuple[int, int], int] = {}
    for t, p in zip(group.true[wrong].tolist(), group.predicted[wrong].tolist()):
        pairs[(t, p)] = pairs.get((t, p), 0) + 1
    ranked = sorted(pairs.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [(f"{classes[t][0]} {classes[t][1]}", f"{classes[p][0]} {classes[p][1]}", c) for (t, p), c in ranked]


def threshold_record(result: Calibration, in_path: str, ood_specs: list[str], target_fpr: float) -> dict[str, Any]:
    """What the calibrated bundle records about its threshold and where it came from."""
    files = [in_path] + [parse_ood_spec(spec)[1] for spec in ood_specs]
    return {
        **result.decision.fields(),
        "method": result.method if result.method != "target-fpr" else f"target FPR {target_fpr:g}",
        "tpr": round(result.tpr, 6),
        "fpr": round(result.fpr, 6),
        "auroc": round(result.curve.auroc, 6),
        "in_distribution": {"file": os.path.basename(in_path), "n": len(result.in_dist.ids)},
        "out_of_distribution": {g.label: len(g.ids) for g in result.ood},
        "data_sha256": {os.path.basename(p): sha256_of_file(p) for p in files},
    }


def bundle_threshold_extra(bundle: ModelBundle, result: Calibration) -> dict[str, Any]:
    """Metrics the calibrated bundle keeps (held-out accuracy etc. at the chosen threshold)."""
    metrics = dict(bundle.meta.get("metrics", {}))
    group = result.in_dist
    metrics["calibration"] = {
        "accuracy": round(accuracy(group.true, group.predicted), 6),
        "macro_f1": round(macro_f1(group.true, group.predicted, len(bundle.classes)), 6),
        "auroc_per_ood": {g.label: round(roc_curve(group.score(result.score), g.score(result.score)).auroc, 6)
                          for g in result.ood},
    }
    return {"metrics": metrics}
