"""Read benchmark with an independent truth (issue 15): deepmir-classify and two peers on real and made reads.

    python benchmarks/reads/run_reads.py [--model mature] [--out benchmarks/results/reads]
                                         [--heldout-model PATH --heldout-species bta] [--per-set 5000] [--seed 7]

Sets: the real bovine plasma sample (smallrna-reads/bovine_plasma_sample.fastq; every read counts once) and the
made ``bench`` sets of make_reads.py.  Each set is classified with the installed ``deepmir-classify -m MODEL FILE
-o calls.tsv --threads 2`` (as a user runs it), with the miRDeep2-quantifier rule and with blastn-short
(read_peers.py), and joined with the truth (truth.py, all of miRBase 22.1).  Metrics, weighted by reads:

- recall: miRNA reads (truth kind ``mirna``) given a right family (accepted, call in the truth's families)
  / miRNA reads;
- recall_model_families: the same over miRNA reads whose truth families include one of the model's families;
- false_acceptance: non-miRNA reads given any family / non-miRNA reads;
- precision: accepted reads with a right family / accepted reads whose truth is ``mirna`` or ``not_mirna``;
- ``mirna_no_family`` reads are counted apart (and how many were given a family), in no denominator;
per length bin (<16, 16-19, 20-22, 23-25, 26-30, 31-36, >36) and overall, with CPU seconds and reads/s per method.
Held-out species: the plasma reads with --heldout-model, peers' reference without --heldout-species (truth: all).
Writes results.tsv (set, method, length_bin, metric, value) and RESULTS.md into --out; prints the main table.
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

import make_reads
import read_peers as peersmod
import truth as truthmod

HERE = os.path.dirname(os.path.abspath(__file__))

BINS = ((0, 15, "<16"), (16, 19, "16-19"), (20, 22, "20-22"), (23, 25, "23-25"), (26, 30, "26-30"),
        (31, 36, "31-36"), (37, 10 ** 9, ">36"))
MAIN = ("n_reads", "mirna_reads", "mirna_no_family_reads", "not_mirna_reads", "recall", "recall_model_families",
        "false_acceptance", "not_mirna_accepted", "precision", "cpu_s", "reads_per_s")


def length_bin(n: int) -> str:
    for lo, hi, name in BINS:
        if lo <= n <= hi:
            return name
    return ">36"


def child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def find_classify() -> str:
    exe = os.path.join(os.path.dirname(sys.executable), "deepmir-classify")
    return exe if os.path.exists(exe) else (shutil.which("deepmir-classify") or "deepmir-classify")


def run_deepmir(model: str, path: str, workdir: str, threads: int) -> tuple[dict[str, str | None], float, float]:
    """id -> accepted family (None otherwise); CPU seconds, wall seconds of the deepmir-classify process."""
    out = os.path.join(workdir, "calls.tsv")
    c0, w0 = child_cpu(), time.time()
    subprocess.run([find_classify(), "-q", "-m", model, path, "-o", out, "--threads", str(threads)], check=True)
    cpu, wall = child_cpu() - c0, time.time() - w0
    calls: dict[str, str | None] = {}
    with open(out) as fh:
        for line in fh:
            if line.startswith("#") or line.startswith("id\t"):
                continue
            f = line.rstrip("\n").split("\t")
            calls[f[0]] = f[2] if f[5] == "accepted" and f[2] else None
    return calls, cpu, wall


def model_families(model: str) -> frozenset[str]:
    from deepmir_tools.bundle import load_bundle   # the runner's only package import
    return frozenset(acc for acc, _name in load_bundle(model).classes)


def metrics(rows: list[tuple[int, str, frozenset, str | None]], model_fams: frozenset) -> dict[str, float]:
    """rows: (read length, truth kind, truth families, called family or None), one per read."""
    m = defaultdict(float)
    for _n, kind, fams, call in rows:
        m["n_reads"] += 1
        if kind == truthmod.MIRNA:
            m["mirna_reads"] += 1
            right = call is not None and call in fams
            m["mirna_right"] += right
            if fams & model_fams:
                m["mirna_model_family_reads"] += 1
                m["mirna_model_family_right"] += right
            if call is not None:
                m["accepted_scored"] += 1
                m["accepted_right"] += right
        elif kind == truthmod.NO_FAMILY:
            m["mirna_no_family_reads"] += 1
            m["mirna_no_family_accepted"] += call is not None
        else:
            m["not_mirna_reads"] += 1
            if call is not None:
                m["not_mirna_accepted"] += 1
                m["accepted_scored"] += 1
    for k in ("n_reads", "mirna_reads", "mirna_no_family_reads", "not_mirna_reads", "not_mirna_accepted",
              "mirna_right", "mirna_model_family_reads", "mirna_model_family_right", "accepted_scored",
              "accepted_right", "mirna_no_family_accepted"):
        m.setdefault(k, 0.0)
    nan = float("nan")
    m["recall"] = m["mirna_right"] / m["mirna_reads"] if m["mirna_reads"] else nan
    m["recall_model_families"] = (m["mirna_model_family_right"] / m["mirna_model_family_reads"]
                                  if m["mirna_model_family_reads"] else nan)
    m["false_acceptance"] = m["not_mirna_accepted"] / m["not_mirna_reads"] if m["not_mirna_reads"] else nan
    m["precision"] = m["accepted_right"] / m["accepted_scored"] if m["accepted_scored"] else nan
    return dict(m)


def score_set(set_name: str, path: str, methods: dict, truth: truthmod.Truth, model: str, model_fams: frozenset,
              threads: int, workdir: str, results: list) -> None:
    reads = list(truthmod.read_seqs(path))
    ids = [h.split()[0] for h, _s in reads]
    seqs = [s for _h, s in reads]
    t0 = time.process_time()
    tcalls = [truth.families(s) for s in seqs]
    print(f"  {set_name}: {len(seqs)} reads, truth look-ups {time.process_time() - t0:.1f} s CPU "
          "(cached for made reads)",
          file=sys.stderr)
    per_method: dict[str, tuple[list, float, float]] = {}
    calls, cpu, wall = run_deepmir(model, path, workdir, threads)
    per_method["deepmir"] = ([calls.get(i) for i in ids], cpu, wall)
    for name, peer in methods.items():
        uniq = sorted(set(seqs))
        p0, c0, w0 = time.process_time(), child_cpu(), time.time()
        pc = peer.call(uniq)
        cpu = time.process_time() - p0 + child_cpu() - c0
        per_method[name] = ([pc[s][1] if pc[s][0] == "accepted" else None for s in seqs], cpu, time.time() - w0)
    for name, (called, cpu, wall) in per_method.items():
        rows = [(len(s), k, f, c) for s, (k, f), c in zip(seqs, tcalls, called)]
        groups = defaultdict(list)
        for r in rows:
            groups[length_bin(r[0])].append(r)
        allm = metrics(rows, model_fams)
        allm["cpu_s"] = cpu
        allm["wall_s"] = wall
        allm["reads_per_s"] = len(rows) / cpu if cpu > 0 else float("nan")
        for k, v in allm.items():
            results.append((set_name, name, "all", k, v))
        for _lo, _hi, b in BINS:
            if groups.get(b):
                for k, v in metrics(groups[b], model_fams).items():
                    results.append((set_name, name, b, k, v))


def fmt(metric: str, v: float) -> str:
    if v != v:
        return "-"
    if metric in ("recall", "recall_model_families", "false_acceptance", "precision"):
        return f"{100 * v:.1f}%"
    if metric in ("cpu_s",):
        return f"{v:.1f}"
    return f"{v:.0f}"


def table(results: list, sets: list[str], metrics_: tuple, length: str = "all") -> str:
    idx = {(s, m, b, k): v for s, m, b, k, v in results}
    methods = list(dict.fromkeys(m for _s, m, _b, _k, _v in results))
    lines = ["| set | method | " + " | ".join(metrics_) + " |", "|---|---|" + "---:|" * len(metrics_)]
    for s in sets:
        for m in methods:
            if (s, m, length, "n_reads") in idx:
                lines.append(f"| {s} | {m} | " + " | ".join(fmt(k, idx.get((s, m, length, k), float("nan")))
                                                       for k in metrics_) + " |")
    return "\n".join(lines)


def cpu_flags() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    except OSError:
        return "lscpu unavailable"
    model = next((ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name")), "?")
    flags = next((ln.split(":", 1)[1].split() for ln in out.splitlines() if ln.startswith("Flags")), [])
    vec = [f for f in flags if f.startswith(("sse", "ssse", "avx", "fma", "f16c", "amx"))]
    return f"{model}; {os.cpu_count()} CPUs; vector extensions: {' '.join(vec) or '?'}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="mature")
    ap.add_argument("--out", default=os.path.join(HERE, "..", "results", "reads"))
    ap.add_argument("--heldout-model")
    ap.add_argument("--heldout-species", default="bta")
    ap.add_argument("--data", default=make_reads.DATA)
    ap.add_argument("--per-set", type=int, default=5000, help="made reads per bench set (default 5000)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--sets", default="plasma," + ",".join(make_reads.SETS),
                    help="comma-separated sets to run (plasma and/or the made set names)")
    ap.add_argument("--sets-dir", help="keep the made bench FASTA files here (default: a temporary folder)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-blast", action="store_true", help="skip the blastn-short peer")
    a = ap.parse_args(argv)
    sets = [s for s in a.sets.split(",") if s]
    bad = [s for s in sets if s != "plasma" and s not in make_reads.SETS]
    if bad:
        ap.error(f"unknown set(s): {', '.join(bad)}")
    if a.heldout_model and "plasma" not in sets:
        ap.error("--heldout-model scores the plasma set: include 'plasma' in --sets")

    mirbase = os.path.join(a.data, "mirbase-22.1")
    plasma = os.path.join(a.data, "smallrna-reads", "bovine_plasma_sample.fastq")
    work = tempfile.mkdtemp(prefix="run-reads-")
    try:
        t0 = time.process_time()
        truth = truthmod.Truth.load(mirbase)
        print(f"truth: {len(truth.ref.matures)} matures, {len(truth.unplaced)} not placed, "
              f"{time.process_time() - t0:.1f} s CPU", file=sys.stderr)
        made = [s for s in sets if s != "plasma"]
        set_paths: dict[str, str] = {}
        if "plasma" in sets:
            set_paths["plasma"] = plasma
        if made:
            sdir = a.sets_dir or os.path.join(work, "made")
            os.makedirs(sdir, exist_ok=True)
            reads = make_reads.make_sets("bench", a.per_set, a.seed, a.data, truth=truth, sets=made)
            for name, rr in reads.items():
                p = os.path.join(sdir, f"{name}.fa")
                with open(p, "w") as fh:
                    fh.writelines(f">{h}\n{s}\n" for h, s in rr)
                set_paths[name] = p

        def build_peers(exclude):
            ref = truthmod.Reference(mirbase, exclude_species=exclude)
            p = {"mirdeep2_quantifier": peersmod.QuantifierPeer(ref)}
            if not a.no_blast:
                p["blastn_short"] = peersmod.BlastPeer(ref, os.path.join(work, f"blast-{exclude or 'all'}"))
            return p

        results: list = []
        methods = build_peers(None)
        fams = model_families(a.model)
        for name, path in set_paths.items():
            score_set(name, path, methods, truth, a.model, fams, a.threads, work, results)
        order = list(set_paths)
        if a.heldout_model:
            name = f"plasma_heldout_{a.heldout_species}"
            score_set(name, plasma, build_peers(a.heldout_species), truth, a.heldout_model,
                      model_families(a.heldout_model), a.threads, work, results)
            order.append(name)

        os.makedirs(a.out, exist_ok=True)
        with open(os.path.join(a.out, "results.tsv"), "w") as fh:
            fh.write("set\tmethod\tlength_bin\tmetric\tvalue\n")
            for s, m, b, k, v in results:
                fh.write(f"{s}\t{m}\t{b}\t{k}\t{v:.6g}\n")
        main_table = table(results, order, MAIN)
        md = ["# Read benchmark (issue 15): deepmir-classify and peers against an independent truth", "",
              f"Command: `python benchmarks/reads/run_reads.py {' '.join(argv if argv is not None else sys.argv[1:])}`",
              f"Model: `{a.model}`" + (f"; held-out model `{a.heldout_model}` (species {a.heldout_species})"
                                       if a.heldout_model else ""),
              f"Made sets: make_reads.py --part bench --per-set {a.per_set} --seed {a.seed}. "
              f"Machine: {cpu_flags()}; python {platform.python_version()}.", "",
              "Weighted by reads (every read counts once). Truth and metric definitions: benchmarks/reads/README.md. "
              "CPU seconds: deepmir = the deepmir-classify process (start-up and model load included, "
              f"--threads {a.threads}); peers = matching only (index built once, not counted).", "",
              "## All lengths", "", main_table, ""]
        for s in order:
            md += [f"## {s} by read length", "", table_bins(results, s), ""]
        with open(os.path.join(a.out, "RESULTS.md"), "w") as fh:
            fh.write("\n".join(md))
        print(main_table)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def table_bins(results: list, set_name: str) -> str:
    idx = {(s, m, b, k): v for s, m, b, k, v in results if s == set_name}
    methods = list(dict.fromkeys(m for s, m, _b, _k, _v in results if s == set_name))
    cols = ("n_reads", "mirna_reads", "not_mirna_reads", "recall", "false_acceptance", "precision")
    lines = ["| length | method | " + " | ".join(cols) + " |", "|---|---|" + "---:|" * len(cols)]
    for _lo, _hi, b in BINS:
        for m in methods:
            if (set_name, m, b, "n_reads") in idx:
                lines.append(f"| {b} | {m} | " + " | ".join(fmt(k, idx[(set_name, m, b, k)]) for k in cols) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
