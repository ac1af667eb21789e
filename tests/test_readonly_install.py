"""The package as bioconda and biocontainers run it: installed (not editable), the install read-only, run by an
unprivileged user whose HOME is not writable.

A throw-away virtual environment gets the package from a copy of this tree (``pip install --no-deps
--no-build-isolation``) and sees the running environment's dependencies through a ``.pth`` file, so nothing is
downloaded. Run normally first, as the current user with a writable cache folder: numba's kernels must be cached
there and not in the install, and a second run must reuse them (nothing rewritten). Then the whole environment is
made read-only (chmod -R a-w) and ``deepmir-classify`` runs as user nobody (uid 65534) with an unwritable HOME and
no XDG_CACHE_HOME / NUMBA_CACHE_DIR: exit 0, the same table as the normal run, at most one warning line (the
cache) on top of the normal run's stderr, and not a file of the install changed. ``deepmir-scan`` (its own numba
kernels) goes through the same three steps on two real Arabidopsis regions (``test-data/scan/``): its GFF3 is
byte-identical in all runs; its summary line differs only in the time and speed it reports, which are masked.

Where the interpreter or the dependencies lie in a folder user nobody cannot enter (a pyenv Python or a clone under
/root), nobody gets CAP_DAC_READ_SEARCH (read and enter anything, write nothing it may not) and nothing else. Not
root: the current user is already unprivileged. Root without setpriv: skipped, except in CI (``CI=true``).
"""

from __future__ import annotations

import os
import re
import shutil
import site
import stat
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import pytest
from conftest import REPO, TEST_DATA, in_ci, tool_path

pytestmark = pytest.mark.slow

NOBODY = "65534"  # nobody / nogroup (nfsnobody) on Debian, Ubuntu, RHEL, Alpine
RUNS = {  # name -> (console script, its arguments; the input, last, is a file name in the data folder)
    "hairpins": ("deepmir-classify", ["hairpins-hsa30.fa"]),
    "reads": ("deepmir-classify", ["-m", "mature", "reads-bovine40.fq"]),
    "scan": ("deepmir-scan", ["ath-chr1-MIR165a-MIR159b.fa"]),  # 2 records, 4,307 nt: GFF3 on stdout
}
INPUTS = {  # data folder file name -> its source under test-data/
    "hairpins-hsa30.fa": "hairpins-hsa30.fa",
    "reads-bovine40.fq": "reads-bovine40.fq",
    "ath-chr1-MIR165a-MIR159b.fa": "scan/ath-chr1-MIR165a-MIR159b.fa",
}
# the only part of a run's stderr that may change from run to run: the time and speed in deepmir-scan's summary
_SCAN_TIME = re.compile(r"(?<= in )[0-9.]+ s(, [0-9.]+ kb/s)?(?=; )")
SOURCE_FILES = ["setup.cfg", "pyproject.toml", "README.md", "LICENSE", "MANIFEST.in"]


def snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    """relative path -> (mode, size, mtime_ns) of everything under ``root``."""
    result = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            st = path.lstat()
            result[str(path.relative_to(root))] = (st.st_mode, st.st_size if not stat.S_ISDIR(st.st_mode) else 0,
                                                   st.st_mtime_ns if not stat.S_ISDIR(st.st_mode) else 0)
    return result


def numba_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.suffix in (".nbi", ".nbc"))


def make_writable(root: Path) -> None:
    for folder, dirs, files in os.walk(root):
        os.chmod(folder, 0o755)
        for name in files:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                os.chmod(path, stat.S_IMODE(os.lstat(path).st_mode) | stat.S_IWUSR)


@pytest.fixture(scope="module")
def install():
    """A fresh, non-editable install in its own venv: ``{root, venv, package, data, classify}``."""
    tool_path("deepmir-classify")  # the suite's own install is there (else skip, or fail in CI)
    root = Path(tempfile.mkdtemp(prefix="deepmir-ro-"))
    os.chmod(root, 0o755)  # mkdtemp's 0700 would keep user nobody out
    try:
        src = root / "src"
        src.mkdir()
        for name in SOURCE_FILES:
            if (REPO / name).exists():
                shutil.copy2(REPO / name, src / name)
        shutil.copytree(REPO / "deepmir_tools", src / "deepmir_tools",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        venv = root / "venv"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        python = venv / "bin" / "python"
        purelib = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                      check=True, capture_output=True, text=True).stdout.strip())
        # the running environment's packages (TensorFlow, numba, pip, setuptools ...) after the venv's own
        deps = [p for p in site.getsitepackages() + [sysconfig.get_paths()["purelib"]] if Path(p).is_dir()]
        (purelib / "zz_deepmir_test_dependencies.pth").write_text("".join(f"{p}\n" for p in dict.fromkeys(deps)))
        # setuptools of the environment if it has one (Python < 3.12 venvs do), else pip fetches it
        isolation = ["--no-build-isolation"] if _importable(python, "setuptools") else []
        pip = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", *isolation, "--ignore-installed",
                              "--no-cache-dir", "--no-warn-script-location", str(src)],
                             capture_output=True, text=True, cwd=root)
        assert pip.returncode == 0, pip.stdout + pip.stderr
        located = subprocess.run([str(python), "-c", "import deepmir_tools; print(deepmir_tools.__file__)"],
                                 check=True, capture_output=True, text=True, cwd=root).stdout.strip()
        package = Path(located).parent
        assert purelib in package.parents, f"imported {located}, not the fresh install"
        data = root / "data"
        data.mkdir()
        for name, source in INPUTS.items():
            shutil.copy(TEST_DATA / source, data / name)
        yield {"root": root, "venv": venv, "package": package, "data": data, "bin": venv / "bin"}
    finally:
        make_writable(root)
        shutil.rmtree(root, ignore_errors=True)


def _importable(python: Path, module: str) -> bool:
    return subprocess.run([str(python), "-c", f"import {module}"], capture_output=True).returncode == 0


def command(install, name: str) -> list[str]:
    """The installed console script and arguments of run ``name`` (see RUNS)."""
    tool, args = RUNS[name]
    return [str(install["bin"] / tool), *args]


def stderr_lines(result: subprocess.CompletedProcess) -> list[str]:
    """The run's stderr lines, deepmir-scan's time and speed masked (the only thing that may differ between runs)."""
    return [_SCAN_TIME.sub("<time>", line) if line.startswith("deepmir-scan: ") else line
            for line in result.stderr.decode().splitlines()]


def check_output(name: str, stdout: bytes) -> None:
    """What a normal run must have found (so that two runs cannot agree on an empty or broken output)."""
    if RUNS[name][0] == "deepmir-classify":
        assert stdout.count(b"\n") > 10 and b"\taccepted\t" in stdout
        return
    # deepmir-scan: a locus of the right family and strand on each annotated precursor (ath-MIR165a, MIR166, minus;
    # ath-MIR159b, MIR159, plus: test-data/scan/ath-chr1-MIR165a-MIR159b.gff3, chromosome coordinates; the records
    # are named chromosome:first-last)
    lines = stdout.decode().splitlines()
    assert lines[0] == "##gff-version 3" and lines[1].startswith("##deepmir-scan ")
    loci = [line.split("\t") for line in lines[2:]]
    for line in (TEST_DATA / "scan" / "ath-chr1-MIR165a-MIR159b.gff3").read_text().splitlines():
        if line.startswith("#"):
            continue
        fields = line.split("\t")
        start, end, strand, family = int(fields[3]), int(fields[4]), fields[6], fields[8].split("family=")[1]
        hits = [locus for locus in loci if locus[6] == strand and locus[8].split(";family=")[1].split(";")[0] == family
                and int(locus[0].split(":")[1].split("-")[0]) - 1 + int(locus[3]) <= end
                and int(locus[0].split(":")[1].split("-")[0]) - 1 + int(locus[4]) >= start]
        assert hits, (line, lines)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME", "PYTHONDONTWRITEBYTECODE", "PYTHONPATH", "VIRTUAL_ENV")}
    env.update(extra)
    return env


def unprivileged_prefix(install) -> list[str]:
    """How to run as an unprivileged user (see the module docstring); skips or fails where impossible."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        message = "running as root without setpriv: cannot run as an unprivileged user"
        if in_ci():
            pytest.fail(message + " [CI=true: not skipped]")
        pytest.skip(message)
    nobody = [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    read_anything = ["--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]
    probe = [str(install["venv"] / "bin" / "python"), "-c", "import numba, deepmir_tools.cli.classify"]
    for prefix in (nobody, nobody + read_anything):
        if subprocess.run(prefix + probe, capture_output=True, cwd=install["data"]).returncode == 0:
            return prefix
    pytest.fail("user nobody cannot import the package even with CAP_DAC_READ_SEARCH")


def test_installed_package_caches_kernels_in_the_user_folder_and_runs_read_only(install, tmp_path):
    venv, data = install["venv"], install["data"]
    cache_home = tmp_path / "cache"

    # 1. a normal run, writable cache folder: the kernels are cached there, never in the install
    normal = {}
    for name in RUNS:
        result = subprocess.run(command(install, name), capture_output=True, cwd=data,
                                env=clean_env(XDG_CACHE_HOME=str(cache_home)), timeout=300)
        assert result.returncode == 0, result.stderr.decode()
        check_output(name, result.stdout)
        normal[name] = result
    assert numba_files(venv) == [], "numba wrote its cache into the installed package"
    cached = numba_files(cache_home)
    assert cached and all(p.startswith("deepmir-tools/numba-") for p in cached), cached
    assert any("scan._window_pool_kernel" in p for p in cached), cached  # deepmir-scan's own kernels too

    # 2. the second run reuses the cache: same output, no kernel recompiled (nothing rewritten)
    before = snapshot(cache_home)
    for name in ("hairpins", "scan"):
        again = subprocess.run(command(install, name), capture_output=True, cwd=data,
                               env=clean_env(XDG_CACHE_HOME=str(cache_home)), timeout=300)
        assert again.returncode == 0 and again.stdout == normal[name].stdout, name
        assert stderr_lines(again) == stderr_lines(normal[name]), name
    assert snapshot(cache_home) == before

    # 3. read-only install, unprivileged user, unwritable HOME, no cache folder anywhere
    prefix = unprivileged_prefix(install)
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o555)
    subprocess.run(["chmod", "-R", "a-w", str(install["root"])], check=True)
    installed = snapshot(install["root"])
    try:
        for name in RUNS:
            result = subprocess.run(prefix + command(install, name), capture_output=True, cwd=data,
                                    env=clean_env(HOME=str(home)), timeout=300)
            err = result.stderr.decode()
            assert result.returncode == 0, err
            assert result.stdout == normal[name].stdout, f"{name}: output differs from the normal run"
            extra = [line for line in stderr_lines(result) if line not in stderr_lines(normal[name])]
            assert len(extra) <= 1 and all("warning" in line and "cache" in line for line in extra), err
            assert extra, f"{name}: no warning that the kernels run uncached"
            assert len(stderr_lines(result)) == len(stderr_lines(normal[name])) + 1, err  # nothing else missing
        assert snapshot(install["root"]) == installed, "a file of the install (or its data) was written"
    finally:
        home.chmod(0o755)
