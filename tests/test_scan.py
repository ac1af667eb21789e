"""deepmir-scan (deepmir_tools.scan, cli/scan.py) with the shipped hairpin model on real sequence.

The sequences (sources and cutting rules in test-data/README.md, section "Genome scan"):

- ``ECOLI``: 3,000 nt of the Escherichia coli 536 genome (no miRNA genes).
- ``EMBEDDED`` (built here): that background with the real miRBase hairpin hsa-let-7a-1 (80 nt) inserted after
  its first 1,000 nt on the plus strand and, reverse-complemented, after its next 1,000 nt on the minus strand:
  ``ecoli[:1000] + hairpin + ecoli[1000:2000] + revcomp(hairpin) + ecoli[2000:]`` (3,160 nt). The hairpins are
  then at 1-based 1001-1080 (+) and 2081-2160 (-), known from where they were put, not from the scan.
- ``ATH``: two real regions of Arabidopsis chromosome 1 (soft-masked: lower-case repeats) around the annotated
  precursors ath-MIR165a (family MIR166, minus strand) and ath-MIR159b (MIR159, plus strand), 1,000 nt either side;
  their coordinates come from the annotation (``ath-chr1-MIR165a-MIR159b.gff3``, lines copied from
  ../shared/data/genomic/ath-chr1/), not from the scan.

Exactness is checked against the library :class:`~deepmir_tools.classify.Classifier` (what deepmir-classify runs)
on each window cut out of the sequence (reverse-complemented for the minus strand).
"""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import TEST_DATA, read_fasta

from deepmir_tools import __version__
from deepmir_tools.bundle import load_bundle
from deepmir_tools.classify import ClassifyOptions, Classifier
from deepmir_tools.scan import TSV_COLUMNS, ScanOptions, Scanner, reverse_complement
from deepmir_tools.seqio import SeqRecord, normalise_sequence

PROG = "deepmir-scan"
SCAN = TEST_DATA / "scan"
ECOLI = SCAN / "ecoli536-1000001-1003000.fa"
ATH = SCAN / "ath-chr1-MIR165a-MIR159b.fa"
ATH_LOCI = SCAN / "ath-chr1-MIR165a-MIR159b.gff3"
HAIRPIN = TEST_DATA / "hsa-let-7a-1.fa"
LET7 = "MIPF0000002"  # hsa-let-7a-1's family in miRBase 22.1 miFam.dat (test-data/hairpins-hsa30-labelled.fa)
PLUS_AT, MINUS_AT = (1001, 1080), (2081, 2160)  # 1-based, inclusive: where EMBEDDED's hairpins were put


def normalised(seq: str) -> str:
    return normalise_sequence(seq.encode()).decode()


def embedded() -> tuple[str, str]:
    """(id, sequence) of EMBEDDED (see the module docstring), normalised (upper case, U)."""
    background = normalised(read_fasta(ECOLI)[0][1])
    hairpin = normalised(read_fasta(HAIRPIN)[0][1])
    seq = background[:1000] + hairpin + background[1000:2000] + reverse_complement(hairpin) + background[2000:]
    assert seq[PLUS_AT[0] - 1 : PLUS_AT[1]] == hairpin
    assert seq[MINUS_AT[0] - 1 : MINUS_AT[1]] == reverse_complement(hairpin)
    return "ecoli536-let-7a-1", seq


def ath_records() -> list[tuple[str, str]]:
    return [(rid, normalised(seq)) for rid, seq in read_fasta(ATH)]


def ath_truth() -> list[tuple[str, int, int, str, str]]:
    """(record id, start, end (1-based in the record), strand, family name) of the annotated precursors."""
    records = {int(rid.split(":")[1].split("-")[0]): rid for rid, _ in read_fasta(ATH)}
    truth = []
    for line in ATH_LOCI.read_text().splitlines():
        if line.startswith("#"):
            continue
        fields = line.split("\t")
        start, end = int(fields[3]), int(fields[4])
        family = dict(item.split("=") for item in fields[8].split(";"))["family"]
        offset = max(a for a in records if a <= start)
        truth.append((records[offset], start - offset + 1, end - offset + 1, fields[6], family))
    return truth


def write_fasta(path: Path, records: list[tuple[str, str]]) -> Path:
    path.write_text("".join(f">{rid}\n{seq}\n" for rid, seq in records))
    return path


@pytest.fixture(scope="module")
def hairpin_model():
    return load_bundle("hairpin")


@pytest.fixture(scope="module")
def classifier(hairpin_model):
    # the network alone: deepmir-scan does not consult the reference stage (deepmir-classify --no-reference)
    return Classifier(hairpin_model, ClassifyOptions(long_policy="window", top_k=2, reference=False))


def classify_windows(classifier, seq: str, windows: list[tuple[str, int, int]]) -> list:
    """Classifier calls of each (strand, start, length) window cut out of ``seq`` (minus: reverse complement)."""
    cut = []
    for strand, start, length in windows:
        piece = seq[start : start + length]
        cut.append(SeqRecord(f"w{len(cut)}", piece if strand == "+" else reverse_complement(piece)))
    return list(classifier.classify(cut))


# --- (a) exactness --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("step", [10, 7])
def test_every_window_scores_as_classify_scores_it_cut_out(hairpin_model, classifier, step):
    """Every window of real sequence (E. coli with embedded hairpins; soft-masked Arabidopsis; records shorter than,
    equal to and 1 nt longer than the model length, real hairpins with IUPAC codes), both strands: the scan's exact
    scores equal the Classifier's on the window cut out to 1e-5 (in fact bit for bit), the window set is
    deepmir-classify --long window's (starts every `step`, the last flush with the end), and the two-stage scan
    accepts exactly the windows the exact scan accepts, within its proven error bound."""
    records = [embedded(), *ath_records()]
    background = records[0][1]
    records += [("first-199", background[:199]), ("first-200", background[:200]), ("first-201", background[:201])]
    records += [(rid, normalised(seq)) for rid, seq in read_fasta(TEST_DATA / "hairpins-iupac.fa")]
    exact = Scanner(hairpin_model, ScanOptions(step=step, exact=True))
    staged = Scanner(hairpin_model, ScanOptions(step=step))
    threshold = exact.decision.threshold
    checked = accepted = 0
    for rid, seq in records:
        batches = list(exact.windows(seq))
        fast = list(staged.windows(seq))
        starts = np.concatenate([b.starts for b in batches if b.strand == "+"])
        window = min(len(seq), 200)
        expected = sorted({*range(0, len(seq) - window + 1, step), len(seq) - window})
        assert starts.tolist() == expected, rid
        for batch, quick in zip(batches, fast):
            assert batch.exact.all() and quick.strand == batch.strand and np.array_equal(quick.starts, batch.starts)
            calls = classify_windows(classifier, seq, [(batch.strand, int(s), batch.length) for s in batch.starts])
            probabilities = exact.decision.probabilities(batch.logits)
            for row, call in enumerate(calls):
                top = np.argsort(-probabilities[row], kind="stable")[:2]
                assert top.tolist() == call.families, (rid, batch.strand, int(batch.starts[row]))
                assert np.allclose(probabilities[row][top], call.scores, rtol=0, atol=1e-5)
                assert probabilities[row][top].tolist() == call.scores  # the same bits, in fact
                assert (call.status == "accepted") == (batch.score[row] >= threshold)
            checked += len(calls)
            # stage 1 is within its bound of the exact logits, and the windows it accepts are the exact ones
            assert np.all(np.abs(quick.logits - batch.logits).max(axis=1) <= quick.bound)
            assert np.array_equal(staged.accepted(quick), batch.score >= threshold)
            assert np.all(quick.score[quick.exact] == batch.score[quick.exact])
            accepted += int((batch.score >= threshold).sum())
    assert checked > 1000 and accepted > 20


def test_loci_are_the_same_with_and_without_stage_one(hairpin_model):
    """The reported loci (best window, family, scores, merged extent) do not depend on the cheap first stage."""
    records = [SeqRecord(rid, seq) for rid, seq in [embedded(), *ath_records()]]
    exact = Scanner(hairpin_model, ScanOptions(exact=True))
    staged = Scanner(hairpin_model, ScanOptions())
    for record in records:
        assert exact.scan_record(record) == staged.scan_record(record)
    assert staged.stats.rescored < staged.stats.windows / 4  # the first stage spares most of the exact dense work
    # Scanner.scan scores runs of records shorter than the model length together: the same loci as one by one
    short = [SeqRecord(rid, normalised(seq)) for rid, seq in read_fasta(TEST_DATA / "hairpins-hsa30.fa")]
    short += [SeqRecord(rid, normalised(seq)) for rid, seq in read_fasta(TEST_DATA / "hairpins-iupac.fa")]
    mixed = short[:20] + records[:1] + short[20:] + records[1:]
    together = list(staged.scan(mixed))
    assert [record for record, _ in together] == mixed
    assert [loci for _, loci in together] == [exact.scan_record(record) for record in mixed]
    assert sum(len(loci) for _, loci in together) > 30


# --- (b) a known hairpin is found where it is -----------------------------------------------------------------


def test_embedded_hairpin_is_found_on_its_strand_with_its_family(hairpin_model):
    """hsa-let-7a-1 put into real E. coli sequence, on each strand: a locus of that strand, family let-7
    (miFam.dat's), whose best window contains the hairpin."""
    rid, seq = embedded()
    scanner = Scanner(hairpin_model, ScanOptions())
    loci = scanner.scan_record(SeqRecord(rid, seq))
    for strand, (start, end) in (("+", PLUS_AT), ("-", MINUS_AT)):
        found = [locus for locus in loci if locus.strand == strand and locus.start < start and locus.end >= end
                 and scanner.classes[locus.families[0]][0] == LET7]
        assert len(found) == 1, [(l.start, l.end, l.strand, scanner.classes[l.families[0]]) for l in loci]
        assert found[0].locus_start <= found[0].start and found[0].end <= found[0].locus_end
        assert found[0].scores[0] >= scanner.decision.threshold and found[0].windows >= 1


def test_annotated_arabidopsis_precursors_are_found(hairpin_model):
    """Real genomic context: the annotated ath-MIR165a (minus) and ath-MIR159b (plus) precursors, soft-masked
    sequence and all, are each a locus of their strand and miFam.dat family, whose best window holds them."""
    scanner = Scanner(hairpin_model, ScanOptions())
    records = dict(ath_records())
    for rid, start, end, strand, family in ath_truth():
        loci = scanner.scan_record(SeqRecord(rid, records[rid]))
        found = [locus for locus in loci if locus.strand == strand and locus.start < start and locus.end >= end
                 and scanner.classes[locus.families[0]][1] == family]
        assert found, (rid, start, end, strand, family)


# --- (c) formats ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """The GFF3, BED and TSV of the embedded sequence and the Arabidopsis regions (one run of the CLI each)."""
    from deepmir_tools.cli.scan import main

    tmp = tmp_path_factory.mktemp("scan")
    source = write_fasta(tmp / "in.fa", [embedded(), *read_fasta(ATH)])  # Arabidopsis as in the file: lower case
    files = {}
    for fmt in ("gff3", "bed", "tsv"):
        files[fmt] = tmp / f"out.{fmt}"
        assert main(["-q", str(source), "-o", str(files[fmt]), "--format", fmt]) == 0
    return {fmt: path.read_text().splitlines() for fmt, path in files.items()}


def rows(lines: list[str]) -> list[list[str]]:
    return [line.split("\t") for line in lines if not line.startswith("#")]


def test_gff3_layout_and_coordinates(outputs, hairpin_model):
    lines = outputs["gff3"]
    assert lines[0] == "##gff-version 3"
    assert lines[1].startswith(f"##{PROG} {__version__} model=hairpin model_sha256={hairpin_model.sha256} threshold=")
    assert f"threshold={hairpin_model.decision.threshold:g}" in lines[1]
    features = rows(lines[2:])
    assert features and all(len(f) == 9 for f in features)
    ids = []
    for seqid, source, kind, start, end, score, strand, phase, attributes in features:
        assert (source, kind, phase) == ("deepmir", "pre_miRNA", ".") and strand in "+-"
        assert 1 <= int(start) <= int(end) and int(end) - int(start) + 1 == 200
        values = dict(item.split("=", 1) for item in attributes.split(";"))
        assert {"ID", "family", "family_accession", "score", "second_family"} <= set(values)
        assert values["score"] == score and float(score) >= hairpin_model.decision.threshold
        assert (values["family_accession"], values["family"]) in hairpin_model.classes
        ids.append(values["ID"])
    assert len(set(ids)) == len(ids)
    # the embedded hairpins, at their known 1-based inclusive positions
    for strand, (start, end) in (("+", PLUS_AT), ("-", MINUS_AT)):
        assert any(f[0] == "ecoli536-let-7a-1" and f[6] == strand and int(f[3]) <= start and int(f[4]) >= end
                   and f"family_accession={LET7}" in f[8] for f in features), strand
    for rid, start, end, strand, family in ath_truth():
        assert any(f[0] == rid and f[6] == strand and int(f[3]) <= start and int(f[4]) >= end
                   and f"family={family};" in f[8] for f in features), (rid, family)


def test_bed_is_zero_based_half_open_and_tsv_one_based(outputs):
    gff = rows(outputs["gff3"])
    bed = rows(outputs["bed"])
    assert outputs["bed"][0].startswith(f"# {PROG} {__version__} format=bed6 model=hairpin")
    tsv_lines = outputs["tsv"]
    assert tsv_lines[0].startswith(f"# {PROG} {__version__} format=deepmir-scan-tsv/1 model=hairpin")
    assert tsv_lines[1].split("\t") == list(TSV_COLUMNS)
    tsv = [dict(zip(TSV_COLUMNS, line.split("\t"))) for line in tsv_lines[2:]]
    assert len(gff) == len(bed) == len(tsv)
    for g, b, t in zip(gff, bed, tsv):
        assert len(b) == 6 and b[0] == g[0] == t["seqid"] and b[5] == g[6] == t["strand"]
        assert int(b[1]) == int(g[3]) - 1 and int(b[2]) == int(g[4])  # 0-based start, exclusive end
        assert (t["start"], t["end"]) == (g[3], g[4]) and t["score"] == g[5]
        assert int(b[4]) == round(1000 * float(g[5])) and b[3] == t["family_name"]
        assert int(t["locus_start"]) <= int(t["start"]) and int(t["end"]) <= int(t["locus_end"])
    plus = [b for b in bed if b[0] == "ecoli536-let-7a-1" and b[5] == "+" and b[3] == "let-7"]
    start, end = PLUS_AT
    assert any(int(b[1]) <= start - 1 and int(b[2]) >= end for b in plus)  # [start-1, end) holds the hairpin


# --- (d) the command line ------------------------------------------------------------------------------------


def test_help_and_version(run_main):
    result = run_main(PROG, "--help")
    assert result.code == 0
    for text in ("examples:", "--step", "--format", "gff3", "bed", "tsv", "(default: 10)", "(default: hairpin)",
                 "--threads", "1-based", "0-based"):
        assert text in result.out, text
    result = run_main(PROG, "--version")
    assert result.code == 0 and result.out.strip() == f"{PROG} {__version__}"


@pytest.mark.parametrize("content, message", [
    (b">r1\nACGU*ACGU\n", "invalid character '*'"),
    (b"hello\n", "not a FASTA or FASTQ file"),
    (b">r1\n\n>r2\nACGU\n", "empty sequence"),
])
def test_bad_input_is_one_line_exit_2_and_no_output(run_main, tmp_path, content, message):
    source = tmp_path / "in.fa"
    source.write_bytes(content)
    out = tmp_path / "out.gff3"
    result = run_main(PROG, "-q", source, "-o", out)
    assert result.code == 2 and message in result.err
    assert result.err.startswith(f"{PROG}: error: ") and result.err.count("\n") == 1
    assert not out.exists() and not list(tmp_path.glob(".deepmir-tmp-*"))


def test_error_after_the_first_record_leaves_the_old_output(run_main, tmp_path):
    """Atomic output: a bad second record after a scanned first one leaves a previous output untouched."""
    source = write_fasta(tmp_path / "in.fa", [embedded(), ("bad", "ACGU-ACGU")])
    out = tmp_path / "out.gff3"
    out.write_text("previous\n")
    result = run_main(PROG, "-q", source, "-o", out)
    assert result.code == 2 and "record 'bad'" in result.err and result.err.count("\n") == 1
    assert out.read_text() == "previous\n" and not list(tmp_path.glob(".deepmir-tmp-*"))


@pytest.mark.parametrize("options, message", [
    (["--step", "0"], "must be >= 1"),
    (["--step", "201"], "--step must be between 1 and the model length 200"),
    (["-m", "mature"], "read model"),
    (["--format", "gff"], "invalid choice"),
])
def test_bad_options_exit_2(run_main, tmp_path, options, message):
    source = write_fasta(tmp_path / "in.fa", read_fasta(HAIRPIN))
    out = tmp_path / "out.gff3"
    result = run_main(PROG, source, "-o", out, *options)
    assert result.code == 2 and message in result.err and result.err.count("\n") == 1
    assert not out.exists()


def test_missing_input_and_empty_fasta(run_main, tmp_path):
    result = run_main(PROG, tmp_path / "absent.fa", "-o", tmp_path / "out.gff3")
    assert result.code == 2 and "no such file" in result.err and not (tmp_path / "out.gff3").exists()
    (tmp_path / "empty.fa").write_text("")
    result = run_main(PROG, "-q", tmp_path / "empty.fa", "-o", tmp_path / "out.gff3")
    assert result.code == 0
    lines = (tmp_path / "out.gff3").read_text().splitlines()
    assert len(lines) == 2 and lines[0] == "##gff-version 3" and lines[1].startswith(f"##{PROG} ")


def test_stdin_gzip_and_files_agree(run_main, tmp_path):
    """The same loci from a plain file, a gzip file and gzip on standard input (a separate process: python -m),
    with a summary line on stderr."""
    records = [embedded(), *read_fasta(ATH)]
    plain = write_fasta(tmp_path / "in.fa", records)
    packed = tmp_path / "in.fa.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    first = run_main(PROG, plain, "-o", tmp_path / "plain.gff3", "--format", "tsv")
    assert first.code == 0 and "loci (" in first.err and "3 records" in first.err
    assert run_main(PROG, "-q", packed, "-o", tmp_path / "packed.gff3", "--format", "tsv").code == 0
    done = subprocess.run([sys.executable, "-m", "deepmir_tools.cli.scan", "-q", "-", "--format", "tsv"],
                          input=packed.read_bytes(), capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    expected = (tmp_path / "plain.gff3").read_text()
    assert (tmp_path / "packed.gff3").read_text() == expected == done.stdout.decode()
    assert len(expected.splitlines()) > 4
