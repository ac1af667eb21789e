"""The benchmark's data sets: splits made by ``deepmir-dataset`` and the open-set negatives."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Sequence

from proc import PeerError
from seqs import Record, read_fasta

# name -> (deepmir-dataset arguments with {data} for the data root, test queries kept (0 = all))
PRESETS: dict[str, tuple[list[str], int]] = {
    "mirbase18-min30-random": ([
        "mirbase", "--hairpins", "{data}/mirbase-18/hairpin.fa", "--families", "{data}/mirbase-18/miFam.dat",
        "--min-members", "30", "--split", "random", "--test-fraction", "0.2", "--seed", "7"], 0),
    "mirbase18-min30-remote": ([
        "mirbase", "--hairpins", "{data}/mirbase-18/hairpin.fa", "--families", "{data}/mirbase-18/miFam.dat",
        "--min-members", "30", "--split", "remote", "--identity", "0.8", "--coverage", "0.8", "--test-fraction", "0.2",
        "--val-fraction", "0.1", "--seed", "7", "--threads", "2"], 0),
    "mirbase22-hairpin-min10": ([
        "mirbase", "--hairpins", "{data}/mirbase-22.1/derived/hairpin.fa",
        "--families", "{data}/mirbase-22.1/derived/miFam.dat",
        "--min-members", "10", "--split", "random", "--test-fraction", "0.2", "--val-fraction", "0.1", "--seed", "7"], 0),
    # the paper's Table 5: 1,000 random test queries of Rfam-60 (165 families, 50 train : 10 test each)
    "rfam-60": ([
        "rfam", "--labelled-fasta", "{data}/rfam-mirna/rfam_mirna_all_labeled.fa.gz", "--group", "rfam-60",
        "--seed", "7"], 1000),
}

# Splits that a shipped model was trained on (benchmarks/default_models_splits.sh builds the same split): the
# benchmark classifies with that model instead of training a second copy; run_peers checks the digest of train.fa.
SHIPPED_MODELS: dict[str, str] = {"mirbase22-hairpin-min10": "hairpin"}


@dataclass
class Query:
    """One query: a held-out family member (``family`` set) or a negative (``ood_class`` set)."""

    qid: str
    seq: str
    family: str | None
    ood_class: str | None
    source_id: str


def deepmir_dataset_exe() -> str | None:
    beside = os.path.join(os.path.dirname(sys.executable), "deepmir-dataset")
    return beside if os.access(beside, os.X_OK) else shutil.which("deepmir-dataset")


def ensure_split(name: str, splits_root: str, data_root: str, log=print) -> str:
    """Directory of split ``name``: reused when it has train.fa and test.fa, else built with deepmir-dataset."""
    out = os.path.join(splits_root, name)
    if all(os.path.exists(os.path.join(out, f)) for f in ("train.fa", "test.fa")):
        return out
    if name not in PRESETS:
        raise PeerError(f"no split at {out} and {name!r} is not a preset ({', '.join(PRESETS)})")
    exe = deepmir_dataset_exe()
    if exe is None:
        raise PeerError("deepmir-dataset is not installed (pip install -e .)")
    args = [a.replace("{data}", data_root) for a in PRESETS[name][0]]
    os.makedirs(splits_root, exist_ok=True)
    log(f"  building split {name}: deepmir-dataset {' '.join(args)} -O {out}")
    proc = subprocess.run([exe, *args, "-O", out], stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise PeerError(f"deepmir-dataset failed for {name}: {proc.stderr.strip()[-500:]}")
    return out


def sample(items: Sequence, count: int, seed: int | str) -> list:
    """A seeded random subset of ``count`` items (all of them, order kept, if count is 0 or larger)."""
    items = list(items)
    if count <= 0 or count >= len(items):
        return items
    chosen = sorted(random.Random(str(seed)).sample(range(len(items)), count))
    return [items[i] for i in chosen]


def load_queries(split_dir: str, train_families: set, negatives_path: str | None, neg_classes: Sequence[str],
                 per_class: int, max_test: int, seed: int, log=print) -> list[Query]:
    """Test queries (optionally a seeded sample), then negatives: per class a seeded sample of
    ``per_class`` records from the split's ood.fa (``class=unseen_family``/``no_family``) or from the
    negatives file (``>{class}|source|id``)."""
    test = [r for r in read_fasta(os.path.join(split_dir, "test.fa")) if r.family]
    unknown = [r for r in test if r.family not in train_families]
    if unknown:
        log(f"  note: {len(unknown)} test records of families absent from train.fa were dropped")
        test = [r for r in test if r.family in train_families]
    test = sample(test, max_test, f"test-{seed}")
    queries = [Query("", r.seq, r.family, None, r.id) for r in test]
    negatives: dict[str, list[Record]] = {}
    ood_path = os.path.join(split_dir, "ood.fa")
    if os.path.exists(ood_path):  # unseen_family, no_family: records of the split's ood.fa with that class=
        for r in read_fasta(ood_path):
            if r.klass in neg_classes:
                negatives.setdefault(r.klass, []).append(r)
    if negatives_path:
        for r in read_fasta(negatives_path):
            klass = r.id.split("|", 1)[0]
            if klass in neg_classes:
                negatives.setdefault(klass, []).append(r)
    for klass in neg_classes:
        records = sample(negatives.get(klass, []), per_class, f"{klass}-{seed}")
        if not records:
            log(f"  note: no negatives of class {klass}")
        queries += [Query("", r.seq, None, klass, r.id) for r in records]
    for index, query in enumerate(queries, 1):
        query.qid = f"q{index:06d}"
    return queries


def family_order(families: Sequence[str], seed: int) -> list[str]:
    """Families in a seeded random order: the first K are the K-family subsets (nested)."""
    ordered = sorted(families)
    random.Random(f"families-{seed}").shuffle(ordered)
    return ordered
