"""Where the database is, and a connection that is ready to use (SPEC §8).

With SEGFLOW_DATABASE_URL unset, segflow starts (or reuses) the embedded PostgreSQL under
SEGFLOW_HOME and keeps its schema migrated itself. A configured database is the operator's:
segflow never migrates it implicitly and asks for `segflow db migrate` when it is behind.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
import psycopg.conninfo

from db import Conn as Conn  # the connection type the front doors hold
from db import maintenance
from db import migrate as migrations
from segflow.errors import InvalidInput, SchemaOutOfDate, ServiceUnavailable
from segflow.infra.config import Config
from segflow.infra.embedded import start_postgres


def database_url(config: Config) -> str:
    if config.database_url:
        return config.database_url
    return start_postgres(config.embedded_pgdata).url


# Every connection notices a dead path by itself (SPEC §5, never wedged): a server that does not
# answer the connect in 10 s; an idle connection whose peer is gone after 10 s idle + 3 probes
# 5 s apart (25 s); a connection with data sent and never acknowledged after 30 s. Without them
# the kernel retransmits for about 15 minutes. (TCP only: over a Unix socket there is no path to
# lose.) A URL that sets one of them keeps its own.
TCP_SETTINGS = {
    "connect_timeout": "10",
    "keepalives": "1",
    "keepalives_idle": "10",
    "keepalives_interval": "5",
    "keepalives_count": "3",
    "tcp_user_timeout": "30000",
}


@dataclass(frozen=True, slots=True)
class SessionLimits:
    """What the server enforces on one of the worker's sessions."""

    statement_timeout: timedelta | None
    """A statement running longer is cancelled (SQLSTATE 57014: an outage, retried)."""
    idle_in_transaction: timedelta | None
    """A session idle this long inside a transaction is ended by the server, so the locks of one
    whose client vanished (a network partition) do not outlive it for long."""


def worker_limits(config: Config, *, statements: bool = True) -> SessionLimits:
    """The limits of the worker's sessions: the loop's, the relay's, the sync thread's (the
    pruner's statements are exempt: a cancelled DETACH ... CONCURRENTLY leaves work behind)."""
    timeout = config.statement_timeout
    return SessionLimits(timeout if statements else None, timeout)


def open_connection(url: str, limits: SessionLimits | None = None) -> Conn:
    try:
        given = psycopg.conninfo.conninfo_to_dict(url)
        settings = {k: v for k, v in TCP_SETTINGS.items() if k not in given}
        conn = psycopg.connect(psycopg.conninfo.make_conninfo(url, **settings), autocommit=True)
    except psycopg.OperationalError as exc:
        raise _unavailable(exc) from exc
    except psycopg.ProgrammingError as exc:  # libpq could not read the URL
        # Its message quotes the URL, password and all: say what is wrong, not what was given.
        reason = re.sub(r'"[^"]*"', '"…"', str(exc).strip().splitlines()[0])
        raise InvalidInput(
            f"SEGFLOW_DATABASE_URL is not a PostgreSQL connection URL ({reason}); "
            "expected postgresql://user:password@host:5432/dbname"
        ) from None
    if limits is not None:
        _limit(conn, limits)
    return conn


def _limit(conn: Conn, limits: SessionLimits) -> None:
    def ms(value: timedelta | None) -> str:
        return str(int(value.total_seconds() * 1000)) if value else "0"

    # The server's end too gives up on a client that stopped answering, so a partitioned session
    # does not keep its transaction (and the rows it locked) for the kernel's 15 minutes.
    server_tcp = {
        "tcp_keepalives_idle": TCP_SETTINGS["keepalives_idle"],
        "tcp_keepalives_interval": TCP_SETTINGS["keepalives_interval"],
        "tcp_keepalives_count": TCP_SETTINGS["keepalives_count"],
        "tcp_user_timeout": TCP_SETTINGS["tcp_user_timeout"],
    }
    settings = {
        "statement_timeout": ms(limits.statement_timeout),
        "idle_in_transaction_session_timeout": ms(limits.idle_in_transaction),
        **server_tcp,
    }
    try:
        conn.execute(
            "SELECT set_config(name, value, false) FROM unnest(%s::text[], %s::text[]) AS s (name, value)",
            (list(settings), list(settings.values())),
        )
    except psycopg.OperationalError as exc:
        conn.close()
        raise _unavailable(exc) from exc


def _unavailable(exc: psycopg.OperationalError) -> ServiceUnavailable:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ServiceUnavailable(f"cannot connect to PostgreSQL: {reason}")


# Asked of the kernel for the worker's connection, which it caps at net.core.wmem_max (often
# 208 KiB; 4 MiB on the benchmark machine).
WORKER_SEND_BUFFER = 4 * 1024 * 1024


def widen_send_buffer(conn: Conn, size: int = WORKER_SEND_BUFFER) -> None:
    """Let the socket hold `size` bytes of statements PostgreSQL has not read yet.

    In pipeline mode the worker sends a group's writes (an outbox row alone can be half a
    megabyte) and goes on computing; with the socket full, sending blocks until PostgreSQL has
    executed what is ahead of it, and the worker waits instead of computing.
    """
    sock = socket.socket(fileno=os.dup(conn.pgconn.socket))  # a second handle on the same socket
    try:
        if sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) < size:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
    finally:
        sock.close()


_covered_until: dict[str, datetime] = {}
"""Per database (by connection URL): how far ahead this process saw time partitions exist."""
PARTITIONS_MARGIN = timedelta(minutes=10)


def ensure_partitions(conn: Conn, config: Config) -> None:
    """Make sure the time partitions rows are written to (db.maintenance) exist for a while yet.

    The worker's pruner keeps them ahead; a command or the console writing when no worker has
    run for a long time creates them itself. Looked up once per process while they last.
    """
    key = conn.info.dsn
    margin = min(PARTITIONS_MARGIN, maintenance.ahead(config.prune_every) / 2)
    if key in _covered_until and datetime.now(UTC) + margin < _covered_until[key]:
        return
    _covered_until[key] = maintenance.ensure_partitions(conn, retentions_of(config), None, config.prune_every)


def retentions_of(config: Config) -> tuple[maintenance.Retention, ...]:
    """The partitioned tables and how long each keeps its rows, as configured (SPEC §8)."""
    return maintenance.retentions(
        config.dedup_window, config.run_retention, config.journey_retention, config.outbox_retention
    )


def check_schema(conn: Conn, *, embedded: bool) -> None:
    if embedded:
        migrations.migrate(conn)
        return
    todo = migrations.pending(conn)
    if todo:
        names = ", ".join(f"{m.version:04d}_{m.name}" for m in todo)
        raise SchemaOutOfDate(f"the database needs {len(todo)} migration(s) ({names}): run `segflow db migrate`")


@contextmanager
def connect(config: Config, *, check: bool = True) -> Iterator[Conn]:
    """A connection in autocommit mode: callers open `conn.transaction()` for their writes."""
    conn = open_connection(database_url(config))
    try:
        if check:
            check_schema(conn, embedded=config.database_url is None)
            ensure_partitions(conn, config)
        yield conn
    finally:
        conn.close()
