"""Errors that end a command with one clear line and a non-zero exit code."""

from __future__ import annotations


class BitmeshError(Exception):
    """A user-facing failure: the message is printed as one line, no traceback."""

    exit_code = 1

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(BitmeshError):
    """Bad input from the user (arguments, files, names): exit code 2."""

    exit_code = 2
