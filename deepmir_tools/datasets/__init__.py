"""Family-labelled data sets from miRBase and Rfam: selection, train/val/test splits, output files.

The pipeline is the same for both databases (one module per step):

1. load the records with their family: :mod:`.mirbase` (:func:`load_mirbase`, from ``miFam.dat``,
   hairpins and matures) and :mod:`.rfam` (:func:`load_rfam`);
2. :mod:`.prepare`: :func:`deduplicate` on the exact normalised sequence (first occurrence wins),
   then :func:`drop_long` (longer than ``max_len``): the paper removed repeated sequences first and
   used only sequences of at most 200 nt (its ``fasta2onehot.py`` drops longer sequences and
   then keeps the families that still have enough members);
3. :mod:`.selection`: :func:`select_families`, the families with at least N members, K of them
   sampled per family;
4. :mod:`.splits`: :func:`split_random` (stratified per family, as in the paper) or
   :func:`split_remote` (homology-aware: whole clusters of similar sequences go to test, and no test
   sequence keeps a similar training sequence of any family; the relative rule is
   :mod:`deepmir_tools.relatives`), chosen and verified by :func:`make_split`;
5. :mod:`.writers`: :func:`write_dataset`: ``train.fa``, ``test.fa``, ``val.fa``, ``ood.fa``
   (families left out and family-less sequences), ``unsampled.fa`` (members of chosen families
   beyond K), ``families.tsv`` and ``summary.tsv``.

:mod:`.build` runs steps 1 to 4 for a whole data set (:func:`mirbase_dataset`, :func:`rfam_dataset`)
with the :class:`DatasetOptions` of :mod:`.options` (also the paper's Table 2 groups,
:func:`group_options`); :mod:`.model` holds the types every step passes on (:class:`Family`,
:class:`Item`, :class:`Quota`, :class:`Selection`, :class:`Split`, :class:`Prepared`).
:mod:`.background` (:func:`family_less_background`) is the benchmarks' background filter.

    from deepmir_tools import datasets as ds

    options = ds.DatasetOptions(min_members=10, test=ds.Quota(0.2), val=ds.Quota(0.1))
    prepared, selection, split = ds.mirbase_dataset("hairpin.fa", "miFam.dat", options)
    info = ds.DatasetInfo(ds.describe_sources(["hairpin.fa", "miFam.dat"]), options.summary())
    ds.write_dataset("out", selection, split, prepared, info)

Every random choice comes from a generator seeded with the user's seed and the family
accession, so one family's split does not depend on which other families are chosen.
"""

from .background import family_less_background
from .build import mirbase_dataset, rfam_dataset
from .mirbase import (
    HairpinIndex,
    load_mirbase,
    load_mirbase_hairpins,
    load_mirbase_matures,
    mature_family,
    mature_stem,
    mirbase_accession,
    read_mifam,
)
from .model import Family, Item, Prepared, Quota, Selection, Split
from .options import DEFAULT_MAX_LEN, GROUPS, DatasetOptions, group_options
from .prepare import deduplicate, drop_long, family_sizes, prepare
from .rfam import load_rfam, load_rfam_dir, load_rfam_labelled, rfam_family_files
from .selection import select_families
from .splits import check_relatives, make_split, split_random, split_remote
from .writers import (
    DatasetInfo,
    dataset_counts,
    describe_sources,
    ood_header,
    write_dataset,
    write_families,
    write_summary,
)

__all__ = [
    # types (model)
    "Family", "Item", "Prepared", "Quota", "Selection", "Split",
    # 1. loading (mirbase, rfam)
    "read_mifam", "mirbase_accession", "load_mirbase_hairpins", "mature_stem", "HairpinIndex", "mature_family",
    "load_mirbase_matures", "load_mirbase",
    "load_rfam_labelled", "rfam_family_files", "load_rfam_dir", "load_rfam",
    # 2. preparation
    "deduplicate", "drop_long", "prepare", "family_sizes",
    # 3. family selection
    "select_families",
    # 4. splits
    "split_random", "split_remote", "check_relatives", "make_split",
    # whole data sets and their options (build, options)
    "GROUPS", "DEFAULT_MAX_LEN", "DatasetOptions", "group_options", "mirbase_dataset", "rfam_dataset",
    # 5. output files (writers)
    "DatasetInfo", "write_dataset", "write_families", "dataset_counts", "write_summary", "ood_header",
    "describe_sources",
    # the benchmarks' background filter
    "family_less_background",
]
