"""Shared test helpers: the real test data and a runner for the installed console scripts.

Fixtures
--------
``test_data``
    :class:`pathlib.Path` of ``test-data/`` (real sequences, sources in ``test-data/README.md``).
``run_tool``
    ``run_tool(name, *args, stdin=None, cwd=None, unprivileged=False, timeout=120)`` runs a
    console script (``deepmir-encode`` ...) as a separate process, as a user would, and
    returns the :class:`subprocess.CompletedProcess` with ``stdout``/``stderr`` as bytes.
    ``stdin`` is bytes or a path (opened for reading). ``unprivileged=True`` drops the
    capabilities that let root write into read-only directories (skips the test where
    that is impossible).

Helpers (importable as ``from conftest import ...``)
----------------------------------------------------
``read_fasta(path)``: ``[(id, sequence)]`` of a plain FASTA file, parsed naively (independently
of :mod:`deepmir_tools.seqio`). ``tool_path(name)``: the console script's path (missing: skip, but fail
when ``in_ci()``, i.e. ``CI=true``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

REPO = Path(__file__).resolve().parent.parent
TEST_DATA = REPO / "test-data"


def in_ci() -> bool:
    """True under CI (``CI=true``, as CI services and ``.ci/run`` set it): what would be skipped must run."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def tool_path(name: str) -> str:
    """Path of a console script: next to the running interpreter (the venv), else on PATH.

    Missing: a skip on a developer's machine, a failure in CI (every subprocess test would skip silently)."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        message = f"console script {name} is not installed (pip install -e .)"
        if in_ci():
            pytest.fail(message + " [CI=true: not skipped]")
        pytest.skip(message)
    return found


def _unprivileged_prefix() -> list[str]:
    """Command prefix that makes root obey file permissions (no CAP_DAC_OVERRIDE)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot make a directory unwritable")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search"]


def read_fasta(path: str | os.PathLike) -> list[tuple[str, str]]:
    """(id, sequence) pairs of a plain FASTA file; a deliberately simple, independent parser."""
    records: list[tuple[str, str]] = []
    for line in Path(path).read_text().splitlines():
        if line.startswith(">"):
            records.append((line[1:].split()[0], ""))
        elif line.strip():
            records[-1] = (records[-1][0], records[-1][1] + line.strip())
    return records


@pytest.fixture(scope="session")
def test_data() -> Path:
    """The ``test-data/`` folder of real sequences."""
    return TEST_DATA


@pytest.fixture
def run_tool() -> Callable[..., subprocess.CompletedProcess]:
    """Run an installed console script; see the module docstring."""

    def run(
        name: str,
        *args: str | os.PathLike,
        stdin: bytes | str | os.PathLike | None = None,
        cwd: str | os.PathLike | None = None,
        unprivileged: bool = False,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess:
        command = [tool_path(name), *map(str, args)]
        if unprivileged:
            command = _unprivileged_prefix() + command
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        if isinstance(stdin, (str, os.PathLike)):
            with open(stdin, "rb") as handle:
                return subprocess.run(command, stdin=handle, capture_output=True, cwd=cwd, env=env, timeout=timeout)
        return subprocess.run(
            command, input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True, cwd=cwd, env=env, timeout=timeout,
        )

    return run


# --- model fixtures and in-process CLI runs (tests of models, training, classify, calibrate) ----------
#
# ``tiny_model`` (session): path of ``test-data/tiny-model.npz`` (5 miRBase families, see
# ``test-data/tiny/make-tiny-model.sh``). ``tiny_bundle`` (session): that bundle loaded, its Keras model
# built once. ``run_main(tool, *args)`` (function): runs a console script's ``main`` inside the test
# process through the same error handling as the executable (``cli.common.run``), so TensorFlow is
# imported once per session; returns ``CliResult(code, out, err)``. Helpers: ``padded_softmax(model,
# seqs)`` and ``padded_logits(model, seqs)`` score sequences the paper's way (one-hot, zero-padded to 200
# nt, straight through Keras), independently of deepmir_tools.scoring; ``read_tsv(path_or_text)`` ->
# ``(comment_line, columns, rows as dicts)``.

import hashlib
import importlib
import signal
from dataclasses import dataclass

import numpy as np


@dataclass
class CliResult:
    """Exit code and captured standard output/error of an in-process CLI run."""

    code: int
    out: str
    err: str


@pytest.fixture(scope="session")
def tiny_model() -> Path:
    """``test-data/tiny-model.npz``."""
    return TEST_DATA / "tiny-model.npz"


@pytest.fixture(scope="session")
def tiny_bundle(tiny_model):
    """The tiny model bundle, loaded once per session (Keras model built)."""
    from deepmir_tools.bundle import load_bundle

    bundle = load_bundle(str(tiny_model))
    bundle.keras_model()
    return bundle


@pytest.fixture
def run_main(capsys) -> Callable[..., CliResult]:
    """Run ``deepmir-<tool>``'s ``main`` in this process, as ``cli.common.run`` runs it for the executable."""

    def call(tool: str, *args: str | os.PathLike) -> CliResult:
        module = importlib.import_module(f"deepmir_tools.cli.{tool.removeprefix('deepmir-')}")
        saved_handler = signal.getsignal(signal.SIGTERM)
        saved_verbose = os.environ.get("DEEPMIR_TF_VERBOSE")
        capsys.readouterr()
        try:
            code = module.run(module.PROG, module.main, [str(a) for a in args])
        except SystemExit as exc:  # argparse usage errors, --help
            code = exc.code if isinstance(exc.code, int) else 1
        finally:
            signal.signal(signal.SIGTERM, saved_handler)
            if saved_verbose is None:
                os.environ.pop("DEEPMIR_TF_VERBOSE", None)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return call


def padded_softmax(model, seqs, max_len: int = 200) -> np.ndarray:
    """Softmax of ``seqs`` one-hot encoded and zero-padded to ``max_len`` (the paper's input), via Keras."""
    from deepmir_tools.encodings import one_hot

    x = one_hot([s.upper().replace("T", "U") for s in seqs], max_len).astype(np.float32)
    return np.concatenate([np.asarray(model(x[i : i + 256], training=False)) for i in range(0, len(x), 256)])


def padded_logits(model, seqs, max_len: int = 200) -> np.ndarray:
    """Pre-softmax logits of the 200-padded inputs: the last hidden layer's output times the softmax weights."""
    import keras

    from deepmir_tools.encodings import one_hot

    hidden = keras.Model(model.inputs[0], model.get_layer("dense").output)
    kernel, bias = model.get_layer("softmax").get_weights()
    x = one_hot([s.upper().replace("T", "U") for s in seqs], max_len).astype(np.float32)
    return np.asarray(hidden(x, training=False), dtype=np.float64) @ kernel.astype(np.float64) + bias


def read_tsv(source: str | os.PathLike) -> tuple[str, list[str], list[dict[str, str]]]:
    """A classification TSV: its '#' comment line, its column names and its rows (dicts)."""
    text = Path(source).read_text() if not isinstance(source, str) or "\n" not in source else source
    lines = text.rstrip("\n").split("\n")
    columns = lines[1].split("\t")
    rows = [dict(zip(columns, line.split("\t"), strict=True)) for line in lines[2:]]
    return lines[0], columns, rows


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ---------------------------------------------------------------- independent truth for relatives (homology rule)

#: BLASTN's output on test-data/dataset/mirbase22-hairpin.fa against itself (command: its first line, test-data/README.md)
BLASTN_TEST_DATA = TEST_DATA / "dataset" / "mirbase22-hairpin-blastn.tsv.gz"


def independent_end_to_end_hit(a: str, b: str, identity: float) -> bool:
    """Shorter inside longer (edlib infix, no edit bound), identity = 1 - distance / shorter; both ways if equal."""
    import edlib

    pairs = [(a, b), (b, a)] if len(a) == len(b) else [tuple(sorted((a, b), key=len))]
    for short, long_ in pairs:
        distance = edlib.align(short, long_, mode="HW", task="distance")["editDistance"]
        if 1 - distance / len(short) >= identity - 1e-12:
            return True
    return False


def blastn_hits(path: str | os.PathLike = BLASTN_TEST_DATA) -> list[tuple[str, str, float, int, int, int]]:
    """Rows of a BLASTN table ``qseqid sseqid pident length qlen slen`` (gzip; '#' and header lines skipped)."""
    import gzip

    rows = []
    with gzip.open(path, "rt") as lines:
        for line in lines:
            if line.startswith(("#", "qseqid")):
                continue
            query, subject, pident, length, qlen, slen = line.split()
            rows.append((query, subject, float(pident), int(length), int(qlen), int(slen)))
    return rows


def blastn_relatives(hits: list[tuple[str, str, float, int, int, int]]) -> set[frozenset]:
    """Pairs BLASTN relates in either direction: pident >= 80 over an alignment of >= 80% of the shorter (issue 17)."""
    return {frozenset((query, subject)) for query, subject, pident, length, qlen, slen in hits
            if pident >= 80.0 and length >= 0.8 * min(qlen, slen)}
