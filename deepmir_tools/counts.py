"""Per-sample read counts (``deepmir-classify --counts``), the count matrix (``deepmir-counts``) and MultiQC stats.

This module owns the counts table format ``deepmir-counts/1``: written by ``deepmir-classify``, read back and
validated by ``deepmir-counts``, which merges the tables of several samples into one count matrix (families x
samples) for DESeq2 or edgeR. It stays light (no numpy, no model code) so that ``deepmir-counts`` starts fast.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field

from .decision import ACCEPTED, STATUSES
from .errors import DeepMirError
from .labels import header_fields

COUNTS_FORMAT = "deepmir-counts/1"
COUNTS_COLUMNS = ("family_accession", "family_name", "reads", "unique_sequences")
# the order of the non-family rows (every status but accepted); one not listed (a future one) follows, alphabetically
STATUS_ORDER = tuple(status for status in STATUSES if status != ACCEPTED)
# header fields that must agree between samples before their counts can be compared
DECISION_FIELDS = ("model_sha256", "threshold", "temperature", "lengths", "seeds")
MATRIX_KEY_COLUMNS = ("family", "family_name")
STATS_SECTION = "deepmir_classify"
LENGTHS_SECTION = "deepmir_classify_lengths"

_SEQ_SUFFIXES = (".fastq", ".fq", ".fasta", ".fa", ".fna", ".fas", ".sam", ".bam", ".cram", ".npz", ".txt", ".seq")
_COMPRESSION_SUFFIXES = (".gz", ".bgz", ".bz2", ".xz", ".zst")


@dataclass
class Tally:
    """Reads per family (accepted calls) and per status (every other call), unique sequences, reads per length."""

    families: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    unique: dict = field(default_factory=dict)
    names: dict = field(default_factory=dict)
    lengths: Counter = field(default_factory=Counter)  # (status, length) -> reads
    records: int = 0

    def add(self, call, classes: list[tuple[str, str]]) -> None:
        """Count one :class:`~deepmir_tools.classify.Call` (``call.count`` reads)."""
        self.records += 1
        if call.status == ACCEPTED:
            key, name = classes[call.families[0]]
            self.families[key] += call.count
            self.names[key] = name
            unique = self.unique.setdefault(("family", key), set())
        else:
            self.statuses[call.status] += call.count
            unique = self.unique.setdefault(("status", call.status), set())
        unique.add(call.seq)
        self.lengths[(call.status, call.length)] += call.count

    def status_keys(self) -> list[str]:
        """Non-family statuses seen, in table order."""
        known = [s for s in STATUS_ORDER if s in self.statuses]
        return known + sorted(s for s in self.statuses if s not in STATUS_ORDER)

    def reads_by_status(self) -> dict[str, int]:
        """Reads per status, ``accepted`` first (every status of :data:`STATUS_ORDER` present, 0 if none)."""
        result = {ACCEPTED: sum(self.families.values())}
        for status in list(STATUS_ORDER) + self.status_keys():
            result[status] = self.statuses.get(status, 0)
        return result


def sample_name(path: str) -> str:
    """Default sample name: the input file's name without its sequence and compression suffixes."""
    if path == "-":
        return "stdin"
    name = os.path.basename(path.rstrip("/"))
    for suffixes in (_COMPRESSION_SUFFIXES, _SEQ_SUFFIXES):
        for suffix in suffixes:
            if name.lower().endswith(suffix) and len(name) > len(suffix):
                name = name[: -len(suffix)]
                break
    return re.sub(r"\s+", "_", name) or "sample"


def check_sample_name(name: str) -> str:
    """A sample name must be one word (it is a ``key=value`` field and a matrix column name)."""
    if not name or re.search(r"\s", name) or name in MATRIX_KEY_COLUMNS:
        raise DeepMirError(f"invalid sample name {name!r}: use one word without spaces, not 'family' or 'family_name'")
    return name


def counts_header(calls_header: str, sample: str) -> str:
    """The '#' line of a counts table: the calls TSV's header with this format and the sample name."""
    words = calls_header.split(" ")
    # "# deepmir-classify VERSION format=... model=..." -> same fields, our format, sample= after it
    fields = [w for w in words[3:] if not w.startswith("format=")]
    return " ".join(words[:3] + [f"format={COUNTS_FORMAT}", f"sample={sample}"] + fields)


def counts_table(tally: Tally, header: str) -> list[str]:
    """Lines of a counts table: header, columns, families (reads desc, then accession), then statuses."""
    lines = [header, "\t".join(COUNTS_COLUMNS)]
    for key in sorted(tally.families, key=lambda k: (-tally.families[k], k)):
        lines.append(f"{key}\t{tally.names[key]}\t{tally.families[key]}\t{len(tally.unique[('family', key)])}")
    for status in tally.status_keys():
        lines.append(f"{status}\t{status}\t{tally.statuses[status]}\t{len(tally.unique[('status', status)])}")
    return lines


@dataclass
class CountsTable:
    """One sample's counts, read back: header fields, family rows and status rows (key -> (name, reads))."""

    path: str
    fields: dict[str, str]
    families: dict[str, tuple[str, int]]
    statuses: dict[str, tuple[str, int]]

    @property
    def sample(self) -> str:
        return self.fields["sample"]


def _is_status_row(key: str, name: str) -> bool:
    return key == name and (key in STATUS_ORDER or re.fullmatch(r"[a-z][a-z_]*", key) is not None)


def read_counts(path: str) -> CountsTable:
    """Read and validate a ``deepmir-counts/1`` table; :class:`DeepMirError` naming the file and line otherwise."""
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except UnicodeDecodeError:
        raise DeepMirError(f"{path}: not a deepmir counts table (not text; gzip is not read here)") from None
    if not lines or not lines[0].startswith("# deepmir-classify "):
        raise DeepMirError(f"{path}: not a deepmir counts table (line 1 should start with '# deepmir-classify', "
                           "as written by deepmir-classify --counts)")
    fields = header_fields(lines[0])
    form = fields.get("format", "")
    if form != COUNTS_FORMAT:
        if form.startswith("deepmir-counts/"):
            raise DeepMirError(f"{path}: counts table format {form} is not supported (this version reads "
                               f"{COUNTS_FORMAT}); upgrade deepmir-tools")
        raise DeepMirError(f"{path}: not a deepmir counts table (format={form or 'missing'}, expected {COUNTS_FORMAT}; "
                           "a classification TSV is not a counts table)")
    for key in ("sample", "model", "model_sha256", "threshold"):
        if key not in fields:
            raise DeepMirError(f"{path}: line 1: missing {key}= in the header")
    if len(lines) < 2 or tuple(lines[1].split("\t")) != COUNTS_COLUMNS:
        raise DeepMirError(f"{path}: line 2: expected the columns {' '.join(COUNTS_COLUMNS)}")
    families: dict[str, tuple[str, int]] = {}
    statuses: dict[str, tuple[str, int]] = {}
    for number, line in enumerate(lines[2:], start=3):
        parts = line.split("\t")
        if len(parts) != 4 or not parts[2].isdigit() or not parts[3].isdigit() or not parts[0]:
            raise DeepMirError(f"{path}: line {number}: expected accession, name and two counts, got {line[:80]!r}")
        key, name, reads = parts[0], parts[1], int(parts[2])
        target = statuses if _is_status_row(key, name) else families
        if key in families or key in statuses:
            raise DeepMirError(f"{path}: line {number}: {key} listed twice")
        target[key] = (name, reads)
    return CountsTable(path, fields, families, statuses)


def merge_counts(tables: list[CountsTable], names: list[str] | None = None,
                 include_status: bool = False) -> list[str]:
    """Count matrix lines: ``family``, ``family_name``, one integer column per sample; families by total reads.

    Refuses (naming the file) two samples with one name, and samples classified with another model, threshold,
    temperature or length range than the first table's.
    """
    if names is not None and len(names) != len(tables):
        raise DeepMirError(f"--names gives {len(names)} names for {len(tables)} input files")
    samples: list[str] = []
    seen: dict[str, str] = {}
    first = tables[0]
    for index, table in enumerate(tables):
        sample = names[index] if names is not None else table.sample
        try:
            check_sample_name(sample)
        except DeepMirError as exc:
            raise DeepMirError(f"{table.path}: {exc}") from None
        if sample in seen:
            raise DeepMirError(f"{table.path}: sample name {sample!r} is also the name of {seen[sample]} "
                               "(give each sample its own name: --names, or deepmir-classify --sample)")
        seen[sample] = table.path
        samples.append(sample)
        for key in DECISION_FIELDS:
            if table.fields.get(key) != first.fields.get(key):
                what = "model" if key == "model_sha256" else key
                mine = f"{table.fields.get('model')} (sha256 {table.fields.get('model_sha256', '')[:12]})" \
                    if key == "model_sha256" else table.fields.get(key, "none")
                theirs = f"{first.fields.get('model')} (sha256 {first.fields.get('model_sha256', '')[:12]})" \
                    if key == "model_sha256" else first.fields.get(key, "none")
                raise DeepMirError(f"{table.path}: classified with {what} {mine}, but {first.path} with {theirs}; "
                                   "merge only samples classified alike")
    totals: Counter = Counter()
    family_names: dict[str, str] = {}
    for table in tables:
        for key, (name, reads) in table.families.items():
            totals[key] += reads
            family_names.setdefault(key, name)
    rows = sorted(totals, key=lambda k: (-totals[k], k))
    lines = ["\t".join(list(MATRIX_KEY_COLUMNS) + samples)]
    for key in rows:
        values = [str(table.families.get(key, ("", 0))[1]) for table in tables]
        lines.append("\t".join([key, family_names[key]] + values))
    if include_status:
        present = {s for table in tables for s in table.statuses}
        ordered = [s for s in STATUS_ORDER if s in present] + sorted(present - set(STATUS_ORDER))
        for status in ordered:
            values = [str(table.statuses.get(status, ("", 0))[1]) for table in tables]
            lines.append("\t".join([status, status] + values))
    return lines


def stats_yaml(tally: Tally, sample: str, fields: dict[str, str]) -> str:
    """A MultiQC custom-content file (``*_mqc.yaml``, plot type table): one sample's reads by status.

    Files of several samples share the section id, so MultiQC puts them in one table (and in
    ``multiqc_data/multiqc_deepmir_classify.txt``). Written by hand, not with a YAML library: the values are
    numbers and the sample name is quoted.
    """
    by_status = tally.reads_by_status()
    total = sum(by_status.values())
    lines = [
        f"# deepmir-classify stats, MultiQC custom content; model={fields.get('model', '')} "
        f"threshold={fields.get('threshold', '')}",
        f"id: '{STATS_SECTION}'",
        "section_name: 'DeepMir classify'",
        "description: 'Reads by classification status (collapsed read counts honoured): accepted reads got a "
        "miRNA family; rejected scored below the threshold; seed_mismatch scored above it, but their nt 2-8 are no "
        "known seed of the family; too_short / too_long are outside the model''s length "
        "range; skipped are longer than the model input.'",
        "plot_type: 'table'",
        "pconfig:",
        f"  id: '{STATS_SECTION}_table'",
        "  title: 'DeepMir classify: reads by status'",
        "headers:",
        "  reads: {title: 'Reads', description: 'reads classified', format: '{:,.0f}'}",
    ]
    for status in by_status:
        lines.append(f"  {status}: {{title: '{status}', description: 'reads {status}', format: '{{:,.0f}}'}}")
    lines.append("  accepted_percent: {title: '% accepted', suffix: '%', min: 0, max: 100, format: '{:,.1f}'}")
    lines.append("data:")
    quoted = sample.replace("'", "''")
    lines.append(f"  '{quoted}':")
    lines.append(f"    reads: {total}")
    for status, reads in by_status.items():
        lines.append(f"    {status}: {reads}")
    lines.append(f"    accepted_percent: {100.0 * by_status[ACCEPTED] / total if total else 0.0:.4f}")
    return "\n".join(lines) + "\n"


def length_stats_yaml(tally: Tally, sample: str) -> str:
    """A MultiQC custom-content line graph (``*_mqc.yaml``): reads per length, one line per sample and status.

    The lines are named ``SAMPLE STATUS`` (custom content allows one line per data key), so the files of several
    samples add up to one plot of the length distributions of accepted and rejected reads.
    """
    lines = [
        f"id: '{LENGTHS_SECTION}'",
        "section_name: 'DeepMir classify: read lengths'",
        "description: 'Reads per length (nt) and classification status; mature miRNAs peak at 21-23 nt.'",
        "plot_type: 'linegraph'",
        "pconfig:",
        f"  id: '{LENGTHS_SECTION}_plot'",
        "  title: 'DeepMir classify: reads per length by status'",
        "  xlab: 'length (nt)'",
        "  ylab: 'reads'",
        "  x_decimals: 0",
        "data:",
    ]
    for status in (ACCEPTED, *tally.status_keys()):
        per_length = sorted((length, reads) for (st, length), reads in tally.lengths.items() if st == status)
        if not per_length:
            continue
        quoted = f"{sample} {status}".replace("'", "''")
        lines.append(f"  '{quoted}':")
        lines.extend(f"    {length}: {reads}" for length, reads in per_length)
    if lines[-1] == "data:":
        lines[-1] = "data: {}"
    return "\n".join(lines) + "\n"
