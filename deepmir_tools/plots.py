"""Pictures: encoding matrices (paper Fig. 2), learning curves, histograms and ROC curves.

matplotlib is imported lazily with the non-interactive Agg backend (no display needed).
"""

from __future__ import annotations

import io
import os

import numpy as np

from .atomic import atomic_output


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure, path: str) -> None:
    """Write a figure as PNG atomically and close it."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    _pyplot().close(figure)
    with atomic_output(path, "wb") as handle:
        handle.write(buffer.getvalue())


def figure_png_bytes(figure) -> bytes:
    """PNG bytes of a figure (for embedding in HTML), closing it."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    _pyplot().close(figure)
    return buffer.getvalue()


def render_structure(seq: str, probabilities: np.ndarray, pair_values: np.ndarray, title: str, path: str) -> None:
    """Probability, pair and mixed matrices of one sequence side by side (paper Fig. 2)."""
    plt = _pyplot()
    n = len(seq)
    figure, axes = plt.subplots(1, 3, figsize=(12, 4.2))
    mixed = np.zeros((n, n, 3))
    mixed[..., 1] = probabilities  # green: probability layer, as in the paper
    mixed[..., 2] = pair_values  # blue: pair layer
    panels = [(probabilities, "probability matrix", "Greys"), (pair_values, "pair matrix (ordered)", "viridis"), (mixed, "mixed matrix", None)]
    for axis, (image, label, cmap) in zip(axes, panels):
        axis.imshow(image, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
        axis.set_title(label)
        axis.set_xlabel("position j")
        axis.set_ylabel("position i")
    figure.suptitle(f"{title} ({n} nt)")
    save_figure(figure, path)


def safe_file_name(record_id: str) -> str:
    """A file name made from a record ID (path separators and odd characters replaced)."""
    cleaned = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in record_id)
    return cleaned.lstrip(".") or "record"


def render_records(seqs: list[tuple[str, str]], directory: str, threshold: float, ordered: bool) -> list[str]:
    """PNG of the structure matrices of each (id, seq); returns the written paths."""
    from .encodings import pair_codes, pair_probabilities, pair_values

    os.makedirs(directory, exist_ok=True)
    written = []
    for record_id, seq in seqs:
        probabilities = pair_probabilities(seq)
        kept = np.where(probabilities >= threshold, probabilities, 0.0)
        values = pair_values(pair_codes(seq, probabilities, threshold, ordered), ordered)
        path = os.path.join(directory, safe_file_name(record_id) + ".png")
        render_structure(seq, kept, values, record_id, path)
        written.append(path)
    return written


def learning_curve(history: list[dict[str, float]], path: str) -> None:
    """Loss and accuracy per epoch, training vs validation."""
    plt = _pyplot()
    epochs = [row["epoch"] for row in history]
    figure, (loss_axis, acc_axis) = plt.subplots(1, 2, figsize=(10, 4))
    for axis, key, label in ((loss_axis, "loss", "loss"), (acc_axis, "accuracy", "accuracy")):
        axis.plot(epochs, [row[key] for row in history], marker="o", label="training")
        axis.plot(epochs, [row["val_" + key] for row in history], marker="o", label="validation")
        axis.set_xlabel("epoch")
        axis.set_ylabel(label)
        axis.legend()
    figure.suptitle("learning curve")
    save_figure(figure, path)
