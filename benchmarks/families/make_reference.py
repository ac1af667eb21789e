#!/usr/bin/env python3
"""The reference members of the shipped hairpin model and the small-family benchmark's queries (issue 19).

From a deepmir-dataset split of every miRBase family with >= 2 unique hairpins, one held-out member each
(``--min-members 2 --test-per-family 1 --seed 7``: ALL2) and the shipped model's split (families >= 10, random
70/10/20, seed 7: SPLIT):

- ``small-queries.fa``: ALL2's held-out member of each family the network does not know (2-9 unique hairpins);
- ``reference.fa``: every other labelled unique hairpin, i.e. ALL2's train.fa and test.fa and its single-member
  families (ood.fa, class=unseen_family), less the small-family queries and less SPLIT's test.fa (the network's
  held-out hairpins), so that neither benchmark query set has itself in the reference.

    python benchmarks/families/make_reference.py ALL2 SPLIT OUTDIR
"""

from __future__ import annotations

import os
import sys

from deepmir_tools.labels import family_of
from deepmir_tools.seqio import read_records


def records(path: str):
    return list(read_records(path))


def write(path: str, items) -> int:
    count = 0
    with open(path + ".tmp", "w") as out:
        for record in items:
            out.write(f">{record.id} {record.description}\n{record.seq}\n")
            count += 1
    os.replace(path + ".tmp", path)
    return count


def main(all2: str, split: str, outdir: str) -> None:
    os.makedirs(outdir, exist_ok=True)
    network = {family_of(r.description)[0] for r in records(os.path.join(split, "train.fa"))}
    held_out = {r.id for r in records(os.path.join(split, "test.fa"))}
    queries = [r for r in records(os.path.join(all2, "test.fa")) if family_of(r.description)[0] not in network]
    excluded = held_out | {r.id for r in queries}
    singles = [r for r in records(os.path.join(all2, "ood.fa")) if "class=unseen_family" in r.description]
    members = [r for r in records(os.path.join(all2, "train.fa")) + records(os.path.join(all2, "test.fa")) + singles
               if r.id not in excluded]
    n_queries = write(os.path.join(outdir, "small-queries.fa"), queries)
    n_members = write(os.path.join(outdir, "reference.fa"), members)
    families = len({family_of(r.description)[0] for r in members})
    print(f"small-family queries {n_queries}; reference {n_members} members of {families} families", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
