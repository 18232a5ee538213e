import json
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def simulate(cli, name, *extra):
    args = [
        "flows",
        "simulate",
        str(EXAMPLES / "flows" / f"{name}.json"),
        "--events",
        str(EXAMPLES / "events" / f"{name}.jsonl"),
    ]
    members = EXAMPLES / "members" / f"{name}.json"
    if members.exists():
        args += ["--members", str(members)]
    result = cli(*args, *extra)
    assert 0 == result.code, result.err
    return result


def paths(cli, name):
    steps = json.loads(simulate(cli, name, "--json").out)
    return [
        (s["email"], s["trigger"], " > ".join(s["path"]), s["status"], [e["type"] for e in s["effects"]]) for s in steps
    ]


def test_free_gift_once_per_customer_and_repeats_skipped(cli):
    assert paths(cli, "free-gift") == [
        (
            "ann@example.com",
            "fg-1",
            "gift > tag",
            "completed",
            ["flow.entered", "action.requested", "segment.member_added", "flow.completed"],
        ),
        (
            "bob@example.com",
            "fg-2",
            "gift > tag",
            "completed",
            ["flow.entered", "action.requested", "segment.member_added", "flow.completed"],
        ),
    ]


def test_big_spender_credits_only_for_members(cli):
    assert paths(cli, "big-spender-credits") == [
        (
            "ann@example.com",
            "bs-1",
            "is-big > grant > tag",
            "completed",
            ["flow.entered", "action.requested", "segment.member_added", "flow.completed"],
        ),
        ("bob@example.com", "bs-2", "is-big", "completed", ["flow.entered", "flow.completed"]),
        # reentry always: a second big order grants again, but ann is already tagged
        (
            "ann@example.com",
            "bs-4",
            "is-big > grant > tag",
            "completed",
            ["flow.entered", "action.requested", "flow.completed"],
        ),
    ]


def test_winback_split_wait_for_payment_or_time_out(cli):
    assert paths(cli, "winback-split") == [
        ("carol@example.com", "wb-1", "ab > discount > wait-paid", "waiting", ["flow.entered", "action.requested"]),
        ("frank@example.com", "wb-2", "ab > discount > wait-paid", "waiting", ["flow.entered", "action.requested"]),
        ("carol@example.com", "wb-3", "wait-paid > recovered", "completed", ["flow.completed"]),
        ("erin@example.com", "wb-4", "ab > notify > wait-paid", "waiting", ["flow.entered", "action.requested"]),
        ("frank@example.com", "timer", "wait-paid > at-risk > cool-off", "waiting", ["segment.member_added"]),
        ("erin@example.com", "timer", "wait-paid > at-risk > cool-off", "waiting", ["segment.member_added"]),
        ("frank@example.com", "timer", "cool-off", "completed", ["flow.completed"]),
        ("erin@example.com", "timer", "cool-off", "completed", ["flow.completed"]),
    ]


def test_human_output_shows_each_customers_path(cli):
    out = simulate(cli, "winback-split").out
    assert (
        "frank@example.com\n  2026-11-01T09:00:00+00:00 wb-2: ab -> discount -> wait-paid -> waiting until 2026-11-08T09:00:00+00:00\n"
        in out
    )
    assert '      segment.member_added {"segment":"At Risk"}\n' in out


def test_bad_events_line_is_named_and_nothing_runs(cli, write_file):
    events = write_file(
        "e.jsonl",
        '{"event_id": "a", "type": "charge.failed", "store_id": "acme", "occurred_at": "2026-11-01T08:00:00Z", "customer": {"email": "a@b.co"}}\n{"event_id": "b", "type": "Charge Failed"}\n',
    )
    result = cli("flows", "simulate", str(EXAMPLES / "flows" / "winback-split.json"), "--events", str(events))
    assert 1 == result.code
    assert result.out == ""
    assert "e.jsonl: line 2: type:" in result.err


@pytest.mark.parametrize("name", ["free-gift", "big-spender-credits", "winback-split"])
def test_graph_is_a_mermaid_flowchart_with_every_node(cli, name):
    flow = json.loads((EXAMPLES / "flows" / f"{name}.json").read_text())
    result = cli("flows", "graph", str(EXAMPLES / "flows" / f"{name}.json"))
    assert 0 == result.code
    lines = result.out.splitlines()
    assert lines[0] == "flowchart TD"
    for i, node in enumerate(flow["nodes"]):
        assert any(line.strip().startswith(f"n{i}") and f'"{node["id"]}:' in line for line in lines), node["id"]
    assert sum("-->" in line for line in lines) == 1 + sum(
        len(n.get("branches", []))
        or (2 if n["type"] == "condition" or n.get("until_event") else (0 if n["type"] == "exit" else 1))
        for n in flow["nodes"]
    )
