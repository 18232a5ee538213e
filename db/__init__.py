"""The SQL layer: migrations, named queries (queries.sql) and thin typed functions over them.

Functions here take a psycopg connection and never commit: the caller owns the transaction.
Every tenant query filters by store_id.
"""

from typing import Any, TypeAlias

import psycopg

Conn: TypeAlias = psycopg.Connection[tuple[Any, ...]]
