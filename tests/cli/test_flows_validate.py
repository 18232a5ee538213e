import json
from pathlib import Path

EXAMPLES = sorted(str(p) for p in (Path(__file__).resolve().parents[2] / "examples" / "flows").glob("*.json"))


def test_examples_validate(cli):
    result = cli("flows", "validate", *EXAMPLES)
    assert 0 == result.code, result.err
    assert len(EXAMPLES) == result.out.count(": ok\n")


def test_three_mistakes_three_lines_each_naming_its_node(cli, write_file):
    raw = json.loads(Path(EXAMPLES[-1]).read_text())
    nodes = {n["id"]: n for n in raw["nodes"]}
    nodes["notify"]["next"] = "nowhere"
    nodes["ab"]["branches"][0]["percent"] = 10
    nodes["cool-off"]["duration"] = "soon"
    path = write_file("bad.json", json.dumps(raw))
    result = cli("flows", "validate", str(path))
    assert 1 == result.code
    lines = result.err.strip().splitlines()
    assert 3 == len(lines)
    assert {"node ab", "node notify", "node cool-off"} == {line.split(": ")[1] for line in lines}


def test_json_shape_and_not_json(cli, write_file):
    path = write_file("broken.json", "{nope")
    result = cli("flows", "validate", str(path), EXAMPLES[0], "--json")
    assert 1 == result.code
    out = json.loads(result.out)
    assert [str(path), EXAMPLES[0]] == [r["file"] for r in out]
    assert [False, True] == [r["ok"] for r in out]
    assert [
        {"node": None, "message": "not valid JSON: line 1 column 2: Expecting property name enclosed in double quotes"}
    ] == out[0]["errors"]


def test_schema_is_json_schema_of_the_format(cli):
    result = cli("flows", "schema")
    assert 0 == result.code
    schema = json.loads(result.out)
    assert {"id", "store_id", "name", "trigger", "start", "nodes"} <= set(schema["required"])
    assert "if" in schema["$defs"]["ConditionNode"]["properties"]


def test_a_cycle_does_not_hide_the_store_checks(cli, write_file):
    assert 0 == cli("stores", "create", "acme", "--plan", "pro").code
    raw = json.loads((Path(EXAMPLES[0]).parent / "big-spender-credits.json").read_text())
    nodes = {n["id"]: n for n in raw["nodes"]}
    nodes["tag"]["next"] = "is-big"  # a loop with no wait, and "Big Spenders" does not exist
    path = write_file("loop.json", json.dumps(raw))
    result = cli("flows", "validate", "--store", "acme", "--json", str(path))
    assert 1 == result.code
    found = {(e["node"], e["message"]) for e in json.loads(result.out)[0]["errors"]}
    assert ("is-big", 'segment "Big Spenders" does not exist in store acme') in found
    assert any(message == "is on a cycle with no wait node" for _node, message in found)


def test_deploy_names_every_problem_not_the_first(cli, write_file):
    assert 0 == cli("stores", "create", "acme", "--plan", "pro").code
    raw = json.loads((Path(EXAMPLES[0]).parent / "big-spender-credits.json").read_text())
    raw["nodes"].append({"id": "x", "type": "segment", "operation": "remove", "segment": "Gone", "next": "tag"})
    raw["nodes"][1]["next"] = "x"
    path = write_file("two.json", json.dumps(raw))
    result = cli("flows", "deploy", str(path))
    assert 1 == result.code
    assert [
        'flow big-spender-credits: node is-big: segment "Big Spenders" does not exist in store acme',
        'flow big-spender-credits: node x: segment "Gone" does not exist in store acme',
        "error: flow big-spender-credits cannot be deployed: 2 problems",
    ] == result.err.strip().splitlines()
