#!/usr/bin/env python3
"""Accuracy experiments with the suite's own tools, printed beside the paper's figures.

Every experiment runs the real executables (deepmir-dataset, deepmir-train, deepmir-classify)
on ../shared/data and scores the closed-set predictions (``--no-reject``):

  python benchmarks/accuracy.py mirbase18 --split random      # issue 8 target: >= 99.0% / F1 0.99, <= 6 min training
  python benchmarks/accuracy.py mirbase18 --split remote      # homology-aware split; target >= 91%
  python benchmarks/accuracy.py rfam --group rfam-60 [--encoding onehot|prob|pair|mixed]   # paper Table 3
  python benchmarks/accuracy.py extra-bases                   # paper Table 4 (random flanks around Rfam-60 tests)
  python benchmarks/accuracy.py mature                        # mature- vs hairpin-trained models on matures
  python benchmarks/accuracy.py table3                        # all four Rfam groups, one-hot

Results are appended to benchmarks/results/accuracy.tsv. Work files go to benchmarks/results/work/.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from deepmir_tools.labels import family_of
from deepmir_tools.metrics import accuracy, macro_f1

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DATA = Path(os.environ.get("DEEPMIR_DATA", REPO.parent / "shared" / "data"))
RESULTS = HERE / "results"
WORK = RESULTS / "work"
BIN = Path(sys.executable).parent

PAPER_TABLE3 = {  # accuracy, F-score (%), Tang & Sun 2019 Table 3
    ("rfam-300", "pair"): (89.91, 89.99), ("rfam-120", "pair"): (77.71, 76.87),
    ("rfam-60", "pair"): (71.27, 68.82), ("rfam-30", "pair"): (60.60, 56.32),
    ("rfam-300", "prob"): (83.69, 83.28), ("rfam-120", "prob"): (72.86, 71.61),
    ("rfam-60", "prob"): (69.83, 67.66), ("rfam-30", "prob"): (59.37, 54.72),
    ("rfam-300", "mixed"): (87.78, 87.32), ("rfam-120", "mixed"): (74.94, 73.67),
    ("rfam-60", "mixed"): (66.15, 63.67), ("rfam-30", "mixed"): (53.31, 48.71),
    ("rfam-300", "onehot"): (99.25, 99.25), ("rfam-120", "onehot"): (98.87, 98.88),
    ("rfam-60", "onehot"): (98.48, 98.45), ("rfam-30", "onehot"): (97.76, 97.71),
}
PAPER_TABLE4 = {5: (97.52, 97.63), 10: (96.88, 97.16), 15: (95.47, 95.27), 20: (94.70, 94.48)}


def tool(name: str, *args: str) -> float:
    """Run a deepmir executable; returns wall seconds."""
    started = time.perf_counter()
    subprocess.run([str(BIN / name), *args], check=True)
    return time.perf_counter() - started


def labels_of(fasta: Path) -> dict[str, str]:
    """record ID -> family accession from a labelled FASTA."""
    out = {}
    for line in fasta.read_text().splitlines():
        if line.startswith(">"):
            record_id, _, description = line[1:].partition(" ")
            out[record_id] = family_of(description)[0]
    return out


def score(calls: Path, truth: dict[str, str]) -> tuple[float, float, int]:
    """Accuracy and macro F1 (%) of a classification TSV against the true families."""
    rows = [line.split("\t") for line in calls.read_text().splitlines()[2:]]
    predicted = {row[0]: row[2] for row in rows}
    families = sorted(set(truth.values()) | set(predicted.values()))
    index = {f: i for i, f in enumerate(families)}
    true = np.array([index[truth[i]] for i in truth])
    pred = np.array([index.get(predicted.get(i, "."), -1) for i in truth])
    pred[pred < 0] = len(families)  # skipped/absent counts as wrong
    return 100 * accuracy(true, pred), 100 * macro_f1(true, pred, len(families) + 1), len(true)


def record(experiment: str, ours: tuple[float, float, int], paper: tuple[float, float] | None, seconds: float,
           note: str = "") -> None:
    """Print a result line beside the paper's and append it to results/accuracy.tsv."""
    acc, f1, n = ours
    paper_text = f"paper {paper[0]:.2f}% / {paper[1]:.2f}" if paper else "paper -"
    print(f"{experiment:<36} ours {acc:6.2f}% / F1 {f1:6.2f}  (n={n}, train {seconds:.0f} s)   {paper_text}  {note}",
          flush=True)
    append_row("accuracy.tsv", ["experiment", "accuracy", "macro_f1", "n", "train_seconds", "paper_accuracy", "paper_f1", "note"],
               [experiment, f"{acc:.2f}", f"{f1:.2f}", n, f"{seconds:.0f}", paper[0] if paper else "",
                paper[1] if paper else "", note])


def append_row(name: str, columns: list[str], values: list) -> None:
    """Append one dated row to results/<name>, writing the header line first if the file is new."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    new = not path.exists()
    with path.open("a") as handle:
        if new:
            handle.write("\t".join(["date", *columns]) + "\n")
        handle.write("\t".join(str(v) for v in [datetime.date.today(), *values]) + "\n")


def train_and_test(name: str, split: Path, train_args: list[str], threads: int) -> tuple[tuple[float, float, int], float, Path]:
    """Train on split/train.fa (early stopping on val.fa or 10% of train), classify split/test.fa."""
    tag = "".join(ch for ch in "-".join(train_args) if ch.isalnum() or ch in "-.")
    if len(tag) > 60:  # readable start + digest of all options, so that long option lists never collide
        tag = f"{tag[:50]}-{hashlib.sha1(tag.encode()).hexdigest()[:8]}"
    name = f"{name}{'-' + tag if tag else ''}"
    model = WORK / f"{name}.npz"
    val = ["--validation", str(split / "val.fa")] if (split / "val.fa").exists() else []
    seconds = tool("deepmir-train", str(split / "train.fa"), *val, "-o", str(model), "--threads", str(threads),
                   "--log", str(WORK / f"{name}-log.tsv"), "-q", *train_args)
    calls = WORK / f"{name}-calls.tsv"
    tool("deepmir-classify", str(split / "test.fa"), "-m", str(model), "--no-reject", "-o", str(calls),
         "--threads", str(threads), "-q", "--long", "truncate")
    return score(calls, labels_of(split / "test.fa")), seconds, model


def split_dir(name: str, *dataset_args: str) -> Path:
    """Build a split with deepmir-dataset (reused if present)."""
    out = WORK / "splits" / name
    if not (out / "test.fa").exists():
        tool("deepmir-dataset", *dataset_args, "-O", str(out), "-q")
    return out


def mirbase(release: str, kind: str, min_members: int, split: str, val: float = 0.1) -> Path:
    base = DATA / ("mirbase-18" if release == "18" else "mirbase-22.1/derived")
    args = ["mirbase", "--hairpins", str(base / "hairpin.fa"), "--families", str(base / "miFam.dat"),
            "--min-members", str(min_members), "--split", split, "--test-fraction", "0.2",
            "--val-fraction", str(val), "--seed", "7"]
    if release == "18":  # the "98 families with >= 30 members" counts miFam.dat's listed members
        args += ["--count-members", "listed"]
    if kind == "mature":
        args += ["--matures", str(base / "mature.fa"), "--kind", "mature"]
    return split_dir(f"mirbase{release}-{kind}-min{min_members}-{split}", *args)


def rfam(group: str) -> Path:
    return split_dir(group, "rfam", "--labelled-fasta", str(DATA / "rfam-mirna" / "rfam_mirna_all_labeled.fa.gz"),
                     "--group", group, "--seed", "7")


def run_mirbase18(args: argparse.Namespace) -> None:
    split = mirbase("18", "hairpin", 30, args.split, val=0.1)
    name = f"mirbase18-min30-{args.split}"
    result, seconds, _ = train_and_test(name, split, args.train_args, args.threads)
    target = "target >= 99.0% / 0.99, <= 360 s" if args.split == "random" else "target >= 91%; BLASTN 88.3%, 6-mer 88.9%"
    record(name, result, None, seconds, f"{target}; train options: {' '.join(args.train_args) or 'defaults'}")


def run_rfam(args: argparse.Namespace) -> None:
    split = rfam(args.group)
    name = f"{args.group}-{args.encoding}"
    extra = ["--encoding", args.encoding] + args.train_args
    result, seconds, _ = train_and_test(name, split, extra, args.threads)
    record(name, result, PAPER_TABLE3.get((args.group, args.encoding)), seconds)


def run_table3(args: argparse.Namespace) -> None:
    for group in ("rfam-300", "rfam-120", "rfam-60", "rfam-30"):
        args.group = group
        run_rfam(args)


def flanked(test: Path, bases: int, seed: int, out: Path) -> Path:
    """Test sequences with ``bases`` random nucleotides split at random between the two ends (Table 4)."""
    rng = random.Random(seed)
    lines = test.read_text().splitlines()
    with out.open("w") as handle:
        for header, seq in zip(lines[::2], lines[1::2]):
            left = rng.randint(0, bases)
            flank = "".join(rng.choice("ACGU") for _ in range(bases))
            handle.write(f"{header}\n{flank[:left]}{seq}{flank[left:]}\n")
    return out


def run_extra_bases(args: argparse.Namespace) -> None:
    split = rfam("rfam-60")
    result, seconds, model = train_and_test("rfam-60-onehot", split, args.train_args, args.threads)
    record("rfam-60-onehot (0 extra bases)", result, PAPER_TABLE3[("rfam-60", "onehot")], seconds)
    for bases, paper in PAPER_TABLE4.items():
        test = flanked(split / "test.fa", bases, 7, WORK / f"rfam-60-test-plus{bases}.fa")
        calls = WORK / f"rfam-60-plus{bases}-calls.tsv"
        tool("deepmir-classify", str(test), "-m", str(model), "--no-reject", "-o", str(calls), "--long", "truncate", "-q")
        record(f"rfam-60-onehot +{bases} random bases", score(calls, labels_of(test)), paper, 0)


def run_mature(args: argparse.Namespace) -> None:
    hairpins = mirbase("22", "hairpin", 10, "random")
    matures = mirbase("22", "mature", 10, "random")
    _, hairpin_seconds, hairpin_model = train_and_test("mirbase22-hairpin-min10", hairpins, args.train_args, args.threads)
    mature_result, mature_seconds, _ = train_and_test("mirbase22-mature-min10", matures, args.train_args, args.threads)
    calls = WORK / "mature-by-hairpin-model-calls.tsv"
    tool("deepmir-classify", str(matures / "test.fa"), "-m", str(hairpin_model), "--no-reject", "-o", str(calls), "-q")
    record("matures, hairpin-trained model", score(calls, labels_of(matures / "test.fa")), (65.26, float("nan")), hairpin_seconds)
    record("matures, mature-trained model", mature_result, (92.43, float("nan")), mature_seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiment", choices=("mirbase18", "rfam", "table3", "extra-bases", "mature"))
    parser.add_argument("--split", choices=("random", "remote"), default="random")
    parser.add_argument("--group", choices=("rfam-300", "rfam-120", "rfam-60", "rfam-30"), default="rfam-60")
    parser.add_argument("--encoding", choices=("onehot", "prob", "pair", "mixed"), default="onehot")
    parser.add_argument("--threads", type=int, default=2)
    args, extra = parser.parse_known_args()  # the rest goes to deepmir-train, e.g. -- --epochs 10
    args.train_args = [a for a in extra if a != "--"]
    WORK.mkdir(parents=True, exist_ok=True)
    runners = {"mirbase18": run_mirbase18, "rfam": run_rfam, "table3": run_table3, "extra-bases": run_extra_bases,
               "mature": run_mature}
    runners[args.experiment](args)


if __name__ == "__main__":
    main()
