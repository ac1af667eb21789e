"""miRBase input: family membership (``miFam.dat``), hairpins, and mature miRNAs with their hairpins' family."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Iterator, Sequence

from ..errors import InputFormatError
from ..seqio import SeqRecord, open_binary, read_records
from .model import Family, Item

_LOCUS_SUFFIX = re.compile(r"^(.+)-\d+$")
_ARM_SUFFIX = re.compile(r"-[35]p$")
_ISOFORM_SUFFIX = re.compile(r"\.\d+$")


def read_mifam(path: str) -> dict[str, Family]:
    """Hairpin accession (``MI...``) -> family, from a miRBase ``miFam.dat`` file.

    The file has ``AC`` (family accession), ``ID`` (family name) and ``MI`` (member accession
    and name) lines per family, closed by ``//``. A hairpin listed twice keeps its first family.
    """
    members: dict[str, Family] = {}
    for accession, name, hairpins in _mifam_entries(path):
        family = Family(accession, name)
        for hairpin in hairpins:
            members.setdefault(hairpin, family)
    if not members:
        raise InputFormatError(f"{path}: no families found (expected miFam.dat lines 'AC', 'ID', 'MI', '//')")
    return members


def _mifam_entries(path: str) -> Iterator[tuple[str, str, list[str]]]:
    accession, name, hairpins = "", "", []
    for number, line in _text_lines(path):
        tag, fields = line[:2], line[2:].split()
        if tag == "//":
            if accession:
                yield accession, name or accession, hairpins
            accession, name, hairpins = "", "", []
        elif tag in ("AC", "ID", "MI") and not fields:
            raise InputFormatError(f"{path}: line {number}: '{tag}' line without a value")
        elif tag == "AC":
            accession = fields[0]
        elif tag == "ID":
            name = fields[0]
        elif tag == "MI":
            hairpins.append(fields[0])
        elif line.strip():
            raise InputFormatError(f"{path}: line {number}: not a miFam.dat line (expected AC, ID, MI or //)")
    if accession:
        yield accession, name or accession, hairpins


def _text_lines(path: str) -> Iterator[tuple[int, str]]:
    with open_binary(path) as stream:  # gzip-aware, with the package's file errors
        for number, raw in enumerate(stream, start=1):
            try:
                yield number, raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                raise InputFormatError(f"{path}: line {number}: not UTF-8 text") from None


def mirbase_accession(record: SeqRecord, path: str, prefix: str) -> str:
    """The accession after the name in a miRBase header (``>hsa-mir-21 MI0000077 ...``)."""
    accession = record.description.split(None, 1)[0] if record.description else ""
    if not accession.startswith(prefix):
        raise InputFormatError(
            f"{path}: record '{record.id}', line {record.line}: no {prefix} accession after the name "
            "(expected a miRBase header such as '>hsa-mir-21 MI0000077 Homo sapiens miR-21 stem-loop')"
        )
    return accession


def load_mirbase_hairpins(hairpins: str, families: str) -> list[Item]:
    """miRBase hairpins with their family (None for hairpins in no family), in file order."""
    membership = read_mifam(families)
    items = [
        Item(record, membership.get(mirbase_accession(record, hairpins, "MI")))
        for record in read_records(hairpins)
    ]
    if not any(item.family for item in items):
        raise InputFormatError(f"{hairpins}: no hairpin accession is listed in {families} (wrong miFam.dat?)")
    return items


def mature_stem(name: str) -> str:
    """Hairpin-name stem of a mature miRNA: ``hsa-miR-21-5p`` -> ``hsa-mir-21``.

    Lower case (miRBase writes ``miR``/``MIR`` for matures, ``mir``/``MIR`` for hairpins), and
    without the star of old names (``hsa-miR-17*``), the isoform suffix of some plant names
    (``ath-miR161.1``) and the arm (``-5p``/``-3p``).
    """
    stem = name.lower().rstrip("*")
    stem = _ISOFORM_SUFFIX.sub("", stem)
    return _ARM_SUFFIX.sub("", stem)


class HairpinIndex:
    """Finds the hairpins a mature miRNA comes from.

    By name: the hairpin named like the mature's stem (``hsa-mir-21`` for ``hsa-miR-21-5p``) and
    the numbered loci of that stem (``hsa-let-7a-1/-2/-3`` for ``hsa-let-7a-5p``), preferring
    those whose sequence contains the mature. Without a name match: the hairpins of the same
    species (name prefix) that contain the mature sequence.
    """

    def __init__(self, items: Sequence[Item]):
        self.by_name: dict[str, list[Item]] = defaultdict(list)
        self.by_species: dict[str, list[Item]] = defaultdict(list)
        for item in items:
            name = item.record.id.lower()
            self.by_name[name].append(item)
            locus = _LOCUS_SUFFIX.match(name)
            if locus:
                self.by_name[locus.group(1)].append(item)
            self.by_species[_species(name)].append(item)

    def sources(self, mature: SeqRecord) -> list[Item]:
        """The hairpins ``mature`` comes from (empty when none is found)."""
        named = self.by_name.get(mature_stem(mature.id), [])
        containing = [item for item in named if mature.seq in item.record.seq]
        if containing or named:
            return containing or named
        return [item for item in self.by_species.get(_species(mature.id.lower()), []) if mature.seq in item.record.seq]


def _species(name: str) -> str:
    return name.split("-", 1)[0]


def mature_family(sources: Sequence[Item]) -> tuple[Family | None, bool]:
    """The family of a mature from its source hairpins: (family, ambiguous).

    Hairpins without a family do not count; sources in two or more families are ambiguous.
    """
    families = {item.family for item in sources if item.family is not None}
    if len(families) > 1:
        return None, True
    return (families.pop() if families else None), False


def load_mirbase_matures(matures: str, hairpin_items: Sequence[Item]) -> tuple[list[Item], int]:
    """miRBase matures with the family of their hairpin(s); also the number of ambiguous ones left out."""
    index = HairpinIndex(hairpin_items)
    items, ambiguous = [], 0
    for record in read_records(matures):
        mirbase_accession(record, matures, "MIMAT")
        family, unclear = mature_family(index.sources(record))
        if unclear:
            ambiguous += 1
        else:
            items.append(Item(record, family))
    return items, ambiguous


def load_mirbase(hairpins: str, families: str, matures: str | None = None) -> list[Item]:
    """Hairpins (or, with ``matures``, mature miRNAs) of miRBase with their families.

    Matures whose hairpins lie in two different families are left out (see
    :func:`load_mirbase_matures` for their number).
    """
    hairpin_items = load_mirbase_hairpins(hairpins, families)
    if matures is None:
        return hairpin_items
    return load_mirbase_matures(matures, hairpin_items)[0]
