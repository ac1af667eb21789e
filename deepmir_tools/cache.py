"""Where numba keeps the compiled kernels of :mod:`deepmir_tools.table_kernel`: a per-user cache folder, never
the installed package.

Left to itself, numba caches next to the source file (``site-packages/deepmir_tools/__pycache__``). pip does not
know those files, so uninstalling leaves the folder behind, and it then shadows a later editable install as a
namespace package; conda environments and containers are read-only anyway. So the kernels are cached in

* ``$NUMBA_CACHE_DIR`` when the user set it, else
* ``platformdirs.user_cache_dir("deepmir-tools")/numba-<version>-py<X.Y>`` (``~/.cache/deepmir-tools/...`` on
  Linux, honouring ``XDG_CACHE_HOME``), passed to numba as ``NUMBA_CACHE_DIR``.

numba reads ``NUMBA_CACHE_DIR`` when it is imported, so :func:`prepare_numba` runs before the package first imports
numba. Where the folder cannot be created or written (read-only HOME, no ``XDG_CACHE_HOME``), the kernels run
uncached (compiled once per process, a few seconds) with one warning on stderr: numba would otherwise fall back
to the package's own folder.
"""

from __future__ import annotations

import functools
import os
import sys
import tempfile
from pathlib import Path

from . import __version__

ENV = "NUMBA_CACHE_DIR"


def kernel_cache_dir() -> tuple[Path, bool]:
    """The folder for compiled kernels and whether the user chose it (``NUMBA_CACHE_DIR``); nothing is created."""
    chosen = os.environ.get(ENV, "")
    if chosen:  # numba itself treats an empty value as unset
        return Path(chosen), True
    import platformdirs

    base = Path(platformdirs.user_cache_dir("deepmir-tools", appauthor=False))
    return base / f"numba-{__version__}-py{sys.version_info[0]}.{sys.version_info[1]}", False


def writable_dir(path: Path) -> bool:
    """Create ``path`` if needed and check that a file can be written in it (numba's own test)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError:
        return False
    return True


@functools.cache
def prepare_numba() -> Path | None:
    """Point numba's cache at :func:`kernel_cache_dir`; call before importing numba. Returns the folder, or
    ``None`` (after one warning on stderr) when it is not writable and the kernels must run uncached."""
    path, chosen = kernel_cache_dir()
    if not writable_dir(path):
        prog = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
        prog = prog if prog.startswith("deepmir-") else "deepmir-tools"
        where = f"{ENV}={path}" if chosen else str(path)
        print(f"{prog}: warning: cannot write the kernel cache folder {where}; running uncached (a few seconds "
              f"more per run; set {ENV} to a writable folder to cache)", file=sys.stderr)
        return None
    if not chosen:
        os.environ[ENV] = str(path)
    return path


def enable_caching(*kernels) -> Path | None:
    """Cache the numba ``kernels`` in :func:`prepare_numba`'s folder; without one, leave them uncached."""
    path = prepare_numba()
    if path is None:
        return None
    from numba.core import config

    config.CACHE_DIR = str(path)  # the same value, unless numba was imported (by the caller) before us
    for kernel in kernels:
        kernel.enable_caching()
    return path
