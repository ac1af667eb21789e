"""deepmir-calibrate: choose a model's rejection threshold on the ROC of known vs unknown sequences."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from typing import Sequence

from .. import __version__
from ..atomic import atomic_output, check_writable
from .common import (add_threads, make_parser, non_negative_float, non_negative_int, positive_float, positive_int,
                     probability, run, say)

PROG = "deepmir-calibrate"
EXAMPLES = """\
  deepmir-calibrate -m model.npz --in-dist split/val.fa --ood split/ood.fa --ood tRNA=trna.fa -o calibrated.npz
  deepmir-calibrate -m hairpin --in-dist test.fa --ood snoRNA_CD=sno.fa --method max-f -o hairpin-maxf.npz \\
      --roc roc.tsv --metrics metrics.tsv --report report.html
  deepmir-calibrate -m model.npz --in-dist val.fa --ood negatives.fa -o calibrated.npz \\
      --report out/report.html --png-dir out   # PNG files beside the page, linked instead of embedded
  deepmir-calibrate -m model.npz --in-dist test.fa --ood negatives.fa --score energy -o energy-model.npz
  deepmir-calibrate -m model.npz --in-dist val.fa --ood negatives.fa --temperature 2 -o t2-model.npz
  deepmir-calibrate -m hairpin-model.npz --in-dist val.fa --ood negatives.fa -o calibrated.npz \
      --genomic-background NC_008253.fna.gz   # also deepmir-scan's threshold: <= 0.1 false loci per Mb there
"""


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(
        PROG,
        "Score held-out family members (in-distribution) and non-members (out-of-distribution: other ncRNAs, unseen "
        "families), choose the rejection threshold on their ROC and write a new model bundle carrying it.",
        EXAMPLES,
    )
    parser.add_argument("-m", "--model", required=True, help="model bundle path or shipped model name")
    parser.add_argument("--in-dist", required=True, help="labelled held-out sequences (FASTA 'family=' headers or NPZ)")
    parser.add_argument("--ood", action="append", required=True, metavar="[LABEL=]FILE",
                        help="out-of-distribution FASTA; LABEL names its class, else each record's 'class=' field "
                             "or the file name does (repeatable)")
    parser.add_argument("-o", "--output", required=True, help="calibrated model bundle to write (never the input)")
    parser.add_argument("--score", choices=("softmax", "energy"), default="softmax", help="score to threshold")
    parser.add_argument("--temperature", type=positive_float, default=None,
                        help="softmax temperature: score = max softmax(logits / T); T > 1 often separates unknown "
                             "sequences better (default: the model's, 1 for an uncalibrated model)")
    parser.add_argument("--lengths", type=length_range, metavar="MIN-MAX",
                        help="sequence lengths the threshold is for (e.g. 16-40 for reads): sequences outside are left "
                             "out of the calibration, and deepmir-classify reports them as too_short/too_long instead "
                             "of giving them a family (default: the model's range, any length for an uncalibrated one)")
    seeds = parser.add_mutually_exclusive_group()
    seeds.add_argument("--seeds", action="append", metavar="FASTA",
                       help="labelled FASTA ('family=' headers; repeatable) whose records' nt 2-8 are the seeds each "
                            "family accepts, e.g. the training reads and their 5' isomiRs: a read whose nt 2-8 are no "
                            "known seed of its top family is then reported as seed_mismatch, and calibration counts it "
                            "as rejected (default: the model's seed check, none for an uncalibrated model)")
    seeds.add_argument("--no-seeds", action="store_true", help="drop the model's seed check")
    parser.add_argument("--reference", metavar="FASTA",
                        help="labelled FASTA ('family=', 'name=' headers) of known members of every family, those the "
                             "network was not trained on included (e.g. the training hairpins plus all members of the "
                             "small families): the bundle carries them, and a sequence the network is unsure of (top "
                             "softmax < --reference-below) takes the family of its nearest member when their "
                             "Smith-Waterman score (BLASTN's scores) reaches the minimum chosen here on the --ood sets "
                             "(default: the model's reference, none for an uncalibrated model)")
    parser.add_argument("--reference-fpr", type=probability, default=0.01,
                        help="the most of each --ood class the reference stage may name (records whose family= is a "
                             "reference family are left out): sets the minimum alignment score")
    parser.add_argument("--reference-below", type=probability, default=None,
                        help="network top softmax below which the reference is consulted (default: the model's, 0.99)")
    parser.add_argument("--reference-anchor", type=non_negative_int, metavar="N", default=None,
                        help="for reads: a member counts only when the alignment starts within N nt of the 5' ends "
                             "of both read and member (members as given, not their reverse complements), and the "
                             "minimum applies to the alignment's shortfall from a perfect match of the whole read (0 = "
                             "every nt matches; a mismatch costs 5). 3 suits small RNA-seq reads against mature miRNAs "
                             "(5' isomiRs shift by up to 3 nt). Default: the model's; none for hairpins (any local "
                             "alignment, both strands)")
    parser.add_argument("--genomic-background", action="append", metavar="FASTA",
                        help="hairpin models: real genomic sequence without miRNA genes (e.g. a bacterial genome; "
                             "repeatable): deepmir-scan's threshold (on a locus's hairpin) is set so that at most "
                             "--false-loci-per-mb loci are found there (both strands), the classify threshold "
                             "staying as calibrated")
    parser.add_argument("--false-loci-per-mb", type=non_negative_float, default=0.1, metavar="F",
                        help="false loci per Mb of --genomic-background the scan threshold allows (default 0.1: "
                             "1 per 10 Mb; floor(F x Mb) loci)")
    parser.add_argument("--scan-window-threshold", type=probability, default=None, metavar="S",
                        help="with --genomic-background: windows scoring S are the scan's candidates, whose hairpins "
                             "the scan threshold then applies to (default 0.2; never below the classify threshold)")
    parser.add_argument("--method", choices=("target-fpr", "max-f", "fixed"), default="target-fpr",
                        help="how to choose the threshold: at --target-fpr on the ROC, at the best F1, or --threshold")
    parser.add_argument("--target-fpr", type=probability, default=0.05, help="false positive rate for --method target-fpr")
    parser.add_argument("--threshold", type=float, help="the threshold itself (implies --method fixed)")
    parser.add_argument("--roc", help="ROC TSV (threshold, TPR, FPR, precision)")
    parser.add_argument("--metrics", help="metrics TSV (scope, name, metric, value)")
    parser.add_argument("--report", help="HTML report with histograms, ROC and confusions; its plots are embedded "
                                         "as data: URLs unless --png-dir is given")
    parser.add_argument("--png-dir", metavar="DIR",
                        help="write the report's plots as PNG files in DIR (score-histograms.png, roc-curve.png; DIR "
                             "is created if missing) and link them from --report by relative path instead of "
                             "embedding them: HTML sanitizers such as Galaxy's strip data: URLs")
    parser.add_argument("--batch-size", type=positive_int, default=256, help="sequences scored at a time (memory)")
    add_threads(parser)
    return parser


def length_range(text: str) -> tuple[int, int]:
    """``MIN-MAX`` (1 <= MIN <= MAX) as a pair of ints."""
    low, sep, high = text.partition("-")
    try:
        pair = (int(low), int(high)) if sep else None
    except ValueError:
        pair = None
    if pair is None or not 1 <= pair[0] <= pair[1]:
        raise argparse.ArgumentTypeError(f"expected MIN-MAX with 1 <= MIN <= MAX, got {text!r}")
    return pair


def check_png_dir(png_dir: str) -> None:
    """Fail before scoring if the plots cannot be written: DIR is a folder, or can be made in an existing one."""
    from ..errors import DeepMirError
    from ..report import plot_paths

    if os.path.isdir(png_dir):
        for path in plot_paths(png_dir).values():
            check_writable(path)
    elif os.path.exists(png_dir):
        raise DeepMirError(f"{png_dir}: --png-dir is not a directory")
    else:
        check_writable(png_dir)  # its parent folder exists and takes new entries: makedirs will work


def write_roc(path: str, result) -> None:
    curve = result.curve
    with atomic_output(path) as handle:
        handle.write("threshold\ttpr\tfpr\tprecision\n")
        for t, tpr, fpr, precision in zip(curve.thresholds, curve.tpr, curve.fpr, curve.precision):
            handle.write(f"{t:.6g}\t{tpr:.6f}\t{fpr:.6f}\t{precision:.6f}\n")


def calibration_rule(bundle, args: argparse.Namespace):
    """The rule to calibrate: the model's decision with the score, temperature, lengths and seeds asked for."""
    from dataclasses import replace

    from ..calibration import seeds_from_fasta

    current = bundle.decision
    seeds = current.seeds
    if args.seeds:
        seeds = seeds_from_fasta(args.seeds, bundle.classes)
    elif args.no_seeds:
        seeds = None
    low, high = (current.min_length, current.max_length) if args.lengths is None else args.lengths
    temperature = current.temperature if args.temperature is None else args.temperature
    return replace(current, score=args.score, temperature=temperature, min_length=low, max_length=high, seeds=seeds)


def scan_calibration(bundle, decision, args: argparse.Namespace):
    """deepmir-scan's threshold for ``decision`` on the --genomic-background files (progress on stderr)."""
    from tqdm import tqdm

    from ..scan import DEFAULT_WINDOW_THRESHOLD, ScanOptions, calibrate_scan_threshold

    with tqdm(desc=f"{PROG}: genomic background", unit=" nt", unit_scale=True, disable=args.quiet or None,
              mininterval=1.0, leave=False, file=sys.stderr) as bar:
        window = DEFAULT_WINDOW_THRESHOLD if args.scan_window_threshold is None else args.scan_window_threshold
        found = calibrate_scan_threshold(bundle, decision, args.genomic_background, args.false_loci_per_mb, window,
                                         ScanOptions(threads=args.threads), bar.update)
    say(args, f"{PROG}: scan threshold {found.threshold:.6g} on {found.nucleotides / 1e6:.2f} Mb of genomic "
              f"background ({', '.join(found.files)}; both strands): {found.false_loci} loci there at it "
              f"({found.allowed} allowed); {len(found.scores)} candidate loci there (windows from "
              f"{found.window_threshold:.6g}), highest hairpin score "
              f"{f'{found.scores[0]:.6g}' if len(found.scores) else 'none'}")
    return found


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ..bundle import load_bundle, resolve_model, with_threshold
    from ..calibration import (PROMISCUOUS_HITS, bundle_threshold_extra, calibrate, calibrate_reference, metrics_rows,
                               reference_from_fasta, reference_record, score_in_distribution, score_ood,
                               threshold_record)
    from ..errors import DeepMirError
    from ..npzformat import sha256_of_file
    from ..scoring import Scorer

    if os.path.exists(args.output) and os.path.samefile(args.output, resolve_model(args.model)):
        raise DeepMirError(f"{args.output}: refusing to overwrite the input model; choose another output name")
    for path in (args.output, args.roc, args.metrics, args.report):  # all or none of the outputs
        if path:
            check_writable(path)
    if args.png_dir:
        check_png_dir(args.png_dir)
    bundle = load_bundle(args.model)
    rule = calibration_rule(bundle, args)
    scorer = Scorer(bundle, args.batch_size, threads=args.threads)
    in_dist = score_in_distribution(scorer, args.in_dist, rule)
    ood = score_ood(scorer, args.ood, rule)
    reference = stage = None
    if args.reference:
        reference = reference_from_fasta(args.reference)
        below = rule.reference_below if args.reference_below is None else args.reference_below
        anchor = rule.reference_anchor if args.reference_anchor is None else args.reference_anchor
        # the minimum is chosen anew: the model's old one (or none) must not constrain the search's validation
        rule = replace(rule, reference_min_score=None, reference_below=below, reference_anchor=anchor)
        stage = calibrate_reference(reference, ood, rule, args.reference_fpr)
        rule = replace(rule, reference_min_score=stage.min_score)
        reference = stage.reference
        say(args, f"{PROG}: reference of {len(reference)} members in {len(reference.families)} families "
                  f"({len(stage.dropped)} dropped as reached by >= {PROMISCUOUS_HITS} OOD sequences: "
                  f"{', '.join(stage.dropped[:5]) or 'none'}{', ...' if len(stage.dropped) > 5 else ''}): minimum "
                  f"{'alignment score' if anchor is None else 'shortfall from a perfect read match'} "
                  f"{stage.min_score} (at most {args.reference_fpr:g} of each OOD class; "
                  + ", ".join(f"{label} {rate:.4f}" for label, rate in stage.fpr.items()) + ")")
    method = "fixed" if args.threshold is not None else args.method
    result = calibrate(in_dist, ood, rule, method, args.target_fpr, args.threshold)
    background = None
    if args.genomic_background:
        background = scan_calibration(bundle, result.decision, args)
        result = replace(result, rule=replace(result.rule, scan_threshold=background.threshold,
                                              scan_window_threshold=background.window_threshold))
    record = threshold_record(result, args.in_dist, args.ood, args.target_fpr)
    if background is not None:
        record["scan_background"] = {"files": {os.path.basename(p): sha256_of_file(p) for p in args.genomic_background},
                                     "nucleotides": background.nucleotides,
                                     "false_loci_per_mb": args.false_loci_per_mb, "false_loci": background.false_loci}
    with_threshold(bundle, record, args.output, bundle_threshold_extra(bundle, result), reference,
                   reference_record(stage, args.reference) if stage is not None else None)
    if args.roc:
        write_roc(args.roc, result)
    if args.metrics:
        with atomic_output(args.metrics) as handle:
            handle.write("scope\tname\tmetric\tvalue\n")
            handle.writelines("\t".join(row) + "\n" for row in metrics_rows(result, bundle.classes))
    if args.report or args.png_dir:
        from ..report import write_report

        write_report(args.report, result, bundle.classes, bundle.name, __version__, args.png_dir)
    say(args, f"{PROG}: {args.score} threshold {result.threshold:.6g}: TPR {result.tpr:.4f}, FPR {result.fpr:.4f}, "
              f"AUROC {result.curve.auroc:.4f} ({len(in_dist.ids)} in-distribution, "
              f"{sum(len(g.ids) for g in ood)} out-of-distribution) -> {args.output}")
    return 0


def entry() -> None:
    raise SystemExit(run(PROG, main))
