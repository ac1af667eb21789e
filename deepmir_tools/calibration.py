"""Choosing the open-set threshold on the ROC of in-distribution vs out-of-distribution scores.

Scores: ``softmax`` = the maximum softmax probability (the paper); ``energy`` = the
negative free energy logsumexp(logits) (Liu et al., NeurIPS 2020), often better at
separating unseen classes. Both are computed in one pass and both are reported.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any, Iterable

import numpy as np

from .bundle import ModelBundle, ReferenceRecord, ThresholdRecord, calibrated_threshold
from .errors import DeepMirError
from .labels import family_of, header_fields, split_class_entry
from .metrics import (RocCurve, accuracy, fpr_at_tpr, macro_f1, per_class, roc_curve, threshold_at_fpr,
                      threshold_max_f)
from .npzformat import read_encoded, sha256_of_file
from .decision import SCORES, Decision, seeds_from, softmax  # noqa: F401 (SCORES: the score names)
from .decision import gated as gated_scores
from .metrics import energy_score
from .reference import CANDIDATES as REFERENCE_CANDIDATES
from .reference import K as REFERENCE_K
from .reference import Reference
from .scoring import Scorer
from .seqio import LengthPolicy, read_records

METHODS = ("target-fpr", "max-f", "fixed")


@dataclass
class ScoredGroup:
    """Scores of one group of sequences (the in-distribution set or one OOD class)."""

    label: str
    ids: list[str]
    softmax: np.ndarray  # (N, classes) probabilities
    energy: np.ndarray  # (N,) negative free energy
    true: np.ndarray | None = None  # class indices (in-distribution only)
    seed_matches: np.ndarray | None = None  # (N,) nt 2-8 a known seed of the top family (None: no seed check)
    seqs: list[str] = field(default_factory=list)  # the sequences scored (FASTA input)
    families: list[str | None] = field(default_factory=list)  # OOD groups: each record's family= field, if any

    def score(self, kind: str, gated: bool = True) -> np.ndarray:
        """The ``softmax`` or ``energy`` score; ``gated``: -inf for seed mismatches, which no threshold accepts."""
        raw = self.softmax.max(axis=1) if kind == "softmax" else self.energy
        return gated_scores(raw, self.seed_matches) if gated else raw

    @property
    def predicted(self) -> np.ndarray:
        return self.softmax.argmax(axis=1)


@dataclass
class Calibration:
    """The chosen threshold, the ROC it came from and every figure worth reporting."""

    rule: Decision  # what was calibrated: score, temperature, lengths, seeds (its threshold is not the result)
    method: str
    threshold: float
    tpr: float
    fpr: float
    curve: RocCurve
    in_dist: ScoredGroup
    ood: list[ScoredGroup]
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def score(self) -> str:
        return self.rule.score

    @property
    def temperature(self) -> float:
        """Softmax temperature of the scores (energy ignores it)."""
        return self.rule.temperature

    @property
    def decision(self) -> Decision:
        """The rule this calibration chose, as the bundle stores it and deepmir-classify applies it."""
        return replace(self.rule, threshold=self.threshold)


def _score(scorer: Scorer, rule: Decision, label: str, ids: list[str], seqs: list[str], true=None,
           x=None) -> ScoredGroup:
    """Scores of one group: softmax of logits / the rule's temperature, the energy score and, when the rule checks
    seeds, whether each sequence's nt 2-8 are a known seed of its top family."""
    logits = (scorer.encoded_scores(x) if x is not None else scorer.scores(seqs)).astype(np.float64)
    probabilities = softmax(logits, rule.temperature)
    seed_matches = None
    if rule.seeds is not None:
        if x is not None:
            raise DeepMirError("a seed check needs sequences: give the in-distribution set as FASTA, not NPZ")
        classes = scorer.bundle.classes
        seed_matches = np.array([rule.seed_matches(seq, classes[top][0])
                                 for seq, top in zip(seqs, probabilities.argmax(axis=1).tolist())], dtype=bool)
    return ScoredGroup(label, ids, probabilities, energy_score(logits), true, seed_matches, list(seqs))


def _fasta_segments(path: str, max_len: int, rule: Decision) -> list:
    """Records of a FASTA/FASTQ file within the rule's length range; longer than the model length: truncated."""
    records = (r for r in read_records(path) if rule.length_status(len(r.seq)) is None)
    return list(LengthPolicy(max_len, "truncate").segments(records))


def score_in_distribution(scorer: Scorer, path: str, rule: Decision) -> ScoredGroup:
    """Labelled held-out sequences whose family the model knows (others are out of scope), scored under ``rule``
    (its temperature and seed check); sequences outside its length range are left out."""
    classes = {accession: index for index, (accession, _) in enumerate(scorer.bundle.classes)}
    if path.endswith(".npz"):
        data = read_encoded(path)
        if data.labels is None:
            raise DeepMirError(f"{path}: no family labels; in-distribution data must be labelled")
        accessions = [split_class_entry(data.classes[label])[0] for label in data.labels]
        rows = [i for i, acc in enumerate(accessions)
                if acc in classes and rule.length_status(int(data.lengths[i])) is None]
        true = np.array([classes[accessions[i]] for i in rows], dtype=np.int64)
        return _score(scorer, rule, "in-distribution", [str(data.ids[i]) for i in rows], [], true, data.x[rows])
    ids, seqs, true = [], [], []
    for segment in _fasta_segments(path, scorer.encoding["max_len"], rule):
        family = family_of(segment.description)
        if family is None:
            raise DeepMirError(f"{path}: record '{segment.id}' has no family= label")
        if family[0] in classes:
            ids.append(segment.id)
            seqs.append(segment.seq)
            true.append(classes[family[0]])
    if not ids:
        raise DeepMirError(f"{path}: no sequence belongs to a family of model '{scorer.bundle.name}'")
    return _score(scorer, rule, "in-distribution", ids, seqs, np.array(true, dtype=np.int64))


def seeds_from_fasta(paths: list[str], classes: list[tuple[str, str]]) -> dict[str, frozenset[str]]:
    """Known seeds (nt 2-8) per family of the model from labelled FASTA files; records of other families are left
    out. Every family of the model needs at least one seed, else it could never be accepted."""
    known = {accession for accession, _ in classes}
    labelled = []
    for path in paths:
        for record in read_records(path):
            family = family_of(record.description)
            if family is None:
                raise DeepMirError(f"{path}: record '{record.id}' has no family= label")
            if family[0] in known:
                labelled.append((family[0], record.seq))
    seeds = seeds_from(labelled)
    missing = sorted(known - set(seeds))
    if missing:
        raise DeepMirError(f"{', '.join(paths)}: no seed for {len(missing)} famil{'y' if len(missing) == 1 else 'ies'} "
                           f"of the model ({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''})")
    return seeds


def parse_ood_spec(spec: str) -> tuple[str | None, str]:
    """``LABEL=FILE`` or ``FILE`` (then each record's ``class=`` field, else the file name, labels it)."""
    label, sep, path = spec.partition("=")
    if sep and label and not os.path.exists(spec):
        return label, path
    return None, spec


def score_ood(scorer: Scorer, specs: Iterable[str], rule: Decision) -> list[ScoredGroup]:
    """One group per OOD class, in order of first appearance, scored under ``rule`` (sequences outside its length
    range left out)."""
    grouped: dict[str, tuple[list[str], list[str], list[str | None]]] = {}
    for spec in specs:
        label, path = parse_ood_spec(spec)
        default = os.path.basename(path).split(".")[0]
        for segment in _fasta_segments(path, scorer.encoding["max_len"], rule):
            fields = header_fields(segment.description)
            name = label or fields.get("class") or default
            ids, seqs, families = grouped.setdefault(name, ([], [], []))
            ids.append(segment.id)
            seqs.append(segment.seq)
            families.append(fields.get("family"))
    groups = []
    for name, (ids, seqs, families) in grouped.items():
        group = _score(scorer, rule, name, ids, seqs)
        group.families = families
        groups.append(group)
    return groups


def reference_from_fasta(path: str) -> Reference:
    """The reference stage's members: every record of a labelled FASTA ('family=' and 'name=' headers)."""
    members = []
    for record in read_records(path):
        family = family_of(record.description)
        if family is None:
            raise DeepMirError(f"{path}: record '{record.id}' has no family= label")
        members.append((record.id, family[0], family[1], record.seq))
    return Reference.from_members(members)


@dataclass
class ReferenceCalibration:
    """The reference stage's minimum alignment score, what each OOD class lets through at it, and the members
    dropped as non-miRNA look-alikes."""

    reference: Reference  # the members kept
    min_score: int
    below: float
    target_fpr: float
    fpr: dict[str, float]  # OOD class -> share of its sequences the reference stage would name
    dropped: list[str]  # IDs of the members dropped


# A member that this many calibration non-miRNAs reach at or above the minimum score is dropped: miRBase holds
# a few tRNA- and snoRNA-derived entries (e.g. mmu-mir-3473f, reached by 8% of tRNAs), and one of them would
# otherwise set the minimum for every family (72 instead of 43 on the small-family benchmark, seed 8).
PROMISCUOUS_HITS = 2


def calibrate_reference(reference: Reference, ood: list[ScoredGroup], rule: Decision,
                        target_fpr: float = 0.01) -> ReferenceCalibration:
    """The lowest reference score (:meth:`Decision.reference_score`) at which the reference stage names at most
    ``target_fpr`` of every OOD class, after dropping the members that :data:`PROMISCUOUS_HITS` or more OOD
    sequences reach at that score (the minimum is chosen again without them, until none is left).

    The stage only sees sequences whose network top softmax is below ``rule.reference_below`` and searches as
    ``rule.reference_anchor`` says; OOD records whose family= is a reference family are left out (a member of a
    family the network does not know is no false positive of the reference, which knows it)."""
    known = {accession for accession, _ in reference.families}
    queries: dict[str, list[str | None]] = {}  # per class: the sequences looked up, None for confident calls
    for group in ood:
        families = group.families or [None] * len(group.seqs)
        looked_up = [rule.below_reference_cutoff(top) for top in group.softmax.max(axis=1).tolist()]
        queries[group.label] = [seq if look else None for seq, family, look in zip(group.seqs, families, looked_up)
                                if family not in known]
    if not any(queries.values()):
        raise DeepMirError("no out-of-distribution sequence outside the reference's families to calibrate it on")
    no_hit = np.iinfo(np.int64).min  # below every score: a sequence the stage cannot name
    dropped: list[str] = []
    while True:
        hits = {label: [None if seq is None else reference.best_hit(seq, rule.reference_anchor) for seq in seqs]
                for label, seqs in queries.items()}
        scores = {label: np.array([no_hit if h is None else rule.reference_score(h.score, len(seq))
                                   for h, seq in zip(found, queries[label])], dtype=np.int64)
                  for label, found in hits.items()}
        min_score = _lowest_passing_score(scores, target_fpr, 1 if rule.reference_anchor is None else None)
        reached: dict[int, int] = {}
        for label, found in hits.items():
            for hit, score in zip(found, scores[label].tolist()):
                if hit is not None and score >= min_score:
                    reached[hit.member] = reached.get(hit.member, 0) + 1
        promiscuous = sorted(member for member, count in reached.items() if count >= PROMISCUOUS_HITS)
        if not promiscuous:
            break
        dropped += [str(reference.ids[member]) for member in promiscuous]
        reference = reference.without(promiscuous)
    fpr = {label: round(float(np.mean(values >= min_score)), 6) for label, values in scores.items() if len(values)}
    return ReferenceCalibration(reference, min_score, rule.reference_below, target_fpr, fpr, dropped)


def _lowest_passing_score(scores: dict[str, np.ndarray], target_fpr: float, floor: int | None) -> int:
    """The smallest score s with share(score >= s) <= target in every class: one above each class's quantile, and
    at least ``floor``; without a floor (anchored references, scores <= 0) at most 0, the best score."""
    passing = []  # per class, the lowest score that lets at most its share through
    for values in scores.values():
        allowed = int(np.floor(target_fpr * len(values)))  # sequences of this class that may pass
        if allowed < len(values):
            passing.append(int(np.sort(values)[::-1][allowed]) + 1)
    if floor is not None:
        return max([floor] + passing)
    return min(0, max(passing)) if passing else 0


def reference_record(stage: ReferenceCalibration, path: str) -> ReferenceRecord:
    """What a bundle records about its reference (``meta["reference"]``)."""
    return {"families": [list(entry) for entry in stage.reference.families], "members": len(stage.reference),
            "k": REFERENCE_K, "candidates": REFERENCE_CANDIDATES, "file": os.path.basename(path),
            "sha256": sha256_of_file(path), "dropped": stage.dropped}


def calibrate(in_dist: ScoredGroup, ood: list[ScoredGroup], rule: Decision, method: str,
              target_fpr: float = 0.05, fixed: float | None = None) -> Calibration:
    """Pick the threshold of ``rule`` (on its score) on the pooled ROC; ``fixed`` is reported at its own operating
    point. Seed mismatches count as rejected at every threshold."""
    if not ood:
        raise DeepMirError("at least one out-of-distribution file (--ood) is needed to calibrate")
    positive = in_dist.score(rule.score)
    negative = np.concatenate([group.score(rule.score) for group in ood])
    curve = roc_curve(positive, negative)
    if method == "fixed":
        if fixed is None:
            raise DeepMirError("--method fixed needs --threshold")
        threshold = float(fixed)
    else:
        index = threshold_at_fpr(curve, target_fpr) if method == "target-fpr" else threshold_max_f(curve)
        threshold = float(curve.thresholds[index])
        if threshold == -np.inf:  # the target FPR is above what the seed check lets through: accept all it passes
            threshold = float(curve.thresholds[np.isfinite(curve.thresholds)].min(initial=np.inf))
        if not np.isfinite(threshold):  # nothing can be accepted at this FPR: accept only above every score
            threshold = float(np.nextafter(positive.max(initial=negative.max()), np.inf))
    tpr = float(np.mean(positive >= threshold))
    fpr = float(np.mean(negative >= threshold))
    return Calibration(rule, method, threshold, tpr, fpr, curve, in_dist, ood)


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


def threshold_record(result: Calibration, in_path: str, ood_specs: list[str], target_fpr: float) -> ThresholdRecord:
    """What the calibrated bundle records about its threshold and where it came from
    (:func:`deepmir_tools.bundle.calibrated_threshold` lays the record out)."""
    files = [in_path] + [parse_ood_spec(spec)[1] for spec in ood_specs]
    return calibrated_threshold(
        result.decision,
        method=result.method if result.method != "target-fpr" else f"target FPR {target_fpr:g}",
        tpr=result.tpr, fpr=result.fpr, auroc=result.curve.auroc,
        in_distribution=(os.path.basename(in_path), len(result.in_dist.ids)),
        out_of_distribution={g.label: len(g.ids) for g in result.ood},
        data_sha256={os.path.basename(p): sha256_of_file(p) for p in files},
    )


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
