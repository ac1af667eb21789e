"""Infernal as a family classifier: one covariance model per family, built from the training split.

Per family: align the training sequences with MAFFT (``--auto``; at most ``max_seqs`` of them,
a seeded sample), predict the consensus structure with ViennaRNA's alifold (RNAalifold binary if
present, else the ``RNA`` Python module), write Stockholm with ``#=GC RF`` (columns with at most
50% gaps) and ``#=GC SS_cons`` (alifold pairs whose both columns are RF columns), ``cmbuild --hand``,
then ``cmcalibrate`` (``-L 0.01`` by default: ~10 s a model, rough E-values; ``full`` is ~30 min
a model). Models are cached under ``<cache>/infernal/<sha256 of inputs, versions and options>``.

Classification: ``cmscan --cpu 1`` against the models of the experiment's families (the queries
shared among ``jobs`` such processes; CPU time is their sum), two rules: the paper's lowest E-value
hit, and the best bit score hit. ROC score: best bit score (0 if no hit).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from typing import Sequence

import proc
from peers import Peer, PeerResult
from proc import PeerError, SelfTimer, Timing
from seqs import Record, read_fasta, write_fasta

BUILD_FORMAT = 1  # bump when the build recipe changes (invalidates the cache)


def tool_versions() -> dict:
    """Versions of the programs the models depend on (part of the cache key)."""
    versions = {}
    head = proc.output(["cmbuild", "-h"]).splitlines()
    versions["infernal"] = head[1].lstrip("# ").strip() if len(head) > 1 else "?"
    versions["mafft"] = proc.output(["mafft", "--version"]).strip() or "?"
    try:
        import RNA  # ViennaRNA
        versions["viennarna"] = RNA.__version__
    except ImportError:
        versions["viennarna"] = "?"
    return versions


# ------------------------------------------------------------------------------------ model building

def _alifold(aligned: list[str]) -> tuple[str, Timing, str]:
    """Consensus dot-bracket of aligned sequences, the time it took, and which alifold ran."""
    if shutil.which("RNAalifold"):
        with tempfile.TemporaryDirectory() as tmp:
            aln, out = os.path.join(tmp, "in.aln"), os.path.join(tmp, "out.txt")
            with open(aln, "w") as handle:
                handle.write("CLUSTAL W\n\n")
                for i, seq in enumerate(aligned):
                    handle.write(f"s{i} {seq}\n")
            with open(out, "w") as handle:
                timing = proc.run(["RNAalifold", "--noPS", aln], stdout=handle, cwd=tmp, label="RNAalifold")
            with open(out) as handle:
                structure = handle.read().splitlines()[1].split()[0]
        return structure, timing, "RNAalifold"
    import RNA
    with SelfTimer() as timer:
        structure, _energy = RNA.alifold(aligned)
    timer.timing.steps.append(("RNA.alifold", timer.timing.cpu_s, timer.timing.wall_s))
    return structure, timer.timing, f"RNA.alifold (ViennaRNA {RNA.__version__})"


def _pairs(structure: str) -> dict[int, int]:
    stack, pairs = [], {}
    for i, char in enumerate(structure):
        if char == "(":
            stack.append(i)
        elif char == ")":
            j = stack.pop()
            pairs[i], pairs[j] = j, i
    return pairs


def stockholm(aligned: list[str], structure: str) -> str:
    """Stockholm text with RF (<= 50% gaps) and SS_cons restricted to pairs between RF columns."""
    width = len(aligned[0])
    gaps = [sum(seq[c] in "-." for seq in aligned) for c in range(width)]
    rf = ["x" if gaps[c] <= 0.5 * len(aligned) else "." for c in range(width)]
    pairs = _pairs(structure)
    ss = []
    for c in range(width):
        partner = pairs.get(c)
        if partner is None or rf[c] != "x" or rf[partner] != "x":
            ss.append("." if rf[c] != "x" else ":")
        else:
            ss.append("<" if partner > c else ">")
    names = [f"s{i}" for i in range(len(aligned))]
    pad = max(len("#=GC SS_cons"), max(len(n) for n in names)) + 1
    lines = ["# STOCKHOLM 1.0", ""]
    lines += [f"{name:<{pad}s}{seq}" for name, seq in zip(names, aligned)]
    lines += [f"{'#=GC SS_cons':<{pad}s}{''.join(ss)}", f"{'#=GC RF':<{pad}s}{''.join(rf)}", "//", ""]
    return "\n".join(lines)


def _read_aligned(path: str) -> list[str]:
    return [r.seq.replace("T", "U").replace(".", "-") for r in read_fasta(path)]


def build_model_safe(job: dict) -> dict:
    """:func:`build_model`, with a failure reported as {family, error} instead of raised."""
    try:
        return build_model(job)
    except (PeerError, OSError, ValueError, IndexError) as err:
        return {"family": job["family"], "error": str(err)}


def build_model(job: dict) -> dict:
    """Build (or fetch from the cache) the CM of one family. Runs in a worker process.

    ``job``: family, seqs, cache_dir, calibration ('fast' or 'full'), max_seqs, seed.
    Returns {family, cm, cpu_s, wall_s, cached, nseq, alifold}.
    """
    cache_dir = job["cache_dir"]
    cm_path = os.path.join(cache_dir, "model.cm")
    meta_path = os.path.join(cache_dir, "meta.json")
    if os.path.exists(cm_path) and os.path.exists(meta_path):
        with open(meta_path) as handle:
            meta = json.load(handle)
        return dict(meta, cm=cm_path, cached=True)
    tmp = f"{cache_dir}.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    seqs = list(job["seqs"])
    if len(seqs) > job["max_seqs"]:
        seqs = random.Random(job["seed"]).sample(seqs, job["max_seqs"])
    timing = Timing()
    raw = os.path.join(tmp, "train.fa")
    write_fasta(raw, ((f"m{i}", s.replace("T", "U")) for i, s in enumerate(seqs)))
    aln_fa = os.path.join(tmp, "aln.fa")
    if len(seqs) > 1:
        with open(aln_fa, "w") as out:
            timing.add(proc.run(["mafft", "--quiet", "--thread", "1", "--auto", raw], stdout=out, label="mafft"))
    else:
        shutil.copy(raw, aln_fa)
    aligned = [s.upper() for s in _read_aligned(aln_fa)]
    structure, alifold_time, alifold_tool = _alifold(aligned)
    timing.add(alifold_time)
    sto = os.path.join(tmp, "aln.sto")
    with open(sto, "w") as out:
        out.write(stockholm(aligned, structure))
    cm = os.path.join(tmp, "model.cm")
    timing.add(proc.run(["cmbuild", "--hand", "-F", "-n", job["family"], cm, sto], label="cmbuild"))
    calibrate = ["cmcalibrate", "--cpu", "1"] + (["-L", "0.01"] if job["calibration"] == "fast" else []) + [cm]
    timing.add(proc.run(calibrate, label="cmcalibrate"))
    meta = {"family": job["family"], "nseq": len(seqs), "cpu_s": timing.cpu_s, "wall_s": timing.wall_s,
            "steps": timing.steps, "alifold": alifold_tool, "calibration": job["calibration"]}
    with open(os.path.join(tmp, "meta.json"), "w") as handle:
        json.dump(meta, handle, indent=1)
    for scratch in ("train.fa",):
        os.unlink(os.path.join(tmp, scratch))
    shutil.rmtree(cache_dir, ignore_errors=True)
    os.rename(tmp, cache_dir)
    return dict(meta, cm=cm_path, cached=False)


# --------------------------------------------------------------------------------------------- peer

class InfernalPeer(Peer):
    """cmscan against per-family CMs; gives two rows (lowest E-value, best bit score)."""

    name = "infernal"

    def __init__(self, cache_root: str, jobs: int = 1, calibration: str = "fast", max_seqs: int = 200,
                 seed: int = 7, total_families: int | None = None, log=print):
        self.cache_root = cache_root
        self.jobs = max(1, jobs)
        self.calibration = calibration
        self.max_seqs = max_seqs
        self.seed = seed
        self.total_families = total_families
        self.log = log
        self._versions: dict | None = None
        self.failed: list[str] = []

    def available(self) -> str:
        missing = [exe for exe in ("mafft", "cmbuild", "cmcalibrate", "cmpress", "cmscan") if shutil.which(exe) is None]
        if missing:
            return f"missing {', '.join(missing)} (apt-get install infernal mafft)"
        if shutil.which("RNAalifold") is None:
            try:
                import RNA  # noqa: F401
            except ImportError:
                return "neither RNAalifold nor ViennaRNA's Python module (pip install ViennaRNA)"
        return ""

    def versions(self) -> dict:
        if self._versions is None:
            self._versions = tool_versions()
        return self._versions

    def version(self) -> str:
        v = self.versions()
        infernal = v["infernal"].replace("INFERNAL", "").split("(")[0].strip()
        return f"{infernal} (mafft {v['mafft'].split()[0].lstrip('v')}, ViennaRNA {v['viennarna']})"

    def _job(self, family: str, seqs: list[str]) -> dict:
        key = json.dumps({"format": BUILD_FORMAT, "family": family, "seqs": sorted(seqs), "versions": self.versions(),
                          "calibration": self.calibration, "max_seqs": self.max_seqs, "seed": self.seed})
        digest = hashlib.sha256(key.encode()).hexdigest()[:20]
        return {"family": family, "seqs": seqs, "cache_dir": os.path.join(self.cache_root, "infernal", digest),
                "calibration": self.calibration, "max_seqs": self.max_seqs, "seed": self.seed}

    def build_models(self, train: Sequence[Record]) -> tuple[dict, Timing, int]:
        """family -> CM path; build timing summed over families (as recorded when built); count built now."""
        by_family: dict[str, list[str]] = {}
        for r in train:
            by_family.setdefault(r.family, []).append(r.seq)
        jobs = [self._job(family, seqs) for family, seqs in sorted(by_family.items())]
        todo = [job for job in jobs if not os.path.exists(os.path.join(job["cache_dir"], "model.cm"))]
        if todo:
            self.log(f"  infernal: building {len(todo)} of {len(jobs)} family models "
                     f"({self.calibration} calibration, {self.jobs} job(s))")
        os.makedirs(os.path.join(self.cache_root, "infernal"), exist_ok=True)
        if self.jobs > 1 and len(todo) > 1:
            with ProcessPoolExecutor(max_workers=self.jobs) as pool:
                results = list(pool.map(build_model_safe, jobs))
        else:
            results = []
            for done, job in enumerate(jobs, 1):
                results.append(build_model_safe(job))
                if not results[-1].get("cached", True) and done % 10 == 0:
                    self.log(f"    {done}/{len(jobs)} models")
        failed = [r for r in results if "error" in r]
        for r in failed:
            self.log(f"  infernal: no model for {r['family']}: {r['error']}")
        self.failed = [r["family"] for r in failed]
        if len(failed) == len(results):
            raise PeerError(f"no covariance model could be built ({failed[0]['error']})")
        build = Timing()
        for result in results:
            if "error" not in result:
                build.add(Timing(result["cpu_s"], result["wall_s"]))
        return {r["family"]: r["cm"] for r in results if "error" not in r}, build, len(todo)

    def run(self, train: Sequence[Record], queries_fa: str, workdir: str) -> list[PeerResult]:
        os.makedirs(workdir, exist_ok=True)
        models, build, built_now = self.build_models(train)
        db = os.path.join(workdir, "families.cm")
        with open(db, "wb") as out:
            for family in sorted(models):
                with open(models[family], "rb") as handle:
                    shutil.copyfileobj(handle, out)
        build.add(proc.run(["cmpress", "-F", db], label="cmpress"))
        ids = [r.id for r in read_fasta(queries_fa)]
        query, tables = self._scan(db, queries_fa, workdir)
        by_evalue, by_bits = {}, {}
        for family, qid, bits, evalue in (hit for tbl in tables for hit in _tblout_hits(tbl)):
            if qid not in by_evalue or (evalue, -bits) < (by_evalue[qid][2], -by_evalue[qid][1]):
                by_evalue[qid] = (family, bits, evalue)
            if qid not in by_bits or bits > by_bits[qid][1]:
                by_bits[qid] = (family, bits)
        best_bits = {qid: by_bits.get(qid, (None, 0.0))[1] for qid in ids}
        # both rules share the ROC score (best bit score) and the timing; they differ in the label
        pred_e = {qid: (by_evalue[qid][0] if qid in by_evalue else None, best_bits[qid]) for qid in ids}
        pred_b = {qid: by_bits.get(qid, (None, 0.0)) for qid in ids}
        n = len(models) + len(self.failed)  # a family whose build failed stays in the task (its queries are missed)
        scale, note = 1.0, ""
        if self.failed:
            note = f"no CM for {len(self.failed)} families (build failed: {', '.join(self.failed[:5])}); "
        if self.total_families and n < self.total_families:
            scale = self.total_families / n
            note += f"CMs for {n} of {self.total_families} families; ms/query extrapolated x{scale:.2f} (proportional); "
        calib = "cmcalibrate -L 0.01 (rough E-values)" if self.calibration == "fast" else "full cmcalibrate"
        cached = built_now == 0
        return [
            PeerResult("infernal (lowest E)", self.version(), n, pred_e, query, build, time_scale=scale,
                       note=note + f"cmscan --cpu 1; lowest E-value hit (paper's rule); {calib}", cached_build=cached),
            PeerResult("infernal (best bits)", self.version(), n, pred_b, query, build, time_scale=scale,
                       note=note + f"same cmscan run; best bit-score hit; {calib}", cached_build=cached),
        ]

    def _scan(self, db: str, queries_fa: str, workdir: str) -> tuple[Timing, list[str]]:
        """``cmscan --cpu 1`` over the queries, shared among ``jobs`` processes (every ``jobs``-th query
        each, so that members and negatives are spread evenly; each on its own core) to save wall time; the
        CPU time is their sum, so the per-query cost is that of a single-core run. Returns the timing and
        the --tblout files."""
        records = read_fasta(queries_fa)
        parts = max(1, min(self.jobs, len(records)))
        if parts == 1:
            chunks = [queries_fa]
        else:
            chunks = [os.path.join(workdir, f"queries.part{i}.fa") for i in range(parts)]
            for i, path in enumerate(chunks):
                write_fasta(path, ((r.id, r.seq) for r in records[i::parts]))
        tables = [os.path.join(workdir, f"hits.part{i}.tbl") for i in range(len(chunks))]
        cmds = [["cmscan", "--cpu", "1", "--tblout", tbl, "-o", os.devnull, db, chunk]
                for chunk, tbl in zip(chunks, tables)]
        return proc.run_parallel(cmds, label="cmscan"), tables


def _tblout_hits(path: str):
    """(family, query id, bit score, E-value) of each hit line of a cmscan --tblout file."""
    with open(path) as handle:
        for line in handle:
            if not line.startswith("#"):
                cols = line.split()
                yield cols[0], cols[2], float(cols[14]), float(cols[15])
