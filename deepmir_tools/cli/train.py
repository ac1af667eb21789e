"""deepmir-train: train a CNN on labelled sequences and save a model bundle.

The command only wires: its options become a :class:`~deepmir_tools.training.BundleOptions`,
:func:`~deepmir_tools.training.train_bundle` does the work, and the bundle, log and curve are written here.
"""

from __future__ import annotations

import argparse
import os
from typing import Sequence

from ..atomic import check_writable
from ..bundle import save_model
from ..errors import DeepMirError
from ..models import MatrixCNNParams, OneHotCNNParams
from ..training import BundleOptions, TrainOptions, train_bundle, write_training_log
from .common import add_threads, make_parser, positive_int, probability, run, say
from .encode import add_encoding_options, encode_options

# the one source of every default below: the library's dataclasses (the CLI repeats none of them)
_FIT = TrainOptions()
_ONEHOT = OneHotCNNParams()
_MATRIX = MatrixCNNParams()

PROG = "deepmir-train"
EXAMPLES = """\
  deepmir-dataset mirbase --hairpins hairpin.fa --families miFam.dat --min-members 10 -O split
  deepmir-train split/train.fa --validation split/val.fa --test split/test.fa -o hairpin-model.npz
  deepmir-train train.npz --val-fraction 0.1 --epochs 20 --seed 1 --log log.tsv --curve curve.png -o model.npz
  deepmir-train --encoding pair --epochs 10 train.fa -o pair-model.npz   # the paper's matrix CNN
  deepmir-train split/train.fa --validation split/val.fa --background rRNA_5S.fa --background riboswitch.fa -o model.npz
  deepmir-train --filters 8 --dense 16 --epochs 3 tiny.fa -o tiny-model.npz  # a tiny model for tests
  # remote homologs (families of species missing from miRBase): a homology-aware split for early stopping,
  # and augmentation (+0.5 points on miRBase 18's remote split, docs/benchmarks.md, "Remote homologs")
  deepmir-dataset mirbase --hairpins hairpin.fa --families miFam.dat --min-members 30 --split remote \\
      --test-fraction 0.2 --val-fraction 0.1 --threads 2 -O remote
  deepmir-train remote/train.fa --validation remote/val.fa --test remote/test.fa \\
      --augment-mutations 0.08 --augment-flanks 10 -o remote-model.npz
"""


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(PROG, "Train the paper's CNN on family-labelled sequences and write a model bundle (NPZ).", EXAMPLES)
    parser.add_argument("train", help="labelled FASTA/FASTQ (header 'family=ACC name=NAME') or encoded NPZ with labels")
    parser.add_argument("-o", "--output", required=True, help="model bundle to write (.npz)")
    data = parser.add_argument_group("data")
    data.add_argument("--validation", help="validation set (labelled FASTA or NPZ) for early stopping")
    data.add_argument("--val-fraction", type=probability, default=BundleOptions.val_fraction,
                      help="held out per family when no --validation")
    data.add_argument("--test", help="held-out test set: accuracy and macro F1 are written into the bundle")
    data.add_argument("--name", help="model name stored in the bundle (default: output file name)")
    data.add_argument("--description", default=BundleOptions.description,
                      help="free text stored in the bundle (data release, purpose)")
    fit = parser.add_argument_group("training")
    fit.add_argument("--epochs", type=positive_int, default=_FIT.epochs, help="most epochs (passes over the training set)")
    fit.add_argument("--patience", type=int, default=_FIT.patience, help="early-stopping patience in epochs (0 = off)")
    fit.add_argument("--min-delta", type=float, default=_FIT.min_delta,
                     help="smallest validation-loss improvement that counts for early stopping")
    fit.add_argument("--batch-size", type=positive_int, default=_FIT.batch_size, help="sequences a training step")
    fit.add_argument("--learning-rate", type=float, default=_FIT.learning_rate, help="Adam learning rate")
    fit.add_argument("--seed", type=int, default=_FIT.seed, help="random seed (same inputs + seed -> identical weights)")
    fit.add_argument("--class-weight", choices=("none", "balanced"), default=_FIT.class_weight,
                     help="balanced: weight families by 1/size (slowed learning to a standstill on 286 miRBase families)")
    fit.add_argument("--augment-mutations", type=probability, default=_FIT.augment_mutations,
                     help="train on copies with this per-base substitution rate (one-hot only; 0.08 with "
                          "--augment-flanks 10 is the recipe for remote homologs)")
    fit.add_argument("--augment-flanks", type=int, default=_FIT.augment_flanks,
                     help="train on copies with up to N random bases added at each end (one-hot only)")
    fit.add_argument("--background", action="append", default=[], metavar="FASTA",
                     help="sequences of none of the families, e.g. non-miRNA RNAs or family-less miRNA hairpins "
                          "(FASTA/FASTQ, labels ignored; repeatable), trained towards an even softmax over all "
                          "families (outlier exposure), so that max-softmax rejection separates them better")
    fit.add_argument("--background-weight", type=float, default=_FIT.background_weight,
                     help="weight of the background term in the loss (with --background)")
    fit.add_argument("--mixed-precision", choices=("float16", "bfloat16"), default=_FIT.mixed_precision,
                     help="compute in float16 (GPUs) or bfloat16 (CPUs with AVX512-BF16 or AMX: the matrix CNN "
                          "trained 2.2x faster on 2 such cores); weights stay float32")
    fit.add_argument("--float16-weights", action="store_true", help="store weights as float16 (half the file size)")
    arch = parser.add_argument_group("architecture (one-hot CNN)")
    arch.add_argument("--kernel-sizes", type=_int_list, default=_ONEHOT.kernel_sizes,
                      help="comma-separated widths of the parallel convolutions")
    arch.add_argument("--filters", type=positive_int, default=_ONEHOT.filters, help="filters per convolution width")
    arch.add_argument("--dense", type=positive_int, default=_ONEHOT.dense, help="units of the dense layer")
    arch.add_argument("--dropout", type=probability, default=None,
                      help=f"default {_ONEHOT.dropout:g} (one-hot) / {_MATRIX.dropout:g} (matrix)")
    matrix = parser.add_argument_group("architecture (matrix CNN, for prob/pair/mixed encodings)")
    matrix.add_argument("--conv-filters", type=_int_list, default=_MATRIX.conv_filters,
                        help="comma-separated filters per 2-D convolution layer")
    matrix.add_argument("--conv-kernel", type=positive_int, default=_MATRIX.kernel_size, help="2-D convolution kernel size")
    matrix.add_argument("--dense-units", type=_int_list, default=_MATRIX.dense_units,
                        help="comma-separated units per dense layer")
    outputs = parser.add_argument_group("outputs")
    outputs.add_argument("--log", help="training log TSV (epoch, loss, accuracy, val_loss, val_accuracy, seconds)")
    outputs.add_argument("--curve", help="learning-curve PNG")
    add_encoding_options(parser)
    add_threads(parser)
    return parser


def bundle_options(args: argparse.Namespace) -> BundleOptions:
    """The library's options from the command line; what it leaves unset keeps the dataclasses' default."""
    dropout = {} if args.dropout is None else {"dropout": args.dropout}  # each network has its own default
    return BundleOptions(
        train=args.train, name=args.name or os.path.splitext(os.path.basename(args.output))[0],
        description=args.description, validation=args.validation, val_fraction=args.val_fraction, test=args.test,
        background=list(args.background), encode=encode_options(args),
        onehot=OneHotCNNParams(kernel_sizes=args.kernel_sizes, filters=args.filters, dense=args.dense, **dropout),
        matrix=MatrixCNNParams(conv_filters=args.conv_filters, kernel_size=args.conv_kernel,
                               dense_units=args.dense_units, **dropout),
        fit=TrainOptions(
            epochs=args.epochs, patience=args.patience, batch_size=args.batch_size, learning_rate=args.learning_rate,
            seed=args.seed, threads=args.threads, class_weight=args.class_weight, mixed_precision=args.mixed_precision,
            progress=not args.quiet, augment_mutations=args.augment_mutations, augment_flanks=args.augment_flanks,
            min_delta=args.min_delta, background_weight=args.background_weight,
        ),
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for output in (args.output, args.log, args.curve):  # before training, not after it
        if output:
            check_writable(output)
    if args.background_weight <= 0:
        raise DeepMirError("--background-weight must be > 0")
    trained = train_bundle(bundle_options(args), lambda message: say(args, f"{PROG}: {message}"))
    save_model(args.output, trained.model, trained.meta, float16=args.float16_weights)
    if args.log:
        write_training_log(args.log, trained.result.history)
    if args.curve:
        from ..plots import learning_curve

        learning_curve(trained.result.history, args.curve)
    result = trained.result
    say(args, f"{PROG}: trained in {result.seconds:.0f} s (best epoch {result.best_epoch}) -> {args.output}")
    for split, values in trained.meta.metrics.items():
        say(args, f"{PROG}: {split}: accuracy {values['accuracy']:.4f}, macro F1 {values['macro_f1']:.4f} (n={values['n']})")
    return 0


def entry() -> None:
    raise SystemExit(run(PROG, main))
