"""The calibration report: one self-contained HTML page with embedded PNG plots."""

from __future__ import annotations

import base64
import html

import numpy as np

from .calibration import Calibration, confused_pairs, metrics_rows
from .plots import _pyplot, figure_png_bytes


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


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


def render_html(result: Calibration, classes: list[tuple[str, str]], model_name: str, version: str) -> str:
    """The whole report page."""
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
<h2>Score distributions</h2>{_img(score_histograms(result), "score histograms")}
<h2>ROC curve</h2>{_img(roc_plot(result), "ROC curve")}
<h2>Summary</h2>{_table(["set", "metric", "value"], overall)}
<h2>Out-of-distribution classes</h2>{_table(["class", "metric", "value"], ood)}
<h2>Most confused family pairs</h2>{_table(["true family", "predicted family", "sequences"], confused)}
</body></html>
"""
