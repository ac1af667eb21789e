#!/usr/bin/env python3
"""Out-of-distribution sets for calibration, from the real ncRNAs in ../shared/data/ncrna-negatives/.

Writes one FASTA per class (tRNA, snoRNA_CD, rRNA_5S, riboswitch, intron_gpII from Rfam; tRNA_GtRNAdb from
GtRNAdb genes; unseen_family from a deepmir-dataset ood.fa), each a seeded sample of at most --per-class records.
With --fragments MIN-MAX every record is replaced by one random subsequence of that length range (what a small
RNA-seq library holds of these RNAs: read-sized fragments), for calibrating the mature model.

  python benchmarks/make_negatives.py --ood-fasta split/ood.fa --out negatives/ [--fragments 18-26]

With --part 2 it writes the next block of the same seeded shuffle: negatives disjoint from --part 1's.
Prints the matching `--ood LABEL=FILE` arguments for deepmir-calibrate on stdout.

With --classes it writes only those classes, e.g. the background (outlier-exposure) set that the default models
train on: classes that neither the calibration's held-out figures nor the peer benchmark's AUROC use as negatives.
--no-family SPLIT adds the class no_family: the split's family-less miRBase hairpins (ood.fa, class=no_family) except
those >= 80% identical to a training hairpin or to an unseen-family hairpin (see
deepmir_tools.datasets.family_less_background).

  python benchmarks/make_negatives.py --classes rRNA_5S,riboswitch,intron_gpII,no_family --no-family split/ \
      --per-class 100000 --out background/
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from pathlib import Path

from deepmir_tools.datasets import family_less_background
from deepmir_tools.labels import header_fields
from deepmir_tools.seqio import read_records

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("DEEPMIR_DATA", REPO.parent / "shared" / "data"))


def by_class(path: Path, label_of) -> dict[str, list[tuple[str, str]]]:
    groups: dict[str, list[tuple[str, str]]] = {}
    for record in read_records(str(path)):
        label = label_of(record)
        if label:
            groups.setdefault(label, []).append((record.id, record.seq))
    return groups


def fragment(seq: str, low: int, high: int, rng: random.Random) -> str:
    length = min(len(seq), rng.randint(low, high))
    start = rng.randint(0, len(seq) - length)
    return seq[start : start + length]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--ood-fasta", type=Path, help="deepmir-dataset ood.fa: its class=unseen_family records")
    parser.add_argument("--per-class", type=int, default=1500)
    parser.add_argument("--fragments", help="MIN-MAX: replace each record by a random fragment of that length")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--part", type=int, default=1,
                        help="which block of --per-class records of the seeded shuffle: 1 for calibration, 2 for a "
                             "disjoint held-out evaluation set (smaller where a class has < 2 x --per-class records)")
    parser.add_argument("--classes", help="comma-separated classes to write (default: all)")
    parser.add_argument("--no-family", type=Path, metavar="SPLIT",
                        help="deepmir-dataset folder: its family-less hairpins become the class no_family")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="processes for the --no-family identity filter")
    args = parser.parse_args()
    families: dict[str, str] = {}  # record ID -> family accession, where a class has one
    groups = by_class(DATA / "ncrna-negatives" / "rfam-ncrna.fa", lambda r: r.id.split("|")[0])
    groups["tRNA_GtRNAdb"] = [r for rs in by_class(DATA / "ncrna-negatives" / "gtrnadb-trna" / "trna_all_labeled.fa",
                                                  lambda r: "all").values() for r in rs]
    if args.ood_fasta:
        unseen = by_class(args.ood_fasta, lambda r: header_fields(r.description).get("class"))
        groups["unseen_family"] = unseen.get("unseen_family", [])
        # kept in the headers: a reference that knows these families must not count them as false (calibration)
        families.update((r.id, header_fields(r.description)["family"]) for r in read_records(str(args.ood_fasta))
                        if header_fields(r.description).get("class") == "unseen_family")
    if args.no_family:
        kept, dropped = family_less_background(str(args.no_family / "ood.fa"), str(args.no_family / "train.fa"),
                                               threads=args.threads)
        print(f"make_negatives: no_family: {len(kept)} family-less hairpins kept, {dropped} dropped (>= 80% "
              "identical to a training or unseen-family hairpin)", file=sys.stderr)
        groups["no_family"] = [(record.id, record.seq) for record in kept]
    args.out.mkdir(parents=True, exist_ok=True)
    low, high = (int(v) for v in args.fragments.split("-")) if args.fragments else (0, 0)
    specs = []
    wanted = sorted(groups) if not args.classes else args.classes.split(",")
    unknown = [label for label in wanted if label not in groups]
    if unknown:
        parser.error(f"unknown class(es) {', '.join(unknown)}; known: {', '.join(sorted(groups))}")
    for label in wanted:
        rng = random.Random(f"{args.seed}:{label}")
        records = sorted(groups[label])
        rng.shuffle(records)
        chosen = records[(args.part - 1) * args.per_class : args.part * args.per_class]
        path = args.out / f"{label}.fa"
        with path.open("w") as handle:
            for record_id, seq in chosen:
                if args.fragments:
                    seq = fragment(seq, low, high, rng)
                family = f" family={families[record_id]}" if record_id in families else ""
                handle.write(f">{record_id} class={label}{family}\n{seq}\n")
        specs.append(f"--ood {label}={path}")
    print(" ".join(specs))


if __name__ == "__main__":
    main()
