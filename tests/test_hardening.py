"""Bad inputs for deepmir-classify, -calibrate, -train and -dataset (deepmir-encode: tests/test_encode_cli.py).

Every case builds its input in a temporary directory from the real files of ``test-data/`` (a base pair
replaced by ``5``, a header byte made Latin-1, a gzip file cut in half ...) and runs each tool it applies
to. A rejected input must give exit code 2, one line ``<tool>: error: <message>`` on stderr naming the file
(and the record and line where there is one), no traceback, and leave nothing behind: a previous output
file keeps its bytes and no other file (no ``.deepmir-tmp-*``) appears. An accepted variant (Windows line
ends, byte-order mark, lower case, DNA letters) must give exactly the output of the clean file.

The tools run in this process (``cli.common.run``, the executable's error handling), so TensorFlow is
imported once; the unwritable-directory case runs the installed executables (root must drop a
capability for it, which only a new process can). ``python tests/test_hardening.py`` prints the table of
docs/bad-inputs.md.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import signal
import stat
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from conftest import TEST_DATA

PREVIOUS = b"previous output, must survive a failed run\n"
MODEL = TEST_DATA / "tiny-model.npz"
TRNA = TEST_DATA / "trna-hsa-Ala-AGC-1-1.fa"
MIFAM = TEST_DATA / "dataset" / "mirbase22-miFam.dat"
TOOLS = ("classify", "calibrate", "train", "dataset")
TINY_ARCH = ["--filters", "2", "--dense", "2", "--kernel-sizes", "2", "--epochs", "1", "--val-fraction", "0"]


def base_bytes(tool: str) -> bytes:
    """The clean input of each tool: 10 labelled held-out hairpins of all 5 families, or miRBase hairpins."""
    if tool == "dataset":
        return (TEST_DATA / "dataset" / "mirbase22-hairpin.fa").read_bytes()
    lines = (TEST_DATA / "tiny" / "test.fa").read_bytes().splitlines(keepends=True)
    return b"".join(b"".join(lines[k : k + 2]) for k in range(0, len(lines), 8))


def first_id(tool: str) -> str:
    return base_bytes(tool).split(b"\n", 1)[0][1:].split()[0].decode()


def _records(data: bytes) -> list[tuple[bytes, bytes]]:
    """(header line, sequence) of a FASTA text (sequence lines joined)."""
    out = []
    for line in data.splitlines():
        if line.startswith(b">"):
            out.append((line, b""))
        elif line:
            out[-1] = (out[-1][0], out[-1][1] + line)
    return out


def _long_record(data: bytes, length: int, name: bytes) -> bytes:
    """A record of ``length`` nt made of the file's own sequences end to end, on one line, labelled as the first."""
    records = _records(data)
    pool = b"".join(seq for _, seq in records)
    seq = (pool * (length // len(pool) + 1))[:length]
    header = records[0][0].split(b" ", 1)
    return b">" + name + b" " + header[1] + b"\n" + seq + b"\n"


def _seq_lines(data: bytes, fn: Callable[[bytes], bytes]) -> bytes:
    return b"\n".join(line if line.startswith(b">") else fn(line) for line in data.split(b"\n"))


def _replace_in_first_sequence(data: bytes, new: bytes, at: int = 5) -> bytes:
    head, rest = data.split(b"\n", 1)
    return head + b"\n" + rest[:at] + new + rest[at + len(new) :]


def _fastq_quality_short(_: bytes) -> bytes:
    lines = (TEST_DATA / "reads-bovine40.fq").read_bytes().splitlines(keepends=True)
    return b"".join(lines[:3]) + lines[3][:-2] + b"\n" + b"".join(lines[4:8])


def _encoded_npz(path: Path, change: Callable[[dict], None]) -> None:
    from deepmir_tools.encoded_input import EncodeOptions, encode_records
    from deepmir_tools.npzformat import write_encoded
    from deepmir_tools.seqio import read_records

    source = path.with_suffix(".fa")
    source.write_bytes(base_bytes("classify"))
    data, _ = encode_records(read_records(str(source)), str(source), EncodeOptions())
    source.unlink()
    write_encoded(str(path), data)
    with np.load(path, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    change(arrays)
    np.savez(path, **arrays)


def _corrupt_bam(path: Path) -> None:
    import pysam

    header = pysam.AlignmentHeader.from_dict({"HD": {"VN": "1.6"}})
    lines = (TEST_DATA / "reads-bovine40.fq").read_text().splitlines()
    with pysam.AlignmentFile(str(path), "wb", header=header) as out:
        for k in range(0, len(lines), 4):
            read = pysam.AlignedSegment(header)
            read.query_name, read.query_sequence, read.flag = lines[k][1:].split()[0], lines[k + 1], 4
            read.query_qualities = pysam.qualitystring_to_array(lines[k + 3])
            out.write(read)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


# --- the cases -------------------------------------------------------------------------------------


@dataclass
class Expect:
    """What a tool must do: exit code, and a fragment of the message (``{input}``, ``{out}``, ``{first}`` filled in)."""

    code: int
    message: str = ""
    same_as_clean: bool = False  # exit 0 and the clean file's output
    note: str = ""  # what an accepted input gives (for the table)


@dataclass
class Case:
    """One bad (or surprising) input: how to build it, and what each tool it applies to must do."""

    name: str
    expect: dict[str, Expect]
    content: Callable[[bytes], bytes] | None = None  # the input file from the tool's clean input
    suffix: str = ".fa"
    special: str = ""  # how the input or output is made when not from content
    extra: list[str] = field(default_factory=list)


E = Expect
FASTA_TOOLS = ("classify", "calibrate", "train", "dataset")


def every(expect: Expect, tools=FASTA_TOOLS) -> dict[str, Expect]:
    return {tool: expect for tool in tools}


def accepted(tools=("classify", "calibrate", "dataset")) -> dict[str, Expect]:
    return {tool: E(0, same_as_clean=True) for tool in tools}


CASES = [
    Case("empty file", {"classify": E(0, note="a TSV with its two header lines and no row"), **every(E(2, "{input}: no sequences found (empty input)"),
                                                  ("calibrate", "train", "dataset"))}, lambda d: b""),
    Case("header-only FASTA", every(E(2, "{input}: record '{first}', line 1: empty sequence")),
         lambda d: d.split(b"\n", 1)[0] + b"\n"),
    Case("digit in a sequence", every(E(2, "{input}: record '{first}', line 2: invalid character '5' in sequence")),
         lambda d: _replace_in_first_sequence(d, b"5")),
    Case("'*' in a sequence", every(E(2, "{input}: record '{first}', line 2: invalid character '*' in sequence")),
         lambda d: _replace_in_first_sequence(d, b"*")),
    Case("space inside a sequence", every(E(2, "{input}: record '{first}', line 2: invalid character ' ' in sequence")),
         lambda d: _replace_in_first_sequence(d, b" ")),
    Case("non-UTF-8 byte in a sequence", every(E(2, "{input}: record '{first}', line 2: invalid character")),
         lambda d: _replace_in_first_sequence(d, b"\xff")),
    Case("non-UTF-8 header (Latin-1 byte)", every(E(2, "{input}: line 1: header is not valid UTF-8 text")),
         lambda d: d.replace(b"-", b"\xe9", 1)),
    Case("NUL byte in a header", every(E(2, "{input}: line 1: header contains control characters")),
         lambda d: d.replace(b" ", b"\x00 ", 1)),
    Case("Windows line ends and UTF-8 BOM (accepted)", accepted(),
         lambda d: b"\xef\xbb\xbf" + d.replace(b"\n", b"\r\n")),
    Case("lower-case letters (accepted)", accepted(), lambda d: _seq_lines(d, bytes.lower)),
    Case("DNA letters, T for U (accepted)", accepted(), lambda d: _seq_lines(d, lambda s: s.replace(b"U", b"T"))),
    Case("IUPAC codes and N (accepted)", every(E(0, note="ambiguity codes encode as all-zero one-hot rows"),
                                               ("classify", "calibrate", "dataset")),
         lambda d: _seq_lines(d, lambda s: s[:3] + b"N" + s[4:7] + b"RY" + s[9:])),
    Case("10 kb sequence (skipped/truncated/dropped)", {"classify": E(0, note="the record's row has status 'skipped' (--long skip, the default)"),
          "calibrate": E(0, note="the record is cut to the model length (200 nt)"),
          "dataset": E(0, note="the record is dropped (--max-len 200) and counted in summary.tsv")},
         lambda d: d + _long_record(d, 10_000, b"long-10kb")),
    Case("10 kb sequence with --long error",
         {"classify": E(2, "record 'long-10kb' (line {long_line}) is 10000 nt, longer than the model length 200"),
          "train": E(2, "{input}: record 'long-10kb' (line {long_line}) is 10000 nt, longer than the model length 200")},
         lambda d: d + _long_record(d, 10_000, b"long-10kb"), extra=["--long", "error"]),
    Case("1 MB sequence on one line (skipped/truncated/dropped)", {"classify": E(0, note="the record's row has status 'skipped' (--long skip, the default)"),
          "calibrate": E(0, note="the record is cut to the model length (200 nt)"),
          "dataset": E(0, note="the record is dropped (--max-len 200) and counted in summary.tsv")},
         lambda d: d + _long_record(d, 1_000_000, b"long-1MB")),
    Case("duplicate IDs", every(E(2, "{input}: record '{first}', line {dup_line}: duplicate sequence ID")),
         lambda d: d + d.split(b"\n>", 1)[0] + b"\n"),
    Case("not FASTA/FASTQ (a Markdown file)",
         every(E(2, "{input}: line 1: not a FASTA or FASTQ file (first line starts with neither '>' nor '@')")),
         lambda d: (TEST_DATA / "README.md").read_bytes(), ".txt"),
    Case("truncated gzip (cut in half)", every(E(2, "{input}: corrupt or truncated gzip input after line")),
         lambda d: gzip.compress(d, mtime=0)[: len(gzip.compress(d, mtime=0)) // 2], ".fa.gz"),
    Case("FASTQ quality shorter than sequence",
         every(E(2, "{input}: record 'SRR3472275.1', line 4: quality length 20 differs from sequence length 21")),
         _fastq_quality_short, ".fq"),
    Case("corrupt BAM (cut in half)",
         {"classify": E(2, "{input}: not a readable SAM/BAM/CRAM file (no BGZF EOF marker; file may be truncated)"),
          **every(E(2, "{input}: line 1: not a FASTA or FASTQ file"), ("calibrate", "train", "dataset"))},
         special="bam", suffix=".bam"),
    Case("missing input path", every(E(2, "{input}: no such file")), special="missing"),
    Case("directory as input", every(E(2, "{input}: is a directory, expected a FASTA/FASTQ file")), special="directory"),
    Case("NPZ with an object (pickled) array",
         every(E(2, "{input}: contains object (pickled) arrays, refused for safety"), ("classify", "calibrate", "train")),
         special="npz-object", suffix=".npz"),
    Case("NPZ without the 'lengths' array", every(E(2, "{input}: missing arrays: lengths"), ("classify", "calibrate", "train")),
         special="npz-missing", suffix=".npz"),
    Case("NPZ with float64 'x'", every(E(2, "{input}: array 'x' has dtype float64, expected onehot data"),
                                       ("classify", "calibrate", "train")), special="npz-dtype", suffix=".npz"),
    Case("NPZ cut in half", every(E(2, "{input}: not a valid or complete NPZ file"), ("classify", "calibrate", "train")),
         special="npz-truncated", suffix=".npz"),
    Case("model bundle cut in half", every(E(2, "{model}: not a valid or complete NPZ file"), ("classify", "calibrate")),
         special="model:truncated file (first half)"),
    Case("model bundle of a future format version",
         every(E(2, "{model}: deepmir-model format version 2 is not supported"), ("classify", "calibrate")),
         special="model:future format version"),
    Case("model bundle: class count differs from the output layer",
         every(E(2, "{model}: model bundle lists 4 classes but its output layer has 5 units"), ("classify", "calibrate")),
         special="model:class count differs from the output layer"),
    Case("model bundle: weights of the wrong shape",
         every(E(2, "{model}: layer 'conv_k2' weights have shapes [(3, 4, 32), (32,)], expected [(2, 4, 32), (32,)]"),
               ("classify", "calibrate")), special="model:weights of the wrong shape"),
    Case("model bundle with an object (pickled) array",
         every(E(2, "{model}: contains object (pickled) arrays"), ("classify", "calibrate")),
         special="model:object (pickled) array"),
    Case("output directory missing", {**every(E(2, "{out}: output directory {outdir} does not exist"),
                                              ("classify", "calibrate", "train")), "dataset": E(0, note="-O is created, with its parents")},
         special="out-missing-dir"),
    Case("output is a directory", every(E(2, "{out}: is a directory, expected an output file name"),
                                        ("classify", "calibrate", "train")), special="out-directory"),
    Case("second output (--counts, --report, --log) in a missing directory",
         every(E(2, "{second}: output directory {seconddir} does not exist"), ("classify", "calibrate", "train")),
         special="second-output"),
    Case("output directory (-O) is a file", {"dataset": E(2, "{out}: File exists")}, special="out-file"),
    Case("output on a full device (/dev/full, via a link)",
         every(E(2, "{out}: cannot write output: No space left on device"), ("classify", "calibrate", "train")),
         special="out-full", extra=["-q"]),  # -q: deepmir-train reports its epochs before it writes
]


# --- running a case --------------------------------------------------------------------------------


def command(tool: str, inp: str, out: str, model: str, extra: list[str]) -> list[str]:
    if tool == "classify":
        return ["-m", model, inp, "-o", out, *extra]
    if tool == "calibrate":
        return ["-m", model, "--in-dist", inp, "--ood", f"tRNA={TRNA}", "-o", out, *extra]
    if tool == "train":
        return [inp, "-o", out, *TINY_ARCH, *extra]
    return ["mirbase", "--hairpins", inp, "--families", str(MIFAM), "--min-members", "3", "-O", out, *extra]


def prepare(case: Case, tool: str, tmp: Path) -> dict[str, str]:
    """Build the case's files in ``tmp``; returns the paths used for the command and the messages."""
    inp, model = tmp / f"in{case.suffix}", str(MODEL)
    out = tmp / ("out" if tool == "dataset" else "out.tsv" if tool == "classify" else "out.npz")
    data = base_bytes(tool)
    special = case.special
    if case.content is not None:
        inp.write_bytes(case.content(data))
    elif special == "bam":
        _corrupt_bam(inp)
    elif special == "missing":
        inp = tmp / "missing.fa"
    elif special == "directory":
        inp = tmp / "a-directory"
        inp.mkdir()
    elif special.startswith("npz-"):
        changes = {
            "npz-object": lambda a: a.__setitem__("lengths", np.array([{"n": 1}] * len(a["ids"]), dtype=object)),
            "npz-missing": lambda a: a.pop("lengths"),
            "npz-dtype": lambda a: a.__setitem__("x", a["x"].astype(np.float64)),
            "npz-truncated": lambda a: None,
        }
        _encoded_npz(inp, changes[special])
        if special == "npz-truncated":
            inp.write_bytes(inp.read_bytes()[: inp.stat().st_size // 2])
    else:
        inp.write_bytes(data)
    if special.startswith("model:"):
        from test_models_bundle import BAD_BUNDLES, make_bad_bundle

        build = {c[0]: c[1] for c in BAD_BUNDLES}[special.removeprefix("model:")]
        model = str(make_bad_bundle(tmp, build))
    if special == "out-missing-dir":
        out = tmp / "no-such-dir" / out.name
    elif special == "out-directory":
        out = tmp / "a-folder"
        out.mkdir()
    elif special == "out-file":
        out.write_bytes(PREVIOUS)
    elif special == "out-full":
        out = tmp / "full.out"
        os.symlink("/dev/full", out)
    elif tool == "dataset":
        out.mkdir()
        (out / "train.fa").write_bytes(PREVIOUS)
    else:
        out.write_bytes(PREVIOUS)
    text = inp.read_bytes() if inp.is_file() and case.content is not None else b""
    headers = [k + 1 for k, line in enumerate(text.replace(b"\r\n", b"\n").split(b"\n")) if line.startswith(b">")]
    second = tmp / "no-such-dir" / "second.out"
    return {"input": str(inp), "out": str(out), "outdir": str(out.parent), "model": model, "first": first_id(tool),
            "second": str(second), "seconddir": str(second.parent),
            "long_line": str(headers[-1]) if headers else "", "dup_line": str(headers[-1]) if headers else ""}


def case_extra(case: Case, tool: str, paths: dict[str, str]) -> list[str]:
    """The case's extra options (the second output's option depends on the tool)."""
    if case.special == "second-output":
        return {"classify": ["--counts"], "calibrate": ["--report"], "train": ["--log"]}[tool] + [paths["second"]]
    return case.extra


def snapshot(folder: Path) -> dict[str, str]:
    """Every path under ``folder`` with a hash of its content (links and devices by their target)."""
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            found[str(path)] = "link:" + os.readlink(path)
        elif path.is_file():
            found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            found[str(path)] = "dir"
    return found


@contextlib.contextmanager
def in_process_signals():
    saved = signal.getsignal(signal.SIGTERM), os.environ.get("DEEPMIR_TF_VERBOSE")
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, saved[0])
        if saved[1] is None:
            os.environ.pop("DEEPMIR_TF_VERBOSE", None)


def run_in_process(tool: str, argv: list[str]) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``deepmir-<tool>`` run through ``cli.common.run`` here."""
    import importlib

    module = importlib.import_module(f"deepmir_tools.cli.{tool}")
    out, err = io.StringIO(), io.StringIO()
    with in_process_signals(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = module.run(module.PROG, module.main, argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def outputs(tool: str, out: Path) -> dict[str, bytes | dict]:
    """What a successful run produced, in a form comparable between the clean and a variant input."""
    if tool == "classify":
        return {"tsv": out.read_bytes()}
    if tool == "calibrate":
        with np.load(out, allow_pickle=False) as archive:
            record = json.loads(str(archive["meta"]))["threshold"]
        return {key: record[key] for key in ("value", "tpr", "fpr", "auroc", "in_distribution")}
    return {name: (out / name).read_bytes() for name in ("train.fa", "test.fa", "ood.fa", "families.tsv")}


_CLEAN: dict[str, dict] = {}


def clean_output(tool: str) -> dict:
    """The output of the tool on its clean input (computed once)."""
    if tool not in _CLEAN:
        with tempfile.TemporaryDirectory() as folder:
            tmp = Path(folder)
            paths = prepare(Case("clean", {}), tool, tmp)
            code, _, err = run_in_process(tool, command(tool, paths["input"], paths["out"], paths["model"], ["-q"]))
            assert code == 0, err
            _CLEAN[tool] = outputs(tool, Path(paths["out"]))
    return _CLEAN[tool]


PARAMS = [pytest.param(case, tool, id=f"{tool}-{case.name}") for case in CASES for tool in TOOLS if tool in case.expect]


@pytest.mark.parametrize("case, tool", PARAMS)
def test_bad_input(tmp_path, case, tool):
    expect = case.expect[tool]
    paths = prepare(case, tool, tmp_path)
    before = snapshot(tmp_path)
    argv = command(tool, paths["input"], paths["out"], paths["model"], case_extra(case, tool, paths))
    code, stdout, err = run_in_process(tool, argv)
    prog = f"deepmir-{tool}"
    assert code == expect.code, err
    assert "Traceback" not in err and stdout == ""
    if expect.code:
        assert err.count("\n") == 1 and err.startswith(f"{prog}: error: "), err
        assert expect.message.format(**paths) in err, err
        assert snapshot(tmp_path) == before  # previous output intact, nothing new (no temporary file)
        assert stat.S_ISCHR(os.stat("/dev/full").st_mode)
        return
    assert not [p for p in tmp_path.rglob(".deepmir-tmp-*")]
    out = Path(paths["out"])
    if expect.same_as_clean:
        assert outputs(tool, out) == clean_output(tool)
    elif tool == "classify":
        rows = out.read_text().splitlines()[2:]
        records = [line for line in Path(paths["input"]).read_bytes().split(b"\n") if line.startswith(b">")]
        assert len(rows) == len(records)
        long_rows = [row for row in rows if row.startswith("long-")]
        assert all(row.split("\t")[5] == "skipped" for row in long_rows)
    elif tool == "calibrate":
        record = outputs(tool, out)["in_distribution"]
        assert record["n"] == 10 + (case.name.startswith(("10 kb", "1 MB")))
    else:
        summary = dict(line.split("\t", 1) for line in (out / "summary.tsv").read_text().splitlines())
        assert summary["too_long_removed"] == ("1" if case.name.startswith(("10 kb", "1 MB")) else "0")
        assert (out / "train.fa").read_bytes() != PREVIOUS


def test_every_tool_has_every_input_case():
    """Each tool meets each kind of bad input that it can be given (the matrix has no holes)."""
    covered = {tool: {case.name for case in CASES if tool in case.expect} for tool in TOOLS}
    input_cases = {case.name for case in CASES if not case.special.startswith(("npz", "model", "out", "second"))}
    input_cases -= {"10 kb sequence with --long error"}  # calibrate truncates and dataset drops by design
    for tool in TOOLS:
        missing = input_cases - covered[tool] - ({"Windows line ends and UTF-8 BOM (accepted)", "lower-case letters (accepted)",
                                                   "DNA letters, T for U (accepted)", "IUPAC codes and N (accepted)",
                                                   "10 kb sequence (skipped/truncated/dropped)",
                                                   "1 MB sequence on one line (skipped/truncated/dropped)"}
                                                  if tool == "train" else set())
        assert not missing, (tool, missing)


@pytest.mark.parametrize("tool", TOOLS)
def test_debug_shows_the_traceback(tmp_path, tool):
    case = next(c for c in CASES if c.name == "digit in a sequence")
    paths = prepare(case, tool, tmp_path)
    code, _, err = run_in_process(tool, command(tool, paths["input"], paths["out"], paths["model"], ["--debug"]))
    assert code == 2
    assert "Traceback (most recent call last)" in err and "InputFormatError" in err
    assert err.rstrip("\n").splitlines()[-1].startswith(f"deepmir-{tool}: error: ")


def test_train_fails_before_training_when_the_output_cannot_be_written(tmp_path):
    """An unwritable output is found before the training starts, not after hours of it."""
    paths = prepare(Case("clean", {}), "train", tmp_path)
    for option in ("-o", "--log", "--curve"):
        argv = command("train", paths["input"], str(tmp_path / "m.npz"), paths["model"], [])
        missing = str(tmp_path / "nope" / "file")
        argv = argv + [option, missing] if option != "-o" else [missing if a == str(tmp_path / "m.npz") else a for a in argv]
        code, _, err = run_in_process("train", argv)
        # without -q, a training would have said "... training sequences" first: this is the only line
        assert code == 2 and err == f"deepmir-train: error: {missing}: output directory {tmp_path / 'nope'} does not exist\n"


@pytest.mark.slow
@pytest.mark.parametrize("tool", TOOLS)
def test_unwritable_output_directory(tmp_path, run_tool, tool):
    """The installed executables, run without the capability that lets root write anywhere."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    paths = prepare(Case("clean", {}), tool, tmp_path)
    out = folder / ("out" if tool == "dataset" else "out.npz")
    if tool == "dataset":
        out.mkdir()
    folder.chmod(0o555)
    if tool == "dataset":
        out.chmod(0o555)
    before = snapshot(tmp_path)
    result = run_tool(f"deepmir-{tool}", *command(tool, paths["input"], str(out), paths["model"], []), unprivileged=True)
    err = result.stderr.decode()
    assert result.returncode == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"deepmir-{tool}: error: {out}") and "Permission denied" in err, err
    assert snapshot(tmp_path) == before


# --- the table for docs/bad-inputs.md --------------------------------------------------------------


def markdown_rows() -> list[str]:
    """Run every case and return Markdown table rows: input, tool, exit code, message."""
    rows = []
    for case in CASES:
        for tool in TOOLS:
            if tool not in case.expect:
                continue
            with tempfile.TemporaryDirectory() as folder:
                paths = prepare(case, tool, Path(folder))
                argv = command(tool, paths["input"], paths["out"], paths["model"], case_extra(case, tool, paths))
                code, _, err = run_in_process(tool, argv)
                expect = case.expect[tool]
                line = err.strip().splitlines()[-1] if code else "accepted: " + (
                    "same output as the clean file" if expect.same_as_clean else expect.note)
                line = line.replace(folder, "DIR").replace(str(TEST_DATA), "test-data").replace("|", "\\|")
                rows.append(f"| {case.name} | deepmir-{tool} | {code} | `{line}` |" if code else
                            f"| {case.name} | deepmir-{tool} | {code} | {line} |")
    return rows


def unwritable_rows() -> list[str]:
    """The unwritable-directory case, run through the executables without root's override capability."""
    import subprocess

    from conftest import _unprivileged_prefix, tool_path

    rows = []
    for tool in TOOLS:
        with tempfile.TemporaryDirectory() as folder:
            tmp = Path(folder)
            paths = prepare(Case("clean", {}), tool, tmp)
            out = tmp / "read-only" / ("out" if tool == "dataset" else "out.npz")
            out.parent.mkdir()
            if tool == "dataset":
                out.mkdir()
                out.chmod(0o555)
            out.parent.chmod(0o555)
            argv = command(tool, paths["input"], str(out), paths["model"], [])
            result = subprocess.run(_unprivileged_prefix() + [tool_path(f"deepmir-{tool}"), *argv], capture_output=True)
            line = result.stderr.decode().strip().splitlines()[-1].replace(folder, "DIR")
            rows.append(f"| output directory not writable | deepmir-{tool} | {result.returncode} | `{line}` |")
    return rows


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    print("| input | tool | exit code | message (stderr) |\n|---|---|---|---|")
    print("\n".join(markdown_rows() + unwritable_rows()))
