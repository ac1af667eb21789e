"""The four encodings (deepmir_tools.encodings) on real sequences, against independent expectations.

Expectations are built here without the encoder: one-hot from a dict, base-pair probabilities from
ViennaRNA's legacy global API (``RNA.pf_fold`` + ``RNA.get_pr``, a different route from the encoder's
``fold_compound``/``bpp``, without its MFE rescaling), MFE helices from ``RNA.fold``.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import read_fasta
from hypothesis import given, settings
from hypothesis import strategies as st

from deepmir_tools.encodings import (
    ENCODINGS,
    base_indices,
    encode,
    model_input,
    one_hot,
    pair_codes,
    pair_probabilities,
    pair_values,
    structure_matrices,
)
from deepmir_tools.seqio import read_records

RNA = pytest.importorskip("RNA")

T = 1e-4
ORDERED = {"AU": 1, "UA": 2, "CG": 3, "GC": 4, "GU": 5, "UG": 6}  # paper, pair matrix with order: k/6
UNORDERED = {"AU": 1, "UA": 1, "CG": 2, "GC": 2, "GU": 3, "UG": 3}  # without order: k/3
MIRROR = {0: 0, 1: 2, 2: 1, 3: 4, 4: 3, 5: 6, 6: 5}  # ordered code of (j, i) given that of (i, j)
ONE_HOT_ROW = {"A": [1, 0, 0, 0], "C": [0, 1, 0, 0], "G": [0, 0, 1, 0], "U": [0, 0, 0, 1]}


def first_seq(path) -> str:
    return read_fasta(path)[0][1]


@pytest.fixture(scope="module")
def let7(test_data) -> str:
    return first_seq(test_data / "hsa-let-7a-1.fa")


@pytest.fixture(scope="module")
def trna(test_data) -> str:
    return first_seq(test_data / "trna-hsa-Ala-AGC-1-1.fa")


def expected_one_hot(seq: str, max_len: int) -> np.ndarray:
    rows = [ONE_HOT_ROW.get(base, [0, 0, 0, 0]) for base in seq[:max_len]]
    rows += [[0, 0, 0, 0]] * (max_len - len(rows))
    return np.array(rows, dtype=np.uint8)


def viennarna_probabilities(seq: str) -> np.ndarray:
    """Full symmetric base-pair probability matrix through ViennaRNA's legacy API."""
    RNA.pf_fold(seq)
    n = len(seq)
    matrix = np.zeros((n, n))
    for i in range(1, n + 1):
        for j in range(i + 1, n + 1):
            matrix[i - 1, j - 1] = matrix[j - 1, i - 1] = RNA.get_pr(i, j)
    return matrix


def stacked_mfe_pairs(seq: str) -> list[tuple[int, int]]:
    """0-based (i, j) pairs of the MFE structure that stack on a neighbouring pair (helix pairs)."""
    structure, _ = RNA.fold(seq)
    stack, pairs = [], set()
    for position, char in enumerate(structure):
        if char == "(":
            stack.append(position)
        elif char == ")":
            pairs.add((stack.pop(), position))
    return sorted((i, j) for i, j in pairs if (i + 1, j - 1) in pairs or (i - 1, j + 1) in pairs)


# --- one-hot --------------------------------------------------------------------------------


def test_one_hot_exact(test_data, let7, trna):
    reads = [seq.replace("T", "U") for _, seq in read_fasta_fastq(test_data / "reads-bovine40.fq")]
    iupac = [seq for _, seq in read_fasta(test_data / "hairpins-iupac.fa")]
    seqs = [let7, trna] + iupac + reads
    got = one_hot(seqs, 200)
    assert got.dtype == np.uint8 and got.shape == (len(seqs), 200, 4)
    for row, seq in zip(got, seqs):
        np.testing.assert_array_equal(row, expected_one_hot(seq, 200))


def read_fasta_fastq(path) -> list[tuple[str, str]]:
    lines = open(path).read().splitlines()
    return [(lines[k][1:].split()[0], lines[k + 1]) for k in range(0, len(lines), 4)]


def test_one_hot_padding_and_row_sums(let7):
    x = one_hot([let7], 200)[0]
    assert x[: len(let7)].sum(axis=1).tolist() == [1] * len(let7)
    assert not x[len(let7):].any()  # zeros after the sequence


def test_one_hot_iupac_rows_are_zero(test_data):
    records = {i: s for i, s in read_fasta(test_data / "hairpins-iupac.fa")}
    x = one_hot(list(records.values()), 200)
    for row, seq in zip(x, records.values()):
        ambiguous = [k for k, base in enumerate(seq) if base not in "ACGU"]
        assert ambiguous and not row[ambiguous].any()
        assert row[[k for k in range(len(seq)) if k not in ambiguous]].sum(axis=1).min() == 1


def test_one_hot_truncates_long_sequences(test_data):
    long_seq = first_seq(test_data / "riboswitch-251nt.fa")
    np.testing.assert_array_equal(one_hot([long_seq], 200)[0], expected_one_hot(long_seq[:200], 200))


def test_base_indices(let7):
    codes = base_indices([let7, "NNACGU"], 90)
    assert codes[0, :4].tolist() == [3, 2, 2, 2]  # U G G G
    assert codes[0, 80:].tolist() == [255] * 10
    assert codes[1, :6].tolist() == [255, 255, 0, 1, 2, 3]


def test_one_hot_empty_batch():
    assert one_hot([], 200).shape == (0, 200, 4)


@pytest.mark.parametrize("name", ["hairpins-hsa30.fa", "rfam-RF00027-dna.fa"])
def test_lowercase_and_dna_input_encode_like_rna(tmp_path, test_data, name):
    """Lower-case and DNA letters are accepted: the reader normalises, the encoder sees ACGU."""
    original = (test_data / name).read_bytes()
    lower = tmp_path / "lower.fa"
    lower.write_bytes(b"\n".join(line if line.startswith(b">") else line.lower() for line in original.split(b"\n")))
    rna = [seq.upper().replace("T", "U") for _, seq in read_fasta(test_data / name)]
    expected = np.stack([expected_one_hot(seq, 200) for seq in rna])
    for path in (test_data / name, lower):
        seqs = [record.seq for record in read_records(str(path))]
        np.testing.assert_array_equal(one_hot(seqs, 200), expected)


# --- base-pair probabilities ----------------------------------------------------------------


@pytest.mark.parametrize("which", ["let7", "trna"])
def test_pair_probabilities_equal_viennarna(request, which):
    seq = request.getfixturevalue(which)
    got = pair_probabilities(seq)
    expected = viennarna_probabilities(seq)
    assert got.shape == (len(seq), len(seq))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(got, got.T)  # symmetric
    assert not np.diag(got).any()
    assert got.sum(axis=1).max() <= 1 + 1e-9  # a base pairs with at most one partner
    assert got.max() > 0.5  # real structured RNAs: some pairs are likely


@pytest.fixture(scope="module")
def let7_probabilities(let7) -> np.ndarray:
    return viennarna_probabilities(let7)


def test_prob_matrix_stored_values(let7, let7_probabilities):
    n, expected = len(let7), np.where(let7_probabilities >= T, let7_probabilities, 0.0)
    x = encode([let7], "prob", 200, T)
    assert x.dtype == np.float16 and x.shape == (1, 200, 200)
    stored = x[0].astype(np.float64)
    # float16 keeps 11 significant bits: equal to ViennaRNA's value up to half a unit in the last place
    np.testing.assert_allclose(stored[:n, :n], expected, rtol=2**-11, atol=1e-6)
    np.testing.assert_array_equal(stored[:n, :n] != 0, let7_probabilities >= T)
    np.testing.assert_array_equal(stored, stored.T)
    assert not stored[n:].any() and not stored[:, n:].any()  # zero padding after the sequence


@pytest.mark.parametrize("threshold", [1e-4, 0.01, 0.1, 0.5])
def test_threshold(let7, let7_probabilities, threshold):
    n = len(let7)
    margin = np.abs(let7_probabilities - threshold) > 1e-6  # cells too close to T to tell the routes apart
    prob = encode([let7], "prob", 200, threshold)[0, :n, :n]
    pair = encode([let7], "pair", 200, threshold)[0, :n, :n]
    above = let7_probabilities >= threshold
    np.testing.assert_array_equal((prob != 0)[margin], above[margin])
    np.testing.assert_array_equal((pair != 0)[margin], above[margin])
    assert above.any() and (~above).any()


@pytest.mark.parametrize("which", ["let7", "trna"])
def test_pair_codes_of_mfe_helices(request, which):
    seq = request.getfixturevalue(which)
    helix = stacked_mfe_pairs(seq)
    assert len(helix) >= 10
    ordered = encode([seq], "pair", 200, T, ordered=True)[0]
    unordered = encode([seq], "pair", 200, T, ordered=False)[0]
    assert ordered.dtype == np.uint8
    for i, j in helix:
        assert ordered[i, j] == ORDERED[seq[i] + seq[j]], (i, j)
        assert ordered[j, i] == ORDERED[seq[j] + seq[i]], (j, i)
        assert unordered[i, j] == unordered[j, i] == UNORDERED[seq[i] + seq[j]]
    seen = {int(ordered[i, j]) for i, j in helix}
    assert {3, 4} <= seen  # both orders of G-C occur in real helices


def test_pair_matrix_symmetry_and_support(trna):
    n, probabilities = len(trna), viennarna_probabilities(trna)
    ordered = encode([trna], "pair", 200, T)[0]
    unordered = encode([trna], "pair", 200, T, ordered=False)[0]
    mirrored = np.vectorize(MIRROR.get)(ordered.T)
    np.testing.assert_array_equal(ordered, mirrored)  # (j, i) holds the reversed pair type of (i, j)
    np.testing.assert_array_equal(unordered, unordered.T)
    np.testing.assert_array_equal(ordered[:n, :n] != 0, probabilities >= T)
    assert ordered.max() <= 6 and unordered.max() <= 3
    assert not ordered[n:].any() and not ordered[:, n:].any()
    for i, j in zip(*np.nonzero(ordered)):
        assert ordered[i, j] == ORDERED[trna[i] + trna[j]]


def test_mixed_matrix_layers(let7):
    mixed = encode([let7], "mixed", 200, T)[0]
    assert mixed.dtype == np.float16 and mixed.shape == (200, 200, 2)
    np.testing.assert_array_equal(mixed[..., 0], encode([let7], "prob", 200, T)[0])
    codes = encode([let7], "pair", 200, T)[0]
    np.testing.assert_array_equal(mixed[..., 1], (codes / 6.0).astype(np.float16))
    unordered = encode([let7], "mixed", 200, T, ordered=False)[0]
    codes3 = encode([let7], "pair", 200, T, ordered=False)[0]
    np.testing.assert_array_equal(unordered[..., 1], (codes3 / 3.0).astype(np.float16))


def test_pair_values_and_model_input(let7):
    codes = np.arange(7, dtype=np.uint8)
    np.testing.assert_allclose(pair_values(codes, True), codes / 6.0, rtol=1e-7)
    np.testing.assert_allclose(pair_values(codes[:4], False), codes[:4] / 3.0, rtol=1e-7)
    pair = encode([let7], "pair", 50, T)
    assert model_input(pair, "pair").shape == (1, 50, 50, 1)
    assert model_input(encode([let7], "prob", 50, T), "prob").shape == (1, 50, 50, 1)
    assert model_input(encode([let7], "mixed", 50, T), "mixed").dtype == np.float32


def test_iupac_positions_never_pair(test_data):
    records = read_fasta(test_data / "hairpins-iupac.fa")
    seqs = [seq for _, seq in records]
    prob = encode(seqs, "prob", 200, T)
    pair = encode(seqs, "pair", 200, T)
    for k, seq in enumerate(seqs):
        ambiguous = [i for i, base in enumerate(seq) if base not in "ACGU"]
        assert not prob[k][ambiguous].any() and not prob[k][:, ambiguous].any()
        assert not pair[k][ambiguous].any()
        assert prob[k].any()


def test_sequences_longer_than_max_len_are_cut(test_data):
    long_seq = first_seq(test_data / "riboswitch-251nt.fa")
    x = encode([long_seq], "prob", 200, T)[0].astype(np.float64)
    expected = pair_probabilities(long_seq[:200])
    np.testing.assert_allclose(x, np.where(expected >= T, expected, 0), rtol=2**-11, atol=1e-6)


def test_two_processes_give_the_same_matrices(test_data):
    seqs = [seq for _, seq in read_fasta(test_data / "hairpins-hsa30.fa")[:8]]
    one = structure_matrices(seqs, "mixed", 200, T, threads=1)
    two = structure_matrices(seqs, "mixed", 200, T, threads=2)
    np.testing.assert_array_equal(one, two)


def test_encode_dispatch_and_errors(let7):
    assert set(ENCODINGS) == {"onehot", "prob", "pair", "mixed"}
    np.testing.assert_array_equal(encode([let7], "onehot", 100), one_hot([let7], 100))
    with pytest.raises(ValueError):
        structure_matrices([let7], "onehot")
    assert structure_matrices([], "prob", 20).shape == (0, 20, 20)


def test_pair_codes_direct(let7, let7_probabilities):
    codes = pair_codes(let7, let7_probabilities, 0.5, ordered=True)
    i, j = np.nonzero(codes)
    assert len(i) > 0 and all(let7_probabilities[a, b] >= 0.5 for a, b in zip(i, j))


@given(seqs=st.lists(st.text("ACGURYSWKMBDHVN", max_size=60), max_size=12), max_len=st.integers(1, 50))
@settings(max_examples=100, deadline=None)
def test_one_hot_matches_dict_expectation_on_any_batch(seqs, max_len):
    got = one_hot(seqs, max_len)
    assert got.shape == (len(seqs), max_len, 4)
    for row, seq in zip(got, seqs):
        np.testing.assert_array_equal(row, expected_one_hot(seq, max_len))
