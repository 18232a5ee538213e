"""The SQL layer: migrations, named queries (queries.sql) and thin typed functions over them.

Functions here take a psycopg connection and never commit: the caller owns the transaction.
Every tenant query filters by store_id.
"""

from collections.abc import Callable
from typing import Any, Generic, TypeAlias, TypeVar

import psycopg

Conn: TypeAlias = psycopg.Connection[tuple[Any, ...]]
Cursor: TypeAlias = psycopg.Cursor[tuple[Any, ...]]

T = TypeVar("T")


class Pending(Generic[T]):
    """A statement's result, read when asked for.

    Outside pipeline mode the statement has already run. In pipeline mode it is only sent, and
    `result()` waits for it (and for everything sent before it): the worker sends a group's
    reads, computes the previous group meanwhile, and reads the results after.
    """

    __slots__ = ("_cursor", "_read")

    def __init__(self, cursor: Cursor, read: Callable[[Cursor], T]) -> None:
        self._cursor = cursor
        self._read = read

    def result(self) -> T:
        return self._read(self._cursor)
