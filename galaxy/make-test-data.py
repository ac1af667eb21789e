#!/usr/bin/env python3
"""Rebuild the labelled sequence files of galaxy/test-data/ from the real data in shared/data.

Every record is a real database record; only headers are rewritten into the labelled-FASTA convention
(``>ID family=ACC name=NAME`` for miRNA families, ``>ID class=LABEL`` for out-of-distribution sets).
The selection is deterministic (file order), so rerunning reproduces the files byte for byte.

    python3 galaxy/make-test-data.py [--data /work/shared/data] [--out galaxy/test-data]

The tiny model bundles are made from these files with the commands in galaxy/test-data/README.md.
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import shutil

# Four large, well separated miRBase families (MIPF accession, family name).
FAMILIES = [("MIPF0000002", "let-7"), ("MIPF0000033", "mir-10"), ("MIPF0000001", "mir-17"), ("MIPF0000005", "mir-30")]
TRAIN_SPECIES = ("mmu", "rno", "bta", "gga", "xtr", "dre", "ssc", "cfa", "eca", "oan", "mdo", "ptr", "mml")
TRAIN_PER_FAMILY = 30
HELDOUT_PER_FAMILY = 6
OOD_PER_CLASS = 12
MAX_LEN = 200
MINI_FAMILIES = {"MIPF0000038", "MIPF0000014", "MIPF0000005"}  # mir-1, mir-9, mir-30
# Copied unchanged from the project's top-level test-data/ (sources in test-data/README.md).
SHARED_FILES = ["hairpins-hsa30.fa", "hsa-let-7a-1.fa", "reads-bovine40.fq", "reads-bovine40.fq.gz", "riboswitch-251nt.fa",
                "trna-hsa-Ala-AGC-1-1.fa"]


def read_fasta(path: str):
    """(header without '>', sequence) pairs; sequences joined over lines."""
    opener = gzip.open if path.endswith(".gz") else open
    header, chunks = None, []
    with opener(path, "rt") as handle:
        for line in handle:
            line = line.rstrip("\n")
            if line.startswith(">"):
                if header is not None:
                    yield header, "".join(chunks)
                header, chunks = line[1:], []
            elif line:
                chunks.append(line)
    if header is not None:
        yield header, "".join(chunks)


def family_members(mifam: str) -> dict[str, tuple[str, str]]:
    """hairpin accession (MI...) -> (family accession, family name), for FAMILIES only."""
    wanted = dict(FAMILIES)
    members, accession, name = {}, None, None
    with open(mifam) as handle:
        for line in handle:
            tag, _, rest = line.partition(" ")
            rest = rest.strip()
            if tag == "AC":
                accession = rest
            elif tag == "ID":
                name = rest
            elif tag == "MI" and accession in wanted:
                members[rest.split()[0]] = (accession, name)
            elif tag == "//":
                accession = name = None
    return members


def write(path: str, records: list[tuple[str, str]]) -> None:
    with open(path, "w") as out:
        for header, seq in records:
            out.write(f">{header}\n{seq}\n")
    print(f"{path}: {len(records)} records")


def mirbase_mini(mirbase: str, out: str) -> None:
    """A miRBase 22.1 subset in the original layout, for 'DeepMir data set': whole miFam.dat entries of three
    medium families and of the first four with 4-6 members, their hairpins plus the first 40 family-less ones."""
    blocks, current = [], []
    with open(os.path.join(mirbase, "miFam.dat")) as handle:
        for line in handle:
            current.append(line)
            if line.startswith("//"):
                blocks.append(current)
                current = []
    size = lambda block: sum(line.startswith("MI ") for line in block)  # noqa: E731
    chosen = [b for b in blocks if b[0].split()[1] in MINI_FAMILIES]
    chosen += [b for b in blocks if 4 <= size(b) <= 6][:4]
    members = {line.split()[1] for block in chosen for line in block if line.startswith("MI ")}
    in_any_family = {line.split()[1] for block in blocks for line in block if line.startswith("MI ")}
    with open(os.path.join(out, "mirbase-mini-miFam.dat"), "w") as handle:
        handle.writelines(line for block in chosen for line in block)
    kept, orphans = [], 0
    for header, seq in read_fasta(os.path.join(mirbase, "hairpin.fa")):
        accession = header.split()[1]
        if accession in members:
            kept.append((header, seq))
        elif accession not in in_any_family and orphans < 40:
            kept.append((header, seq))
            orphans += 1
    write(os.path.join(out, "mirbase-mini-hairpin.fa"), kept)
    print(f"{os.path.join(out, 'mirbase-mini-miFam.dat')}: {len(chosen)} families")


def rfam_mini(labelled: str, out: str) -> None:
    """The first 40 records of each of the first six Rfam families and the first 6 of the next three (file order)."""
    per_family: dict[str, int] = {}
    kept = []
    for header, seq in read_fasta(labelled):
        family = header.split("|")[0]
        per_family.setdefault(family, 0)
        rank = list(per_family).index(family)
        limit = 40 if rank < 6 else 6 if rank < 9 else 0
        if per_family[family] < limit:
            per_family[family] += 1
            kept.append((header, seq))
    path = os.path.join(out, "rfam-mini-labelled.fa.gz")
    with gzip.GzipFile(path, "wb", mtime=0) as handle:  # mtime 0: byte-identical reruns
        handle.write("".join(f">{h}\n{s}\n" for h, s in kept).encode())
    print(f"{path}: {len(kept)} records")


def main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.path.join(os.path.dirname(here), "..", "shared", "data"))
    parser.add_argument("--out", default=os.path.join(here, "test-data"))
    args = parser.parse_args()
    data, out = args.data, args.out
    os.makedirs(out, exist_ok=True)
    mirbase = os.path.join(data, "mirbase-22.1", "derived")
    members = family_members(os.path.join(mirbase, "miFam.dat"))

    train, heldout = {acc: [] for acc, _ in FAMILIES}, {acc: [] for acc, _ in FAMILIES}
    for header, seq in read_fasta(os.path.join(mirbase, "hairpin.fa")):
        record_id, mi_accession = header.split()[:2]
        if mi_accession not in members or len(seq) > MAX_LEN:
            continue
        accession, name = members[mi_accession]
        labelled = (f"{record_id} family={accession} name={name}", seq)
        species = record_id.split("-")[0]
        if species == "hsa" and len(heldout[accession]) < HELDOUT_PER_FAMILY:
            heldout[accession].append(labelled)
        elif species in TRAIN_SPECIES and len(train[accession]) < TRAIN_PER_FAMILY:
            train[accession].append(labelled)
    write(os.path.join(out, "train-tiny.fa"), [r for acc, _ in FAMILIES for r in train[acc]])
    write(os.path.join(out, "heldout-tiny.fa"), [r for acc, _ in FAMILIES for r in heldout[acc]])

    # Out-of-distribution sets: GtRNAdb tRNA genes (hg38 first in file order, distinct sequences) and Rfam
    # C/D box snoRNAs (first records of that class).
    trna, seen = [], set()
    for header, seq in read_fasta(os.path.join(data, "ncrna-negatives", "gtrnadb-trna", "trna_all_labeled.fa")):
        kind, assembly, name = header.split("|")[:3]
        if kind == "tRNA" and assembly == "hg38" and seq not in seen and len(trna) < OOD_PER_CLASS:
            seen.add(seq)
            trna.append((f"{name} class=tRNA", seq))
    write(os.path.join(out, "ood-trna.fa"), trna)
    snorna = []
    for header, seq in read_fasta(os.path.join(data, "ncrna-negatives", "rfam-ncrna.fa")):
        kind, source, original = header.split("|", 2)
        if kind == "snoRNA_CD" and len(seq) <= MAX_LEN and len(snorna) < OOD_PER_CLASS:
            snorna.append((f"snoRNA_CD_{re.sub(r'[^A-Za-z0-9_.-]', '_', original)} class=snoRNA_CD", seq))
    write(os.path.join(out, "ood-snorna.fa"), snorna)

    # Unlabelled mix for classification: 2 held-out hairpins per family + 2 tRNAs, as plain FASTA.
    mix = [(h.split()[0], s) for acc, _ in FAMILIES for h, s in heldout[acc][:2]]
    mix += [(h.split()[0], s) for h, s in trna[:2]]
    write(os.path.join(out, "classify-mix.fa"), mix)

    mirbase_mini(mirbase, out)
    rfam_mini(os.path.join(data, "rfam-mirna", "rfam_mirna_all_labeled.fa.gz"), out)

    top = os.path.join(os.path.dirname(here), "test-data")
    for name in SHARED_FILES:
        shutil.copyfile(os.path.join(top, name), os.path.join(out, name))
        print(f"{os.path.join(out, name)}: copied from test-data/")


if __name__ == "__main__":
    main()
