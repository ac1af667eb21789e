"""Genome scan: every pre-miRNA locus of long sequences, on both strands, at a cost per nucleotide.

What a window is, and why its scores are classify's
---------------------------------------------------
A record of n >= L nt (L = the model's length, 200 for the shipped ``hairpin`` model) is cut into windows of L nt
starting every ``step`` nt (0, step, 2 step, ...) plus, when n - L is not a multiple of ``step``, one last window
flush with the end: exactly the windows of ``deepmir-classify --long window --window-step STEP``. A record shorter
than L is one window, the whole record (classify pads it with zeros to L, and so does the scan). The minus-strand
window at start s is the reverse complement of the plus-strand window at s, so both strands share coordinates.
Every window gets the logits ``deepmir-classify`` gives that window cut out (bit for bit: see below) and the model's
:class:`~deepmir_tools.decision.Decision` accepts or rejects it.

Cost per nucleotide, not per window
-----------------------------------
The one-hot CNN is convolutions, ReLU and *global* max pooling, then two dense layers. For a full window (L nt, no
padding) Keras' pooled feature f of kernel width k is ReLU(bias_f + max_p R_f(p)) over the L - k + 1 positions p
whose whole kernel lies in the window, R_f(p) being the filter's response (the k selected weight rows summed). So:

1. **Responses once per position and strand.** A chunk of the record (``CHUNK_WINDOWS`` windows and the L - step nt
   they overlap into the next chunk) is turned into tokens once per strand; R_f(p) is summed from the same k-mer
   tables, chunk by chunk in the same order, as :mod:`deepmir_tools.kmer_tables` sums them for classify (hence the
   same float32 bits).
2. **Sliding maximum.** Positions are cut into segments of ``step`` nt; a window's span of L - k + 1 positions is q
   whole segments plus the first r positions of the next one (L - k + 1 = q step + r), so its maximum is the maximum
   of q consecutive segment maxima and one running maximum. The maxima of q consecutive segments come from van
   Herk / Gil-Werman blocks of q segments (a running maximum from each block's end and one from its start; any q
   consecutive segments are the end of one block and the start of the next): about 4 / step comparisons per
   position instead of L - k + 1 (and (q + 1) / step before the blocks: pooling 23% faster at step 10).
   ReLU(bias + max) is applied per window, as classify applies it after its max (they commute: both are monotone).
   Records shorter than L are pooled by the classify kernel itself (their zero padding included).
3. **Dense layers only where they can matter, with a proven bound.** The hidden layer of window w + 1 is that of
   window w plus the rows of the dense weights of the features that changed (about 5% of them at step 10): stage 1
   keeps it in float64 (re-summed from scratch every ``SEGMENT_WINDOWS`` windows; ``DENSE_BLOCK`` windows' changes
   summed together), then the output layer, giving approximate logits. Classify's exact float32 loops (no FMA, no
   reassociation) differ from the true values by at most sum_t gamma_{k_t} |term_t| per sum (Higham's bound for a
   recursive dot product, k_t the roundings term t goes through); with the per-window quantities
   sum_t x_t g_t k_t (g_t = max_c sum_j |W1_tj| |W2_jc|) and sum_j ReLU(h_j) max_c |W2_jc| this gives a bound E on
   max_c |approx logit_c - classify logit_c| for every window (:func:`_error_bound`; about 0.03 logit). A window
   whose approximate score is above the threshold even after the worst error is accepted, one below it even so is
   rejected, and only those in between are scored by classify's exact dense kernel (stage 2). The window reported
   for a locus is the best by its exact score (every window that could be best is rescored exactly), so every
   reported score is classify's. ``ScanOptions(exact=True)`` scores every window exactly (the test does).

Loci
----
Candidate windows of one strand that overlap (start < end of the locus so far) are merged into a locus, whose best
window is folded to find its hairpin: the unbranched stem-loop (or its cut at a bulge or interior loop) of the
window's minimum-free-energy fold that the network scores highest for the window's family
(:meth:`Scanner.set_hairpin_ends`). GFF3, BED and TSV give the hairpin's coordinates, family and scores; the TSV
also the best window and the merged extent. Of a hairpin and an
antisense shadow of the same family, the lower-scoring is dropped (:func:`without_antisense_shadows`). Memory is
flat in the sequence length: per chunk, arrays of ``CHUNK_WINDOWS`` windows; per open locus, the pooled vectors of
the few windows that might still be its best.

Two thresholds
--------------
Windows whose decision score reaches the **window threshold** are candidates (the model's
``scan_window_threshold``, else its classify threshold; never above the locus threshold); a locus is reported when
its hairpin, cut out and scored exactly as ``deepmir-classify`` scores it, reaches the **locus threshold** (the
model's ``scan_threshold``, chosen on real genomic background without miRNA genes by
:func:`calibrate_scan_threshold`, ``deepmir-calibrate --genomic-background``; else its classify threshold), and is
reported with the hairpin's family and scores. A user's ``--threshold`` / ``--window-threshold`` override them.
Scoring the hairpin rather than the window is what separates real pre-miRNAs from genomic background: on E. coli
and lambda the highest window scores 0.824, the highest hairpin cut out of a candidate window (from 0.1) 0.560, and
of 400 held-out miRBase hairpins inserted into E. coli 80% are found at zero false loci with windows alone, 88% with
hairpins (benchmarks/scan, docs/scan.md).
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Iterator, TextIO

import numpy as np

from . import __version__
from .decision import Decision
from .errors import DeepMirError
from .seqio import SeqRecord

FORMATS = ("gff3", "bed", "tsv")
DEFAULT_STEP = 10
DEFAULT_WINDOW_THRESHOLD = 0.2  # windows scoring this are candidates (deepmir-calibrate --scan-window-threshold).
# On 400 validation hairpins inserted into E. coli, 0.2 finds one fewer than 0.1 (88.25% vs 88.5%) and folds 8x fewer
# candidate loci (119 vs 989 on E. coli, 24 vs 200 per Mb): benchmarks/scan/run_scan.py --sets window, docs/scan.md
CHUNK_WINDOWS = 1024  # windows per chunk and strand: pooled features 2 x 1,024 x 3,647 float32 = 30 MB
SEGMENT_WINDOWS = 256  # stage 1 re-sums a window's hidden layer from scratch this often (and runs segments in parallel)
POOL_BLOCK = 512  # filters per task of the pooling kernel (measured: 512 beats 64-256)
DENSE_BLOCK = 128  # windows whose hidden-layer changes stage 1 sums together, grouped by feature: each changed row of
# W1 is read once per block (measured per window: 35 us at 128, 43 at 64, 60 for 64 windows not grouped, 100 for one
# window at a time; the block's sums, 128 x 1,024 float64, about fill L2)
CANDIDATE_LIMIT = 16  # windows of an open locus kept as possible best before they are rescored exactly
SHORT_BATCH = 1024  # records shorter than the model length scored together
TSV_FORMAT = "deepmir-scan-tsv/2"
TSV_COLUMNS = ("seqid", "start", "end", "strand", "family_accession", "family_name", "score", "second_family",
               "second_score", "decision_score", "windows", "locus_start", "locus_end", "window_start", "window_end",
               "window_score")
SO_PRE_MIRNA = "pre_miRNA"  # SO:0001244
GFF_SOURCE = "deepmir"

_TOKEN = np.full(256, 4, dtype=np.int32)  # A C G U -> 0..3; N, IUPAC codes -> 4 (a zero one-hot row), as classify
for _code, _base in enumerate(b"ACGU"):
    _TOKEN[_base] = _code
_COMPLEMENT = np.array([3, 2, 1, 0, 4], dtype=np.int32)  # A<->U, C<->G, no base stays no base
_RC_TABLE = str.maketrans("ACGUTRYKMBVDHSWN", "UGCAAYRMKVBHDSWN")


def reverse_complement(seq: str) -> str:
    """Reverse complement of a normalised (upper-case RNA) sequence; IUPAC codes complemented, N stays N."""
    return seq.translate(_RC_TABLE)[::-1]


def tokens_of(seq: str) -> np.ndarray:
    """int32 tokens 0..4 of a normalised sequence (upper case, U): what classify's one-hot rows select."""
    return _TOKEN[np.frombuffer(seq.encode("ascii"), dtype=np.uint8)]


@dataclass
class ScanOptions:
    """How to scan: window step, the locus and window thresholds (None = the model's), threads (0 = all cores)."""

    step: int = DEFAULT_STEP
    threshold: float | None = None  # a locus's hairpin must reach this
    window_threshold: float | None = None
    threads: int = 1
    exact: bool = False  # score every window with classify's exact dense kernel (no stage 1)
    hairpin_ends: bool = True  # fold each locus's best window for the hairpin's ends (Scanner.set_hairpin_ends)
    chunk_windows: int = CHUNK_WINDOWS


@dataclass
class Locus:
    """One locus: the best window's span (0-based, end exclusive, plus-strand coordinates), the extent of the
    candidate windows merged into it, and its hairpin in the best window (:meth:`Scanner.set_hairpin_ends`) with the
    hairpin's family scores; without the hairpin stage (``ScanOptions.hairpin_ends`` False), the window is the
    hairpin."""

    seqid: str
    start: int
    end: int
    strand: str
    families: list[int]  # top 2 family indices (of the hairpin cut out)
    scores: list[float]  # their probabilities
    decision_score: float  # the score the threshold applies to (= scores[0] for a softmax decision): the hairpin's
    windows: int  # candidate windows merged
    locus_start: int
    locus_end: int
    hairpin_start: int = -1
    hairpin_end: int = -1
    window_score: float = math.nan  # the best window's decision score

    def __post_init__(self) -> None:
        if self.hairpin_start < 0:
            self.hairpin_start, self.hairpin_end = self.start, self.end
        if math.isnan(self.window_score):
            self.window_score = self.decision_score


MIN_STEM_PAIRS = 10  # base pairs a stem-loop needs to be a hairpin candidate (a pre-miRNA stem has >= ~18)


def hairpin_candidates(seq: str, min_pairs: int = MIN_STEM_PAIRS) -> list[tuple[int, int]]:
    """Where a pre-miRNA may lie in a window, from its minimum-free-energy fold (ViennaRNA): the unbranched
    stem-loops of >= ``min_pairs`` base pairs, each also cut at its bulges and interior loops (:func:`stem_loops`
    with ``cuts``), or, when there is none (a hairpin whose loop region branches), the top-level domains of
    >= ``min_pairs`` pairs. (start, end), 0-based, end exclusive."""
    import RNA  # ViennaRNA, imported lazily as in encodings

    structure, _energy = RNA.fold(seq)
    loops = [(a, c) for a, c, pairs in stem_loops(structure, cuts=True) if pairs >= min_pairs]
    return loops or [(a, c) for a, c, pairs in domains(structure) if pairs >= min_pairs]


def _partners(structure: str) -> list[int]:
    """The partner of each position of a dot-bracket structure (-1: unpaired), from ViennaRNA's pair table."""
    import RNA  # ViennaRNA, imported lazily as in encodings

    return [j - 1 for j in RNA.ptable(structure)[1:]]  # 1-based, 0 = unpaired, entry 0 the length


def stem_loops(structure: str, cuts: bool = False) -> list[tuple[int, int, int]]:
    """The unbranched stem-loops of a dot-bracket structure: for each hairpin loop, the stem that closes it followed
    outward for as long as each pair directly encloses the previous one (bulges and interior loops included; a
    multiloop or the exterior ends it). (start, end, base pairs), 0-based, end exclusive, in the order of their
    hairpin loops. A pre-miRNA is such a stem-loop; the top-level domain around it can also hold flanking sequence
    that pairs around or beside it (measured: a domain's ends were within 20 nt of an inserted hairpin's for 142 of
    321 found, the stem-loop's for 260).

    With ``cuts``, each stem-loop is preceded by its cuts: the stem-loop as it stands on the inner side of each
    bulge or interior loop it crosses (innermost first). The fold of a window often carries the stem on across an
    interior loop into flanking sequence that happens to pair; a cut there is the precursor (measured on 400
    inserted held-out hairpins: both ends within 20 nt for 74.5% without cuts, 78.5% with them, at the same scan
    threshold, docs/scan.md)."""
    partner = _partners(structure)
    n = len(structure)
    loops = []
    for i in range(n):
        j = partner[i]
        if j <= i or any(partner[k] >= 0 for k in range(i + 1, j)):  # not a hairpin loop's closing pair
            continue
        pairs = 1
        while True:
            p, q = i - 1, j + 1
            while p >= 0 and partner[p] < 0:
                p -= 1
            while q < n and partner[q] < 0:
                q += 1
            if p < 0 or q >= n or partner[p] != q:
                break
            if cuts and (p, q) != (i - 1, j + 1):  # the next pair lies across a bulge or interior loop
                loops.append((i, j + 1, pairs))
            i, j, pairs = p, q, pairs + 1
        loops.append((i, j + 1, pairs))
    return loops


def domains(structure: str) -> list[tuple[int, int, int]]:
    """The top-level domains of a dot-bracket structure: (start, end, base pairs) of each outermost pair and all
    it encloses, 0-based, end exclusive."""
    found = []
    depth = start = pairs = 0
    for i, char in enumerate(structure):
        if char == "(":
            if depth == 0:
                start, pairs = i, 0
            depth += 1
            pairs += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                found.append((start, i + 1, pairs))
    return found


def without_antisense_shadows(loci: list[Locus]) -> list[Locus]:
    """The loci less those shadowed by a locus of the other strand: same family, hairpins overlapping by at least
    half the shorter, and a higher decision score (ties: the plus strand's stays). The reverse complement of a
    pre-miRNA folds into a hairpin too, and the network often gives it the same family: measured on 400 held-out
    miRBase hairpins inserted into E. coli (benchmarks/scan), 46 had such a shadow, 2 of which outscored the hairpin
    itself. Real antisense miRNA pairs (e.g. mir-iab-4 / mir-iab-8) are of different families and stay."""
    def outranks(other: Locus, locus: Locus) -> bool:
        return (other.decision_score, other.strand == "+") > (locus.decision_score, locus.strand == "+")

    def overlap(one: Locus, two: Locus) -> int:
        return min(one.hairpin_end, two.hairpin_end) - max(one.hairpin_start, two.hairpin_start)

    ordered = sorted(loci, key=lambda locus: locus.hairpin_start)
    shadowed = set()
    for i, locus in enumerate(ordered):
        for other in ordered[i + 1 :]:
            if other.hairpin_start >= locus.hairpin_end:
                break
            shorter = min(locus.hairpin_end - locus.hairpin_start, other.hairpin_end - other.hairpin_start)
            if (other.strand != locus.strand and other.families[0] == locus.families[0]
                    and 2 * overlap(locus, other) >= shorter):
                shadowed.add(id(locus) if outranks(other, locus) else id(other))
    return [locus for locus in loci if id(locus) not in shadowed]


@dataclass
class WindowBatch:
    """Scored windows of one strand of one chunk (plus-strand starts, in increasing order).

    ``logits`` are classify's exact logits where ``exact`` is True, stage 1's approximation elsewhere; ``low`` and
    ``high`` bound each window's decision score (equal to it where exact)."""

    strand: str
    starts: np.ndarray
    length: int  # window length (L, or the record length for a record shorter than L)
    pooled: np.ndarray
    logits: np.ndarray
    exact: np.ndarray
    score: np.ndarray
    low: np.ndarray
    high: np.ndarray
    bound: np.ndarray  # E per window: max_c |logit_c - classify's logit_c| (0 where exact)


@dataclass
class ScanStats:
    """Counts of one run (for the summary line and the measurements)."""

    records: int = 0
    nucleotides: int = 0
    windows: int = 0  # per strand, summed over both strands
    rescored: int = 0  # windows scored by the exact dense kernel
    folded: int = 0  # candidate loci whose best window was folded for its hairpin
    loci: dict[str, int] = field(default_factory=lambda: {"+": 0, "-": 0})


class Scanner:
    """Scans records with a one-hot CNN bundle and its :class:`Decision` (see the module docstring)."""

    def __init__(self, bundle, options: ScanOptions | None = None, decision: Decision | None = None):
        """``decision``: the rule to apply (default: the bundle's), with its scan thresholds unless ``options``
        give others (see the module docstring)."""
        from .kmer_tables import KmerTableModel
        from .models import ONEHOT_CNN

        self.bundle = bundle
        self.options = options or ScanOptions()
        if bundle.architecture != ONEHOT_CNN:
            raise DeepMirError(f"model '{bundle.name}' is a {bundle.architecture}: deepmir-scan needs a one-hot CNN "
                               "(its pooled features are what the scan shares between windows)")
        self.window = int(bundle.encoding["max_len"])
        rule = bundle.decision if decision is None else decision
        self.locus_threshold: float = _first_set(self.options.threshold, rule.scan_threshold, rule.threshold)
        window = _first_set(self.options.window_threshold, rule.scan_window_threshold, rule.threshold)
        self.decision: Decision = rule.overridden(min(window, self.locus_threshold))  # the window stage's rule
        if self.decision.seeds is not None or self.decision.length_status(self.window) is not None:
            raise DeepMirError(f"model '{bundle.name}' is a read model (calibrated for {self.decision.length_range()} "
                               f"nt{', with a seed check' if self.decision.seeds is not None else ''}): scan with a "
                               "hairpin model")
        step = self.options.step
        if not 1 <= step <= self.window:
            raise DeepMirError(f"--step must be between 1 and the model length {self.window}, got {step}")
        if self.options.chunk_windows < 1:
            raise DeepMirError("chunk_windows must be >= 1")
        self.model = KmerTableModel.from_bundle(bundle)
        if int(self.model.kernel_sizes.max()) > self.window:
            raise DeepMirError(f"model '{bundle.name}': widest kernel exceeds the model length {self.window}")
        self.classes = bundle.classes
        self._bound = _BoundTerms(self.model)
        self.stats = ScanStats()

    # --- windows ----------------------------------------------------------------------------------------------

    def windows(self, seq: str) -> Iterator[WindowBatch]:
        """Scored windows of a normalised sequence (upper-case RNA), chunk by chunk, plus strand then minus strand
        of each chunk; memory flat in ``len(seq)``."""
        n, window, step = len(seq), self.window, self.options.step
        if n == 0:
            return
        if n < window:  # one window, the whole record, zero-padded as classify pads it
            yield from self._score_short(seq)
            return
        grid = (n - window) // step + 1
        for first in range(0, grid, self.options.chunk_windows):
            count = min(self.options.chunk_windows, grid - first)
            a = first * step
            yield from self._score_grid(seq[a : a + (count - 1) * step + window], a, count, step)
        last = (grid - 1) * step
        if last != n - window:  # the window flush with the end
            yield from self._score_grid(seq[n - window :], n - window, 1, step)

    def _score_grid(self, piece: str, offset: int, count: int, step: int) -> Iterator[WindowBatch]:
        plus = tokens_of(piece)
        tokens = np.stack([plus, _COMPLEMENT[plus[::-1]]])
        pooled = _window_pool(self.model, tokens, count, step, self.window, self.options.threads)
        starts = offset + step * np.arange(count, dtype=np.int64)
        # the minus strand's windows run from the end of the reversed piece: row j is the window at starts[count-1-j]
        yield self._finish("+", starts, self.window, pooled[0])
        yield self._finish("-", starts, self.window, pooled[1][::-1])

    def _score_short(self, seq: str) -> Iterator[WindowBatch]:
        from .kmer_tables import tokens_and_lengths

        kernel = int(self.model.kernel_sizes.max())
        tokens, lengths = tokens_and_lengths([seq, reverse_complement(seq)], self.window, kernel)
        pooled = self.model.pooled(tokens, lengths, self.window, self.options.threads)
        starts = np.zeros(1, dtype=np.int64)
        if self.decision.length_status(len(seq)) is not None:
            return  # outside the decision's length range: classify gives it no family
        yield self._finish("+", starts, len(seq), pooled[:1])
        yield self._finish("-", starts, len(seq), pooled[1:])

    def _finish(self, strand: str, starts: np.ndarray, length: int, pooled: np.ndarray) -> WindowBatch:
        pooled = np.ascontiguousarray(pooled)
        m = len(starts)
        self.stats.windows += m
        if self.options.exact:
            logits = self.model.dense_layers(pooled, self.options.threads).astype(np.float64)
            score = self.decision.scores(logits)[1]
            exact = np.ones(m, dtype=bool)
            bound = np.zeros(m)
            self.stats.rescored += m
            return WindowBatch(strand, starts, length, pooled, logits, exact, score, score.copy(), score.copy(), bound)
        logits, bound = _approximate(self.model, self._bound, pooled, self.options.threads)
        score = self.decision.scores(logits)[1]
        low, high = _score_range(self.decision, score, bound)
        batch = WindowBatch(strand, starts, length, pooled, logits, np.zeros(m, dtype=bool), score, low, high, bound)
        threshold = self.decision.threshold
        self.rescore(batch, np.flatnonzero((low < threshold) & (high >= threshold)))
        return batch

    def rescore(self, batch: WindowBatch, rows: np.ndarray) -> None:
        """Replace the scores of ``rows`` by classify's exact ones (stage 2)."""
        rows = rows[~batch.exact[rows]]
        if not len(rows):
            return
        logits = self.model.dense_layers(batch.pooled[rows], self.options.threads).astype(np.float64)
        score = self.decision.scores(logits)[1]
        batch.logits[rows] = logits
        batch.score[rows] = batch.low[rows] = batch.high[rows] = score
        batch.bound[rows] = 0.0
        batch.exact[rows] = True
        self.stats.rescored += len(rows)

    def accepted(self, batch: WindowBatch) -> np.ndarray:
        """Mask of the windows the decision accepts (exact: the bounds decide, the band was rescored)."""
        return batch.low >= self.decision.threshold

    # --- loci -------------------------------------------------------------------------------------------------

    def scan_record(self, record: SeqRecord, progress: Callable[[int], None] | None = None) -> list[Locus]:
        """Loci of one record, sorted by (hairpin) start then strand (plus first)."""
        open_loci = {"+": _OpenLocus(), "-": _OpenLocus()}
        closed: list[tuple[str, _OpenLocus]] = []  # loci whose best window is still to be chosen
        found: list[Locus] = []
        done = 0
        for batch in self.windows(record.seq):
            state = open_loci[batch.strand]
            for row in np.flatnonzero(self.accepted(batch)):
                start = int(batch.starts[row])
                if state.windows and start >= state.end:
                    closed.append((batch.strand, state))
                    state = open_loci[batch.strand] = _OpenLocus()
                state.add(self, batch, row)
            if batch.strand == "-":  # both strands of a chunk done: choose the best windows of its closed loci
                found += self._close(record.id, closed)
                closed = []
                if progress is not None:
                    end = min(len(record.seq), int(batch.starts[-1]) + batch.length)
                    progress(end - done)
                    done = end
        closed += [(strand, state) for strand, state in open_loci.items() if state.windows]
        found += self._close(record.id, closed)
        found, = self._reported([(record.seq, found)])
        self.stats.records += 1
        self.stats.nucleotides += len(record.seq)
        for locus in found:
            self.stats.loci[locus.strand] += 1
        return sorted(found, key=lambda locus: (locus.hairpin_start, locus.strand != "+", locus.hairpin_end))

    def scan(self, records: Iterable[SeqRecord], progress: Callable[[int], None] | None = None
             ) -> Iterator[tuple[SeqRecord, list[Locus]]]:
        """(record, its loci) for each record, in input order. Consecutive records shorter than the model length
        (one window each) are scored together, up to ``SHORT_BATCH`` at a time, with the same loci as
        :meth:`scan_record` gives them one by one."""
        short: list[SeqRecord] = []
        for record in records:
            if len(record.seq) < self.window:
                short.append(record)
                if len(short) >= SHORT_BATCH:
                    yield from self._scan_short(short, progress)
                    short = []
                continue
            yield from self._scan_short(short, progress)
            short = []
            yield record, self.scan_record(record, progress)
        yield from self._scan_short(short, progress)

    def _scan_short(self, records: list[SeqRecord], progress: Callable[[int], None] | None
                    ) -> Iterator[tuple[SeqRecord, list[Locus]]]:
        """Loci of records shorter than the model length: each strand one window, scored exactly (classify's
        pooling and dense kernels on the whole batch), a locus where the decision accepts it."""
        from .scoring import top_k

        if not records:
            return
        kept = [i for i, record in enumerate(records) if self.decision.length_status(len(record.seq)) is None]
        seqs = [s for i in kept for s in (records[i].seq, reverse_complement(records[i].seq))]
        found: list[list[Locus]] = [[] for _ in records]
        if seqs:
            probabilities, scores = self.decision.scores(self.exact_logits(seqs))
            families, values = top_k(probabilities, 2)
            self.stats.windows += len(seqs)
            self.stats.rescored += len(seqs)
            for row, score in enumerate(scores.tolist()):
                if score < self.decision.threshold:
                    continue
                index = kept[row // 2]
                strand = "+-"[row % 2]
                n = len(records[index].seq)
                found[index].append(Locus(records[index].id, 0, n, strand, families[row].tolist(),
                                          values[row].tolist(), score, 1, 0, n))
        found = self._reported([(record.seq, loci) for record, loci in zip(records, found)])
        for record, loci in zip(records, found):
            for locus in loci:
                self.stats.loci[locus.strand] += 1
            self.stats.records += 1
            self.stats.nucleotides += len(record.seq)
            if progress is not None:
                progress(len(record.seq))
            yield record, loci

    def _close(self, seqid: str, closed: list[tuple[str, "_OpenLocus"]]) -> list[Locus]:
        """Loci from merged windows: the candidates for best window of all of them rescored in one batch."""
        from .scoring import top_k

        _rescore_candidates(self, [c for _, state in closed for c in state.candidates if not c.exact])
        loci = []
        for strand, state in closed:
            best = state.best(self)
            families, scores = top_k(self.decision.probabilities(best.logits[None, :]), 2)
            loci.append(Locus(seqid, best.start, best.start + best.length, strand, families[0].tolist(),
                              scores[0].tolist(), best.score, state.windows, state.start, state.end))
        return loci

    def _reported(self, candidates: list[tuple[str, list[Locus]]]) -> list[list[Locus]]:
        """Per record ((sequence, candidate loci) pairs), the loci reported: each at its hairpin (one batch for
        all records), those whose hairpin reaches the locus threshold, less antisense shadows."""
        if self.options.hairpin_ends:
            self.set_hairpin_ends([(seq, locus) for seq, loci in candidates for locus in loci])
        return [without_antisense_shadows([locus for locus in loci if locus.decision_score >= self.locus_threshold])
                for _, loci in candidates]

    # --- hairpin ends -----------------------------------------------------------------------------------------

    def exact_logits(self, seqs: list[str]) -> np.ndarray:
        """Classify's exact logits (float64) of sequences of at most the model length, zero-padded as classify pads."""
        from .kmer_tables import tokens_and_lengths

        tokens, lengths = tokens_and_lengths(seqs, self.window, int(self.model.kernel_sizes.max()))
        pooled = self.model.pooled(tokens, lengths, self.window, self.options.threads)
        return self.model.dense_layers(pooled, self.options.threads).astype(np.float64)

    def set_hairpin_ends(self, found: list[tuple[str, Locus]]) -> None:
        """Set each locus's hairpin in its best window (``found``: (record sequence, locus) pairs): of the window's
        :func:`hairpin_candidates` (its fold's unbranched stem-loops and their cuts), the one that the network,
        scoring it cut out, gives the highest probability of the window's family; the locus then takes the hairpin's
        family, scores and decision score (deepmir-classify's on the hairpin cut out), the window's decision score
        kept as ``window_score``. A window with no candidate is its own hairpin. The network says which window holds a
        pre-miRNA but not where in it (global max pooling sees the same features in every window that contains the
        hairpin); the fold finds the stem-loops, the network picks the pre-miRNA among them. All loci's candidates
        are scored in one batch."""
        from .scoring import top_k

        pieces, candidates = [], []
        self.stats.folded += len(found)
        for seq, locus in found:
            start, end = locus.start, locus.end
            piece = seq[start:end] if locus.strand == "+" else reverse_complement(seq[start:end])
            loops = hairpin_candidates(piece)
            candidates.append(loops)
            pieces += [piece[a:c] for a, c in loops]
        if not pieces:
            return
        probabilities, scores = self.decision.scores(self.exact_logits(pieces))
        families, values = top_k(probabilities, 2)
        row = 0
        for (_, locus), loops in zip(found, candidates):
            if not loops:
                continue
            pick = row + int(np.argmax(probabilities[row : row + len(loops), locus.families[0]]))  # ties: the first
            a, c = loops[pick - row]
            row += len(loops)
            if locus.strand == "+":
                locus.hairpin_start, locus.hairpin_end = locus.start + a, locus.start + c
            else:
                locus.hairpin_start, locus.hairpin_end = locus.end - c, locus.end - a
            locus.window_score = locus.decision_score
            locus.families, locus.scores = families[pick].tolist(), values[pick].tolist()
            locus.decision_score = float(scores[pick])

    # --- output -----------------------------------------------------------------------------------------------

    def header_fields(self) -> str:
        """``model=... model_sha256=... threshold=...`` of the output headers."""
        decision = self.decision
        return (f"model={self.bundle.name} model_sha256={self.bundle.sha256} threshold={self.locus_threshold:g} "
                f"score={decision.score} temperature={decision.temperature:g} window={self.window} "
                f"step={self.options.step} window_threshold={decision.threshold:g}")


@dataclass
class BackgroundCalibration:
    """The scan thresholds chosen on genomic background (:func:`calibrate_scan_threshold`)."""

    threshold: float  # on a locus's hairpin
    window_threshold: float
    allowed: int  # false loci the target allows on this background
    nucleotides: int  # background length (nt, each scanned on both strands)
    scores: np.ndarray  # hairpin scores >= window_threshold of the background's loci, highest first
    files: list[str]

    @property
    def false_loci(self) -> int:
        """Background loci whose hairpin reaches the threshold."""
        return int(np.count_nonzero(self.scores >= self.threshold))


def calibrate_scan_threshold(bundle, rule: Decision, paths: list[str], false_loci_per_mb: float,
                             window_threshold: float = DEFAULT_WINDOW_THRESHOLD, options: ScanOptions | None = None,
                             progress: Callable[[int], None] | None = None) -> BackgroundCalibration:
    """The lowest locus threshold at which real genomic sequence without miRNA genes (``paths``: FASTA, e.g. a
    bacterial genome) holds at most ``false_loci_per_mb`` loci per Mb (both strands scanned, so per Mb of
    sequence), windows being candidates from ``window_threshold`` (at least the classify threshold): floor
    (false_loci_per_mb x Mb) = K loci are allowed, and the threshold is just above the (K+1)-th highest hairpin
    score of the background's loci (never below the window threshold). Every background locus is false, so this
    is the genome-scale false-positive rate, which no calibration class of short RNAs measures: a genome is
    millions of windows of sequence unlike any of them."""
    from .seqio import read_records

    window_threshold = max(window_threshold, rule.threshold)
    # loci whose hairpin scores below the window threshold are left out: the threshold is never below it anyway
    scanner = Scanner(bundle, replace(options or ScanOptions(), threshold=window_threshold,
                                      window_threshold=window_threshold, hairpin_ends=True), rule)
    scores: list[float] = []
    for path in paths:
        for _, loci in scanner.scan(read_records(path), progress):
            scores += [locus.decision_score for locus in loci]
    ordered = np.sort(np.asarray(scores, dtype=np.float64))[::-1]
    allowed = int(math.floor(false_loci_per_mb * scanner.stats.nucleotides / 1e6 + 1e-9))
    threshold = float(np.nextafter(ordered[allowed], np.inf)) if len(ordered) > allowed else window_threshold
    return BackgroundCalibration(max(threshold, window_threshold), window_threshold, allowed,
                                 scanner.stats.nucleotides, ordered, [os.path.basename(p) for p in paths])


@dataclass
class _Candidate:
    start: int
    length: int
    low: float
    high: float
    score: float
    exact: bool
    pooled: np.ndarray | None  # kept until scored exactly
    logits: np.ndarray


class _OpenLocus:
    """Accepted windows of one strand merged so far, and the few that might be the best (by exact score)."""

    def __init__(self) -> None:
        self.start = self.end = 0
        self.windows = 0
        self.candidates: list[_Candidate] = []
        self.floor = -math.inf  # the best window scores at least this

    def add(self, scanner: Scanner, batch: WindowBatch, row: int) -> None:
        start = int(batch.starts[row])
        if not self.windows:
            self.start = start
        self.windows += 1
        self.end = max(self.end, start + batch.length)
        low, high = float(batch.low[row]), float(batch.high[row])
        if high < self.floor:
            return
        exact = bool(batch.exact[row])
        self.candidates.append(_Candidate(start, batch.length, low, high, float(batch.score[row]), exact,
                                          None if exact else batch.pooled[row].copy(), batch.logits[row].copy()))
        self.floor = max(self.floor, low)
        self.candidates = [c for c in self.candidates if c.high >= self.floor]
        if len(self.candidates) > CANDIDATE_LIMIT:
            self._rescore(scanner)

    def _rescore(self, scanner: Scanner) -> None:
        _rescore_candidates(scanner, [c for c in self.candidates if not c.exact])
        self.floor = max(c.score for c in self.candidates)
        self.candidates = [c for c in self.candidates if c.score >= self.floor][:1]  # ties: the first window

    def best(self, scanner: Scanner) -> _Candidate:
        self._rescore(scanner)
        return self.candidates[0]


def _rescore_candidates(scanner: Scanner, pending: list[_Candidate]) -> None:
    """Classify's exact scores for candidate windows (one batch through the exact dense kernel)."""
    if not pending:
        return
    logits = scanner.model.dense_layers(np.stack([c.pooled for c in pending]), scanner.options.threads)
    logits = logits.astype(np.float64)
    scores = scanner.decision.scores(logits)[1]
    scanner.stats.rescored += len(pending)
    for candidate, row, score in zip(pending, logits, scores.tolist()):
        candidate.logits, candidate.score = row, score
        candidate.low = candidate.high = score
        candidate.exact, candidate.pooled = True, None


# --- stage 1 and its error bound ----------------------------------------------------------------------------


class _BoundTerms:
    """Model constants of the error bound (:func:`_error_bound`)."""

    def __init__(self, model) -> None:
        w1 = np.abs(model.dense.astype(np.float64))
        w2 = np.abs(model.output.astype(np.float64))
        self.g = (w1 @ w2).max(axis=1)  # per input feature: max_c sum_j |W1_ij| |W2_jc|
        self.b = float((np.abs(model.dense_bias.astype(np.float64)) @ w2).max())  # max_c sum_j |b1_j| |W2_jc|
        self.m2 = w2.max(axis=1)  # per hidden unit: max_c |W2_jc|
        self.b2 = float(np.abs(model.output_bias).max())
        unit = 2.0**-24  # float32 unit roundoff
        inputs, hidden = w1.shape
        self.unit = unit / (1 - (inputs + 2) * unit)
        self.gamma_hidden = (hidden + 1) * unit / (1 - (hidden + 1) * unit)


def _error_bound(terms: _BoundTerms, weighted: np.ndarray, nonzero: np.ndarray, hw: np.ndarray) -> np.ndarray:
    """Per window, a bound on max_c |stage-1 logit_c - classify's float32 logit_c|.

    Classify's hidden unit j is a float32 recursive sum: bias_j, then x_i W1_ij for the N non-zero features in
    order, each product rounded and each addition rounded (no FMA, no reassociation). The term of the t-th feature
    goes through N - t + 2 roundings and the bias through N, so the sum is within
    sum_t gamma_{N-t+2} x_t |W1_tj| + gamma_N |b1_j| of the true value (Higham, Accuracy and Stability of Numerical
    Algorithms, 2002, sec. 3.1; x >= 0 after ReLU). Summed against |W2_jc| and maximised over classes that is at
    most u' (sum_t x_t g_t k_t + N b) = E1 (u' = u / (1 - (F + 2) u), g_t = max_c sum_j |W1_tj| |W2_jc|). The output
    sum adds gamma_{H+1} (|b2_c| + sum_j h_j |W2_jc|), with classify's h_j <= ReLU(stage 1's h_j) + its error.
    Stage 1 itself (float64, about 1e-12 here) gets a generous 1e-6 + 1e-9 of the magnitudes.
    """
    e1 = terms.unit * (weighted + nonzero * terms.b)
    output = terms.gamma_hidden * (terms.b2 + hw + e1)
    return e1 + output + 1e-6 + 1e-9 * (weighted + terms.b + hw)


def _score_range(decision: Decision, score: np.ndarray, bound: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bounds on the decision score of logits known to within ``bound`` (max over classes)."""
    if decision.score == "energy":  # T logsumexp(z / T) moves by at most max |dz|
        slack = bound + 1e-9 * (1.0 + np.abs(score))
        return score - slack, score + slack
    # every softmax(z / T)_c moves by a factor within exp(+-2 max|dz| / T), and so does their maximum
    factor = np.exp(2.0 * bound / decision.temperature)
    return score / factor * (1 - 1e-12), np.minimum(score * factor * (1 + 1e-12), 1.0)


def _approximate(model, terms: _BoundTerms, pooled: np.ndarray, threads: int) -> tuple[np.ndarray, np.ndarray]:
    """Stage 1: float64 logits of every window (hidden layers updated window to window) and their error bounds."""
    m = len(pooled)
    starts = np.arange(0, m, SEGMENT_WINDOWS, dtype=np.int64)
    kernels = _kernels()
    _set_threads(threads)
    logits, hw, weighted, nonzero = kernels.incremental_dense(pooled, model.dense, model.dense_bias, model.output,
                                                              model.output_bias, terms.m2, terms.g, starts,
                                                              DENSE_BLOCK)
    return logits, _error_bound(terms, weighted, nonzero, hw)


def _window_pool(model, tokens: np.ndarray, count: int, step: int, window: int, threads: int) -> np.ndarray:
    """(strands, count, live filters) pooled features of the windows at 0, step, ... of each row of ``tokens``."""
    kernels = _kernels()
    tasks = []
    for strand in range(len(tokens)):
        for kernel in range(len(model.kernel_sizes)):
            filters = int(model.feature_start[kernel + 1] - model.feature_start[kernel])
            chunks = int(model.first_chunk[kernel + 1] - model.first_chunk[kernel])
            for lo in range(0, filters, POOL_BLOCK):
                tasks.append((chunks * min(POOL_BLOCK, filters - lo), strand, kernel, lo))
    tasks.sort(reverse=True)  # the longest first: with dynamic scheduling, the threads finish together
    order = np.array([task[1:] for task in tasks], dtype=np.int64)
    _set_threads(threads)
    import numba

    previous = numba.set_parallel_chunksize(1)
    try:
        return kernels.window_pool(np.ascontiguousarray(tokens, dtype=np.int32), count, step, window, order,
                                   POOL_BLOCK, model.kernel_sizes, model.first_chunk, model.feature_start,
                                   model.chunk_start, model.chunk_offset, model.chunk_width, model.tables, model.bias)
    finally:
        numba.set_parallel_chunksize(previous)


def _set_threads(threads: int) -> None:
    import numba

    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS) if threads else numba.config.NUMBA_NUM_THREADS)


# --- numba kernels (compiled on first use, cached like deepmir_tools.table_kernel's) --------------------------

prange = range  # numba.prange once :func:`_kernels` has imported numba (read by the kernels when they compile)


def _window_pool_kernel(tokens, count, step, window, tasks, block, kernel_sizes, first_chunk, feature_start,
                        chunk_start, chunk_offset, chunk_width, tables, bias):
    """out[s, i, f] = ReLU(bias_f + max of filter f's responses over the positions of window i of strand s).

    Window i covers positions i*step .. i*step + window - k (k: the filter's kernel width). Responses are summed
    from the chunk tables exactly as table_kernel._pool_rows sums them (same rows, same order, float32)."""
    strands, n = tokens.shape
    widest = 0
    for chunk in range(len(chunk_width)):
        widest = max(widest, chunk_width[chunk])
    codes = np.zeros((strands, widest + 1, n), np.int64)  # codes[s, w, p]: base-5 code of tokens p .. p+w-1
    for s in range(strands):
        for w in range(1, widest + 1):
            for p in range(n - w + 1):
                codes[s, w, p] = codes[s, w - 1, p] * 5 + tokens[s, p + w - 1]
    out = np.empty((strands, count, feature_start[-1]), np.float32)
    for task in prange(len(tasks)):
        s, kernel, lo = tasks[task, 0], tasks[task, 1], tasks[task, 2]
        f0 = feature_start[kernel]
        filters = feature_start[kernel + 1] - f0
        width = min(block, filters - lo)
        span = window - kernel_sizes[kernel] + 1  # positions of a window whose kernel lies inside it
        whole = span // step
        rest = span - whole * step
        segments = count - 1 + whole + (1 if rest > 0 else 0)
        seg_max = np.empty((segments, width), np.float32)  # max over the segment's step positions
        seg_head = np.empty((segments, width), np.float32)  # max over its first `rest` positions
        total = np.empty(width, np.float32)
        best = np.empty(width, np.float32)
        first, last = first_chunk[kernel], first_chunk[kernel + 1]
        for seg in range(segments):
            for f in range(width):
                best[f] = -np.inf
            positions = rest if (seg == segments - 1 and rest > 0) else step
            for off in range(positions):
                p = seg * step + off
                start = chunk_start[first] + codes[s, chunk_width[first], p + chunk_offset[first]] * filters + lo
                row = tables[start : start + width]
                for f in range(width):
                    total[f] = row[f]
                for chunk in range(first + 1, last):
                    start = chunk_start[chunk] + codes[s, chunk_width[chunk], p + chunk_offset[chunk]] * filters + lo
                    row = tables[start : start + width]
                    for f in range(width):
                        total[f] += row[f]
                for f in range(width):
                    if total[f] > best[f]:
                        best[f] = total[f]
                if off == rest - 1:
                    for f in range(width):
                        seg_head[seg, f] = best[f]
            for f in range(width):
                seg_max[seg, f] = best[f]
        # window i is the max of seg_max[i .. i + whole - 1] (and seg_head[i + whole]): van Herk / Gil-Werman
        # blocks of `whole` segments, with a running max from each block's end (suffix) and from its start
        # (prefix, in place of seg_max), give any `whole` consecutive segments as max(suffix[i], prefix[i+whole-1])
        suffix = np.empty((segments, width), np.float32)
        if whole > 0:
            for block_start in range(0, segments, whole):
                block_end = min(block_start + whole, segments) - 1
                for f in range(width):
                    suffix[block_end, f] = seg_max[block_end, f]
                for seg in range(block_end - 1, block_start - 1, -1):
                    for f in range(width):
                        suffix[seg, f] = max(seg_max[seg, f], suffix[seg + 1, f])
                for seg in range(block_start + 1, block_end + 1):
                    for f in range(width):
                        seg_max[seg, f] = max(seg_max[seg, f], seg_max[seg - 1, f])  # now the prefix max
        kernel_bias = bias[f0 + lo : f0 + lo + width]
        for i in range(count):
            if whole == 0:
                for f in range(width):
                    best[f] = -np.inf
            elif i % whole == 0:  # the block itself
                for f in range(width):
                    best[f] = suffix[i, f]
            else:
                for f in range(width):
                    best[f] = max(suffix[i, f], seg_max[i + whole - 1, f])
            if rest > 0:
                for f in range(width):
                    if seg_head[i + whole, f] > best[f]:
                        best[f] = seg_head[i + whole, f]
            for f in range(width):
                value = best[f] + kernel_bias[f]
                out[s, i, f0 + lo + f] = value if value > 0.0 else 0.0
    return out


def _incremental_dense_kernel(pooled, w1, b1, w2, b2, m2, g, starts, block):
    """Stage 1: float64 logits of each row of ``pooled`` (a run of consecutive windows).

    Each segment (from ``starts``) sums its first window's hidden layer in full, then adds (x_new - x_old) W1_i
    for the features i that changed from one window to the next, ``block`` windows at a time (their changes
    grouped by feature, so that each changed row of W1, 15 MB in all, is read once per block). Also returns, per
    window, what the error bound needs: sum_j ReLU(h_j) m2_j, the count N of non-zero features and
    sum_i x_i g_i k_i, where k_i is the number of roundings classify's float32 sum applies to feature i's term
    (N - rank of i + 2)."""
    rows, features = pooled.shape
    hidden = w1.shape[1]
    classes = w2.shape[1]
    logits = np.empty((rows, classes), np.float64)
    hw = np.empty(rows, np.float64)
    weighted = np.empty(rows, np.float64)
    nonzero = np.empty(rows, np.int64)
    for segment in prange(len(starts)):
        a = starts[segment]
        b = starts[segment + 1] if segment + 1 < len(starts) else rows
        h = np.empty(hidden, np.float64)
        for j in range(hidden):
            h[j] = b1[j]
        for i in range(features):
            x = np.float64(pooled[a, i])
            if x != 0.0:
                weights = w1[i]
                for j in range(hidden):
                    h[j] += x * weights[j]
        change = np.zeros((block, hidden), np.float64)
        counts = np.zeros(features + 1, np.int64)
        w = a
        while w < b:
            count = min(block, b - w)
            first = 1 if w == a else 0  # the segment's first window is summed in full above
            for r in range(count):
                for j in range(hidden):
                    change[r, j] = 0.0
            # the changed features of the block's windows, grouped by feature (a counting sort), so that each
            # changed row of W1 is read once per block
            events = 0
            for r in range(first, count):
                current, previous = pooled[w + r], pooled[w + r - 1]
                for i in range(features):
                    if current[i] != previous[i]:
                        events += 1
            feature_of = np.empty(events, np.int64)
            window_of = np.empty(events, np.int64)
            delta_of = np.empty(events, np.float64)
            e = 0
            for r in range(first, count):
                current, previous = pooled[w + r], pooled[w + r - 1]
                for i in range(features):
                    if current[i] != previous[i]:
                        feature_of[e] = i
                        window_of[e] = r
                        delta_of[e] = np.float64(current[i]) - np.float64(previous[i])
                        e += 1
            for i in range(features + 1):
                counts[i] = 0
            for e in range(events):
                counts[feature_of[e] + 1] += 1
            for i in range(features):
                counts[i + 1] += counts[i]
            position = counts[:features].copy()
            by_window = np.empty(events, np.int64)
            by_delta = np.empty(events, np.float64)
            for e in range(events):
                i = feature_of[e]
                by_window[position[i]] = window_of[e]
                by_delta[position[i]] = delta_of[e]
                position[i] += 1
            for i in range(features):
                if counts[i] == counts[i + 1]:
                    continue
                weights = w1[i]
                for e in range(counts[i], counts[i + 1]):
                    d = by_delta[e]
                    target = change[by_window[e]]
                    for j in range(hidden):
                        target[j] += d * weights[j]
            for r in range(count):
                row = w + r
                for j in range(hidden):
                    h[j] += change[r, j]
                total = 0.0
                left = 0  # non-zero features from i on (i included)
                for i in range(features - 1, -1, -1):
                    x = np.float64(pooled[row, i])
                    if x != 0.0:
                        left += 1
                        total += x * g[i] * (left + 1)
                weighted[row] = total
                nonzero[row] = left
                out = logits[row]
                for c in range(classes):
                    out[c] = b2[c]
                hsum = 0.0
                for j in range(hidden):
                    v = h[j]
                    if v > 0.0:
                        hsum += v * m2[j]
                        weights = w2[j]
                        for c in range(classes):
                            out[c] += v * weights[c]
                hw[row] = hsum
            w += count
    return logits, hw, weighted, nonzero


@functools.cache
def _kernels():
    """The compiled kernels (numba imported here, on first use: ``deepmir-scan --help`` does not pay for it)."""
    from types import SimpleNamespace

    from . import cache

    cache.prepare_numba()
    import numba

    global prange
    prange = numba.prange
    flags = {"nnan", "ninf", "nsz"}  # as table_kernel: no "contract" (FMA) and no "reassoc", so the sums are its sums
    window_pool = numba.njit(parallel=True, fastmath=flags)(_window_pool_kernel)
    incremental_dense = numba.njit(parallel=True, fastmath=flags)(_incremental_dense_kernel)
    cache.enable_caching(window_pool, incremental_dense)
    return SimpleNamespace(window_pool=window_pool, incremental_dense=incremental_dense)


# --- output formats -----------------------------------------------------------------------------------------

_GFF_SEQID_SAFE = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.:^*$@!+_?-|")
_GFF_ATTRIBUTE_RESERVED = set(";=&,%\t\n\r")


def _first_set(*values: float | None) -> float:
    """The first value that is not None."""
    return next(value for value in values if value is not None)


def _gff_escape(text: str, safe: Callable[[str], bool]) -> str:
    return "".join(ch if safe(ch) else "".join(f"%{b:02X}" for b in ch.encode("utf-8")) for ch in text)


def gff_seqid(text: str) -> str:
    """Column 1 of GFF3: characters outside [a-zA-Z0-9.:^*$@!+_?-|] percent-encoded."""
    return _gff_escape(text, lambda ch: ch in _GFF_SEQID_SAFE)


def gff_value(text: str) -> str:
    """An attribute value of GFF3: ; = & , % tab, line ends and control characters percent-encoded."""
    return _gff_escape(text, lambda ch: ch not in _GFF_ATTRIBUTE_RESERVED and ord(ch) >= 32 and ord(ch) != 127)


class LocusWriter:
    """Writes loci as GFF3, BED or TSV (headers first; :meth:`write` per locus)."""

    def __init__(self, out: TextIO, fmt: str, scanner: Scanner, prog: str = "deepmir-scan"):
        if fmt not in FORMATS:
            raise DeepMirError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
        self.out, self.format, self.scanner = out, fmt, scanner
        self.classes = scanner.classes
        self.count = 0
        fields = scanner.header_fields()
        if fmt == "gff3":
            out.write("##gff-version 3\n")
            out.write(f"##{prog} {__version__} {fields}\n")
        elif fmt == "bed":
            out.write(f"# {prog} {__version__} format=bed6 {fields}\n")
        else:
            out.write(f"# {prog} {__version__} format={TSV_FORMAT} {fields}\n")
            out.write("\t".join(TSV_COLUMNS) + "\n")

    def write(self, locus: Locus) -> None:
        self.count += 1
        acc, name = self.classes[locus.families[0]]
        second_acc, second_name = self.classes[locus.families[1]] if len(locus.families) > 1 else (".", ".")
        second_score = f"{locus.scores[1]:.6f}" if len(locus.scores) > 1 else "."
        if self.format == "gff3":
            attributes = [("ID", f"deepmir{self.count}"), ("Name", name), ("family", name), ("family_accession", acc),
                          ("score", f"{locus.scores[0]:.6f}"), ("second_family", second_name),
                          ("second_family_accession", second_acc), ("second_score", second_score),
                          ("windows", str(locus.windows)), ("window", f"{locus.start + 1}-{locus.end}")]
            columns = [gff_seqid(locus.seqid), GFF_SOURCE, SO_PRE_MIRNA, str(locus.hairpin_start + 1),
                       str(locus.hairpin_end), f"{locus.scores[0]:.6f}", locus.strand, ".",
                       ";".join(f"{key}={gff_value(value)}" for key, value in attributes)]
        elif self.format == "bed":
            columns = [locus.seqid, str(locus.hairpin_start), str(locus.hairpin_end), name,
                       str(min(1000, max(0, round(1000 * locus.scores[0])))), locus.strand]
        else:
            columns = [locus.seqid, str(locus.hairpin_start + 1), str(locus.hairpin_end), locus.strand, acc, name,
                       f"{locus.scores[0]:.6f}", second_acc, second_score, f"{locus.decision_score:.6f}",
                       str(locus.windows), str(locus.locus_start + 1), str(locus.locus_end), str(locus.start + 1),
                       str(locus.end), f"{locus.window_score:.6f}"]
        self.out.write("\t".join(columns) + "\n")
