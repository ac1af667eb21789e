"""Scan benchmark (issue 16, item 4): deepmir-scan on real genomic sequence, with a truth that uses no model code.

    python benchmarks/scan/run_scan.py [--model hairpin] [--heldout-model PATH] [--out benchmarks/results/scan]
                                       [--inserts 400] [--seed 7] [--threads 2] [--cm-families 6]
                                       [--sets background,inserted,cmsearch,ath[,window]]

Every scan is the installed ``deepmir-scan -m MODEL FILE --format tsv -t THREADS`` as a user runs it, at the model's
own scan threshold. Sets:

- ``background``: the real genomes without miRNA genes (E. coli 536, NC_008253, Debian ``bowtie-examples``; phage
  lambda, ``bowtie2-examples``), both strands: every locus is false. False loci per Mb of sequence.
- ``inserted`` (after Infernal's rmark): ``--inserts`` held-out miRBase hairpins (the test split of the shipped
  model's recipe, never trained or calibrated on; a seeded sample) put into the E. coli genome at seeded random
  places (at least 5 kb apart) on seeded random strands. Truth = where they were put.
- ``cmsearch``: Infernal ``cmsearch`` on the inserted set's genome with the covariance models of a seeded subset of
  ``--cm-families`` families (built from the shipped model's training hairpins), its CPU time extrapolated to all the
  model's families, and deepmir's figures on the same hairpins (see :func:`cmsearch_set`).
- ``ath``: Arabidopsis thaliana chromosome 1 (30.4 Mb) and its 89 precursor loci (miRBase 22.1 hairpins matched
  exactly to the chromosome), scanned with ``--heldout-model`` (benchmarks/scan/train_heldout_model.sh: the shipped
  recipe without any ath record). A locus of a family that model knows should be found; the others (families only
  ath has, or no family) should not be given a family.
- ``window`` (only when named in ``--sets``): what the window threshold costs in sensitivity, on validation
  hairpins inserted the same way (:func:`window_set`).

A true locus is **found** when a reported locus of its strand overlaps it and names its family; **ends within 20**
when, in addition, both reported ends (the hairpin's, see deepmir_tools.scan.hairpin_span) are within 20 nt of the
true ones. Loci on the other strand of a true locus are counted apart (a hairpin's reverse complement is a hairpin).
Sensitivity of the inserted set is also given per family size (miRBase 22.1 members of the family, from the
split's families.tsv). Speed: nt per second of wall time and per CPU second (both strands), on this CPU.
Writes results.tsv (set, metric, value) and RESULTS.md into --out.
"""
from __future__ import annotations

import argparse
import csv
import gzip
import os
import random
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
ECOLI = "/usr/share/doc/bowtie/examples/genomes/NC_008253.fna.gz"
LAMBDA = "/usr/share/doc/bowtie2/examples/reference/lambda_virus.fa.gz"
ENDS = 20  # nt: the tolerance for both ends
MIN_GAP = 5000  # nt between inserted hairpins
WINDOW_LEVELS = (0.1, 0.15, 0.2, 0.25, 0.3)  # window thresholds the window set reports
SIZE_BINS = ((10, 19, "10-19"), (20, 49, "20-49"), (50, 10 ** 9, ">=50"))
_COMPLEMENT = str.maketrans("ACGTUNacgtun", "TGCAANtgcaan")


@dataclass(frozen=True)
class Site:
    """A true locus: 0-based start, exclusive end on the plus strand."""

    seqid: str
    start: int
    end: int
    strand: str
    family: str  # family name ('' when it has none)
    name: str


@dataclass(frozen=True)
class Call:
    seqid: str
    start: int  # 0-based
    end: int
    strand: str
    family: str
    score: float
    window_score: float = float("nan")  # deepmir-scan: its best window's (a candidate from the window threshold)


def revcomp(seq: str) -> str:
    return seq.translate(_COMPLEMENT)[::-1]


def read_fasta(path: str) -> list[tuple[str, str]]:
    opener = gzip.open if path.endswith(".gz") else open
    records: list[tuple[str, list[str]]] = []
    with opener(path, "rt") as handle:
        for line in handle:
            if line.startswith(">"):
                records.append((line[1:].strip(), []))
            elif records:
                records[-1][1].append(line.strip())
    return [(head, "".join(parts)) for head, parts in records]


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def scan(model: str, fasta: str, out_tsv: str, threads: int, options: list[str] = ()) -> tuple[list[Call], float, float]:
    """(loci, wall s, CPU s) of ``deepmir-scan -m model fasta --format tsv [options]``."""
    exe = os.path.join(os.path.dirname(sys.executable), "deepmir-scan")
    exe = exe if os.path.exists(exe) else (shutil.which("deepmir-scan") or "deepmir-scan")
    cpu, wall = child_cpu(), time.perf_counter()
    subprocess.run([exe, "-q", "-m", model, fasta, "--format", "tsv", "-t", str(threads), "-o", out_tsv, *options],
                   check=True)
    wall, cpu = time.perf_counter() - wall, child_cpu() - cpu
    return scan_calls(out_tsv), wall, cpu


def scan_calls(tsv: str) -> list[Call]:
    """The loci of a deepmir-scan TSV (record IDs up to the first space)."""
    with open(tsv) as handle:
        rows = csv.DictReader((line for line in handle if not line.startswith("# ")), delimiter="\t")
        return [Call(r["seqid"].split()[0], int(r["start"]) - 1, int(r["end"]), r["strand"], r["family_name"],
                     float(r["score"]), float(r["window_score"])) for r in rows]


def match(sites: list[Site], calls: list[Call]) -> dict[str, object]:
    """Per site: found (same strand, overlapping, its family), ends within ENDS, and other-strand loci; and the
    calls that overlap no site on either strand."""
    found, ends, other_strand = set(), set(), set()
    used = set()
    for i, site in enumerate(sites):
        for j, call in enumerate(calls):
            if call.seqid != site.seqid or call.end <= site.start or call.start >= site.end:
                continue
            used.add(j)
            if call.strand != site.strand:
                other_strand.add(i)
            elif site.family and call.family == site.family:
                found.add(i)
                if abs(call.start - site.start) <= ENDS and abs(call.end - site.end) <= ENDS:
                    ends.add(i)
    unmatched = [c for j, c in enumerate(calls) if j not in used]
    return {"found": found, "ends": ends, "other_strand": other_strand, "unmatched": unmatched}


def model_families(model: str) -> set[str]:
    """Family names a model knows (through the installed package's public API)."""
    from deepmir_tools.bundle import load_bundle

    return {name for _, name in load_bundle(model).classes}


def family_sizes(split: str) -> dict[str, int]:
    """Family name -> miRBase 22.1 members, from deepmir-dataset's families.tsv (n_total)."""
    with open(os.path.join(split, "families.tsv")) as handle:
        return {r["name"]: int(r["n_total"]) for r in csv.DictReader(handle, delimiter="\t")}


# --- sets -------------------------------------------------------------------------------------------------------


def background_set(args, results: list) -> None:
    total_loci = total_nt = 0
    for name, path in (("ecoli536", ECOLI), ("lambda", LAMBDA)):
        nt = sum(len(seq) for _, seq in read_fasta(path))
        calls, wall, cpu = scan(args.model, path, os.path.join(args.out, f"background-{name}.tsv"), args.threads)
        total_loci, total_nt = total_loci + len(calls), total_nt + nt
        results += [(f"background-{name}", "nt", nt), (f"background-{name}", "false_loci", len(calls)),
                    (f"background-{name}", "false_loci_per_mb", len(calls) / nt * 1e6),
                    (f"background-{name}", "max_score", max((c.score for c in calls), default=0.0)),
                    (f"background-{name}", "wall_s", wall), (f"background-{name}", "cpu_s", cpu),
                    (f"background-{name}", "kb_per_s", nt / wall / 1e3),
                    (f"background-{name}", "kb_per_cpu_s", nt / cpu / 1e3)]
    results += [("background", "false_loci", total_loci), ("background", "false_loci_per_10mb", total_loci / total_nt * 1e7)]
    # The shipped scan threshold was chosen on these genomes, so the counts above are 0 by construction. An estimate
    # on sequence it was not chosen on: the same rule (just above the highest hairpin score) chosen on one half of
    # E. coli, applied to the other half, both ways, from one scan that keeps every candidate locus.
    from deepmir_tools.bundle import load_bundle

    rule = load_bundle(args.model).decision
    low = rule.scan_window_threshold if rule.scan_window_threshold is not None else rule.threshold
    results += [("model", "threshold", rule.threshold), ("model", "scan_window_threshold", low),
                ("model", "scan_threshold", rule.scan_threshold if rule.scan_threshold is not None else rule.threshold)]
    calls, _wall, _cpu = scan(args.model, ECOLI, os.path.join(args.out, "background-ecoli536-low.tsv"), args.threads,
                              ["--threshold", repr(low)])
    nt = sum(len(seq) for _, seq in read_fasta(ECOLI))
    halves = [[c.score for c in calls if (c.start < nt // 2) == first] for first in (True, False)]
    crossed = [sum(s >= max(halves[1 - i], default=low) for s in halves[i]) for i in (0, 1)]
    results += [("background-ecoli536-halves", "candidate_loci", len(calls)),
                ("background-ecoli536-halves", "max_score_first_half", max(halves[0], default=0.0)),
                ("background-ecoli536-halves", "max_score_second_half", max(halves[1], default=0.0)),
                ("background-ecoli536-halves", "false_loci_at_other_halfs_threshold", sum(crossed)),
                ("background-ecoli536-halves", "false_loci_per_10mb_at_other_halfs_threshold", sum(crossed) / nt * 1e7)]


def insert_hairpins(args, split_file: str, label: str) -> tuple[str, list[Site], int]:
    """``--inserts`` hairpins of the split's ``split_file``, a seeded sample, put into E. coli at seeded places and
    strands (after Infernal's rmark): (FASTA written, true sites, nt)."""
    rng = random.Random(args.seed)
    (seqid, genome), = read_fasta(ECOLI)
    genome = genome.upper()
    queries = []
    for head, seq in read_fasta(os.path.join(args.split, split_file)):
        fields = dict(item.split("=", 1) for item in head.split()[1:] if "=" in item)
        queries.append((head.split()[0], fields["name"], seq.upper().replace("U", "T")))
    chosen = rng.sample(queries, min(args.inserts, len(queries)))
    slots = len(genome) // MIN_GAP - 1
    places = sorted(rng.sample(range(1, slots), len(chosen)))
    pieces, sites, last, shift = [], [], 0, 0
    for (name, family, seq), slot in zip(chosen, places):
        at = slot * MIN_GAP + rng.randrange(MIN_GAP // 2)
        strand = rng.choice("+-")
        pieces += [genome[last:at], seq if strand == "+" else revcomp(seq)]
        start = at + shift
        sites.append(Site(seqid.split()[0], start, start + len(seq), strand, family, name))
        shift += len(seq)
        last = at
    pieces.append(genome[last:])
    fasta = os.path.join(args.out, f"{label}.fa")
    with open(fasta, "w") as handle:
        handle.write(f">{seqid.split()[0]} E. coli 536 with {len(sites)} miRBase hairpins of {split_file} inserted\n")
        handle.write("".join(pieces) + "\n")
    with open(os.path.join(args.out, f"{label}-truth.tsv"), "w") as handle:
        handle.write("seqid\tstart\tend\tstrand\tfamily\tname\n")
        handle.writelines(f"{s.seqid}\t{s.start + 1}\t{s.end}\t{s.strand}\t{s.family}\t{s.name}\n" for s in sites)
    return fasta, sites, sum(map(len, pieces))


def inserted_set(args, results: list) -> None:
    sizes = family_sizes(args.split)
    fasta, sites, nt = insert_hairpins(args, "test.fa", "inserted")
    calls, wall, cpu = scan(args.model, fasta, os.path.join(args.out, "inserted.tsv"), args.threads)
    hit = match(sites, calls)
    results += [("inserted", "cpu_s", cpu), ("inserted", "hairpins", len(sites)), ("inserted", "found", len(hit["found"]) / len(sites)),
                ("inserted", "ends_within_20", len(hit["ends"]) / len(sites)),
                ("inserted", "other_strand_loci", len(hit["other_strand"])),
                ("inserted", "loci_elsewhere", len(hit["unmatched"])), ("inserted", "wall_s", wall),
                ("inserted", "kb_per_s", nt / wall / 1e3)]
    for lo, hi, label in SIZE_BINS:
        members = [i for i, s in enumerate(sites) if lo <= sizes.get(s.family, 0) <= hi]
        if members:
            results += [(f"inserted-size-{label}", "hairpins", len(members)),
                        (f"inserted-size-{label}", "found", sum(i in hit["found"] for i in members) / len(members)),
                        (f"inserted-size-{label}", "ends_within_20",
                         sum(i in hit["ends"] for i in members) / len(members))]


def window_set(args, results: list) -> None:
    """What the window threshold costs in sensitivity, on the *validation* hairpins (val.fa: early stopping and the
    classify threshold saw them, the test set is left alone): inserted as the ``inserted`` set inserts the test
    hairpins, scanned with the window threshold at 0.1, each found locus's best window score read off. A locus found
    at 0.1 whose best window scores >= t is found at window threshold t (its windows >= t keep that best window, so
    the same fold and hairpin), so the fraction given for t is a lower bound (windows below t can only have merged
    loci, never made one). The other side of the trade, the candidate loci folded per Mb, is on the summary
    line of ``deepmir-scan`` (``folded``)."""
    fasta, sites, _ = insert_hairpins(args, "val.fa", "window-val")
    calls, _, _ = scan(args.model, fasta, os.path.join(args.out, "window-val.tsv"), args.threads,
                       ["--window-threshold", "0.1"])
    best: dict[int, float] = {}
    for i, site in enumerate(sites):
        for call in calls:
            if (call.seqid == site.seqid and call.strand == site.strand and call.family == site.family
                    and call.start < site.end and call.end > site.start):
                best[i] = max(best.get(i, 0.0), call.window_score)
    results.append(("window-val", "hairpins", len(sites)))
    for level in WINDOW_LEVELS:
        results.append(("window-val", f"found_at_window_threshold_{level:g}",
                        sum(score >= level for score in best.values()) / len(sites)))
    results.append(("window-val", "lowest_window_score_found", min(best.values(), default=float("nan"))))


def ath_sites(gff: str) -> list[Site]:
    sites = []
    with open(gff) as handle:
        for line in handle:
            if line.startswith("#") or not line.strip():
                continue
            f = line.rstrip("\n").split("\t")
            attributes = dict(item.split("=", 1) for item in f[8].split(";") if "=" in item)
            sites.append(Site(f[0], int(f[3]) - 1, int(f[4]), f[6], attributes.get("family", ""), attributes["Name"]))
    return sites


def ath_set(args, results: list) -> None:
    folder = os.path.join(args.data, "genomic", "ath-chr1")
    fasta = os.path.join(folder, "ath_chr1_TAIR10.1.fna.gz")
    sites = ath_sites(os.path.join(folder, "mirbase22.1_ath_hairpins_exact_chr1.gff3"))
    known = model_families(args.heldout_model)
    calls, wall, cpu = scan(args.heldout_model, fasta, os.path.join(args.out, "ath.tsv"), args.threads)
    hit = match(sites, calls)
    nt = sum(len(seq) for _, seq in read_fasta(fasta))
    in_model = [i for i, s in enumerate(sites) if s.family in known]
    unknown = [i for i, s in enumerate(sites) if s.family not in known]
    named_unknown = {i for i in unknown for c in calls if c.strand == sites[i].strand and c.end > sites[i].start
                     and c.start < sites[i].end}
    short = [i for i in in_model if sites[i].end - sites[i].start <= 200]
    results += [("ath", "loci", len(sites)), ("ath", "known_family_loci", len(in_model)),
                ("ath", "found", sum(i in hit["found"] for i in in_model) / len(in_model)),
                ("ath", "ends_within_20", sum(i in hit["ends"] for i in in_model) / len(in_model)),
                ("ath", "known_loci_up_to_200nt", len(short)),
                ("ath", "ends_within_20_up_to_200nt", sum(i in hit["ends"] for i in short) / max(1, len(short))),
                ("ath", "unknown_family_loci", len(unknown)),
                ("ath", "unknown_family_loci_given_a_family", len(named_unknown)),
                ("ath", "other_strand_loci", len(hit["other_strand"])),
                ("ath", "unannotated_loci", len(hit["unmatched"])),
                ("ath", "unannotated_loci_per_mb", len(hit["unmatched"]) / nt * 1e6),
                ("ath", "nt", nt), ("ath", "wall_s", wall), ("ath", "cpu_s", cpu),
                ("ath", "kb_per_s", nt / wall / 1e3), ("ath", "kb_per_cpu_s", nt / cpu / 1e3)]
    with open(os.path.join(args.out, "ath-sites.tsv"), "w") as handle:
        handle.write("name\tfamily\tstart\tend\tstrand\tknown_family\tfound\tends_within_20\n")
        for i, s in enumerate(sites):
            handle.write(f"{s.name}\t{s.family}\t{s.start + 1}\t{s.end}\t{s.strand}\t{int(s.family in known)}\t"
                         f"{int(i in hit['found'])}\t{int(i in hit['ends'])}\n")


def cmsearch_set(args, results: list) -> None:
    """Infernal ``cmsearch`` (the MirMachine way) on the inserted set's genome, with covariance models of a seeded
    subset of the inserted hairpins' families, built from the same training hairpins the shipped model learnt
    (benchmarks/peers/infernal_peer.py: MAFFT, alifold, cmbuild, cmcalibrate -L 0.01; cached). A hit counts when
    cmsearch includes it (E-value inclusion threshold, '!'); its time per Mb and family is extrapolated to all the
    model's families, against deepmir-scan's CPU time per Mb for all of them at once."""
    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "peers"))
    from infernal_peer import InfernalPeer
    from seqs import read_fasta as read_records

    with open(os.path.join(args.out, "inserted-truth.tsv")) as handle:
        sites = [Site(r["seqid"], int(r["start"]) - 1, int(r["end"]), r["strand"], r["family"], r["name"])
                 for r in csv.DictReader(handle, delimiter="\t")]
    with open(os.path.join(args.split, "families.tsv")) as handle:
        accession = {r["name"]: r["accession"] for r in csv.DictReader(handle, delimiter="\t")}
    chosen = sorted(random.Random(args.seed).sample(sorted({s.family for s in sites}), args.cm_families))
    wanted = {accession[name] for name in chosen}
    train = [r for r in read_records(os.path.join(args.split, "train.fa")) if r.family in wanted]
    peer = InfernalPeer(os.path.expanduser("~/.cache/deepmir-peers"), log=lambda m: print(m, file=sys.stderr))
    models, _build, _built = peer.build_models(train)
    database = os.path.join(args.out, "cmsearch-families.cm")
    with open(database, "wb") as out:
        for family in sorted(models):
            with open(models[family], "rb") as handle:
                shutil.copyfileobj(handle, out)
    fasta = os.path.join(args.out, "inserted.fa")
    table = os.path.join(args.out, "cmsearch.tbl")
    cpu, wall = child_cpu(), time.perf_counter()
    subprocess.run(["cmsearch", "--cpu", "1", "--tblout", table, "-o", os.devnull, database, fasta], check=True)
    wall, cpu = time.perf_counter() - wall, child_cpu() - cpu
    name_of = {acc: name for name, acc in accession.items()}
    calls = []
    with open(table) as handle:
        for line in handle:
            if line.startswith("#"):
                continue
            f = line.split()  # target, acc, query, acc, mdl, from, to, seq from, seq to, strand, ..., E-value, inc
            if f[16] != "!":
                continue
            a, b = int(f[7]), int(f[8])
            calls.append(Call(f[0], min(a, b) - 1, max(a, b), f[9], name_of.get(f[2], f[2]), float(f[14])))
    mine = [s for s in sites if s.family in chosen]
    hit = match(mine, calls)
    deepmir = match(mine, scan_calls(os.path.join(args.out, "inserted.tsv")))
    nt = sum(len(seq) for _, seq in read_fasta(fasta))
    families = len(model_families(args.model))
    per_mb_family = cpu / (nt / 1e6) / len(models)
    deepmir_cpu = next(v for s, m, v in results if s == "inserted" and m == "cpu_s")
    results += [("cmsearch", "families", len(models)), ("cmsearch", "hairpins", len(mine)),
                ("cmsearch", "found", len(hit["found"]) / len(mine)),
                ("cmsearch", "ends_within_20", len(hit["ends"]) / len(mine)),
                ("cmsearch", "loci_elsewhere", len(hit["unmatched"])),
                ("cmsearch", "cpu_s", cpu), ("cmsearch", "wall_s", wall),
                ("cmsearch", "cpu_s_per_mb_per_family", per_mb_family),
                ("cmsearch", f"cpu_s_per_mb_all_{families}_families", per_mb_family * families),
                ("deepmir-same-families", "found", len(deepmir["found"]) / len(mine)),
                ("deepmir-same-families", "ends_within_20", len(deepmir["ends"]) / len(mine)),
                ("deepmir", f"cpu_s_per_mb_all_{families}_families", deepmir_cpu / (nt / 1e6)),
                ("deepmir", "speedup_per_core_vs_cmsearch_all_families",
                 per_mb_family * families / (deepmir_cpu / (nt / 1e6)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="hairpin")
    parser.add_argument("--heldout-model", default=os.path.join(
        REPO, "benchmarks/results/default-models/scan-heldout-ath/hairpin.npz"))
    parser.add_argument("--split", default=os.path.join(REPO, "benchmarks/results/default-models/hairpin-split"),
                        help="the shipped model's split (benchmarks/default_models_splits.sh builds it)")
    parser.add_argument("--data", default=os.environ.get("DEEPMIR_DATA", os.path.join(REPO, "..", "shared", "data")))
    parser.add_argument("--out", default=os.path.join(REPO, "benchmarks/results/scan"))
    parser.add_argument("--inserts", type=int, default=400)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cm-families", type=int, default=6, help="families of the cmsearch subset")
    parser.add_argument("--sets", default="background,inserted,cmsearch,ath")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "reads"))
    from run_reads import cpu_flags  # the read benchmark's: CPU model and vector extensions (lscpu)

    results: list[tuple[str, str, float]] = []
    sets = {"background": background_set, "inserted": inserted_set, "cmsearch": cmsearch_set, "ath": ath_set,
            "window": window_set}
    for name in args.sets.split(","):
        started = time.perf_counter()
        sets[name](args, results)
        print(f"{name}: done in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    with open(os.path.join(args.out, "results.tsv"), "w") as handle:
        handle.write(f"# {cpu_flags()}; model {args.model}; held-out model {args.heldout_model}\n")
        handle.write("set\tmetric\tvalue\n")
        handle.writelines(f"{s}\t{m}\t{v:.6g}\n" if isinstance(v, float) else f"{s}\t{m}\t{v}\n"
                          for s, m, v in results)
    for s, m, v in results:
        print(f"{s}\t{m}\t{v:.4g}" if isinstance(v, float) else f"{s}\t{m}\t{v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
