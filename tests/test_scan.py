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
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import TEST_DATA, read_fasta

from deepmir_tools import __version__
from deepmir_tools.bundle import load_bundle
from deepmir_tools.classify import ClassifyOptions, Classifier
from deepmir_tools.scan import (TSV_COLUMNS, Locus, ScanOptions, Scanner, calibrate_scan_threshold, domains,
                                hairpin_candidates, stem_loops, without_antisense_shadows,
                                reverse_complement)
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
    # at the classify threshold (the model's scan threshold accepts too few windows of this sequence to test much)
    low = hairpin_model.decision.threshold
    exact = Scanner(hairpin_model, ScanOptions(step=step, exact=True, threshold=low))
    staged = Scanner(hairpin_model, ScanOptions(step=step, threshold=low))
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


@pytest.mark.parametrize("step", [1, 3, 19, 185, 186, 199, 200])
def test_pooled_window_features_are_the_cut_out_windows_at_any_step(hairpin_model, step):
    """The scan's window maxima (segment maxima combined in van Herk / Gil-Werman blocks) equal the classify kernel's
    global max pooling of each window cut out, bit for bit, on both strands of real E. coli sequence, for steps that
    give blocks of many segments, of one, and none (step > 200 - k + 1 for the wider kernels)."""
    from deepmir_tools.kmer_tables import KmerTableModel, tokens_and_lengths
    from deepmir_tools.scan import _COMPLEMENT, _window_pool, tokens_of

    model = KmerTableModel.from_bundle(hairpin_model)
    seq = embedded()[1][:1400]
    count = (len(seq) - 200) // step + 1
    piece = seq[: (count - 1) * step + 200]
    plus = tokens_of(piece)
    pooled = _window_pool(model, np.stack([plus, _COMPLEMENT[plus[::-1]]]), count, step, 200, 2)
    windows = [piece[i * step : i * step + 200] for i in range(count)]
    windows += [reverse_complement(piece)[i * step : i * step + 200] for i in range(count)]
    tokens, lengths = tokens_and_lengths(windows, 200, int(model.kernel_sizes.max()))
    cut_out = model.pooled(tokens, lengths, 200, 2)
    assert np.array_equal(pooled.reshape(2 * count, -1), cut_out)


def test_loci_are_the_same_with_and_without_stage_one(hairpin_model):
    """The reported loci (best window, family, scores, merged extent) do not depend on the cheap first stage."""
    records = [SeqRecord(rid, seq) for rid, seq in [embedded(), *ath_records()]]
    low = hairpin_model.decision.threshold  # the classify threshold: many more loci than the scan threshold's
    exact = Scanner(hairpin_model, ScanOptions(exact=True, threshold=low))
    staged = Scanner(hairpin_model, ScanOptions(threshold=low))
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
    (miFam.dat's), whose best window contains the hairpin and whose hairpin ends are within 20 nt of where it was
    put (the issue's tolerance)."""
    rid, seq = embedded()
    scanner = Scanner(hairpin_model, ScanOptions())
    loci = scanner.scan_record(SeqRecord(rid, seq))
    for strand, (start, end) in (("+", PLUS_AT), ("-", MINUS_AT)):
        found = [locus for locus in loci if locus.strand == strand and locus.start < start and locus.end >= end
                 and scanner.classes[locus.families[0]][0] == LET7]
        assert len(found) == 1, [(l.start, l.end, l.strand, scanner.classes[l.families[0]]) for l in loci]
        assert found[0].locus_start <= found[0].start and found[0].end <= found[0].locus_end
        assert found[0].scores[0] >= scanner.decision.threshold and found[0].windows >= 1
        assert abs(found[0].hairpin_start + 1 - start) <= 20 and abs(found[0].hairpin_end - end) <= 20


def test_annotated_arabidopsis_precursors_are_found(hairpin_model):
    """Real genomic context: the annotated ath-MIR165a (minus) and ath-MIR159b (plus) precursors, soft-masked
    sequence and all, are each a locus of their strand and miFam.dat family, whose best window holds them and whose
    hairpin ends are within 20 nt of the annotated ones."""
    scanner = Scanner(hairpin_model, ScanOptions())
    records = dict(ath_records())
    for rid, start, end, strand, family in ath_truth():
        loci = scanner.scan_record(SeqRecord(rid, records[rid]))
        found = [locus for locus in loci if locus.strand == strand and locus.start < start and locus.end >= end
                 and scanner.classes[locus.families[0]][1] == family]
        assert len(found) == 1, (rid, start, end, strand, family)
        assert abs(found[0].hairpin_start + 1 - start) <= 20 and abs(found[0].hairpin_end - end) <= 20


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
    assert f"threshold={hairpin_model.decision.scan_threshold:g}" in lines[1]  # the model's scan threshold
    features = rows(lines[2:])
    assert features and all(len(f) == 9 for f in features)
    ids = []
    for seqid, source, kind, start, end, score, strand, phase, attributes in features:
        assert (source, kind, phase) == ("deepmir", "pre_miRNA", ".") and strand in "+-"
        values = dict(item.split("=", 1) for item in attributes.split(";"))
        window_start, window_end = map(int, values["window"].split("-"))  # the best window, 200 nt
        assert window_end - window_start + 1 == 200 and window_start <= int(start) <= int(end) <= window_end
        assert {"ID", "family", "family_accession", "score", "second_family"} <= set(values)
        assert values["score"] == score and float(score) >= hairpin_model.decision.threshold
        assert (values["family_accession"], values["family"]) in hairpin_model.classes
        ids.append(values["ID"])
    assert len(set(ids)) == len(ids)
    # the embedded hairpins, at their known 1-based inclusive positions
    for strand, (start, end) in (("+", PLUS_AT), ("-", MINUS_AT)):
        assert any(f[0] == "ecoli536-let-7a-1" and f[6] == strand and abs(int(f[3]) - start) <= 20
                   and abs(int(f[4]) - end) <= 20 and f"family_accession={LET7}" in f[8] for f in features), strand
    for rid, start, end, strand, family in ath_truth():
        assert any(f[0] == rid and f[6] == strand and abs(int(f[3]) - start) <= 20 and abs(int(f[4]) - end) <= 20
                   and f"family={family};" in f[8] for f in features), (rid, family)


def test_bed_is_zero_based_half_open_and_tsv_one_based(outputs):
    gff = rows(outputs["gff3"])
    bed = rows(outputs["bed"])
    assert outputs["bed"][0].startswith(f"# {PROG} {__version__} format=bed6 model=hairpin")
    tsv_lines = outputs["tsv"]
    assert tsv_lines[0].startswith(f"# {PROG} {__version__} format=deepmir-scan-tsv/2 model=hairpin")
    assert tsv_lines[1].split("\t") == list(TSV_COLUMNS)
    tsv = [dict(zip(TSV_COLUMNS, line.split("\t"))) for line in tsv_lines[2:]]
    assert len(gff) == len(bed) == len(tsv)
    for g, b, t in zip(gff, bed, tsv):
        assert len(b) == 6 and b[0] == g[0] == t["seqid"] and b[5] == g[6] == t["strand"]
        assert int(b[1]) == int(g[3]) - 1 and int(b[2]) == int(g[4])  # 0-based start, exclusive end
        assert (t["start"], t["end"]) == (g[3], g[4]) and t["score"] == g[5]
        assert int(b[4]) == round(1000 * float(g[5])) and b[3] == t["family_name"]
        assert int(t["locus_start"]) <= int(t["window_start"]) <= int(t["start"]) <= int(t["end"])
        assert int(t["end"]) <= int(t["window_end"]) <= int(t["locus_end"])
        assert g[8].split("window=")[1].split(";")[0] == f"{t['window_start']}-{t['window_end']}"
    plus = [b for b in bed if b[0] == "ecoli536-let-7a-1" and b[5] == "+" and b[3] == "let-7"]
    start, end = PLUS_AT
    assert any(abs(int(b[1]) - (start - 1)) <= 20 and abs(int(b[2]) - end) <= 20 for b in plus)  # [start-1, end)


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


# --- (e) the scan threshold -----------------------------------------------------------------------------------


def test_scan_threshold_is_just_above_the_background_loci_allowed(hairpin_model):
    """The rule's arithmetic on real sequence (E. coli 3,000 nt and the two Arabidopsis regions, as if they were
    background): with none allowed, the threshold is just above the highest hairpin score of the loci whose windows
    reach the window threshold; a scan at it finds nothing, a scan at that score finds that locus. Allowing K loci
    puts it just above the (K+1)-th highest. The scores come from a scan that keeps every candidate locus."""
    rule = replace(hairpin_model.decision, scan_threshold=None, scan_window_threshold=None)
    low = rule.threshold  # windows (and hairpins) from the classify threshold
    every = Scanner(hairpin_model, ScanOptions(threshold=low), rule)
    records = [SeqRecord(rid, normalised(seq)) for path in (ECOLI, ATH) for rid, seq in read_fasta(path)]
    scores = sorted((locus.decision_score for _, loci in every.scan(records) for locus in loci), reverse=True)
    assert len(scores) >= 3 and scores[0] > scores[2] > low
    nt = sum(len(record.seq) for record in records)
    none = calibrate_scan_threshold(hairpin_model, rule, [str(ECOLI), str(ATH)], 0.1, low)  # floor(0.1 x nt/1e6) = 0
    assert none.allowed == 0 and none.nucleotides == nt and none.scores.tolist() == scores
    assert none.window_threshold == low and none.threshold == np.nextafter(scores[0], np.inf) and none.false_loci == 0
    at = replace(rule, scan_threshold=none.threshold, scan_window_threshold=low)
    assert [loci for _, loci in Scanner(hairpin_model, decision=at).scan(records)] == [[]] * len(records)
    top = Scanner(hairpin_model, decision=replace(at, scan_threshold=scores[0]))
    assert [locus.decision_score for _, loci in top.scan(records) for locus in loci] == [scores[0]]
    per_mb = 2.5 / (nt / 1e6)  # floor(2.5) = 2 allowed
    two = calibrate_scan_threshold(hairpin_model, rule, [str(ECOLI), str(ATH)], per_mb, low)
    assert two.allowed == 2 and two.threshold == np.nextafter(scores[2], np.inf) and two.false_loci == 2


def test_the_model_scan_thresholds_are_the_defaults_and_options_override_them(hairpin_model):
    rule = hairpin_model.decision
    assert rule.scan_threshold is not None and rule.scan_window_threshold is not None  # train_default_models.sh
    shipped = Scanner(hairpin_model)
    assert shipped.locus_threshold == rule.scan_threshold and shipped.decision.threshold == rule.scan_window_threshold
    assert rule.threshold <= rule.scan_window_threshold <= rule.scan_threshold
    other = replace(rule, scan_threshold=0.5, scan_window_threshold=0.2)
    assert (Scanner(hairpin_model, decision=other).locus_threshold, Scanner(hairpin_model, decision=other).decision.threshold
            ) == (0.5, 0.2)
    mine = Scanner(hairpin_model, ScanOptions(threshold=0.3, window_threshold=0.25), other)
    assert (mine.locus_threshold, mine.decision.threshold) == (0.3, 0.25)
    below = Scanner(hairpin_model, ScanOptions(threshold=0.15), other)  # the window threshold never above the locus's
    assert (below.locus_threshold, below.decision.threshold) == (0.15, 0.15)
    plain = Scanner(hairpin_model, decision=replace(rule, scan_threshold=None, scan_window_threshold=None))
    assert plain.locus_threshold == plain.decision.threshold == rule.threshold  # a model without scan thresholds


def test_stem_loops_and_domains_of_a_structure():
    """Read by hand: two stem-loops inside one outer stem (a multiloop), and a third beside it."""
    structure = "((((((...((((....))))..(((....)))..))))))...(((((.....)))))."
    assert stem_loops(structure) == [(9, 21, 4), (23, 33, 3), (44, 59, 5)]
    assert domains(structure) == [(0, 41, 13), (44, 59, 5)]
    assert stem_loops("((..))..((...))") == [(0, 6, 2), (8, 15, 2)]  # a bulge-free stem: every pair counted
    assert stem_loops("((.((...)).))") == [(0, 13, 4)]  # interior loops and bulges stay inside the stem-loop
    assert stem_loops("....") == domains("....") == []
    # with cuts: the stem-loop as it stands inside each interior loop or bulge it crosses, then the whole of it
    assert stem_loops("((.((...)).))", cuts=True) == [(3, 10, 2), (0, 13, 4)]  # interior loop (1 nt each side)
    assert stem_loops("(((.((....))))).", cuts=True) == [(4, 12, 2), (0, 15, 5)]  # bulge on the 5' side
    assert stem_loops(structure, cuts=True) == stem_loops(structure)  # stems without loops: nothing to cut


def test_hairpin_candidates_of_real_hairpins():
    """hsa-let-7a-1 (80 nt) between poly-A flanks (which pair with nothing but U) is one stem-loop about where it
    was put (and one cut of it); hsa-let-7a-1 and hsa-mir-30a (test-data) side by side are two stem-loops (with
    their cuts), each about where it was put."""
    let7 = normalised(read_fasta(HAIRPIN)[0][1])
    *cuts, (start, end) = hairpin_candidates("A" * 30 + let7 + "A" * 40)
    assert abs(start - 30) <= 3 and abs(end - 110) <= 3
    # its fold crosses one bulge with >= 10 pairs inside: that cut comes first, inside the whole stem-loop
    assert len(cuts) == 1 and start < cuts[0][0] < cuts[0][1] < end
    mir30 = next(normalised(seq) for rid, seq in read_fasta(TEST_DATA / "hairpins-hsa30.fa")
                 if rid.split()[0] == "hsa-mir-30a")
    candidates = hairpin_candidates(let7 + "A" * 20 + mir30)
    first = max((c for c in candidates if c[1] <= 90), key=lambda c: c[1] - c[0])  # the whole stem-loops
    second = max((c for c in candidates if c[0] >= 90), key=lambda c: c[1] - c[0])
    assert abs(first[0]) <= 3 and abs(first[1] - 80) <= 3
    assert abs(second[0] - 100) <= 3 and abs(second[1] - (100 + len(mir30))) <= 3
    assert hairpin_candidates("A" * 50) == []


def test_antisense_shadows_are_dropped():
    """Loci by hand: a plus hairpin and its minus shadow (same family, overlapping) keep the higher score; a
    different family on the other strand, a same-family locus overlapping less than half the shorter, and a locus
    of the same strand all stay; at equal scores the plus strand's stays."""
    def locus(strand, start, end, family, score):
        return Locus("chr", start, start + 200, strand, [family, 9], [score, 0.0], score, 1, start, start + 200,
                     start, end)

    true, shadow = locus("+", 100, 180, 1, 0.99), locus("-", 95, 185, 1, 0.9)
    other_family = locus("-", 100, 180, 2, 0.95)
    barely = locus("-", 150, 240, 1, 0.999)  # overlaps true by 30 of its 80 nt: less than half
    same_strand = [locus("+", 400, 480, 1, 0.5), locus("+", 420, 500, 1, 0.6)]
    assert without_antisense_shadows([true, shadow, other_family, barely, *same_strand]) == [
        true, other_family, barely, *same_strand]
    assert without_antisense_shadows([locus("-", 95, 185, 1, 1.0), true]) == [locus("-", 95, 185, 1, 1.0)]
    tie = locus("-", 100, 180, 1, 0.99)
    assert without_antisense_shadows([tie, true]) == [true]
