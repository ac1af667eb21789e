"""The background of outlier-exposure training: family-less hairpins of a split, without near-copies.

Used by the benchmarks (``benchmarks/make_negatives.py``, ``benchmarks/peers``), not by the pipeline.
"""

from __future__ import annotations

from ..labels import header_fields
from ..relatives import DEFAULT_IDENTITY, Relation, with_relatives
from ..seqio import SeqRecord, read_records


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
