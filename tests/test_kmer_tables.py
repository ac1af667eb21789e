"""One-hot CNN inference through k-mer tables (deepmir_tools.kmer_tables, table_kernel).

Expected values come from a second computation that shares nothing with the tables: the Keras
Conv1D model itself on the paper's input (one-hot, zero-padded to 200 nt; ``conftest.padded_logits``),
window sums written out with ``numpy.einsum`` over one-hot windows, and brute force over every input
of a small kernel.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import TEST_DATA, padded_logits, read_fasta

from deepmir_tools.encodings import base_indices, one_hot
from deepmir_tools.errors import ModelBundleError
from deepmir_tools.kmer_tables import (NO_BASE, KmerTableModel, check_weights, chunk_tables, live_filters,
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


def test_a_filter_is_left_out_exactly_when_no_input_activates_it():
    """Brute force over all 5^3 windows (4 bases or none per position) of random width-3 kernels."""
    rng = np.random.default_rng(3)
    weights, bias = rng.normal(size=(3, 4, 64)).astype(np.float32), rng.normal(scale=2, size=64).astype(np.float32)
    rows = np.vstack([np.eye(4), np.zeros((1, 4))])
    windows = np.array([rows[list(tokens)] for tokens in itertools.product(range(5), repeat=3)])  # (125, 3, 4)
    activations = np.maximum(np.einsum("njc,jcf->nf", windows, weights) + bias, 0)
    live = live_filters(weights, bias)
    assert 0 < live.sum() < 64  # both kinds occur with these weights
    np.testing.assert_array_equal(live, activations.max(axis=0) > 0)


def tokens_at_width(seqs: list[str], width: int) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.array([min(len(s), 200) for s in seqs])
    return tokens_from_codes(base_indices(seqs, width)), lengths


def test_table_logits_equal_keras_logits_of_200_padded_input(tiny_bundle):
    model = tiny_bundle.keras_model()
    seqs = [seq.upper().replace("T", "U") for _, seq in HAIRPINS + IUPAC + TRNA]
    seqs += [seqs[0][:5], seqs[1][:40], (seqs[2] * 3)[:190], (seqs[2] * 3)[:200], (seqs[2] * 3)[:260]]
    tables = KmerTableModel(tiny_bundle.weights, tiny_bundle.hyperparameters["kernel_sizes"])
    expected = padded_logits(model, seqs)
    widest = max(tiny_bundle.hyperparameters["kernel_sizes"])
    together = min(max(map(len, seqs)) + widest - 1, 200)
    for width in (together, 200):  # the narrowest token array allowed, and the full model length
        got = tables.logits(*tokens_at_width(seqs, width), 200)
        np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-5)
    for seq, row in zip(seqs, expected):  # each sequence alone, in the narrowest array it allows
        got = tables.logits(*tokens_at_width([seq], min(len(seq) + widest - 1, 200)), 200)[0]
        np.testing.assert_allclose(got, row, atol=1e-4, rtol=1e-5)


def test_rows_of_full_length_take_every_window_like_keras_on_stored_input(tiny_bundle):
    """NPZ input: the stored padded matrix is the model input, every window computed (no padding shortcut)."""
    seqs = [seq for _, seq in HAIRPINS[:6]]
    tables = KmerTableModel(tiny_bundle.weights, tiny_bundle.hyperparameters["kernel_sizes"])
    tokens = tokens_from_onehot(one_hot(seqs, 120))
    got = tables.logits(tokens, np.full(len(seqs), 120), 120)
    np.testing.assert_allclose(got, padded_logits(tiny_bundle.keras_model(), seqs, 120), atol=1e-4, rtol=1e-5)


def test_scores_do_not_depend_on_threads_or_batch_neighbours(tiny_bundle):
    seqs = [seq.upper().replace("T", "U") for _, seq in HAIRPINS + TRNA]
    tables = KmerTableModel(tiny_bundle.weights, tiny_bundle.hyperparameters["kernel_sizes"])
    one = tables.pooled(*tokens_at_width(seqs, 200), 200, threads=1)
    two = tables.pooled(*tokens_at_width(seqs, 200), 200, threads=2)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(tables.pooled(*tokens_at_width(seqs[3:4], 200), 200, threads=1)[0], one[3])


def test_logits_of_a_row_depend_neither_on_threads_nor_on_its_batch():
    """The shipped hairpin model (its dense layer is big enough for BLAS to split by threads): bit-identical logits."""
    from deepmir_tools.bundle import load_bundle

    bundle = load_bundle("hairpin")
    tables = KmerTableModel(bundle.weights, bundle.hyperparameters["kernel_sizes"])
    seqs = [seq.upper().replace("T", "U") for _, seq in HAIRPINS + TRNA] * 40  # 240 rows
    tokens, lengths = tokens_at_width(seqs, 200)
    one = tables.logits(tokens, lengths, 200, threads=1)
    np.testing.assert_array_equal(tables.logits(tokens, lengths, 200, threads=2), one)
    np.testing.assert_array_equal(tables.logits(tokens[7:], lengths[7:], 200, threads=2), one[7:])
    np.testing.assert_array_equal(tables.logits(tokens[3:4], lengths[3:4], 200, threads=1)[0], one[3])


def test_a_dense_value_is_the_bias_plus_each_product_added_in_input_order():
    """What makes the logits the same bits on every CPU: one float32 multiply and one add at a time."""
    from deepmir_tools.bundle import load_bundle

    bundle = load_bundle("hairpin")
    tables = KmerTableModel(bundle.weights, bundle.hyperparameters["kernel_sizes"])
    seqs = [seq.upper().replace("T", "U") for _, seq in HAIRPINS[:3] + TRNA]
    tokens, lengths = tokens_at_width(seqs, 200)
    features = tables.pooled(tokens, lengths, 200, threads=1)
    hidden = tables.hidden_layer(features, threads=2)
    for row in range(len(seqs)):
        value = tables.dense_bias.copy()
        for a, weights in zip(features[row], tables.dense):
            value += a * weights  # float32 products, each rounded, then each add rounded: numpy never fuses
        np.testing.assert_array_equal(hidden[row], np.maximum(value, 0))


def test_too_narrow_or_out_of_range_tokens_are_refused(tiny_bundle):
    tables = KmerTableModel(tiny_bundle.weights, tiny_bundle.hyperparameters["kernel_sizes"])
    tokens, lengths = tokens_at_width(["ACGU" * 10], 40)  # needs 40 + 15 positions
    with pytest.raises(ValueError, match="too narrow"):
        tables.pooled(tokens, lengths, 200)
    with pytest.raises(ValueError, match="outside 0..4"):
        tables.pooled(np.full((1, 60), 5, dtype=np.int32), lengths, 200)


def test_weights_of_another_shape_are_refused_before_any_look_up(tiny_bundle):
    hyper, classes = tiny_bundle.hyperparameters, len(tiny_bundle.classes)
    check_weights("tiny", tiny_bundle.weights, hyper, classes)  # the real ones pass
    widened = dict(tiny_bundle.weights)
    kernel, bias = widened["conv_k2"]
    widened["conv_k2"] = [np.concatenate([kernel, kernel[:, :, :1]], axis=2), bias]
    with pytest.raises(ModelBundleError, match="layer 'conv_k2' weights have shapes"):
        check_weights("tiny", widened, hyper, classes)
    missing = {k: v for k, v in tiny_bundle.weights.items() if k != "dense"}
    with pytest.raises(ModelBundleError, match="do not match the architecture"):
        check_weights("tiny", missing, hyper, classes)


def test_the_tables_check_weights_against_the_models_layer_contract(tiny_bundle):
    """check_weights accepts exactly the layers and shapes models.weight_shapes gives for the bundle."""
    from deepmir_tools.models import ONEHOT_CNN, weight_shapes

    hyper, classes = tiny_bundle.hyperparameters, len(tiny_bundle.classes)
    shapes = weight_shapes(ONEHOT_CNN, classes, hyper)
    assert {layer: [a.shape for a in arrays] for layer, arrays in tiny_bundle.weights.items()} == shapes
    fake = {layer: [np.zeros(shape, np.float32) for shape in layer_shapes] for layer, layer_shapes in shapes.items()}
    check_weights("fake", fake, hyper, classes)
    KmerTableModel(fake, hyper["kernel_sizes"])  # every layer it reads is one of them


def _package_imports() -> dict[str, set[str]]:
    """Module -> package modules it imports, at the top or inside functions (those run too, just later)."""
    import ast
    from pathlib import Path

    import deepmir_tools

    root = Path(deepmir_tools.__file__).parent
    modules = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = ".".join(package[: len(package) - node.level + 1] + [node.module or ""] if node.level
                                else [node.module or ""]).rstrip(".")
                # "from pkg import module" imports that module; "from module import name" the module itself
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                           for alias in node.names]
            else:
                continue
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def test_no_import_cycles_in_the_package():
    """kmer_tables and table_kernel used to import each other; no module may reach itself through its imports."""
    graph = _package_imports()
    assert graph["deepmir_tools.table_kernel"] <= {"deepmir_tools.cache"}
    assert "deepmir_tools.table_kernel" in graph["deepmir_tools.kmer_tables"]

    def reaches(start: str) -> set[str]:
        seen, todo = set(), list(graph[start])
        while todo:
            module = todo.pop()
            if module not in seen:
                seen.add(module)
                todo.extend(graph[module])
        return seen

    cyclic = sorted(module for module in graph if module in reaches(module))
    assert cyclic == []
