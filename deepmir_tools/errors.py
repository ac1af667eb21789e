"""Exceptions shared by all modules; the CLI maps them to exit codes."""

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_DATA = 2


class DeepMirError(Exception):
    """A problem the user can fix (bad input, bad option): one-line message, exit code 2."""

    exit_code = EXIT_DATA


class InputFormatError(DeepMirError):
    """Malformed sequence or data file; the message names the file, record and line."""


class ModelBundleError(DeepMirError):
    """A model bundle that is truncated, tampered with, of another version or inconsistent."""
