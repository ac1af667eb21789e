"""From sequence records to an :class:`~deepmir_tools.npzformat.EncodedSet` (shared by encode and train)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from .encodings import encode
from .errors import InputFormatError
from .labels import build_classes, family_of, labels_for
from .npzformat import EncodedSet, make_meta
from .seqio import LengthPolicy, Segment, SeqRecord


@dataclass
class EncodeOptions:
    """How to turn sequences into model input (the paper's defaults)."""

    encoding: str = "onehot"
    max_len: int = 200
    threshold: float = 1e-4
    ordered: bool = True
    long_policy: str = "skip"
    window_step: int = 50
    threads: int = 1
    labels: str = "auto"  # auto | require | ignore
    progress: bool = False


def _collect(records: Iterable[SeqRecord], policy: LengthPolicy, labels_mode: str, source: str = ""):
    """Segments after the length policy, and their families (None when unlabelled)."""
    segments: list[Segment] = []
    families: list[tuple[str, str]] = []
    labelled: bool | None = None if labels_mode == "auto" else labels_mode == "require"
    for segment in policy.segments(records):
        family = family_of(segment.description) if labelled is not False else None
        if labelled is None:  # "auto": the first record decides
            labelled = family is not None
        if labelled and family is None:
            where = f"{source}: " if source else ""
            hint = "use --labels ignore" if labels_mode == "auto" else "expected '>ID family=ACCESSION name=NAME'"
            raise InputFormatError(f"{where}record '{segment.id}' (line {segment.line}) has no family= label; {hint}")
        if labelled:
            families.append(family)  # type: ignore[arg-type]
        segments.append(segment)
    return segments, (families if labelled else None)


def encode_records(records: Iterable[SeqRecord], source: str, options: EncodeOptions) -> tuple[EncodedSet, int]:
    """Encode ``records``; returns the set and the number of records skipped as too long."""
    policy = LengthPolicy(options.max_len, options.long_policy, options.window_step, source)
    segments, families = _collect(records, policy, options.labels, source)
    seqs = [segment.seq for segment in segments]
    x = encode(seqs, options.encoding, options.max_len, options.threshold, options.ordered, options.threads, options.progress)
    meta = make_meta(options.encoding, options.max_len, options.threshold, options.ordered, source)
    data = EncodedSet(
        x=x,
        ids=np.array([segment.id for segment in segments], dtype=str),
        lengths=np.array([len(segment.seq) for segment in segments], dtype=np.int32),
        meta=meta,
    )
    if options.long_policy == "window":
        data.offsets = np.array([segment.offset for segment in segments], dtype=np.int32)
    if families is not None:
        data.classes, index = build_classes(families)
        data.labels = labels_for(families, index)
    return data, policy.skipped
