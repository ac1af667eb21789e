"""Shared CLI plumbing: parser defaults, error handling, exit codes, signal safety."""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
import traceback
from typing import Callable, Sequence

from .. import __version__
from ..atomic import remove_live_temp_files
from ..errors import EXIT_DATA, EXIT_INTERNAL, DeepMirError


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows defaults and keeps the example blocks of the epilog as written.

    A help text that already says its default (``(default: ...)`` in its own words) or whose default is None (the
    text explains what happens), an empty one or a flag's False gets no ``(default: ...)``."""

    def _get_help_string(self, action: argparse.Action) -> str:
        help_text = action.help or ""
        if "(default" in help_text or action.default in (None, "", [], False):
            return help_text
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line (``prog: error: ...``) and exit code 2, like every other error."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_DATA, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def make_parser(prog: str, description: str, examples: str) -> argparse.ArgumentParser:
    """A parser with ``--version``, ``--debug`` and ``--quiet`` and an examples epilog."""
    parser = _Parser(
        prog=prog, description=description, epilog="examples:\n" + examples, formatter_class=_HelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show a traceback on errors")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress or summary on stderr")
    return parser


def add_threads(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-t", "--threads", type=positive_int, default=1, metavar="N", help="worker processes/threads to use"
    )


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0.0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    value = float(text)
    if not 0.0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def say(args: argparse.Namespace, message: str) -> None:
    """A progress or summary line on stderr, unless ``--quiet``."""
    if not getattr(args, "quiet", False):
        print(message, file=sys.stderr, flush=True)


def _on_sigterm(signum, frame) -> None:  # noqa: ARG001 - signal handler signature
    # Unwinding through SystemExit lets every atomic_output() remove its temporary file.
    remove_live_temp_files()
    raise SystemExit(128 + signum)


def run(prog: str, main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> int:
    """Run ``main``; map errors to a one-line message and an exit code (2 data, 1 internal)."""
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    if debug:
        os.environ.setdefault("DEEPMIR_TF_VERBOSE", "1")
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return main(argv) or 0
    except DeepMirError as exc:
        if debug:
            traceback.print_exc()
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of our stdout went away (e.g. `| head`): not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        if debug:
            traceback.print_exc()
        where = f"{exc.filename}: " if exc.filename else ""
        reason = exc.strerror or str(exc)
        user_fixable = (errno.ENOENT, errno.EISDIR, errno.ENOTDIR, errno.EACCES, errno.EPERM, errno.EEXIST, errno.EROFS,
                        errno.ENOSPC, errno.EDQUOT)
        code = EXIT_DATA if exc.errno in user_fixable else EXIT_INTERNAL
        print(f"{prog}: error: {where}{reason}", file=sys.stderr)
        return code
    except Exception as exc:  # noqa: BLE001 - last resort: one line, no traceback
        if debug:
            traceback.print_exc()
        print(f"{prog}: internal error: {type(exc).__name__}: {exc} (rerun with --debug for a traceback)", file=sys.stderr)
        return EXIT_INTERNAL
