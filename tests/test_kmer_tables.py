"""One-hot CNN inference through k-mer tables (deepmir_tools.kmer_tables).

Expected values come from a second computation that shares nothing with the tables: the Keras
Conv1D model itself on the paper's input (one-hot, zero-padded to 200 nt; ``conftest.padded_logits``),
and window sums written out with ``numpy.einsum`` over one-hot windows.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import TEST_DATA, padded_logits, read_fasta

from deepmir_tools.encodings import base_indices, one_hot
from deepmir_tools.kmer_tables import (NO_BASE, WIDTHS, KmerTableModel, bucket_width, chunk_tables,
                                       tokens_from_codes, tokens_from_onehot)

HAIRPINS = read_fasta(TEST_DATA / "tiny" / "test.fa")
IUPAC = read_fasta(TEST_DATA / "hairpins-iupac.fa")
TRNA = read_fasta(TEST_DATA / "trna-hsa-Ala-AGC-1-1.fa")


def test_every_table_row_is_the_convolution_of_its_chunk(tiny_bundle):
    weights, _ = tiny_bundle.keras_model().get_layer("conv_k6").get_weights()  # (6, 4, filters): chunks 4 + 2
    tables = chunk_tables(weights)
    assert [(offset, width) for offset, width, _ in tables] == [(0, 4), (4, 2)]
    onehot_rows = np.vstack([np.eye(4), np.zeros((1, 4))])  # token 4 = no base
    for offset, width, table in tables:
        assert table.shape == (5**width, weights.shape[2])
        for tokens in itertools.product(range(5), repeat=width):
            window = onehot_rows[list(tokens)]  # (width, 4)
            expected = np.einsum("jc,jcf->f", window, weights[offset : offset + width])
            code = int("".join(map(str, tokens)), 5)
            np.testing.assert_allclose(table[code], expected, atol=1e-6)


def test_tokens_from_codes_and_from_onehot_agree():
    seqs = [seq for _, seq in HAIRPINS[:4] + IUPAC]
    codes = base_indices(seqs, 200)
    from_codes = tokens_from_codes(codes)
    assert from_codes.dtype == np.int32 and set(np.unique(from_codes)) <= {0, 1, 2, 3, NO_BASE}
    assert (from_codes == NO_BASE).any(axis=1).all()  # padding, and the IUPAC letters of hairpins-iupac.fa
    np.testing.assert_array_equal(tokens_from_onehot(one_hot(seqs, 200)), from_codes)


@pytest.mark.parametrize("length", [1, 15, 16, 17, 31, 32, 95, 144, 184, 185, 199, 200])
def test_bucket_width_keeps_an_all_padding_window_within_the_model_length(length):
    width = bucket_width(length, 16, 200)
    assert width in WIDTHS
    assert width >= min(length + 16, 200)  # every window of the 200-padded input, and one all-padding window
    assert width <= 200  # no window the 200-padded input lacks


def test_table_logits_equal_keras_logits_of_200_padded_input(tiny_bundle):
    model = tiny_bundle.keras_model()
    seqs = [seq.upper().replace("T", "U") for _, seq in HAIRPINS + IUPAC + TRNA]
    seqs += [seqs[0][:5], seqs[1][:40], (seqs[2] * 3)[:200]]  # shorter than the widest kernel; exactly 200 nt
    tables = KmerTableModel(model, tiny_bundle.hyperparameters["kernel_sizes"])
    expected = padded_logits(model, seqs)
    np.testing.assert_allclose(tables.logits(tokens_from_codes(base_indices(seqs, 200))), expected, atol=1e-4, rtol=1e-5)
    for seq, row in zip(seqs, expected):  # each sequence alone at its own bucket width
        width = bucket_width(len(seq), 16, 200)
        got = tables.logits(tokens_from_codes(base_indices([seq], width)))[0]
        np.testing.assert_allclose(got, row, atol=1e-4, rtol=1e-5)
