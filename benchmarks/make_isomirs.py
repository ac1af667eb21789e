#!/usr/bin/env python3
"""IsomiRs of labelled mature miRNAs, cut from their real miRBase hairpins, for training a read model.

Small RNA-seq reads of a miRNA are rarely exactly its annotated mature: Dicer and Drosha cut a nucleotide or two
either side, and 3' ends are trimmed or get untemplated A/U added. A model trained on annotated matures only meets
these isomiRs for the first time in a user's library. For each mature of a labelled FASTA (deepmir-dataset
``--kind mature`` output) this writes variants of it, by one documented rule:

- templated: the mature's own place in every hairpin of its family that contains it exactly (miRBase
  hairpin.fa + miFam.dat), with the 5' end moved by -2..+2 nt and the 3' end by -6..+3 nt (read in the hairpin;
  3'-shortened reads are common in degraded libraries such as plasma);
- untemplated: the mature with A, U, AA or UU added at its 3' end;
- kept when 16-30 nt long, not equal to any mature of the input or of --exclude files (validation and test
  matures stay unseen), and not produced for two families; then a seeded sample of at most --per-mature a mature.

Headers: ``>{mature id}|iso{k} family=ACC name=NAME variant=5P,3P`` (shifts; ``+A`` etc. for untemplated ones).

With --five-prime-shifts the output is instead every templated 5' shift of -3..+3 nt (3' end kept) of every mature in
every hairpin of its family, unsampled and unfiltered (``>{mature id}|5p{k}``): the seeds (nt 2-8) a read of the
family may carry, for ``deepmir-calibrate --seeds``. The +-3 nt window is the read truth's (benchmarks/reads).

  python benchmarks/make_isomirs.py split/train.fa --hairpins hairpin.fa --families miFam.dat \\
      --exclude split/val.fa --exclude split/test.fa -o isomirs.fa
"""

from __future__ import annotations

import argparse
import random
from collections import defaultdict

from deepmir_tools.atomic import atomic_output
from deepmir_tools.datasets import load_mirbase_hairpins
from deepmir_tools.labels import family_of
from deepmir_tools.seqio import read_records

FIVE_PRIME_SHIFTS = range(-2, 3)
THREE_PRIME_SHIFTS = range(-6, 4)  # down to 6 nt shorter: plasma reads are often 3'-degraded
UNTEMPLATED = ("A", "U", "AA", "UU")
SEED_SHIFTS = range(-3, 4)  # 5' shifts of a read of the mature (the read truth's window)
MIN_LENGTH, MAX_LENGTH = 16, 30


def templated_variants(mature: str, hairpin: str) -> dict[str, str]:
    """Variants of ``mature`` at its first place in ``hairpin``: sequence -> ``5P,3P`` shift label."""
    start = hairpin.find(mature)
    if start < 0:
        return {}
    end = start + len(mature)
    variants = {}
    for five in FIVE_PRIME_SHIFTS:
        for three in THREE_PRIME_SHIFTS:
            left, right = start + five, end + three
            if (five, three) != (0, 0) and 0 <= left < right <= len(hairpin):
                variants.setdefault(hairpin[left:right], f"{five:+d},{three:+d}")
    return variants


def five_prime_shifts(matures: list[tuple[str, str, tuple[str, str]]],
                      hairpins_by_family: dict[str, list[str]]) -> list[tuple[str, str, tuple[str, str], str]]:
    """(id, sequence, family, label) of every 5' shift in SEED_SHIFTS of every mature in its family's hairpins."""
    out = []
    for mature_id, seq, family in matures:
        found: dict[str, int] = {seq: 0}
        for hairpin in hairpins_by_family.get(family[0], []):
            start = hairpin.find(seq)
            if start < 0:
                continue
            for shift in SEED_SHIFTS:
                if 0 <= start + shift < start + len(seq):
                    found.setdefault(hairpin[start + shift : start + len(seq)], shift)
        for k, (variant, shift) in enumerate(sorted(found.items(), key=lambda item: (item[1], item[0]))):
            out.append((f"{mature_id}|5p{k}", variant, family, f"{shift:+d},+0"))
    return out


def isomirs(matures: list[tuple[str, str, tuple[str, str]]], hairpins_by_family: dict[str, list[str]],
            excluded: set[str], per_mature: int, seed: int) -> list[tuple[str, str, tuple[str, str], str]]:
    """(id, sequence, family, variant label) of the kept variants, in input order."""
    candidates: list[tuple[str, dict[str, str]]] = []
    families_of: dict[str, set[str]] = defaultdict(set)
    for mature_id, seq, family in matures:
        found: dict[str, str] = {}
        for hairpin in hairpins_by_family.get(family[0], []):
            for variant, label in templated_variants(seq, hairpin).items():
                found.setdefault(variant, label)
        for tail in UNTEMPLATED:
            found.setdefault(seq + tail, "0,+" + tail)
        found = {v: label for v, label in found.items() if MIN_LENGTH <= len(v) <= MAX_LENGTH and v not in excluded}
        for variant in found:
            families_of[variant].add(family[0])
        candidates.append((mature_id, found))
    kept = []
    for (mature_id, found), (_, _, family) in zip(candidates, matures):
        unique = sorted(v for v in found if len(families_of[v]) == 1)
        rng = random.Random(f"{seed}:{mature_id}")
        for k, variant in enumerate(sorted(rng.sample(unique, min(per_mature, len(unique))))):
            kept.append((f"{mature_id}|iso{k + 1}", variant, family, found[variant]))
    return kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("matures", help="labelled mature FASTA (deepmir-dataset --kind mature train.fa)")
    parser.add_argument("--hairpins", required=True, help="miRBase hairpin.fa")
    parser.add_argument("--families", required=True, help="miRBase miFam.dat")
    parser.add_argument("--exclude", action="append", default=[], help="FASTA whose sequences no variant may equal")
    parser.add_argument("--per-mature", type=int, default=8, help="at most this many variants a mature")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--five-prime-shifts", action="store_true",
                        help="write every 5' shift of -3..+3 nt instead (seeds for deepmir-calibrate --seeds)")
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args()
    matures = []
    for record in read_records(args.matures):
        family = family_of(record.description)
        if family is None:
            parser.error(f"{args.matures}: record {record.id} has no family= label")
        matures.append((record.id, record.seq, family))
    excluded = {seq for _, seq, _ in matures}
    for path in args.exclude:
        excluded.update(record.seq for record in read_records(path))
    hairpins_by_family: dict[str, list[str]] = defaultdict(list)
    for item in load_mirbase_hairpins(args.hairpins, args.families):
        if item.family is not None:
            hairpins_by_family[item.family.accession].append(item.record.seq)
    if args.five_prime_shifts:
        kept = five_prime_shifts(matures, hairpins_by_family)
    else:
        kept = isomirs(matures, hairpins_by_family, excluded, args.per_mature, args.seed)
    with atomic_output(args.output) as out:
        for record_id, seq, (accession, name), label in kept:
            out.write(f">{record_id} family={accession} name={name} variant={label}\n{seq}\n")
    print(f"{len(kept)} isomiRs of {len(matures)} matures -> {args.output}")


if __name__ == "__main__":
    main()
