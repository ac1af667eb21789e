"""Classification (deepmir_tools.classify, deepmir-classify) with the tiny real-data model.

Expected values come from the data (the family in each held-out hairpin's header) or from a second
computation: the paper's way of scoring, one-hot zero-padded to 200 nt straight through the Keras model
(``conftest.padded_softmax``), which shares nothing with the length-bucketed scorer under test.
``deepmir-classify`` runs in this process (``run_main``), through the executable's error handling.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from conftest import TEST_DATA, padded_softmax, read_fasta, read_tsv
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepmir_tools import __version__
from deepmir_tools.classify import ClassifyOptions, Classifier, tsv_row
from deepmir_tools.decision import softmax
from deepmir_tools.scoring import Scorer
from deepmir_tools.seqio import read_any

PROG = "deepmir-classify"
TEST_FA = TEST_DATA / "tiny" / "test.fa"
TRNA = TEST_DATA / "trna-hsa-Ala-AGC-1-1.fa"
READS = TEST_DATA / "reads-bovine40.fq"
RIBOSWITCH = TEST_DATA / "riboswitch-251nt.fa"
COLUMNS = ["id", "length", "family_accession", "family_name", "score", "status", "second_family", "second_score"]
THRESHOLD = 0.977  # the tiny model's (paper default) threshold


def fastq_records(path: Path) -> list[tuple[str, str]]:
    lines = path.read_text().splitlines()
    return [(lines[k][1:].split()[0], lines[k + 1]) for k in range(0, len(lines), 4)]


def headers(path: Path) -> list[dict[str, str]]:
    """``key=value`` fields of each FASTA header, with ``id``."""
    out = []
    for line in path.read_text().splitlines():
        if line.startswith(">"):
            head, *fields = line[1:].split()
            out.append({"id": head, **dict(field.split("=", 1) for field in fields if "=" in field)})
    return out


def fasta_text(records: list[tuple[str, str]]) -> str:
    return "".join(f">{rid}\n{seq}\n" for rid, seq in records)


@pytest.fixture(scope="module")
def classes(tiny_bundle) -> list[str]:
    return [acc for acc, _ in tiny_bundle.classes]


@pytest.fixture(scope="module")
def mixed_records() -> list[tuple[str, str]]:
    """Real sequences of very different lengths: 1-30 nt read pieces, hairpins, 185/186 nt, exactly 200 nt, IUPAC."""
    reads = fastq_records(READS)
    train = dict(read_fasta(TEST_DATA / "tiny" / "train.fa"))
    riboswitch = read_fasta(RIBOSWITCH)[0][1]
    records = [(f"{rid}-prefix{n}", seq[:n]) for n, (rid, seq) in zip((1, 5, 9, 12, 15), reads[5:10])]
    records += reads[:20]
    records += read_fasta(TEST_FA)[:12] + read_fasta(TRNA) + read_fasta(TEST_DATA / "hairpins-iupac.fa")
    records += [("osa-MIR156f", train["osa-MIR156f"]), ("gma-MIR156c", train["gma-MIR156c"])]  # 186 and 185 nt
    records += [("riboswitch-first200", riboswitch[:200]), ("riboswitch-last190", riboswitch[-190:])]
    return records


def classify_file(run_main, tmp: Path, records_or_path, *options: str, name: str = "out.tsv"):
    """Run deepmir-classify on a FASTA (records written to ``tmp/in.fa``) and parse its TSV."""
    source = records_or_path
    if not isinstance(records_or_path, (str, Path)):
        source = tmp / "in.fa"
        source.write_text(fasta_text(records_or_path))
    out = tmp / name
    result = run_main(PROG, "-m", TEST_DATA / "tiny-model.npz", source, "-o", out, *options)
    assert result.code == 0, result.err
    return read_tsv(out), result


# --- scores -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["tables", "keras"])
@pytest.mark.parametrize("batch_size", [5, 256])
def test_bucketed_scores_equal_200_padded_scores(tiny_bundle, mixed_records, batch_size, backend, monkeypatch):
    monkeypatch.setenv("DEEPMIR_ONEHOT_BACKEND", backend)
    seqs = [seq for _, seq in mixed_records]
    assert min(map(len, seqs)) == 1 and max(map(len, seqs)) == 200 and any(184 < len(s) < 200 for s in seqs)
    reference = padded_softmax(tiny_bundle.keras_model(), seqs)
    normalised = [s.upper().replace("T", "U") for s in seqs]
    scorer = Scorer(tiny_bundle, batch_size=batch_size)
    assert (scorer.tables is None) == (backend == "keras")
    scores = softmax(scorer.scores(normalised))  # the scorer returns logits
    np.testing.assert_allclose(scores, reference, atol=1e-5, rtol=0)
    np.testing.assert_allclose(scores.sum(axis=1), 1, atol=1e-5)


# --- TSV v1 -----------------------------------------------------------------------------------------


def test_tsv_v1_held_out_hairpins_and_a_trna(run_main, tmp_path, tiny_bundle, classes):
    (tmp_path / "in.fa").write_bytes(TEST_FA.read_bytes() + TRNA.read_bytes())
    records = read_fasta(tmp_path / "in.fa")
    (comment, columns, rows), result = classify_file(run_main, tmp_path, tmp_path / "in.fa")
    model_sha = hashlib.sha256((TEST_DATA / "tiny-model.npz").read_bytes()).hexdigest()
    assert comment == (f"# deepmir-classify {__version__} format=deepmir-classify-tsv/1 model=tiny "
                       f"model_sha256={model_sha} threshold=0.977")
    assert columns == COLUMNS
    assert [(r["id"], int(r["length"])) for r in rows] == [(rid, len(seq)) for rid, seq in records]
    # every held-out hairpin: the family of its header (a model that classifies them 100% correctly)
    for row, head in zip(rows, headers(TEST_FA)):
        assert (row["family_accession"], row["family_name"]) == (head["family"], head["name"]), row
    reference = padded_softmax(tiny_bundle.keras_model(), [seq for _, seq in records])
    order = np.argsort(-reference, axis=1, kind="stable")
    for row, probs, ranks in zip(rows, reference, order):
        assert float(row["score"]) == pytest.approx(probs.max(), abs=1e-5)
        assert row["family_accession"] == classes[ranks[0]] and row["second_family"] == classes[ranks[1]]
        assert float(row["second_score"]) == pytest.approx(probs[ranks[1]], abs=1e-5)
        assert row["status"] == ("accepted" if probs.max() >= THRESHOLD else "rejected")
    trna = rows[-1]
    assert trna["id"] == "tRNA|hg38|Homo_sapiens_tRNA-Ala-AGC-1-1" and trna["status"] == "rejected"
    accepted = sum(row["status"] == "accepted" for row in rows)
    assert result.err == f"{PROG}: {accepted} accepted, {len(rows) - accepted} rejected (model tiny, threshold 0.977)\n"
    assert accepted >= 36  # most held-out hairpins clear the paper's threshold under this model


def test_no_reject_threshold_and_top_k(run_main, tmp_path, tiny_bundle, classes):
    records = read_fasta(TEST_FA)[:10] + read_fasta(TRNA)
    reference = padded_softmax(tiny_bundle.keras_model(), [seq for _, seq in records])
    (comment, _, rows), _ = classify_file(run_main, tmp_path, records, "--no-reject", "-q")
    assert comment.endswith(" threshold=off") and {row["status"] for row in rows} == {"accepted"}
    (comment, _, rows), _ = classify_file(run_main, tmp_path, records, "--threshold", "0.5", "-q")
    assert comment.endswith(" threshold=0.5")
    assert [row["status"] for row in rows] == ["accepted" if p >= 0.5 else "rejected" for p in reference.max(axis=1)]
    assert rows[-1]["status"] == "accepted"  # the tRNA's score (about 0.76 with this model) is above 0.5
    (_, columns, rows), _ = classify_file(run_main, tmp_path, records, "--top-k", "3", "-q")
    assert columns == COLUMNS + ["family_3", "score_3"]
    third = np.argsort(-reference, axis=1, kind="stable")[:, 2]
    for row, rank3, probs in zip(rows, third, reference):
        assert row["family_3"] == classes[rank3] and float(row["score_3"]) == pytest.approx(probs[rank3], abs=1e-5)
        assert float(row["score"]) >= float(row["second_score"]) >= float(row["score_3"])
    (_, columns, _), _ = classify_file(run_main, tmp_path, records, "--top-k", "1", "-q")
    assert columns == COLUMNS  # top 2 is always reported


def test_same_input_gives_byte_identical_output(run_main, tmp_path, mixed_records):
    classify_file(run_main, tmp_path, mixed_records, "-q", name="a.tsv")
    classify_file(run_main, tmp_path, mixed_records, "-q", "--batch-size", "3", name="b.tsv")
    assert (tmp_path / "a.tsv").read_bytes() == (tmp_path / "b.tsv").read_bytes()


# --- read counts and duplicates --------------------------------------------------------------------


def test_counts_of_collapsed_reads(run_main, tmp_path):
    hairpins = read_fasta(TEST_FA)
    styles = [lambda i, c: f"seq{i}_x{c}", lambda i, c: f"{i}-{c}", lambda i, c: f"seq{i};size={c};",
              lambda i, c: f"seq{i};size={c}", lambda i, c: f"plain{i}"]
    records, counts = [], {}
    sources = hairpins + hairpins[:6] + read_fasta(TRNA) + read_fasta(RIBOSWITCH)  # 6 repeated, 1 rejected, 1 skipped
    for i, (_, seq) in enumerate(sources):
        count = i % 9 + 2
        rid = styles[i % len(styles)](i, count)
        records.append((rid, seq))
        counts[rid] = count if i % len(styles) != 4 else 1
    (_, _, rows), _ = classify_file(run_main, tmp_path, records, "--counts", tmp_path / "counts.tsv", "-q")
    assert [row["id"] for row in rows] == [rid for rid, _ in records]
    seqs = dict(records)
    expected: dict[str, list] = {}
    for row in rows:
        key = row["family_accession"] if row["status"] == "accepted" else row["status"]
        entry = expected.setdefault(key, [row["family_name"] if row["status"] == "accepted" else key, 0, set()])
        entry[1] += counts[row["id"]]
        entry[2].add(seqs[row["id"]])
    assert {"rejected", "skipped"} <= expected.keys() and len(expected) >= 5
    families = sorted((k for k in expected if k not in ("rejected", "skipped")), key=lambda k: (-expected[k][1], k))
    lines = (tmp_path / "counts.tsv").read_text().splitlines()[1:]  # after the '#' provenance line (test_counts.py)
    assert lines[0] == "family_accession\tfamily_name\treads\tunique_sequences"
    assert lines[1:] == [f"{k}\t{expected[k][0]}\t{expected[k][1]}\t{len(expected[k][2])}"
                         for k in families + ["rejected", "skipped"]]
    assert sum(int(line.split("\t")[2]) for line in lines[1:]) == sum(counts.values())
    # --read-counts none: every record is one read
    classify_file(run_main, tmp_path, records, "--counts", tmp_path / "plain.tsv", "--read-counts", "none", "-q")
    assert sum(int(line.split("\t")[2]) for line in (tmp_path / "plain.tsv").read_text().splitlines()[2:]) == len(records)


def test_duplicate_sequences_are_scored_once(monkeypatch, tiny_bundle):
    reads = fastq_records(READS)
    records_text = "".join(f"@{rid}\n{seq}\n+\n{'I' * len(seq)}\n" for rid, seq in reads)
    records_text += "".join(f"@again-{rid}\n{seq}\n+\n{'I' * len(seq)}\n" for rid, seq in reads)
    unique = {seq.upper().replace("T", "U") for _, seq in reads}
    assert len(unique) < len(reads)  # the sample repeats some reads already
    scored: list[str] = []
    original = Scorer.scores

    def spy(self, seqs, *args, **kwargs):
        scored.extend(seqs)
        return original(self, seqs, *args, **kwargs)

    monkeypatch.setattr(Scorer, "scores", spy)
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".fq") as handle:
        handle.write(records_text)
        handle.flush()
        classifier = Classifier(tiny_bundle, ClassifyOptions(chunk_size=16))  # duplicates in other chunks too
        calls = list(classifier.classify(read_any(handle.name)))
    assert len(calls) == 2 * len(reads)
    assert sorted(scored) == sorted(unique)  # each distinct sequence scored exactly once
    rows = {call.id: tsv_row(call, tiny_bundle.classes, 2, False).split("\t", 1)[1] for call in calls}
    by_seq: dict[str, set[str]] = {}
    for rid, seq in reads:
        by_seq.setdefault(seq, set()).update({rows[rid], rows[f"again-{rid}"]})
    assert all(len(found) == 1 for found in by_seq.values())  # identical rows (after the ID) for identical reads


# --- long sequences ---------------------------------------------------------------------------------


def test_long_records_window_skip_truncate(run_main, tmp_path, tiny_bundle, classes):
    riboswitch = read_fasta(RIBOSWITCH)[0][1]
    records = read_fasta(RIBOSWITCH) + read_fasta(TEST_FA)[:2]
    model = tiny_bundle.keras_model()
    starts = [0, 25, 50, 51]  # 251 nt, windows of 200 every 25 nt, the last flush with the end
    window_scores = padded_softmax(model, [riboswitch[s : s + 200] for s in starts])
    best = int(np.argmax(window_scores.max(axis=1)))
    (_, columns, rows), _ = classify_file(run_main, tmp_path, records, "--long", "window", "--window-step", "25", "-q")
    assert columns == COLUMNS + ["offset"]
    assert rows[0]["offset"] == str(starts[best]) and rows[0]["length"] == "251"
    assert float(rows[0]["score"]) == pytest.approx(window_scores[best].max(), abs=1e-5)
    assert rows[0]["family_accession"] == classes[int(window_scores[best].argmax())]
    assert [row["offset"] for row in rows[1:]] == ["0", "0"]
    (_, columns, rows), result = classify_file(run_main, tmp_path, records)
    assert columns == COLUMNS
    assert rows[0] == {"id": records[0][0], "length": "251", "family_accession": ".", "family_name": ".", "score": ".",
                       "status": "skipped", "second_family": ".", "second_score": "."}
    assert "1 skipped" in result.err
    (_, _, rows), _ = classify_file(run_main, tmp_path, records, "--long", "truncate", "-q")
    assert float(rows[0]["score"]) == pytest.approx(padded_softmax(model, [riboswitch[:200]]).max(), abs=1e-5)
    result = run_main(PROG, "-m", TEST_DATA / "tiny-model.npz", tmp_path / "in.fa", "-o", tmp_path / "e.tsv",
                      "--long", "error")
    assert result.code == 2 and "record 'riboswitch|NCYPred_test|20537' (line 1) is 251 nt" in result.err
    assert not (tmp_path / "e.tsv").exists()


# --- other inputs -----------------------------------------------------------------------------------


def test_npz_input_gives_the_same_calls(run_main, tmp_path, mixed_records):
    (tmp_path / "in.fa").write_text(fasta_text(mixed_records + read_fasta(RIBOSWITCH)))
    (_, _, fasta_rows), _ = classify_file(run_main, tmp_path, tmp_path / "in.fa", "-q", "--long", "window",
                                          name="fasta.tsv")
    encoded = run_main("deepmir-encode", tmp_path / "in.fa", "-o", tmp_path / "in.npz", "--long", "window", "-q")
    assert encoded.code == 0, encoded.err
    (_, columns, npz_rows), _ = classify_file(run_main, tmp_path, tmp_path / "in.npz", "-q", "--long", "window",
                                              name="npz.tsv")
    assert columns == COLUMNS + ["offset"] and len(npz_rows) == len(fasta_rows) == len(mixed_records) + 1
    for a, b in zip(fasta_rows, npz_rows):
        same = ("id", "length", "family_accession", "family_name", "status", "second_family", "offset")
        assert {k: a[k] for k in same} == {k: b[k] for k in same}
        assert float(a["score"]) == pytest.approx(float(b["score"]), abs=2e-6)


def test_npz_of_another_encoding_is_refused(run_main, tmp_path):
    encoded = run_main("deepmir-encode", TEST_DATA / "hsa-let-7a-1.fa", "-o", tmp_path / "pair.npz", "-e", "pair", "-q")
    assert encoded.code == 0
    result = run_main(PROG, "-m", TEST_DATA / "tiny-model.npz", tmp_path / "pair.npz", "-o", tmp_path / "out.tsv")
    assert result.code == 2
    assert result.err == (f"{PROG}: error: {tmp_path / 'pair.npz'}: encoded as pair (L=200), but model 'tiny' "
                          "expects onehot (L=200)\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pair.npz"]


@pytest.mark.parametrize("via", ["file", "stdin", "gzip"])
def test_empty_input_gives_a_header_only_tsv(run_main, tmp_path, monkeypatch, via):
    import gzip
    import io
    import sys

    path = tmp_path / "empty.fa"
    path.write_bytes(gzip.compress(b"") if via == "gzip" else b"")
    source = path
    if via == "stdin":
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
        source = "-"
    result = run_main(PROG, "-m", TEST_DATA / "tiny-model.npz", source, "-o", tmp_path / "out.tsv",
                      "--counts", tmp_path / "counts.tsv")
    assert result.code == 0, result.err
    lines = (tmp_path / "out.tsv").read_text().splitlines()
    assert len(lines) == 2 and lines[0].startswith("# deepmir-classify ") and lines[1].split("\t") == COLUMNS
    assert (tmp_path / "counts.tsv").read_text().split("\n", 1)[1] == "family_accession\tfamily_name\treads\tunique_sequences\n"
    assert result.err == f"{PROG}: no sequences (model tiny, threshold 0.977)\n"


def test_stdout_output(run_main, tmp_path):
    result = run_main(PROG, "-m", TEST_DATA / "tiny-model.npz", TRNA, "-q")
    assert result.code == 0
    comment, columns, rows = read_tsv(result.out)
    assert columns == COLUMNS and [row["id"] for row in rows] == ["tRNA|hg38|Homo_sapiens_tRNA-Ala-AGC-1-1"]


def _write_alignments(path: Path, reads: list[tuple[str, str, str]], mode: str) -> None:
    """Reads as unmapped records, except every 5th: mapped to the reverse strand (stored reverse-complemented)."""
    import pysam

    header = pysam.AlignmentHeader.from_dict({"HD": {"VN": "1.6", "SO": "unsorted"},
                                              "SQ": [{"SN": "chr1", "LN": 100000}]})
    complement = str.maketrans("ACGTN", "TGCAN")
    with pysam.AlignmentFile(str(path), mode, header=header) as out:
        for index, (name, seq, quality) in enumerate(reads):
            read = pysam.AlignedSegment(header)
            read.query_name = name
            if index % 5 == 4:
                read.query_sequence = seq.translate(complement)[::-1]
                read.query_qualities = pysam.qualitystring_to_array(quality[::-1])
                read.flag = 16
                read.reference_id, read.reference_start, read.mapping_quality = 0, 1000 + index, 60
                read.cigartuples = [(0, len(seq))]
            else:
                read.query_sequence = seq
                read.query_qualities = pysam.qualitystring_to_array(quality)
                read.flag = 4
                read.reference_id, read.reference_start = -1, -1
            out.write(read)


@pytest.mark.parametrize("kind, mode", [("bam", "wb"), ("sam", "w")])
def test_sam_bam_input_gives_the_fastq_calls(run_main, tmp_path, kind, mode):
    lines = READS.read_text().splitlines()
    reads = [(lines[k][1:].split()[0], lines[k + 1], lines[k + 3]) for k in range(0, len(lines), 4)]
    _write_alignments(tmp_path / f"reads.{kind}", reads, mode)
    from_fastq = run_main(PROG, "-m", TEST_DATA / "tiny-model.npz", READS, "-o", tmp_path / "fq.tsv", "--no-reject", "-q")
    from_alignments = run_main(PROG, "-m", TEST_DATA / "tiny-model.npz", tmp_path / f"reads.{kind}",
                               "-o", tmp_path / "aln.tsv", "--no-reject", "-q")
    assert from_fastq.code == from_alignments.code == 0, from_alignments.err
    assert (tmp_path / "aln.tsv").read_bytes() == (tmp_path / "fq.tsv").read_bytes()
    assert len(read_tsv(tmp_path / "aln.tsv")[2]) == len(reads) == 40


# --- property: any valid FASTA ----------------------------------------------------------------------

LETTERS = "ACGUTNacgutnRYKMSWBDHV"


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seqs=st.lists(st.text(alphabet=LETTERS, min_size=1, max_size=260), min_size=0, max_size=25),
    width=st.integers(min_value=1, max_value=90),
    crlf=st.booleans(),
    chunk=st.integers(min_value=1, max_value=10),
    window=st.booleans(),
)
def test_any_valid_fasta_gives_one_row_per_record(tiny_bundle, seqs, width, crlf, chunk, window):
    import tempfile

    newline = "\r\n" if crlf else "\n"
    text = "".join(f">r{i} some description{newline}" + newline.join(seq[k : k + width] for k in range(0, len(seq), width))
                   + newline for i, seq in enumerate(seqs))
    options = ClassifyOptions(chunk_size=chunk, long_policy="window" if window else "skip", top_k=3)
    with tempfile.NamedTemporaryFile("w", suffix=".fa", newline="") as handle:
        handle.write(text)
        handle.flush()
        calls = list(Classifier(tiny_bundle, options).classify(read_any(handle.name, allow_empty=True)))
    assert [call.id for call in calls] == [f"r{i}" for i in range(len(seqs))]
    assert [call.length for call in calls] == [len(seq) for seq in seqs]
    for call, seq in zip(calls, seqs):
        row = tsv_row(call, tiny_bundle.classes, 3, window).split("\t")
        assert len(row) == 10 + window
        if len(seq) > 200 and not window:
            assert call.status == "skipped"
        else:
            assert call.status in ("accepted", "rejected")
            assert 0 < call.scores[0] <= 1 and call.scores[0] >= call.scores[1] >= call.scores[2]
            assert (call.status == "accepted") == (call.scores[0] >= THRESHOLD)


def test_shipped_hairpin_model_on_real_hairpins_without_tensorflow(tmp_path):
    """The shipped hairpin model as a user runs it (a fresh process): the 30 real human hairpins get the family
    miFam.dat lists for them (labels from test-data/hairpins-hsa30-labelled.fa, made from miFam.dat, not by the model)
    and a real tRNA is rejected; one-hot classification never imports TensorFlow."""
    import subprocess
    import sys

    labelled = {line[1:].split()[0]: line.split("family=")[1].split()[0]
                for line in (TEST_DATA / "hairpins-hsa30-labelled.fa").read_text().splitlines() if line.startswith(">")}
    records = read_fasta(TEST_DATA / "hairpins-hsa30.fa") + read_fasta(TEST_DATA / "trna-hsa-Ala-AGC-1-1.fa")
    (tmp_path / "in.fa").write_text(fasta_text(records))
    script = ("import sys\nfrom deepmir_tools.cli.classify import main\n"
              f"code = main(['-q', '-m', 'hairpin', {str(tmp_path / 'in.fa')!r}, '-o', {str(tmp_path / 'out.tsv')!r}])\n"
              "assert code == 0, code\nassert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    _, _, rows = read_tsv(tmp_path / "out.tsv")
    calls = {row["id"]: (row["family_accession"], row["status"]) for row in rows}
    right = [rid for rid, family in labelled.items() if calls[rid] == (family, "accepted")]
    assert len(right) >= 29, {rid: calls[rid] for rid in labelled if rid not in right}
    trna_id = read_fasta(TEST_DATA / "trna-hsa-Ala-AGC-1-1.fa")[0][0]
    assert calls[trna_id][1] == "rejected"
