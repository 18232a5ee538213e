import json
import subprocess
import sys
from datetime import timedelta
from typing import Any

import psycopg

from db import events as event_rows
from db import maintenance, outbox
from db import migrate as migrations
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
    "live_runs",
    "finished_runs",
    "flow_entries",
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


def one(conn: psycopg.Connection[Any], query: str, params: tuple[Any, ...] = ()) -> Any:
    row = conn.execute(query.encode(), params).fetchone()
    assert row is not None
    return row[0]


def migrate_to(conn: psycopg.Connection[Any], version: int) -> None:
    with conn.transaction():
        conn.execute(sql("create_schema_migrations"))
        for migration in migrations.available()[:version]:
            conn.execute(migration.text.encode())
            conn.execute(sql("record_migration"), {"version": migration.version, "name": migration.name})


def test_partitioning_keeps_every_row_where_the_worker_finds_it(empty_database_url):
    """0014 and 0015 turn the growing tables into partitions without copying them: each old row
    is still read, deduplicated against, published or woken as before."""
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        migrate_to(conn, 13)
        conn.execute("INSERT INTO stores (id, name, plan) VALUES ('acme', 'Acme', 'pro')")
        conn.execute("INSERT INTO customers (store_id, email) VALUES ('acme', 'ann@example.com')")
        ann = one(conn, "SELECT id FROM customers")
        conn.execute(
            "INSERT INTO flows (store_id, id, latest_version) VALUES ('acme', 'f', 1);"
            "INSERT INTO flow_versions (store_id, flow_id, version, definition, content_hash) "
            "VALUES ('acme', 'f', 1, '{}', 'h')"
        )
        for key, status in (("run_done", "completed"), ("run_waiting", "waiting")):
            conn.execute(
                "INSERT INTO runs (store_id, key, customer_id, flow_id, flow_version, node_id, status, wake_at, "
                "entered_at, updated_at) VALUES ('acme', %s, %s, 'f', 1, 'n', %s, now(), now(), now())",
                (key, ann, status),
            )
        conn.execute("INSERT INTO processed_events (store_id, event_id) VALUES ('acme', 'evt_old')")
        conn.execute(
            "INSERT INTO journeys (store_id, customer_id, at, entries) VALUES ('acme', %s, now(), '[]')", (ann,)
        )
        conn.execute(
            "INSERT INTO outbox_batches (store_id, size, event_ids, event_types, keys, payloads) "
            "VALUES ('acme', 1, ARRAY['evt_out'], ARRAY['flow.entered'], ARRAY['k'], ARRAY['{}'])"
        )

        assert [14, 15, 16] == [m.version for m in migrations.migrate(conn)][:3]  # and any later ones
        maintenance.ensure_partitions(conn, maintenance.DEFAULT_RETENTIONS, None, maintenance.DEFAULT_PRUNE_EVERY)

        assert [("run_waiting", "waiting")] == conn.execute("SELECT key, status FROM live_runs").fetchall()
        assert [("run_done", "completed")] == conn.execute("SELECT key, status FROM finished_runs").fetchall()
        assert 2 == one(conn, "SELECT count(*) FROM runs")
        assert [(ann, "f")] == conn.execute("SELECT customer_id, flow_id FROM flow_entries").fetchall()
        assert [("", "completed", 1)] == conn.execute("SELECT node_id, edge, count FROM flow_counts").fetchall()
        with conn.transaction():
            fresh = event_rows.claim(conn, "acme", ["evt_old", "evt_new"], timedelta(days=2)).result()
        assert {"evt_new"} == fresh
        assert [["evt_out"]] == [b.event_ids for b in outbox.unpublished(conn, limit=100)]
        assert 1 == one(conn, "SELECT count(*) FROM journeys")
        new_id = one(
            conn,
            "INSERT INTO outbox_batches (store_id, size, event_ids, event_types, keys, payloads) "
            "VALUES ('acme', 1, ARRAY['e2'], ARRAY['t'], ARRAY['k'], ARRAY['{}']) RETURNING id",
        )
        assert new_id > one(conn, "SELECT min(id) FROM outbox_batches")  # ids go on from the old ones


def test_a_klaviyo_segment_synced_before_0016_is_due_a_day_after_its_last_sync(empty_database_url):
    """0016 folds the last sync and the claim into one time, next_sync_at: a segment synced an
    hour ago is not due, one synced two days ago is, and a claim that lasts longer is kept."""
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        migrate_to(conn, 15)
        conn.execute("INSERT INTO stores (id, name, plan) VALUES ('acme', 'Acme', 'pro')")
        for name, synced, claimed in (
            ("recent", "now() - interval '1 hour'", "NULL"),
            ("old", "now() - interval '2 days'", "NULL"),
            ("claimed", "now() - interval '2 days'", "now() + interval '3 days'"),
            ("never", "NULL", "NULL"),
        ):
            conn.execute(
                "INSERT INTO segments (store_id, name, source, external_type, external_id, auto_sync, "
                f"last_synced_at, sync_claimed_until) VALUES ('acme', %s, 'klaviyo', 'list', 'L', true, {synced}, "
                f"{claimed})",
                (name,),
            )

        assert [16] == [m.version for m in migrations.migrate(conn)][:1]

        due = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM segments WHERE next_sync_at IS NULL OR next_sync_at <= now() ORDER BY name"
            )
        ]
        assert ["never", "old"] == due
        claimed = one(conn, "SELECT next_sync_at > now() + interval '2 days' FROM segments WHERE name = 'claimed'")
        assert claimed is True


def test_0017_stores_segment_names_composed_unless_that_name_is_taken(empty_database_url):
    composed, decomposed = "Caf\u00e9", "Cafe\u0301"
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        migrate_to(conn, 16)
        conn.execute("INSERT INTO stores (id, name, plan) VALUES ('acme', 'Acme', 'pro'), ('beta', 'Beta', 'pro')")
        for store, name in (("acme", decomposed), ("beta", decomposed), ("beta", composed.upper())):
            conn.execute("INSERT INTO segments (store_id, name, source) VALUES (%s, %s, 'manual')", (store, name))

        assert [17] == [m.version for m in migrations.migrate(conn)][:1]

        names = conn.execute("SELECT store_id, name FROM segments ORDER BY store_id, name").fetchall()
        assert [("acme", composed), ("beta", composed.upper()), ("beta", decomposed)] == sorted(names)
