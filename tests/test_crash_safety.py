"""Killing deepmir-classify and deepmir-encode in the middle of a run never leaves a partial output file.

Outputs are written to a temporary ``.deepmir-tmp-*`` file beside the target and renamed at the end
(deepmir_tools.atomic). The input here is large enough for the tools to be busy for many seconds: 200,000
distinct 18-30 nt pieces of the real hairpins in ``test-data/`` (what small RNA-seq reads of those hairpins
look like). Each test starts the installed executable, waits until its temporary output file exists
(classify: until rows have been written into it), then sends the signal, and checks:

- SIGTERM and SIGINT: the process exits through its handler (128 + signal number, or 130 for Ctrl-C),
  removes its temporary file, and the previous output file has the same bytes as before;
- SIGKILL: nothing can run on the way out, so the temporary file may stay behind (expected, documented:
  it is named ``.deepmir-tmp-*`` and can be deleted); the final name still holds the previous bytes.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import TEST_DATA, read_fasta, tool_path

pytestmark = pytest.mark.slow

PREVIOUS = b"previous output, must survive an interrupted run\n"
RECORDS = 200_000
SOURCES = ["tiny/train.fa", "tiny/test.fa", "hairpins-hsa30.fa", "dataset/mirbase22-hairpin.fa", "dataset/rfam-labelled.fa"]


@pytest.fixture(scope="module")
def many_reads(tmp_path_factory) -> Path:
    """200,000 distinct real pieces (18-30 nt) of the hairpins in test-data/, as FASTA."""
    pieces: dict[str, None] = {}
    for name in SOURCES:
        for _, seq in read_fasta(TEST_DATA / name):
            seq = seq.upper().replace("T", "U")
            for n in range(18, 31):
                for i in range(len(seq) - n + 1):
                    pieces.setdefault(seq[i : i + n], None)
    assert len(pieces) >= RECORDS
    path = tmp_path_factory.mktemp("reads") / "reads.fa"
    with open(path, "w") as handle:
        for number, piece in zip(range(RECORDS), pieces):
            handle.write(f">piece{number}\n{piece}\n")
    return path


def temp_files(folder: Path) -> list[Path]:
    return sorted(folder.glob(".deepmir-tmp-*"))


def start_and_interrupt(command: list[str], folder: Path, sig: int, need_rows: bool) -> tuple[int, str]:
    """Start ``command``, wait until it is writing its temporary output, send ``sig``; (exit code, stderr)."""
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env=env)
    deadline = time.monotonic() + 240
    try:
        while True:
            assert process.poll() is None, "finished before it could be interrupted: make the input larger"
            assert time.monotonic() < deadline, "no temporary output file appeared"
            found = temp_files(folder)
            if found and (not need_rows or found[0].stat().st_size > 0):
                break
            time.sleep(0.02)
        process.send_signal(sig)
        _, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, err.decode()


def check(folder: Path, output: Path, code: int, err: str, sig: int, complete_npz: bool = False) -> None:
    final = output.read_bytes()
    finished = complete_npz and final != PREVIOUS
    if finished:
        # The NPZ is written in one short burst at the end: on a loaded machine the signal can land after the
        # rename, even after the run's end (exit 0). Then the final name must hold the whole new file, never a
        # part of one, and nothing else may be left.
        with np.load(io.BytesIO(final), allow_pickle=False) as npz:
            assert len(npz["lengths"]) == RECORDS
    else:
        assert final == PREVIOUS  # the final name never holds a partial file
    if sig == signal.SIGKILL:
        assert code == -signal.SIGKILL
        assert all(p.name.startswith(".deepmir-tmp-") for p in folder.iterdir() if p != output)
        return
    assert code == (130 if sig == signal.SIGINT else 128 + sig) or (finished and code == 0), err
    assert "Traceback" not in err
    assert temp_files(folder) == []
    assert sorted(p.name for p in folder.iterdir()) == [output.name]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_classify_interrupted(tmp_path, many_reads, sig):
    output = tmp_path / "calls.tsv"
    output.write_bytes(PREVIOUS)
    command = [tool_path("deepmir-classify"), "-m", str(TEST_DATA / "tiny-model.npz"), str(many_reads),
               "-o", str(output), "-q", "--no-reject"]
    code, err = start_and_interrupt(command, tmp_path, sig, need_rows=True)
    check(tmp_path, output, code, err, sig)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=["SIGTERM", "SIGINT", "SIGKILL"])
def test_encode_interrupted(tmp_path, many_reads, sig):
    output = tmp_path / "reads.npz"
    output.write_bytes(PREVIOUS)
    command = [tool_path("deepmir-encode"), str(many_reads), "-o", str(output), "-q"]
    code, err = start_and_interrupt(command, tmp_path, sig, need_rows=False)
    check(tmp_path, output, code, err, sig, complete_npz=True)


def test_uninterrupted_run_replaces_the_previous_file(tmp_path, run_tool):
    """The counterpart: a run that completes replaces the previous file and leaves no temporary file."""
    output = tmp_path / "let7.npz"
    output.write_bytes(PREVIOUS)
    result = run_tool("deepmir-encode", TEST_DATA / "hsa-let-7a-1.fa", "-o", output, "-q")
    assert result.returncode == 0
    assert output.read_bytes()[:4] == b"PK\x03\x04" and temp_files(tmp_path) == []
    assert oct(output.stat().st_mode & 0o777) == oct(0o644)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-v"]))
