"""`segflow events validate` and `events schema` (SPEC §12): a file checked line by line with
the worker's own check, offline unless --check-stores; the schema from the worker's model."""

import json
from pathlib import Path

from schemas.events import input_event_schema
from tests.support.bad_events import BAD_EVENTS, GOOD

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "events"


def test_every_bad_line_is_reported_with_the_reason_the_worker_would_give(offline_cli, write_file):
    good = json.dumps(GOOD).encode()
    lines = [good, b"", *(bad.value for bad in BAD_EVENTS), good]
    path = write_file("events.jsonl", b"\n".join(lines) + b"\n")

    as_json = offline_cli("events", "validate", str(path), "--json")
    as_text = offline_cli("events", "validate", str(path))

    assert 1 == as_json.code
    report = json.loads(as_json.out)
    assert (len(BAD_EVENTS) + 2, 2) == (report["lines"], report["valid"])
    assert [bad_line for bad_line in range(3, 3 + len(BAD_EVENTS))] == [i["line"] for i in report["invalid"]]
    for bad, invalid in zip(BAD_EVENTS, report["invalid"], strict=True):
        assert invalid["error"].startswith(bad.reason), (bad.name, invalid["error"])
    assert 1 == as_text.code
    assert f"{path}: 2 of {len(BAD_EVENTS) + 2} lines valid\n" == as_text.out
    assert len(BAD_EVENTS) == len(as_text.err.splitlines())
    assert as_text.err.startswith(f"{path}: line 3: ")


def test_the_example_events_are_valid(offline_cli):
    for path in sorted(EXAMPLES.glob("*.jsonl")):
        result = offline_cli("events", "validate", str(path), "--json")
        assert 0 == result.code, result.out
        assert [] == json.loads(result.out)["invalid"]


def test_check_stores_refuses_events_of_stores_the_database_has_not_got(cli, db, write_file):
    db.execute("INSERT INTO stores (id, name, plan) VALUES ('acme', 'Acme', 'pro')")
    other = {**GOOD, "event_id": "e2", "store_id": "nosuch"}
    path = write_file("events.jsonl", f"{json.dumps(GOOD)}\n{json.dumps(other)}\n")

    offline = cli("events", "validate", str(path), "--json")
    checked = cli("events", "validate", str(path), "--json", "--check-stores")

    assert (0, 2) == (offline.code, json.loads(offline.out)["valid"])
    assert 1 == checked.code
    assert {"lines": 2, "valid": 1, "invalid": [{"line": 2, "error": "store nosuch does not exist"}]} == json.loads(
        checked.out
    )


def test_a_missing_file_is_one_line(offline_cli, tmp_path):
    result = offline_cli("events", "validate", str(tmp_path / "nope.jsonl"))
    assert (1, f"error: {tmp_path / 'nope.jsonl'}: no such file\n") == (result.code, result.err)


def test_events_schema_prints_the_models_schema_and_writes_it_where_asked(offline_cli, tmp_path):
    printed = offline_cli("events", "schema")
    written = offline_cli("events", "schema", "-o", str(tmp_path / "event.schema.json"))

    assert 0 == printed.code == written.code
    assert input_event_schema() == json.loads(printed.out)
    assert printed.out == (tmp_path / "event.schema.json").read_text()
    assert f"wrote the input event schema to {tmp_path / 'event.schema.json'}\n" == written.out
