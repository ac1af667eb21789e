#!/usr/bin/env python3
"""Tang & Sun 2019 reproduced with the suite's own executables, each figure printed beside the paper's.

  python benchmarks/paper/reproduce.py all          # every experiment below, then the summary table
  python benchmarks/paper/reproduce.py report       # only the summary of what has been measured so far
  python benchmarks/paper/reproduce.py table3|table3-matrix|table4|mature|fig6|fig7

- table3: one-hot CNN on the Rfam-300/120/60/30 groups (Table 2) rebuilt from ../shared/data/rfam-mirna/.
- table3-matrix: the probability, pair and mixed matrices with the 2D CNN (78.7M parameters) on the groups of
  --matrix-group (default: all four) for --matrix-epochs (default 4) in bfloat16 compute (--matrix-precision;
  69 training samples/s on 2 AVX512-BF16 cores, 2.2x float32) instead of the paper's training to convergence:
  a 2-core budget (10-16 min per encoding and group, ~2.5 h in all), stated in every row.
- table4: 5/10/15/20 random extra bases around each Rfam-60 test sequence (seeded), one-hot model.
- mature: matures of miRBase 22.1 families >= 10 members, mature-trained vs hairpin-trained model (the shipped
  models, trained on this split; --retrain-mature trains both afresh).
- fig6: pair matrices with T in {0.0001, 0.00487, 0.00772, 0.01307, 0.02411}, ordered and unordered; 30 Rfam
  families (seeded choice among those with >= 100 members), 100 members each, 80 train : 20 test. The paper
  repeats this for 5 folds; here one fold (--fig6-folds) and --fig6-epochs (default 4), stated in every row.
- fig7: Rfam-60 test sequences (in-distribution) vs unseen Rfam miRNA families, tRNA and C/D box snoRNA
  (out-of-distribution): max-softmax distributions, ROC, AUROC and the threshold at FPR 0.05, through
  deepmir-calibrate (its HTML report holds the histograms and ROC plots), for the one-hot model and, when
  table3-matrix has run, the pair-matrix model.

Results: benchmarks/results/accuracy.tsv (Table 3/4, mature), benchmarks/results/fig6.tsv, benchmarks/results/fig7.tsv,
and reports in benchmarks/results/fig7/.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import os
import random
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import accuracy as acc  # noqa: E402  (benchmarks/accuracy.py: the shared experiment helpers)

RESULTS = acc.RESULTS
WORK = acc.WORK
FIG6_T = (0.0001, 0.00487, 0.00772, 0.01307, 0.02411)
FIG6_PAPER = "median accuracy ~0.92 for both ordered and unordered; T = 0.0001 highest mean (Fig. 6, read off the plot)"
FIG7_PAPER = "one-hot AUROC 'very close to 1'; threshold 0.977 at FPR 0.05 (Fig. 7)"
MATRIX_ENCODINGS = ("pair", "prob", "mixed")


def run_table3(args: argparse.Namespace) -> None:
    args.encoding = "onehot"
    acc.run_table3(args)


def precision_args(args: argparse.Namespace) -> list[str]:
    """deepmir-train options for --matrix-precision (bfloat16: 2.2x faster matrix CNN training on AVX512-BF16 CPUs)."""
    return [] if args.matrix_precision == "float32" else ["--mixed-precision", args.matrix_precision]


def run_table3_matrix(args: argparse.Namespace) -> None:
    for group in args.matrix_group:
        for encoding in MATRIX_ENCODINGS:
            name = f"{group}-{encoding}"
            train = ["--encoding", encoding, "--epochs", str(args.matrix_epochs), "--patience", "0", *precision_args(args)]
            result, seconds, _ = acc.train_and_test(name, acc.rfam(group), train, args.threads)
            acc.record(name, result, acc.PAPER_TABLE3.get((group, encoding)), seconds,
                       f"matrix CNN, {args.matrix_epochs} epochs, {args.matrix_precision} compute "
                       "(2-core budget; the paper trains to convergence)")


def run_table4(args: argparse.Namespace) -> None:
    acc.run_extra_bases(args)


def run_mature(args: argparse.Namespace) -> None:
    """Matures of the miRBase 22.1 split, by the shipped mature and hairpin models (trained on that split's
    train.fa); ``--retrain-mature`` trains both models afresh instead (~1 hour on 2 cores)."""
    if args.retrain_mature:
        acc.run_mature(args)
        return
    matures = acc.mirbase("22", "mature", 10, "random")
    truth = acc.labels_of(matures / "test.fa")
    for model, name, paper in (("mature", "matures, mature-trained model", 92.43),
                               ("hairpin", "matures, hairpin-trained model", 65.26)):
        calls = WORK / f"matures-by-shipped-{model}-calls.tsv"
        acc.tool("deepmir-classify", str(matures / "test.fa"), "-m", model, "--no-reject", "-o", str(calls), "-q")
        acc.record(name, acc.score(calls, truth), (paper, float("nan")), 0, f"shipped '{model}' model")


def fig6_split(seed: int) -> Path:
    """30 seeded Rfam families with >= 100 members, 100 each, 80 train : 20 test (each seed its own draw: the
    paper's 5-fold cross-validation is approximated by repeated seeded splits, --fig6-folds of them)."""
    source = acc.split_dir(f"fig6-all-seed{seed}", "rfam", "--labelled-fasta",
                           str(acc.DATA / "rfam-mirna" / "rfam_mirna_all_labeled.fa.gz"), "--min-members", "100",
                           "--per-family", "100", "--test-per-family", "20", "--seed", str(seed))
    out = WORK / "splits" / f"fig6-30fam-seed{seed}"
    if (out / "test.fa").exists():
        return out
    with (source / "families.tsv").open() as handle:
        families = sorted(row["accession"] for row in csv.DictReader(handle, delimiter="\t"))
    chosen = set(random.Random(seed).sample(families, 30))
    out.mkdir(parents=True, exist_ok=True)
    for part in ("train.fa", "test.fa"):
        lines = (source / part).read_text().splitlines()
        kept = [f"{h}\n{s}\n" for h, s in zip(lines[::2], lines[1::2]) if acc.family_of(h.partition(" ")[2])[0] in chosen]
        (out / part).write_text("".join(kept))
    return out


def record_fig6(threshold: float, ordered: bool, fold: int, result: tuple[float, float, int], seconds: float,
                args: argparse.Namespace) -> None:
    acc.append_row("fig6.tsv", ["T", "order", "fold", "accuracy", "macro_f1", "n", "train_seconds", "epochs", "precision"],
                   [threshold, "ordered" if ordered else "unordered", fold, f"{result[0]:.2f}", f"{result[1]:.2f}",
                    result[2], f"{seconds:.0f}", args.fig6_epochs, args.matrix_precision])
    print(f"fig6 T={threshold} {'ordered' if ordered else 'unordered'} fold {fold}: {result[0]:.2f}% / F1 "
          f"{result[1]:.2f} (n={result[2]}, {args.fig6_epochs} epochs, {args.matrix_precision}, train {seconds:.0f} s)",
          flush=True)


def run_fig6(args: argparse.Namespace) -> None:
    # ordered and unordered at the default T first, so a cut-short run still answers Fig. 6b
    configs = [(t, o) for t in FIG6_T for o in (True, False)]
    for fold in range(args.fig6_first_fold, args.fig6_folds + 1):
        split = fig6_split(7 + fold - 1)
        for threshold, ordered in configs:
            train = ["--encoding", "pair", "-T", str(threshold), "--epochs", str(args.fig6_epochs), "--patience", "0",
                     "--seed", str(fold), *precision_args(args)] + ([] if ordered else ["--unordered"])
            result, seconds, _ = acc.train_and_test(f"fig6-fold{fold}", split, train, args.threads)
            record_fig6(threshold, ordered, fold, result, seconds, args)


def fig7_negatives() -> list[str]:
    """--ood arguments: unseen Rfam families (the Rfam-60 split's ood.fa), tRNA and C/D box snoRNA."""
    out = WORK / "fig7-negatives"
    split = acc.rfam("rfam-60")
    if not (out / "unseen_family.fa").exists():
        subprocess.run([sys.executable, str(HERE.parent / "make_negatives.py"), "--out", str(out), "--ood-fasta",
                        str(split / "ood.fa"), "--per-class", "2000"], check=True, stdout=subprocess.DEVNULL)
    return [arg for label in ("unseen_family", "tRNA", "snoRNA_CD") for arg in ("--ood", f"{label}={out / (label + '.fa')}")]


def calibrate_fig7(label: str, model: Path, args: argparse.Namespace) -> None:
    report_dir = RESULTS / "fig7"
    report_dir.mkdir(parents=True, exist_ok=True)
    metrics = report_dir / f"{label}-metrics.tsv"
    acc.tool("deepmir-calibrate", "-m", str(model), "--in-dist", str(acc.rfam("rfam-60") / "test.fa"), *fig7_negatives(),
             "-o", str(WORK / f"fig7-{label}-calibrated.npz"), "--roc", str(report_dir / f"{label}-roc.tsv"),
             "--metrics", str(metrics), "--report", str(report_dir / f"{label}-report.html"),
             "--threads", str(args.threads), "-q")
    values = {(row[1], row[2]): row[3] for row in csv.reader(metrics.open(), delimiter="\t") if len(row) == 4}
    columns = [("threshold", "softmax"), ("threshold", "tpr"), ("threshold", "fpr"), ("pooled-ood/softmax", "auroc"),
               ("unseen_family", "auroc_softmax"), ("tRNA", "auroc_softmax"), ("snoRNA_CD", "auroc_softmax")]
    acc.append_row("fig7.tsv", ["model", "threshold", "tpr", "fpr", "auroc_pooled", "auroc_unseen", "auroc_tRNA",
                                "auroc_snoRNA_CD"], [label] + [values.get(c, "") for c in columns])
    print(f"fig7 {label}: " + ", ".join(f"{c[0]} {c[1]} {values.get(c, '-')}" for c in columns) + f"   paper: {FIG7_PAPER}")


def run_fig7(args: argparse.Namespace) -> None:
    onehot = sorted(WORK.glob("rfam-60-onehot*.npz"))
    if not onehot:
        acc.train_and_test("rfam-60-onehot", acc.rfam("rfam-60"), [], args.threads)
        onehot = sorted(WORK.glob("rfam-60-onehot*.npz"))
    calibrate_fig7("onehot", onehot[0], args)
    pair = sorted(WORK.glob("rfam-60-pair*.npz"))
    if pair:
        calibrate_fig7("pair", pair[0], args)


def latest_rows(path: Path, key: str) -> dict[str, dict[str, str]]:
    """The newest row of a results TSV for each value of ``key`` (later lines win)."""
    if not path.exists():
        return {}
    return {row[key]: row for row in csv.DictReader(path.open(), delimiter="\t")}


def report(args: argparse.Namespace) -> None:
    rows = latest_rows(RESULTS / "accuracy.tsv", "experiment")
    print(f"# Tang & Sun 2019 reproduced with deepmir-tools ({datetime.date.today()}, {os.cpu_count()} CPUs)")
    print("## Table 3 (accuracy % / macro F1 %; paper in brackets)")
    for group in ("rfam-300", "rfam-120", "rfam-60", "rfam-30"):
        cells = []
        for encoding in ("pair", "prob", "mixed", "onehot"):
            row = rows.get(f"{group}-{encoding}") or rows.get(f"{group}-{encoding} (0 extra bases)")
            paper = acc.PAPER_TABLE3[(group, encoding)]
            ours = f"{float(row['accuracy']):.2f} / {float(row['macro_f1']):.2f}" if row else "not run"
            cells.append(f"{encoding} {ours} [{paper[0]:.2f} / {paper[1]:.2f}]")
        print(f"{group}: " + "; ".join(cells))
    notes = sorted({row["note"] for name, row in rows.items() if name.endswith(MATRIX_ENCODINGS) and row.get("note")})
    for note in notes:
        print(f"matrix rows: {note}")
    print("## Table 4 (one-hot, Rfam-60, extra random bases)")
    for bases, paper in acc.PAPER_TABLE4.items():
        row = rows.get(f"rfam-60-onehot +{bases} random bases")
        print(f"+{bases}: " + (f"{float(row['accuracy']):.2f} / {float(row['macro_f1']):.2f}" if row else "not run")
              + f" [{paper[0]:.2f} / {paper[1]:.2f}]")
    print("## Mature miRNAs")
    for name, paper in (("matures, mature-trained model", 92.43), ("matures, hairpin-trained model", 65.26)):
        row = rows.get(name)
        print(f"{name}: " + (f"{float(row['accuracy']):.2f}%" if row else "not run") + f" [{paper:.2f}%]")
    report_fig6()
    print("## Fig. 7 (Rfam-60 test vs unseen families, tRNA, C/D snoRNA)")
    for label, row in latest_rows(RESULTS / "fig7.tsv", "model").items():
        print(f"{label}: threshold {row['threshold']} at FPR {row['fpr']} (TPR {row['tpr']}); AUROC pooled "
              f"{row['auroc_pooled']}, unseen {row['auroc_unseen']}, tRNA {row['auroc_tRNA']}, "
              f"C/D snoRNA {row['auroc_snoRNA_CD']}   [{FIG7_PAPER}]")


def report_fig6() -> None:
    path = RESULTS / "fig6.tsv"
    print(f"## Fig. 6 (pair matrix, 30 Rfam families; accuracy %)   [{FIG6_PAPER}]")
    if not path.exists():
        print("not run")
        return
    results: dict[tuple[str, str], dict[str, tuple[float, str]]] = {}
    for row in csv.DictReader(path.open(), delimiter="\t"):  # the newest row of each fold wins
        results.setdefault((row["T"], row["order"]), {})[row["fold"]] = (float(row["accuracy"]), row.get("precision") or "float32")
    for (threshold, order), folds in sorted(results.items(), key=lambda kv: (float(kv[0][0]), kv[0][1])):
        values = [folds[fold] for fold in sorted(folds, key=int)]
        mean = sum(v for v, _ in values) / len(values)
        print(f"T={threshold} {order}: mean {mean:.2f} over {len(values)} fold(s): "
              + ", ".join(f"{v:.2f} ({precision})" for v, precision in values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    steps = {"table3": run_table3, "table3-matrix": run_table3_matrix, "table4": run_table4, "mature": run_mature,
             "fig6": run_fig6, "fig7": run_fig7}
    parser.add_argument("experiment", choices=("all", "report", *steps))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--matrix-group", choices=("rfam-300", "rfam-120", "rfam-60", "rfam-30"), nargs="+",
                        default=["rfam-300", "rfam-120", "rfam-60", "rfam-30"], help="group(s) for table3-matrix")
    parser.add_argument("--matrix-precision", choices=("float32", "bfloat16"), default="bfloat16",
                        help="matrix CNN compute (table3-matrix, fig6); weights stay float32")
    parser.add_argument("--matrix-epochs", type=int, default=4)
    parser.add_argument("--fig6-epochs", type=int, default=4)
    parser.add_argument("--fig6-folds", type=int, default=1,
                        help="repeated seeded 80:20 splits (seeds 7, 8, ...); the paper: 5-fold cross-validation")
    parser.add_argument("--fig6-first-fold", type=int, default=1, help="skip the folds before this one (already run)")
    parser.add_argument("--retrain-mature", action="store_true",
                        help="mature step: train hairpin and mature models instead of using the shipped ones")
    args = parser.parse_args()
    args.train_args = []
    WORK.mkdir(parents=True, exist_ok=True)
    chosen = steps if args.experiment == "all" else {args.experiment: steps.get(args.experiment)}
    for step in chosen.values():
        if step:
            step(args)
    report(args)


if __name__ == "__main__":
    main()
