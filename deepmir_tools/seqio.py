"""Sequence input: FASTA and FASTQ, plain or gzip, from a file or ``-`` (stdin), streamed.

Every record is normalised: upper case, DNA ``T`` becomes ``U``. The letters A, C, G, U
are bases; the IUPAC ambiguity codes (R Y S W K M B D H V) and N are accepted and later
encode as all-zero one-hot rows. Any other character (digits, ``*``, ``-``, spaces inside
a sequence, control bytes) is an error naming the file, the record and the line.

Why not pysam's ``FastxFile``: its kseq parser accepts anything and cannot say on which
line a record went wrong; the errors here must name the record and line, and this reader
streams line by line at several hundred thousand records per second, which is far more
than the classifier consumes.

SAM/BAM/CRAM reads are read through pysam (:func:`read_alignment_records`).
"""

from __future__ import annotations

import gzip
import io
import os
import sys
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Iterable, Iterator

from .errors import DeepMirError, InputFormatError

BASES = "ACGU"
IUPAC_AMBIGUOUS = "RYSWKMBDHVN"
_ALLOWED = (BASES + IUPAC_AMBIGUOUS).encode()
_GZIP_MAGIC = b"\x1f\x8b"
_BOM = b"\xef\xbb\xbf"
_HEADER_CONTROL = bytes(c for c in range(32) if c != 9) + b"\x7f"  # C0 controls except tab, and DEL
ALIGNMENT_SUFFIXES = (".sam", ".bam", ".cram")
LONG_POLICIES = ("error", "skip", "truncate", "window")


@dataclass(frozen=True)
class SeqRecord:
    """One normalised input record."""

    id: str
    seq: str
    description: str = ""
    line: int = 0


@dataclass(frozen=True)
class Segment:
    """A sequence ready for encoding: a whole record, or one window of a long record."""

    index: int  # index of the source record in input order
    id: str
    seq: str
    offset: int = 0  # 0-based start of the window in the source record
    source_length: int = 0  # length of the whole source record
    description: str = ""  # header text of the source record (labels live here)
    line: int = 0  # header line of the source record


def open_binary(path: str) -> BinaryIO:
    """Open ``path`` (or ``-`` for stdin) for binary reading, transparently un-gzipping.

    Gzip is recognised by its magic bytes, not the file name, so gzipped stdin works.
    """
    if path == "-":
        raw: BinaryIO = sys.stdin.buffer
    else:
        if os.path.isdir(path):
            raise DeepMirError(f"{path}: is a directory, expected a FASTA/FASTQ file")
        try:
            raw = open(path, "rb")
        except FileNotFoundError:
            raise DeepMirError(f"{path}: no such file") from None
        except OSError as exc:
            raise DeepMirError(f"{path}: cannot open: {exc.strerror}") from None
    buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)
    if buffered.peek(2)[:2] == _GZIP_MAGIC:
        return gzip.GzipFile(fileobj=buffered, mode="rb")  # type: ignore[return-value]
    return buffered


def normalise_sequence(raw: bytes) -> bytes:
    """Upper-case ``raw`` and turn T into U; returns bytes (callers validate them)."""
    return raw.upper().replace(b"T", b"U")


def _invalid_letters(seq: bytes) -> bytes:
    return seq.translate(None, _ALLOWED)


class _LineReader:
    """Numbered, stripped lines of a binary stream, with file-level error translation."""

    def __init__(self, path: str, stream: BinaryIO):
        self.path = path
        self.stream = stream
        self.number = 0

    def __iter__(self) -> Iterator[bytes]:
        try:
            for line in self.stream:
                self.number += 1
                if self.number == 1 and line.startswith(_BOM):
                    line = line[len(_BOM):]
                yield line.rstrip(b"\r\n \t")
        except (EOFError, zlib.error, gzip.BadGzipFile, OSError) as exc:
            raise InputFormatError(
                f"{self.path}: corrupt or truncated gzip input after line {self.number} ({exc})"
            ) from None

    def fail(self, message: str, record: str | None = None) -> InputFormatError:
        where = f"record '{record}', " if record else ""
        return InputFormatError(f"{self.path}: {where}line {self.number}: {message}")


def _parse_header(lines: _LineReader, header: bytes) -> tuple[str, str]:
    try:
        text = header[1:].decode("utf-8")
    except UnicodeDecodeError:
        raise lines.fail("header is not valid UTF-8 text") from None
    if header.translate(None, _HEADER_CONTROL) != header:
        # NUL and other control bytes are signs of a corrupt file; NUL would also vanish from IDs in NPZ
        raise lines.fail("header contains control characters")
    parts = text.split(None, 1)
    if not parts:
        raise lines.fail("header has no sequence ID")
    return parts[0], parts[1] if len(parts) > 1 else ""


def _check_sequence(lines: _LineReader, record: str, seq: bytes) -> str:
    bad = _invalid_letters(seq)
    if bad:
        shown = bad[:1].decode("latin-1")
        raise lines.fail(f"invalid character {shown!r} in sequence (allowed: ACGTU, IUPAC codes, N)", record)
    return seq.decode("ascii")


def _fasta_records(lines: _LineReader, iterator: Iterator[bytes], first: bytes) -> Iterator[SeqRecord]:
    record_id, description = _parse_header(lines, first)
    header_line, chunks = lines.number, []
    for line in iterator:
        if line.startswith(b">"):
            yield _finish_fasta(lines.path, record_id, description, header_line, chunks)
            record_id, description = _parse_header(lines, line)
            header_line, chunks = lines.number, []
        elif line:
            chunk = normalise_sequence(line)
            _check_sequence(lines, record_id, chunk)  # checked per line so the error names that line
            chunks.append(chunk)
    yield _finish_fasta(lines.path, record_id, description, header_line, chunks)


def _finish_fasta(path: str, record_id: str, description: str, header_line: int, chunks: list[bytes]) -> SeqRecord:
    seq = b"".join(chunks)
    if not seq:
        raise InputFormatError(f"{path}: record '{record_id}', line {header_line}: empty sequence")
    return SeqRecord(record_id, seq.decode("ascii"), description, header_line)


def _fastq_records(lines: _LineReader, iterator: Iterator[bytes], first: bytes) -> Iterator[SeqRecord]:
    header: bytes | None = first
    while header is not None:
        header_line = lines.number
        if not header.startswith(b"@"):
            raise lines.fail("expected a FASTQ header starting with '@'")
        record_id, description = _parse_header(lines, header)
        seq = next(iterator, None)
        plus = next(iterator, None)
        quality = next(iterator, None)
        if quality is None or plus is None or seq is None:
            raise lines.fail("truncated FASTQ record (expected 4 lines)", record_id)
        if not plus.startswith(b"+"):
            raise lines.fail("expected '+' separator line", record_id)
        if len(quality) != len(seq):
            raise lines.fail(f"quality length {len(quality)} differs from sequence length {len(seq)}", record_id)
        if not seq:
            raise InputFormatError(f"{lines.path}: record '{record_id}', line {header_line}: empty sequence")
        yield SeqRecord(record_id, _check_sequence(lines, record_id, normalise_sequence(seq)), description, header_line)
        header = next(iterator, None)
        while header is not None and not header:  # tolerate trailing blank lines
            header = next(iterator, None)


def _records_from_stream(path: str, stream: BinaryIO) -> Iterator[SeqRecord]:
    lines = _LineReader(path, stream)
    iterator = iter(lines)
    first = next(iterator, None)
    while first is not None and not first:
        first = next(iterator, None)
    if first is None:
        return
    if first.startswith(b">"):
        yield from _fasta_records(lines, iterator, first)
    elif first.startswith(b"@"):
        yield from _fastq_records(lines, iterator, first)
    else:
        raise lines.fail("not a FASTA or FASTQ file (first line starts with neither '>' nor '@')")


def read_records(path: str, *, allow_empty: bool = False, unique_ids: bool = True) -> Iterator[SeqRecord]:
    """Stream the normalised records of a FASTA/FASTQ file (plain or gzip, ``-`` = stdin).

    Raises :class:`InputFormatError` on the first malformed record, on a duplicate ID
    (when ``unique_ids``) and, unless ``allow_empty``, on a file without records.
    """
    stream = open_binary(path)
    seen: set[str] = set()
    count = 0
    try:
        for record in _records_from_stream(path, stream):
            if unique_ids:
                if record.id in seen:
                    raise InputFormatError(f"{path}: record '{record.id}', line {record.line}: duplicate sequence ID")
                seen.add(record.id)
            count += 1
            yield record
    finally:
        if path != "-":
            stream.close()
    if count == 0 and not allow_empty:
        raise InputFormatError(f"{path}: no sequences found (empty input)")


def read_alignment_records(path: str, *, allow_empty: bool = True) -> Iterator[SeqRecord]:
    """Stream the reads of a SAM/BAM/CRAM file through pysam (primary records only).

    Reads mapped to the reverse strand are stored reverse-complemented in SAM; they are
    turned back into the sequenced orientation so that the classifier sees the RNA.
    """
    import pysam  # imported here: only this input type needs it

    try:
        handle = pysam.AlignmentFile(path, "r", check_sq=False)
    except (OSError, ValueError) as exc:
        raise InputFormatError(f"{path}: not a readable SAM/BAM/CRAM file ({exc})") from None
    seen: set[str] = set()
    with handle:
        try:
            for number, read in enumerate(handle, start=1):
                if read.is_secondary or read.is_supplementary or read.query_sequence is None:
                    continue
                seq = read.get_forward_sequence() if read.is_reverse else read.query_sequence
                name = read.query_name or f"read{number}"
                if name in seen:
                    continue  # the mate or a duplicate entry of a read already reported
                seen.add(name)
                normalised = normalise_sequence(seq.encode("ascii"))
                if _invalid_letters(normalised):
                    raise InputFormatError(f"{path}: read '{name}' (record {number}): invalid sequence characters")
                yield SeqRecord(name, normalised.decode("ascii"), "", number)
        except OSError as exc:
            raise InputFormatError(f"{path}: corrupt or truncated alignment file ({exc})") from None
        except (NotImplementedError, ValueError) as exc:  # pysam: text that is not SAM (no header, bad fields)
            raise InputFormatError(f"{path}: not a readable SAM/BAM/CRAM file ({exc})") from None
    if not seen and not allow_empty:
        raise InputFormatError(f"{path}: no reads found (empty input)")


def is_alignment_path(path: str) -> bool:
    """True for a path named like a SAM/BAM/CRAM file."""
    return path.lower().endswith(ALIGNMENT_SUFFIXES)


def read_any(path: str, *, allow_empty: bool = False) -> Iterator[SeqRecord]:
    """Records from FASTA/FASTQ (default) or SAM/BAM/CRAM (by file suffix)."""
    if is_alignment_path(path):
        return read_alignment_records(path, allow_empty=allow_empty)
    return read_records(path, allow_empty=allow_empty)


def window_starts(length: int, window: int, step: int) -> list[int]:
    """Start offsets of windows of ``window`` nt every ``step`` nt, the last one flush with the end."""
    if length <= window:
        return [0]
    starts = list(range(0, length - window + 1, step))
    if starts[-1] != length - window:
        starts.append(length - window)
    return starts


class LengthPolicy:
    """Applies ``--long {error,skip,truncate,window}`` to records longer than ``max_len``.

    Iterating :meth:`segments` yields :class:`Segment` objects; ``skipped`` counts the
    records dropped by the ``skip`` policy.
    """

    def __init__(self, max_len: int, policy: str = "skip", step: int = 50, source: str = ""):
        if policy not in LONG_POLICIES:
            raise DeepMirError(f"unknown --long policy {policy!r} (choose from {', '.join(LONG_POLICIES)})")
        if step < 1:
            raise DeepMirError("--window-step must be >= 1")
        self.max_len, self.policy, self.step = max_len, policy, step
        self.where = f"{source}: " if source else ""  # names the file in errors
        self.skipped = 0

    def segments(self, records: Iterable[SeqRecord]) -> Iterator[Segment]:
        for index, record in enumerate(records):
            n = len(record.seq)
            extra = {"description": record.description, "line": record.line}
            if n <= self.max_len:
                yield Segment(index, record.id, record.seq, 0, n, **extra)
            elif self.policy == "error":
                raise InputFormatError(
                    f"{self.where}record '{record.id}' (line {record.line}) is {n} nt, longer than the model length "
                    f"{self.max_len}; use --long skip|truncate|window"
                )
            elif self.policy == "skip":
                self.skipped += 1
            elif self.policy == "truncate":
                yield Segment(index, record.id, record.seq[: self.max_len], 0, n, **extra)
            else:
                for start in window_starts(n, self.max_len, self.step):
                    yield Segment(index, record.id, record.seq[start : start + self.max_len], start, n, **extra)
