"""deepmir-merge: the call tables of deepmir-classify run on the chunks of one input, merged into one table."""

from __future__ import annotations

import argparse
from typing import Sequence

from ..atomic import atomic_output, check_writable
from .common import make_parser, run, say

PROG = "deepmir-merge"
EXAMPLES = """\
  split -l 200000 -d reads.fq chunk_                      # whole FASTQ records: a multiple of 4 lines
  for c in chunk_*; do deepmir-classify -m mature "$c" -o "$c.tsv"; done
  deepmir-merge chunk_*.tsv -o calls.tsv                  # = deepmir-classify -m mature reads.fq -o calls.tsv
  deepmir-merge part1.tsv part2.tsv part3.tsv > calls.tsv
"""


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(
        PROG,
        "Merge the call tables (TSV) of deepmir-classify run on the chunks of one input into one table: the '#' "
        "line and the column line once, then every table's rows in the order the tables are given (give the "
        "chunks in input order). Every table must come from the same classification: the same model and "
        "checksum, threshold, decision rule, format and deepmir-classify version on line 1, and the same columns "
        "on line 2 (--top-k, --long window); otherwise nothing is written. Reads-per-family tables (--counts) are "
        "merged with deepmir-counts instead.",
        EXAMPLES,
    )
    parser.add_argument("inputs", nargs="+", metavar="TABLE", help="call tables of deepmir-classify, in input order")
    parser.add_argument("-o", "--output", default="-", help="merged call table ('-' = stdout); written atomically")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ..calltables import merge_call_tables

    check_writable(args.output)
    with atomic_output(args.output) as out:
        rows = merge_call_tables(args.inputs, out)
    say(args, f"{PROG}: {rows} rows from {len(args.inputs)} tables")
    return 0


def entry() -> None:
    raise SystemExit(run(PROG, main))
