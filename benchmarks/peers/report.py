"""Rows -> printed table, TSV files and the markdown RESULTS.md."""

from __future__ import annotations

import glob
import math
import os
import platform
import time

MAIN_COLUMNS = ["dataset", "tool", "version", "families", "n_test", "n_neg", "accuracy", "macro_f1", "no_answer",
                "cpu_s", "wall_s", "ms_per_query", "startup_cpu_s", "ms_net", "n_large", "ms_large", "ms_large_net",
                "auroc", "fpr_at_95tpr", "build_cpu_s", "build_wall_s"]
SCALING_COLUMNS = ["dataset", "tool", "families", "n_queries", "accuracy", "cpu_s", "ms_per_query", "ms_net",
                   "measured"]


def machine_info() -> dict:
    """nproc, CPU model, load average and Python version, for the record."""
    model = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "nproc": str(os.cpu_count()), "cpu": model,
            "load_at_start": f"{load[0]:.2f}", "python": platform.python_version(), "host": platform.node()}


def _fmt(value, column: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if column in ("accuracy", "macro_f1", "no_answer", "auroc", "fpr_at_95tpr", "acc_infernal_fams") or column.startswith(("auroc_", "fpr95_")):
            return f"{value:.4f}"
        if column in ("ms_per_query", "ms_net", "ms_large", "ms_large_net") or column.startswith("ms@"):
            return f"{value:.3g}" if value < 100 else f"{value:.0f}"
        return f"{value:.1f}"
    return str(value)


def text_table(rows: list[dict], columns: list[str]) -> str:
    cells = [[_fmt(row.get(c), c) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) if cells else len(c) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in cells]
    return "\n".join(lines)


def markdown_table(rows: list[dict], columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(_fmt(row.get(c), c) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def write_tsv(path: str, rows: list[dict], columns: list[str], meta: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as out:
        for key, value in meta.items():
            out.write(f"# {key}: {value}\n")
        out.write("\t".join(columns) + "\n")
        for row in rows:
            out.write("\t".join(_fmt(row.get(c), c) if not isinstance(row.get(c), str) else row[c]
                                for c in columns) + "\n")
    os.replace(tmp, path)


def read_tsv(path: str) -> tuple[dict, list[str], list[dict]]:
    meta, columns, rows = {}, [], []
    with open(path) as handle:
        for line in handle:
            line = line.rstrip("\n")
            if line.startswith("# "):
                key, _, value = line[2:].partition(": ")
                meta[key] = value
            elif not columns:
                columns = line.split("\t")
            elif line:
                rows.append(dict(zip(columns, line.split("\t"))))
    return meta, columns, rows


def scaling_markdown(rows: list[dict]) -> list[str]:
    """Pivot of the scaling rows: one line per tool, one column per K: 'ms/query (accuracy)'."""
    ks = sorted({int(r["families"]) for r in rows})
    tools = list(dict.fromkeys(r["tool"] for r in rows))
    cell = {(r["tool"], int(r["families"])): r for r in rows}
    lines = ["CPU ms per query net of start-up (whole command; accuracy) with a database/model of K families; the"
             " same queries for every K (`*`: extrapolated by a linear fit of the measured K; start-up: the"
             " one-query run with all families; deepmir: its model of all families, timed on the large input,"
             " since it scores repeated queries once):", "",
             "| tool | " + " | ".join(f"K={k}" for k in ks) + " |", "|---|" + "|".join("---" for _ in ks) + "|"]
    for tool in tools:
        cells = []
        for k in ks:
            r = cell.get((tool, k))
            if r is None:
                cells.append("-")
            elif r["measured"].startswith("no"):
                cells.append(f"{_net(r)}* ({r['ms_per_query']}*)")
            else:
                cells.append(f"{_net(r)} ({r['ms_per_query']}; {r['accuracy']})")
        lines.append(f"| {tool} | " + " | ".join(cells) + " |")
    return lines


def _net(row: dict) -> str:
    """The scaling row's ms_net (TSVs written before it existed have none: '-')."""
    return row.get("ms_net") or "-"


def write_results_md(results_dir: str, path: str) -> None:
    """RESULTS.md from every peers-<dataset>.tsv (and -scaling.tsv) in ``results_dir``.

    Sections of the existing RESULTS.md whose data set has no TSV in ``results_dir`` are kept as
    they are: results/ is not in git, so a run on a fresh clone must not drop the other data sets.
    """
    parts = ["# Peer benchmark results", "",
             "Generated by `benchmarks/peers/run_peers.py` (see README.md there for the command and the methods).",
             "Accuracy and macro F1: held-out test queries of the training families (no answer = wrong). AUROC and",
             "FPR at 95% TPR: the tool's score for test queries (positives) against the negatives (negatives: the",
             "classes listed per data set). CPU seconds: user + system of the whole command, start-up included;",
             "ms/query = CPU ms per query over all queries (test + negatives); `startup_cpu_s`: the same command",
             "on one query (program start, model/database loading); `ms_net` = (cpu_s - startup_cpu_s) per query;",
             "`n_large`, `ms_large`, `ms_large_net`: the same command on a large input of distinct sequences",
             "(the queries, then the split's ood.fa), whole and net of start-up: the per-query cost where",
             "start-up no longer weighs.",
             "`ms@K`: CPU ms per query net of start-up (as `ms_net`) with a database/model of K families",
             "(the same queries for every K: half test queries of the smallest K's families, cycled, half",
             "negatives; deepmir, whose one model covers all families: its `ms_large_net`; `*` = extrapolated",
             "by a linear fit of the measured K).",
             "`acc_infernal_fams`: accuracy on the test queries of the families Infernal was given (when it had",
             "a subset), each tool still choosing among all its families. Build: database/model construction",
             "(Infernal: mafft + alifold + cmbuild + cmcalibrate for each family; deepmir: deepmir-train), as",
             "recorded when built (cached builds are reused).", ""]
    sections = _existing_sections(path)
    for tsv in sorted(glob.glob(os.path.join(results_dir, "peers-*.tsv"))):
        if tsv.endswith("-scaling.tsv"):
            continue
        meta = read_tsv(tsv)[0]
        dataset = meta.get("dataset", os.path.basename(tsv)[6:-4])
        sections[dataset] = _section(tsv, dataset)
    for dataset in sorted(sections):
        parts += sections[dataset]
    tmp = path + ".tmp"
    with open(tmp, "w") as out:
        out.write("\n".join(parts))
    os.replace(tmp, path)


def _existing_sections(path: str) -> dict[str, list[str]]:
    """The ``## dataset`` sections of an existing RESULTS.md, as lines (ending with a blank line)."""
    if not os.path.exists(path):
        return {}
    sections: dict[str, list[str]] = {}
    current = None
    with open(path) as lines:
        for line in lines.read().split("\n"):
            if line.startswith("## "):
                current = line[3:].strip()
                sections[current] = []
            if current is not None:
                sections[current].append(line)
    for lines_ in sections.values():
        while lines_ and not lines_[-1]:
            lines_.pop()
        lines_.append("")
    return sections


def _section(tsv: str, dataset: str) -> list[str]:
    """The RESULTS.md section of one peers-<dataset>.tsv."""
    meta, columns, rows = read_tsv(tsv)
    parts = [f"## {dataset}", ""]
    for key in ("date", "machine", "split", "queries", "negatives", "versions", "notes", "elapsed"):
        if key in meta:
            parts.append(f"- {key}: {meta[key]}")
    parts.append("")
    per_class = [c for c in columns if c.startswith(("auroc_", "fpr95_"))]
    shown = [c for c in columns if c not in ("dataset", "note", "build_wall_s", *per_class)]
    parts += ["| " + " | ".join(shown) + " |", "|" + "|".join("---" for _ in shown) + "|"]
    parts += ["| " + " | ".join(row.get(c, "") for c in shown) + " |" for row in rows]
    if per_class:
        parts += ["", "Open-set AUROC and FPR at 95% TPR per negative class:", "",
                  "| tool | " + " | ".join(per_class) + " |", "|---|" + "|".join("---" for _ in per_class) + "|"]
        parts += ["| " + " | ".join(row.get(c, "") for c in ["tool"] + per_class) + " |" for row in rows]
    notes = [f"- {row['tool']}: {row['note']}" for row in rows if row.get("note")]
    if notes:
        parts += ["", *notes]
    scaling = tsv[:-4] + "-scaling.tsv"
    if os.path.exists(scaling):
        parts += ["", *scaling_markdown(read_tsv(scaling)[2])]
    parts.append("")
    return parts
