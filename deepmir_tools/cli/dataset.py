"""deepmir-dataset: family-labelled train/val/test FASTA from miRBase or Rfam (paper's Table 2 groups)."""

from __future__ import annotations

import argparse
import time
from typing import Sequence

from ..datasets import (
    DEFAULT_MAX_LEN,
    GROUPS,
    DatasetInfo,
    DatasetOptions,
    Quota,
    describe_sources,
    group_options,
    mirbase_dataset,
    rfam_dataset,
    write_dataset,
)
from ..errors import DeepMirError
from ..relatives import DEFAULT_COVERAGE, DEFAULT_IDENTITY
from .common import _HelpFormatter, add_threads, make_parser, non_negative_int, positive_int, run, say

PROG = "deepmir-dataset"
EXAMPLES = """\
  # miRBase hairpins, families with >= 10 members, 20% test and 10% validation per family
  deepmir-dataset mirbase --hairpins hairpin.fa --families miFam.dat --min-members 10 \\
      --test-fraction 0.2 --val-fraction 0.1 -O mirbase-hairpin-min10
  # mature miRNAs of the same families (families chosen by their hairpins)
  deepmir-dataset mirbase --hairpins hairpin.fa --families miFam.dat --matures mature.fa \\
      --kind mature --min-members 10 --test-fraction 0.2 --val-fraction 0.1 -O mirbase-mature-min10
  # homology-aware split: no test hairpin has a training relative (>= 80% identity end to end,
  # or locally over >= 80% of the shorter sequence); summary.tsv reports the check (0 required)
  deepmir-dataset mirbase --hairpins hairpin.fa --families miFam.dat --min-members 30 \\
      --split remote --identity 0.8 --coverage 0.8 --threads 2 -O mirbase-remote
  # how much a random split leaks: count test hairpins with a training relative
  deepmir-dataset mirbase --hairpins hairpin.fa --families miFam.dat --min-members 30 \\
      --check-relatives -O mirbase-random
  # the paper's Rfam-60 group (165 families in the paper, 60 per family, 50:10)
  deepmir-dataset rfam --labelled-fasta rfam_mirna_all_labeled.fa.gz --group rfam-60 -O rfam-60
  deepmir-dataset rfam --fasta-dir fasta/rfam_mirna --min-members 100 --per-family 100 \\
      --test-per-family 20 -O rfam-100

outputs (in OUTDIR): train.fa, test.fa, [val.fa] with headers '>ID family=ACC name=NAME';
ood.fa (families left out: 'class=unseen_family family=ACC name=NAME'; family-less: 'class=no_family');
[unsampled.fa] (members of chosen families beyond --per-family); families.tsv; summary.tsv (counts,
with test_with_train_relative / val_with_train_relative when relatives are checked, sources, options).
"""


class _Formatter(_HelpFormatter):
    """Shows defaults, except the unset ones (options whose default depends on others)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be >= 0 and < 1, got {value:g}")
    return value


def _add_common(parser: argparse.ArgumentParser) -> None:
    select = parser.add_argument_group("family selection")
    select.add_argument(
        "--group", choices=sorted(GROUPS),
        help="a Table 2 preset: sets --min-members, --per-family and --test-per-family (sequences <= 200 nt)",
    )
    select.add_argument(
        "--min-members", type=positive_int,
        help="keep families with at least N members (after deduplication and --max-len)",
    )
    select.add_argument("--per-family", type=positive_int, help="sample at most K members per family (default: all)")
    select.add_argument(
        "--max-len", type=non_negative_int, default=DEFAULT_MAX_LEN,
        help="drop sequences longer than this (0: keep all)"
    )
    split = parser.add_argument_group("split")
    split.add_argument(
        "--split", choices=("random", "remote"), default="random",
        help="random per family (the paper) or remote: homology-aware (see --identity)",
    )
    split.add_argument("--test-fraction", type=_fraction, help="share of each family for test (default 0.2)")
    split.add_argument("--test-per-family", type=non_negative_int, help="fixed number of test members per family")
    split.add_argument("--val-fraction", type=_fraction, help="share of each family for validation (default 0)")
    split.add_argument("--val-per-family", type=non_negative_int, help="fixed number of validation members per family")
    split.add_argument(
        "--identity", type=float, default=DEFAULT_IDENTITY,
        help="relatives (remote split, --check-relatives): the shorter sequence aligns end to end inside the "
        "longer at >= this identity, or a local alignment (BLASTN scores) is >= this identical over >= --coverage "
        "of the shorter; at 0.7 most families become one cluster and get no test members",
    )
    split.add_argument(
        "--coverage", type=float, default=DEFAULT_COVERAGE,
        help="relatives by local alignment: the identical-enough stretch spans at least this share of the "
        "shorter sequence (BLAST's alignment length / shorter length)",
    )
    split.add_argument(
        "--check-relatives", action="store_true",
        help="count test and validation sequences with a training relative (summary.tsv); always done for "
        "--split remote, where it must be 0; with --split random it measures how much the test set leaks",
    )
    add_threads(split)
    split.add_argument("--seed", type=int, default=7, help="random seed (same seed, same data set)")
    parser.add_argument("-O", "--outdir", required=True, help="output directory (created if missing)")


def _subcommand(commands, name: str, help_text: str, formatter) -> argparse.ArgumentParser:
    return commands.add_parser(
        name, help=help_text, description=help_text, epilog="examples:\n" + EXAMPLES, formatter_class=formatter
    )


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(PROG, "Build family-labelled train/val/test FASTA files from miRBase or Rfam.", EXAMPLES)
    parser.formatter_class = _Formatter
    commands = parser.add_subparsers(dest="source", required=True, metavar="{mirbase,rfam}")
    mirbase = _subcommand(commands, "mirbase", "data set from miRBase hairpin.fa/mature.fa + miFam.dat",
                          parser.formatter_class)
    mirbase.add_argument("--hairpins", required=True, help="miRBase hairpin.fa (plain or gzip)")
    mirbase.add_argument("--families", required=True, help="miRBase miFam.dat")
    mirbase.add_argument("--matures", help="miRBase mature.fa (for --kind mature)")
    mirbase.add_argument(
        "--count-members", choices=("deduplicated", "listed"), default="deduplicated",
        help="what --min-members counts: unique hairpins <= --max-len, or the members miFam.dat lists "
        "(miRBase's own family sizes: 98 miRBase 18 families have >= 30)",
    )
    mirbase.add_argument(
        "--kind", choices=("hairpin", "mature"), help="sequences to use (default: mature with --matures, else hairpin)"
    )
    _add_common(mirbase)
    rfam = _subcommand(commands, "rfam", "data set from Rfam miRNA family FASTA (the paper's data)",
                       parser.formatter_class)
    source = rfam.add_mutually_exclusive_group(required=True)
    source.add_argument("--labelled-fasta", help="one FASTA with headers '>RFxxxxx|ID' (rfam_mirna_all_labeled.fa.gz)")
    source.add_argument("--fasta-dir", help="directory of per-family files named with the accession (clear_RF00027.fa)")
    _add_common(rfam)
    for sub in (mirbase, rfam):  # the shared flags also after the subcommand
        # SUPPRESS: when absent here they leave the value parsed before the subcommand alone
        sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        sub.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="no summary on stderr")
    return parser


def _quota(fraction: float | None, count: int | None, default: float, name: str) -> Quota:
    if fraction is not None and count is not None:
        raise DeepMirError(f"give --{name}-fraction or --{name}-per-family, not both")
    return Quota(count=count) if count is not None else Quota(fraction if fraction is not None else default)


def dataset_options(args: argparse.Namespace) -> DatasetOptions:
    """Options from the command line; --group fills in the Table 2 settings."""
    val = _quota(args.val_fraction, args.val_per_family, 0.0, "val")
    common = {"val": val, "mode": args.split, "identity": args.identity, "coverage": args.coverage,
              "check_relatives": args.check_relatives, "seed": args.seed, "max_len": args.max_len or None}
    if args.group:
        preset = {"--min-members": args.min_members, "--per-family": args.per_family,
                  "--test-fraction": args.test_fraction, "--test-per-family": args.test_per_family}
        given = [flag for flag, value in preset.items() if value is not None]
        if given:
            raise DeepMirError(f"--group {args.group} sets {', '.join(given)}; give either the group or the options")
        return group_options(args.group, **common)
    if args.min_members is None:
        raise DeepMirError("give --min-members N (or a --group preset)")
    test = _quota(args.test_fraction, args.test_per_family, 0.2, "test")
    return DatasetOptions(min_members=args.min_members, per_family=args.per_family, test=test, **common)


def _mature_file(args: argparse.Namespace) -> str | None:
    kind = args.kind or ("mature" if args.matures else "hairpin")
    if kind == "mature" and not args.matures:
        raise DeepMirError("--kind mature needs --matures mature.fa")
    if kind == "hairpin" and args.matures:
        raise DeepMirError("--matures is only used with --kind mature")
    return args.matures if kind == "mature" else None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    options = dataset_options(args)
    started = time.perf_counter()
    if args.source == "mirbase":
        matures = _mature_file(args)
        prepared, selection, split = mirbase_dataset(
            args.hairpins, args.families, options, matures, count_listed=args.count_members == "listed",
            threads=args.threads)
        sources = [args.hairpins, args.families] + ([matures] if matures else [])
        kind = "mature" if matures else "hairpin"
    else:
        prepared, selection, split = rfam_dataset(options, args.labelled_fasta, args.fasta_dir, args.threads)
        sources, kind = [args.labelled_fasta or args.fasta_dir], "hairpin"
    if not selection.chosen:
        raise DeepMirError(f"no family has at least {options.min_members} members; lower --min-members")
    described = {"database": args.source, "kind": kind, "group": args.group or "none", **options.summary()}
    info = DatasetInfo(describe_sources(sources), described)
    counts = write_dataset(args.outdir, selection, split, prepared, info)
    _report(args, counts, time.perf_counter() - started)
    return 0


def _report(args: argparse.Namespace, counts: dict[str, int], seconds: float) -> None:
    say(args, f"{PROG}: {counts['families']} families; train {counts['train']}, val {counts['val']}, "
              f"test {counts['test']} (in {counts['families_with_test']} families); ood {counts['ood_unseen_family']} "
              f"of {counts['ood_unseen_families']} unseen families + {counts['ood_no_family']} family-less")
    removed = f"removed {counts['duplicates_removed']} duplicate(s), {counts['too_long_removed']} too long"
    extra = f", {counts['remote_dropped']} with a training relative (remote)" if args.split == "remote" else ""
    say(args, f"{PROG}: {removed}{extra}; {counts['unsampled']} unsampled; {seconds:.1f} s -> {args.outdir}")
    if "test_with_train_relative" in counts:
        say(args, f"{PROG}: check: {counts['test_with_train_relative']} test and {counts['val_with_train_relative']} "
                  "validation sequence(s) with a training relative")


def entry() -> None:
    raise SystemExit(run(PROG, main))
