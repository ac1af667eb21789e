"""deepmir-scan: find every pre-miRNA locus of long sequences (contigs, chromosomes, genomes), both strands."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Sequence

from ..atomic import atomic_output, check_writable
from ..scan import DEFAULT_STEP, FORMATS
from .common import add_threads, make_parser, positive_int, run, say

PROG = "deepmir-scan"
EXAMPLES = """\
  deepmir-scan genome.fa.gz -o loci.gff3                  # shipped 'hairpin' model, GFF3, both strands
  deepmir-scan chr1.fa --format bed -o loci.bed -t 2      # BED6 for a genome browser, 2 threads
  deepmir-scan contigs.fa --format tsv --step 20 -o loci.tsv
  zcat assembly.fa.gz | deepmir-scan - -m my-hairpin-model.npz > loci.gff3

output (a locus merges overlapping candidate windows of a strand; it is reported at its hairpin, the unbranched
stem-loop of its best window's MFE fold, or its cut at a bulge or interior loop, that the network scores highest
for the window's family, with the family and scores deepmir-classify gives that hairpin cut out, when they reach
the threshold):
  gff3  ##gff-version 3, a '##deepmir-scan' line (version, model, model_sha256, threshold, step, window_threshold),
        then per locus: seqid, source 'deepmir', type pre_miRNA (SO:0001244), start, end (1-based, inclusive),
        score, strand, '.', ID, Name, family=NAME, family_accession=ACC, score, second_family,
        second_family_accession, second_score, windows (candidate windows merged), window=START-END (the best window)
  bed   a '#' line as above, then BED6: seqid, start (0-based), end (exclusive), family name, 1000 x score, strand
  tsv   a '#' line as above, a column line, then: seqid, start, end (1-based, inclusive), strand, family_accession,
        family_name, score, second_family (accession), second_score, decision_score (what the threshold applies
        to), windows, locus_start, locus_end (the merged windows' extent), window_start, window_end, window_score
"""


def finite_float(text: str) -> float:
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(
        PROG,
        "Scan long sequences on both strands for pre-miRNA loci with a one-hot CNN model bundle. Windows of the "
        "model's length (200 nt for 'hairpin') every --step nt are each scored exactly as deepmir-classify scores "
        "that window cut out (deepmir-classify --long window --window-step STEP), at a cost per nucleotide rather "
        "than per window; windows reaching the window threshold are merged into candidate loci (overlapping windows "
        "of a strand); a locus is reported at its hairpin (found by folding its best window) when that hairpin, "
        "scored as deepmir-classify scores it, reaches the threshold. Records shorter than the model length are "
        "one window. "
        "Soft-masked (lower-case) sequence is scanned like upper case; N and IUPAC codes are no base.",
        EXAMPLES,
    )
    parser.add_argument("input", help="FASTA (plain or gzip, '-' = stdin; any length, any number of records)")
    parser.add_argument("-m", "--model", default="hairpin", help="shipped model name or a bundle path")
    parser.add_argument("-o", "--output", default="-", help="output file ('-' = stdout); written atomically")
    parser.add_argument("-f", "--format", choices=FORMATS, default="gff3", help="output format (see below)")
    parser.add_argument("--step", type=positive_int, default=DEFAULT_STEP,
                        help="nt between window starts: every hairpin up to 201 - STEP nt lies wholly in a window, "
                        "and a locus' best window is placed to STEP nt; the cost per nt hardly depends on it")
    parser.add_argument("--threshold", type=finite_float,
                        help="report a locus when its hairpin, cut out and scored as deepmir-classify scores it, "
                        "reaches this (default: the model's scan threshold, chosen on genomic background without "
                        "miRNA genes; a model without one: its classify threshold)")
    parser.add_argument("--window-threshold", type=finite_float,
                        help="windows scoring this are candidate loci (default: the model's scan window threshold, "
                        "else its classify threshold; never above --threshold): lower finds more, slower")
    add_threads(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ..bundle import load_bundle
    from ..scan import LocusWriter, ScanOptions, Scanner
    from ..seqio import read_records

    check_writable(args.output)
    bundle = load_bundle(args.model)
    scanner = Scanner(bundle, ScanOptions(step=args.step, threshold=args.threshold,
                                          window_threshold=args.window_threshold, threads=args.threads))
    started = time.perf_counter()
    with _progress(args) as bar, atomic_output(args.output) as out:
        writer = LocusWriter(out, args.format, scanner, PROG)
        for _, loci in scanner.scan(read_records(args.input, allow_empty=True), bar.update):
            for locus in loci:
                writer.write(locus)
    stats = scanner.stats
    seconds = time.perf_counter() - started
    rate = f", {stats.nucleotides / seconds / 1e3:.1f} kb/s" if seconds > 0 and stats.nucleotides else ""
    say(args, f"{PROG}: {stats.loci['+'] + stats.loci['-']} loci ({stats.loci['+']} +, {stats.loci['-']} -) in "
              f"{stats.records} records, {stats.nucleotides:,} nt x 2 strands in {seconds:.1f} s{rate}; "
              f"{stats.windows:,} windows, {stats.rescored:,} rescored exactly, {stats.folded:,} candidate loci folded "
              f"(model {bundle.name}, threshold {scanner.locus_threshold:g}, window threshold "
              f"{scanner.decision.threshold:g}, step {args.step})")
    return 0


class _progress:
    """tqdm in nt on stderr (shown on a terminal, unless --quiet), closed even on errors."""

    def __init__(self, args: argparse.Namespace):
        self.args = args

    def __enter__(self):
        from tqdm import tqdm

        self.bar = tqdm(desc=PROG, unit=" nt", unit_scale=True, disable=self.args.quiet or None, mininterval=1.0,
                        leave=False, file=sys.stderr)
        return self.bar

    def __exit__(self, *exc) -> None:
        self.bar.close()


def entry() -> None:
    raise SystemExit(run(PROG, main))


if __name__ == "__main__":
    entry()
