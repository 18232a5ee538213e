"""`segflow flows test` (SPEC §12): golden paths per customer on the simulator. The example
flows' tests in examples/tests/ run here, so the project's test command runs them."""

import json
import shutil
from pathlib import Path
from xml.etree import ElementTree

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXAMPLE_TESTS = sorted((EXAMPLES / "tests").glob("*.json"))


def test_the_example_flows_pass_their_tests(offline_cli):
    result = offline_cli("flows", "test", *map(str, EXAMPLE_TESTS), "--json")
    assert 0 == result.code, result.out + result.err
    report = json.loads(result.out)
    assert len(EXAMPLE_TESTS) == 3
    assert (0, 7) == (report["failed"], report["cases"])
    assert {Path(r["file"]).name for r in report["results"]} == {t.name for t in EXAMPLE_TESTS}


@pytest.fixture
def examples_copy(tmp_path):
    """The examples in a directory of their own, so a test can change a test file."""
    for part in ("flows", "events", "tests"):
        shutil.copytree(EXAMPLES / part, tmp_path / part)
    return tmp_path


def test_an_expectation_wrong_by_one_node_fails_naming_file_customer_field_and_step(offline_cli, examples_copy):
    wrong = examples_copy / "tests" / "winback-split.json"
    test = json.loads(wrong.read_text())
    test["expect"]["frank@example.com"]["path"][3] = "recovered"  # frank's wait ran out: he went to at-risk
    wrong.write_text(json.dumps(test))
    junit = examples_copy / "junit.xml"

    result = offline_cli("flows", "test", str(wrong), "--junit", str(junit))

    assert 1 == result.code
    assert f"{wrong}: frank@example.com: path differs at step 4: expected recovered, got at-risk\n" == result.err
    assert "2 of 3 customers as expected in 1 file\n" == result.out
    suites = ElementTree.parse(junit).getroot()  # noqa: S314 (the command under test wrote it)
    assert ("testsuites", "3", "1") == (suites.tag, suites.get("tests"), suites.get("failures"))
    cases = suites.findall("testsuite/testcase")
    assert ["carol@example.com", "frank@example.com", "erin@example.com"] == [c.get("name") for c in cases]
    [failure] = suites.findall("testsuite/testcase/failure")
    assert "path differs at step 4: expected recovered, got at-risk" == failure.get("message")


def test_each_field_names_its_first_difference(offline_cli, examples_copy):
    path = examples_copy / "tests" / "free-gift.json"
    test = json.loads(path.read_text())
    test["expect"]["ann@example.com"] = {
        "status": "waiting", "path": ["gift"], "actions": ["free_gift", "free_gift"],
        "segments": {"free gift": False, "VIP": True}, "runs": 2,
    }  # fmt: skip
    path.write_text(json.dumps(test))

    result = offline_cli("flows", "test", str(path), "--json")

    assert 1 == result.code
    [ann] = [r for r in json.loads(result.out)["results"] if r["customer"] == "ann@example.com"]
    assert [
        "status: expected waiting, got completed",
        "path differs at step 2: expected nothing more, got tag",
        "actions differs at action 2: expected free_gift, got nothing more",
        "segments: expected not in free gift, got in",
        "segments: expected in VIP, got not in",
        "runs: expected 2, got 1",
    ] == ann["failures"]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"flow": "../flows/missing.json"}, "flow ../flows/missing.json: no such file"),
        (
            {
                "events": [
                    {"event_id": "x", "type": "order.processed", "store_id": "acme", "customer": {"email": "a@b.co"}}
                ]
            },
            "event 1: occurred_at: required field",
        ),
        ({"expect": {"ann@example.com": {"stauts": "completed"}}}, "not a flow test: expect.ann@example.com.stauts"),
        ({"events_file": "../events/free-gift.jsonl"}, "give either events or events_file"),
    ],
)
def test_a_broken_test_file_is_one_line_naming_it(offline_cli, examples_copy, change, error):
    path = examples_copy / "tests" / "free-gift.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **change}))

    result = offline_cli("flows", "test", str(path))

    assert 1 == result.code
    assert result.err.startswith(f"error: {path}: {error}"), result.err
    assert 1 == len(result.err.splitlines())
