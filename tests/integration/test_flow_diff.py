"""`flows diff` (SPEC §9): by node id and field, between deployed versions or a file and the
latest, counting live runs stranded on nodes the newer version removes."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support.examples import EXAMPLES, load_events, run_worker
from tests.support.kafka_io import produce_events

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
WINBACK = EXAMPLES / "flows" / "winback-split.json"


def version_2(raw):
    raw["name"] = "Win back, discount only"
    raw["reentry"] = "once"
    raw["nodes"] = [n for n in raw["nodes"] if n["id"] not in ("notify", "cool-off")]
    nodes = {n["id"]: n for n in raw["nodes"]}
    nodes["ab"]["branches"][1]["next"] = "discount"
    nodes["wait-paid"]["timeout"] = "P5D"
    nodes["recovered"]["next"] = "thank"
    nodes["at-risk"]["next"] = None
    raw["nodes"].append({"id": "thank", "type": "action", "action": "notify", "params": {}, "next": None})
    return raw


def diffed(cli, *args):
    result = cli("flows", "diff", *args, "--store", "acme", "--json")
    assert 0 == result.code, result.err
    return json.loads(result.out)


def test_diff_names_exactly_the_changed_nodes_and_fields(cli, db, config, write_file):
    assert 0 == cli("stores", "create", "acme", "--plan", "pro").code
    assert 0 == cli("flows", "deploy", str(WINBACK)).code
    produce_events(config.kafka_bootstrap, config.input_topic, load_events("winback-split", T0))
    run_worker(config, T0)
    run_worker(config, T0 + timedelta(days=8))  # the unpaid ones time out into cool-off, a 3-day wait
    at_cool_off = db.execute(
        "SELECT count(*) FROM runs WHERE store_id = 'acme' AND node_id = 'cool-off' AND status = 'waiting'"
    ).fetchone()[0]
    assert at_cool_off > 0

    v2 = write_file("v2.json", json.dumps(version_2(json.loads(WINBACK.read_text()))))
    assert 0 == cli("flows", "deploy", str(v2)).code
    expected = [
        {"node": None, "change": "changed", "fields": ["name", "reentry"]},
        {"node": "ab", "change": "changed", "fields": ["branches"]},
        {"node": "wait-paid", "change": "changed", "fields": ["timeout"]},
        {"node": "recovered", "change": "changed", "fields": ["next"]},
        {"node": "at-risk", "change": "changed", "fields": ["next"]},
        {"node": "thank", "change": "added", "fields": []},
        {"node": "notify", "change": "removed", "fields": []},
        {"node": "cool-off", "change": "removed", "fields": []},
    ]
    report = diffed(cli, "winback-split", "--from", "1", "--to", "2")
    assert {"id": "winback-split", "version": 1} == report["from"]
    assert {"id": "winback-split", "version": 2, "file": None} == report["to"]
    assert expected == report["changes"]
    assert at_cool_off == report["runs_on_removed_nodes"]
    assert report == diffed(cli, "winback-split", "--from", "1")  # --to defaults to the latest

    # Reversed, the removed nodes are added and nothing is stranded (no run is on version 2).
    back = diffed(cli, "winback-split", "--from", "2", "--to", "1")
    assert {"thank": "removed", "notify": "added", "cool-off": "added"} == {
        c["node"]: c["change"] for c in back["changes"] if c["change"] != "changed"
    }
    assert 0 == back["runs_on_removed_nodes"]

    # A file against the latest: one field, and key order and spelled-out defaults are no change.
    v3 = json.loads(Path(v2).read_text())
    v3["nodes"][0]["branches"] = [{"next": "discount", "percent": 30}, {"percent": 70, "next": "discount"}]
    v3["nodes"][3]["create_if_missing"] = False  # a default spelled out is no change
    v3_file = write_file("v3.json", json.dumps({k: v3[k] for k in reversed(list(v3))}))
    report = diffed(cli, str(v3_file))
    assert {"id": "winback-split", "version": None, "file": str(v3_file)} == report["to"]
    assert [{"node": "ab", "change": "changed", "fields": ["branches"]}] == report["changes"]
    human = cli("flows", "diff", str(v3_file), "--store", "acme")
    assert f"winback-split: version 2 -> {v3_file}\n  node ab: changed: branches\n" == human.out


def test_diff_refuses_what_it_cannot_compare(cli, write_file):
    assert 0 == cli("stores", "create", "acme", "--plan", "pro").code
    assert 0 == cli("flows", "deploy", str(WINBACK)).code
    missing = cli("flows", "diff", "winback-split", "--store", "acme")
    assert 0 != missing.code
    assert "winback-split: no such flow file; to compare deployed versions of a flow, give --from N" in missing.err
    assert "--to goes with --from" in cli("flows", "diff", "winback-split", "--store", "acme", "--to", "1").err
    unknown = cli("flows", "diff", "winback-split", "--store", "acme", "--from", "7")
    assert 0 != unknown.code and "version 7 of flow winback-split not found in store acme" in unknown.err
    other = json.loads(WINBACK.read_text()) | {"store_id": "globex"}
    assert (
        "store_id is globex, not acme"
        in cli("flows", "diff", str(write_file("o.json", json.dumps(other))), "--store", "acme").err
    )
