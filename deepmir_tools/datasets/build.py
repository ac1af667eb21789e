"""Whole data sets: load -> prepare -> select families -> split, for miRBase and for Rfam."""

from __future__ import annotations

from .mirbase import load_mirbase_hairpins, load_mirbase_matures
from .model import Prepared, Selection, Split
from .options import DatasetOptions
from .prepare import family_sizes, prepare
from .rfam import load_rfam
from .selection import select_families
from .splits import make_split


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
