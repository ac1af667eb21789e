"""Several processes at once, and determinism across runs and thread counts (installed executables).

- Two ``deepmir-classify`` processes on the same model at the same time (one with ``--threads 1``, one
  with ``--threads 2``) write byte-identical TSV and counts files, identical to a later sequential run
  (in the test process);
  the model files are only read (same bytes and modification time, no file appears beside them), and the
  same holds for the models shipped inside the package, where present.
- ``deepmir-encode`` writes byte-identical NPZ files across runs and across ``--threads 1/2``.
- Two ``deepmir-train`` processes with the same options and seed write byte-identical model bundles.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest
from conftest import REPO, TEST_DATA, read_fasta, read_tsv, tool_path

MODEL = TEST_DATA / "tiny-model.npz"


def fingerprint(path: Path) -> tuple[str, int, int]:
    info = path.stat()
    return hashlib.sha256(path.read_bytes()).hexdigest(), info.st_mtime_ns, info.st_size


def start(name: str, *args) -> subprocess.Popen:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    return subprocess.Popen([tool_path(name), *map(str, args)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)


def finish(process: subprocess.Popen) -> None:
    _, err = process.communicate(timeout=300)
    assert process.returncode == 0, err.decode()


def shipped_models() -> list[Path]:
    return sorted((REPO / "deepmir_tools" / "models").glob("*.npz"))


@pytest.fixture(scope="module")
def mixed_input(tmp_path_factory) -> Path:
    """Hairpins, a tRNA, a 251-nt riboswitch and reads (some repeated), all real, in one FASTA."""
    folder = tmp_path_factory.mktemp("input")
    lines = (TEST_DATA / "reads-bovine40.fq").read_text().splitlines()
    reads = "".join(f">{lines[k][1:].split()[0]}_x{k // 4 + 1}\n{lines[k + 1]}\n" for k in range(0, len(lines), 4))
    test_ids = {rid for rid, _ in read_fasta(TEST_DATA / "tiny" / "test.fa")}
    hsa = "".join(f">{rid}\n{seq}\n" for rid, seq in read_fasta(TEST_DATA / "hairpins-hsa30.fa") if rid not in test_ids)
    text = ((TEST_DATA / "tiny" / "test.fa").read_text() + hsa + (TEST_DATA / "trna-hsa-Ala-AGC-1-1.fa").read_text()
            + (TEST_DATA / "riboswitch-251nt.fa").read_text() + reads)
    path = folder / "mixed.fa"
    path.write_text(text)
    return path


@pytest.mark.slow
def test_two_classify_processes_at_once(tmp_path, mixed_input, run_main):
    models = [MODEL] + shipped_models()
    before = {path: fingerprint(path) for path in models}
    beside = {path.parent: sorted(p.name for p in path.parent.iterdir()) for path in models}
    options = ["--long", "window", "--window-step", "25", "--top-k", "3", "-q"]
    running = [start("deepmir-classify", "-m", MODEL, mixed_input, "-o", tmp_path / f"t{n}.tsv", "--counts",
                     tmp_path / f"c{n}.tsv", "--threads", str(n), *options) for n in (1, 2)]
    for process in running:
        finish(process)
    # the sequential reference: the same command, run afterwards in this process (TensorFlow already loaded)
    assert run_main("deepmir-classify", "-m", MODEL, mixed_input, "-o", tmp_path / "seq.tsv", "--counts",
                    tmp_path / "cseq.tsv", *options).code == 0
    sequential = (tmp_path / "seq.tsv").read_bytes()
    assert (tmp_path / "t1.tsv").read_bytes() == (tmp_path / "t2.tsv").read_bytes() == sequential
    assert (tmp_path / "c1.tsv").read_bytes() == (tmp_path / "c2.tsv").read_bytes() == (tmp_path / "cseq.tsv").read_bytes()
    _, columns, rows = read_tsv(tmp_path / "seq.tsv")
    assert len(rows) == len(read_fasta(mixed_input)) > 100 and columns[-1] == "offset"
    assert rows[-1]["id"].endswith("_x40") and "0" not in {row["offset"] for row in rows if row["length"] == "251"}
    for path in shipped_models():  # the shipped model, where the package has one, is only read too
        finish(start("deepmir-classify", "-m", path.stem, mixed_input, "-o", tmp_path / f"{path.stem}.tsv", "-q"))
    assert {path: fingerprint(path) for path in models} == before
    assert {folder: sorted(p.name for p in folder.iterdir()) for folder in beside} == beside
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["t1.tsv", "t2.tsv", "c1.tsv", "c2.tsv", "seq.tsv", "cseq.tsv"] + [f"{p.stem}.tsv" for p in shipped_models()])


@pytest.mark.parametrize("encoding", ["onehot", "mixed"])
def test_encode_is_byte_identical_across_runs_and_threads(tmp_path, encoding):
    source = tmp_path / "in.fa"
    source.write_bytes((TEST_DATA / "hairpins-iupac.fa").read_bytes() + (TEST_DATA / "hsa-let-7a-1.fa").read_bytes()
                       + (TEST_DATA / "riboswitch-251nt.fa").read_bytes())
    extra = ["--long", "window", "-e", encoding, "-q"]
    running = [start("deepmir-encode", source, "-o", tmp_path / f"{n}.npz", "--threads", str(n), *extra) for n in (1, 2)]
    for process in running:
        finish(process)
    finish(start("deepmir-encode", source, "-o", tmp_path / "again.npz", "--threads", "2", *extra))
    first = (tmp_path / "1.npz").read_bytes()
    assert first[:4] == b"PK\x03\x04"
    assert (tmp_path / "2.npz").read_bytes() == first and (tmp_path / "again.npz").read_bytes() == first


@pytest.mark.slow
def test_two_training_processes_write_identical_bundles(tmp_path):
    args = [TEST_DATA / "tiny" / "train.fa", "--filters", "8", "--dense", "16", "--kernel-sizes", "2,8",
            "--epochs", "1", "--val-fraction", "0.1", "--seed", "3", "--name", "same", "-q"]
    running = [start("deepmir-train", *args, "-o", tmp_path / f"{n}.npz") for n in (1, 2)]
    for process in running:
        finish(process)
    first = (tmp_path / "1.npz").read_bytes()
    assert len(first) > 1000 and (tmp_path / "2.npz").read_bytes() == first
