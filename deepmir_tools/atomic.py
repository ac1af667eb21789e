"""Atomic output files: write to a temporary file beside the target, then rename.

A crash or a kill never leaves a half-written output under the final name, and a
previous file of that name stays intact until the new one is complete.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import signal
import stat
import sys
import tempfile
from typing import IO, Iterator

TEMP_PREFIX = ".deepmir-tmp-"

#: temporary files currently open, removed by the SIGTERM handler of the CLI
LIVE_TEMP_FILES: set[str] = set()


def _check_output_dir(path: str) -> str:
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        from .errors import DeepMirError

        raise DeepMirError(f"{path}: output directory {directory} does not exist")
    if os.path.isdir(path):
        from .errors import DeepMirError

        raise DeepMirError(f"{path}: is a directory, expected an output file name")
    return directory


# errors of the output medium itself (full disk, quota): the user's to fix, not a bug of ours
_MEDIUM_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO)


def _is_special_file(path: str) -> bool:
    """True for a device, FIFO or socket (``/dev/null``, ``/dev/full``, a named pipe) or a ``/dev/`` name.

    Those cannot be replaced by a rename (as root, renaming over ``/dev/full`` or
    ``/dev/stdout`` would replace the device node or link itself), so they are written to directly.
    """
    if os.path.abspath(path).startswith(("/dev/", "/proc/")):
        return True
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


class _StreamOnly:
    """A binary writer that is not seekable, like a pipe.

    zipfile (``np.savez``) seeks back into seekable files; on ``/dev/null`` ``tell()`` is
    always 0 and the archive bookkeeping breaks, so devices are written as streams.
    """

    def __init__(self, handle: IO[bytes]):
        self._handle = handle

    def write(self, data: bytes) -> int:
        return self._handle.write(data)

    def flush(self) -> None:
        self._handle.flush()

    def seekable(self) -> bool:
        return False

    def read(self, *args: int) -> bytes:  # numpy looks for ``read`` to tell a file object from a path
        raise io.UnsupportedOperation("write-only")

    def tell(self) -> int:
        raise io.UnsupportedOperation("not seekable")

    def seek(self, *args: int) -> int:
        raise io.UnsupportedOperation("not seekable")


@contextlib.contextmanager
def _medium_errors(path: str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        if exc.errno not in _MEDIUM_ERRORS:
            raise
        from .errors import DeepMirError

        raise DeepMirError(f"{path}: cannot write output: {exc.strerror}") from exc


@contextlib.contextmanager
def atomic_output(path: str, mode: str = "w") -> Iterator[IO]:
    """Open ``path`` for writing atomically; ``-`` writes to standard output.

    ``mode`` is ``"w"`` (text, UTF-8, ``\\n`` line ends) or ``"wb"``. The file appears
    under its final name only if the ``with`` block ends without an exception.
    """
    if path == "-":
        stream = sys.stdout.buffer if "b" in mode else sys.stdout
        yield stream
        stream.flush()
        return
    kwargs = {} if "b" in mode else {"encoding": "utf-8", "newline": "\n"}
    if _is_special_file(path):
        with _medium_errors(path), open(path, mode, **kwargs) as handle:
            yield _StreamOnly(handle) if "b" in mode else handle
            handle.flush()
        return
    made: list[str] = []  # the temporary file, once it exists: a signal may interrupt anything after mkstemp
    try:
        with _interrupts_deferred():  # until the file is known to the cleanup paths (here and the SIGTERM handler)
            fd, temp = _temp_beside(path)
            made.append(temp)
            LIVE_TEMP_FILES.add(temp)
        with _medium_errors(path), os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        for name in made:
            with contextlib.suppress(OSError):
                os.unlink(name)
        raise
    finally:
        for name in made:
            LIVE_TEMP_FILES.discard(name)


@contextlib.contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """SIGINT and SIGTERM wait until the block ends (their handlers then run as usual).

    Seen under load: a SIGTERM between ``mkstemp`` and the file's registration left the
    temporary file behind. Only the main thread can take Python signal handlers, and only
    POSIX has signal masks; elsewhere the block runs as is.
    """
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _temp_beside(path: str) -> tuple[int, str]:
    """A new temporary file in the directory of ``path`` (so that the final rename is atomic)."""
    directory = _check_output_dir(path)
    try:
        return tempfile.mkstemp(prefix=TEMP_PREFIX, dir=directory)
    except OSError as exc:
        from .errors import DeepMirError

        raise DeepMirError(f"{path}: cannot write output: {exc.strerror}") from exc


def check_writable(path: str) -> None:
    """Fail now, not after hours of work, if ``path`` cannot be written atomically later.

    Creates and removes a temporary file beside ``path`` (the test that holds for root too);
    standard output and devices are not checked.
    """
    if path == "-" or _is_special_file(path):
        return
    fd, temp = _temp_beside(path)
    os.close(fd)
    os.unlink(temp)


def remove_live_temp_files() -> None:
    """Delete every temporary output still open (called when the process is terminated)."""
    for temp in list(LIVE_TEMP_FILES):
        with contextlib.suppress(OSError):
            os.unlink(temp)
        LIVE_TEMP_FILES.discard(temp)
