"""deepmir-encode: FASTA/FASTQ -> encoded NPZ (one-hot or ViennaRNA base-pair matrices)."""

from __future__ import annotations

import argparse
from typing import Sequence

from ..encoded_input import EncodeOptions, encode_records
from ..encodings import DEFAULT_MAX_LEN, DEFAULT_T, ENCODINGS
from ..npzformat import write_encoded
from ..seqio import LONG_POLICIES, read_records
from .common import add_threads, make_parser, positive_int, probability, run, say

PROG = "deepmir-encode"
EXAMPLES = """\
  deepmir-encode hairpins.fa -o hairpins.npz
  deepmir-encode --encoding mixed --threads 2 train.fa.gz -o train-mixed.npz
  zcat reads.fq.gz | deepmir-encode - --long window -o reads.npz
  deepmir-encode --encoding pair --png-dir figures --png-count 3 hsa-let-7a-1.fa -o let7.npz
"""


def add_encoding_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by deepmir-encode and deepmir-train (encoding on the fly)."""
    group = parser.add_argument_group("encoding")
    group.add_argument("-e", "--encoding", choices=ENCODINGS, default="onehot", help="input encoding (paper, Methods)")
    group.add_argument("--max-len", type=positive_int, default=DEFAULT_MAX_LEN, help="model input length L (nt)")
    group.add_argument("-T", "--pair-threshold", type=probability, default=DEFAULT_T, help="base-pair probability threshold T")
    group.add_argument("--unordered", action="store_true", help="pair matrix with 3 unordered pair types instead of 6 ordered")
    group.add_argument("--long", choices=LONG_POLICIES, default="skip", help="what to do with sequences longer than --max-len")
    group.add_argument("--window-step", type=positive_int, default=50, help="step between windows for --long window")
    group.add_argument(
        "--labels", choices=("auto", "require", "ignore"), default="auto",
        help="family labels from 'family=' header fields: auto = if the first record has one",
    )


def encode_options(args: argparse.Namespace) -> EncodeOptions:
    return EncodeOptions(
        encoding=args.encoding, max_len=args.max_len, threshold=args.pair_threshold, ordered=not args.unordered,
        long_policy=args.long, window_step=args.window_step, threads=args.threads, labels=args.labels,
        progress=not args.quiet,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(PROG, "Encode FASTA/FASTQ sequences (plain or gzip, '-' = stdin) as an NPZ v1 file.", EXAMPLES)
    parser.add_argument("input", help="FASTA/FASTQ file, plain or gzip; '-' reads stdin")
    parser.add_argument("-o", "--output", required=True, help="output NPZ ('-' = stdout)")
    add_encoding_options(parser)
    add_threads(parser)
    figures = parser.add_argument_group("figures")
    figures.add_argument("--png-dir", help="also draw the probability/pair/mixed matrices of the first records here")
    figures.add_argument("--png-count", type=positive_int, default=5, help="how many records to draw with --png-dir")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    options = encode_options(args)
    records = list(read_records(args.input))
    data, skipped = encode_records(records, args.input, options)
    write_encoded(args.output, data)
    if args.png_dir:
        from ..plots import render_records

        drawn = [(r.id, r.seq[: args.max_len]) for r in records[: args.png_count]]
        render_records(drawn, args.png_dir, args.pair_threshold, not args.unordered)
    if skipped:
        say(args, f"{PROG}: skipped {skipped} sequence(s) longer than {args.max_len} nt (see --long)")
    say(args, f"{PROG}: encoded {len(data.ids)} sequence(s) as {args.encoding} -> {args.output}")
    return 0


def entry() -> None:
    raise SystemExit(run(PROG, main))
