"""The hot tables' references, checked by their writing statements (migration 0007), not foreign keys.

A run or membership naming a customer, segment or flow version its store does not have fails the
whole statement, and `segments delete` racing a flow's membership add leaves no member behind.
"""

import threading
from collections.abc import Callable
from datetime import UTC, datetime

import psycopg
import pytest

from db import flows as flow_rows
from db import runs as run_rows
from db import segments as segment_rows
from db import stores as store_rows
from db.customers import CustomerFields, insert_new
from engine.model import Run

NOW = datetime(2026, 11, 26, tzinfo=UTC)


@pytest.fixture
def two_stores(db):
    """Store acme with customer ann, segment VIP and flow welcome@1; store other with bob and Gold."""
    ids = {}
    for store_id, email, segment in [("acme", "ann@example.com", "VIP"), ("other", "bob@example.com", "Gold")]:
        store_rows.insert(db, store_id, store_id.title(), "pro")
        ids[email] = insert_new(db, store_id, [CustomerFields(email=email)])[0].id
        created = segment_rows.insert(db, store_id, segment, "manual")
        assert created is not None
        ids[segment] = created.id
    flow_rows.insert(db, "acme", "welcome")
    flow_rows.insert_version(db, "acme", "welcome", 1, {"id": "welcome"}, "digest")
    return ids


def a_run(email: str = "ann@example.com", version: int = 1) -> Run:
    return Run("run_1", "welcome", version, email, None, "completed", NOW, NOW)


def waits_until(work: Callable[[], None], release: Callable[[], None]) -> None:
    """Run `work` on a thread, see it wait for the other transaction, `release` that, see it finish."""
    thread = threading.Thread(target=work)
    thread.start()
    thread.join(0.5)
    assert thread.is_alive(), "it should wait for the other transaction"
    release()
    thread.join(10)
    assert not thread.is_alive()


def count(db, table: str) -> int:
    return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_a_run_is_written_for_the_stores_own_customer_and_version(db, two_stores):
    run_rows.write(db, "acme", [a_run()], {"ann@example.com": two_stores["ann@example.com"]}, set())
    assert [("acme", two_stores["ann@example.com"], 1)] == db.execute(
        "SELECT store_id, customer_id, flow_version FROM runs"
    ).fetchall()


def test_a_run_naming_another_stores_customer_fails_whole(db, two_stores):
    customer_ids = {"ann@example.com": two_stores["ann@example.com"], "bob@example.com": two_stores["bob@example.com"]}
    runs = [a_run(), Run("run_2", "welcome", 1, "bob@example.com", None, "completed", NOW, NOW)]
    with pytest.raises(psycopg.errors.NotNullViolation, match="customer_id"):
        run_rows.write(db, "acme", runs, customer_ids, set())
    assert 0 == count(db, "runs")


def test_a_run_on_a_version_that_does_not_exist_fails(db, two_stores):
    with pytest.raises(psycopg.errors.NotNullViolation, match="flow_version"):
        run_rows.write(db, "acme", [a_run(version=2)], {"ann@example.com": two_stores["ann@example.com"]}, set())
    assert 0 == count(db, "runs")


def test_flow_memberships_must_name_the_stores_own_segment_and_customer(db, two_stores):
    ann, bob = two_stores["ann@example.com"], two_stores["bob@example.com"]
    with pytest.raises(psycopg.errors.NotNullViolation, match="segment_id"):
        segment_rows.add_many(
            db, "acme", [(two_stores["VIP"], ann, NOW, "flow"), (two_stores["Gold"], ann, NOW, "flow")]
        )
    with pytest.raises(psycopg.errors.NotNullViolation, match="customer_id"):
        segment_rows.add_many(db, "acme", [(two_stores["VIP"], bob, NOW, "flow")])
    assert 0 == count(db, "segment_members")
    segment_rows.add_many(db, "acme", [(two_stores["VIP"], ann, NOW, "flow")])
    assert 1 == count(db, "segment_members")


def test_manual_adds_must_name_the_stores_own_segment_and_customers(db, two_stores):
    ann, bob = two_stores["ann@example.com"], two_stores["bob@example.com"]
    with pytest.raises(psycopg.errors.NotNullViolation, match="customer_id"):
        segment_rows.add_members(db, "acme", two_stores["VIP"], [ann, bob], "manual", NOW)
    with pytest.raises(psycopg.errors.NotNullViolation, match="segment_id"):
        segment_rows.add_members(db, "acme", two_stores["Gold"], [ann], "manual", NOW)
    assert 0 == count(db, "segment_members")
    assert {ann} == segment_rows.add_members(db, "acme", two_stores["VIP"], [ann], "manual", NOW)


def test_a_delete_waits_for_an_uncommitted_add_and_removes_it_too(db, database_url, two_stores):
    vip, ann = two_stores["VIP"], two_stores["ann@example.com"]
    with psycopg.connect(database_url) as adding, psycopg.connect(database_url) as deleting:
        segment_rows.add_many(adding, "acme", [(vip, ann, NOW, "flow")])  # transaction left open
        removed: list[str] = []

        def delete() -> None:
            with deleting.transaction():
                segment_rows.lock_named(deleting, "acme", "VIP")
                removed.extend(segment_rows.delete(deleting, "acme", vip))

        waits_until(delete, adding.commit)
    assert ["ann@example.com"] == removed
    assert 0 == count(db, "segment_members")


def test_an_add_after_a_committed_delete_fails(db, database_url, two_stores):
    vip, ann = two_stores["VIP"], two_stores["ann@example.com"]
    with psycopg.connect(database_url) as adding, psycopg.connect(database_url) as deleting:
        segment_rows.lock_named(deleting, "acme", "VIP")
        segment_rows.delete(deleting, "acme", vip)  # transaction left open
        failure: list[BaseException] = []

        def add() -> None:
            try:
                segment_rows.add_many(adding, "acme", [(vip, ann, NOW, "flow")])
            except psycopg.Error as exc:
                failure.append(exc)

        waits_until(add, deleting.commit)
    assert [psycopg.errors.NotNullViolation] == [type(exc) for exc in failure]
    assert 0 == count(db, "segment_members")
