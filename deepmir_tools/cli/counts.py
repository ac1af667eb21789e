"""deepmir-counts: merge per-sample family counts into one count matrix (families x samples) for DESeq2/edgeR."""

from __future__ import annotations

import argparse
from typing import Sequence

from ..atomic import atomic_output, check_writable
from .common import make_parser, run, say

PROG = "deepmir-counts"
EXAMPLES = """\
  deepmir-classify -m mature ctrl1.fq.gz --counts ctrl1.counts.tsv -o ctrl1.tsv     # one counts table per sample
  deepmir-counts ctrl1.counts.tsv ctrl2.counts.tsv treat1.counts.tsv -o matrix.tsv
  deepmir-counts *.counts.tsv --names c1,c2,t1 --include-status -o matrix.tsv
  # R: counts <- read.delim("matrix.tsv", row.names = 1, check.names = FALSE)[, -1]
  #    dds <- DESeq2::DESeqDataSetFromMatrix(counts, coldata, ~ condition)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(
        PROG,
        "Merge the per-sample read counts of deepmir-classify --counts into one count matrix: a TSV with the "
        "columns family, family_name and one integer column per sample (header: the sample name), families as "
        "rows (0 where a sample has none). Every sample must have been classified with the same model and "
        "threshold, and sample names must differ.",
        EXAMPLES,
    )
    parser.add_argument("inputs", nargs="+", metavar="COUNTS", help="counts tables of deepmir-classify --counts")
    parser.add_argument("-o", "--output", default="-", help="count matrix TSV ('-' = stdout)")
    parser.add_argument("--names", help="comma-separated sample names, one per input, in order; without it, "
                        "each table's sample= field")
    parser.add_argument("--include-status", action="store_true",
                        help="also list rejected / too_short / too_long / skipped reads as rows after the families")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ..counts import merge_counts, read_counts

    check_writable(args.output)
    names = args.names.split(",") if args.names is not None else None
    tables = [read_counts(path) for path in args.inputs]
    lines = merge_counts(tables, names, include_status=args.include_status)
    with atomic_output(args.output) as out:
        out.write("\n".join(lines) + "\n")
    say(args, f"{PROG}: {len(lines) - 1} rows x {len(tables)} samples")
    return 0


def entry() -> None:
    raise SystemExit(run(PROG, main))
