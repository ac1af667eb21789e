"""The calibration report: an HTML page with two PNG plots (score histograms, ROC curve) and metric tables.

By default the plots are embedded as ``data:`` URLs, so that the page is one self-contained file. With a PNG folder
(``deepmir-calibrate --png-dir``) they are written as files of their own and the page refers to them by relative
path instead: HTML sanitizers such as Galaxy's drop ``data:`` URLs, and the PNGs are then usable on their own.
"""

from __future__ import annotations

import base64
import html
import os
import urllib.parse
from typing import Callable, Mapping

import numpy as np

from .atomic import atomic_output
from .calibration import Calibration, confused_pairs, metrics_rows
from .plots import _pyplot, figure_png_bytes

#: plot key -> (file name in the PNG folder, alt text of its <img>)
PLOT_FILES: dict[str, tuple[str, str]] = {
    "scores": ("score-histograms.png", "score histograms"),
    "roc": ("roc-curve.png", "ROC curve"),
}


def _img(source: str, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="{html.escape(source)}">'


def _data_url(png: bytes) -> str:
    return f"data:image/png;base64,{base64.b64encode(png).decode()}"


def score_histograms(result: Calibration) -> bytes:
    """Score distributions of in-distribution vs each OOD class (paper Fig. 7a/8), threshold marked."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(8, 4.5))
    groups = [result.in_dist] + result.ood
    values = [g.score(result.score, gated=False) for g in groups]
    low, high = (0.0, 1.0) if result.score == "softmax" else (min(v.min() for v in values), max(v.max() for v in values))
    bins = np.linspace(low, high, 101)  # bin width 0.01 for softmax, as the paper
    for group, scores in zip(groups, values):
        axis.hist(scores, bins=bins, histtype="step", density=True, linewidth=1.5, label=f"{group.label} (n={len(scores)})")
    axis.axvline(result.threshold, color="black", linestyle="--", label=f"threshold {result.threshold:.4g}")
    axis.set_xlabel(("max softmax" if result.temperature == 1 else f"max softmax (T={result.temperature:g})") if result.score == "softmax" else "energy score")
    axis.set_ylabel("density")
    axis.set_yscale("log")
    axis.legend(fontsize=8)
    return figure_png_bytes(figure)


def roc_plot(result: Calibration) -> bytes:
    """Pooled ROC curve with the chosen operating point."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(5, 5))
    axis.plot(result.curve.fpr, result.curve.tpr, label=f"AUROC {result.curve.auroc:.4f}")
    axis.plot([result.fpr], [result.tpr], "o", color="red", label=f"threshold {result.threshold:.4g}")
    axis.plot([0, 1], [0, 1], ":", color="grey")
    axis.set_xlabel("false positive rate (OOD accepted)")
    axis.set_ylabel("true positive rate (miRNA accepted)")
    axis.legend(loc="lower right")
    return figure_png_bytes(figure)


def _table(header: list[str], rows: list[tuple]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def plot_pngs(result: Calibration) -> dict[str, bytes]:
    """The PNG bytes of every plot of the report, by :data:`PLOT_FILES` key."""
    makers: dict[str, Callable[[Calibration], bytes]] = {"scores": score_histograms, "roc": roc_plot}
    return {key: makers[key](result) for key in PLOT_FILES}


def render_html(result: Calibration, classes: list[tuple[str, str]], model_name: str, version: str,
                images: Mapping[str, str] | None = None) -> str:
    """The whole report page.

    ``images`` maps each :data:`PLOT_FILES` key to the ``src`` of its ``<img>`` (a path relative to the page);
    without it the plots are drawn here and embedded as ``data:`` URLs.
    """
    if images is None:
        images = {key: _data_url(png) for key, png in plot_pngs(result).items()}
    rows = metrics_rows(result, classes)
    overall = [r[1:] for r in rows if r[0] == "overall"]
    ood = [r[1:] for r in rows if r[0] == "ood"]
    confused = confused_pairs(result.in_dist, classes)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>deepmir-calibrate: {html.escape(model_name)}</title>
<style>body{{font-family:sans-serif;max-width:980px;margin:2em auto}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #bbb;padding:2px 8px;text-align:left}}img{{max-width:100%}}</style></head><body>
<h1>Calibration of model {html.escape(model_name)}</h1>
<p>Threshold <b>{result.threshold:.6g}</b> on the <b>{result.score}</b> score ({html.escape(result.method)}):
TPR {result.tpr:.4f} (in-distribution accepted), FPR {result.fpr:.4f} (out-of-distribution accepted),
pooled AUROC {result.curve.auroc:.4f}. deepmir-tools {html.escape(version)}.</p>
<h2>Score distributions</h2>{_img(images["scores"], PLOT_FILES["scores"][1])}
<h2>ROC curve</h2>{_img(images["roc"], PLOT_FILES["roc"][1])}
<h2>Summary</h2>{_table(["set", "metric", "value"], overall)}
<h2>Out-of-distribution classes</h2>{_table(["class", "metric", "value"], ood)}
<h2>Most confused family pairs</h2>{_table(["true family", "predicted family", "sequences"], confused)}
</body></html>
"""


def plot_paths(png_dir: str) -> dict[str, str]:
    """Where :func:`write_report` puts each plot in ``png_dir``, by :data:`PLOT_FILES` key."""
    return {key: os.path.join(png_dir, name) for key, (name, _) in PLOT_FILES.items()}


def write_report(path: str | None, result: Calibration, classes: list[tuple[str, str]], model_name: str,
                 version: str, png_dir: str | None = None) -> list[str]:
    """Write the report page at ``path`` (``-``: standard output; None: no page) and/or its plots in ``png_dir``.

    Without ``png_dir`` the page embeds the plots. With it, the PNGs are written first (created if missing), each
    atomically, and the page links them by their path relative to the page's folder, so that a page never refers
    to a plot that is not there yet. Returns the PNG paths written.
    """
    written: list[str] = []
    images: dict[str, str] | None = None
    if png_dir is not None:
        os.makedirs(png_dir, exist_ok=True)
        # links resolve from the page's folder (a page on standard output, or none: the current folder)
        page_dir = os.path.dirname(os.path.abspath(path)) if path and path != "-" else os.getcwd()
        images = {}
        for key, png in plot_pngs(result).items():
            target = plot_paths(png_dir)[key]
            with atomic_output(target, "wb") as handle:
                handle.write(png)
            written.append(target)
            relative = os.path.relpath(os.path.abspath(target), page_dir).replace(os.sep, "/")
            images[key] = urllib.parse.quote(relative)  # a folder name with spaces or '#' stays one URL path
    if path is not None:
        with atomic_output(path) as handle:
            handle.write(render_html(result, classes, model_name, version, images))
    return written
