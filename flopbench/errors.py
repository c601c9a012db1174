"""User-facing errors: each is one line that says what is wrong, where, and how to fix it.

The CLI prints them without a traceback and exits with status 2. Anything else that escapes is a
bug in flopbench and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any


class FlopbenchError(Exception):
    """Bad input from the user (a file, an argument, a key). Printed as one line, exit status 2."""


class SpecError(FlopbenchError):
    """A problem with one key of a workload specification; the caller adds file and entry."""

    def __init__(self, key: str | None, message: str):
        self.key = key
        self.message = message
        super().__init__(f"key '{key}': {message}" if key else message)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for a near miss, '' otherwise."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def first_line(exc: BaseException, limit: int = 300) -> str:
    """`Type: first line of the message` of an exception, for a one-line reason (an empty message is the type)."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:limit]}" if lines else type(exc).__name__


def validation_text(exc: Any) -> str:
    """The first defect of a pydantic ValidationError, as `where: what` (and how many more there are)."""
    errors = exc.errors()
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"]) or "the line"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {first['msg']}{more}"
