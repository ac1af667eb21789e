#!/usr/bin/env python3
"""Every known family (issue 19): the hairpin model with its reference stage against BLASTN and the 6-mer centroid.

Queries: one held-out member of each miRBase 22.1 family of 2-9 unique hairpins (``small-queries.fa`` of
make_reference.py: families the network was not trained on) and the shipped split's held-out test hairpins of
the 286 large families; OOD: tRNA, GtRNAdb tRNA, C/D snoRNA (make_negatives.py ``--part 2``: disjoint from the
calibration's). Database of every method: the same ``reference.fa`` (the network itself trained on the large
families' training split, a subset of it). deepmir runs twice, with its reference stage and without it
(``--no-reference``: the 0.1.0 behaviour). Accuracy counts a rejected query as wrong; "accepted" for OOD sets is the
share given any family (BLASTN: any hit at E <= 10; the centroid always names one, so it has no OOD figure).

    python benchmarks/families/run_families.py --calibrate-from hairpin [--seed 7]
    python benchmarks/families/run_families.py --model MODEL_WITH_REFERENCE   # e.g. the shipped hairpin (seed 7)

``--calibrate-from M`` gives M (e.g. the shipped hairpin model) the reference of this seed's split, calibrated as
benchmarks/train_default_models.sh does (validation hairpins vs tRNA, GtRNAdb tRNA, C/D snoRNA and unseen-family
hairpins, make_negatives.py part 1), so that another ``--seed`` (other held-out members) checks the rule's choices
on queries they were not made on. Accuracy is also given per family size (unique hairpins: 2, 3-4, 5-9).

Writes WORK/families.tsv (method, set, n, accuracy or accepted, macro F1, CPU s) and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "benchmarks", "peers"))

from metrics import macro_f1  # noqa: E402  (benchmarks/peers)
from peers import BlastPeer, KmerPeer  # noqa: E402
from seqs import read_fasta  # noqa: E402

DATA = os.environ.get("DEEPMIR_DATA") or os.path.join(os.path.dirname(REPO), "shared", "data")
M22 = os.path.join(DATA, "mirbase-22.1", "derived")
SPLIT_ARGS = ["--min-members", "10", "--split", "random", "--test-fraction", "0.2", "--val-fraction", "0.1",
              "--seed", "7"]  # the shipped model's split (benchmarks/default_models_splits.sh)
ALL2_ARGS = ["--min-members", "2", "--split", "random", "--test-per-family", "1"]  # + --seed
OOD = ("tRNA", "tRNA_GtRNAdb", "snoRNA_CD")


def sh(cmd: list[str], **kwargs) -> float:
    """Run a command; its CPU seconds (children's user + system)."""
    before = os.times()
    subprocess.run(cmd, check=True, **kwargs)
    after = os.times()
    return (after.children_user - before.children_user) + (after.children_system - before.children_system)


def prepare(work: str, seed: int) -> None:
    """The splits, the reference and the OOD sets (reused when present)."""
    for name, args in (("hairpin-split", SPLIT_ARGS), ("all2", ALL2_ARGS + ["--seed", str(seed)])):
        if not os.path.exists(os.path.join(work, name, "test.fa")):
            sh(["deepmir-dataset", "mirbase", "--hairpins", os.path.join(M22, "hairpin.fa"), "--families",
                os.path.join(M22, "miFam.dat"), *args, "-O", os.path.join(work, name), "-q"])
    if not os.path.exists(os.path.join(work, "reference.fa")):
        sh([sys.executable, os.path.join(HERE, "make_reference.py"), os.path.join(work, "all2"),
            os.path.join(work, "hairpin-split"), work])
    if not os.path.exists(os.path.join(work, "ood", "snoRNA_CD.fa")):
        sh([sys.executable, os.path.join(REPO, "benchmarks", "make_negatives.py"), "--out", os.path.join(work, "ood"),
            "--classes", ",".join(OOD), "--per-class", "500", "--part", "2"], stdout=subprocess.DEVNULL)


def calibrated_with_reference(model: str, work: str, below: float | None) -> str:
    """``model`` recalibrated with this work folder's reference, as train_default_models.sh calibrates."""
    out = os.path.join(work, "model-with-reference.npz")
    extra = [] if below is None else ["--reference-below", str(below)]
    specs = subprocess.run([sys.executable, os.path.join(REPO, "benchmarks", "make_negatives.py"), "--ood-fasta",
                            os.path.join(work, "hairpin-split", "ood.fa"), "--out", os.path.join(work, "calibration"),
                            "--classes", "snoRNA_CD,tRNA,tRNA_GtRNAdb,unseen_family"],
                           check=True, capture_output=True, text=True).stdout.split()
    sh(["deepmir-calibrate", "-m", model, "--in-dist", os.path.join(work, "hairpin-split", "val.fa"), *specs,
        "--temperature", "1", "--reference", os.path.join(work, "reference.fa"), "-o", out, *extra])
    return out


def size_bins(work: str) -> dict[str, str]:
    """Small-family query ID -> its family's size bin (unique hairpins: the reference's members + the query)."""
    members: dict[str, int] = defaultdict(int)
    for record in read_fasta(os.path.join(work, "all2", "train.fa")):
        members[record.family] += 1
    bins = {}
    for record in read_fasta(os.path.join(work, "small-queries.fa")):
        size = members[record.family] + 1
        bins[record.id] = "2" if size == 2 else "3-4" if size <= 4 else "5-9"
    return bins


def deepmir(model: str, queries: str, out: str, extra: list[str]) -> tuple[dict, float]:
    cpu = sh(["deepmir-classify", "-m", model, queries, "-o", out, "-q", "--threads", "1", *extra])
    calls = {}
    with open(out) as handle:
        for line in handle:
            if line.startswith("#") or line.startswith("id\t"):
                continue
            fields = line.rstrip("\n").split("\t")
            calls[fields[0]] = fields[2] if fields[5] == "accepted" else None
    return calls, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--model", help="bundle with a reference made by make_reference.py for --seed")
    model.add_argument("--calibrate-from", metavar="MODEL", help="bundle to give this seed's reference")
    parser.add_argument("--reference-below", type=float, help="with --calibrate-from: deepmir-calibrate's option")
    parser.add_argument("--seed", type=int, default=7, help="which held-out member per family (default: %(default)s)")
    parser.add_argument("--work", default=None, help="work folder (default: benchmarks/results/families-seedN)")
    args = parser.parse_args()
    work = os.path.abspath(args.work or os.path.join(REPO, "benchmarks", "results", f"families-seed{args.seed}"))
    os.makedirs(work, exist_ok=True)
    prepare(work, args.seed)
    model_path = args.model or calibrated_with_reference(args.calibrate_from, work, args.reference_below)
    sets = {"small families (2-9)": os.path.join(work, "small-queries.fa"),
            "large families (>= 10)": os.path.join(work, "hairpin-split", "test.fa")}
    sets.update({f"OOD {c}": os.path.join(work, "ood", f"{c}.fa") for c in OOD})
    truth = {name: {r.id: r.family for r in read_fasta(path)} for name, path in sets.items()}
    reference = list(read_fasta(os.path.join(work, "reference.fa")))
    results: dict[str, dict[str, tuple[dict, float]]] = defaultdict(dict)
    for name, path in sets.items():
        tag = name.split()[0] + "-" + os.path.basename(path).split(".")[0]
        results["deepmir (network + reference)"][name] = deepmir(model_path, path, os.path.join(work, f"{tag}.tsv"), [])
        results["deepmir (network only)"][name] = deepmir(model_path, path, os.path.join(work, f"{tag}-net.tsv"),
                                                          ["--no-reference"])
        for peer in (BlastPeer(threads=1), KmerPeer(6)):
            result = peer.run(reference, path, os.path.join(work, f"{peer.name}-{tag}"))[0]
            results[f"{peer.name}"][name] = ({q: f for q, (f, _) in result.predictions.items()}, result.query.cpu_s)
        print(f"[families] {name} done", file=sys.stderr)
    bins = size_bins(work)
    small = "small families (2-9)"
    for name in ("2", "3-4", "5-9"):  # per size bin: the small-family calls again, restricted
        label = f"small families, size {name}"
        truth[label] = {q: f for q, f in truth[small].items() if bins[q] == name}
        for method in results:
            if small in results[method]:
                results[method][label] = (results[method][small][0], float("nan"))
    rows = ["| method | set | n | accuracy / OOD accepted | macro F1 | CPU s |", "|---|---|---:|---:|---:|---:|"]
    with open(os.path.join(work, "families.tsv"), "w") as tsv:
        tsv.write("method\tset\tn\tvalue\tmacro_f1\tcpu_s\n")
        for method, by_set in results.items():
            for name, (calls, cpu) in by_set.items():
                expected = truth[name]
                if name.startswith("OOD"):
                    value = sum(calls.get(q) is not None for q in expected) / len(expected)
                    f1 = ""
                else:
                    value = sum(calls.get(q) == f for q, f in expected.items()) / len(expected)
                    f1 = f"{macro_f1([expected[q] for q in expected], [calls.get(q) for q in expected]):.4f}"
                if method.startswith("kmer") and name.startswith("OOD"):
                    continue  # the centroid names a family for everything
                cpu_text = "" if cpu != cpu else f"{cpu:.2f}"  # NaN: a size bin, timed as part of its set
                tsv.write(f"{method}\t{name}\t{len(expected)}\t{value:.4f}\t{f1}\t{cpu_text}\n")
                rows.append(f"| {method} | {name} | {len(expected)} | {100 * value:.2f}% | {f1} | {cpu_text} |")
    print("\n".join(rows))


if __name__ == "__main__":
    start = time.time()
    main()
    print(f"[families] {time.time() - start:.0f} s", file=sys.stderr)
