#!/usr/bin/env python3
"""Benchmark deepmir against its peers (BLASTN, Infernal, a 6-mer centroid classifier) on the same
training split, the same test queries and the same negatives. See README.md beside this file.

    python benchmarks/peers/run_peers.py --dataset mirbase18-min30-remote
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import shlex
import sys
import time
from typing import Sequence

import numpy as np

import metrics
import report
from datasets import PRESETS, Query, ensure_split, family_order, load_queries
from infernal_peer import InfernalPeer
from peers import BlastPeer, DeepmirPeer, KmerPeer, Peer, PeerResult
from proc import PeerError
from seqs import Record, read_fasta, write_fasta

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
TOOLS = ("blastn", "kmer", "infernal", "deepmir")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    data_default = os.environ.get("DEEPMIR_DATA") or os.path.join(os.path.dirname(REPO), "shared", "data")
    cache_default = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "deepmir-peers")
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", action="append", default=[],
                   help=f"preset split name (repeatable): {', '.join(PRESETS)}; or a name under --splits-root")
    p.add_argument("--split-dir", action="append", default=[],
                   help="an existing split directory (train.fa, test.fa, [val.fa], [ood.fa]); repeatable")
    p.add_argument("--splits-root", default=os.environ.get("DEEPMIR_SPLITS") or os.path.join(REPO, "benchmarks",
                   "results", "splits"), help="where splits are reused from or built into (default: %(default)s)")
    p.add_argument("--data-root", default=data_default, help="the shared data folder (default: %(default)s)")
    p.add_argument("--negatives", default=None,
                   help="non-miRNA FASTA with '>{class}|source|id' headers (default: DATA/ncrna-negatives/rfam-ncrna.fa)")
    p.add_argument("--neg-classes", default="tRNA,snoRNA_CD,unseen_family",
                   help="negative classes (unseen_family comes from the split's ood.fa; others: tRNA, snoRNA_CD, "
                        "rRNA_5S, riboswitch, intron_gpII) (default: %(default)s)")
    p.add_argument("--neg-per-class", type=int, default=500, help="seeded sample per class (default: %(default)s)")
    p.add_argument("--max-test", type=int, default=None,
                   help="seeded sample of test queries (0 = all; default: the preset's, 1000 for rfam-60)")
    p.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset of %(default)s")
    p.add_argument("--infernal-families", type=int, default=50,
                   help="build CMs for this many families (seeded), 0 = all; ms/query is extrapolated to all "
                        "families (default: %(default)s)")
    p.add_argument("--calibration", choices=("fast", "full"), default="fast",
                   help="cmcalibrate -L 0.01 (fast, ~10 s/model) or full (~30 min/model) (default: %(default)s)")
    p.add_argument("--cm-max-seqs", type=int, default=200, help="training sequences aligned per CM (default: %(default)s)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                   help="parallel CM builds (query timings always use one core) (default: %(default)s)")
    p.add_argument("--scaling", default="10,25,50,all",
                   help="family counts for the time-vs-families columns; '' to skip (default: %(default)s)")
    p.add_argument("--scaling-queries", type=int, default=300,
                   help="queries per scaling run (test queries of the K families, cycled) (default: %(default)s)")
    p.add_argument("--deepmir-threads", default="1,all",
                   help="deepmir-classify thread counts, one row each ('all' = nproc) (default: %(default)s)")
    p.add_argument("--deepmir-train-args", default="", help="extra deepmir-train arguments (one string)")
    p.add_argument("--deepmir-model", default=None,
                   help="use this model bundle instead of running deepmir-train (it must have been trained on "
                        "the same train.fa; one data set per run)")
    p.add_argument("--deepmir-background", default="rRNA_5S,riboswitch,intron_gpII",
                   help="classes of --negatives that deepmir trains on as background (outlier exposure); must not "
                        "overlap --neg-classes; '' = none (default: %(default)s)")
    p.add_argument("--deepmir-classify-args", default="--long truncate",
                   help="extra deepmir-classify arguments (default: %(default)s)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--cache-dir", default=cache_default, help="built CMs and models (default: %(default)s)")
    p.add_argument("--results-dir", default=os.path.join(REPO, "benchmarks", "results"))
    p.add_argument("--results-md", default=os.path.join(HERE, "RESULTS.md"), help="'' to not write it")
    args = p.parse_args(argv)
    if not args.dataset and not args.split_dir:
        p.error("give --dataset NAME or --split-dir DIR")
    unknown = set(args.tools.split(",")) - set(TOOLS)
    if unknown:
        p.error(f"unknown tools: {', '.join(sorted(unknown))} (choose from {', '.join(TOOLS)})")
    if args.negatives is None:
        args.negatives = os.path.join(args.data_root, "ncrna-negatives", "rfam-ncrna.fa")
    shared = set(_classes(args.deepmir_background)) & set(_classes(args.neg_classes))
    if shared:
        p.error(f"--deepmir-background and --neg-classes share {', '.join(sorted(shared))}: a class the model "
                "trained on would be scored as unseen")
    return args


def _classes(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


def write_background(negatives: str, classes: Sequence[str], path: str) -> int:
    """Every record of ``classes`` in the negatives file, for ``deepmir-train --background``."""
    records = [r for r in read_fasta(negatives) if r.id.split("|", 1)[0] in classes]
    if not records:
        raise PeerError(f"{negatives}: no records of the background classes {', '.join(classes)}")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return write_fasta(path, ((r.id, r.seq) for r in records))


# ------------------------------------------------------------------------------------------ evaluation

def evaluate(result: PeerResult, queries: Sequence[Query], dataset: str, subset: set | None = None) -> dict:
    """One main-table row: accuracy/F1 on the test queries, AUROC/FPR95 against the negatives, timings.

    ``subset``: Infernal's families; ``acc_infernal_fams`` is the accuracy on their test queries only
    (the other tools still choose among all families), for a like-for-like look at Infernal's rows.
    """
    test = [q for q in queries if q.family is not None]
    neg = [q for q in queries if q.family is None]
    predicted = [result.predictions.get(q.qid, (None, 0.0)) for q in test]
    truth = [q.family for q in test]
    labels = [p[0] for p in predicted]
    pos_scores = [p[1] for p in predicted]
    row = {"dataset": dataset, "tool": result.tool, "version": result.version, "families": result.families,
           "n_test": len(test), "n_neg": len(neg),
           "accuracy": metrics.accuracy(truth, labels), "macro_f1": metrics.macro_f1(truth, labels),
           "no_answer": float(np.mean([label is None for label in labels])) if labels else float("nan"),
           "cpu_s": result.query.cpu_s, "wall_s": result.query.wall_s,
           "ms_per_query": 1000.0 * result.query.cpu_s / max(1, len(queries)) * result.time_scale,
           "build_cpu_s": result.build.cpu_s, "build_wall_s": result.build.wall_s,
           "note": result.note + ("; build from cache (time as recorded)" if result.cached_build else "")}
    if subset:
        inside = [(t, p) for t, p in zip(truth, labels) if t in subset]
        row["acc_infernal_fams"] = metrics.accuracy([t for t, _ in inside], [p for _, p in inside])
    neg_scores = {q.qid: result.predictions.get(q.qid, (None, 0.0))[1] for q in neg}
    row["auroc"] = metrics.auroc(pos_scores, list(neg_scores.values()))
    row["fpr_at_95tpr"] = metrics.fpr_at_tpr(pos_scores, list(neg_scores.values()))
    for klass in sorted({q.ood_class for q in neg}):
        scores = [neg_scores[q.qid] for q in neg if q.ood_class == klass]
        row[f"auroc_{klass}"] = metrics.auroc(pos_scores, scores)
        row[f"fpr95_{klass}"] = metrics.fpr_at_tpr(pos_scores, scores)
    return row


def write_queries(path: str, queries: Sequence[Query]) -> str:
    write_fasta(path, ((q.qid, q.seq) for q in queries))
    return path


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name).strip("-")


# -------------------------------------------------------------------------------------------- peers

def make_peers(args: argparse.Namespace, n_families: int, validation: str | None,
               background: Sequence[str] = ()) -> list[Peer]:
    tools = args.tools.split(",")
    peers: list[Peer] = []
    if "blastn" in tools:
        peers.append(BlastPeer(threads=1))
    if "kmer" in tools:
        peers.append(KmerPeer(6))
    if "infernal" in tools:
        peers.append(InfernalPeer(args.cache_dir, jobs=args.jobs, calibration=args.calibration,
                                  max_seqs=args.cm_max_seqs, seed=args.seed, total_families=n_families, log=log))
    if "deepmir" in tools:
        for text in args.deepmir_threads.split(","):
            threads = os.cpu_count() or 1 if text.strip() == "all" else int(text)
            peers.append(DeepmirPeer(threads, args.cache_dir, train_args=shlex.split(args.deepmir_train_args) + list(background),
                                     classify_args=shlex.split(args.deepmir_classify_args), validation=validation,
                                     reuse_model=args.deepmir_model))
    return peers


def infernal_subset(args: argparse.Namespace, order: list[str]) -> list[str]:
    k = args.infernal_families
    return order if k <= 0 or k >= len(order) else order[:k]


def run_main(args, dataset, peers, train, queries, order, workdir) -> tuple[list[dict], dict]:
    rows, deepmir_model = [], {}
    all_queries = write_queries(os.path.join(workdir, "queries.fa"), queries)
    infernal_fams = set(infernal_subset(args, order)) if "infernal" in args.tools.split(",") else None
    if infernal_fams is not None and len(infernal_fams) == len(order):
        infernal_fams = None  # Infernal has every family: nothing to restrict
    for peer in peers:
        why = peer.check()
        if why:
            log(f"  {peer.name}: skipped ({why})")
            rows.append({"dataset": dataset, "tool": peer.name, "note": f"not run: {why}"})
            continue
        peer_train, peer_queries, query_file = train, queries, all_queries
        if isinstance(peer, InfernalPeer):
            subset = set(infernal_subset(args, order))
            if len(subset) < len(order):
                peer_train = [r for r in train if r.family in subset]
                peer_queries = [q for q in queries if q.family is None or q.family in subset]
                query_file = write_queries(os.path.join(workdir, "queries-infernal.fa"), peer_queries)
        log(f"  {peer.name}: {len(peer_queries)} queries, {len({r.family for r in peer_train})} families")
        started = time.time()
        try:
            results = peer.run(peer_train, query_file, os.path.join(workdir, _slug(peer.name)))
        except PeerError as err:
            log(f"  {peer.name}: FAILED: {err}")
            rows.append({"dataset": dataset, "tool": peer.name, "note": f"failed: {err}"})
            continue
        if isinstance(peer, DeepmirPeer):
            deepmir_model["path"] = peer.model_path
        startup = measure_startup(peer, peer_train, peer_queries, workdir)
        for result in results:
            rows.append(evaluate(result, peer_queries, dataset, infernal_fams))
            if startup is not None:
                rows[-1]["startup_cpu_s"] = startup
                rows[-1]["ms_net"] = (1000.0 * max(0.0, result.query.cpu_s - startup) / max(1, len(peer_queries))
                                      * result.time_scale)
            log(f"    {result.tool}: accuracy {rows[-1]['accuracy']:.4f}, AUROC {rows[-1]['auroc']:.4f}, "
                f"{rows[-1]['cpu_s']:.1f} CPU s ({time.time() - started:.0f} s incl. build)")
    return rows, deepmir_model


def measure_startup(peer: Peer, train: Sequence[Record], queries: Sequence[Query], workdir: str) -> float | None:
    """CPU seconds of the query command on a single query: start-up (program and model/database loading)."""
    one = [q for q in queries if q.family is not None][:1]
    if not one:
        return None
    path = write_queries(os.path.join(workdir, "startup-query.fa"), one)
    try:
        results = peer.run(train, path, os.path.join(workdir, "startup", _slug(peer.name)))
    except PeerError as err:
        log(f"    {peer.name}: start-up run failed: {err}")
        return None
    return results[0].query.cpu_s


def _scaling_ks(text: str, n: int) -> list[int]:
    ks = []
    for part in filter(None, (t.strip() for t in text.split(","))):
        k = n if part == "all" else min(int(part), n)
        if k not in ks:
            ks.append(k)
    return sorted(ks)


def run_scaling(args, dataset, peers, train, queries, order, workdir, deepmir_model) -> list[dict]:
    """ms/query (and accuracy) with databases/models of the first K families (nested subsets).

    Every K gets the same queries: the test queries of the smallest K's families (members of every
    subset), cycled to ``--scaling-queries`` so that start-up costs weigh the same, so the only thing
    that changes is the size of the database.
    """
    rows: list[dict] = []
    infernal_max = len(infernal_subset(args, order))
    measured_infernal: dict[str, dict] = {}
    pending_infernal: list[tuple[int, int]] = []
    ks = _scaling_ks(args.scaling, len(order))
    if not ks:
        return rows
    smallest = set(order[:ks[0]])
    positives = [q for q in queries if q.family in smallest]
    if not positives:
        return rows
    count = args.scaling_queries if args.scaling_queries > 0 else len(positives)
    cycled = list(itertools.islice(itertools.cycle(positives), max(count, 1)))
    for k in ks:
        families = set(order[:k])
        sub_train = [r for r in train if r.family in families]
        padded = [Query(f"k{k}_{i:05d}", q.seq, q.family, None, q.qid) for i, q in enumerate(cycled)]
        first = {q.source_id: q for q in reversed(padded)}  # one copy of each query for accuracy
        kdir = os.path.join(workdir, "scaling", f"k{k}")
        os.makedirs(kdir, exist_ok=True)
        query_file = write_queries(os.path.join(kdir, "queries.fa"), padded)
        log(f"  scaling K={k}: {len(first)} test queries (of {ks[0]} families) cycled to {len(padded)}")
        seen_deepmir = False
        for peer in peers:
            if peer.check():
                continue
            if isinstance(peer, DeepmirPeer):
                if seen_deepmir or not deepmir_model.get("path"):
                    continue  # one deepmir row (the first thread setting) with the all-family model
                seen_deepmir = True
                reuse = DeepmirPeer(peer.threads, args.cache_dir, classify_args=peer.classify_args,
                                    reuse_model=deepmir_model["path"])
                reuse._why_not, reuse._version = "", peer.version()
                peer = reuse
            if isinstance(peer, InfernalPeer) and k > infernal_max:
                pending_infernal.append((k, len(first)))
                continue
            try:
                results = peer.run(sub_train, query_file, os.path.join(kdir, _slug(peer.name)))
            except PeerError as err:
                log(f"    {peer.name}: FAILED: {err}")
                continue
            for result in results:
                truth = [q.family for q in first.values()]
                labels = [result.predictions.get(q.qid, (None, 0.0))[0] for q in first.values()]
                ms = 1000.0 * result.query.cpu_s / len(padded)
                rows.append({"dataset": dataset, "tool": result.tool, "families": k, "n_queries": len(first),
                             "accuracy": metrics.accuracy(truth, labels), "cpu_s": result.query.cpu_s,
                             "ms_per_query": ms,
                             "measured": "yes" + (" (all-family model)" if isinstance(peer, DeepmirPeer) else "")})
                if isinstance(peer, InfernalPeer):
                    measured_infernal.setdefault(result.tool, {})[k] = ms
    for tool, measured in measured_infernal.items():
        a, b = linear_fit(measured)
        for k, n_queries in pending_infernal:
            rows.append({"dataset": dataset, "tool": tool, "families": k, "n_queries": n_queries, "accuracy": None,
                         "cpu_s": None, "ms_per_query": a + b * k,
                         "measured": f"no (linear fit of K={','.join(map(str, sorted(measured)))})"})
    return rows


def linear_fit(ms_by_k: dict) -> tuple[float, float]:
    """(intercept, slope >= 0) of ms/query against K; proportional (0, ms/K) from a single point.

    cmscan's cost per query is roughly the full CM pipeline for the matching family plus a filter
    pass for every other model, so ms/query = a + b*K fits much better than proportional scaling
    (the paper's Table 5 times: ~212 ms + ~1.1 ms per family per query).
    """
    ks = np.array(sorted(ms_by_k), dtype=float)
    ms = np.array([ms_by_k[k] for k in sorted(ms_by_k)], dtype=float)
    if ks.size < 2:
        return 0.0, float(ms[0] / ks[0])
    slope, intercept = np.polyfit(ks, ms, 1)
    if slope < 0:  # noise: no measurable growth
        return float(ms.mean()), 0.0
    return float(intercept), float(slope)


def rescale_infernal(rows: list[dict], scaling: list[dict], n_families: int) -> None:
    """Main-table Infernal ms/query: measured with K models, scaled to all families by the scaling fit."""
    measured = {s["families"]: s["ms_per_query"] for s in scaling
                if s["tool"] == "infernal (lowest E)" and s["measured"] == "yes"}
    if not measured:
        return
    a, b = linear_fit(measured)
    for row in rows:
        if row.get("tool", "").startswith("infernal") and row.get("families", n_families) < n_families:
            scale = (a + b * n_families) / (a + b * row["families"])
            row["ms_per_query"] = 1000.0 * row["cpu_s"] / (row["n_test"] + row["n_neg"]) * scale
            if row.get("startup_cpu_s") is not None:
                row["ms_net"] = (1000.0 * max(0.0, row["cpu_s"] - row["startup_cpu_s"])
                                 / (row["n_test"] + row["n_neg"]) * scale)
            row["note"] = re.sub(r"ms/query extrapolated x[0-9.]+ \(proportional\); ",
                                 f"ms/query extrapolated x{scale:.2f} (linear fit of the scaling runs: "
                                 f"{a:.1f} + {b:.2f}*K ms); ", row["note"])


# ---------------------------------------------------------------------------------------------- main

def cache_state(rows: list[dict]) -> str:
    """Whether this run built the Infernal models / trained deepmir itself or took them from the cache."""
    built = [r for r in rows if r.get("tool") in ("infernal (lowest E)", "deepmir (1 thread)") and "cpu_s" in r
             and "given (not trained by this run)" not in r.get("note", "")]
    if not built:
        return "no cached builds involved"
    cached = [r["tool"].split(" (")[0] for r in built if "build from cache" in r.get("note", "")]
    fresh = [r["tool"].split(" (")[0] for r in built if "build from cache" not in r.get("note", "")]
    return "; ".join(filter(None, [f"built: {', '.join(fresh)}" if fresh else "",
                                   f"from cache: {', '.join(cached)}" if cached else ""]))


def run_dataset(args: argparse.Namespace, name: str, split_dir: str) -> None:
    started = time.time()
    machine = report.machine_info()
    log(f"== {name}: {split_dir}")
    train = [r for r in read_fasta(os.path.join(split_dir, "train.fa")) if r.family]
    families = sorted({r.family for r in train})
    order = family_order(families, args.seed)
    max_test = args.max_test if args.max_test is not None else PRESETS.get(name, ([], 0))[1]
    neg_classes = _classes(args.neg_classes)
    queries = load_queries(split_dir, set(families), args.negatives, neg_classes, args.neg_per_class, max_test,
                           args.seed, log=log)
    n_test = sum(q.family is not None for q in queries)
    log(f"  {len(train)} training sequences, {len(families)} families; {n_test} test queries, "
        f"{len(queries) - n_test} negatives")
    workdir = os.path.join(args.results_dir, "work", name)
    os.makedirs(workdir, exist_ok=True)
    val = os.path.join(split_dir, "val.fa")
    background = []
    if "deepmir" in args.tools and _classes(args.deepmir_background) and not args.deepmir_model:
        path = os.path.join(args.results_dir, "work", "background.fa")
        count = write_background(args.negatives, _classes(args.deepmir_background), path)
        log(f"  deepmir background: {count} records ({args.deepmir_background})")
        background = ["--background", path]
    peers = make_peers(args, len(families), val if os.path.exists(val) else None, background)

    rows, deepmir_model = run_main(args, name, peers, train, queries, order, workdir)
    scaling = run_scaling(args, name, peers, train, queries, order, workdir, deepmir_model) if args.scaling else []
    rescale_infernal(rows, scaling, len(families))
    ks = _scaling_ks(args.scaling, len(families)) if args.scaling else []
    for row in rows:
        for k in ks:
            match = [s for s in scaling if s["tool"] == row["tool"] and s["families"] == k]
            label = f"ms@{'all' if k == len(families) else k}"
            row[label] = match[0]["ms_per_query"] if match else None
            if match and not match[0]["measured"].startswith("yes"):
                row[label] = report._fmt(row[label], "ms_per_query") + "*"  # extrapolated
    k_columns = [f"ms@{'all' if k == len(families) else k}" for k in ks]
    class_columns = sorted({c for row in rows for c in row if c.startswith(("auroc_", "fpr95_"))})
    extra = ["acc_infernal_fams"] if any("acc_infernal_fams" in row for row in rows) else []
    columns = report.MAIN_COLUMNS + extra + k_columns + class_columns + ["note"]

    shown = ["tool", "version", "families", "accuracy", "macro_f1"] + extra + [
        "cpu_s", "wall_s", "ms_per_query", "startup_cpu_s", "ms_net", "auroc", "fpr_at_95tpr"] + k_columns
    print(f"\n{name}: {len(families)} families, {n_test} test queries, {len(queries) - n_test} negatives "
          f"({', '.join(neg_classes)}); {machine['nproc']} x {machine['cpu']}")
    print(report.text_table(rows, shown))
    if class_columns:
        print("\nopen-set AUROC / FPR at 95% TPR per negative class:")
        print(report.text_table(rows, ["tool"] + class_columns))
    if scaling:
        print("\ntime as the number of families grows:")
        print(report.text_table(scaling, report.SCALING_COLUMNS[1:]))

    versions = "; ".join(sorted({f"{r['tool'].split(' (')[0]} {r['version']}" for r in rows if r.get("version")}))
    infernal_note = f"Infernal not run (--tools {args.tools})"
    if "infernal" in args.tools:
        infernal_note = (f"Infernal: CMs for {len(infernal_subset(args, order))} of {len(families)} families "
                         f"(seeded), accuracy/AUROC on those families' test queries + all negatives, ms/query "
                         f"scaled to all families; calibration {args.calibration}")
    meta = {"dataset": name, "date": machine["date"],
            "machine": f"nproc={machine['nproc']}, CPU {machine['cpu']}, load average at start "
                       f"{machine['load_at_start']} (shared machine), Python {machine['python']}",
            "split": f"{split_dir}: {len(train)} training sequences, {len(families)} families",
            "queries": f"{n_test} test queries" + (f" (seeded sample of the test split)" if max_test else ""),
            "negatives": f"{len(queries) - n_test} ({', '.join(neg_classes)}; up to {args.neg_per_class} "
                         f"per class, seeded)",
            "versions": versions, "notes": infernal_note, "elapsed": f"{time.time() - started:.0f} s ({cache_state(rows)})"}
    os.makedirs(args.results_dir, exist_ok=True)
    tsv = os.path.join(args.results_dir, f"peers-{name}.tsv")
    report.write_tsv(tsv, rows, columns, meta)
    if scaling:
        report.write_tsv(tsv[:-4] + "-scaling.tsv", scaling, report.SCALING_COLUMNS, {"dataset": name})
    elif os.path.exists(tsv[:-4] + "-scaling.tsv"):
        os.unlink(tsv[:-4] + "-scaling.tsv")
    log(f"  wrote {tsv} ({time.time() - started:.0f} s)")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        targets = [(name, ensure_split(name, args.splits_root, args.data_root, log=log)) for name in args.dataset]
        targets += [(os.path.basename(os.path.normpath(d)), d) for d in args.split_dir]
        for name, split_dir in targets:
            run_dataset(args, name, split_dir)
    except PeerError as err:
        print(f"run_peers: error: {err}", file=sys.stderr)
        return 2
    if args.results_md:
        report.write_results_md(args.results_dir, args.results_md)
        log(f"wrote {args.results_md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
