"""Family labels in FASTA headers and class lists.

Labelled FASTA convention: ``>ID family=ACCESSION name=NAME [key=value ...]`` (e.g.
``>hsa-let-7a-1 family=MIPF0000002 name=let-7``). Out-of-distribution files use
``class=LABEL`` (e.g. ``class=tRNA``). Values contain no spaces.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np


def header_fields(description: str) -> dict[str, str]:
    """``key=value`` tokens of a FASTA description line."""
    fields = {}
    for token in description.split():
        key, sep, value = token.partition("=")
        if sep and key:
            fields[key] = value
    return fields


def family_of(description: str) -> tuple[str, str] | None:
    """(accession, name) from ``family=``/``name=`` fields, or None if unlabelled."""
    fields = header_fields(description)
    accession = fields.get("family")
    if not accession:
        return None
    return accession, fields.get("name", accession)


def labelled_header(record_id: str, accession: str, name: str, **extra: str) -> str:
    """A labelled FASTA header line (without the newline)."""
    tail = "".join(f" {key}={value}" for key, value in extra.items())
    return f">{record_id} family={accession} name={name}{tail}"


def class_entry(accession: str, name: str) -> str:
    """One entry of a ``classes`` array: ``accession<TAB>name``."""
    return f"{accession}\t{name}"


def split_class_entry(entry: str) -> tuple[str, str]:
    """Inverse of :func:`class_entry`."""
    accession, _, name = str(entry).partition("\t")
    return accession, name or accession


def build_classes(families: Iterable[tuple[str, str]]) -> tuple[np.ndarray, dict[str, int]]:
    """Sorted unique class list and the accession -> index map."""
    names: dict[str, str] = {}
    for accession, name in families:
        names.setdefault(accession, name)
    ordered = sorted(names)
    classes = np.array([class_entry(acc, names[acc]) for acc in ordered], dtype=str)
    return classes, {acc: index for index, acc in enumerate(ordered)}


def labels_for(families: Sequence[tuple[str, str]], index: dict[str, int]) -> np.ndarray:
    """int32 label indices of ``families`` under a class index."""
    return np.array([index[accession] for accession, _ in families], dtype=np.int32)
