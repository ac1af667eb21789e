"""Call tables of ``deepmir-classify`` (TSV ``deepmir-classify-tsv/1``) read back: their header lines, and merging.

A call table opens with two header lines: a ``#`` comment line that records how the calls were made
(``# deepmir-classify VERSION format=deepmir-classify-tsv/1 model=NAME model_sha256=SHA threshold=T``, plus
``temperature=``, ``lengths=`` and ``seeds=`` where they apply) and the column line (``id  length  ...``; its
columns depend on ``--top-k`` and ``--long window``). Then one row per sequence, in input order.

:func:`merge_call_tables` concatenates the tables of one input split into chunks (``deepmir-merge``, the Galaxy
collection route of docs/galaxy.md): one header, then every chunk's rows in the order given, so that the result
equals one ``deepmir-classify`` run on the whole input. Tables that were not made alike (another model or
checksum, threshold, any other ``key=value`` field of the decision rule, format or package version on line 1, or
other columns on line 2) are refused with a one-line :class:`~deepmir_tools.errors.DeepMirError` naming the file,
before anything is written. Every ``key=value`` field of line 1 is compared, so fields that later versions of
``deepmir-classify`` add to the header are compared too.

This module stays light (no numpy, no model code), so that ``deepmir-merge`` starts fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence, TextIO

from .errors import DeepMirError
from .labels import header_fields

#: the format name on line 1, which deepmir_tools.classify writes (as its ``TSV_FORMAT``)
CALLS_FORMAT = "deepmir-classify-tsv/1"
#: how line 1 of a call table starts
COMMENT_PREFIX = "# deepmir-classify "
#: the first columns of every call table (the column line starts with them)
LEADING_COLUMNS = ("id", "length")
#: line 1 fields that must be present in every call table
REQUIRED_FIELDS = ("format", "model", "model_sha256", "threshold")


@dataclass(frozen=True)
class CallTableHeader:
    """The two header lines of one call table.

    ``comment`` is line 1 as written (without the newline), ``version`` the ``deepmir-classify`` version it names,
    ``fields`` its ``key=value`` fields and ``columns`` the column names of line 2.
    """

    path: str
    comment: str
    version: str
    fields: dict[str, str]
    columns: tuple[str, ...]

    def describe(self, key: str) -> str:
        """A field for a message: the model with the start of its checksum, any other field as ``key=value``."""
        if key in ("model", "model_sha256"):
            return f"model {self.fields.get('model', 'none')} (sha256 {self.fields.get('model_sha256', 'none')[:12]})"
        return f"{key}={self.fields.get(key, 'none')}"


def _not_a_table(path: str, why: str) -> DeepMirError:
    return DeepMirError(f"{path}: not a deepmir-classify call table ({why})")


def _lines(path: str) -> Iterator[str]:
    """The lines of a text file without their line ends; a binary or gzip file is a DeepMirError naming it."""
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            for line in handle:
                yield line.rstrip("\r\n")
    except UnicodeDecodeError:
        raise _not_a_table(path, "not text; gzip is not read here") from None


def parse_header(path: str, first: str | None, second: str | None) -> CallTableHeader:
    """Check and parse the two header lines of ``path`` (``None``: the file ended before that line)."""
    if first is None:
        raise _not_a_table(path, "empty file")
    if not first.startswith(COMMENT_PREFIX):
        raise _not_a_table(path, "line 1 should start with '# deepmir-classify', as deepmir-classify writes it")
    words = first.split()
    version = words[2] if len(words) > 2 and "=" not in words[2] else ""
    fields = header_fields(first)
    form = fields.get("format", "")
    if form != CALLS_FORMAT:
        if form.startswith("deepmir-counts/"):
            raise _not_a_table(path, f"format={form} is a reads-per-family table: merge those with deepmir-counts")
        if form.startswith("deepmir-classify-tsv/"):
            raise DeepMirError(f"{path}: call table format {form} is not supported (this version reads "
                               f"{CALLS_FORMAT}); upgrade deepmir-tools")
        raise _not_a_table(path, f"format={form or 'missing'} on line 1, expected {CALLS_FORMAT}")
    for key in REQUIRED_FIELDS:
        if key not in fields:
            raise DeepMirError(f"{path}: line 1: missing {key}= in the header")
    columns = tuple(second.split("\t")) if second is not None else ()
    if columns[: len(LEADING_COLUMNS)] != LEADING_COLUMNS:
        raise DeepMirError(f"{path}: line 2: expected the column line ({' '.join(LEADING_COLUMNS)} ...)")
    return CallTableHeader(path, first, version, fields, columns)


def read_header(path: str) -> CallTableHeader:
    """The two header lines of the call table ``path``, checked (a DeepMirError naming the file otherwise)."""
    lines = _lines(path)
    first = next(lines, None)
    second = next(lines, None) if first is not None else None
    lines.close()
    return parse_header(path, first, second)


def check_alike(headers: Sequence[CallTableHeader]) -> None:
    """Refuse tables not made alike: every header must agree with the first one.

    Line 1 must name the same ``deepmir-classify`` version and have the same ``key=value`` fields with the same
    values (format, model and its checksum, threshold and every other field of the decision rule; a field that one
    table has and the other lacks differs too); line 2 must list the same columns. The first difference found (in
    the order of the first table's fields) is reported.
    """
    if not headers:
        raise DeepMirError("no call tables to merge")
    first = headers[0]
    for header in headers[1:]:
        keys = list(first.fields) + [key for key in header.fields if key not in first.fields]
        for key in keys:
            if header.fields.get(key) != first.fields.get(key):
                raise DeepMirError(f"{header.path}: classified with {header.describe(key)}, but {first.path} with "
                                   f"{first.describe(key)}; merge only the tables of one classification")
        if header.version != first.version:
            raise DeepMirError(f"{header.path}: written by deepmir-classify {header.version}, but {first.path} by "
                               f"{first.version}; merge only the tables of one classification")
        if header.columns != first.columns:
            raise DeepMirError(f"{header.path}: line 2: columns {' '.join(header.columns)} differ from those of "
                               f"{first.path} ({' '.join(first.columns)}); classify every chunk with the same "
                               "--top-k and --long options")


def _rows(header: CallTableHeader) -> Iterator[str]:
    """The rows of a checked table, each checked to have one field per column."""
    width = len(header.columns)
    lines = _lines(header.path)
    for _ in range(2):
        next(lines, None)
    for number, line in enumerate(lines, start=3):
        if line.startswith("#"):
            raise DeepMirError(f"{header.path}: line {number}: a '#' line among the rows (two tables concatenated?)")
        if line.count("\t") + 1 != width:
            raise DeepMirError(f"{header.path}: line {number}: {line.count(chr(9)) + 1} tab-separated fields, "
                               f"expected {width} (the columns of line 2)")
        yield line


def merge_call_tables(paths: Sequence[str], out: TextIO) -> int:
    """Write the call tables ``paths`` as one table to ``out``: line 1 and the column line of the first, then
    every table's rows in the order given. Returns the number of rows written.

    Every table's header is read and checked (:func:`check_alike`) before the first line is written; a malformed
    row raises while writing, so write to an atomic output (:func:`deepmir_tools.atomic.atomic_output`), which
    then keeps nothing.
    """
    headers = [read_header(path) for path in paths]
    check_alike(headers)
    first = headers[0]
    out.write(first.comment + "\n" + "\t".join(first.columns) + "\n")
    rows = 0
    for header in headers:
        for line in _rows(header):
            out.write(line + "\n")
            rows += 1
    return rows
