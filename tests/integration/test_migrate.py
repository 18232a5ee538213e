import json
import subprocess
import sys

import psycopg

from db import migrate as migrations
from db import outbox
from db.queries import sql

TABLES = {
    "stores",
    "customers",
    "segments",
    "segment_members",
    "flows",
    "flow_versions",
    "runs",
    "processed_events",
    "consumer_offsets",
    "journeys",
    "flow_counts",
    "outbox",
    "outbox_batches",
    "dlq_replays",
    "relay_positions",
    "schema_migrations",
    "store_credentials",
    "store_tokens",
    "console_sessions",
    "retention_partitions",
}


def public_tables(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT t.table_name FROM information_schema.tables t "
            "JOIN pg_class c ON c.oid = to_regclass(quote_ident(t.table_name)) "
            "WHERE t.table_schema = 'public' AND NOT c.relispartition"  # a time partition is part of its table
        ).fetchall()
    return sorted(r[0] for r in rows)


def applied_versions(url: str) -> list[int]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]


def test_migrate_creates_every_table_on_an_empty_database(empty_database_url):
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        applied = migrations.migrate(conn)
    assert [m.version for m in applied] == [m.version for m in migrations.available()]
    assert sorted(TABLES) == public_tables(empty_database_url)


def test_second_migrate_applies_nothing(empty_database_url):
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        migrations.migrate(conn)
        assert [] == migrations.migrate(conn)
    assert [m.version for m in migrations.available()] == applied_versions(empty_database_url)


def test_two_processes_migrating_at_once_leave_one_schema(empty_database_url):
    env = {"SEGFLOW_DATABASE_URL": empty_database_url, "SEGFLOW_LOG_FORMAT": "json", "PATH": ""}
    command = [sys.executable, "-m", "segflow", "db", "migrate", "--json"]
    procs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    results = [p.communicate(timeout=60) for p in procs]
    assert [0, 0] == [p.returncode for p in procs], results
    applied = sorted(len(json.loads(out)["applied"]) for out, _ in results)
    # Exactly one of them applied the files; the other waited on the lock and found none left.
    assert [0, len(migrations.available())] == applied
    assert [m.version for m in migrations.available()] == applied_versions(empty_database_url)
    assert sorted(TABLES) == public_tables(empty_database_url)


def test_commands_on_a_configured_database_ask_for_migrate(cli, empty_database_url, monkeypatch):
    monkeypatch.setenv("SEGFLOW_DATABASE_URL", empty_database_url)
    result = cli("stores", "list")
    assert 1 == result.code
    assert "run `segflow db migrate`" in result.err
    assert [] == public_tables(empty_database_url)


def test_outbox_rows_queued_before_batches_keep_their_order_and_state(empty_database_url):
    """0005 turns the per-event outbox into batches: what waited to be sent still waits, in order."""
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        with conn.transaction():
            conn.execute(sql("create_schema_migrations"))
            for migration in migrations.available()[:4]:
                conn.execute(migration.text.encode())
                conn.execute(sql("record_migration"), {"version": migration.version, "name": migration.name})
        conn.execute("INSERT INTO stores (id, name, plan) VALUES ('acme', 'Acme', 'pro')")
        for n, published in [(1, True), (2, False), (3, False)]:
            conn.execute(
                "INSERT INTO outbox (store_id, event_id, event_type, key, payload, published_at) "
                "VALUES ('acme', %s, 'flow.entered', 'acme:ann@example.com', %s, %s)",
                (f"evt_{n}", json.dumps({"event_id": f"evt_{n}"}), "2026-11-26T00:00:00Z" if published else None),
            )
        assert [m.version for m in migrations.available()[4:]] == [m.version for m in migrations.migrate(conn)]
        unpublished = outbox.unpublished(conn, limit=100)
        assert [["evt_2"], ["evt_3"]] == [b.event_ids for b in unpublished]
        assert [{"event_id": "evt_2"}, {"event_id": "evt_3"}] == [json.loads(b.payloads[0]) for b in unpublished]
        rows = conn.execute("SELECT event_id, published_at IS NOT NULL FROM outbox ORDER BY id, position").fetchall()
        assert [("evt_1", True), ("evt_2", False), ("evt_3", False)] == rows
