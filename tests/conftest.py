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
of :mod:`deepmir_tools.seqio`). ``tool_path(name)``: the console script's path.
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


def tool_path(name: str) -> str:
    """Path of a console script: next to the running interpreter (the venv), else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"console script {name} is not installed (pip install -e .)")
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
