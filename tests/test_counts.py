"""Per-sample counts tables, the count matrix (deepmir-counts) and the MultiQC stats of deepmir-classify.

Real reads only: two subsets of the bovine plasma small RNA-seq sample (``test-data/reads-bovine40.fq``,
``test-data/reads-bovine-r5001-200.fq``), classified with the shipped ``mature`` model (one-hot: no
TensorFlow, about a second a run). Expected numbers are counted here from the calls TSV and the FASTQ,
independently of :mod:`deepmir_tools.counts`. MultiQC and PyDESeq2 are the real packages (``.[test]`` extras).
"""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

import pytest
from conftest import TEST_DATA, read_tsv, tool_path

SAMPLES = {"reads-bovine40": TEST_DATA / "reads-bovine40.fq", "reads-bovine-r5001-200": TEST_DATA / "reads-bovine-r5001-200.fq"}
COUNT_COLUMNS = "family_accession\tfamily_name\treads\tunique_sequences"


def _run(name: str, *args) -> subprocess.CompletedProcess:
    return subprocess.run([tool_path(name), *map(str, args)], capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)


def _fastq(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines()
    return {lines[i][1:].split()[0]: lines[i + 1] for i in range(0, len(lines), 4)}


def _expected(calls: Path, reads: Path) -> tuple[Counter, Counter, dict[str, set], dict[str, str]]:
    """(reads per family, reads per status, unique sequences per key, family names) from a calls TSV."""
    seqs = _fastq(reads)
    _, _, rows = read_tsv(calls)
    assert [row["id"] for row in rows] == list(seqs)  # every read once, in order; SRR IDs carry no read count
    families, statuses, unique, names = Counter(), Counter(), {}, {}
    for row in rows:
        key = row["family_accession"] if row["status"] == "accepted" else row["status"]
        (families if row["status"] == "accepted" else statuses)[key] += 1
        unique.setdefault(key, set()).add(seqs[row["id"]].upper().replace("T", "U"))
        if row["status"] == "accepted":
            names[key] = row["family_name"]
    return families, statuses, unique, names


@pytest.fixture(scope="module")
def classified(tmp_path_factory) -> dict[str, dict[str, Path]]:
    """Each real sample classified once, with --counts and --stats (default sample names)."""
    out = tmp_path_factory.mktemp("classified")
    result = {}
    for name, reads in SAMPLES.items():
        paths = {"calls": out / f"{name}.tsv", "counts": out / f"{name}.counts.tsv", "stats": out / f"{name}_mqc.yaml",
                 "lengths": out / f"{name}_lengths_mqc.yaml", "reads": reads}
        done = _run("deepmir-classify", "-m", "mature", reads, "-o", paths["calls"], "--counts", paths["counts"],
                    "--stats", paths["stats"], "--length-stats", paths["lengths"], "-q")
        assert done.returncode == 0, done.stderr
        result[name] = paths
    return result


def test_counts_table_has_provenance_and_matches_the_calls(classified):
    for name, paths in classified.items():
        calls_header = read_tsv(paths["calls"])[0]
        lines = paths["counts"].read_text().splitlines()
        fields = dict(w.split("=", 1) for w in lines[0].split() if "=" in w)
        calls_fields = dict(w.split("=", 1) for w in calls_header.split() if "=" in w)
        assert lines[0].startswith("# deepmir-classify ")
        assert fields["format"] == "deepmir-counts/1" and fields["sample"] == name  # .fq dropped
        for key in ("model", "model_sha256", "threshold"):
            assert fields[key] == calls_fields[key]
        assert lines[1] == COUNT_COLUMNS
        families, statuses, unique, names = _expected(paths["calls"], paths["reads"])
        assert families and statuses["rejected"] > 0
        order = sorted(families, key=lambda k: (-families[k], k))
        expected = [f"{k}\t{names[k]}\t{families[k]}\t{len(unique[k])}" for k in order]
        expected += [f"{s}\t{s}\t{statuses[s]}\t{len(unique[s])}" for s in statuses]  # here: rejected only
        assert lines[2:] == expected


def test_sample_option_and_default_names(tmp_path):
    from deepmir_tools.counts import sample_name

    assert [sample_name(p) for p in ("dir/s1.fastq.gz", "s2.fq", "s3.fa", "x/s4.bam", "s5.FASTQ.GZ", "-", "s 6.fa")] == [
        "s1", "s2", "s3", "s4", "s5", "stdin", "s_6"]
    counts = tmp_path / "c.tsv"
    done = _run("deepmir-classify", "-m", "mature", SAMPLES["reads-bovine40"], "-o", tmp_path / "calls.tsv",
                "--counts", counts, "--sample", "cow_A", "-q")
    assert done.returncode == 0, done.stderr
    assert " sample=cow_A " in counts.read_text().splitlines()[0]
    bad = _run("deepmir-classify", "-m", "mature", SAMPLES["reads-bovine40"], "-o", tmp_path / "calls2.tsv",
               "--counts", tmp_path / "c2.tsv", "--sample", "two words")
    assert bad.returncode == 2 and bad.stderr.startswith("deepmir-classify: error: invalid sample name")
    assert not (tmp_path / "calls2.tsv").exists() and not (tmp_path / "c2.tsv").exists()


def test_multiqc_reads_the_stats_of_both_samples(classified, tmp_path):
    import json

    folder = tmp_path / "qc"
    folder.mkdir()
    for paths in classified.values():
        for key in ("stats", "lengths"):
            (folder / paths[key].name).write_bytes(paths[key].read_bytes())
    done = subprocess.run([tool_path("multiqc"), "--no-ansi", "-f", str(folder), "-o", str(tmp_path / "report")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    table = (tmp_path / "report" / "multiqc_data" / "multiqc_deepmir_classify_table.txt").read_text().splitlines()
    columns = table[0].split("\t")
    got = {line.split("\t")[0]: dict(zip(columns, line.split("\t"))) for line in table[1:]}
    assert set(got) == set(classified)
    for name, paths in classified.items():
        families, statuses, _, _ = _expected(paths["calls"], paths["reads"])
        total = sum(families.values()) + sum(statuses.values())
        assert float(got[name]["reads"]) == total == len(_fastq(paths["reads"]))
        assert float(got[name]["accepted"]) == sum(families.values())
        for status in ("rejected", "too_short", "too_long", "skipped"):
            assert float(got[name][status]) == statuses.get(status, 0)
        assert float(got[name]["accepted_percent"]) == pytest.approx(100 * sum(families.values()) / total, abs=1e-3)
    # reads per length and status: one line per sample and status
    table = (tmp_path / "report" / "multiqc_data" / "multiqc_deepmir_classify_lengths_plot.txt").read_text()
    lines = table.splitlines()
    lengths = lines[0].split("\t")[1:]
    got_lengths = {}
    for line in lines[1:]:
        name, *values = line.split("\t")
        got_lengths[name] = {int(float(k)): int(float(v)) for k, v in zip(lengths, values) if v.strip()}
    expected_lengths = {}
    for name, paths in classified.items():
        for row in read_tsv(paths["calls"])[2]:
            per_length = expected_lengths.setdefault(f"{name} {row['status']}", Counter())
            per_length[int(row["length"])] += 1
    assert got_lengths == {k: dict(v) for k, v in expected_lengths.items()}
    report = json.loads((tmp_path / "report" / "multiqc_data" / "multiqc_data.json").read_text())
    raw = report["report_saved_raw_data"]["multiqc_deepmir_classify_table"]
    assert {name: {k: float(v) for k, v in row.items()} for name, row in raw.items()} == {
        name: {k: float(v) for k, v in row.items() if k != "Sample"} for name, row in got.items()}


@pytest.fixture(scope="module")
def four_samples(classified, tmp_path_factory) -> list[tuple[str, Path, Path]]:
    """Four samples: each real subset twice, once more under another name (sample, counts, calls)."""
    out = tmp_path_factory.mktemp("four")
    samples = [(name, paths["counts"], paths["calls"]) for name, paths in classified.items()]
    for name, paths in classified.items():
        counts = out / f"{name}.again.counts.tsv"
        done = _run("deepmir-classify", "-m", "mature", paths["reads"], "-o", out / f"{name}.again.tsv", "--counts",
                    counts, "--sample", f"{name}_rep2", "-q")
        assert done.returncode == 0, done.stderr
        samples.append((f"{name}_rep2", counts, out / f"{name}.again.tsv"))
    return samples


def test_count_matrix_loads_into_pydeseq2(four_samples, tmp_path):
    import pandas as pd
    from pydeseq2.dds import DeseqDataSet

    matrix_path = tmp_path / "matrix.tsv"
    done = _run("deepmir-counts", *[c for _, c, _ in four_samples], "-o", matrix_path, "-q")
    assert done.returncode == 0, done.stderr
    matrix = pd.read_csv(matrix_path, sep="\t", index_col=0)
    assert list(matrix.columns) == ["family_name"] + [s for s, _, _ in four_samples]
    counts = matrix.drop(columns="family_name")
    expected: dict[str, Counter] = {}
    names: dict[str, str] = {}
    for sample, _, calls in four_samples:
        for row in read_tsv(calls)[2]:
            if row["status"] == "accepted":
                expected.setdefault(row["family_accession"], Counter())[sample] += 1
                names[row["family_accession"]] = row["family_name"]
    assert set(counts.index) == set(expected)  # families only: no status rows by default
    for family, per_sample in expected.items():
        assert matrix.loc[family, "family_name"] == names[family]
        assert [int(counts.loc[family, s]) for s, _, _ in four_samples] == [per_sample[s] for s, _, _ in four_samples]
    totals = counts.sum(axis=1).tolist()
    assert totals == sorted(totals, reverse=True)
    metadata = pd.DataFrame({"condition": ["A", "B", "A", "B"]}, index=counts.columns)
    dds = DeseqDataSet(counts=counts.T, metadata=metadata, design="~condition", quiet=True)
    assert dds.n_obs == 4 and dds.n_vars == len(expected)
    assert (dds.X == counts.T.to_numpy()).all()
    # --include-status keeps the reads of every other status (rejected, seed_mismatch, ...), after the families, in
    # the order of the status vocabulary; --names renames
    with_status = tmp_path / "with-status.tsv"
    done = _run("deepmir-counts", *[c for _, c, _ in four_samples], "--include-status", "--names", "a,b,c,d",
                "-o", with_status)
    assert done.returncode == 0, done.stderr
    lines = with_status.read_text().splitlines()
    assert lines[0] == "family\tfamily_name\ta\tb\tc\td"
    per_status = {status: [sum(1 for row in read_tsv(calls)[2] if row["status"] == status)
                           for _, _, calls in four_samples]
                  for status in ("rejected", "seed_mismatch", "too_short", "too_long", "skipped")}
    status_lines = [f"{status}\t{status}\t" + "\t".join(map(str, reads))
                    for status, reads in per_status.items() if any(reads)]
    assert status_lines and status_lines[0].startswith("rejected\t")
    assert lines[len(lines) - len(status_lines):] == status_lines
    assert lines[1:len(lines) - len(status_lines)] == matrix_path.read_text().splitlines()[1:]


# --- errors: exit 2, one line naming the file, no output --------------------------------------------


def _expect_error(tmp_path: Path, inputs: list, bad: Path, message: str, *extra: str) -> None:
    output = tmp_path / "matrix.tsv"
    done = _run("deepmir-counts", *inputs, "-o", output, *extra)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(f"deepmir-counts: error: {bad}: "), done.stderr
    assert message in done.stderr
    assert not output.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".deepmir-tmp-")]


def test_error_not_a_counts_table(classified, tmp_path):
    good = classified["reads-bovine40"]["counts"]
    calls = classified["reads-bovine40"]["calls"]
    _expect_error(tmp_path, [good, calls], calls, "not a deepmir counts table")
    fastq = classified["reads-bovine40"]["reads"]
    _expect_error(tmp_path, [fastq, good], fastq, "not a deepmir counts table")
    future = tmp_path / "future.tsv"
    future.write_text(good.read_text().replace("format=deepmir-counts/1", "format=deepmir-counts/9"))
    _expect_error(tmp_path, [good, future], future, "deepmir-counts/9 is not supported")
    broken = tmp_path / "broken.tsv"
    broken.write_text(good.read_text().replace("\t", " ", 3))
    _expect_error(tmp_path, [good, broken], broken, "line 2")


def test_error_two_samples_with_one_name(classified, tmp_path):
    first = classified["reads-bovine40"]["counts"]
    second = classified["reads-bovine-r5001-200"]["counts"]
    _expect_error(tmp_path, [first, first], first, "sample name 'reads-bovine40' is also the name of")
    _expect_error(tmp_path, [first, second], second, "sample name 'x' is also the name of", "--names", "x,x")


def test_error_different_models_or_thresholds(classified, tmp_path):
    first = classified["reads-bovine40"]["counts"]
    reads = classified["reads-bovine-r5001-200"]["reads"]
    other_model = tmp_path / "tiny.counts.tsv"
    done = _run("deepmir-classify", "-m", TEST_DATA / "tiny-model.npz", reads, "-o", tmp_path / "tiny.tsv",
                "--counts", other_model, "-q")
    assert done.returncode == 0, done.stderr
    _expect_error(tmp_path, [first, other_model], other_model, "classified with model tiny")
    other_threshold = tmp_path / "t05.counts.tsv"
    done = _run("deepmir-classify", "-m", "mature", reads, "-o", tmp_path / "t05.tsv", "--threshold", "0.5",
                "--counts", other_threshold, "-q")
    assert done.returncode == 0, done.stderr
    _expect_error(tmp_path, [first, other_threshold], other_threshold, "classified with threshold 0.5")
