"""The shell scale-out recipe scripts/classify-parallel.sh: split, classify chunks in parallel, merge.

The merged table must be byte-identical to one deepmir-classify run on the whole input: the '#' comment line
and the column line once, then every row in input order. Inputs are real sequences from test-data/ and the
tiny 4-family test model of galaxy/test-data/ (its recipe is in galaxy/test-data/README.md).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, TEST_DATA, tool_path

SCRIPT = REPO / "scripts" / "classify-parallel.sh"
MODEL = REPO / "galaxy" / "test-data" / "model-tiny.npz"


def _env() -> dict[str, str]:
    """PATH with the directory of the deepmir-classify that the tests use first."""
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(tool_path("deepmir-classify")) + os.pathsep + env.get("PATH", "")
    return env


def _parallel(*args: str | os.PathLike, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *map(str, args)], cwd=cwd, env=_env(), capture_output=True,
                          text=True, timeout=600)


def _single(input_path: Path, output: Path, *options: str) -> None:
    subprocess.run([tool_path("deepmir-classify"), str(input_path), "-o", str(output), "-q", *options],
                   check=True, env=_env(), timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("input_name", "records", "options"),
    [
        ("hairpins-hsa30.fa", 12, ()),                                       # FASTA, 3 chunks (12+12+6)
        ("reads-bovine40.fq.gz", 20, ("--top-k", "3", "--no-reject")),       # gzip FASTQ, 2 chunks, options passed on
    ],
)
def test_merged_table_equals_single_run(tmp_path: Path, input_name: str, records: int, options: tuple[str, ...]):
    source = TEST_DATA / input_name
    merged, single = tmp_path / "merged.tsv", tmp_path / "single.tsv"
    result = _parallel("-j", "2", "-n", records, source, merged, "-m", MODEL, *options, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    _single(source, single, "-m", str(MODEL), *options)

    assert merged.read_bytes() == single.read_bytes()
    lines = merged.read_text().splitlines()
    assert lines[0].startswith("# deepmir-classify ") and sum(line.startswith("#") for line in lines) == 1
    assert lines[1].startswith("id\tlength\t") and lines.count(lines[1]) == 1
    expected_chunks = -(-len(lines[2:]) // records)
    assert f"{expected_chunks} chunk(s)" in result.stderr
    assert sorted(os.listdir(tmp_path)) == ["merged.tsv", "single.tsv"]  # no temporary file left beside the output


def test_counts_are_refused(tmp_path: Path):
    result = _parallel(TEST_DATA / "hsa-let-7a-1.fa", tmp_path / "out.tsv", "--counts", "c.tsv", cwd=tmp_path)
    assert result.returncode == 2
    assert "--counts is not supported" in result.stderr
    assert not (tmp_path / "out.tsv").exists()


def test_missing_input_is_an_error(tmp_path: Path):
    result = _parallel(tmp_path / "absent.fa", tmp_path / "out.tsv", cwd=tmp_path)
    assert result.returncode == 2
    assert "no such file" in result.stderr


@pytest.mark.slow
def test_failing_chunk_fails_the_run_and_keeps_the_old_output(tmp_path: Path):
    output = tmp_path / "out.tsv"
    output.write_text("previous\n")
    bad_model = REPO / "galaxy" / "test-data" / "pickled-object.npz"
    result = _parallel("-n", "20", TEST_DATA / "hairpins-hsa30.fa", output, "-m", bad_model, cwd=tmp_path)
    assert result.returncode != 0
    assert "refused for safety" in result.stderr
    assert output.read_text() == "previous\n"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-v"]))
