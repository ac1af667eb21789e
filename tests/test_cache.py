"""deepmir_tools.cache: where numba's compiled kernels go (a per-user folder, never the package), NUMBA_CACHE_DIR
respected, and an unwritable folder -> uncached with one warning. End to end (an installed, read-only package run
by an unprivileged user) in test_readonly_install.py."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from deepmir_tools import __version__, cache


@pytest.fixture
def fresh(monkeypatch):
    """prepare_numba() forgotten before and after; NUMBA_CACHE_DIR and XDG_CACHE_HOME restored afterwards."""
    monkeypatch.delenv(cache.ENV, raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    cache.prepare_numba.cache_clear()
    yield monkeypatch
    cache.prepare_numba.cache_clear()


class FakeKernel:
    def __init__(self) -> None:
        self.cached = False

    def enable_caching(self) -> None:
        self.cached = True


def test_default_is_the_user_cache_folder_with_a_version_and_python_subfolder(fresh, tmp_path):
    import platformdirs

    fresh.setenv("XDG_CACHE_HOME", str(tmp_path))
    path, chosen = cache.kernel_cache_dir()
    assert not chosen
    assert path.parent == Path(platformdirs.user_cache_dir("deepmir-tools", appauthor=False))
    assert path.name == f"numba-{__version__}-py{sys.version_info[0]}.{sys.version_info[1]}"
    if sys.platform.startswith("linux"):
        assert path.parent == tmp_path / "deepmir-tools"
    package = Path(cache.__file__).resolve().parent
    assert package not in path.resolve().parents and path.resolve() != package


def test_prepare_numba_creates_the_folder_and_hands_it_to_numba(fresh, tmp_path, capsys):
    from numba.core import config

    fresh.setattr(config, "CACHE_DIR", config.CACHE_DIR)  # put back afterwards
    fresh.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = cache.prepare_numba()
    assert path is not None and path.is_dir() and tmp_path in path.parents
    assert os.environ[cache.ENV] == str(path)  # numba reads it when imported
    kernels = FakeKernel(), FakeKernel()
    assert cache.enable_caching(*kernels) == path
    assert all(k.cached for k in kernels)
    assert config.CACHE_DIR == str(path)
    assert capsys.readouterr().err == ""


def test_numba_cache_dir_set_by_the_user_is_respected(fresh, tmp_path):
    chosen_dir = tmp_path / "mine"
    fresh.setenv(cache.ENV, str(chosen_dir))
    fresh.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.kernel_cache_dir() == (chosen_dir, True)
    assert cache.prepare_numba() == chosen_dir
    assert os.environ[cache.ENV] == str(chosen_dir)
    assert chosen_dir.is_dir() and not (tmp_path / "xdg").exists()


def test_empty_numba_cache_dir_counts_as_unset(fresh, tmp_path):
    fresh.setenv(cache.ENV, "")
    fresh.setenv("XDG_CACHE_HOME", str(tmp_path))
    path, chosen = cache.kernel_cache_dir()
    assert not chosen and tmp_path in path.parents


@pytest.mark.parametrize("user_set", [False, True], ids=["default folder", "NUMBA_CACHE_DIR"])
def test_unwritable_folder_runs_uncached_with_one_warning(fresh, tmp_path, capsys, user_set):
    # a folder below a regular file can be created by nobody, root included
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    if user_set:
        fresh.setenv(cache.ENV, str(blocker / "numba"))
    else:
        fresh.setenv("XDG_CACHE_HOME", str(blocker))
        fresh.setenv("HOME", str(blocker))
    kernel = FakeKernel()
    assert cache.prepare_numba() is None
    assert cache.enable_caching(kernel) is None and not kernel.cached  # numba would fall back to the package
    assert cache.prepare_numba() is None  # asked again (both kernel modules do): no second warning
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1, err
    assert "warning" in err[0] and "cache" in err[0] and str(blocker) in err[0]
    assert os.environ.get(cache.ENV, "") == (str(blocker / "numba") if user_set else "")


def test_writable_dir(tmp_path):
    assert cache.writable_dir(tmp_path / "a" / "b")
    (tmp_path / "f").write_text("")
    assert not cache.writable_dir(tmp_path / "f" / "x")
