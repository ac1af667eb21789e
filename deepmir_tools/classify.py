"""Open-set classification: each sequence gets a family, or is rejected below the threshold.

Streaming in chunks keeps memory flat in the input size; identical sequences are scored
once (small RNA-seq runs repeat the same reads many times); long records can be split
into windows, and the best window speaks for its record.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Iterator

import numpy as np

from .bundle import ModelBundle
from .npzformat import EncodedSet
from .metrics import energy_score
from .scoring import Scorer, softmax, top_k
from .seqio import LengthPolicy, SeqRecord

ACCEPTED, REJECTED, SKIPPED = "accepted", "rejected", "skipped"
TSV_FORMAT = "deepmir-classify-tsv/1"
BASE_COLUMNS = ("id", "length", "family_accession", "family_name", "score", "status", "second_family", "second_score")
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
    temperature: float | None = None  # softmax temperature; None = the model's (threshold.temperature)


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


@dataclass
class Tally:
    """Per-family read counts for ``--counts``."""

    reads: Counter = field(default_factory=Counter)
    unique: dict = field(default_factory=dict)

    def add(self, call: Call, key: str) -> None:
        self.reads[key] += call.count
        self.unique.setdefault(key, set()).add(call.seq)


class Classifier:
    """Scores records with a bundle and decides accepted/rejected per record."""

    def __init__(self, bundle: ModelBundle, options: ClassifyOptions):
        self.bundle = bundle
        self.options = options
        self.threshold = bundle.threshold if options.threshold is None else options.threshold
        # A bundle calibrated on the energy score decides on energy; the TSV still reports max softmax
        # (of logits / temperature when the threshold was chosen with temperature scaling).
        self.uses_energy = bundle.meta["threshold"].get("score", "softmax") == "energy"
        self.temperature = bundle.temperature if options.temperature is None else options.temperature
        self.scorer = Scorer(bundle, options.batch_size, logits=self.uses_energy or self.temperature != 1.0,
                             threads=options.threads)
        self.max_len = bundle.encoding["max_len"]
        self.cache: dict[str, tuple[tuple[int, ...], tuple[float, ...], float]] = {}
        self.skipped = 0

    def _score_unique(self, seqs: Iterable[str]) -> None:
        new = sorted({s for s in seqs if s not in self.cache})
        if not new:
            return
        if len(self.cache) + len(new) > CACHE_LIMIT:
            self.cache.clear()
        probabilities, decision = self._probabilities_and_decision(self.scorer.scores(new))
        indices, values = top_k(probabilities, self.options.top_k)
        for seq, idx, val, score in zip(new, indices.tolist(), values.tolist(), decision.tolist()):
            self.cache[seq] = (tuple(idx), tuple(val), score)

    def _probabilities_and_decision(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Softmax probabilities and the score the threshold applies to (max softmax or energy)."""
        if not self.scorer.logits:
            return raw, raw.max(axis=1)
        logits = raw.astype(np.float64)
        probabilities = softmax(logits, self.temperature)
        return probabilities, energy_score(logits) if self.uses_energy else probabilities.max(axis=1)

    def _status(self, score: float) -> str:
        return ACCEPTED if not self.options.reject or score >= self.threshold else REJECTED

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
        segments = list(policy.segments(chunk))
        self._score_unique(segment.seq for segment in segments)
        best: dict[int, tuple[float, int, str]] = {}
        for segment in segments:
            score = self.cache[segment.seq][2]
            if segment.index not in best or score > best[segment.index][0]:
                best[segment.index] = (score, segment.offset, segment.seq)
        for index, record in enumerate(chunk):
            count = read_count(record.id, self.options.count_style)
            if index not in best:  # too long, dropped by --long skip
                self.skipped += 1
                yield Call(record.id, len(record.seq), [], [], SKIPPED, 0, count, record.seq)
                continue
            _, offset, seq = best[index]
            families, scores, decision = self.cache[seq]
            yield Call(record.id, len(record.seq), list(families), list(scores), self._status(decision), offset, count, seq)

    def classify_encoded(self, data: EncodedSet) -> Iterator[Call]:
        """Calls for a pre-encoded NPZ; rows sharing an ID (windows) count as one record."""
        probabilities, decision = self._probabilities_and_decision(self.scorer.encoded_scores(data.x))
        indices, values = top_k(probabilities, self.options.top_k)
        offsets = data.offsets if data.offsets is not None else np.zeros(len(data.ids), dtype=np.int32)
        rows = range(len(data.ids))
        for record_id, group in itertools.groupby(rows, key=lambda i: str(data.ids[i])):
            members = list(group)
            row = max(members, key=lambda i: decision[i])
            length = int(max(offsets[i] + data.lengths[i] for i in members))
            yield Call(record_id, length, indices[row].tolist(), values[row].tolist(), self._status(float(decision[row])),
                       int(offsets[row]), read_count(record_id, self.options.count_style), record_id)


def tsv_columns(top: int, windows: bool) -> list[str]:
    """Column names of TSV v1 (extra ranks for ``--top-k`` > 2, ``offset`` for windows)."""
    columns = list(BASE_COLUMNS)
    for rank in range(3, top + 1):
        columns += [f"family_{rank}", f"score_{rank}"]
    if windows:
        columns.append("offset")
    return columns


def tsv_header(bundle: ModelBundle, threshold: float, reject: bool, version: str,
               temperature: float | None = None) -> str:
    """The '#' comment line that opens a classification TSV (``temperature``: only when it overrides the model's)."""
    rule = f"{threshold:g}" if reject else "off"
    override = "" if temperature is None else f" temperature={temperature:g}"
    return (f"# deepmir-classify {version} format={TSV_FORMAT} model={bundle.name} "
            f"model_sha256={bundle.sha256} threshold={rule}{override}")


def tsv_row(call: Call, classes: list[tuple[str, str]], top: int, windows: bool) -> str:
    """One TSV row; empty family fields for skipped records, '.' for missing ranks."""
    if call.status == SKIPPED:
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
    return "\t".join(fields)


def counts_table(tally: Tally, classes: list[tuple[str, str]]) -> list[str]:
    """Rows of the ``--counts`` table: family, name, reads, unique sequences; rejected/skipped last."""
    lines = ["family_accession\tfamily_name\treads\tunique_sequences"]
    names = dict(classes)
    families = sorted((k for k in tally.reads if k not in (REJECTED, SKIPPED)), key=lambda k: (-tally.reads[k], k))
    for key in families + [k for k in (REJECTED, SKIPPED) if k in tally.reads]:
        lines.append(f"{key}\t{names.get(key, key)}\t{tally.reads[key]}\t{len(tally.unique[key])}")
    return lines
