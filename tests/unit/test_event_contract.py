"""The published input-event schema (`segflow events schema`) against the worker's own check:
it accepts every example event, and each bad event the worker dead-letters is refused on the
producer's side too: by the schema, by an I-JSON parser, or by the 1 MiB limit (one list,
tests/support/bad_events.py)."""

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from schemas.events import MAX_VALUE_BYTES, check_value, input_event_schema
from tests.support.bad_events import BAD_EVENTS, GOOD, i_json

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "events"
VALIDATOR = Draft202012Validator(input_event_schema(), format_checker=FormatChecker())


def test_the_schema_is_a_valid_draft_2020_12_schema():
    Draft202012Validator.check_schema(input_event_schema())
    assert "https://json-schema.org/draft/2020-12/schema" == input_event_schema()["$schema"]


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.jsonl")), ids=lambda p: p.name)
def test_every_example_event_passes_the_schema_and_the_worker(path):
    lines = [line for line in path.read_bytes().splitlines() if line.strip()]
    assert lines
    for line in lines:
        assert [] == [e.message for e in VALIDATOR.iter_errors(i_json(line))], line
        assert not isinstance(check_value(line), str), line
    assert [] == list(VALIDATOR.iter_errors(GOOD))


@pytest.mark.parametrize("bad", BAD_EVENTS, ids=lambda b: b.name)
def test_each_bad_event_the_worker_dead_letters_is_refused_before_it_is_sent(bad):
    reason = check_value(bad.value)
    assert isinstance(reason, str) and reason.startswith(bad.reason), reason
    if bad.refused_by == "size":
        assert len(bad.value) > MAX_VALUE_BYTES
        assert [] == list(VALIDATOR.iter_errors(i_json(bad.value)))  # the schema cannot see bytes
    elif bad.refused_by == "i-json":
        with pytest.raises(ValueError):
            i_json(bad.value)
    else:
        assert list(VALIDATOR.iter_errors(i_json(bad.value))), f"the schema lets {bad.name} through"


def test_a_field_the_worker_ignores_is_allowed_by_the_schema_too():
    event = {**GOOD, "source": "shopify", "customer": {**GOOD["customer"], "tags": ["vip"]}}
    assert not isinstance(check_value(json.dumps(event).encode()), str)
    assert [] == list(VALIDATOR.iter_errors(event))
