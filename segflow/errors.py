"""One error tree. `str(exc)` is always one line that names the bad input.

The CLI catches `SegflowError` once: a `UserError` exits 1, a `ServiceUnavailable` exits 1 with
a hint. Anything else escaping is a bug and keeps its traceback.
"""


class SegflowError(Exception):
    """Base of every error segflow raises on purpose."""


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


class BadMessage(SegflowError):
    """An input message cannot be processed; its text becomes the dead-letter reason."""
