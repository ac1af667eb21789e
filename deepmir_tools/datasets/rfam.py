"""Rfam input: miRNA families from one labelled FASTA (``>RF00027|...``) or from per-family FASTA files."""

from __future__ import annotations

import os
import re
from collections import Counter

from ..errors import DeepMirError, InputFormatError
from ..seqio import SeqRecord, read_records
from .model import Family, Item

_RFAM_ACCESSION = re.compile(r"RF\d{5}")


def load_rfam_labelled(path: str) -> list[Item]:
    """Rfam sequences from one FASTA whose IDs start with the family: ``>RF00027|AY866017.1/450-525``."""
    items = []
    for record in read_records(path):
        accession = record.id.split("|", 1)[0]
        if not _RFAM_ACCESSION.fullmatch(accession):
            raise InputFormatError(
                f"{path}: record '{record.id}', line {record.line}: ID does not start with an Rfam "
                "accession (expected '>RFxxxxx|...')"
            )
        items.append(Item(record, Family(accession, accession)))
    return items


def rfam_family_files(directory: str) -> list[tuple[str, str]]:
    """(accession, path) of the per-family FASTA files in ``directory`` (``clear_RF00027.fa``), sorted."""
    if not os.path.isdir(directory):
        raise DeepMirError(f"{directory}: no such directory")
    found = []
    for name in sorted(os.listdir(directory)):
        match = _RFAM_ACCESSION.search(name)
        if match and re.search(r"\.(fa|fasta|fna)(\.gz)?$", name):
            found.append((match.group(0), os.path.join(directory, name)))
    if not found:
        raise DeepMirError(f"{directory}: no FASTA files named with an Rfam accession (e.g. clear_RF00027.fa)")
    accessions = [accession for accession, _ in found]
    if len(set(accessions)) != len(accessions):
        raise DeepMirError(f"{directory}: several FASTA files for one Rfam accession")
    return sorted(found)


def load_rfam_dir(directory: str) -> list[Item]:
    """Rfam sequences from per-family FASTA files; IDs become ``RFxxxxx|original`` as in the labelled file."""
    items = []
    for accession, path in rfam_family_files(directory):
        family = Family(accession, accession)
        for record in read_records(path):
            renamed = SeqRecord(f"{accession}|{record.id}", record.seq, record.description, record.line)
            items.append(Item(renamed, family))
    return items


def load_rfam(labelled_fasta: str | None = None, fasta_dir: str | None = None) -> list[Item]:
    """Rfam miRNA families from the single labelled FASTA or from a directory of per-family files.

    Rfam files carry no family names, so the name is the accession.
    """
    if (labelled_fasta is None) == (fasta_dir is None):
        raise DeepMirError("give either a labelled FASTA or a directory of per-family FASTA files")
    items = load_rfam_labelled(labelled_fasta) if labelled_fasta else load_rfam_dir(fasta_dir or "")
    ids = Counter(item.record.id for item in items)
    repeated = [name for name, count in ids.items() if count > 1]
    if repeated:
        raise InputFormatError(f"duplicate sequence ID '{repeated[0]}' across the Rfam files")
    return items
