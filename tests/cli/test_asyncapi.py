"""docs/asyncapi.yaml (SPEC §12): generated from the models by `segflow events asyncapi`, current,
valid AsyncAPI 3.0 (the AsyncAPI Initiative's own JSON Schema, shipped in tests/support/asyncapi
since tests run offline), and every example in it valid for its message."""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator, Draft202012Validator

from consumers.events import DeadLetter, Record
from schemas.asyncapi import document
from schemas.events import DeadLetterRecord, OutputEvent, check_value
from segflow.infra.config import Config

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "asyncapi.yaml"
ASYNCAPI_SCHEMA = json.loads((ROOT / "tests" / "support" / "asyncapi" / "asyncapi-3.0.0.schema.json").read_text())


def defaults() -> dict[str, Any]:
    """The document as a YAML or JSON reader sees it (plain types)."""
    config = Config.from_env({})
    plain: dict[str, Any] = json.loads(json.dumps(document(config.input_topic, config.output_topic, config.dlq_topic)))
    return plain


def test_the_committed_document_is_what_the_command_writes_with_the_default_topics(offline_cli, monkeypatch):
    for name in ("SEGFLOW_INPUT_TOPIC", "SEGFLOW_OUTPUT_TOPIC", "SEGFLOW_DLQ_TOPIC"):
        monkeypatch.delenv(name, raising=False)
    result = offline_cli("events", "asyncapi")
    assert 0 == result.code, result.err
    assert COMMITTED.read_text(encoding="utf-8") == result.out, "run: segflow events asyncapi -o docs/asyncapi.yaml"
    assert defaults() == yaml.safe_load(result.out)


def test_it_is_valid_asyncapi_3_and_the_validator_can_tell():
    validator = Draft7Validator(ASYNCAPI_SCHEMA)
    committed = yaml.safe_load(COMMITTED.read_text(encoding="utf-8"))
    assert [] == [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(committed)]
    broken = json.loads(json.dumps(committed))
    message = broken["channels"]["flowEvents"]["messages"]["flowEvent"]
    message["payloads"] = message.pop("payload")  # a typo AsyncAPI does not allow
    assert list(validator.iter_errors(broken))


@pytest.mark.parametrize(("channel", "message"), [
    ("customerEvents", "customerEvent"), ("flowEvents", "flowEvent"), ("deadLetters", "deadLetter"),
])  # fmt: skip
def test_each_example_fits_its_message_schema_and_the_model_behind_it(channel, message):
    doc = defaults()
    spec = doc["channels"][channel]["messages"][message]
    payload_schema = {**spec["payload"], "components": doc["components"]}
    [example] = spec["examples"]
    assert [] == list(Draft202012Validator(payload_schema).iter_errors(example["payload"]))
    raw = json.dumps(example["payload"]).encode()
    if message == "customerEvent":
        assert not isinstance(check_value(raw), str)
    elif message == "flowEvent":
        OutputEvent.model_validate_json(raw)
    else:
        DeadLetterRecord.model_validate_json(raw)


def test_the_dead_letters_the_worker_writes_fit_the_documented_model():
    long_key = b"acme:" + b"k" * 20_000
    record = Record("segflow.customer-events", 3, 17, long_key, b'{"event_id": "x"}')
    value = DeadLetter(record, "type: required field is missing").value(datetime(2026, 12, 3, tzinfo=UTC), 512)
    parsed = DeadLetterRecord.model_validate_json(value)
    assert (3, 17, len(long_key)) == (parsed.source.partition, parsed.source.offset, parsed.key_size)
    components = defaults()["components"]
    schema = {"$ref": "#/components/schemas/DeadLetterRecord", "components": components}
    assert [] == list(Draft202012Validator(schema).iter_errors(json.loads(value)))
