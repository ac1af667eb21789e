"""Atomic output files: write to a temporary file beside the target, then rename.

A crash or a kill never leaves a half-written output under the final name, and a
previous file of that name stays intact until the new one is complete.
"""

from __future__ import annotations

import contextlib
import os
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
    directory = _check_output_dir(path)
    try:
        fd, temp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=directory)
    except OSError as exc:
        from .errors import DeepMirError

        raise DeepMirError(f"{path}: cannot write output: {exc.strerror}") from exc
    LIVE_TEMP_FILES.add(temp)
    try:
        kwargs = {} if "b" in mode else {"encoding": "utf-8", "newline": "\n"}
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    finally:
        LIVE_TEMP_FILES.discard(temp)


def remove_live_temp_files() -> None:
    """Delete every temporary output still open (called when the process is terminated)."""
    for temp in list(LIVE_TEMP_FILES):
        with contextlib.suppress(OSError):
            os.unlink(temp)
        LIVE_TEMP_FILES.discard(temp)
