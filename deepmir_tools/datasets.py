"""Family-labelled data sets from miRBase and Rfam: selection, train/val/test splits, output files.

The pipeline is the same for both databases:

1. load the records with their family (:func:`load_mirbase`, :func:`load_rfam`);
2. :func:`deduplicate` on the exact normalised sequence (first occurrence wins), then
   :func:`drop_long` (longer than ``max_len``): the paper removed repeated sequences first and
   used only sequences of at most 200 nt (its ``fasta2onehot.py`` drops longer sequences and
   then keeps the families that still have enough members);
3. :func:`select_families`: the families with at least N members, K of them sampled per family;
4. :func:`split_random` (stratified per family, as in the paper) or :func:`split_remote`
   (homology-aware: whole clusters of similar sequences go to test, and no test sequence
   keeps a similar training sequence of any family);
5. :func:`write_dataset`: ``train.fa``, ``test.fa``, ``val.fa``, ``ood.fa`` (families left out
   and family-less sequences), ``unsampled.fa`` (members of chosen families beyond K),
   ``families.tsv`` and ``summary.tsv``.

Every random choice comes from a generator seeded with the user's seed and the family
accession, so one family's split does not depend on which other families are chosen.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Iterator, NamedTuple, Sequence

from .atomic import atomic_output
from .npzformat import sha256_of_file
from .errors import DeepMirError, InputFormatError
from .labels import header_fields, labelled_header
from .relatives import DEFAULT_COVERAGE, DEFAULT_IDENTITY, Relation, clusters, count_with_relatives, with_relatives
from .seqio import SeqRecord, open_binary, read_records

#: The paper's Table 2 groups: (members per family, test members per family); max length 200 nt.
GROUPS: dict[str, tuple[int, int]] = {
    "rfam-300": (300, 50),
    "rfam-120": (120, 20),
    "rfam-60": (60, 10),
    "rfam-30": (30, 5),
}
DEFAULT_MAX_LEN = 200
_RFAM_ACCESSION = re.compile(r"RF\d{5}")
_LOCUS_SUFFIX = re.compile(r"^(.+)-\d+$")
_ARM_SUFFIX = re.compile(r"-[35]p$")
_ISOFORM_SUFFIX = re.compile(r"\.\d+$")


@dataclass(frozen=True, order=True)
class Family:
    """A family: accession (``MIPF0000001``, ``RF00027``) and name (``mir-17``)."""

    accession: str
    name: str


class Item(NamedTuple):
    """A sequence record and its family (None: the record belongs to no family)."""

    record: SeqRecord
    family: Family | None


@dataclass(frozen=True)
class Quota:
    """How many members of a family a split gets: a fixed ``count``, else a ``fraction``."""

    fraction: float = 0.0
    count: int | None = None

    def size(self, members: int) -> int:
        if self.count is not None:
            return self.count
        return math.floor(members * self.fraction + 0.5)  # round half up, not to even

    def describe(self) -> str:
        return f"{self.count} per family" if self.count is not None else f"{self.fraction:g}"


@dataclass
class Selection:
    """Families chosen for training and what is left out."""

    chosen: dict[Family, list[Item]]  # in accession order; members in input order
    totals: dict[str, int]  # accession -> members before per-family sampling
    unsampled: list[Item] = field(default_factory=list)  # members of chosen families beyond K
    unseen: list[Item] = field(default_factory=list)  # families below the member threshold
    no_family: list[Item] = field(default_factory=list)


@dataclass
class Split:
    """Items per split; ``dropped`` are remote-split members too similar to a training sequence."""

    train: list[Item] = field(default_factory=list)
    val: list[Item] = field(default_factory=list)
    test: list[Item] = field(default_factory=list)
    dropped: list[Item] = field(default_factory=list)
    relatives: dict[str, int] | None = None  # the verification pass's counts (:func:`check_relatives`)


@dataclass
class Prepared:
    """Loaded items after deduplication and the length filter, with what was removed."""

    items: list[Item]
    loaded: int
    duplicates: int
    too_long: int
    notes: dict[str, str] = field(default_factory=dict)  # extra summary lines (e.g. ambiguous matures)


# ----------------------------------------------------------------------------------------- miRBase


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


# -------------------------------------------------------------------------------------------- Rfam


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


# ------------------------------------------------------------------------------------- preparation


def deduplicate(items: Iterable[Item]) -> tuple[list[Item], int]:
    """Items with a sequence not seen before (first occurrence wins) and the number removed."""
    seen: set[str] = set()
    kept, removed = [], 0
    for item in items:
        if item.record.seq in seen:
            removed += 1
        else:
            seen.add(item.record.seq)
            kept.append(item)
    return kept, removed


def drop_long(items: Iterable[Item], max_len: int | None) -> tuple[list[Item], int]:
    """Items of at most ``max_len`` nt (all of them when None) and the number removed."""
    items = list(items)
    if max_len is None:
        return items, 0
    kept = [item for item in items if len(item.record.seq) <= max_len]
    return kept, len(items) - len(kept)


def prepare(items: Sequence[Item], max_len: int | None) -> Prepared:
    """Deduplicate, then drop long sequences (the paper's order)."""
    unique, duplicates = deduplicate(items)
    kept, too_long = drop_long(unique, max_len)
    return Prepared(kept, len(items), duplicates, too_long)


def family_sizes(items: Iterable[Item]) -> Counter[str]:
    """Members per family accession (family-less items not counted)."""
    return Counter(item.family.accession for item in items if item.family is not None)


def _rng(seed: int, *parts: str) -> random.Random:
    # A string seed is hashed with SHA-512 by random.seed: stable across runs and Python versions.
    return random.Random("/".join([str(seed), *parts]))


def select_families(
    items: Sequence[Item],
    min_members: int,
    per_family: int | None = None,
    seed: int = 7,
    sizes: dict[str, int] | None = None,
) -> Selection:
    """Families with at least ``min_members`` members, ``per_family`` of them sampled (all when None).

    ``sizes`` (accession -> members) replaces the counts of ``items`` for the threshold: a mature
    data set chooses its families by their hairpins, so that it has the classes of the hairpin
    data set built with the same options. Sampled members keep their input order.
    """
    threshold_counts = family_sizes(items) if sizes is None else sizes
    groups: dict[Family, list[Item]] = defaultdict(list)
    selection = Selection(chosen={}, totals={})
    for item in items:
        if item.family is None:
            selection.no_family.append(item)
        elif threshold_counts.get(item.family.accession, 0) >= min_members:
            groups[item.family].append(item)
        else:
            selection.unseen.append(item)
    for family in sorted(groups):
        members = groups[family]
        selection.totals[family.accession] = len(members)
        chosen, rest = _sample(members, per_family, _rng(seed, family.accession, "sample"))
        selection.chosen[family] = chosen
        selection.unsampled.extend(rest)
    return selection


def _sample(members: list[Item], size: int | None, rng: random.Random) -> tuple[list[Item], list[Item]]:
    if size is None or size >= len(members):
        return list(members), []
    picked = set(rng.sample(range(len(members)), size))
    return [m for i, m in enumerate(members) if i in picked], [m for i, m in enumerate(members) if i not in picked]


def _sizes(members: int, test: Quota, val: Quota) -> tuple[int, int]:
    """Test and validation sizes of a family; at least one member always stays in training."""
    n_test = max(0, min(test.size(members), members - 1))
    n_val = max(0, min(val.size(members), members - 1 - n_test))
    return n_test, n_val


# ------------------------------------------------------------------------------------ random split


def split_random(chosen: dict[Family, list[Item]], test: Quota, val: Quota = Quota(), seed: int = 7) -> Split:
    """Per-family random split (the paper): each family gives ``test`` and ``val`` of its members."""
    split = Split()
    for family, members in chosen.items():
        n_test, n_val = _sizes(len(members), test, val)
        order = list(range(len(members)))
        _rng(seed, family.accession, "split").shuffle(order)
        to_test, to_val = set(order[:n_test]), set(order[n_test : n_test + n_val])
        for index, item in enumerate(members):  # input order inside each split file
            (split.test if index in to_test else split.val if index in to_val else split.train).append(item)
    return split


# ------------------------------------------------------------------------------------ remote split


def _remote_family(
    members: list[Item], test: Quota, val: Quota, relation: Relation, rng: random.Random
) -> tuple[set[int], set[int]]:
    """Indices of test and validation members of one family: whole clusters, seeded order."""
    n_test, n_val = _sizes(len(members), test, val)
    groups = clusters([item.record.seq for item in members], relation)
    rng.shuffle(groups)
    to_test, rest = _take_clusters(groups, n_test)
    to_val, _ = _take_clusters(rest, n_val)
    return set(to_test), set(to_val)


def _take_clusters(groups: list[list[int]], target: int) -> tuple[list[int], list[list[int]]]:
    """Whole clusters, in the given order, that fit into ``target`` members; and the rest.

    A cluster too big for the room left is skipped and smaller ones after it still fill the
    quota (stopping at the first misfit instead leaves families well below their share).
    """
    taken: list[int] = []
    rest = []
    for cluster in groups:
        if len(taken) + len(cluster) <= target:
            taken.extend(cluster)
        else:
            rest.append(cluster)
    return taken, rest


def family_less_background(ood_fasta: str, train_fasta: str, identity: float = DEFAULT_IDENTITY,
                           threads: int = 1) -> tuple[list[SeqRecord], int]:
    """Family-less hairpins of a split (``class=no_family`` records of its ``ood.fa``) to train on as
    background (outlier exposure), and how many were dropped.

    Dropped: those at >= ``identity`` end to end (:func:`relatives.end_to_end_hit`) to a training
    sequence, likely members of a known family that miFam.dat does not list, which the model must not
    learn to reject; and those at >= ``identity`` to an unseen-family hairpin (``class=unseen_family``)
    of the same ``ood.fa``, which are scored as negatives: training on near-copies of them would
    flatter the rejection figures. (End to end only: the shipped models' background was chosen so.)
    """
    family_less, unseen = [], []
    for record in read_records(ood_fasta):
        kind = header_fields(record.description).get("class")
        if kind == "no_family":
            family_less.append(record)
        elif kind == "unseen_family":
            unseen.append(record.seq)
    references = [record.seq for record in read_records(train_fasta)] + unseen
    flags = with_relatives([record.seq for record in family_less], references, Relation(identity, None), threads)
    kept = [record for record, similar in zip(family_less, flags) if not similar]
    return kept, len(family_less) - len(kept)


def split_remote(
    chosen: dict[Family, list[Item]],
    test: Quota,
    val: Quota = Quota(),
    relation: Relation = Relation(),
    seed: int = 7,
    threads: int = 1,
) -> Split:
    """Homology-aware split: no test (or validation) sequence has a relative in training.

    Inside each family, relatives (:class:`relatives.Relation`: end to end or local) form clusters
    (connected components); whole clusters, in a seeded order, go to test while they fit into the
    test quota, then to validation from the remaining clusters. Families made of one big cluster get
    no test members. Last, test and validation sequences with a relative among the training
    sequences of any other family are dropped (``Split.dropped``), so that the invariant holds
    across families.
    """
    split = Split()
    for family, members in chosen.items():
        to_test, to_val = _remote_family(members, test, val, relation, _rng(seed, family.accession, "remote"))
        for index, item in enumerate(members):
            (split.test if index in to_test else split.val if index in to_val else split.train).append(item)
    split.test = _drop_related(split.test, split.train, relation, split.dropped, threads)
    split.val = _drop_related(split.val, split.train, relation, split.dropped, threads)
    return split


def _drop_related(held_out: list[Item], train: list[Item], relation: Relation, dropped: list[Item],
                  threads: int) -> list[Item]:
    # Inside a family no held-out cluster has a relative in a training cluster, so any relative
    # found is in another family; checking against all training sequences is simpler and the same.
    flags = with_relatives([item.record.seq for item in held_out], [item.record.seq for item in train],
                           relation, threads)
    dropped.extend(item for item, flag in zip(held_out, flags) if flag)
    return [item for item, flag in zip(held_out, flags) if not flag]


def check_relatives(split: Split, relation: Relation, threads: int = 1) -> None:
    """The verification pass: count test and validation sequences with a training relative.

    The counts go to ``Split.relatives`` and ``summary.tsv``; a remote split must show 0 (it is
    computed again from the final sets, not taken from the split's own bookkeeping), a random
    split shows how much its test set leaks.
    """
    train = [item.record.seq for item in split.train]
    split.relatives = {
        "test_with_train_relative": count_with_relatives((item.record.seq for item in split.test), train,
                                                         relation, threads),
        "val_with_train_relative": count_with_relatives((item.record.seq for item in split.val), train,
                                                        relation, threads),
    }


# ---------------------------------------------------------------------------------- whole data sets


@dataclass(frozen=True)
class DatasetOptions:
    """Family selection and split options (the CLI's options)."""

    min_members: int
    per_family: int | None = None
    test: Quota = Quota(0.2)
    val: Quota = Quota()
    mode: str = "random"  # random | remote
    identity: float = DEFAULT_IDENTITY
    coverage: float = DEFAULT_COVERAGE
    check_relatives: bool = False  # count test/val sequences with a training relative (always for remote)
    max_len: int | None = DEFAULT_MAX_LEN
    seed: int = 7

    def __post_init__(self) -> None:
        if self.mode not in ("random", "remote"):
            raise DeepMirError(f"unknown split mode {self.mode!r} (choose random or remote)")
        if self.min_members < 1 or (self.per_family is not None and self.per_family < 1):
            raise DeepMirError("--min-members and --per-family must be >= 1")
        if not 0.5 <= self.identity <= 1.0:
            raise DeepMirError(f"--identity must be between 0.5 and 1, got {self.identity:g}")
        if not 0.0 < self.coverage <= 1.0:
            raise DeepMirError(f"--coverage must be above 0 and at most 1, got {self.coverage:g}")
        if self.test.fraction + self.val.fraction >= 1.0:
            raise DeepMirError("--test-fraction plus --val-fraction must be below 1")
        both = (self.test.count or 0) + (self.val.count or 0)
        if self.per_family is not None and both >= self.per_family:
            raise DeepMirError(f"test plus validation members per family ({both}) leave no training member")

    def summary(self) -> dict[str, str]:
        return {
            "min_members": str(self.min_members),
            "per_family": "all" if self.per_family is None else str(self.per_family),
            "test": self.test.describe(),
            "val": self.val.describe(),
            "split": self.mode,
            "identity": f"{self.identity:g}" if self.relatives_checked else "n/a",
            "coverage": f"{self.coverage:g}" if self.relatives_checked else "n/a",
            "max_len": "none" if self.max_len is None else str(self.max_len),
            "seed": str(self.seed),
        }


    @property
    def relatives_checked(self) -> bool:
        """Whether the split's test and validation sets are checked for training relatives."""
        return self.mode == "remote" or self.check_relatives

    @property
    def relation(self) -> Relation:
        """The relative rule of the remote split and of the verification pass."""
        return Relation(self.identity, self.coverage)


def make_split(chosen: dict[Family, list[Item]], options: DatasetOptions, threads: int = 1) -> Split:
    """The split ``options.mode`` asks for, verified when ``options.relatives_checked``."""
    if options.mode == "remote":
        split = split_remote(chosen, options.test, options.val, options.relation, options.seed, threads)
    else:
        split = split_random(chosen, options.test, options.val, options.seed)
    if options.relatives_checked:
        check_relatives(split, options.relation, threads)
    return split


def mirbase_dataset(
    hairpins: str, families: str, options: DatasetOptions, matures: str | None = None, count_listed: bool = False,
    threads: int = 1,
) -> tuple[Prepared, Selection, Split]:
    """A miRBase hairpin data set, or with ``matures`` a mature data set of the same families.

    ``count_listed``: a family qualifies by the hairpins ``miFam.dat`` lists for it (before
    deduplication and the length filter), which is how miRBase itself counts family sizes
    (miRBase 18: 98 families with >= 30 members; 86 after deduplication).

    Mature families are chosen by their hairpins (deduplicated, length-filtered), so the hairpin
    and mature data sets built with the same options have the same classes (a family whose
    matures all duplicate those of other families can end up with no member).
    """
    hairpin_items = load_mirbase_hairpins(hairpins, families)
    hairpin_set = prepare(hairpin_items, options.max_len)
    if matures is None:
        prepared, sizes = hairpin_set, (family_sizes(hairpin_items) if count_listed else None)
    else:
        mature_items, ambiguous = load_mirbase_matures(matures, hairpin_items)
        prepared = prepare(mature_items, options.max_len)
        prepared.loaded += ambiguous
        prepared.notes["matures_in_two_families_removed"] = str(ambiguous)
        sizes = family_sizes(hairpin_items if count_listed else hairpin_set.items)
    selection = select_families(prepared.items, options.min_members, options.per_family, options.seed, sizes)
    _drop_empty(selection)
    return prepared, selection, make_split(selection.chosen, options, threads)


def _drop_empty(selection: Selection) -> None:
    for family in [family for family, members in selection.chosen.items() if not members]:
        del selection.chosen[family]
        del selection.totals[family.accession]


def rfam_dataset(
    options: DatasetOptions, labelled_fasta: str | None = None, fasta_dir: str | None = None, threads: int = 1
) -> tuple[Prepared, Selection, Split]:
    """An Rfam data set (e.g. the paper's Table 2 groups, see :data:`GROUPS` and :func:`group_options`)."""
    prepared = prepare(load_rfam(labelled_fasta, fasta_dir), options.max_len)
    selection = select_families(prepared.items, options.min_members, options.per_family, options.seed)
    return prepared, selection, make_split(selection.chosen, options, threads)


def group_options(group: str, **overrides) -> DatasetOptions:
    """Options of a Table 2 group: K members per family (of <= 200 nt), M of them for test."""
    if group not in GROUPS:
        raise DeepMirError(f"unknown group {group!r} (choose from {', '.join(GROUPS)})")
    members, test = GROUPS[group]
    settings = {"min_members": members, "per_family": members, "test": Quota(count=test), "max_len": DEFAULT_MAX_LEN}
    settings.update(overrides)
    return DatasetOptions(**settings)


# ------------------------------------------------------------------------------------------ output


@dataclass
class DatasetInfo:
    """What ``summary.tsv`` records besides the counts: sources and options."""

    sources: list[str]
    options: dict[str, str]


def _write_fasta(path: str, lines: Iterable[tuple[str, str]]) -> None:
    with atomic_output(path) as out:
        for header, seq in lines:
            out.write(f"{header}\n{seq}\n")


def _labelled(items: Iterable[Item]) -> Iterator[tuple[str, str]]:
    for item in items:
        assert item.family is not None
        yield labelled_header(item.record.id, item.family.accession, item.family.name), item.record.seq


def ood_header(item: Item) -> str:
    """``>ID class=unseen_family family=ACC name=NAME``, or ``>ID class=no_family``."""
    if item.family is None:
        return f">{item.record.id} class=no_family"
    return f">{item.record.id} class=unseen_family family={item.family.accession} name={item.family.name}"


def _by_family(items: Iterable[Item]) -> list[Item]:
    """Items grouped by family accession (family-less last), input order kept inside a family."""
    return sorted(items, key=lambda item: item.family.accession if item.family else "\uffff")


def write_dataset(
    outdir: str, selection: Selection, split: Split, prepared: Prepared, info: DatasetInfo
) -> dict[str, int]:
    """Write the data set files into ``outdir`` (created if needed); returns the counts of ``summary.tsv``.

    Known output names that this data set does not produce (``val.fa`` without a validation set,
    ``unsampled.fa`` without per-family sampling) are removed, so that no stale file remains.
    """
    os.makedirs(outdir, exist_ok=True)
    files = {"train.fa": split.train, "test.fa": split.test, "val.fa": split.val, "unsampled.fa": selection.unsampled}
    for name, items in files.items():
        path = os.path.join(outdir, name)
        if items or name in ("train.fa", "test.fa"):
            _write_fasta(path, _labelled(_by_family(items)))
        elif os.path.exists(path):
            os.unlink(path)
    ood = _by_family(selection.unseen) + selection.no_family
    _write_fasta(os.path.join(outdir, "ood.fa"), ((ood_header(item), item.record.seq) for item in ood))
    write_families(os.path.join(outdir, "families.tsv"), selection, split)
    counts = dataset_counts(selection, split, prepared)
    write_summary(os.path.join(outdir, "summary.tsv"), counts, prepared, info)
    return counts


def write_families(path: str, selection: Selection, split: Split) -> None:
    """``families.tsv``: accession, name, n_total (before sampling), n_train, n_val, n_test."""
    parts = {"train": family_sizes(split.train), "val": family_sizes(split.val), "test": family_sizes(split.test)}
    with atomic_output(path) as out:
        out.write("accession\tname\tn_total\tn_train\tn_val\tn_test\n")
        for family in selection.chosen:
            acc = family.accession
            row = [acc, family.name, selection.totals[acc], parts["train"][acc], parts["val"][acc], parts["test"][acc]]
            out.write("\t".join(str(value) for value in row) + "\n")


def dataset_counts(selection: Selection, split: Split, prepared: Prepared) -> dict[str, int]:
    """Sequence and family counts of a data set (the numbers of ``summary.tsv``)."""
    return {
        "records_loaded": prepared.loaded,
        "duplicates_removed": prepared.duplicates,
        "too_long_removed": prepared.too_long,
        "families": len(selection.chosen),
        "families_with_test": len(family_sizes(split.test)),
        "train": len(split.train),
        "val": len(split.val),
        "test": len(split.test),
        "remote_dropped": len(split.dropped),
        **(split.relatives or {}),
        "unsampled": len(selection.unsampled),
        "ood_unseen_family": len(selection.unseen),
        "ood_unseen_families": len(family_sizes(selection.unseen)),
        "ood_no_family": len(selection.no_family),
    }


def write_summary(path: str, counts: dict[str, int], prepared: Prepared, info: DatasetInfo) -> None:
    """``summary.tsv``: key/value lines with counts, source files (sha256) and options."""
    with atomic_output(path) as out:
        out.write("key\tvalue\n")
        for key, value in counts.items():
            out.write(f"{key}\t{value}\n")
        for key, value in prepared.notes.items():
            out.write(f"{key}\t{value}\n")
        for index, source in enumerate(info.sources, start=1):
            out.write(f"source_{index}\t{source}\n")
        for key, value in info.options.items():
            out.write(f"option_{key}\t{value}\n")


def describe_sources(paths: Sequence[str]) -> list[str]:
    """``path sha256=...`` per source file; a directory is one entry with a digest over its files."""
    described = []
    for path in paths:
        if os.path.isdir(path):
            digest = hashlib.sha256()
            files = rfam_family_files(path)
            for _, member in files:
                digest.update(f"{os.path.basename(member)}\t{sha256_of_file(member)}\n".encode())
            described.append(f"{os.path.abspath(path)} files={len(files)} sha256_of_file_list={digest.hexdigest()}")
        else:
            described.append(f"{os.path.abspath(path)} sha256={sha256_of_file(path)}")
    return described
