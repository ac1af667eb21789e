"""The data set's files: ``train.fa``, ``val.fa``, ``test.fa``, ``unsampled.fa``, ``ood.fa``, ``families.tsv``
and ``summary.tsv`` (counts, source files with their sha256, options).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

from ..atomic import atomic_output
from ..labels import labelled_header
from ..npzformat import sha256_of_file
from .model import Item, Prepared, Selection, Split
from .prepare import family_sizes
from .rfam import rfam_family_files


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
