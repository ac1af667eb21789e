"""Small FASTA helpers for the peer benchmark: plain FASTA in and out (gzip too, no validation), so that every
peer gets the same records; header ``key=value`` fields are parsed by the package's own
:func:`deepmir_tools.labels.header_fields`. The deepmir peer itself is measured from the outside, through its
executables."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from typing import Iterable, Iterator

from deepmir_tools.labels import header_fields


@dataclass(frozen=True)
class Record:
    """One FASTA record with the ``key=value`` fields of its description."""

    id: str
    seq: str
    fields: dict

    @property
    def family(self) -> str | None:
        return self.fields.get("family") or None

    @property
    def name(self) -> str | None:
        return self.fields.get("name") or self.family

    @property
    def klass(self) -> str | None:
        return self.fields.get("class") or None


def _open_text(path: str):
    if path.endswith(".gz"):
        return gzip.open(path, "rt")
    return open(path, "rt")


def read_fasta(path: str) -> list[Record]:
    """All records of a (gzipped) FASTA file; sequences upper-cased, whitespace removed."""
    return list(iter_fasta(path))


def iter_fasta(path: str) -> Iterator[Record]:
    header = None
    chunks: list[str] = []
    with _open_text(path) as handle:
        for line in handle:
            line = line.rstrip("\n\r")
            if line.startswith(">"):
                if header is not None:
                    yield _record(header, chunks)
                header, chunks = line[1:], []
            elif header is not None:
                chunks.append(line.strip())
    if header is not None:
        yield _record(header, chunks)


def _record(header: str, chunks: list[str]) -> Record:
    record_id, _, description = header.partition(" ")
    return Record(record_id, "".join(chunks).upper(), header_fields(description))


def write_fasta(path: str, items: Iterable[tuple[str, str]], *, dna: bool = False) -> int:
    """Write (id, sequence) pairs one sequence per line; ``dna`` turns U into T. Returns the count."""
    count = 0
    with open(path, "w") as handle:
        for record_id, seq in items:
            if dna:
                seq = seq.replace("U", "T")
            handle.write(f">{record_id}\n{seq}\n")
            count += 1
    return count
