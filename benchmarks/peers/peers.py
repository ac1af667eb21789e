"""The tools compared: BLASTN, the k-mer baseline and deepmir (Infernal lives in infernal_peer.py).

Every peer is given the training records and the query file of one experiment and returns one
or more :class:`PeerResult` (prediction and score per query id, plus build and query timings).
A prediction of ``None`` means the tool gave no answer (e.g. no BLAST hit): it counts as wrong
for accuracy and as score 0 for the ROC.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Sequence

from deepmir_tools.npzformat import sha256_of_file

import proc
from proc import Timing
from seqs import Record, read_fasta, write_fasta

HERE = os.path.dirname(os.path.abspath(__file__))


@dataclass
class PeerResult:
    """One row's worth of raw results."""

    tool: str
    version: str
    families: int  # families in the tool's database / model
    predictions: dict  # query id -> (family or None, score)
    query: Timing  # classifying the query file
    build: Timing = field(default_factory=Timing)  # database / model building (from cache: as recorded)
    note: str = ""
    time_scale: float = 1.0  # ms/query is multiplied by this (Infernal on a family subset)
    cached_build: bool = False


class Peer:
    """Interface: ``available()`` -> str ('' if usable, else why not) and ``run(...)``."""

    name = "peer"

    def available(self) -> str:
        return ""

    def version(self) -> str:
        return ""

    def check(self) -> str:
        """:meth:`available`, asked once (probing a CLI can take seconds)."""
        if not hasattr(self, "_why_not"):
            self._why_not = self.available()
        return self._why_not

    def run(self, train: Sequence[Record], queries_fa: str, workdir: str) -> list[PeerResult]:
        raise NotImplementedError


def _families_of(train: Sequence[Record]) -> int:
    return len({r.family for r in train})


# --------------------------------------------------------------------------------------------- BLAST

class BlastPeer(Peer):
    """``makeblastdb`` of the training sequences; ``blastn -task blastn -max_target_seqs 5`` (as a speed-minded
    user runs it: the same best-hit accuracy for less CPU than BLAST's default 500); best hit's family."""

    name = "blastn"

    def __init__(self, threads: int = 1, max_target_seqs: int = 5):
        self.threads = threads
        self.max_target_seqs = max_target_seqs

    def available(self) -> str:
        missing = [exe for exe in ("makeblastdb", "blastn") if shutil.which(exe) is None]
        return f"missing {', '.join(missing)} (apt-get install ncbi-blast+)" if missing else ""

    def version(self) -> str:
        first = proc.output(["blastn", "-version"]).splitlines()
        return first[0].split(":", 1)[-1].strip() if first else "?"

    def run(self, train: Sequence[Record], queries_fa: str, workdir: str) -> list[PeerResult]:
        os.makedirs(workdir, exist_ok=True)
        subject_family = {f"s{i}": r.family for i, r in enumerate(train)}
        db_fa = os.path.join(workdir, "db.fa")
        # BLAST wants DNA letters; ids are short so that sseqid comes back verbatim
        write_fasta(db_fa, ((f"s{i}", r.seq) for i, r in enumerate(train)), dna=True)
        query_dna = os.path.join(workdir, "queries.dna.fa")
        write_fasta(query_dna, ((r.id, r.seq) for r in read_fasta(queries_fa)), dna=True)
        db = os.path.join(workdir, "db")
        build = proc.run(["makeblastdb", "-in", db_fa, "-dbtype", "nucl", "-out", db], label="makeblastdb")
        hits_path = os.path.join(workdir, "hits.tsv")
        with open(hits_path, "w") as hits:
            query = proc.run(["blastn", "-task", "blastn", "-num_threads", str(self.threads),
                              "-max_target_seqs", str(self.max_target_seqs), "-query", query_dna,
                              "-db", db, "-outfmt", "6 qseqid sseqid bitscore evalue"], stdout=hits, label="blastn")
        best: dict = {}
        with open(hits_path) as handle:
            for line in handle:
                qid, sid, bits, _evalue = line.rstrip("\n").split("\t")
                score = float(bits)
                if qid not in best or score > best[qid][1]:
                    best[qid] = (subject_family[sid], score)
        predictions = {r.id: best.get(r.id, (None, 0.0)) for r in read_fasta(queries_fa)}
        return [PeerResult(self.name, self.version(), _families_of(train), predictions, query, build,
                           note=f"-task blastn -max_target_seqs {self.max_target_seqs} -num_threads {self.threads}; "
                                "best bitscore; no hit = rejected")]


# --------------------------------------------------------------------------------------- k-mer baseline

class KmerPeer(Peer):
    """kmer_baseline.py run as a command (so its timing includes start-up, like the other tools)."""

    name = "kmer6-centroid"

    def __init__(self, k: int = 6):
        self.k = k
        self.name = f"kmer{k}-centroid"

    def version(self) -> str:
        import numpy
        return f"numpy {numpy.__version__}"

    def run(self, train: Sequence[Record], queries_fa: str, workdir: str) -> list[PeerResult]:
        os.makedirs(workdir, exist_ok=True)
        script = os.path.join(HERE, "kmer_baseline.py")
        train_fa = os.path.join(workdir, "train.fa")
        with open(train_fa, "w") as out:
            for r in train:
                out.write(f">{r.id} family={r.family}\n{r.seq}\n")
        model = os.path.join(workdir, "model.npz")
        env = proc.single_thread_env()
        build = proc.run([sys.executable, script, "fit", train_fa, "-o", model, "-k", str(self.k)],
                         env=env, label="kmer fit")
        out_tsv = os.path.join(workdir, "predictions.tsv")
        query = proc.run([sys.executable, script, "classify", model, queries_fa, "-o", out_tsv],
                         env=env, label="kmer classify")
        predictions = {}
        with open(out_tsv) as handle:
            for line in handle:
                if line.startswith("#"):
                    continue
                qid, family, score = line.rstrip("\n").split("\t")[:3]
                predictions[qid] = (family or None, float(score))
        return [PeerResult(self.name, self.version(), _families_of(train), predictions, query, build,
                           note=f"cosine to L2-normalised {self.k}-mer family centroids; score = max cosine")]


# ------------------------------------------------------------------------------------------- deepmir

def _deepmir_exe(name: str) -> str | None:
    beside = os.path.join(os.path.dirname(sys.executable), name)
    if os.access(beside, os.X_OK):
        return beside
    return shutil.which(name)


class DeepmirPeer(Peer):
    """``deepmir-train`` on the training split (cached), ``deepmir-classify`` on the queries.

    One instance per thread setting; instances share the trained model through the cache.
    """

    name = "deepmir"

    def __init__(self, threads: int, cache_root: str, train_threads: int | None = None,
                 train_args: Sequence[str] = (), classify_args: Sequence[str] = (), validation: str | None = None,
                 reuse_model: str | None = None):
        self.threads = threads
        self.train_threads = train_threads or os.cpu_count() or 1
        self.cache_root = cache_root
        self.train_args = list(train_args)
        self.classify_args = list(classify_args)
        self.validation = validation
        self.name = f"deepmir ({threads} thread{'s' if threads != 1 else ''})"
        self.reuse_model = reuse_model
        self.model_path: str | None = None

    def available(self) -> str:
        for exe in ("deepmir-train", "deepmir-classify"):
            path = _deepmir_exe(exe)
            if path is None:
                return f"{exe} not installed"
            probe = subprocess.run([path, "--help"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if probe.returncode != 0:
                return f"{exe} --help fails (CLI not ready?)"
        return ""

    def version(self) -> str:
        if not hasattr(self, "_version"):
            text = proc.output([_deepmir_exe("deepmir-classify") or "deepmir-classify", "--version"]).strip()
            self._version = text.split()[-1] if text else "?"
        return self._version

    def train(self, train: Sequence[Record], workdir: str) -> tuple[str, Timing, bool]:
        """Trained model path (from the cache when the same data and options were trained before)."""
        os.makedirs(workdir, exist_ok=True)
        train_fa = os.path.join(workdir, "train.fa")
        with open(train_fa, "w") as out:
            for r in train:
                out.write(f">{r.id} family={r.family} name={r.name}\n{r.seq}\n")
        # files named in the extra training arguments (e.g. --background FASTA) are part of the key too
        inputs = [train_fa] + ([self.validation] if self.validation else []) + [
            arg for arg in self.train_args if os.path.isfile(arg)]
        key = hashlib.sha256(json.dumps({"data": [sha256_of_file(path) for path in inputs], "version": self.version(),
                                         "args": self.train_args}).encode()).hexdigest()[:20]
        cache = os.path.join(self.cache_root, "deepmir", key)
        model = os.path.join(cache, "model.npz")
        meta_path = os.path.join(cache, "meta.json")
        if os.path.exists(model) and os.path.exists(meta_path):
            with open(meta_path) as handle:
                meta = json.load(handle)
            return model, Timing(meta["cpu_s"], meta["wall_s"]), True
        tmp = cache + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        cmd = [_deepmir_exe("deepmir-train"), train_fa, "-o", os.path.join(tmp, "model.npz"),
               "--threads", str(self.train_threads), "--log", os.path.join(tmp, "train-log.tsv")]
        if self.validation:
            cmd += ["--validation", self.validation]
        timing = proc.run(cmd + self.train_args, label="deepmir-train")
        with open(os.path.join(tmp, "meta.json"), "w") as handle:
            json.dump({"cpu_s": timing.cpu_s, "wall_s": timing.wall_s, "cmd": cmd[1:] + self.train_args}, handle)
        shutil.rmtree(cache, ignore_errors=True)
        os.rename(tmp, cache)
        return model, timing, False

    def run(self, train: Sequence[Record], queries_fa: str, workdir: str) -> list[PeerResult]:
        if self.reuse_model:
            model, build, cached = self.reuse_model, Timing(float("nan"), float("nan")), False
        else:
            model, build, cached = self.train(train, os.path.join(workdir, "train"))
        self.model_path = model
        os.makedirs(workdir, exist_ok=True)
        out_tsv = os.path.join(workdir, f"classify-t{self.threads}.tsv")
        env = proc.single_thread_env() if self.threads == 1 else None
        cmd = [_deepmir_exe("deepmir-classify"), queries_fa, "-m", model, "-o", out_tsv,
               "--threads", str(self.threads), "--no-reject"] + self.classify_args
        query = proc.run(cmd, env=env, label="deepmir-classify")
        predictions = read_classify_tsv(out_tsv)
        note = f"deepmir-classify --threads {self.threads} --no-reject {' '.join(self.classify_args)}".strip()
        note += "; score = softmax of the top family"
        if self.reuse_model:
            note += f"; model {os.path.basename(self.reuse_model)} given (not trained by this run)"
        elif self.train_args:
            shown = [os.path.basename(arg) if os.path.isfile(arg) else arg for arg in self.train_args]
            note += f"; deepmir-train {' '.join(shown)}"
        return [PeerResult(self.name, self.version(), _families_of(train), predictions, query, build,
                           note=note, cached_build=cached)]


def read_classify_tsv(path: str) -> dict:
    """query id -> (family accession or None, score) from a deepmir-classify TSV (v1 columns)."""
    predictions = {}
    with open(path) as handle:
        for line in handle:
            if line.startswith("#") or not line.strip():
                continue
            cols = line.rstrip("\n").split("\t")
            if cols[0] == "id":  # a column-header line, if the TSV has one
                continue
            family = cols[2] if len(cols) > 2 and cols[2] not in ("", "-", "NA", "*") else None
            score = float(cols[4]) if len(cols) > 4 and cols[4] not in ("", "-", "NA") else 0.0
            # windowed long inputs may give several lines per id: keep the best-scoring one
            if cols[0] not in predictions or score > predictions[cols[0]][1]:
                predictions[cols[0]] = (family, score)
    return predictions
