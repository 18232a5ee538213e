import re
from importlib.resources import files

import pytest

from db.migrate import available
from db.queries import QUERIES, parse, sql


def test_blocks_are_parsed_by_name_without_comments():
    text = "-- preamble\n-- name: one\n-- why\nSELECT 1;\n\n-- name: two\n-- why\nSELECT %(x)s\n"
    assert {"one": "SELECT 1", "two": "SELECT %(x)s"} == parse(text)


def test_a_name_defined_twice_is_refused():
    with pytest.raises(ValueError, match="'one' twice"):
        parse("-- name: one\nSELECT 1;\n-- name: one\nSELECT 2;\n")


def test_a_misspelt_name_fails_loudly():
    with pytest.raises(KeyError, match="no query named 'insert_stor'"):
        sql("insert_stor")


def test_every_block_has_a_line_saying_why():
    text = files("db").joinpath("queries.sql").read_text()
    for name in QUERIES:
        after = text.split(f"-- name: {name}\n", 1)[1]
        assert after.startswith("-- "), f"query {name} lacks its why-line"


# Queries that serve every store by design, and why. Everything else must name its store.
CROSS_STORE = {
    "unpublished_outbox": "the relay publishes every store's events, in commit order",
    "mark_outbox_published": "by outbox batch ids the relay just read",
    "unpublished_count": "a total for idle detection",
    "due_syncs": "the worker runs every store's daily Klaviyo syncs",
}


def test_every_query_on_tenant_tables_filters_by_store():
    tenant = re.compile(
        r"\b(FROM|UPDATE|INTO)\s+(customers|segments|segment_members|flows|flow_versions|runs|outbox|outbox_batches|"
        r"processed_events|live_runs|finished_runs|flow_entries|journeys)\b",
        re.IGNORECASE,
    )
    for name, statement in QUERIES.items():
        if tenant.search(statement) and name not in CROSS_STORE:
            assert "store_id" in statement, f"query {name} touches tenant data without store_id"


def test_migration_files_are_numbered_without_gaps():
    assert list(range(1, len(available()) + 1)) == [m.version for m in available()]
