#!/usr/bin/env python
"""Encoding throughput on the miRBase 18 hairpins (project issue 7).

Hairpins: the records of miRBase 18 ``hairpin.fa`` whose MI accession is a member of a family in
``miFam.dat`` and that are at most ``--max-len`` nt long (12,839 of 18,226); if that were fewer than
7,000, all hairpins of at most ``--max-len`` nt are used instead (the table says which).

Measured: one-hot encoding of all of them (best of ``--repeat`` runs), and the structure matrices
(``--encoding``, default ``mixed``: one ViennaRNA partition function per hairpin) of the first
``--limit`` of them with 1 and 2 worker processes; peak resident memory from ``getrusage``
(this process, and the largest worker process), and the CPU time of all processes per hairpin
(which tells a slow code path from a busy machine). Targets: one-hot >= 50,000 hairpins/s;
matrices >= 1.8x faster on 2 processes than on 1.

    python benchmarks/encode_speed.py                    # defaults: ../shared/data/mirbase-18, --limit 2000
    python benchmarks/encode_speed.py --limit 500 --processes 1,2,4
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

from deepmir_tools.encodings import one_hot, structure_matrices
from deepmir_tools.seqio import read_records

DATA = os.path.join(os.environ.get("DEEPMIR_DATA", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")), "mirbase-18")
ONEHOT_TARGET = 50_000  # hairpins per second
SPEEDUP_TARGET = 1.8  # 2 processes vs 1
MIN_FAMILY_HAIRPINS = 7_000


def family_members(mifam_path: str) -> set[str]:
    """MI accessions listed as family members (``MI`` lines) in a miFam.dat file."""
    with open(mifam_path, encoding="utf-8") as handle:
        return {line.split()[1] for line in handle if line.startswith("MI ")}


def select_hairpins(hairpin_path: str, mifam_path: str, max_len: int) -> tuple[list[str], str]:
    """Sequences to encode and a phrase saying how they were chosen."""
    members = family_members(mifam_path)
    short = [(r.description.split()[0], r.seq) for r in read_records(hairpin_path) if len(r.seq) <= max_len]
    in_family = [seq for accession, seq in short if accession in members]
    if len(in_family) >= MIN_FAMILY_HAIRPINS:
        return in_family, f"hairpins in a miFam.dat family, <= {max_len} nt"
    return [seq for _, seq in short], f"all hairpins <= {max_len} nt (fewer than {MIN_FAMILY_HAIRPINS} in families)"


def peak_rss_mib(who: int) -> float:
    """Peak resident set size in MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(who).ru_maxrss / 1024


def time_onehot(seqs: list[str], max_len: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        one_hot(seqs, max_len)
        best = min(best, time.perf_counter() - start)
    return best


def cpu_seconds() -> float:
    """User + system CPU time of this process and of its finished (waited-for) worker processes."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def time_matrices(seqs: list[str], encoding: str, max_len: int, processes: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of all processes) to encode ``seqs``."""
    start, cpu = time.perf_counter(), cpu_seconds()
    structure_matrices(seqs, encoding, max_len, threads=processes)
    return time.perf_counter() - start, cpu_seconds() - cpu


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hairpins", default=os.path.join(DATA, "hairpin.fa"))
    parser.add_argument("--families", default=os.path.join(DATA, "miFam.dat"))
    parser.add_argument("--max-len", type=int, default=200)
    parser.add_argument("--limit", type=int, default=2000, help="hairpins folded for the matrices (0 = all)")
    parser.add_argument("--encoding", choices=("prob", "pair", "mixed"), default="mixed")
    parser.add_argument("--processes", default="1,2", help="comma-separated worker counts for the matrices")
    parser.add_argument("--repeat", type=int, default=5, help="one-hot runs (the best is reported)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    seqs, how = select_hairpins(args.hairpins, args.families, args.max_len)
    load = os.getloadavg()
    print(f"input: {len(seqs):,} miRBase 18 {how} (mean {sum(map(len, seqs)) / len(seqs):.0f} nt)")
    print(f"machine: {os.cpu_count()} CPUs, load average before the run {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print()
    print("| encoding | hairpins | processes | seconds | hairpins/s | ms/hairpin | CPU ms/hairpin | target |")
    print("|---|---|---|---|---|---|---|---|")

    seconds = time_onehot(seqs, args.max_len, args.repeat)
    rate = len(seqs) / seconds
    verdict = "met" if rate >= ONEHOT_TARGET else "MISSED"
    print(f"| onehot | {len(seqs):,} | 1 | {seconds:.3f} | {rate:,.0f} | {1000 / rate:.4f} | | "
          f">= {ONEHOT_TARGET:,}/s: {verdict} |", flush=True)
    rss_onehot = peak_rss_mib(resource.RUSAGE_SELF)

    subset = seqs[: args.limit] if args.limit else seqs
    timings: dict[int, float] = {}
    for processes in (int(p) for p in args.processes.split(",")):
        seconds, cpu = time_matrices(subset, args.encoding, args.max_len, processes)
        timings[processes] = seconds
        note = ""
        if processes > 1 and 1 in timings:
            speedup = timings[1] / seconds
            verdict = "met" if processes != 2 or speedup >= SPEEDUP_TARGET else "MISSED"
            note = f"{speedup:.2f}x vs 1" + (f" (>= {SPEEDUP_TARGET}x: {verdict})" if processes == 2 else "")
        print(f"| {args.encoding} | {len(subset):,} | {processes} | {seconds:.1f} | {len(subset) / seconds:,.1f} | "
              f"{1000 * seconds / len(subset):.2f} | {1000 * cpu / len(subset):.2f} | {note} |", flush=True)

    print()
    print(f"peak memory: {rss_onehot:.0f} MiB after one-hot (main process), "
          f"{peak_rss_mib(resource.RUSAGE_SELF):.0f} MiB after the matrices (main process), "
          f"{peak_rss_mib(resource.RUSAGE_CHILDREN):.0f} MiB largest worker process")
    load = os.getloadavg()
    print(f"load average after the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
