"""`segments import` against real PostgreSQL: SPEC §6 to the letter."""

import json
import random

import pytest

from db.customers import CustomerFields, upsert
from segflow.cli import main

LIMIT = 8_900


def known(i: int) -> str:
    return f"customer{i}@example.com"


@pytest.fixture
def store(cli, db):
    assert 0 == cli("stores", "create", "acme", "--plan", "pro").code
    upsert(db, "acme", [CustomerFields(email=known(i)) for i in range(10_000)])
    return "acme"


def csv_of(emails, header="email,first_name,last_name,phone"):
    return header + "\n" + "".join(f"{e},,,\n" for e in emails)


def member_count(db, segment="Imported"):
    row = db.execute(
        "SELECT count(*) FROM segment_members m JOIN segments s ON s.id = m.segment_id WHERE s.name = %s", (segment,)
    ).fetchone()
    return row[0]


def run_import(cli, path, segment="Imported"):
    result = cli("segments", "import", segment, str(path), "--store", "acme", "--create", "--json")
    return result, (json.loads(result.out) if result.code == 0 else None)


def test_exactly_the_limit_imports(cli, db, store, write_file):
    path = write_file("ok.csv", csv_of(known(i) for i in range(LIMIT)))
    result, report = run_import(cli, path)
    assert 0 == result.code, result.err
    assert (LIMIT, LIMIT, 0, 0) == (
        report["rows"],
        report["added"],
        report["unknown_emails"],
        len(report["invalid_rows"]),
    )
    assert LIMIT == member_count(db)
    assert LIMIT == db.execute("SELECT count(*) FROM outbox WHERE event_type = 'segment.member_added'").fetchone()[0]
    row = db.execute("SELECT source FROM segments WHERE name = 'Imported'").fetchone()
    assert ("csv",) == tuple(row)


def test_one_over_the_limit_is_refused_whole(cli, db, store, write_file):
    cli("segments", "create", "Imported", "--store", "acme")
    path = write_file("big.csv", csv_of(known(i) for i in range(LIMIT + 1)))
    result, _ = run_import(cli, path)
    assert 1 == result.code
    assert (
        f"error: {path} has 8,901 rows; the limit is 8,900 customers per import; nothing was imported\n" == result.err
    )
    assert 0 == member_count(db)
    assert 0 == db.execute("SELECT count(*) FROM outbox").fetchone()[0]


def test_mixed_file_reports_exact_counts_and_reimport_adds_nothing(cli, db, store, write_file):
    # 20 existing members, then a file of: 500 new known, the 20 members, 300 unknown, 50 in-file duplicates, 3 bad.
    existing = [known(i) for i in range(20)]
    assert 0 == cli("segments", "create", "Imported", "--store", "acme").code
    assert 0 == cli("segments", "add", "Imported", *existing, "--store", "acme").code
    new = [known(i) for i in range(1000, 1500)]
    unknown = [f"stranger{i}@example.net" for i in range(300)]
    duplicates = [e.upper() for e in new[:50]]  # case differs: still the same customer
    lines = [*new, *existing, *unknown, *duplicates]
    random.Random(7).shuffle(lines)
    body = [f"{e},,,\n" for e in lines]
    bad = {10: "not-an-email,,,\n", 200: ",Ann,Lee,\n", 600: "a@b.com,x,y,z,extra\n"}
    for index in sorted(bad):
        body.insert(index, bad[index])
    path = write_file("mixed.csv", "\ufeffEmail,First_Name,Last_Name,Phone\r\n" + "".join(body).replace("\n", "\r\n"))
    outbox_before = db.execute("SELECT count(*) FROM outbox").fetchone()[0]

    result, report = run_import(cli, path)
    assert 0 == result.code, result.err
    assert {
        "rows": 500 + 20 + 300 + 50 + 3,
        "added": 500,
        "already_members": 20,
        "unknown_emails": 300,
        "duplicates_in_file": 50,
    }.items() <= report.items()
    # Header is line 1, so the record at body index i is on line i + 2.
    assert [
        (12, "'not-an-email' is not a valid email: an email address must have an @-sign"),
        (202, "email is empty"),
        (602, "5 fields but the header has 4"),
    ] == [(r["line"], r["reason"]) for r in report["invalid_rows"]]
    assert 520 == member_count(db)
    assert outbox_before + 500 == db.execute("SELECT count(*) FROM outbox").fetchone()[0]

    again, second = run_import(cli, path)
    assert 0 == again.code
    assert (0, 520) == (second["added"], second["already_members"])
    assert outbox_before + 500 == db.execute("SELECT count(*) FROM outbox").fetchone()[0]


def test_human_report(cli, store, write_file):
    path = write_file("s.csv", csv_of([known(1), known(1), "x@nowhere.org", "bad"]))
    result = cli("segments", "import", "VIP", str(path), "--store", "acme", "--create")
    assert 0 == result.code
    assert (
        'import into "VIP" (created): 4 rows read\n  1 added\n  0 already members\n  1 unknown emails (ignored)\n'
        "  1 duplicates in the file\n  1 invalid rows\n"
        "    line 5: 'bad' is not a valid email: an email address must have an @-sign\n"
    ) == result.out


def test_import_is_atomic_when_the_database_fails_midway(cli, db, store, write_file, monkeypatch):
    """A failure after some chunks were written leaves no member and no outbox row behind."""
    from segflow.services import segments as service

    calls = {"n": 0}
    real = service.change_members

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            db_conn = args[0]
            db_conn.execute("SELECT 1/0")  # a real database error, in the import's own transaction
        return real(*args, **kwargs)

    monkeypatch.setattr(service, "change_members", failing)
    path = write_file("s.csv", csv_of(known(i) for i in range(5_000)))
    with pytest.raises(Exception, match="division by zero"):
        main(["segments", "import", "Imported", str(path), "--store", "acme", "--create"])
    assert 3 == calls["n"]
    assert 0 == member_count(db)
    assert 0 == db.execute("SELECT count(*) FROM segments").fetchone()[0]
    assert 0 == db.execute("SELECT count(*) FROM outbox").fetchone()[0]


def test_a_name_no_segment_has_is_refused_with_close_names_and_nothing_is_written(cli, db, store, write_file):
    cli("segments", "create", "Big Spenders", "--store", "acme")
    cli("segments", "create", "Big Savers", "--store", "acme")
    path = write_file("s.csv", csv_of([known(1), known(2)]))
    result = cli("segments", "import", "big spender", str(path), "--store", "acme", "--json")
    assert 1 == result.code
    assert (
        'error: segment "big spender" not found in store acme; did you mean "Big Spenders" or "Big Savers"?; '
        "nothing was imported (--create makes a new segment)\n"
    ) == result.err
    assert json.loads(result.out)["error"] == result.err.removeprefix("error: ").strip()
    assert (2, 0) == (db.execute("SELECT count(*) FROM segments").fetchone()[0], member_count(db, "Big Spenders"))
    assert 0 == db.execute("SELECT count(*) FROM outbox").fetchone()[0]


def test_create_makes_the_segment_and_says_so(cli, db, store, write_file):
    path = write_file("s.csv", csv_of([known(1), known(2)]))
    result, report = run_import(cli, path, "Fresh")
    assert 0 == result.code, result.err
    assert (True, 2) == (report["created"], report["added"])
    assert "csv" == db.execute("SELECT source FROM segments WHERE name = 'Fresh'").fetchone()[0]
    _again, second = run_import(cli, path, "Fresh")
    assert (False, 0, 2) == (second["created"], second["added"], second["already_members"])
