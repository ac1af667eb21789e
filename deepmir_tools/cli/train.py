"""deepmir-train: train a CNN on labelled sequences and save a model bundle."""

from __future__ import annotations

import argparse
import os
from typing import Any, Sequence

import numpy as np

from ..encoded_input import encode_records
from ..errors import DeepMirError
from ..models import MatrixCNNParams, OneHotCNNParams
from ..npzformat import EncodedSet, read_encoded, sha256_of_file
from ..seqio import read_records
from ..training import TrainOptions
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
    data.add_argument("--val-fraction", type=probability, default=0.1, help="held out per family when no --validation")
    data.add_argument("--test", help="held-out test set: accuracy and macro F1 are written into the bundle")
    data.add_argument("--name", help="model name stored in the bundle (default: output file name)")
    data.add_argument("--description", default="", help="free text stored in the bundle (data release, purpose)")
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
                     help="train on copies with this per-base substitution rate (one-hot only)")
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


def hyperparameters(args: argparse.Namespace) -> dict[str, Any]:
    if args.encoding == "onehot":
        dropout = _ONEHOT.dropout if args.dropout is None else args.dropout
        return {"kernel_sizes": args.kernel_sizes, "filters": args.filters, "dense": args.dense, "dropout": dropout}
    dropout = _MATRIX.dropout if args.dropout is None else args.dropout
    return {"conv_filters": args.conv_filters, "kernel_size": args.conv_kernel, "pool_size": _MATRIX.pool_size,
            "dense_units": args.dense_units, "dropout": dropout}


def load_labelled(path: str, args: argparse.Namespace, expected_encoding: str | None = None) -> EncodedSet:
    """A labelled training/validation/test set from NPZ or labelled FASTA (encoded on the fly)."""
    if path.endswith(".npz"):
        data = read_encoded(path)
        if expected_encoding and data.encoding != expected_encoding:
            raise DeepMirError(f"{path}: encoded as {data.encoding}, but the training set is {expected_encoding}")
    else:
        options = encode_options(args)
        options.labels = "require"
        data, skipped = encode_records(read_records(path), path, options)
        if skipped:
            say(args, f"{PROG}: {path}: skipped {skipped} sequence(s) longer than {args.max_len} nt")
    if data.labels is None:
        raise DeepMirError(f"{path}: sequences carry no family labels (need 'family=ACC name=NAME' headers)")
    return data


def load_background(paths: Sequence[str], args: argparse.Namespace) -> EncodedSet | None:
    """Background (non-miRNA) sequences, encoded like the training set; family labels are ignored."""
    if not paths:
        return None
    options = encode_options(args)
    options.labels = "ignore"
    parts = []
    for path in paths:
        data, skipped = encode_records(read_records(path), path, options)
        if skipped:
            say(args, f"{PROG}: {path}: skipped {skipped} background sequence(s) longer than {args.max_len} nt")
        if not len(data.ids):
            raise DeepMirError(f"{path}: no background sequences left to train on")
        parts.append(data)
    first = parts[0]
    return EncodedSet(np.concatenate([p.x for p in parts]), np.concatenate([p.ids for p in parts]),
                      np.concatenate([p.lengths for p in parts]), first.meta)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ..atomic import check_writable
    from ..training import align_classes, stratified_holdout, subset, train_model

    for output in (args.output, args.log, args.curve):  # before training, not after it
        if output:
            check_writable(output)
    if args.background_weight <= 0:
        raise DeepMirError("--background-weight must be > 0")
    train = load_labelled(args.train, args)
    adopt_encoding(args, train)
    if args.validation:
        validation = align_classes(load_labelled(args.validation, args, train.encoding), train.classes, args.validation)
    elif args.val_fraction > 0:
        keep, held = stratified_holdout(train.labels, args.val_fraction, args.seed)
        train, validation = subset(train, keep), subset(train, held)
    else:
        validation = None
    background = load_background(args.background, args)
    say(args, f"{PROG}: {len(train.ids)} training sequences, {len(train.classes)} families, "
              f"{0 if validation is None else len(validation.ids)} validation"
              + (f", {len(background.ids)} background" if background is not None else ""))
    options = TrainOptions(
        epochs=args.epochs, patience=args.patience, batch_size=args.batch_size, learning_rate=args.learning_rate,
        seed=args.seed, threads=args.threads, class_weight=args.class_weight, mixed_precision=args.mixed_precision,
        hyperparameters=hyperparameters(args), progress=not args.quiet,
        augment_mutations=args.augment_mutations, augment_flanks=args.augment_flanks, min_delta=args.min_delta,
        background_weight=args.background_weight,
    )
    result = train_model(train, validation, options, background)
    meta = bundle_meta(args, train, validation, result, background)
    from ..bundle import save_model

    save_model(args.output, result.model, meta, float16=args.float16_weights)
    write_side_outputs(args, result)
    say(args, f"{PROG}: trained in {result.seconds:.0f} s (best epoch {result.best_epoch}) -> {args.output}")
    for split, values in meta["metrics"].items():
        say(args, f"{PROG}: {split}: accuracy {values['accuracy']:.4f}, macro F1 {values['macro_f1']:.4f} (n={values['n']})")
    return 0


def adopt_encoding(args: argparse.Namespace, train: EncodedSet) -> None:
    """A training NPZ's own encoding settings apply to validation/test FASTA and to the architecture."""
    meta = train.meta
    args.encoding, args.max_len = meta["encoding"], int(meta["max_len"])
    args.pair_threshold, args.unordered = float(meta["threshold_T"]), not meta["ordered_pairs"]


def evaluate(model_meta: dict[str, Any], model, data: EncodedSet) -> dict[str, float]:
    """Accuracy and macro F1 of a trained model on a labelled set (closed set, no rejection)."""
    from ..metrics import accuracy, macro_f1
    from ..training import _batch_inputs
    from ..models import largest_kernel

    kernel = largest_kernel(model_meta["architecture"], model_meta["hyperparameters"])
    predictions = []
    for start in range(0, len(data.ids), 256):
        rows = np.arange(start, min(start + 256, len(data.ids)))
        predictions.append(np.argmax(model(_batch_inputs(data, rows, kernel), training=False), axis=1))
    predicted = np.concatenate(predictions) if predictions else np.zeros(0, dtype=int)
    return {"accuracy": accuracy(data.labels, predicted), "macro_f1": macro_f1(data.labels, predicted, len(data.classes)),
            "n": int(len(data.ids))}


def _provenance(path: str | None, data: EncodedSet | None) -> dict[str, Any] | None:
    if not path or data is None:
        return None
    return {"file": os.path.basename(path), "sha256": sha256_of_file(path), "sequences": int(len(data.ids)),
            "families": int(len(np.unique(data.labels)))}


def bundle_meta(args: argparse.Namespace, train: EncodedSet, validation: EncodedSet | None, result,
                background: EncodedSet | None = None) -> dict[str, Any]:
    """Everything a bundle records about the model and how it was made."""
    from ..bundle import paper_threshold
    from ..labels import split_class_entry
    from ..models import architecture_for

    architecture = architecture_for(train.encoding)
    meta: dict[str, Any] = {
        "name": args.name or os.path.splitext(os.path.basename(args.output))[0],
        "description": args.description,
        "architecture": architecture,
        "hyperparameters": hyperparameters(args),
        "encoding": {"encoding": train.encoding, "max_len": int(train.meta["max_len"]),
                     "threshold_T": float(train.meta["threshold_T"]), "ordered": bool(train.meta["ordered_pairs"])},
        "classes": [list(split_class_entry(entry)) for entry in train.classes],
        "threshold": paper_threshold(),
        "training": {
            "train": _provenance(args.train, train), "validation": _provenance(args.validation, validation),
            "val_fraction": None if args.validation else args.val_fraction, "seed": args.seed, "epochs": args.epochs,
            "epochs_run": len(result.history), "best_epoch": result.best_epoch, "batch_size": args.batch_size,
            "learning_rate": args.learning_rate, "class_weight": args.class_weight,
            "long_policy": args.long, "augment_mutations": args.augment_mutations,
            "augment_flanks": args.augment_flanks,
        },
        "metrics": {},
    }
    if background is not None:
        meta["training"]["background"] = [
            {"file": os.path.basename(path), "sha256": sha256_of_file(path)} for path in args.background]
        meta["training"]["background_sequences"] = int(len(background.ids))
        meta["training"]["background_weight"] = args.background_weight
    if validation is not None and len(validation.ids):
        meta["metrics"]["validation"] = evaluate(meta, result.model, validation)
    if args.test:
        test = align_classes_or_drop(load_labelled(args.test, args, train.encoding), train.classes)
        meta["metrics"]["test"] = evaluate(meta, result.model, test)
        meta["training"]["test"] = _provenance(args.test, test)
    return meta


def align_classes_or_drop(data: EncodedSet, classes: np.ndarray) -> EncodedSet:
    """Keep the test sequences whose family the model knows; re-index their labels."""
    from ..labels import split_class_entry
    from ..training import align_classes, subset

    known = {split_class_entry(entry)[0] for entry in classes}
    rows = np.array([i for i, label in enumerate(data.labels) if split_class_entry(data.classes[label])[0] in known], dtype=np.int64)
    return align_classes(subset(data, rows), classes, "test")


def write_side_outputs(args: argparse.Namespace, result) -> None:
    """Training log TSV and learning-curve PNG, if asked for."""
    columns = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds")
    if args.log:
        from ..atomic import atomic_output

        with atomic_output(args.log) as handle:
            handle.write("\t".join(columns) + "\n")
            for row in result.history:
                handle.write("\t".join(_fmt(row[c]) for c in columns) + "\n")
    if args.curve:
        from ..plots import learning_curve

        learning_curve(result.history, args.curve)


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e9 else f"{value:.6g}"


def entry() -> None:
    raise SystemExit(run(PROG, main))
