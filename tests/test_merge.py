"""deepmir-merge (deepmir_tools.calltables, cli/merge.py): call tables of input chunks merged into one table.

Real tables only: ``test-data/hairpins-hsa30.fa`` (30 human miRBase hairpins) cut into three chunks of whole records
(records 1-12, 13-24, 25-30, file order, by a naive FASTA split written here), each chunk classified by
``deepmir-classify`` as a separate process with the shipped ``hairpin`` model (one-hot: no TensorFlow, about a
second a run). The merged table must be byte-identical to one ``deepmir-classify`` run on the whole file. The
refusals use tables that really differ: a chunk classified with the tiny 4-family test model of galaxy/test-data/
(another model and checksum), with another threshold, with another ``--top-k``, and a real reads-per-family table
(galaxy/test-data/counts-reads-bovine40.tsv).
"""

from __future__ import annotations

import gzip
import subprocess
from pathlib import Path

import pytest
from conftest import REPO, TEST_DATA, read_fasta, tool_path

from deepmir_tools import __version__
from deepmir_tools.calltables import CALLS_FORMAT, merge_call_tables, read_header

PROG = "deepmir-merge"
HAIRPINS = TEST_DATA / "hairpins-hsa30.fa"
TINY_MODEL = REPO / "galaxy" / "test-data" / "model-tiny.npz"
COUNTS_TABLE = REPO / "galaxy" / "test-data" / "counts-reads-bovine40.tsv"
CHUNKS = ((0, 12), (12, 24), (24, 30))  # records [start, end) of hairpins-hsa30.fa


def _run(name: str, *args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([tool_path(name), *map(str, args)], capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL, cwd=cwd)


def _classify(source: Path, output: Path, *options: str) -> Path:
    done = _run("deepmir-classify", source, "-o", output, "-q", *options)
    assert done.returncode == 0, done.stderr
    return output


def _one_error_line(result: subprocess.CompletedProcess) -> str:
    """The single stderr line of a failed run (exit code 2)."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{PROG}: error: "), result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> dict[str, Path]:
    """The chunks of hairpins-hsa30.fa and their call tables, the single-run table, and the odd tables."""
    out = tmp_path_factory.mktemp("tables")
    records = read_fasta(HAIRPINS)
    assert len(records) == 30
    result: dict[str, Path] = {}
    for number, (start, end) in enumerate(CHUNKS, start=1):
        chunk = out / f"chunk{number}.fa"
        chunk.write_text("".join(f">{name}\n{seq}\n" for name, seq in records[start:end]))
        result[f"chunk{number}"] = chunk
        result[f"part{number}"] = _classify(chunk, out / f"part{number}.tsv", "-m", "hairpin")
    result["single"] = _classify(HAIRPINS, out / "single.tsv", "-m", "hairpin")
    result["other_model"] = _classify(result["chunk2"], out / "part2-tiny.tsv", "-m", str(TINY_MODEL))
    result["other_threshold"] = _classify(result["chunk2"], out / "part2-t05.tsv", "-m", "hairpin",
                                          "--threshold", "0.5")
    result["other_temperature"] = _classify(result["chunk2"], out / "part2-temp2.tsv", "-m", "hairpin",
                                            "--temperature", "2")
    result["other_columns"] = _classify(result["chunk2"], out / "part2-top3.tsv", "-m", "hairpin", "--top-k", "3")
    return result


def test_format_name_is_the_one_classify_writes():
    from deepmir_tools.classify import TSV_FORMAT

    assert CALLS_FORMAT == TSV_FORMAT


def test_merged_chunks_equal_one_run_on_the_whole_file(tables, tmp_path):
    merged = tmp_path / "merged.tsv"
    parts = [tables["part1"], tables["part2"], tables["part3"]]
    done = _run(PROG, *parts, "-o", merged)
    assert done.returncode == 0, done.stderr
    assert merged.read_bytes() == tables["single"].read_bytes()
    lines = merged.read_text().splitlines()
    assert sum(line.startswith("#") for line in lines) == 1 and lines.count(lines[1]) == 1
    assert [line.split("\t")[0] for line in lines[2:]] == [name for name, _ in read_fasta(HAIRPINS)]
    assert done.stderr.strip() == f"{PROG}: 30 rows from 3 tables"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["merged.tsv"]  # no temporary file left beside it


def test_stdout_by_default_quiet_and_order_as_given(tables):
    done = _run(PROG, "-q", tables["part3"], tables["part1"])
    assert done.returncode == 0 and done.stderr == ""
    lines = done.stdout.splitlines()
    single = tables["single"].read_text().splitlines()
    assert lines == single[:2] + single[2 + 24:] + single[2:2 + 12]  # chunk 3's rows, then chunk 1's


def test_library_merge_counts_rows_and_reads_headers(tables, tmp_path):
    header = read_header(str(tables["part1"]))
    assert header.version == __version__ and header.fields["format"] == CALLS_FORMAT
    assert header.fields["model"] == "hairpin" and header.columns[:2] == ("id", "length")
    with open(tmp_path / "m.tsv", "w") as out:
        assert merge_call_tables([str(tables["part1"]), str(tables["part2"])], out) == 24


def test_header_only_table_merges_to_its_header(tables, tmp_path):
    empty = tmp_path / "empty.tsv"
    empty.write_text("".join(tables["part1"].read_text().splitlines(keepends=True)[:2]))
    done = _run(PROG, tables["part1"], empty, "-o", tmp_path / "m.tsv")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "m.tsv").read_bytes() == tables["part1"].read_bytes()


@pytest.mark.parametrize(
    ("odd", "expected"),
    [
        ("other_model", "classified with model tiny-4fam (sha256 "),
        ("other_threshold", "classified with threshold=0.5, but "),
        ("other_temperature", "classified with temperature=2, but "),  # a field the first table lacks
        ("other_columns", "line 2: columns id length"),
    ],
)
def test_tables_of_another_classification_are_refused(tables, tmp_path, odd, expected):
    output = tmp_path / "merged.tsv"
    output.write_text("previous\n")
    line = _one_error_line(_run(PROG, tables["part1"], tables[odd], tables["part3"], "-o", output))
    assert line.startswith(f"{PROG}: error: {tables[odd]}: ") and expected in line, line
    assert str(tables["part1"]) in line  # names the table it disagrees with
    assert output.read_text() == "previous\n"  # nothing written: the old file is left as it was
    assert sorted(p.name for p in tmp_path.iterdir()) == ["merged.tsv"]


def test_another_version_is_refused(tables, tmp_path):
    other = tmp_path / "other-version.tsv"
    text = tables["part2"].read_text()
    other.write_text(text.replace(f"# deepmir-classify {__version__} ", "# deepmir-classify 0.0.9 ", 1))
    line = _one_error_line(_run(PROG, tables["part1"], other, "-o", tmp_path / "m.tsv"))
    assert f"{other}: written by deepmir-classify 0.0.9, but {tables['part1']} by {__version__}" in line
    assert not (tmp_path / "m.tsv").exists()


def _bad_files(tables: dict[str, Path], tmp_path: Path) -> dict[str, Path]:
    part = tables["part1"].read_text()
    lines = part.splitlines(keepends=True)
    files = {
        "fasta": HAIRPINS,
        "counts": COUNTS_TABLE,
        "empty": tmp_path / "empty.tsv",
        "gzip": tmp_path / "part1.tsv.gz",
        "no_columns": tmp_path / "no-columns.tsv",
        "short_row": tmp_path / "short-row.tsv",
        "two_headers": tmp_path / "two-headers.tsv",
        "missing": tmp_path / "no-such-file.tsv",
    }
    files["empty"].write_text("")
    files["gzip"].write_bytes(gzip.compress(part.encode(), mtime=0))
    files["no_columns"].write_text(lines[0])
    files["short_row"].write_text("".join(lines[:4]) + lines[4].rsplit("\t", 1)[0] + "\n" + "".join(lines[5:]))
    files["two_headers"].write_text(part + part)
    return files


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        ("fasta", "not a deepmir-classify call table (line 1 should start with '# deepmir-classify'"),
        ("counts", "not a deepmir-classify call table (format=deepmir-counts/1 is a reads-per-family table: "
                   "merge those with deepmir-counts)"),
        ("empty", "not a deepmir-classify call table (empty file)"),
        ("gzip", "not a deepmir-classify call table (not text; gzip is not read here)"),
        ("no_columns", "line 2: expected the column line (id length ...)"),
        ("short_row", "line 5: {short} tab-separated fields, expected {columns} (the columns of line 2)"),
        ("two_headers", "line 15: a '#' line among the rows (two tables concatenated?)"),
        ("missing", "No such file or directory"),
    ],
)
def test_bad_files_are_one_line_errors_naming_the_file(tables, tmp_path, bad, expected):
    path = _bad_files(tables, tmp_path)[bad]
    columns = len(read_header(str(tables["part1"])).columns)  # the model's columns (more with a reference)
    expected = expected.format(short=columns - 1, columns=columns)
    output = tmp_path / "merged.tsv"
    line = _one_error_line(_run(PROG, tables["part1"], path, "-o", output))
    assert f": error: {path}: " in line and expected in line, line
    assert not output.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".deepmir-tmp-")]


def test_help_version_and_usage():
    done = _run(PROG, "--help")
    assert done.returncode == 0 and "examples:" in done.stdout and "deepmir-merge chunk_*.tsv" in done.stdout
    done = _run(PROG, "--version")
    assert done.returncode == 0 and done.stdout.strip() == f"{PROG} {__version__}"
    line = _one_error_line(_run(PROG))
    assert "the following arguments are required: TABLE" in line
