"""One error tree. `str(exc)` is always one line that names the bad input; an error about
several things (a file's bad lines) lists them in `lines`, and in `data` for `--json`.

The CLI catches `SegflowError` once: a `UserError` exits 1, a `ServiceUnavailable` exits 1 with
a hint. Anything else escaping is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class SegflowError(Exception):
    """Base of every error segflow raises on purpose."""

    def __init__(
        self, message: str, lines: Sequence[str] = (), data: Mapping[str, Any] | None = None, cli_hint: str = ""
    ) -> None:
        super().__init__(message)
        self.lines = list(lines)
        """Shown before the message (one problem each: a file's bad lines)."""
        self.data = dict(data or {})
        """Added to the `--json` error document (`{"error": ..., **data}`)."""
        self.cli_hint = cli_hint
        """Appended to the message by the CLI only: a flag the console has not got (`or use --force`)."""


class UserError(SegflowError):
    """The user asked for something that cannot be done as asked."""


class NotFound(UserError):
    """A named thing (store, segment, flow, file) does not exist."""


class AlreadyExists(UserError):
    """A named thing that must be unique already exists."""


class PlanRequired(UserError):
    """The store's plan does not include the feature."""


class InvalidInput(UserError):
    """A file or value is malformed; the message names it and, for files, the line."""


class ImportTooLarge(InvalidInput):
    """An upload has more rows than allowed; nothing was imported."""


class SchemaOutOfDate(UserError):
    """The database needs `segflow db migrate` before this command can run."""


class ServiceUnavailable(SegflowError):
    """A service segflow needs (PostgreSQL, Kafka) does not answer."""
