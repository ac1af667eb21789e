"""Sequence input (deepmir_tools.seqio) on real sequences from test-data/ (sources: test-data/README.md)."""

from __future__ import annotations

import gzip
import io
import sys
from pathlib import Path

import pytest
from conftest import read_fasta
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepmir_tools.errors import DeepMirError, InputFormatError
from deepmir_tools.seqio import (
    LengthPolicy,
    SeqRecord,
    is_alignment_path,
    normalise_sequence,
    read_alignment_records,
    read_any,
    read_records,
    window_starts,
)

LET7A1 = (
    "UGGGAUGAGGUAGUAGGUUGUAUAGUUUUAGGGUCACACCCACCACUGGGAGAUAACUAU"
    "ACAAUCUACUGUCUUUCCUA"
)  # miRBase 22.1 MI0000060, as in test-data/hsa-let-7a-1.fa


def ids_and_seqs(records) -> list[tuple[str, str]]:
    return [(record.id, record.seq) for record in records]


def as_rna(seq: str) -> str:
    return seq.upper().replace("T", "U")


# --- well-formed input -------------------------------------------------------------------


def test_single_hairpin(test_data):
    [record] = read_records(str(test_data / "hsa-let-7a-1.fa"))
    assert record == SeqRecord("hsa-let-7a-1", LET7A1, "MI0000060 Homo sapiens let-7a-1 stem-loop", 1)


def test_multiline_fasta_matches_naive_parse(test_data):
    path = test_data / "hairpins-hsa30.fa"
    records = list(read_records(str(path)))
    assert ids_and_seqs(records) == read_fasta(path)
    assert len(records) == 30
    assert records[1].line == 4  # header lines are reported 1-based (two sequence lines per record)


def test_gzip_equals_plain(test_data):
    plain = list(read_records(str(test_data / "hairpins-hsa30.fa")))
    assert list(read_records(str(test_data / "hairpins-hsa30.fa.gz"))) == plain


def test_fastq_reads_dna_to_rna_and_n_kept(test_data):
    records = list(read_records(str(test_data / "reads-bovine40.fq")))
    lines = (test_data / "reads-bovine40.fq").read_text().splitlines()
    assert len(records) == 40
    assert [r.id for r in records] == [line[1:].split()[0] for line in lines[0::4]]
    assert [r.seq for r in records] == [as_rna(line) for line in lines[1::4]]
    assert records[0].seq.startswith("N")  # the first reads of this run begin with an uncalled base
    assert list(read_records(str(test_data / "reads-bovine40.fq.gz"))) == records


def test_dna_alphabet_becomes_rna(test_data):
    path = test_data / "rfam-RF00027-dna.fa"
    records = list(read_records(str(path)))
    assert ids_and_seqs(records) == [(i, as_rna(s)) for i, s in read_fasta(path)]
    assert all("T" not in r.seq for r in records)


def test_iupac_codes_are_kept(test_data):
    records = {r.id: r.seq for r in read_records(str(test_data / "hairpins-iupac.fa"))}
    assert records["zma-MIR160a"][54] == "Y"
    assert records["zma-MIR166g"][32] == "R"
    assert records["rno-mir-215"][44:46] == "NN"


@pytest.mark.parametrize(
    "transform",
    [
        pytest.param(lambda b: b.lower(), id="lowercase"),
        pytest.param(lambda b: b.replace(b"\n", b"\r\n"), id="windows-line-ends"),
        pytest.param(lambda b: b"\xef\xbb\xbf" + b, id="utf8-bom"),
        pytest.param(lambda b: b"\n\n" + b.replace(b"\n>", b"\n\n>") + b"\n\n", id="blank-lines"),
        pytest.param(lambda b: b.replace(b"\n", b"  \n"), id="trailing-spaces"),
    ],
)
def test_accepted_variants(tmp_path, test_data, transform):
    original = (test_data / "hairpins-hsa30.fa").read_bytes()
    path = tmp_path / "variant.fa"
    path.write_bytes(transform(original))
    expected = [(i, s) for i, s in read_fasta(test_data / "hairpins-hsa30.fa")]
    got = ids_and_seqs(read_records(str(path)))
    if transform(b"ID") == b"id":  # lower-casing also lower-cases the IDs; sequences come back upper case
        expected = [(i.lower(), s) for i, s in expected]
    assert got == expected


class _FakeStdin:
    def __init__(self, data: bytes):
        self.buffer = io.BufferedReader(io.BytesIO(data))


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_stdin(monkeypatch, test_data, compress):
    data = (test_data / "hairpins-hsa30.fa").read_bytes()
    monkeypatch.setattr(sys, "stdin", _FakeStdin(gzip.compress(data) if compress else data))
    assert ids_and_seqs(read_records("-")) == read_fasta(test_data / "hairpins-hsa30.fa")


def test_allow_empty_and_duplicates_option(tmp_path, test_data):
    empty = tmp_path / "empty.fa"
    empty.write_bytes(b"")
    assert list(read_records(str(empty), allow_empty=True)) == []
    twice = tmp_path / "twice.fa"
    twice.write_bytes((test_data / "hsa-let-7a-1.fa").read_bytes() * 2)
    assert len(list(read_records(str(twice), unique_ids=False))) == 2


def test_normalise_sequence():
    assert normalise_sequence(b"acgtnRy") == b"ACGUNRY"


# --- malformed input: InputFormatError naming file, record and line -----------------------

def _let7(test_data: Path) -> bytes:
    return (test_data / "hsa-let-7a-1.fa").read_bytes()


def _fastq(test_data: Path, lines: int) -> bytes:
    """The first ``lines`` lines of the real FASTQ file."""
    return b"".join((test_data / "reads-bovine40.fq").read_bytes().splitlines(keepends=True)[:lines])


BAD = [
    ("empty", lambda d: b"", "no sequences found"),
    ("header-only", lambda d: _let7(d).splitlines(keepends=True)[0], "record 'hsa-let-7a-1', line 1: empty sequence"),
    ("duplicate-id", lambda d: _let7(d) * 2, "record 'hsa-let-7a-1', line 4: duplicate sequence ID"),
    ("digit", lambda d: _let7(d).replace(b"UGGGAUGAGG", b"UGGGAUGAG5", 1), "line 2: invalid character '5'"),
    ("asterisk", lambda d: _let7(d).replace(b"CUUUCCUA", b"CUUUCCUA*"), "line 3: invalid character '*'"),
    ("internal-space", lambda d: _let7(d).replace(b"UGGGAUGAGG", b"UGGGA UGAGG", 1), "invalid character ' '"),
    ("gap", lambda d: _let7(d).replace(b"UGGGAUGAGG", b"UGGGA-UGAGG", 1), "invalid character '-'"),
    ("not-utf8-header", lambda d: _let7(d).replace(b"Homo sapiens", b"Homo sapi\xe9ns"),
     "line 1: header is not valid UTF-8"),
    ("nul-in-header", lambda d: _let7(d).replace(b" MI0000060", b"\x00MI0000060"),
     "line 1: header contains control characters"),
    ("no-id", lambda d: b">\n" + _let7(d).splitlines(keepends=True)[1], "line 1: header has no sequence ID"),
    ("not-fasta", lambda d: (d / "README.md").read_bytes(), "not a FASTA or FASTQ file"),
    ("truncated-gzip", lambda d: (d / "hairpins-hsa30.fa.gz").read_bytes()[:600], "corrupt or truncated gzip"),
    ("fastq-quality-length", lambda d: _fastq(d, 4)[:-2] + b"\n",
     "record 'SRR3472275.1', line 4: quality length 20 differs from sequence length 21"),
    ("fastq-truncated", lambda d: _fastq(d, 6),
     "truncated FASTQ record"),
    ("fastq-no-plus", lambda d: _fastq(d, 8).replace(b"\n+SRR3472275.1 ", b"\n-SRR3472275.1 ", 1),
     "expected '+' separator line"),
]


@pytest.mark.parametrize("make, message", [pytest.param(m, msg, id=name) for name, m, msg in BAD])
def test_malformed_input(tmp_path, test_data, make, message):
    path = tmp_path / "bad.fa"
    path.write_bytes(make(test_data))
    with pytest.raises(InputFormatError) as caught:
        list(read_records(str(path)))
    text = str(caught.value)
    assert text.startswith(str(path) + ": ")
    assert message in text
    assert "\n" not in text


def test_missing_and_directory(tmp_path):
    with pytest.raises(DeepMirError, match="no such file"):
        list(read_records(str(tmp_path / "missing.fa")))
    with pytest.raises(DeepMirError, match="is a directory"):
        list(read_records(str(tmp_path)))


# --- SAM/BAM input through pysam ----------------------------------------------------------

def _revcomp(seq: str) -> str:
    return seq[::-1].translate(str.maketrans("ACGTN", "TGCAN"))


def test_sam_reads_forward_orientation(tmp_path, test_data):
    lines = (test_data / "reads-bovine40.fq").read_text().splitlines()
    reads = [(lines[k][1:].split()[0], lines[k + 1], lines[k + 3]) for k in range(0, 12, 4)]
    sam = ["@HD\tVN:1.6\tSO:unsorted", "@SQ\tSN:ref\tLN:1000"]
    for n, (name, seq, qual) in enumerate(reads):
        if n == 1:  # stored as the reverse complement on the minus strand, as aligners do
            sam.append(f"{name}\t16\tref\t1\t60\t{len(seq)}M\t*\t0\t0\t{_revcomp(seq)}\t{qual[::-1]}")
        else:
            sam.append(f"{name}\t4\t*\t0\t0\t*\t*\t0\t0\t{seq}\t{qual}")
    path = tmp_path / "reads.sam"
    path.write_text("\n".join(sam) + "\n")
    assert is_alignment_path(str(path))
    got = ids_and_seqs(read_any(str(path)))
    assert got == [(name, as_rna(seq)) for name, seq, _ in reads]


def test_sam_not_an_alignment(tmp_path, test_data):
    path = tmp_path / "reads.bam"
    path.write_bytes((test_data / "hsa-let-7a-1.fa").read_bytes())
    with pytest.raises(InputFormatError):
        list(read_alignment_records(str(path)))


# --- length policy and windows ------------------------------------------------------------

def _records(test_data) -> list[SeqRecord]:
    return list(read_records(str(test_data / "hsa-let-7a-1.fa"))) + list(
        read_records(str(test_data / "riboswitch-251nt.fa"))
    )


def test_length_policy_error(test_data):
    with pytest.raises(InputFormatError, match=r"record 'riboswitch\|NCYPred_test\|20537' \(line 1\) is 251 nt"):
        list(LengthPolicy(200, "error").segments(_records(test_data)))


def test_length_policy_skip(test_data):
    policy = LengthPolicy(200, "skip")
    segments = list(policy.segments(_records(test_data)))
    assert [s.id for s in segments] == ["hsa-let-7a-1"] and policy.skipped == 1


def test_length_policy_truncate(test_data):
    records = _records(test_data)
    segments = list(LengthPolicy(200, "truncate").segments(records))
    assert [(s.index, s.seq, s.offset, s.source_length) for s in segments] == [
        (0, records[0].seq, 0, 80), (1, records[1].seq[:200], 0, 251)
    ]


def test_length_policy_window(test_data):
    records = _records(test_data)
    segments = list(LengthPolicy(200, "window", step=50).segments(records))
    long_seq = records[1].seq
    assert [(s.index, s.offset) for s in segments] == [(0, 0), (1, 0), (1, 50), (1, 51)]
    for s in segments[1:]:
        assert s.seq == long_seq[s.offset : s.offset + 200] and len(s.seq) == 200
        assert s.id == records[1].id and s.source_length == 251 and s.description == records[1].description
    assert segments[-1].offset + 200 == len(long_seq)  # the last window ends flush with the sequence


def test_length_policy_bad_options():
    with pytest.raises(DeepMirError, match="unknown --long policy"):
        LengthPolicy(200, "wrap")
    with pytest.raises(DeepMirError, match="--window-step must be >= 1"):
        LengthPolicy(200, "window", step=0)


def test_window_starts_examples():
    assert window_starts(80, 200, 50) == [0]
    assert window_starts(200, 200, 50) == [0]
    assert window_starts(251, 200, 50) == [0, 50, 51]
    assert window_starts(300, 200, 50) == [0, 50, 100]


@given(length=st.integers(1, 2000), window=st.integers(1, 300), step=st.integers(1, 400))
@settings(max_examples=100, deadline=None)
def test_window_starts_cover_everything(length, window, step):
    starts = window_starts(length, window, step)
    assert starts[0] == 0
    assert starts == sorted(set(starts))
    if length <= window:
        assert starts == [0]
        return
    assert starts[-1] == length - window  # covers the end
    assert all(b - a <= step for a, b in zip(starts, starts[1:]))
    covered = set()
    for start in starts:
        covered.update(range(start, start + window))
    if step <= window:
        assert covered == set(range(length))  # no position is left out


# --- property: the reader fails only with its own one-line errors -------------------------

_FASTA_ISH = st.one_of(
    st.binary(max_size=300),
    st.builds(lambda head, body: head + body, st.sampled_from([b">", b"@", b"\xef\xbb\xbf>", b"\x1f\x8b"]),
              st.binary(max_size=300)),
    st.lists(st.sampled_from([b">r1 x\n", b">r2\n", b"@q\n", b"+\n", b"ACGU\n", b"acgt\r\n", b"NNRY\n", b"II\n",
                              b"\n", b"12\n", b"A C\n", b"\xff\n", b"IIII\n"]), max_size=12).map(b"".join),
)


@given(data=_FASTA_ISH, compress=st.booleans())
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_reader_never_raises_foreign_errors(tmp_path, data, compress):
    path = tmp_path / "random.fa"
    path.write_bytes(gzip.compress(data) if compress else data)
    try:
        records = list(read_records(str(path)))
    except DeepMirError as exc:
        assert "\n" not in str(exc)
        return
    for record in records:
        assert record.id and record.seq
        assert set(record.seq) <= set("ACGURYSWKMBDHVN")


@given(data=st.binary(min_size=1, max_size=200), cut=st.integers(1, 40))
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_truncated_gzip_is_an_input_error(tmp_path, test_data, data, cut):
    real = (test_data / "hairpins-hsa30.fa").read_bytes()
    compressed = gzip.compress(real + data)
    path = tmp_path / "cut.fa.gz"
    path.write_bytes(compressed[: max(2, len(compressed) - cut)])
    with pytest.raises(DeepMirError):
        list(read_records(str(path)))
