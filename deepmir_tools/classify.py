"""Open-set classification: each sequence gets a family, or is rejected below the threshold.

Streaming in chunks keeps memory flat in the input size; identical sequences are scored
once (small RNA-seq runs repeat the same reads many times); long records can be split
into windows, and the best window speaks for its record.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np

from .bundle import ModelBundle
from .calltables import CALLS_FORMAT as TSV_FORMAT  # the call table format: calltables.py owns it
from .decision import ACCEPTED, NETWORK, REFERENCE, SKIPPED, Decision
from .errors import DeepMirError
from .npzformat import EncodedSet
from .scoring import Scorer, top_k
from .seqio import LengthPolicy, SeqRecord

BASE_COLUMNS = ("id", "length", "family_accession", "family_name", "score", "status", "second_family", "second_score")
REFERENCE_COLUMNS = ("method", "alignment_score", "nearest_member")  # models with a reference stage
CACHE_LIMIT = 2_000_000  # unique sequences remembered; beyond this the cache restarts

# Collapsed-read headers: miRDeep2 (`seq_123_x45`), fastx_collapser (`1-45`), usearch (`;size=45`).
_COUNT_PATTERNS = {
    "x": re.compile(r"_x(\d+)$"),
    "dash": re.compile(r"^\d+-(\d+)$"),
    "size": re.compile(r";size=(\d+);?$"),
    "underscore": re.compile(r"_(\d+)$"),
}
AUTO_COUNT_STYLES = ("x", "dash", "size")
COUNT_STYLES = ("auto", "none") + tuple(_COUNT_PATTERNS)


def read_count(record_id: str, style: str = "auto") -> int:
    """Reads a (collapsed) record stands for, from its ID; 1 when the ID carries no count."""
    if style == "none":
        return 1
    styles = AUTO_COUNT_STYLES if style == "auto" else (style,)
    for name in styles:
        match = _COUNT_PATTERNS[name].search(record_id)
        if match:
            return int(match.group(1))
    return 1


@dataclass
class ClassifyOptions:
    """How to classify (defaults: the model's threshold, reject below it, top 2)."""

    threshold: float | None = None
    reject: bool = True
    top_k: int = 2
    batch_size: int = 256
    long_policy: str = "skip"
    window_step: int = 50
    chunk_size: int = 20_000
    count_style: str = "auto"
    threads: int = 0  # 0 = all cores
    temperature: float | None = None  # softmax temperature; None = the model's (its Decision's)
    seed_check: bool = True  # apply the model's seed check, if it has one
    reference: bool = True  # consult the model's reference stage, if it has one


@dataclass
class Call:
    """The result for one input record (one TSV row)."""

    id: str
    length: int
    families: list[int]
    scores: list[float]
    status: str
    offset: int = 0
    count: int = 1
    seq: str = ""
    method: str = NETWORK  # which stage gave the family (decision.NETWORK / REFERENCE)
    alignment_score: int | None = None  # reference calls: the nearest member's Smith-Waterman score
    member: str | None = None  # reference calls: the nearest member's ID


class Classifier:
    """Scores records with a bundle and applies its :class:`Decision` per record."""

    def __init__(self, bundle: ModelBundle, options: ClassifyOptions):
        self.bundle = bundle
        self.options = options
        # The TSV reports max softmax (of logits / temperature); the threshold applies to the decision's own
        # score, which is the energy score for a bundle calibrated on energy.
        self.decision: Decision = bundle.decision.overridden(options.threshold, options.temperature, options.seed_check,
                                                             options.reference)
        self.reference = bundle.reference() if self.decision.reference_min_score is not None else None
        if self.reference is None:
            self.decision = self.decision.overridden(reference=False)
        self.scorer = Scorer(bundle, options.batch_size, threads=options.threads)
        self.max_len = bundle.encoding["max_len"]
        # The families calls name: the network's classes, then the reference's families the network lacks
        self.classes = bundle.classes
        if self.reference is not None:
            known = {accession for accession, _ in self.classes}
            self.classes += [family for family in self.reference.families if family[0] not in known]
        index = {accession: i for i, (accession, _) in enumerate(self.classes)}
        # reference family index -> index in self.classes
        self._reference_family = [index[a] for a, _ in self.reference.families] if self.reference is not None else []
        # sequence -> (top families, their scores, decision score, whether nt 2-8 are a known seed of the top family,
        # the accepted nearest reference member and its alignment score, or None)
        self.cache: dict[str, tuple[tuple[int, ...], tuple[float, ...], float, bool, tuple[int, int] | None]] = {}

    @property
    def uses_reference(self) -> bool:
        return self.reference is not None

    def _reference_hits(self, seqs: list[str], top_probabilities: list[float]) -> list[tuple[int, int] | None]:
        """Per sequence, (member, alignment score) of the nearest reference member when the decision takes its
        family, else None."""
        found: list[tuple[int, int] | None] = [None] * len(seqs)
        if self.reference is None:
            return found
        looked_up = [i for i, top in enumerate(top_probabilities) if self.decision.consults_reference(top)]
        hits = self.reference.best_hits([seqs[i] for i in looked_up], self.decision.reference_anchor,
                                        self.options.threads)
        for i, hit in zip(looked_up, hits):
            if hit is not None and self.decision.reference_accepts(hit.score, len(seqs[i])):
                found[i] = (hit.member, hit.score)
        return found

    def _score_unique(self, seqs: Iterable[str]) -> None:
        new = sorted({s for s in seqs if s not in self.cache})
        if not new:
            return
        if len(self.cache) + len(new) > CACHE_LIMIT:
            self.cache.clear()
        probabilities, decision = self.decision.scores(self.scorer.scores(new))
        indices, values = top_k(probabilities, self.options.top_k)
        values = values.tolist()
        hits = self._reference_hits(new, [top[0] for top in values])
        for seq, idx, val, score, hit in zip(new, indices.tolist(), values, decision.tolist(), hits):
            seed_matches = self.decision.seed_matches(seq, self.classes[idx[0]][0])
            self.cache[seq] = (tuple(idx), tuple(val), score, seed_matches, hit)

    def _status(self, score: float, seed_matches: bool = True) -> str:
        return self.decision.status(score, seed_matches) if self.options.reject else ACCEPTED

    def classify(self, records: Iterable[SeqRecord]) -> Iterator[Call]:
        """One :class:`Call` per input record, in input order."""
        iterator = iter(records)
        while True:
            chunk = list(itertools.islice(iterator, self.options.chunk_size))
            if not chunk:
                return
            yield from self._classify_chunk(chunk)

    def _classify_chunk(self, chunk: list[SeqRecord]) -> Iterator[Call]:
        policy = LengthPolicy(self.max_len, self.options.long_policy, self.options.window_step)
        out_of_range = {i: status for i, record in enumerate(chunk)
                        if (status := self.decision.length_status(len(record.seq))) is not None}
        segments = [segment for segment in policy.segments(chunk) if segment.index not in out_of_range]
        self._score_unique(segment.seq for segment in segments)
        best: dict[int, tuple[float, int, str]] = {}
        for segment in segments:
            score = self.cache[segment.seq][2]
            if segment.index not in best or score > best[segment.index][0]:
                best[segment.index] = (score, segment.offset, segment.seq)
        for index, record in enumerate(chunk):
            count = read_count(record.id, self.options.count_style)
            if index not in best:  # outside the decision's length range, or too long under --long skip
                status = out_of_range.get(index, SKIPPED)
                yield Call(record.id, len(record.seq), [], [], status, 0, count, record.seq)
                continue
            _, offset, seq = best[index]
            families, scores, decision, seed_matches, hit = self.cache[seq]
            if hit is not None:
                yield self._reference_call(record, offset, count, seq, families, scores, hit)
                continue
            yield Call(record.id, len(record.seq), list(families), list(scores), self._status(decision, seed_matches),
                       offset, count, seq)

    def _reference_call(self, record: SeqRecord, offset: int, count: int, seq: str, families: tuple[int, ...],
                        scores: tuple[float, ...], hit: tuple[int, int]) -> Call:
        """The call of a sequence the reference names: the member's family first, its score the alignment score
        over a perfect match of the whole sequence (2 per nt, at most 1); then the network's other families."""
        member, alignment = hit
        family = self._reference_family[int(self.reference.family[member])]
        others = [(f, s) for f, s in zip(families, scores) if f != family][:len(families) - 1]
        return Call(record.id, len(record.seq), [family] + [f for f, _ in others],
                    [min(1.0, alignment / (2 * len(seq)))] + [s for _, s in others], ACCEPTED, offset, count, seq,
                    REFERENCE, alignment, str(self.reference.ids[member]))

    def classify_encoded(self, data: EncodedSet) -> Iterator[Call]:
        """Calls for a pre-encoded NPZ; rows sharing an ID (windows) count as one record."""
        if self.decision.seeds is not None and self.options.reject:
            raise DeepMirError(f"model '{self.bundle.name}' checks read seeds (nt 2-8), which an encoded NPZ does not "
                               "keep: classify the FASTA/FASTQ itself, or turn the check off (--no-seed-check)")
        probabilities, decision = self.decision.scores(self.scorer.encoded_scores(data.x))
        indices, values = top_k(probabilities, self.options.top_k)
        offsets = data.offsets if data.offsets is not None else np.zeros(len(data.ids), dtype=np.int32)
        rows = range(len(data.ids))
        for record_id, group in itertools.groupby(rows, key=lambda i: str(data.ids[i])):
            members = list(group)
            row = max(members, key=lambda i: decision[i])
            length = int(max(offsets[i] + data.lengths[i] for i in members))
            count = read_count(record_id, self.options.count_style)
            out_of_range = self.decision.length_status(length)
            if out_of_range is not None:
                yield Call(record_id, length, [], [], out_of_range, 0, count, record_id)
                continue
            yield Call(record_id, length, indices[row].tolist(), values[row].tolist(), self._status(float(decision[row])),
                       int(offsets[row]), count, record_id)


def tsv_columns(top: int, windows: bool, reference: bool = False) -> list[str]:
    """Column names of TSV v1 (extra ranks for ``--top-k`` > 2, ``offset`` for windows, the reference stage's
    columns for a model that has one)."""
    columns = list(BASE_COLUMNS)
    for rank in range(3, top + 1):
        columns += [f"family_{rank}", f"score_{rank}"]
    if windows:
        columns.append("offset")
    if reference:
        columns += REFERENCE_COLUMNS
    return columns


def tsv_header(bundle: ModelBundle, decision: Decision, reject: bool, version: str,
               temperature: float | None = None) -> str:
    """The '#' comment line that opens a classification TSV (``temperature``: only when it overrides the model's;
    ``lengths``: only for a decision calibrated on a length range; ``seeds``: only with a seed check)."""
    rule = f"{decision.threshold:g}" if reject else "off"
    override = "" if temperature is None else f" temperature={temperature:g}"
    lengths = "" if decision.length_range() == "any" else f" lengths={decision.length_range()}"
    seeds = "" if decision.seeds is None or not reject else f" seeds={decision.seed_check()}"
    reference = ("" if decision.reference_min_score is None else
                 f" reference_min_score={decision.reference_min_score} reference_below={decision.reference_below:g}"
                 + ("" if decision.reference_anchor is None else f" reference_anchor={decision.reference_anchor}"))
    return (f"# deepmir-classify {version} format={TSV_FORMAT} model={bundle.name} "
            f"model_sha256={bundle.sha256} threshold={rule}{override}{lengths}{seeds}{reference}")


def tsv_row(call: Call, classes: list[tuple[str, str]], top: int, windows: bool, reference: bool = False) -> str:
    """One TSV row; empty family fields for skipped records, '.' for missing ranks."""
    if not call.families:  # skipped, too short or too long: no family
        fields = [call.id, str(call.length), ".", ".", ".", call.status, ".", "."] + [".", "."] * max(0, top - 2)
    else:
        first_acc, first_name = classes[call.families[0]]
        fields = [call.id, str(call.length), first_acc, first_name, f"{call.scores[0]:.6f}", call.status]
        for rank in range(1, max(top, 2)):
            if rank < len(call.families):
                fields += [classes[call.families[rank]][0], f"{call.scores[rank]:.6f}"]
            else:
                fields += [".", "."]
    if windows:
        fields.append(str(call.offset))
    if reference:
        fields += [call.method if call.families else ".", "." if call.alignment_score is None else
                   str(call.alignment_score), call.member or "."]
    return "\t".join(fields)
