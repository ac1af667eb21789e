#!/usr/bin/env python3
"""Benchmark deepmir against its peers (BLASTN, Infernal, a 6-mer centroid classifier) on the same
training split, the same test queries and the same negatives. See README.md beside this file.

    python benchmarks/peers/run_peers.py --dataset mirbase18-min30-remote
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import re
import shlex
import sys
import time
from typing import Sequence

import numpy as np

import metrics
import report
from datasets import PRESETS, SHIPPED_MODELS, Query, ensure_split, family_order, load_queries, sample
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
                   help=f"preset split name (repeatable): {', '.join(PRESETS)}; 'all' = every preset; or a name "
                        "under --splits-root")
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
                   help="parallel CM builds, and cmscan processes (each --cpu 1, on a share of the queries; "
                        "its CPU time is their sum, a single-core figure) (default: %(default)s)")
    p.add_argument("--scaling", default="10,25,50,all",
                   help="family counts for the time-vs-families columns; '' to skip (default: %(default)s)")
    p.add_argument("--scaling-queries", type=int, default=300,
                   help="queries per scaling run (test queries of the K families, cycled) (default: %(default)s)")
    p.add_argument("--large-queries", type=int, default=10000,
                   help="distinct sequences (the queries, then the split's ood.fa) on which BLASTN, the k-mer "
                        "baseline and deepmir are also timed, so that start-up weighs little; 0 = skip "
                        "(default: %(default)s)")
    p.add_argument("--deepmir-threads", default="1,all",
                   help="deepmir-classify thread counts, one row each ('all' = nproc) (default: %(default)s)")
    p.add_argument("--deepmir-train-args", default="--epochs 20",
                   help="extra deepmir-train arguments (one string). 20 epochs instead of deepmir-train's 30: on "
                        "these splits the validation accuracy is flat from epoch 6-12 on, and the cold run stays "
                        "under an hour (default: %(default)s)")
    p.add_argument("--deepmir-model", default=None,
                   help="use this model bundle instead of running deepmir-train (it must have been trained on "
                        "the same train.fa; one data set per run). Without it, "
                        f"{', '.join(f'{d} uses the shipped {m!r} model' for d, m in SHIPPED_MODELS.items())} "
                        "(trained on that split by benchmarks/train_default_models.sh), unless --train-shipped")
    p.add_argument("--train-shipped", action="store_true",
                   help="train deepmir on the shipped models' splits too, instead of using the shipped model")
    p.add_argument("--deepmir-background", default="rRNA_5S,riboswitch,intron_gpII,no_family",
                   help="classes that deepmir trains on as background (outlier exposure): classes of --negatives, "
                        "and no_family, the split's family-less hairpins (ood.fa) not >= 80%% identical to a "
                        "training or unseen-family hairpin; must not overlap --neg-classes; '' = none "
                        "(default: %(default)s)")
    p.add_argument("--deepmir-classify-args", default="--long truncate",
                   help="extra deepmir-classify arguments (default: %(default)s)")
    p.add_argument("--label", default=None,
                   help="name of the results (peers-LABEL.tsv, RESULTS.md section) instead of the data set's, e.g. "
                        "for a run with other options beside the default one; one data set per run")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--cache-dir", default=cache_default, help="built CMs and models (default: %(default)s)")
    p.add_argument("--results-dir", default=os.path.join(REPO, "benchmarks", "results"))
    p.add_argument("--results-md", default=os.path.join(HERE, "RESULTS.md"), help="'' to not write it")
    args = p.parse_args(argv)
    if not args.dataset and not args.split_dir:
        p.error("give --dataset NAME or --split-dir DIR")
    if "all" in args.dataset:
        args.dataset = list(dict.fromkeys(d for name in args.dataset for d in (PRESETS if name == "all" else [name])))
    if args.deepmir_model and len(args.dataset) + len(args.split_dir) > 1:
        p.error("--deepmir-model is trained on one split: give one data set")
    if args.label and len(args.dataset) + len(args.split_dir) > 1:
        p.error("--label names one data set's results: give one data set")
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


def write_background(negatives: str, classes: Sequence[str], path: str, split_dir: str | None = None) -> int:
    """The background FASTA for ``deepmir-train --background``: every record of ``classes`` in the
    negatives file, and with ``no_family`` the split's family-less hairpins that pass the identity
    filter of ``deepmir_tools.datasets.family_less_background``."""
    records = [(r.id, r.seq) for r in read_fasta(negatives) if r.id.split("|", 1)[0] in classes]
    if "no_family" in classes and split_dir and os.path.exists(os.path.join(split_dir, "ood.fa")):
        try:
            from deepmir_tools.datasets import family_less_background
        except ImportError as err:
            raise PeerError(f"deepmir-tools is not importable by {sys.executable}: {err}") from err
        kept, dropped = family_less_background(os.path.join(split_dir, "ood.fa"), os.path.join(split_dir, "train.fa"),
                                               threads=os.cpu_count() or 1)
        log(f"  deepmir background: {len(kept)} family-less hairpins ({dropped} dropped: >= 80% identical to a "
            "training or unseen-family hairpin)")
        records += [(f"no_family|{r.id}", r.seq) for r in kept]
    if not records:
        raise PeerError(f"{negatives}: no records of the background classes {', '.join(classes)}")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return write_fasta(path, records)


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
               background: Sequence[str] = (), model: str | None = None) -> list[Peer]:
    """The peers to run; deepmir classifies with ``model`` when given, else trains on the split."""
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
                                     reuse_model=model))
    return peers


def given_model(args: argparse.Namespace, dataset: str, split_dir: str) -> str | None:
    """The model bundle deepmir classifies with instead of training: ``--deepmir-model``, or the shipped
    model trained on this very split (its recorded train.fa digest must match the split's)."""
    if args.deepmir_model or "deepmir" not in args.tools.split(","):
        return args.deepmir_model
    name = SHIPPED_MODELS.get(dataset)
    if name is None or args.train_shipped:
        return None
    try:
        from deepmir_tools.bundle import load_bundle
        from deepmir_tools.npzformat import sha256_of_file
    except ImportError as err:
        raise PeerError(f"deepmir-tools is not importable by {sys.executable}: {err}") from err
    bundle = load_bundle(name)
    recorded = bundle.meta.get("training", {}).get("train", {}).get("sha256")
    if recorded != sha256_of_file(os.path.join(split_dir, "train.fa")):
        raise PeerError(f"the shipped {name!r} model was not trained on {split_dir}/train.fa (sha256 differs); "
                        "use --train-shipped or --deepmir-model")
    return bundle.path


def infernal_subset(args: argparse.Namespace, order: list[str]) -> list[str]:
    k = args.infernal_families
    return order if k <= 0 or k >= len(order) else order[:k]


def run_main(args, dataset, peers, train, queries, order, workdir,
             large_fa: str | None = None) -> tuple[list[dict], dict]:
    """Main-table rows of every peer; ``large_fa`` (distinct sequences) also times the fast tools on a
    large input, where their start-up no longer weighs (``ms_large``, ``ms_large_net``)."""
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
        large = None if isinstance(peer, InfernalPeer) or not large_fa else measure_large(peer, train, large_fa,
                                                                                         workdir)
        for result in results:
            rows.append(evaluate(result, peer_queries, dataset, infernal_fams))
            if startup is not None:
                rows[-1]["startup_cpu_s"] = startup
                rows[-1]["ms_net"] = (1000.0 * max(0.0, result.query.cpu_s - startup) / max(1, len(peer_queries))
                                      * result.time_scale)
            if large is not None:
                count, cpu_s = large
                rows[-1].update(n_large=count, ms_large=1000.0 * cpu_s / count)
                if startup is not None:
                    rows[-1]["ms_large_net"] = 1000.0 * max(0.0, cpu_s - startup) / count
            log(f"    {result.tool}: accuracy {rows[-1]['accuracy']:.4f}, AUROC {rows[-1]['auroc']:.4f}, "
                f"{rows[-1]['cpu_s']:.1f} CPU s ({time.time() - started:.0f} s incl. build)")
    return rows, deepmir_model


def measure_large(peer: Peer, train: Sequence[Record], large_fa: str, workdir: str) -> tuple[int, float] | None:
    """(queries, CPU seconds) of the query command on the large input."""
    try:
        results = peer.run(train, large_fa, os.path.join(workdir, "large", _slug(peer.name)))
    except PeerError as err:
        log(f"    {peer.name}: large-input run failed: {err}")
        return None
    return len(results[0].predictions), results[0].query.cpu_s


def large_input(queries: Sequence[Query], split_dir: str, count: int, seed: int) -> list[tuple[str, str]]:
    """Up to ``count`` distinct sequences for timing: the queries, then a seeded sample of the split's
    ood.fa records (miRBase hairpins of other or no families; Rfam sequences of other families).
    Distinct, because deepmir-classify scores identical sequences once."""
    seen, chosen = set(), []
    for q in queries:
        if q.seq not in seen:
            seen.add(q.seq)
            chosen.append((f"x{len(chosen):06d}", q.seq))
    ood = os.path.join(split_dir, "ood.fa")
    extra = [r.seq for r in read_fasta(ood)] if os.path.exists(ood) else []
    random.Random(f"large-{seed}").shuffle(extra)
    for seq in extra:
        if len(chosen) >= count:
            break
        if seq not in seen:
            seen.add(seq)
            chosen.append((f"x{len(chosen):06d}", seq))
    return chosen[:count]


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


def run_scaling(args, dataset, peers, train, queries, order, workdir, deepmir_model,
                main_rows: Sequence[dict] = ()) -> list[dict]:
    """ms/query (and accuracy) with databases/models of the first K families (nested subsets).

    Every K gets the same ``--scaling-queries`` queries, so the only thing that changes is the size of
    the database: half are the test queries of the smallest K's families (members of every subset;
    cycled), half a seeded sample of the negatives (the main run's mix: a query of no known family
    costs a tool differently from a member). Accuracy is on the members. ``ms_net`` subtracts the
    tool's start-up (from ``main_rows``). deepmir has one model of all families, whose cost does not
    depend on K, and scores repeated sequences once, so cycled queries would not time it: its rows give
    its accuracy on the distinct queries and its per-query time on the large input (the same at every K).
    """
    startups = {row["tool"]: row["startup_cpu_s"] for row in main_rows if row.get("startup_cpu_s") is not None}
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
    count = args.scaling_queries if args.scaling_queries > 0 else 2 * len(positives)
    negatives = sample([q for q in queries if q.family is None], count - count // 2, f"scaling-{args.seed}")
    mixed = list(itertools.islice(itertools.cycle(positives), max(count - len(negatives), 1))) + negatives
    for k in ks:
        families = set(order[:k])
        sub_train = [r for r in train if r.family in families]
        padded = [Query(f"k{k}_{i:05d}", q.seq, q.family, q.ood_class, q.qid) for i, q in enumerate(mixed)]
        first = {q.source_id: q for q in reversed(padded) if q.family}  # one copy of each member, for accuracy
        kdir = os.path.join(workdir, "scaling", f"k{k}")
        os.makedirs(kdir, exist_ok=True)
        query_file = write_queries(os.path.join(kdir, "queries.fa"), padded)
        log(f"  scaling K={k}: {len(first)} test queries (of {ks[0]} families) cycled to {len(padded) - len(negatives)}"
            f", and {len(negatives)} negatives")
        for peer in peers:
            if peer.check() or isinstance(peer, DeepmirPeer):
                continue
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
                startup = startups.get(result.tool)
                ms_net = None if startup is None else 1000.0 * max(0.0, result.query.cpu_s - startup) / len(padded)
                rows.append({"dataset": dataset, "tool": result.tool, "families": k, "n_queries": len(first),
                             "accuracy": metrics.accuracy(truth, labels), "cpu_s": result.query.cpu_s,
                             "ms_per_query": ms, "ms_net": ms_net, "measured": "yes"})
                if isinstance(peer, InfernalPeer):
                    measured_infernal.setdefault(result.tool, {})[k] = (ms, ms_net)
    rows += deepmir_scaling(args, dataset, peers, positives, ks, workdir, deepmir_model, main_rows)
    for tool, measured in measured_infernal.items():
        a, b = linear_fit({k: v[0] for k, v in measured.items()})
        net = None
        if all(v[1] is not None for v in measured.values()):
            net = linear_fit({k: v[1] for k, v in measured.items()})
        for k, n_queries in pending_infernal:
            rows.append({"dataset": dataset, "tool": tool, "families": k, "n_queries": n_queries, "accuracy": None,
                         "cpu_s": None, "ms_per_query": a + b * k, "ms_net": None if net is None else net[0] + net[1] * k,
                         "measured": f"no (linear fit of K={','.join(map(str, sorted(measured)))})"})
    return rows


def deepmir_scaling(args, dataset, peers, positives, ks, workdir, deepmir_model, main_rows) -> list[dict]:
    """deepmir's scaling rows (see :func:`run_scaling`): the first thread setting's all-family model."""
    peer = next((p for p in peers if isinstance(p, DeepmirPeer) and not p.check()), None)
    main = next((r for r in main_rows if peer is not None and r.get("tool") == peer.name), {})
    if peer is None or not deepmir_model.get("path") or "ms_large" not in main:
        return []
    reuse = DeepmirPeer(peer.threads, args.cache_dir, classify_args=peer.classify_args,
                        reuse_model=deepmir_model["path"])
    reuse._why_not, reuse._version = "", peer.version()
    distinct = write_queries(os.path.join(workdir, "scaling", "deepmir-queries.fa"), positives)
    try:
        result = reuse.run([], distinct, os.path.join(workdir, "scaling", _slug(peer.name)))[0]
    except PeerError as err:
        log(f"    {peer.name}: FAILED: {err}")
        return []
    accuracy = metrics.accuracy([q.family for q in positives],
                                [result.predictions.get(q.qid, (None, 0.0))[0] for q in positives])
    return [{"dataset": dataset, "tool": peer.name, "families": k, "n_queries": len(positives), "accuracy": accuracy,
             "cpu_s": None, "ms_per_query": main["ms_large"], "ms_net": main.get("ms_large_net"),
             "measured": f"yes (all-family model: time of the large-input run, {main['n_large']} queries)"}
            for k in ks]


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
    """Every peer on one data set: the printed tables, peers-LABEL.tsv and peers-LABEL-scaling.tsv."""
    started = time.time()
    machine = report.machine_info()
    title = args.label or name  # names the outputs; ``name`` picks the preset's test sample and shipped model
    log(f"== {title}: {split_dir}")
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
    workdir = os.path.join(args.results_dir, "work", title)
    os.makedirs(workdir, exist_ok=True)
    val = os.path.join(split_dir, "val.fa")
    background = []
    model = given_model(args, name, split_dir)
    if model:
        log(f"  deepmir: classifying with {model} (trained on this split; not retrained)")
    elif "deepmir" in args.tools and _classes(args.deepmir_background):
        path = os.path.join(workdir, "background.fa")
        count = write_background(args.negatives, _classes(args.deepmir_background), path, split_dir)
        log(f"  deepmir background: {count} records ({args.deepmir_background})")
        background = ["--background", path]
    peers = make_peers(args, len(families), val if os.path.exists(val) else None, background, model)

    large_fa = None
    if args.large_queries > 0:
        large = large_input(queries, split_dir, args.large_queries, args.seed)
        large_fa = os.path.join(workdir, "large-queries.fa")
        write_fasta(large_fa, large)
        log(f"  large input for the fast tools: {len(large)} distinct sequences")
    rows, deepmir_model = run_main(args, title, peers, train, queries, order, workdir, large_fa)
    scaling = (run_scaling(args, title, peers, train, queries, order, workdir, deepmir_model, rows)
               if args.scaling else [])
    rescale_infernal(rows, scaling, len(families))
    ks = _scaling_ks(args.scaling, len(families)) if args.scaling else []
    for row in rows:
        for k in ks:
            match = [s for s in scaling if s["tool"] == row["tool"] and s["families"] == k]
            label = f"ms@{'all' if k == len(families) else k}"
            row[label] = None
            if match:  # net of start-up where known: a few hundred queries would otherwise mostly time the start-up
                net = match[0].get("ms_net")
                row[label] = net if net is not None else match[0]["ms_per_query"]
            if match and not match[0]["measured"].startswith("yes"):
                row[label] = report._fmt(row[label], "ms_per_query") + "*"  # extrapolated
    k_columns = [f"ms@{'all' if k == len(families) else k}" for k in ks]
    class_columns = sorted({c for row in rows for c in row if c.startswith(("auroc_", "fpr95_"))})
    extra = ["acc_infernal_fams"] if any("acc_infernal_fams" in row for row in rows) else []
    columns = report.MAIN_COLUMNS + extra + k_columns + class_columns + ["note"]

    shown = ["tool", "version", "families", "accuracy", "macro_f1"] + extra + [
        "cpu_s", "wall_s", "ms_per_query", "startup_cpu_s", "ms_net", "ms_large_net", "auroc", "fpr_at_95tpr"] + k_columns
    print(f"\n{title}: {len(families)} families, {n_test} test queries, {len(queries) - n_test} negatives "
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
    n_cms = len(infernal_subset(args, order))
    if "infernal" in args.tools and n_cms < len(families):
        infernal_note = (f"Infernal: CMs for {n_cms} of {len(families)} families (seeded), accuracy/AUROC on those "
                         f"families' test queries + all negatives, ms/query scaled to all families; calibration "
                         f"{args.calibration}")
    elif "infernal" in args.tools:
        infernal_note = f"Infernal: CMs for all {len(families)} families; calibration {args.calibration}"
    meta = {"dataset": title, "date": machine["date"],
            "machine": f"nproc={machine['nproc']}, CPU {machine['cpu']}, load average at start "
                       f"{machine['load_at_start']}, Python {machine['python']}",
            "split": f"{split_dir}: {len(train)} training sequences, {len(families)} families",
            "queries": f"{n_test} test queries" + (f" (seeded sample of the test split)" if max_test else ""),
            "negatives": f"{len(queries) - n_test} ({', '.join(neg_classes)}; up to {args.neg_per_class} "
                         f"per class, seeded)",
            "versions": versions, "notes": infernal_note, "elapsed": f"{time.time() - started:.0f} s ({cache_state(rows)})"}
    os.makedirs(args.results_dir, exist_ok=True)
    tsv = os.path.join(args.results_dir, f"peers-{title}.tsv")
    report.write_tsv(tsv, rows, columns, meta)
    if scaling:
        report.write_tsv(tsv[:-4] + "-scaling.tsv", scaling, report.SCALING_COLUMNS, {"dataset": title})
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
