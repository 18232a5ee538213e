"""Test harness: real services, started once per run, a clean database per test.

PostgreSQL: SEGFLOW_TEST_DATABASE_URL (a server where we may create databases) or an embedded
server in a temporary directory. A migrated template database is made once; each test gets
its own copy (CREATE DATABASE ... TEMPLATE), so tests never see each other's rows.

Kafka: SEGFLOW_TEST_KAFKA_BOOTSTRAP or the embedded broker on a free port; each test gets
topic names of its own.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from db import Conn, maintenance
from db.migrate import migrate
from segflow.cli import main
from segflow.infra.config import Config
from segflow.infra.embedded import EmbeddedBroker, free_port, start_postgres
from tests.support.kafka_io import create_topic
from tests.support.worker_process import kill_leftovers

ROOT = Path(__file__).resolve().parent.parent

pytest_plugins = ("tests.support.klaviyo",)  # the fake Klaviyo and a store using it


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """One more worker than cores, up to 4: the slow tests mostly wait (on timeouts, a restarted
    service, a worker going idle), so a third worker on two cores took the suite from 333 s to 293 s.
    With `--dist worksteal` (pyproject.toml) an idle worker takes queued tests from a busy one, so
    the long fault tests no longer leave one worker running alone at the end: 344 s -> 226 s."""
    return min(4, (os.cpu_count() or 1) + 1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Marks come from the folder, so a test cannot forget its own.
    for item in items:
        parts = Path(str(item.fspath)).relative_to(ROOT / "tests").parts
        item.add_marker(pytest.mark.unit if parts[0] == "unit" else pytest.mark.integration)


@pytest.fixture(autouse=True)
def _no_worker_left_running() -> Iterator[None]:
    """A test that fails while a worker subprocess runs must not leave it running."""
    yield
    kill_leftovers()


@dataclass(frozen=True)
class PgServer:
    admin_url: str

    def url(self, dbname: str) -> str:
        return make_conninfo(self.admin_url, dbname=dbname)

    def execute(self, statement: str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(statement.encode())


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    configured = os.environ.get("SEGFLOW_TEST_DATABASE_URL")
    if configured:
        yield PgServer(configured)
        return
    home = Path(tempfile.mkdtemp(prefix="segflow-test-pg-"))
    server = start_postgres(home / "pgdata")
    try:
        yield PgServer(server.url)
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def template_db(pg_server: PgServer) -> Iterator[str]:
    name = f"segflow_template_{uuid.uuid4().hex[:8]}"
    pg_server.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(pg_server.url(name), autocommit=True) as conn:
        migrate(conn)
    yield name
    pg_server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def empty_database_url(pg_server: PgServer) -> Iterator[str]:
    """A database with no schema at all, for migration tests."""
    name = f"segflow_empty_{uuid.uuid4().hex[:8]}"
    pg_server.execute(f'CREATE DATABASE "{name}"')
    yield pg_server.url(name)
    pg_server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database_url(pg_server: PgServer, template_db: str) -> Iterator[str]:
    name = f"segflow_test_{uuid.uuid4().hex[:8]}"
    pg_server.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    with psycopg.connect(pg_server.url(name), autocommit=True) as conn:
        # The time partitions rows go to, as every segflow process makes them before it writes.
        maintenance.ensure_partitions(conn, maintenance.DEFAULT_RETENTIONS, None, maintenance.DEFAULT_PRUNE_EVERY)
    yield pg_server.url(name)
    pg_server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db(database_url: str) -> Iterator[Conn]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    configured = os.environ.get("SEGFLOW_TEST_KAFKA_BOOTSTRAP")
    if configured:
        yield configured
        return
    with EmbeddedBroker(port=free_port()) as broker:
        yield broker.bootstrap


@dataclass(frozen=True)
class Topics:
    input: str
    output: str
    dlq: str


@pytest.fixture
def topics() -> Topics:
    suffix = uuid.uuid4().hex[:8]
    return Topics(f"in-{suffix}", f"out-{suffix}", f"dlq-{suffix}")


@pytest.fixture
def config(database_url: str, kafka_bootstrap: str, topics: Topics, tmp_path: Path) -> Config:
    """A worker's configuration on the test's database and topics (the input one created)."""
    create_topic(kafka_bootstrap, topics.input, 4)
    return replace(
        Config.from_env({}),
        database_url=database_url,
        home=tmp_path,
        kafka_bootstrap=kafka_bootstrap,
        group_id=f"g-{uuid.uuid4().hex[:8]}",
        input_topic=topics.input,
        output_topic=topics.output,
        dlq_topic=topics.dlq,
    )


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str


class Cli:
    """Runs `segflow` in-process through `main`, the way the console script does."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self._capsys = capsys

    def __call__(self, *args: str) -> CliResult:
        self._capsys.readouterr()
        code = main(list(args))
        captured = self._capsys.readouterr()
        return CliResult(code, captured.out, captured.err)


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    monkeypatch.setenv("SEGFLOW_DATABASE_URL", database_url)
    monkeypatch.setenv("SEGFLOW_LOG_FORMAT", "json")
    return Cli(capsys)


@pytest.fixture
def offline_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    """`segflow` for commands that need no service: no database is made for the test, and one
    asked for would be refused (the URL points at nothing)."""
    monkeypatch.setenv("SEGFLOW_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    monkeypatch.setenv("SEGFLOW_LOG_FORMAT", "json")
    return Cli(capsys)


@pytest.fixture
def write_file(tmp_path: Path):
    def write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", newline="")
        return path

    return write
