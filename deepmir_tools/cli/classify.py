"""deepmir-classify: assign miRNA families to sequences, rejecting what belongs to none."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from .. import __version__
from ..atomic import atomic_output, check_writable
from ..errors import DeepMirError
from ..seqio import LONG_POLICIES, read_any
from .common import add_threads, make_parser, positive_float, positive_int, probability, run, say

PROG = "deepmir-classify"
EXAMPLES = """\
  deepmir-classify hairpins.fa -o calls.tsv                     # shipped 'hairpin' model
  deepmir-classify -m mature reads.fastq.gz -o calls.tsv --counts family-counts.tsv
  deepmir-classify -m mature s1.fq.gz -o s1.tsv --counts s1.counts.tsv --stats s1_mqc.yaml  # multiqc .
  samtools view -b -f 4 aligned.bam > unmapped.bam && deepmir-classify -m mature unmapped.bam -o -
  zcat collapsed.fa.gz | deepmir-classify -m mature - --counts counts.tsv -o calls.tsv
  deepmir-classify --long window --window-step 25 contigs.fa -m my-model.npz -o calls.tsv
"""


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(
        PROG,
        "Classify sequences into miRNA families with a CNN model bundle; a sequence whose best softmax score "
        "is below the model's threshold is reported as rejected (open-set rejection, Tang & Sun 2019). The read "
        "model ('mature') also reports reads outside 16-40 nt as too_short/too_long, and a read whose nt 2-8 are no "
        "known seed of its family as seed_mismatch; none of them gets a family.",
        EXAMPLES,
    )
    parser.add_argument("input", help="FASTA/FASTQ (plain or gzip, '-' = stdin), SAM/BAM/CRAM, or NPZ from deepmir-encode")
    parser.add_argument("-m", "--model", default="hairpin", help="shipped model name (hairpin, mature) or a bundle path")
    parser.add_argument("-o", "--output", default="-", help="classification TSV ('-' = stdout)")
    parser.add_argument("--counts", help="also write per-family read counts (collapsed headers honoured; "
                        "merge several samples with deepmir-counts)")
    parser.add_argument("--stats", help="also write reads by status as MultiQC custom content (name it *_mqc.yaml)")
    parser.add_argument("--length-stats", help="also write reads per length and status as a MultiQC line graph "
                        "(name it *_mqc.yaml)")
    parser.add_argument("--sample", help="sample name in the --counts and --stats outputs "
                        "(default: the input file name without suffixes)")
    parser.add_argument("--top-k", type=positive_int, default=2, help="ranked families per sequence (>= 2 adds columns)")
    parser.add_argument("--threshold", type=probability, help="rejection threshold (default: the model's)")
    parser.add_argument("--no-reject", action="store_true", help="accept every sequence (closed-set classification)")
    parser.add_argument("--no-seed-check", action="store_true",
                        help="do not check reads' nt 2-8 against the known seeds of their family (models calibrated "
                        "with a seed check, such as 'mature'; such reads are otherwise 'seed_mismatch')")
    parser.add_argument("--no-reference", action="store_true",
                        help="network only: do not look sequences the network is unsure of up in the model's reference "
                        "(models calibrated with --reference, such as 'hairpin': the nearest known member of any "
                        "family, small families included; see the method, reference columns)")
    parser.add_argument("--temperature", type=positive_float,
                        help="report softmax(logits / T) (default: the model's T, under which its threshold was chosen)")
    parser.add_argument("--long", choices=LONG_POLICIES, default="skip",
                        help="sequences longer than the model length: skip (reported as 'skipped'), window, ...")
    parser.add_argument("--window-step", type=positive_int, default=50, help="window step for --long window")
    parser.add_argument("--read-counts", choices=("auto", "none", "x", "dash", "size", "underscore"), default="auto",
                        help="how collapsed-read IDs carry counts (auto: name_x12, 1-12, ;size=12)")
    parser.add_argument("--batch-size", type=positive_int, default=256, help="sequences scored at a time (memory)")
    add_threads(parser)
    return parser


def _calls(args: argparse.Namespace, classifier):
    """Calls from sequences or from a pre-encoded NPZ (whose encoding must match the model)."""
    if args.input.endswith(".npz"):
        from ..npzformat import read_encoded

        data = read_encoded(args.input)
        model_encoding = classifier.bundle.encoding
        if data.encoding != model_encoding["encoding"] or (
            data.encoding != "onehot" and int(data.meta["max_len"]) != int(model_encoding["max_len"])
        ):
            raise DeepMirError(
                f"{args.input}: encoded as {data.encoding} (L={data.meta['max_len']}), but model "
                f"'{classifier.bundle.name}' expects {model_encoding['encoding']} (L={model_encoding['max_len']})"
            )
        return classifier.classify_encoded(data)
    return classifier.classify(read_any(args.input, allow_empty=True))


def _progress(args: argparse.Namespace, calls):
    from tqdm import tqdm

    return tqdm(calls, desc=PROG, unit=" seq", disable=args.quiet or None, mininterval=1.0, leave=False, file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ..bundle import load_bundle
    from ..classify import ClassifyOptions, Classifier, tsv_columns, tsv_header, tsv_row
    from ..counts import (Tally, check_sample_name, counts_header, counts_table, length_stats_yaml, sample_name,
                          stats_yaml)
    from ..labels import header_fields

    sample = check_sample_name(args.sample if args.sample is not None else sample_name(args.input))
    for extra in (args.counts, args.stats, args.length_stats):  # written after the TSV: fail before writing any
        if extra:
            check_writable(extra)
    bundle = load_bundle(args.model)
    options = ClassifyOptions(threshold=args.threshold, reject=not args.no_reject, top_k=max(args.top_k, 2),
                              batch_size=args.batch_size, long_policy=args.long, window_step=args.window_step,
                              count_style=args.read_counts, threads=args.threads, temperature=args.temperature,
                              seed_check=not args.no_seed_check,
                              # an encoded NPZ keeps no sequences to look up: the network alone decides
                              reference=not (args.no_reference or args.input.endswith(".npz")))
    classifier = Classifier(bundle, options)
    windows = args.long == "window"
    tally, status_counts = Tally(), {}
    classes = classifier.classes  # the network's and the reference's families
    reference = classifier.uses_reference
    header = tsv_header(bundle, classifier.decision, options.reject, __version__, args.temperature)
    with atomic_output(args.output) as out:
        out.write(header + "\n")
        out.write("\t".join(tsv_columns(options.top_k, windows, reference)) + "\n")
        for call in _progress(args, _calls(args, classifier)):
            out.write(tsv_row(call, classes, options.top_k, windows, reference) + "\n")
            status_counts[call.status] = status_counts.get(call.status, 0) + 1
            tally.add(call, classes)
    if args.counts:
        with atomic_output(args.counts) as handle:
            handle.write("\n".join(counts_table(tally, counts_header(header, sample))) + "\n")
    if args.stats:
        with atomic_output(args.stats) as handle:
            handle.write(stats_yaml(tally, sample, header_fields(header)))
    if args.length_stats:
        with atomic_output(args.length_stats) as handle:
            handle.write(length_stats_yaml(tally, sample))
    summary = ", ".join(f"{count} {status}" for status, count in sorted(status_counts.items())) or "no sequences"
    say(args, f"{PROG}: {summary} (model {bundle.name}, threshold {classifier.decision.threshold:g})")
    return 0


def entry() -> None:
    raise SystemExit(run(PROG, main))
