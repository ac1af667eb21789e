"""The installed ``deepmir-encode`` console script, run as a user runs it (separate process).

Bad inputs must give exit code 2, one line ``deepmir-encode: error: ...`` on stderr, no traceback,
and no output file (a previous file of that name stays untouched). ``python tests/test_encode_cli.py``
prints the table of bad inputs with the actual messages (docs/bad-inputs-encode.md is made from it).
"""

from __future__ import annotations

import gzip
import io
import os
import stat
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from conftest import TEST_DATA, read_fasta

from deepmir_tools.encodings import encode

PROG = "deepmir-encode"
PREVIOUS = b"previous output, must survive a failed run"


@dataclass
class Case:
    """One command line: what it tests, how to build its input in ``tmp`` and what stderr must say."""

    name: str
    build: Callable[[Path], tuple[list[str], bytes | None]]  # -> (arguments, stdin)
    message: str
    usage: bool = False  # an argparse usage error: usage lines, then the one error line


def _let7() -> bytes:
    return (TEST_DATA / "hsa-let-7a-1.fa").read_bytes()


def _put(tmp: Path, name: str, data: bytes) -> str:
    (tmp / name).write_bytes(data)
    return str(tmp / name)


def _in(data_fn: Callable[[], bytes], name: str = "in.fa", *extra: str) -> Callable[[Path], tuple[list[str], None]]:
    return lambda tmp: ([_put(tmp, name, data_fn()), *extra], None)


def _fastq_head(lines: int) -> bytes:
    return b"".join((TEST_DATA / "reads-bovine40.fq").read_bytes().splitlines(keepends=True)[:lines])


def _unwritable_dir(tmp: Path) -> list[str]:
    folder = tmp / "read-only"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    return [str(TEST_DATA / "hsa-let-7a-1.fa"), "-o", str(folder / "out.npz")]


def _full_device(tmp: Path) -> list[str]:
    # through a link in tmp: should atomic output ever rename over the target again, only the link is lost
    os.symlink("/dev/full", tmp / "full.npz")
    return [str(TEST_DATA / "hsa-let-7a-1.fa"), "-o", str(tmp / "full.npz")]


BAD_INPUTS = [
    Case("empty file", _in(lambda: b""), "in.fa: no sequences found (empty input)"),
    Case("empty stdin", lambda tmp: (["-"], b""), "-: no sequences found (empty input)"),
    Case("header-only FASTA", _in(lambda: _let7().splitlines(keepends=True)[0]),
         "record 'hsa-let-7a-1', line 1: empty sequence"),
    Case("empty record before the next", _in(lambda: _let7().splitlines(keepends=True)[0]
                                             + (TEST_DATA / "trna-hsa-Ala-AGC-1-1.fa").read_bytes()),
         "record 'hsa-let-7a-1', line 1: empty sequence"),
    Case("duplicate IDs", _in(lambda: _let7() * 2), "record 'hsa-let-7a-1', line 4: duplicate sequence ID"),
    Case("not FASTA/FASTQ (a Markdown file)", _in(lambda: (TEST_DATA / "README.md").read_bytes(), "in.txt"),
         "line 1: not a FASTA or FASTQ file (first line starts with neither '>' nor '@')"),
    Case("truncated gzip (real .gz cut at 600 bytes)",
         _in(lambda: (TEST_DATA / "hairpins-hsa30.fa.gz").read_bytes()[:600], "in.fa.gz"),
         "corrupt or truncated gzip input after line"),
    Case("corrupt gzip (one byte changed)", _in(lambda: _flip_byte((TEST_DATA / "hairpins-hsa30.fa.gz").read_bytes()),
                                                 "in.fa.gz"),
         "corrupt or truncated gzip input"),
    Case("digit in a sequence", _in(lambda: _let7().replace(b"UGGGAUGAGG", b"UGGGAUGAG5", 1)),
         "record 'hsa-let-7a-1', line 2: invalid character '5' in sequence"),
    Case("'*' in a sequence", _in(lambda: _let7().replace(b"CUUUCCUA", b"CUUUCCUA*")),
         "record 'hsa-let-7a-1', line 3: invalid character '*' in sequence"),
    Case("space inside a sequence", _in(lambda: _let7().replace(b"UGGGAUGAGG", b"UGGGA UGAGG", 1)),
         "record 'hsa-let-7a-1', line 2: invalid character ' ' in sequence"),
    Case("non-UTF-8 header (Latin-1 byte)", _in(lambda: _let7().replace(b"Homo sapiens", b"Homo sapi\xe9ns")),
         "line 1: header is not valid UTF-8 text"),
    Case("NUL byte in a header", _in(lambda: _let7().replace(b" MI0000060", b"\x00MI0000060")),
         "line 1: header contains control characters"),
    Case("FASTQ quality shorter than sequence", _in(lambda: _fastq_head(4)[:-2] + b"\n", "in.fq"),
         "record 'SRR3472275.1', line 4: quality length 20 differs from sequence length 21"),
    Case("FASTQ record cut short", _in(lambda: _fastq_head(6), "in.fq"), "truncated FASTQ record (expected 4 lines)"),
    Case("missing input path", lambda tmp: ([str(tmp / "missing.fa")], None), "missing.fa: no such file"),
    Case("directory as input", lambda tmp: ([str(tmp)], None), "is a directory, expected a FASTA/FASTQ file"),
    Case("output directory missing", lambda tmp: ([str(TEST_DATA / "hsa-let-7a-1.fa"), "-o", str(tmp / "no/out.npz")],
                                                  None), "does not exist"),
    Case("output directory not writable", lambda tmp: (_unwritable_dir(tmp), None),
         "read-only/out.npz: cannot write output: Permission denied"),
    Case("output is a directory", lambda tmp: ([str(TEST_DATA / "hsa-let-7a-1.fa"), "-o", str(tmp)], None),
         "is a directory, expected an output file name"),
    Case("output on a full device (/dev/full)", lambda tmp: (_full_device(tmp), None),
         "full.npz: cannot write output: No space left on device"),
    Case("sequence longer than --max-len with --long error",
         _in(lambda: (TEST_DATA / "riboswitch-251nt.fa").read_bytes(), "in.fa", "--long", "error"),
         "record 'riboswitch|NCYPred_test|20537' (line 1) is 251 nt, longer than the model length 200"),
    Case("--labels require on an unlabelled file", _in(_let7, "in.fa", "--labels", "require"),
         "record 'hsa-let-7a-1' (line 1) has no family= label"),
    Case("labelled file with an unlabelled record",
         _in(lambda: (TEST_DATA / "hairpins-hsa30-labelled.fa").read_bytes()
             + (TEST_DATA / "trna-hsa-Ala-AGC-1-1.fa").read_bytes()),
         "record 'tRNA|hg38|Homo_sapiens_tRNA-Ala-AGC-1-1' (line 91) has no family= label"),
    Case("threshold outside [0, 1]", _in(_let7, "in.fa", "-T", "2"),
         "argument -T/--pair-threshold: must be between 0 and 1, got 2.0", usage=True),
    Case("unknown encoding", _in(_let7, "in.fa", "--encoding", "twohot"),
         "argument -e/--encoding: invalid choice: 'twohot'", usage=True),
]


def _flip_byte(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]


def _command(tmp: Path, case: Case) -> tuple[list[str], bytes | None, Path]:
    args, stdin = case.build(tmp)
    output = tmp / "out.npz"
    if "-o" not in args:
        args = [*args, "-o", str(output)]
    return args, stdin, output


@pytest.mark.parametrize("case", BAD_INPUTS, ids=[case.name for case in BAD_INPUTS])
def test_bad_input(tmp_path, run_tool, case):
    args, stdin, output = _command(tmp_path, case)
    output.write_bytes(PREVIOUS)
    unprivileged = case.name == "output directory not writable"
    result = run_tool(PROG, *args, stdin=stdin, unprivileged=unprivileged)
    err = result.stderr.decode()
    assert result.returncode == 2, err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert lines[-1].startswith(f"{PROG}: error: ") and case.message in lines[-1], err
    if not case.usage:
        assert len(lines) == 1, err
    assert result.stdout == b""
    assert output.read_bytes() == PREVIOUS  # untouched, and no other output file appeared
    leftovers = [p.name for p in tmp_path.rglob("*") if p.name.startswith(".deepmir-tmp-") or p.name.endswith(".npz")]
    assert sorted(leftovers) == sorted(["out.npz"] + (["full.npz"] if os.path.islink(tmp_path / "full.npz") else []))
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


# --- accepted inputs ----------------------------------------------------------------------


def _load(path_or_bytes) -> dict[str, np.ndarray]:
    source = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
    with np.load(source, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def _expected_onehot(records: list[tuple[str, str]]) -> np.ndarray:
    table = {"A": 0, "C": 1, "G": 2, "U": 3}
    x = np.zeros((len(records), 200, 4), dtype=np.uint8)
    for row, (_, seq) in enumerate(records):
        for k, base in enumerate(seq.upper().replace("T", "U")[:200]):
            if base in table:
                x[row, k, table[base]] = 1
    return x


def _fastq_records(path: Path) -> list[tuple[str, str]]:
    lines = path.read_text().splitlines()
    return [(lines[k][1:].split()[0], lines[k + 1]) for k in range(0, len(lines), 4)]


HSA30 = TEST_DATA / "hairpins-hsa30.fa"
ACCEPTED = [
    ("plain FASTA, 60 nt lines", lambda: HSA30.read_bytes(), "in.fa", lambda: read_fasta(HSA30)),
    ("Windows line ends", lambda: HSA30.read_bytes().replace(b"\n", b"\r\n"), "in.fa", lambda: read_fasta(HSA30)),
    ("UTF-8 BOM", lambda: b"\xef\xbb\xbf" + HSA30.read_bytes(), "in.fa", lambda: read_fasta(HSA30)),
    ("lowercase sequences",
     lambda: b"\n".join(x if x.startswith(b">") else x.lower() for x in HSA30.read_bytes().split(b"\n")),
     "in.fa", lambda: read_fasta(HSA30)),
    ("DNA alphabet", lambda: (TEST_DATA / "rfam-RF00027-dna.fa").read_bytes(), "in.fa",
     lambda: read_fasta(TEST_DATA / "rfam-RF00027-dna.fa")),
    ("IUPAC codes and N", lambda: (TEST_DATA / "hairpins-iupac.fa").read_bytes(), "in.fa",
     lambda: read_fasta(TEST_DATA / "hairpins-iupac.fa")),
    ("gzip FASTA", lambda: (TEST_DATA / "hairpins-hsa30.fa.gz").read_bytes(), "in.fa.gz", lambda: read_fasta(HSA30)),
    ("gzip without .gz name", lambda: (TEST_DATA / "hairpins-hsa30.fa.gz").read_bytes(), "in.fa",
     lambda: read_fasta(HSA30)),
    ("FASTQ", lambda: (TEST_DATA / "reads-bovine40.fq").read_bytes(), "in.fq",
     lambda: _fastq_records(TEST_DATA / "reads-bovine40.fq")),
    ("gzip FASTQ", lambda: (TEST_DATA / "reads-bovine40.fq.gz").read_bytes(), "in.fq.gz",
     lambda: _fastq_records(TEST_DATA / "reads-bovine40.fq")),
]


VIA_STDIN_TOO = {"plain FASTA, 60 nt lines", "Windows line ends", "UTF-8 BOM", "gzip FASTA", "gzip FASTQ"}


@pytest.mark.parametrize(
    "data, name, expected, via",
    [pytest.param(d, n, e, via, id=f"{i}-{via}") for i, d, n, e in ACCEPTED
     for via in (("file", "stdin") if i in VIA_STDIN_TOO else ("file",))],
)
def test_accepted_input(tmp_path, run_tool, data, name, expected, via):
    if via == "file":
        result = run_tool(PROG, _put(tmp_path, name, data()), "-o", tmp_path / "out.npz")
    else:
        result = run_tool(PROG, "-", "-o", tmp_path / "out.npz", stdin=data())
    assert result.returncode == 0, result.stderr.decode()
    records = expected()
    arrays = _load(tmp_path / "out.npz")
    assert arrays["ids"].tolist() == [rid for rid, _ in records]
    np.testing.assert_array_equal(arrays["x"], _expected_onehot(records))
    summary = f"{PROG}: encoded {len(records)} sequence(s) as onehot -> {tmp_path / 'out.npz'}"
    assert result.stderr.decode().strip() == summary


def test_stdout_output(run_tool):
    result = run_tool(PROG, TEST_DATA / "hairpins-hsa30.fa.gz", "-o", "-", "-q")
    assert result.returncode == 0 and result.stderr == b""
    arrays = _load(result.stdout)
    assert arrays["ids"].tolist() == [rid for rid, _ in read_fasta(HSA30)]


def test_gzipped_stdin_to_stdout(run_tool):
    result = run_tool(PROG, "-", "-o", "-", "-q", stdin=gzip.compress(_let7()))
    assert result.returncode == 0
    expected = _expected_onehot(read_fasta(TEST_DATA / "hsa-let-7a-1.fa"))
    np.testing.assert_array_equal(_load(result.stdout)["x"], expected)


def test_dev_null_output(run_tool):
    result = run_tool(PROG, TEST_DATA / "hsa-let-7a-1.fa", "-o", os.devnull, "-q")
    assert result.returncode == 0, result.stderr.decode()
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_structure_encodings_match_library(tmp_path, run_tool):
    let7 = read_fasta(TEST_DATA / "hsa-let-7a-1.fa")[0][1]
    for encoding, extra in [("prob", []), ("pair", ["--unordered"]), ("mixed", ["-T", "0.01", "--max-len", "100"])]:
        out = tmp_path / f"{encoding}.npz"
        result = run_tool(PROG, TEST_DATA / "hsa-let-7a-1.fa", "-o", out, "-e", encoding, *extra, "-q")
        assert result.returncode == 0, result.stderr.decode()
        arrays = _load(out)
        threshold = 0.01 if "-T" in extra else 1e-4
        max_len = 100 if "--max-len" in extra else 200
        expected = encode([let7], encoding, max_len, threshold, ordered="--unordered" not in extra)
        np.testing.assert_array_equal(arrays["x"], expected)


def test_threads_give_the_same_file_content(tmp_path, run_tool):
    outs = []
    for threads in ("1", "2"):
        out = tmp_path / f"t{threads}.npz"
        result = run_tool(PROG, TEST_DATA / "hairpins-iupac.fa", "-o", out, "-e", "pair", "--threads", threads, "-q")
        assert result.returncode == 0, result.stderr.decode()
        outs.append(_load(out))
    np.testing.assert_array_equal(outs[0]["x"], outs[1]["x"])


def test_long_policies(tmp_path, run_tool):
    riboswitch = TEST_DATA / "riboswitch-251nt.fa"
    result = run_tool(PROG, riboswitch, "-o", tmp_path / "w.npz", "--long", "window", "--window-step", "25")
    assert result.returncode == 0
    arrays = _load(tmp_path / "w.npz")
    assert arrays["offsets"].tolist() == [0, 25, 50, 51] and arrays["lengths"].tolist() == [200] * 4
    result = run_tool(PROG, riboswitch, "-o", tmp_path / "s.npz")
    assert result.returncode == 0
    assert "skipped 1 sequence(s) longer than 200 nt" in result.stderr.decode()
    assert _load(tmp_path / "s.npz")["x"].shape == (0, 200, 4)
    result = run_tool(PROG, riboswitch, "-o", tmp_path / "t.npz", "--long", "truncate", "-q")
    assert _load(tmp_path / "t.npz")["lengths"].tolist() == [200]


def test_labelled_input(tmp_path, run_tool):
    result = run_tool(PROG, TEST_DATA / "hairpins-hsa30-labelled.fa", "-o", tmp_path / "l.npz", "-q")
    assert result.returncode == 0
    arrays = _load(tmp_path / "l.npz")
    assert len(arrays["classes"]) == 15 and arrays["labels"].shape == (30,)
    result = run_tool(PROG, TEST_DATA / "hairpins-hsa30-labelled.fa", "-o", tmp_path / "u.npz", "--labels", "ignore")
    assert "labels" not in _load(tmp_path / "u.npz")


def test_png_figures(tmp_path, run_tool):
    result = run_tool(PROG, TEST_DATA / "hairpins-iupac.fa", "-o", tmp_path / "p.npz", "--png-dir", tmp_path,
                      "--png-count", "2", "-q")
    assert result.returncode == 0, result.stderr.decode()
    pngs = sorted(p for p in tmp_path.iterdir() if p.suffix == ".png")
    assert len(pngs) == 2 and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)


def test_help_and_version(run_tool):
    help_text = run_tool(PROG, "--help")
    assert help_text.returncode == 0 and b"examples:" in help_text.stdout
    version = run_tool(PROG, "--version")
    assert version.returncode == 0 and version.stdout.decode().startswith(f"{PROG} ")


# --- the table for the README -------------------------------------------------------------


def markdown_table() -> str:
    """Run every bad input and return a Markdown table of exit codes and messages."""
    import subprocess

    from conftest import _unprivileged_prefix, tool_path

    rows = ["| bad input | exit code | message (stderr, last line) |", "|---|---|---|"]
    for case in BAD_INPUTS:
        with tempfile.TemporaryDirectory() as folder:
            tmp = Path(folder)
            args, stdin, _ = _command(tmp, case)
            prefix = _unprivileged_prefix() if case.name == "output directory not writable" else []
            result = subprocess.run(prefix + [tool_path(PROG), *args], input=stdin if stdin is not None else b"",
                                    capture_output=True)
            line = result.stderr.decode().strip().splitlines()[-1].replace(folder, "DIR")
            line = line.replace(str(TEST_DATA), "test-data").replace("|", "\\|")
            rows.append(f"| {case.name} | {result.returncode} | `{line}` |")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    print(markdown_table())
