"""A merchant's segment operations racing each other (issue 24, item 3): what an import or a
delete decides, it decides under the segment's lock, so a delete is never undone by an import
that started before it, and a delete reports the members it really removed."""

import errno
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import psycopg
import pytest

from db import segments as segment_rows
from db import stores as store_rows
from db.customers import CustomerFields, insert_new
from segflow.errors import NotFound
from segflow.services import segments as segment_service


@pytest.fixture
def acme(db):
    store_rows.insert(db, "acme", "Acme", "pro")
    insert_new(db, "acme", [CustomerFields(email=f"user{i:03}@shop.test") for i in range(300)])
    segment_service.create(db, "acme", "Team")
    segment_service.change_by_email(db, "acme", "Team", "add", ["user000@shop.test"])
    return "acme"


def test_an_import_that_began_before_a_delete_does_not_bring_the_segment_back(acme, database_url, tmp_path):
    # The import reads its file from a pipe: it has checked that "Team" exists and waits for the
    # file while the delete commits; then the file arrives.
    pipe = tmp_path / "members.csv"
    os.mkfifo(pipe)
    outcome: list[object] = []

    def importing() -> None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            try:
                outcome.append(segment_service.import_csv(conn, "acme", "Team", Path(pipe)))
            except NotFound as exc:
                outcome.append(exc)

    thread = threading.Thread(target=importing)
    thread.start()
    feed = open_when_read(pipe, thread)  # the import has found "Team" and opened its file
    with psycopg.connect(database_url, autocommit=True) as conn:
        deleted, _flows = segment_service.delete(conn, "acme", "Team")
    assert 1 == deleted.members
    with feed:
        feed.write("email\n" + "".join(f"user{i:03}@shop.test\n" for i in range(1, 231)))
    thread.join(30)
    assert not thread.is_alive()
    [result] = outcome
    assert isinstance(result, NotFound), result
    assert 'segment "Team" not found in store acme' in str(result)
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert segment_rows.get(conn, "acme", "Team") is None
        added = conn.execute("SELECT count(*) FROM segment_members WHERE store_id = 'acme'").fetchone()
        assert (0,) == added


def open_when_read(pipe: Path, reader: threading.Thread) -> TextIO:
    """The pipe's writing end, once a reader has opened it: opening it without blocking fails
    (ENXIO) until then, so the delete cannot slip in before the import has read the segment."""
    deadline = time.monotonic() + 30
    while True:
        try:
            fd = os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO:
                raise
            assert reader.is_alive(), "the import ended without opening its file"
            assert time.monotonic() < deadline, "the import never opened its file"
            time.sleep(0.01)
            continue
        os.set_blocking(fd, True)
        return os.fdopen(fd, "w")


def test_a_delete_counts_the_members_it_removed_not_those_it_saw_first(acme, database_url):
    # An import holds the segment (230 members added, not yet committed) when the delete comes.
    with psycopg.connect(database_url) as importer:
        locked = importer.execute("SELECT id FROM segments WHERE name = 'Team' FOR UPDATE").fetchone()
        assert locked is not None
        segment_id = locked[0]
        customers = segment_rows.resolve_customers(importer, "acme", [f"user{i:03}@shop.test" for i in range(1, 231)])
        segment_rows.add_members(importer, "acme", segment_id, list(customers.values()), "csv", datetime.now(UTC))
        deleted: list[int] = []

        def deleting() -> None:
            with psycopg.connect(database_url, autocommit=True) as conn:
                row, _flows = segment_service.delete(conn, "acme", "Team")
                deleted.append(row.members)

        thread = threading.Thread(target=deleting)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive(), "the delete should wait for the import's lock"
        importer.commit()
    thread.join(10)
    assert [231] == deleted
