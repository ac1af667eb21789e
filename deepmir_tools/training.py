"""Training the CNNs: batching, class weights, early stopping, logs, determinism, and the bundle they make.

:func:`train_bundle` is what deepmir-train runs: labelled files in, a trained model and its
:class:`~deepmir_tools.bundle.BundleMeta` out (the CLI only parses options and writes files).
:func:`train_model` trains on encoded sets already in memory.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable, Sequence

import numpy as np

from .atomic import atomic_output
from .bundle import BundleMeta, DataRecord, SplitMetrics, TrainingRecord, paper_threshold
from .encoded_input import EncodeOptions, encode_records
from .errors import DeepMirError
from .labels import split_class_entry
from .metrics import accuracy, macro_f1
from .models import (ONEHOT_CNN, MatrixCNNParams, OneHotCNNParams, architecture_for, build_model,
                     configure_tensorflow, largest_kernel)
from .npzformat import EncodedSet, read_encoded, sha256_of_file
from .encodings import model_input
from .scoring import padded_length
from .seqio import read_records


@dataclass
class TrainOptions:
    """Training settings (paper defaults: Adam, lr 1e-3, batch 64)."""

    epochs: int = 30
    patience: int = 5
    batch_size: int = 64
    learning_rate: float = 1e-3
    seed: int = 7
    threads: int = 0
    class_weight: str = "none"  # none | balanced
    mixed_precision: str = ""  # "" (float32), "float16" (GPUs) or "bfloat16" (CPUs with AVX512-BF16/AMX)
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    progress: bool = True
    min_delta: float = 0.0  # smallest val_loss improvement that resets the early-stopping patience
    augment_mutations: float = 0.0  # per-base substitution rate applied to training batches
    augment_flanks: int = 0  # up to this many random bases added at each end of training sequences
    background_weight: float = 0.5  # weight of the outlier-exposure term (background rows), when there are any


@dataclass
class TrainResult:
    """A trained model and what happened while training it."""

    model: Any
    history: list[dict[str, float]]
    best_epoch: int
    seconds: float


@dataclass
class BundleOptions:
    """What :func:`train_bundle` makes a model of: the data files, how FASTA/FASTQ input is encoded, the two
    networks' hyperparameters (the training data's encoding picks one) and the fit (defaults: the paper's)."""

    train: str  # labelled FASTA/FASTQ ('family=ACC name=NAME' headers) or an encoded NPZ with labels
    name: str  # model name stored in the bundle
    description: str = ""
    validation: str | None = None  # validation file for early stopping (labelled FASTA/FASTQ or NPZ)
    val_fraction: float = 0.1  # held out of each family for validation when there is no validation file
    test: str | None = None  # held-out test file: its accuracy and macro F1 go into the bundle
    background: list[str] = field(default_factory=list)  # outlier-exposure files (FASTA/FASTQ, labels ignored)
    encode: EncodeOptions = field(default_factory=EncodeOptions)  # for FASTA/FASTQ; a training NPZ brings its own
    onehot: OneHotCNNParams = field(default_factory=OneHotCNNParams)
    matrix: MatrixCNNParams = field(default_factory=MatrixCNNParams)
    fit: TrainOptions = field(default_factory=TrainOptions)  # its hyperparameters are set from onehot/matrix


@dataclass
class TrainedBundle:
    """A trained Keras model with its bundle metadata (write both with :func:`deepmir_tools.bundle.save_model`)."""

    model: Any
    meta: BundleMeta
    result: TrainResult


def _silent(message: str) -> None:
    """The default ``notify`` of :func:`train_bundle`: say nothing."""


def train_bundle(options: BundleOptions, notify: Callable[[str], None] = _silent) -> TrainedBundle:
    """Load and encode the data files, train, and evaluate on the validation and test sets.

    ``notify`` gets one line per event worth telling a user (sequences skipped as too long, the set sizes).
    """
    train = load_labelled(options.train, options.encode, notify)
    encode = encoding_of(train, options.encode)  # a training NPZ's own settings apply to the other files
    if options.validation:
        validation = align_classes(load_labelled(options.validation, encode, notify, train.encoding), train.classes,
                                   options.validation)
    elif options.val_fraction > 0:
        keep, held = stratified_holdout(train.labels, options.val_fraction, options.fit.seed)
        train, validation = subset(train, keep), subset(train, held)
    else:
        validation = None
    background = load_background(options.background, encode, notify)
    notify(f"{len(train.ids)} training sequences, {len(train.classes)} families, "
           f"{0 if validation is None else len(validation.ids)} validation"
           + (f", {len(background.ids)} background" if background is not None else ""))
    architecture = architecture_for(train.encoding)
    fit = replace(options.fit, hyperparameters=asdict(options.onehot if architecture == ONEHOT_CNN else options.matrix))
    result = train_model(train, validation, fit, background)
    meta = BundleMeta(
        name=options.name, description=options.description, architecture=architecture,
        hyperparameters=fit.hyperparameters,
        encoding={"encoding": train.encoding, "max_len": int(train.meta["max_len"]),
                  "threshold_T": float(train.meta["threshold_T"]), "ordered": bool(train.meta["ordered_pairs"])},
        classes=[split_class_entry(entry) for entry in train.classes], threshold=paper_threshold(),
        training=training_record(options, fit, result, train, validation, background), metrics={},
    )
    kernel = largest_kernel(architecture, fit.hyperparameters)
    if validation is not None and len(validation.ids):
        meta.metrics["validation"] = evaluate(result.model, validation, kernel)
    if options.test:
        test = align_known_classes(load_labelled(options.test, encode, notify, train.encoding), train.classes)
        meta.metrics["test"] = evaluate(result.model, test, kernel)
        meta.training["test"] = data_record(options.test, test)
    return TrainedBundle(result.model, meta, result)


def load_labelled(path: str, encode: EncodeOptions, notify: Callable[[str], None] = _silent,
                  expected_encoding: str | None = None) -> EncodedSet:
    """A labelled training/validation/test set from NPZ or labelled FASTA/FASTQ (encoded on the fly)."""
    if path.endswith(".npz"):
        data = read_encoded(path)
        if expected_encoding and data.encoding != expected_encoding:
            raise DeepMirError(f"{path}: encoded as {data.encoding}, but the training set is {expected_encoding}")
    else:
        data, skipped = encode_records(read_records(path), path, replace(encode, labels="require"))
        if skipped:
            notify(f"{path}: skipped {skipped} sequence(s) longer than {encode.max_len} nt")
    if data.labels is None:
        raise DeepMirError(f"{path}: sequences carry no family labels (need 'family=ACC name=NAME' headers)")
    return data


def load_background(paths: Sequence[str], encode: EncodeOptions,
                    notify: Callable[[str], None] = _silent) -> EncodedSet | None:
    """Background (non-miRNA) sequences, encoded like the training set; family labels are ignored."""
    if not paths:
        return None
    parts = []
    for path in paths:
        data, skipped = encode_records(read_records(path), path, replace(encode, labels="ignore"))
        if skipped:
            notify(f"{path}: skipped {skipped} background sequence(s) longer than {encode.max_len} nt")
        if not len(data.ids):
            raise DeepMirError(f"{path}: no background sequences left to train on")
        parts.append(data)
    first = parts[0]
    return EncodedSet(np.concatenate([p.x for p in parts]), np.concatenate([p.ids for p in parts]),
                      np.concatenate([p.lengths for p in parts]), first.meta)


def encoding_of(data: EncodedSet, encode: EncodeOptions) -> EncodeOptions:
    """``encode`` with the encoding settings ``data`` was encoded with (validation, test and background files
    must be encoded like the training set, which may be an NPZ made with other settings)."""
    meta = data.meta
    return replace(encode, encoding=meta["encoding"], max_len=int(meta["max_len"]),
                   threshold=float(meta["threshold_T"]), ordered=bool(meta["ordered_pairs"]))


def align_known_classes(data: EncodedSet, classes: np.ndarray) -> EncodedSet:
    """Keep the sequences whose family the model knows (a test set may hold others); re-index their labels."""
    known = {split_class_entry(entry)[0] for entry in classes}
    rows = np.array([i for i, label in enumerate(data.labels) if split_class_entry(data.classes[label])[0] in known],
                    dtype=np.int64)
    return align_classes(subset(data, rows), classes, "test")


def evaluate(model, data: EncodedSet, kernel: int, batch_size: int = 256) -> SplitMetrics:
    """Accuracy and macro F1 of a trained model on a labelled set (closed set: the top family, no rejection);
    ``kernel``: the widest convolution (one-hot input is padded at least that much)."""
    predictions = []
    for start in range(0, len(data.ids), batch_size):
        rows = np.arange(start, min(start + batch_size, len(data.ids)))
        predictions.append(np.argmax(model(_batch_inputs(data, rows, kernel), training=False), axis=1))
    predicted = np.concatenate(predictions) if predictions else np.zeros(0, dtype=int)
    return {"accuracy": accuracy(data.labels, predicted),
            "macro_f1": macro_f1(data.labels, predicted, len(data.classes)), "n": int(len(data.ids))}


def data_record(path: str | None, data: EncodedSet | None) -> DataRecord | None:
    """Provenance of a labelled set (None without a file: no set, or one held out of the training file)."""
    if not path or data is None:
        return None
    return {"file": os.path.basename(path), "sha256": sha256_of_file(path), "sequences": int(len(data.ids)),
            "families": int(len(np.unique(data.labels)))}


def training_record(options: BundleOptions, fit: TrainOptions, result: TrainResult, train: EncodedSet,
                    validation: EncodedSet | None, background: EncodedSet | None) -> TrainingRecord:
    """How the model was trained (``meta["training"]``); ``train``: the set trained on, after any hold-out."""
    record: TrainingRecord = {
        "train": data_record(options.train, train), "validation": data_record(options.validation, validation),
        "val_fraction": None if options.validation else options.val_fraction, "seed": fit.seed, "epochs": fit.epochs,
        "epochs_run": len(result.history), "best_epoch": result.best_epoch, "batch_size": fit.batch_size,
        "learning_rate": fit.learning_rate, "class_weight": fit.class_weight,
        "long_policy": options.encode.long_policy, "augment_mutations": fit.augment_mutations,
        "augment_flanks": fit.augment_flanks,
    }
    if background is not None:
        record["background"] = [{"file": os.path.basename(path), "sha256": sha256_of_file(path)}
                                for path in options.background]
        record["background_sequences"] = int(len(background.ids))
        record["background_weight"] = fit.background_weight
    return record


LOG_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds")


def write_training_log(path: str, history: list[dict[str, float]]) -> None:
    """The training log TSV: one row per epoch (:data:`LOG_COLUMNS`), written atomically."""
    with atomic_output(path) as handle:
        handle.write("\t".join(LOG_COLUMNS) + "\n")
        for row in history:
            handle.write("\t".join(_log_value(row[c]) for c in LOG_COLUMNS) + "\n")


def _log_value(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e9 else f"{value:.6g}"


def stratified_holdout(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, held-out): ``fraction`` of each class held out, at least 1 if a class has >= 2."""
    rng = np.random.default_rng(seed)
    held: list[np.ndarray] = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        rng.shuffle(members)
        count = int(round(fraction * len(members)))
        if len(members) >= 2:
            count = min(max(count, 1), len(members) - 1)
        held.append(members[:count])
    held_out = np.sort(np.concatenate(held)) if held else np.array([], dtype=np.int64)
    keep = np.setdiff1d(np.arange(len(labels)), held_out)
    return keep, held_out


def subset(data: EncodedSet, rows: np.ndarray) -> EncodedSet:
    """Rows of an encoded set (same meta and classes)."""
    return EncodedSet(
        x=data.x[rows], ids=data.ids[rows], lengths=data.lengths[rows], meta=data.meta,
        labels=data.labels[rows] if data.labels is not None else None, classes=data.classes,
        offsets=data.offsets[rows] if data.offsets is not None else None,
    )


def align_classes(validation: EncodedSet, classes: np.ndarray, source: str) -> EncodedSet:
    """Re-index a validation set's labels onto the training classes."""
    index = {split_class_entry(entry)[0]: i for i, entry in enumerate(classes)}
    mapped = []
    for label in validation.labels:
        accession = split_class_entry(validation.classes[label])[0]
        if accession not in index:
            raise DeepMirError(f"{source}: family {accession} does not occur in the training data")
        mapped.append(index[accession])
    result = subset(validation, np.arange(len(validation.ids)))
    result.labels, result.classes = np.array(mapped, dtype=np.int32), classes
    return result


def class_weights(labels: np.ndarray, n_classes: int, mode: str) -> dict[int, float] | None:
    """Balanced weights n / (k * count_c), so small families count as much as large ones."""
    if mode == "none":
        return None
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    present = counts > 0
    weights = np.ones(n_classes)
    weights[present] = len(labels) / (present.sum() * counts[present])
    return {i: float(w) for i, w in enumerate(weights)}


def _batch_inputs(data: EncodedSet, rows: np.ndarray, kernel: int) -> np.ndarray:
    """Network input for ``rows``; one-hot batches are trimmed to their longest sequence + kernel."""
    x = data.x[rows]
    encoding = data.meta["encoding"]
    if encoding == "onehot":
        width = padded_length(int(data.lengths[rows].max()), kernel, x.shape[1])
        return x[:, :width].astype(np.float32)
    return model_input(x, encoding, data.meta.get("ordered_pairs", True))


def augment_onehot(x: np.ndarray, lengths: np.ndarray, rng: np.random.Generator, mutation_rate: float,
                   max_flank: int) -> tuple[np.ndarray, np.ndarray]:
    """Randomly mutated and flanked copies of one-hot sequences (for training only).

    Point substitutions at ``mutation_rate`` per base mimic sequence divergence between
    homologs; up to ``max_flank`` random bases on each side mimic imprecise hairpin
    boundaries (the paper's Table 4). Sequences stay within the input length.
    """
    n, width, _ = x.shape
    codes = np.where(x.any(axis=2), x.argmax(axis=2), 4).astype(np.int64)  # 4 = no base
    if mutation_rate > 0:
        hits = (rng.random(codes.shape) < mutation_rate) & (codes < 4)
        codes[hits] = (codes[hits] + rng.integers(1, 4, hits.sum())) % 4
    new_lengths = lengths.astype(np.int64).copy()
    if max_flank > 0:
        shifted = np.full_like(codes, 4)
        for row in range(n):
            length = int(lengths[row])
            room = max(0, width - length)
            left = int(rng.integers(0, min(max_flank, room // 2) + 1))
            right = int(rng.integers(0, min(max_flank, room - left) + 1))
            shifted[row, :left] = rng.integers(0, 4, left)
            shifted[row, left : left + length] = codes[row, :length]
            shifted[row, left + length : left + length + right] = rng.integers(0, 4, right)
            new_lengths[row] = left + length + right
        codes = shifted
    table = np.vstack([np.eye(4, dtype=x.dtype), np.zeros((1, 4), dtype=x.dtype)])
    return table[codes], new_lengths


BACKGROUND = -1  # label of a background (non-miRNA) row in a training batch


def _background_rows(background: EncodedSet | None, n_train: int, batch_size: int, seed: int, epoch: int):
    """Per batch, the background rows to add: a fresh seeded permutation of the background each epoch,
    ``batch_size * n_background / n_train`` rows a batch (at most ``batch_size``), so one epoch sees
    about the whole background once."""
    if background is None or not len(background.ids):
        return None
    n_bg = len(background.ids)
    per_batch = min(batch_size, max(1, math.ceil(batch_size * n_bg / max(n_train, 1))))
    order = np.random.default_rng([seed, epoch, 1]).permutation(n_bg)
    cursor = [0]

    def take() -> np.ndarray:
        rows = order[np.arange(cursor[0], cursor[0] + per_batch) % n_bg]
        cursor[0] += per_batch
        return np.sort(rows)

    return take


def _training_batch(data: EncodedSet, rows: np.ndarray, background: EncodedSet | None,
                    background_rows: np.ndarray | None) -> EncodedSet:
    """Rows of ``data``, followed by background rows labelled ``BACKGROUND`` when given."""
    batch = subset(data, rows)
    if background_rows is None:
        return batch
    extra = subset(background, background_rows)
    labels = np.concatenate([batch.labels, np.full(len(background_rows), BACKGROUND, dtype=batch.labels.dtype)])
    return EncodedSet(np.concatenate([batch.x, extra.x]), np.concatenate([batch.ids, extra.ids]),
                      np.concatenate([batch.lengths, extra.lengths]), data.meta, labels, data.classes)


def _make_dataset(data: EncodedSet, batch_size: int, seed: int, kernel: int, weights: dict[int, float] | None,
                  shuffle: bool, mutations: float = 0.0, flanks: int = 0, background: EncodedSet | None = None):
    """A tf.data pipeline of (x, y[, sample weight]) batches.

    Reshuffled every epoch with a seed derived from ``seed`` and the epoch number, so that
    training is reproducible; one-hot batches are padded only as far as needed. The
    signature leaves the length open (``None``), since batches differ in length. With a
    ``background`` set, every batch also holds background rows, labelled ``BACKGROUND``.
    """
    import tensorflow as tf

    epoch = [0]
    n = len(data.ids)

    def batches():
        order = np.random.default_rng(seed + epoch[0]).permutation(n) if shuffle else np.arange(n)
        take_background = _background_rows(background, n, batch_size, seed, epoch[0])
        epoch[0] += 1
        for start in range(0, n, batch_size):
            batch = _training_batch(data, np.sort(order[start : start + batch_size]), background,
                                    take_background() if take_background else None)
            if mutations or flanks:  # fresh random variants every epoch, reproducible from the seed
                rng = np.random.default_rng([seed, epoch[0], start])
                x_aug, lengths = augment_onehot(batch.x, batch.lengths, rng, mutations, flanks)
                batch = EncodedSet(x_aug, batch.ids, lengths, data.meta, batch.labels)
            rows = np.arange(len(batch.ids))
            x, y = _batch_inputs(batch, rows, kernel), batch.labels.astype(np.int32)
            if weights is None:
                yield x, y
            else:
                yield x, y, np.array([weights.get(int(label), 1.0) for label in y], dtype=np.float32)

    sample = _batch_inputs(data, np.arange(min(n, 1)), kernel)
    x_spec = tf.TensorSpec((None, None, 4) if data.meta["encoding"] == "onehot" else (None,) + sample.shape[1:], tf.float32)
    signature = (x_spec, tf.TensorSpec((None,), tf.int32))
    if weights is not None:
        signature += (tf.TensorSpec((None,), tf.float32),)
    dataset = tf.data.Dataset.from_generator(batches, output_signature=signature)
    return dataset.apply(tf.data.experimental.assert_cardinality(math.ceil(n / batch_size)))


def outlier_exposure_loss(background_weight: float):
    """Cross-entropy on family rows; on ``BACKGROUND`` rows, ``background_weight`` times the
    cross-entropy to the uniform distribution (outlier exposure, Hendrycks et al., ICLR 2019):
    the network learns to spread its softmax over all families for non-miRNA input, which is
    what the max-softmax rejection threshold looks for."""
    from keras import ops

    def loss(y_true, y_pred):
        labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        log_p = ops.log(ops.clip(ops.cast(y_pred, "float32"), 1e-7, 1.0))
        is_background = labels == BACKGROUND
        picked = ops.take_along_axis(log_p, ops.expand_dims(ops.maximum(labels, 0), 1), axis=1)[:, 0]
        return ops.where(is_background, -background_weight * ops.mean(log_p, axis=1), -picked)

    return loss


def family_accuracy_metric():
    """Accuracy over the family rows of a batch (background rows have no right answer)."""
    import keras
    from keras import ops

    class FamilyAccuracy(keras.metrics.Metric):
        def __init__(self, name: str = "accuracy", **kwargs):
            super().__init__(name=name, **kwargs)
            self.correct = self.add_variable(shape=(), initializer="zeros", name="correct")
            self.total = self.add_variable(shape=(), initializer="zeros", name="total")

        def update_state(self, y_true, y_pred, sample_weight=None):
            labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
            family = ops.cast(labels != BACKGROUND, "float32")
            hits = ops.cast(ops.argmax(y_pred, axis=1) == labels, "float32") * family
            self.correct.assign_add(ops.sum(hits))
            self.total.assign_add(ops.sum(family))

        def result(self):
            return ops.divide_no_nan(self.correct, self.total)

        def reset_state(self):
            self.correct.assign(0.0)
            self.total.assign(0.0)

    return FamilyAccuracy()


def _progress_callback(total_epochs: int, enabled: bool):
    import keras

    class EpochLog(keras.callbacks.Callback):
        """Per-epoch line on stderr and the rows of the training log (with seconds)."""

        def __init__(self):
            super().__init__()
            self.rows: list[dict[str, float]] = []
            self.started = 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            logs = dict(logs or {})
            row = {"epoch": epoch + 1, "seconds": round(time.perf_counter() - self.started, 3)}
            for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
                row[key] = float(logs.get(key, float("nan")))
            self.rows.append(row)
            if enabled:
                print(
                    f"epoch {epoch + 1}/{total_epochs}: loss {row['loss']:.4f} acc {row['accuracy']:.4f} "
                    f"val_loss {row['val_loss']:.4f} val_acc {row['val_accuracy']:.4f} ({row['seconds']:.1f} s)",
                    file=sys.stderr, flush=True,
                )

    return EpochLog()


def _build_with_precision(architecture: str, train: EncodedSet, options: TrainOptions):
    """The model, its layers computing in ``options.mixed_precision`` (variables stay float32).

    Layers take the global dtype policy when they are built, so the policy is restored right
    after: a later model in the same process (and the bundle's float32 inference model) is
    not affected.
    """
    import keras

    encoding = train.meta["encoding"]
    previous = keras.mixed_precision.global_policy()
    if options.mixed_precision:
        keras.mixed_precision.set_global_policy(f"mixed_{options.mixed_precision}")
    try:
        return build_model(architecture, len(train.classes), options.hyperparameters, encoding, train.meta["max_len"])
    finally:
        keras.mixed_precision.set_global_policy(previous)


def train_model(train: EncodedSet, validation: EncodedSet | None, options: TrainOptions,
                background: EncodedSet | None = None) -> TrainResult:
    """Train the architecture that fits ``train``'s encoding; early stopping on validation loss.

    ``background``: non-miRNA sequences (same encoding) trained towards a uniform softmax
    (:func:`outlier_exposure_loss`); without it the loss is the paper's plain cross-entropy.
    """
    configure_tensorflow(options.threads, deterministic=True)
    import keras

    keras.utils.set_random_seed(options.seed)
    encoding = train.meta["encoding"]
    architecture = architecture_for(encoding)
    model = _build_with_precision(architecture, train, options)
    exposed = background is not None and len(background.ids) > 0
    model.compile(
        optimizer=keras.optimizers.Adam(options.learning_rate),
        loss=outlier_exposure_loss(options.background_weight) if exposed else "sparse_categorical_crossentropy",
        # unweighted even when class weights are given as sample weights
        metrics=[family_accuracy_metric()] if exposed else ["accuracy"],
        jit_compile=False,  # input lengths vary per batch; XLA would recompile for each
    )
    kernel = largest_kernel(architecture, options.hyperparameters)
    weights = class_weights(train.labels, len(train.classes), options.class_weight)
    if (options.augment_mutations or options.augment_flanks) and encoding != "onehot":
        raise DeepMirError("--augment-mutations/--augment-flanks work on one-hot input only")
    batches = _make_dataset(train, options.batch_size, options.seed, kernel, weights, shuffle=True,
                            mutations=options.augment_mutations, flanks=options.augment_flanks,
                            background=background if exposed else None)
    val_batches = _make_dataset(validation, 256, options.seed, kernel, None, shuffle=False) if validation is not None and len(validation.ids) else None
    log = _progress_callback(options.epochs, options.progress)
    callbacks = [log]
    if val_batches is not None and options.patience:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=options.patience, min_delta=options.min_delta, restore_best_weights=True))
    started = time.perf_counter()
    model.fit(batches, validation_data=val_batches, epochs=options.epochs, callbacks=callbacks, verbose=0, shuffle=False)
    best = _best_epoch(log.rows, val_batches is not None)
    return TrainResult(model=model, history=log.rows, best_epoch=best, seconds=time.perf_counter() - started)


def _best_epoch(rows: list[dict[str, float]], has_validation: bool) -> int:
    if not rows:
        return 0
    if not has_validation:
        return int(rows[-1]["epoch"])
    return int(min(rows, key=lambda row: row["val_loss"])["epoch"])
